"""Graph factories, called as the reference server calls them.

A graph in langgraph.json may name a function instead of a graph. Its parameters say what it gets
(by annotation, names do not matter):

    def make() -> graph                                  # nothing
    def make(config: RunnableConfig) -> graph            # the config (any one unannotated parameter)
    def make(runtime: ServerRuntime) -> graph            # a langgraph_sdk.runtime.ServerRuntime
    def make(config, runtime: ServerRuntime) -> graph    # both, in either order

It may be `async`, and may return a compiled graph, a `StateGraph` (compiled for you), an awaitable
of one, or a (sync or async) context manager yielding one - which stays entered while the graph is
in use (the run, the state read). It is called each time the graph is needed, with `access` saying
why: `threads.create_run` (a run: the run's merged config, and its `context` on the runtime),
`threads.read` / `threads.update` (state reads and `update_state`: the thread's config),
`assistants.read` (graph, schemas, subgraphs: the assistant's config). Every call happens on the
graph loop, never on the HTTP loop.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import typing
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, get_args, get_origin

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from langgraph_sdk.runtime import ServerRuntime, _ExecutionRuntime, _ReadRuntime

from .users import REQUEST_USER, AuthUser, configurable_user

AccessContext = Literal["threads.create_run", "threads.update", "threads.read", "assistants.read"]

_RUNTIME_CLASSES = (_ExecutionRuntime, _ReadRuntime)
_HINT_NAMES = {"ServerRuntime": ServerRuntime, "RunnableConfig": RunnableConfig}


def _is_runtime(annotation: Any) -> bool:
    if annotation is inspect.Parameter.empty:
        return False
    if annotation is ServerRuntime or get_origin(annotation) is ServerRuntime:
        return True
    if isinstance(annotation, type):
        return issubclass(annotation, _RUNTIME_CLASSES)
    args = get_args(annotation)  # Annotated[ServerRuntime, ...]
    return bool(get_origin(annotation)) and bool(args) and _is_runtime(args[0])


class GraphFactory:
    """A function that makes a graph; which arguments it takes is worked out once, here."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        params = list(inspect.signature(fn).parameters.values())
        try:
            hints = typing.get_type_hints(fn, localns=_HINT_NAMES)
        except Exception:  # noqa: BLE001 - an annotation that does not resolve: treat it as absent
            hints = {}
        runtime = [p.name for p in params if _is_runtime(hints.get(p.name, p.annotation))]
        if len(params) > 2:
            raise TypeError(f"a graph factory takes at most 2 arguments (config, runtime), got {[p.name for p in params]}")
        if len(params) == 2 and len(runtime) != 1:
            raise TypeError("a graph factory of 2 arguments needs one annotated `ServerRuntime`, the other is the config")
        self.runtime_param = runtime[0] if runtime else None
        config = [p.name for p in params if p.name != self.runtime_param]
        self.config_param = config[0] if config else None

    def __repr__(self) -> str:
        return f"GraphFactory({getattr(self.fn, '__qualname__', self.fn)!r})"

    def call(self, config: dict[str, Any], access: AccessContext, store: Any, context: Any = None) -> Any:
        kwargs: dict[str, Any] = {}
        if self.config_param is not None:
            kwargs[self.config_param] = ensure_config(copy.deepcopy(config))  # type: ignore[arg-type]
        if self.runtime_param is not None:
            kwargs[self.runtime_param] = server_runtime(access, store, context, _user(config, access))
        return self.fn(**kwargs)

    @contextlib.asynccontextmanager
    async def make(self, config: dict[str, Any], access: AccessContext, store: Any, context: Any = None) -> AsyncIterator[Any]:
        """The graph the factory makes for this use, compiled if it is a StateGraph."""
        value = self.call(config, access, store, context)
        async with _entered(value) as made:
            if hasattr(made, "compile") and not callable(getattr(made, "invoke", None)):
                made = made.compile()
            yield made


@contextlib.asynccontextmanager
async def _entered(value: Any) -> AsyncIterator[Any]:
    if hasattr(value, "__aenter__") and hasattr(value, "__aexit__"):
        async with value as made:
            yield made
    elif hasattr(value, "__enter__") and hasattr(value, "__exit__"):
        with value as made:
            yield made
    elif inspect.isawaitable(value):
        yield await value
    else:
        yield value


def _user(config: dict[str, Any], access: AccessContext) -> AuthUser | None:
    """Who the graph is made for: the user in its config (a run's, stamped when the run was asked
    for, so a queued run has it too; a state read's or update's, stamped by the operation), else
    the request being served's (introspection)."""
    configurable = config.get("configurable") or {}
    if "langgraph_auth_user" in configurable or access == "threads.create_run":
        return configurable_user(configurable)
    return REQUEST_USER.get()


def server_runtime(access: AccessContext, store: Any, context: Any = None, user: AuthUser | None = None) -> Any:
    """The SDK's `ServerRuntime` for this access: with the run's context when it executes a run,
    and the authenticated user (None without auth)."""
    if access == "threads.create_run":
        return _ExecutionRuntime(
            access_context=access, user=user, store=store, context=copy.copy(context) if context is not None else None
        )
    return _ReadRuntime(access_context=access, user=user, store=store)
