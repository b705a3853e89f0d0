"""The operations of the system, implemented once for every caller (HTTP, embedded sync, embedded
async). Reads go to storage; anything that changes a thread is a message to its actor, answered
through a `concurrent.futures.Future`. Nothing here blocks: callers choose how to wait."""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator, Sequence
from typing import Any, get_args

from .runs import messages as m
from .assistants import AssistantOperations, sort_records
from .config.filters import matches_metadata
from .context import SystemContext
from .errors import Conflict, InvalidInput, NotFound, ShuttingDown
from .runs.options import check_run_options
from .runs.stamps import run_metadata, with_requester
from .models import (
    RUN_OPTIONS, TERMINAL_RUN_STATUSES, IfNotExists, OnCompletion, Run, RunStatus, StopAction, Strategy, StreamMode, Thread,
    ThreadStatus, new_id,
)
from .kernel.replies import all_done, chain, failed
from .state import StateOperations
from .kernel.streams import AsyncSubscription, RunStream, StreamEvent
from .runs.webhooks import check_webhook_url, deliver, webhook_payload



def _check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInput(f"{field}: {value!r} is not one of {list(allowed)}")


class Operations(AssistantOperations, StateOperations):
    def __init__(self, ctx: SystemContext) -> None:
        self.ctx = ctx
        self.storage = ctx.storage
        self._followed: set[str] = set()
        """Runs whose end this process follows up (webhook, `on_completion`): never twice."""

    # --- threads ---------------------------------------------------------------------------------

    def create_thread(
        self, thread_id: str | None = None, metadata: dict[str, Any] | None = None, if_exists: str = "raise"
    ) -> Thread:
        _check_choice("if_exists", if_exists, ("raise", "do_nothing"))
        thread = Thread(thread_id=thread_id or new_id(), metadata=dict(metadata or {}))
        if not self.storage.create_thread(thread):
            if if_exists == "do_nothing":
                return self.get_thread(thread.thread_id)
            raise Conflict(f"Thread {thread.thread_id} already exists.")
        return thread

    def get_thread(self, thread_id: str) -> Thread:
        thread = self.storage.get_thread(thread_id)
        if thread is None:
            raise NotFound(f"Thread {thread_id} not found.")
        return thread

    def search_threads(
        self,
        metadata: dict[str, Any] | None = None,
        status: ThreadStatus | None = None,
        limit: int = 10,
        offset: int = 0,
        *,
        values: dict[str, Any] | None = None,
        ids: list[str] | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> list[Thread]:
        threads = self._filter_threads(metadata, status, values, ids)
        return sort_records(threads, sort_by, sort_order, "created_at")[offset : offset + limit]

    def count_threads(
        self, metadata: dict[str, Any] | None = None, status: ThreadStatus | None = None, values: dict[str, Any] | None = None
    ) -> int:
        return len(self._filter_threads(metadata, status, values, None))

    def _filter_threads(
        self, metadata: dict[str, Any] | None, status: str | None, values: dict[str, Any] | None, ids: list[str] | None
    ) -> list[Thread]:
        wanted_ids = set(ids) if ids is not None else None
        return [
            t
            for t in self.storage.list_threads()
            if (status is None or t.status == status)
            and (wanted_ids is None or t.thread_id in wanted_ids)
            and matches_metadata(t.metadata, metadata)
            and (not values or (isinstance(t.values, dict) and matches_metadata(t.values, values)))
        ]

    def update_thread(self, thread_id: str, metadata: dict[str, Any]) -> concurrent.futures.Future[Thread]:
        if self.storage.get_thread(thread_id) is None:
            return failed(NotFound(f"Thread {thread_id} not found."))
        reply: concurrent.futures.Future[Thread] = concurrent.futures.Future()
        self.ctx.tell_thread(thread_id, m.PatchThread(metadata=dict(metadata or {}), reply=reply))
        return reply

    def delete_thread(self, thread_id: str) -> concurrent.futures.Future[None]:
        if self.storage.get_thread(thread_id) is None:
            return failed(NotFound(f"Thread {thread_id} not found."))
        reply: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.ctx.tell_thread(thread_id, m.DeleteThread(reply=reply))
        return reply

    def prune_threads(self, thread_ids: list[str], strategy: str = "delete") -> concurrent.futures.Future[int]:
        """`delete`: delete the threads (their runs are cancelled); `keep_latest`: keep only each
        thread's newest checkpoint. Unknown ids are skipped. The reply counts the pruned threads."""
        _check_choice("strategy", strategy, ("delete", "keep_latest"))
        known = [t for t in dict.fromkeys(thread_ids) if self.storage.get_thread(t) is not None]
        if strategy == "delete":
            futures = [self.delete_thread(t) for t in known]
        else:
            futures = [self.prune_checkpoints(t) for t in known]
        return all_done(futures, lambda: len(known))

    # --- runs ------------------------------------------------------------------------------------

    @staticmethod
    def _implicit_thread_metadata(options: dict[str, Any]) -> dict[str, Any]:
        """A thread a run creates takes the run's metadata: whoever owns the run owns its thread."""
        return dict(options.get("metadata") or {})

    def prepare_run(self, thread_id: str | None, assistant_id: str, **options: Any) -> Run:
        """Validate a run request and build its record (nothing is sent yet)."""
        self._validate_options(options)
        strategy = options.get("multitask_strategy") or "enqueue"
        on_completion = options.pop("on_completion", None)
        assistant = self.ctx.resolve_assistant(assistant_id)
        thread = None
        if thread_id is None:
            # A stateless run gets a thread of its own; `on_completion` (default: delete) says
            # whether it outlives the run. On a caller's thread the option means nothing.
            thread_id = self.create_thread(metadata=self._implicit_thread_metadata(options)).thread_id
            options["on_completion"] = on_completion or "delete"
        elif (thread := self.storage.get_thread(thread_id)) is None:
            if options.get("if_not_exists") != "create":
                raise NotFound("Thread or assistant not found.")
            self.create_thread(thread_id, self._implicit_thread_metadata(options), if_exists="do_nothing")
        metadata = run_metadata(assistant, thread, options)
        options["config"] = with_requester(options.get("config"), assistant.graph_id)
        kwargs = {k: options[k] for k in RUN_OPTIONS if options.get(k) is not None}
        return Run(
            run_id=new_id(),
            thread_id=thread_id,
            assistant_id=assistant.assistant_id,
            metadata=metadata,
            multitask_strategy=strategy,
            kwargs=kwargs,
        )

    def _accepted_for_the_next_owner(self, run: Run, then_watch: bool) -> bool:
        """Cluster mode, draining: a plain create on a thread this process still owns is accepted and
        stays `pending` (a draining thread actor starts nothing); the thread's next owner runs it once
        this process hands the thread over, so a rolling restart refuses no background run. A create
        that waits or streams here is still refused: this process will not be the one running it."""
        return (self.ctx.cluster is not None and not then_watch and not run.options.stream_resumable
                and self.ctx.streams.get(run.run_id) is None and self.ctx.cluster.owns(run.thread_id))

    def open_stream(self, run: Run) -> RunStream:
        """Open a run's event stream before it is submitted, so a subscriber misses nothing."""
        return self.ctx.streams.open(run.run_id, resumable=bool(run.options.stream_resumable), thread_id=run.thread_id)

    def submit_run(self, run: Run, *, then_watch: bool = False) -> concurrent.futures.Future[Any]:
        """Hand a prepared run to its thread actor; the reply is the run (`pending`) or `ThreadBusy`.
        With `then_watch`, the reply is instead the run's output once it has ended (the watcher is
        registered as soon as the run is accepted, so even a temporary thread deleted right after
        the run cannot make us miss it)."""
        if self.ctx.draining and not self._accepted_for_the_next_owner(run, then_watch):
            return failed(ShuttingDown("The server is shutting down and accepts no new runs; retry shortly."))
        options = run.options
        if options.stream_resumable:
            self.open_stream(run)
        reply: concurrent.futures.Future[Run] = concurrent.futures.Future()
        if self.ctx.streams.get(run.run_id) is not None:
            reply.add_done_callback(lambda f: f.exception() and self.ctx.streams.discard(run.run_id))
        if options.webhook or options.on_completion == "delete":
            reply.add_done_callback(lambda accepted: self._follow_up(run, accepted))
        if not then_watch:
            self.ctx.tell_thread(run.thread_id, m.CreateRun(run=run, reply=reply))
            return reply
        output: concurrent.futures.Future[Any] = concurrent.futures.Future()
        reply.add_done_callback(lambda accepted: chain(accepted, output, lambda: self.ctx.watchers.watch(run.run_id)))
        self.ctx.tell_thread(run.thread_id, m.CreateRun(run=run, reply=reply))
        return output

    def _follow_up(self, run: Run, accepted: concurrent.futures.Future[Run]) -> None:
        """Once a run is accepted: when it ends, send its webhook and delete its temporary thread.
        Runs in whichever thread resolves the future (often a thread actor): it only schedules."""
        if accepted.exception() is not None:
            if run.options.on_completion == "delete":
                self.delete_thread(run.thread_id)
            return
        self._followed.add(run.run_id)
        self.ctx.watchers.watch(run.run_id).add_done_callback(lambda ended: self._run_over(run, ended))

    def follow_up_taken_over(self, run: Run) -> None:
        """Cluster mode: a run of a thread this process has just taken over (the process that accepted
        it died or left, so its follow-up never comes): its webhook and `on_completion` once it ends
        (at once if the takeover's recovery ended it), as `_follow_up` would have done there."""
        if not (run.options.webhook or run.options.on_completion == "delete") or run.run_id in self._followed:
            return
        self._followed.add(run.run_id)

        def ended(outcome: concurrent.futures.Future[Any]) -> None:
            if outcome.exception() is None:  # not when the thread moved on again: its next owner does it
                self._run_over(run, outcome)
            else:
                self._followed.discard(run.run_id)

        self.ctx.watchers.watch(run.run_id).add_done_callback(ended)

    def _run_over(self, run: Run, ended: concurrent.futures.Future[Any]) -> None:
        self._followed.discard(run.run_id)
        settings = self.ctx.settings
        options = run.options
        url = options.webhook
        if url and settings.send_webhooks and ended.exception() is None:
            record = self.storage.get_run(run.run_id) or run
            payload = webhook_payload(record, ended.result())
            self.ctx.runtime.submit(
                deliver(url, payload, attempts=settings.webhook_attempts, timeout=settings.webhook_timeout,
                        backoff=settings.webhook_backoff)
            )
        if options.on_completion == "delete":
            self.delete_thread(run.thread_id)

    def join_stream(self, thread_id: str, run_id: str) -> RunStream:
        """The event stream of a run (opened if it has not started yet); closed if it has ended."""
        run = self.get_run(thread_id, run_id)
        stream = self.ctx.streams.get(run_id)
        if stream is None:
            stream = self.ctx.streams.open(run_id, thread_id=thread_id)
            if run.status in TERMINAL_RUN_STATUSES:
                stream.close()
                self.ctx.streams.discard(run_id)
        return stream

    def stream_still_live(self, run_id: str, stream: RunStream) -> None:
        """After subscribing: if the run ended meanwhile, make sure the stream is closed."""
        run = self.storage.get_run(run_id)
        if run is None or run.status in TERMINAL_RUN_STATUSES:
            if not stream.resumable:
                stream.close()
                self.ctx.streams.discard(run_id)

    def create_run(self, thread_id: str | None, assistant_id: str, **options: Any) -> concurrent.futures.Future[Run]:
        try:
            run = self.prepare_run(thread_id, assistant_id, **options)
        except Exception as exc:
            return failed(exc)
        return self.submit_run(run)

    def get_run(self, thread_id: str, run_id: str) -> Run:
        run = self.storage.get_run(run_id)
        if run is None or run.thread_id != thread_id:
            raise NotFound(f"Run {run_id} not found.")
        return run

    def run_status(self, thread_id: str, run_id: str) -> RunStatus | None:
        """A run's status; None for a run that is gone (rolled back or deleted)."""
        try:
            return self.get_run(thread_id, run_id).status
        except NotFound:
            return None

    def list_runs(self, thread_id: str, limit: int = 10, offset: int = 0, status: str | None = None) -> list[Run]:
        if status is not None:
            _check_choice("status", status, get_args(RunStatus))
        self.get_thread(thread_id)
        return self.storage.list_runs(thread_id, status=status)[offset : offset + limit]  # type: ignore[arg-type]

    def join_run(self, thread_id: str, run_id: str) -> concurrent.futures.Future[Any]:
        try:
            self.get_run(thread_id, run_id)
        except NotFound as exc:
            return failed(exc)
        return self.ctx.watchers.watch(run_id)

    def cancel_run(
        self, thread_id: str, run_id: str, *, wait: bool = False, action: StopAction = "interrupt",
        reason: str | None = None,
    ) -> concurrent.futures.Future[None]:
        try:
            _check_choice("action", action, get_args(StopAction))
            self.get_run(thread_id, run_id)
        except Exception as exc:
            return failed(exc)
        reply: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.ctx.tell_thread(thread_id, m.CancelRun(run_id=run_id, action=action, wait=wait, reply=reply, reason=reason))
        return reply

    def delete_run(self, thread_id: str, run_id: str) -> concurrent.futures.Future[None]:
        """Delete an ended run; its thread actor does it, in order with the thread's runs."""
        reply: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.ctx.tell_thread(thread_id, m.DeleteRun(run_id=run_id, reply=reply))
        return reply

    def create_runs_batch(self, requests: list[dict[str, Any]]) -> concurrent.futures.Future[list[Run]]:
        """Several runs at once (each `{"assistant_id", "thread_id"?, ...options}`). All are
        validated before any is submitted, so a bad item creates nothing."""
        prepared = []
        for i, request in enumerate(requests):
            options = dict(request)
            try:
                assistant_id = options.pop("assistant_id")
                thread_id = options.pop("thread_id", None)
                prepared.append((thread_id, assistant_id, options))
                self._validate_options(options)
            except KeyError:
                raise InvalidInput(f"[{i}].assistant_id: required") from None
            except InvalidInput as exc:
                raise InvalidInput(f"[{i}]: {exc.detail}") from None
        futures = [self.create_run(thread_id, assistant_id, **options) for thread_id, assistant_id, options in prepared]
        return all_done(futures, lambda: [f.result() for f in futures])

    def cancel_runs(
        self,
        *,
        thread_id: str | None = None,
        run_ids: list[str] | None = None,
        status: str | None = None,
        action: StopAction = "interrupt",
    ) -> concurrent.futures.Future[int]:
        """Cancel the given runs (on `thread_id`, or wherever they are), or every run with `status`
        (`pending`, `running` or `all` of both). Runs that already ended are skipped; the reply
        counts the runs asked to stop."""
        _check_choice("action", action, get_args(StopAction))
        if status is not None:
            _check_choice("status", status, ("pending", "running", "all"))
        if not run_ids and status is None:
            raise InvalidInput("give run_ids or status")
        if thread_id is not None:
            self.get_thread(thread_id)
        wanted = ("pending", "running") if status in (None, "all") else (status,)
        if run_ids:
            runs = [self.storage.get_run(r) for r in run_ids]
            targets = [r for r in runs if r is not None and (thread_id is None or r.thread_id == thread_id)]
        elif thread_id:
            targets = self.storage.list_runs(thread_id)
        else:  # one look-up per status, not one per thread
            targets = [r for s in wanted for r in self.storage.runs_with_status(s)]  # type: ignore[arg-type]
        targets = [r for r in targets if r.status in wanted]
        futures = [self.cancel_run(r.thread_id, r.run_id, action=action) for r in targets]
        return all_done(futures, lambda: len(targets), ignore=NotFound)

    def follow_thread(
        self, thread_id: str, modes: Sequence[str] = ("run_modes",), *, after_id: int | None = None
    ) -> AsyncIterator[StreamEvent]:
        """What happens on the thread from now on, until the caller leaves or the thread is deleted
        (as the reference server's thread stream): `run_modes` - every event of every run;
        `lifecycle` - each run's start (`metadata` with its run_id) and end (`metadata`
        `{"status": "run_done"}`); `state_update` - the new state after `update_state`. With
        `after_id` (a reconnect's Last-Event-ID), the events since that id are replayed first if
        the thread's feed still has them (it keeps them a while after its last reader left)."""
        for mode in modes:  # checked (and the thread looked up) now, before any event is sent
            _check_choice("stream_mode", mode, THREAD_STREAM_MODES)
        self.get_thread(thread_id)

        async def events() -> AsyncIterator[StreamEvent]:
            subscription = AsyncSubscription(
                subscribe=lambda deliver: self.ctx.streams.follow(thread_id, deliver, after_id=after_id)
            )
            try:
                async for event in subscription:
                    if _thread_event_wanted(event, modes):
                        yield event
            finally:
                subscription.close()

        return events()

    def _validate_options(self, options: dict[str, Any]) -> None:
        unknown = set(options) - set(RUN_OPTIONS) - {"metadata", "multitask_strategy"}
        if unknown:
            raise InvalidInput(f"unknown run option(s): {sorted(unknown)}")
        _check_choice("multitask_strategy", options.get("multitask_strategy") or "enqueue", get_args(Strategy))
        _check_choice("if_not_exists", options.get("if_not_exists") or "reject", get_args(IfNotExists))
        modes = options.get("stream_mode") or ["values"]
        for mode in [modes] if isinstance(modes, str) else modes:
            _check_choice("stream_mode", mode, get_args(StreamMode))
        if options.get("input") is not None and options.get("command") is not None:
            raise InvalidInput("input and command cannot both be given")
        if options.get("on_completion") is not None:
            _check_choice("on_completion", options["on_completion"], get_args(OnCompletion))
        if options.get("webhook") is not None:
            check_webhook_url(options["webhook"])
        check_run_options(options)


THREAD_STREAM_MODES = ("run_modes", "lifecycle", "state_update")


def _thread_event_wanted(event: StreamEvent, modes: Sequence[str]) -> bool:
    if event.event == "state_update":
        return "state_update" in modes
    if "run_modes" in modes:
        return True
    if "lifecycle" in modes and event.event == "metadata":
        data = event.decoded()
        return isinstance(data, dict) and (data.get("status") == "run_done" or "attempt" in data)
    return False
