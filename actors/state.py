"""Thread state operations: read the state (now or at a checkpoint), its history, update it
(`update_state` with `as_node`), copy a thread with its checkpoints, prune checkpoints.

Every checkpointer or graph call runs on the graph loop (`runtime.submit`), so callers get a
`concurrent.futures.Future` and no event loop of theirs ever blocks on storage.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from langgraph.types import StateSnapshot

from langgraph.errors import InvalidUpdateError

from .runs import messages as m
from .kernel import serde
from .config.users import REQUEST_USER, auth_configurable
from .context import SystemContext
from .errors import InvalidInput, NotFound
from .models import Thread, new_id, now
from .kernel.replies import done


# What a graph raises for an update the request got wrong (an unknown node, values its channels
# refuse): a 422. Anything else (the database is away, a bug) is not the request's fault.
REQUEST_FAULTS = (InvalidUpdateError, ValueError, TypeError, KeyError)


def empty_state() -> dict[str, Any]:
    """The state of a thread that has no checkpoint yet, as the reference sends it."""
    return {
        "values": {}, "next": [], "tasks": [], "metadata": None, "created_at": None,
        "checkpoint": None, "parent_checkpoint": None, "interrupts": [],
        "checkpoint_id": None, "parent_checkpoint_id": None,
    }


def _checkpoint_of(config: Any) -> dict[str, Any] | None:
    """A checkpoint's `{thread_id, checkpoint_ns, checkpoint_id[, checkpoint_map]}`, as the reference
    names it: `checkpoint_map` only where LangGraph has one (a subgraph's checkpoint)."""
    if not config:
        return None
    c = config.get("configurable", {})
    checkpoint = {"thread_id": c.get("thread_id"), "checkpoint_ns": c.get("checkpoint_ns", ""), "checkpoint_id": c.get("checkpoint_id")}
    if c.get("checkpoint_map") is not None:
        checkpoint["checkpoint_map"] = c["checkpoint_map"]
    return checkpoint


def _task_error(error: Any) -> str | None:
    """A task's error as the reference writes it: the exception's repr (LangGraph hands back a
    restored one as the string it saved, which must not be quoted again)."""
    if not error:
        return None
    return error if isinstance(error, str) else repr(error)


def snapshot_to_dict(snapshot: Any) -> dict[str, Any]:
    """A LangGraph `StateSnapshot` in the reference's `ThreadState` wire shape (with the deprecated
    top-level `checkpoint_id` / `parent_checkpoint_id` the reference still sends)."""

    def task(t: Any) -> dict[str, Any]:
        # A subgraph's task: its state with subgraphs=True, else where its checkpoint is (the
        # reference's `checkpoint: {thread_id, checkpoint_ns}` and `state: null`).
        state, checkpoint = t.state, None
        if isinstance(state, StateSnapshot):
            state = snapshot_to_dict(state)
        elif state is not None:  # a config pointing at the subgraph's checkpoint
            configurable = state.get("configurable", {})
            checkpoint = {"thread_id": configurable.get("thread_id"), "checkpoint_ns": configurable.get("checkpoint_ns", "")}
            state = None
        return {
            "id": t.id,
            "name": t.name,
            "path": list(t.path),
            "error": _task_error(t.error),
            "interrupts": _interrupts(t.interrupts),
            "checkpoint": checkpoint,
            "state": state,
            "result": t.result,
        }

    checkpoint, parent = _checkpoint_of(snapshot.config), _checkpoint_of(snapshot.parent_config)
    return serde.to_jsonable(
        {
            "values": snapshot.values,
            "next": list(snapshot.next),
            "tasks": [task(t) for t in snapshot.tasks],
            "metadata": snapshot.metadata or {},
            "created_at": snapshot.created_at,
            "checkpoint": checkpoint,
            "parent_checkpoint": parent,
            "interrupts": _interrupts(snapshot.interrupts),
            "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
            "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
        }
    )


def _interrupts(interrupts: Any) -> list[dict[str, Any]]:
    """The reference's wire shape of an interrupt: `{"value", "id"}`."""
    return [{"value": i.value, "id": i.id} for i in interrupts]


def thread_interrupts(snapshot: Any) -> dict[str, list[dict[str, Any]]]:
    """A thread's `interrupts`: by the id of the task that asked. Where subgraph states were read
    (a run that streamed its subgraphs), that is, as on the reference, the task inside the subgraph
    that called `interrupt()`, not the parent's task running the subgraph."""
    found: dict[str, list[dict[str, Any]]] = {}
    for t in snapshot.tasks:
        inner = thread_interrupts(t.state) if isinstance(t.state, StateSnapshot) else None
        if inner:
            found.update(inner)
        elif t.interrupts:
            found[t.id] = [{"value": serde.to_jsonable(i.value), "id": i.id} for i in t.interrupts]
    return found


def _factory_config(config: dict[str, Any], headers: dict[str, str] | None) -> dict[str, Any]:
    """The config a graph factory is called with for a state read or update: the state config plus
    the request's configurable headers and who asked (`REQUEST_USER`: the factory's
    `ServerRuntime.user`), as on the reference. Made where the operation is called."""
    return {**config, "configurable": {**config["configurable"], **(headers or {}), **auth_configurable(REQUEST_USER.get())}}


def _state_config(thread_id: str, checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    for key in ("checkpoint_id", "checkpoint_ns", "checkpoint_map"):
        if checkpoint and checkpoint.get(key) is not None:
            configurable[key] = checkpoint[key]
    configurable.setdefault("checkpoint_ns", "")
    return {"configurable": configurable}


class StateOperations:
    ctx: SystemContext

    def get_thread(self, thread_id: str) -> Thread: ...  # provided by Operations

    def _thread_graph(self, thread: Thread) -> str | None:
        """The id of the thread's graph (opened on the graph loop: a factory is called then)."""
        graph_id = thread.metadata.get("graph_id")
        return graph_id if graph_id in self.ctx.graphs.ids else None

    def get_state(
        self, thread_id: str, checkpoint: dict[str, Any] | None = None, *, subgraphs: bool = False,
        headers: dict[str, str] | None = None,
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """The thread's state now, or at `checkpoint` (`{"checkpoint_id": ..., "checkpoint_ns": ...}`)."""
        thread = self.get_thread(thread_id)
        graph = self._thread_graph(thread)
        if graph is None:
            if checkpoint and checkpoint.get("checkpoint_id"):
                raise NotFound(f"Checkpoint {checkpoint['checkpoint_id']} not found.")
            return done(empty_state())
        config = _state_config(thread_id, checkpoint)

        async def read() -> dict[str, Any]:
            if config["configurable"].get("checkpoint_id"):
                found = await self.ctx.storage.checkpointer.aget_tuple(config)
                if found is None:
                    raise NotFound(f"Checkpoint {config['configurable']['checkpoint_id']} not found.")
            async with self.ctx.graphs.open(graph, _factory_config(config, headers), "threads.read") as opened:
                return snapshot_to_dict(await opened.aget_state(config, subgraphs=subgraphs))

        return self.ctx.runtime.submit(read())

    def get_history(
        self,
        thread_id: str,
        *,
        limit: int = 10,
        before: dict[str, Any] | str | None = None,
        metadata: dict[str, Any] | None = None,
        checkpoint: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> concurrent.futures.Future[list[dict[str, Any]]]:
        """The thread's checkpoints, newest first."""
        if limit < 1:
            raise InvalidInput(f"limit: must be >= 1, got {limit}")
        thread = self.get_thread(thread_id)
        graph = self._thread_graph(thread)
        if graph is None:
            return done([])
        config = _state_config(thread_id, checkpoint)
        if isinstance(before, str):
            before = {"checkpoint_id": before}
        before_config = _state_config(thread_id, before) if before else None

        async def read() -> list[dict[str, Any]]:
            async with self.ctx.graphs.open(graph, _factory_config(config, headers), "threads.read") as opened:
                return [
                    snapshot_to_dict(s)
                    async for s in opened.aget_state_history(config, filter=metadata or None, before=before_config, limit=limit)
                ]

        return self.ctx.runtime.submit(read())

    def update_state(
        self,
        thread_id: str,
        values: Any,
        *,
        as_node: str | None = None,
        checkpoint: dict[str, Any] | None = None,
        checkpoint_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """Write `values` as if node `as_node` had returned them; a new checkpoint. Refused (409)
        while a run is active or pending on the thread: the thread actor does the write, in order
        with its runs (`WriteState`)."""
        if checkpoint_id:
            checkpoint = {**(checkpoint or {}), "checkpoint_id": checkpoint_id}
        config = _state_config(thread_id, checkpoint)
        factory_config = _factory_config(config, headers)

        def write(thread: Thread) -> Any:
            graph = self._thread_graph(thread)
            if graph is None:
                raise InvalidInput(
                    f"Thread {thread_id} has no graph yet: run it once, or create it with metadata.graph_id"
                )
            return self._write_update(graph, config, values, as_node, factory_config)

        return self._write_state(thread_id, write, f"Thread {thread_id} is busy; update its state when its runs have ended.")

    def _write_state(self, thread_id: str, write: Any, busy_detail: str) -> concurrent.futures.Future[Any]:
        reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.ctx.tell_thread(thread_id, m.WriteState(write=write, busy_detail=busy_detail, reply=reply))
        return reply

    async def _write_update(
        self, graph: str, config: dict[str, Any], values: Any, as_node: str | None, factory_config: dict[str, Any]
    ) -> m.StateChange:
        thread_id = config["configurable"]["thread_id"]
        async with self.ctx.graphs.open(graph, factory_config, "threads.update") as opened:
            try:  # the checkpoint's metadata names the graph, as on the reference
                new_config = await opened.aupdate_state({**config, "metadata": {"graph_id": graph}}, values, as_node=as_node)
            except REQUEST_FAULTS as exc:  # unknown node, bad values: the request is at fault
                raise InvalidInput(f"update_state: {type(exc).__name__}: {exc}") from None
            snapshot = await opened.aget_state({"configurable": {"thread_id": thread_id}})
        interrupts = thread_interrupts(snapshot)
        fields = {
            "values": serde.to_jsonable(snapshot.values), "interrupts": interrupts, "error": None,
            "status": "interrupted" if interrupts or snapshot.next else "idle", "state_updated_at": now(),
        }
        event = {"state": snapshot_to_dict(snapshot), "thread_id": thread_id}
        written = _checkpoint_of(new_config)
        # the reference's answer: the new checkpoint, the config naming it and (deprecated) its id
        configurable = {k: written[k] for k in ("thread_id", "checkpoint_ns", "checkpoint_id")}
        result = {"checkpoint": written, "configurable": configurable, "checkpoint_id": written["checkpoint_id"]}
        return m.StateChange(result=result, thread_fields=fields, event=event)

    def create_thread(self, thread_id: str | None = None, metadata: dict[str, Any] | None = None, if_exists: str = "raise") -> Thread: ...

    def delete_thread(self, thread_id: str) -> concurrent.futures.Future[None]: ...

    def create_thread_with_history(
        self, thread_id: str | None, metadata: dict[str, Any] | None, if_exists: str, supersteps: list[list[dict[str, Any]]]
    ) -> concurrent.futures.Future[Thread]:
        """Create a thread and write its history; all or nothing. An existing thread (`if_exists:
        do_nothing`) is returned as it is."""
        if thread_id is not None and self.ctx.storage.get_thread(thread_id) is not None and if_exists == "do_nothing":
            return done(self.get_thread(thread_id))
        thread = self.create_thread(thread_id, metadata, if_exists)
        result: concurrent.futures.Future[Thread] = concurrent.futures.Future()

        def written(f: concurrent.futures.Future[Thread]) -> None:
            if f.exception() is None:
                result.set_result(f.result())
                return
            self.delete_thread(thread.thread_id).add_done_callback(lambda _: result.set_exception(f.exception()))  # type: ignore[arg-type]

        try:
            self.apply_supersteps(thread.thread_id, supersteps).add_done_callback(written)
        except Exception:
            self.delete_thread(thread.thread_id)
            raise
        return result

    def apply_supersteps(self, thread_id: str, supersteps: list[list[dict[str, Any]]]) -> concurrent.futures.Future[Thread]:
        """Write a new thread's history: each superstep is a list of `{"values", "as_node"}` updates
        applied together (LangGraph's `bulk_update_state`). The thread needs `metadata.graph_id`."""
        from langgraph.types import StateUpdate

        steps = [[StateUpdate(u.get("values"), u.get("as_node")) for u in step] for step in supersteps]
        who = auth_configurable(REQUEST_USER.get())  # for the factory: the thread actor writes later

        def write(thread: Thread) -> Any:
            graph = self._thread_graph(thread)
            if graph is None:
                raise InvalidInput(f"supersteps: need metadata.graph_id naming one of {self.ctx.graphs.ids}")
            return self._write_supersteps(graph, thread_id, steps, who)

        return self._write_state(thread_id, write, f"Thread {thread_id} is busy; its history cannot be written.")

    async def _write_supersteps(self, graph: str, thread_id: str, steps: list[Any], who: dict[str, Any]) -> m.StateChange:
        config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        async with self.ctx.graphs.open(graph, {"configurable": {**config["configurable"], **who}}, "threads.update") as opened:
            try:
                await opened.abulk_update_state(config, steps)
            except REQUEST_FAULTS as exc:  # unknown node, bad values: the request is at fault
                raise InvalidInput(f"supersteps: {type(exc).__name__}: {exc}") from None
            snapshot = await opened.aget_state({"configurable": {"thread_id": thread_id}})
        fields = {
            "values": serde.to_jsonable(snapshot.values), "state_updated_at": now(), "interrupts": {}, "error": None,
            "status": "interrupted" if snapshot.next else "idle",
        }
        return m.StateChange(thread_fields=fields, reply_with_thread=True)

    def copy_thread(self, thread_id: str) -> concurrent.futures.Future[Thread]:
        """A new thread with the same metadata and a copy of every checkpoint (all namespaces)."""
        source = self.get_thread(thread_id)
        storage = self.ctx.storage
        # Unlike the reference (docs/api.md, Threads): the copy has the source's values and
        # interrupts, as its checkpoints do; like it, no run's error or config.
        interrupts = dict(source.interrupts) if isinstance(source.interrupts, dict) else source.interrupts
        copy = Thread(thread_id=new_id(), metadata=dict(source.metadata), values=source.values,
                      interrupts=interrupts, status="interrupted" if source.interrupts else "idle")

        async def duplicate() -> Thread:
            saver = storage.checkpointer
            tuples = [t async for t in saver.alist({"configurable": {"thread_id": thread_id}})]
            for t in reversed(tuples):  # oldest first, so every parent exists before its child
                c = t.config["configurable"]
                parent_id = t.parent_config["configurable"].get("checkpoint_id") if t.parent_config else None
                target = {"configurable": {"thread_id": copy.thread_id, "checkpoint_ns": c.get("checkpoint_ns", "")}}
                if parent_id:
                    target["configurable"]["checkpoint_id"] = parent_id
                await _put_tuple(saver, target, t, {**t.metadata, "thread_id": copy.thread_id})
            storage.create_thread(copy)
            return copy

        return self.ctx.runtime.submit(duplicate())

    def prune_checkpoints(self, thread_id: str) -> concurrent.futures.Future[None]:
        """Keep only the newest checkpoint of the thread (`prune` with `keep_latest`); done by the
        thread actor, refused (409) while a run is active or pending."""
        saver = self.ctx.storage.checkpointer

        async def prune() -> m.StateChange:
            latest = await saver.aget_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
            if latest is not None:
                await saver.adelete_thread(thread_id)
                config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
                await _put_tuple(saver, config, latest, latest.metadata)
            return m.StateChange()

        return self._write_state(thread_id, lambda thread: prune(), f"Thread {thread_id} is busy; prune it when its runs have ended.")


async def _put_tuple(saver: Any, config: dict[str, Any], saved: Any, metadata: dict[str, Any]) -> None:
    """Write a checkpoint tuple (checkpoint and pending writes) under `config` (thread, namespace,
    parent checkpoint id)."""
    target = await saver.aput(config, saved.checkpoint, metadata, saved.checkpoint.get("channel_versions", {}))
    by_task: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in saved.pending_writes or []:
        by_task.setdefault(task_id, []).append((channel, value))
    for task_id, writes in by_task.items():
        await saver.aput_writes(target, writes, task_id)
