"""The load-test harness of switchboard: drive a server (over HTTP, or the embedded actor system) with
double-texting traffic, record a history of every operation and of every graph step, check the history
against the multitask semantics, and report speed. See docs/loadtest.md.

- `graph`: the bundled benchmark graph, whose steps write a journal (the checker's view of execution)
- `history`: the recorded operations and step events
- `checker`: the rules a history must satisfy, and `check(history) -> [Violation]`
- `targets`: one async interface over the embedded system and any server speaking the API
- `harness`: the workload (threads, runs, strategy mix, arrivals) and its driver
- `report`: summary table, JSON report, HTML plot
- `cli`: `switchboard loadtest`; `bench`: `python -m loadtest.bench`
"""
