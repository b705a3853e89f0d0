"""A run's options: one struct (`RunOptions`) decoded from the wire and stored with the run; on the
wire, `kwargs` is the reference's resolved run. Records written by earlier versions still load."""

from __future__ import annotations

import msgspec

from actors.models import Run, RunOptions, on_the_wire
from actors.storage.records import decode, encode
from server.schemas import BatchRunCreate, RunCreate

RUN_IDS = {"run_id": "r1", "thread_id": "t1", "assistant_id": "a1", "metadata": {"graph_id": "g", "assistant_id": "a1"}}


def test_the_request_body_is_run_options_plus_the_records_own_fields():
    assert issubclass(RunCreate, RunOptions) and issubclass(BatchRunCreate, RunCreate)
    assert set(RunCreate.__struct_fields__) - set(RunOptions.__struct_fields__) == {"assistant_id", "metadata", "multitask_strategy"}
    body = msgspec.json.decode(b'{"assistant_id": "g"}', type=RunCreate)
    assert (body.stream_mode, body.stream_subgraphs, body.stream_resumable) == ("values", False, False)  # the wire's defaults


def test_an_old_record_loads_and_is_sent_in_the_references_shape():
    """What earlier versions stored: the request's fields as given (a string `stream_mode`,
    `stream_resumable`, `stream_subgraphs`, `on_completion`, `after_seconds`, a full `command`)."""
    old = (
        b'{"run_id": "r1", "thread_id": "t1", "assistant_id": "a1", "status": "success",'
        b' "metadata": {"graph_id": "g", "assistant_id": "a1"}, "multitask_strategy": "enqueue",'
        b' "kwargs": {"command": {"resume": 1, "update": null, "goto": null}, "config": {"configurable": {"q": 1}},'
        b' "stream_mode": "updates", "stream_subgraphs": true, "stream_resumable": false,'
        b' "on_completion": "delete", "after_seconds": 2.5, "checkpoint_during": false}}'
    )
    run = decode(old, Run)
    assert run.langsmith_session_name is None
    assert run.options.stream_mode == "updates" and run.options.command.resume == 1
    wire = msgspec.json.decode(encode(on_the_wire(run)))
    assert wire["langsmith_session_name"] is None
    assert wire["kwargs"] == {
        "input": None,
        "command": {"resume": 1},
        "config": {
            "configurable": {"q": 1, "run_id": "r1", "thread_id": "t1", "graph_id": "g", "assistant_id": "a1", "__after_seconds__": 2.5, "user_id": ""},
            "metadata": {"graph_id": "g", "assistant_id": "a1"},
        },
        "context": {"q": 1},  # none given: the reference shows the configurable as the context
        "stream_mode": ["updates"],
        "interrupt_before": None,
        "interrupt_after": None,
        "webhook": None,
        "feedback_keys": None,
        "temporary": True,
        "subgraphs": True,
        "resumable": False,
        "checkpoint_during": False,
        "durability": "exit",
    }
    assert decode(encode(run), Run).kwargs == run.kwargs  # what is stored stays the options as given


def test_context_keys_are_configurable_too_and_storage_keeps_the_options():
    run = Run(**RUN_IDS, kwargs={"input": {"x": 1}, "context": {"model": "big"}, "durability": "sync"})
    kwargs = on_the_wire(run).kwargs
    assert kwargs["context"] == {"model": "big"} and kwargs["config"]["configurable"]["model"] == "big"
    assert (kwargs["stream_mode"], kwargs["durability"], kwargs["checkpoint_during"]) == (["values"], "sync", True)
    assert [r.kwargs for r in on_the_wire([run, run])] == [kwargs, kwargs]


def test_a_record_with_unusable_options_is_sent_as_stored():
    run = Run(**RUN_IDS, kwargs={"stream_mode": 7})
    assert on_the_wire(run).kwargs == {"stream_mode": 7}
