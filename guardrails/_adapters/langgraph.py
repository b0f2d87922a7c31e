"""LangGraph internals, each behind one function (canaries: tests/test_adapters.py).

Private names used here (langgraph 1.x):

* ``langgraph._internal._constants.CONFIG_KEY_SCRATCHPAD`` and the task scratchpad's
  ``get_null_resume(consume=False)`` -- whether a task runs on a resume that carries a value
  no ``interrupt`` has taken yet (the "null resume" of ``Command(resume=value)``).
* ``ToolCallRequest.override`` builds its new request with ``dataclasses.replace`` (a subclass
  and its extra fields carry over) -- :func:`viewing_request`, so that a tool a layer inside
  hands to ToolNode (``request.override(tool=...)``) is seen through the guardrail too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from langgraph.prebuilt.tool_node import ToolCallRequest

__all__ = ["injected_by_toolnode", "null_resume_pending", "viewing_request"]


@dataclasses.dataclass
class _ViewingRequest(ToolCallRequest):
    """A ``ToolCallRequest`` whose every new tool (``override(tool=...)`` or, deprecated,
    ``request.tool = ...``) goes through ``guardrails_view`` first."""

    guardrails_view: Callable[[Any], Any] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "guardrails_view":
            object.__setattr__(self, name, value)
            return
        if name == "tool" and value is not None and "tool" in self.__dict__:
            value = _viewed(self, value)
        super().__setattr__(name, value)

    def override(self, **overrides: Any) -> Any:
        tool = overrides.get("tool")
        if tool is not None:
            overrides["tool"] = _viewed(self, tool)
        return super().override(**overrides)


def _viewed(request: _ViewingRequest, tool: Any) -> Any:
    view = request.guardrails_view
    return tool if view is None else view(tool)


def viewing_request(request: Any, view: Callable[[Any], Any]) -> Any:
    """``request`` (a ``ToolCallRequest``) as one whose every new tool a layer inside sets goes
    through ``view`` (``view(tool) -> tool``; it must return a tool it already made as it is).
    A request that already has a view (an outer guardrail's) gets both: the outer one first.

    Upstream: ``ToolCallRequest.override`` (``dataclasses.replace``)."""
    outer = getattr(request, "guardrails_view", None)
    chained: Callable[[Any], Any] = view
    if outer is not None:

        def chained(tool: Any) -> Any:
            return view(outer(tool))

    fields = {f.name: getattr(request, f.name) for f in dataclasses.fields(ToolCallRequest)}
    return _ViewingRequest(**fields, guardrails_view=chained)


#: where ToolNode takes each injected argument from: ``("state", field or None)``,
#: ``("store", None)``, ``("runtime", None)`` or ``("arg", None)`` (an ``InjectedToolArg`` it
#: strips and fills with nothing)
Source = tuple[str, str | None]

#: (tool class, schema, func, coroutine) by id -> (those objects, held so no id is reused while
#: the entry lives; the sources by name): a tool view is made per call, what it is made of is not
_INJECTED: dict[tuple[int, ...], tuple[tuple[Any, ...], dict[str, frozenset[Source]]]] = {}


def _sources(tool: Any) -> dict[str, frozenset[Source]]:
    """Where ToolNode takes each argument it injects into ``tool`` from, by name, as ToolNode
    itself computes them: from the tool's input schema and its function's annotations
    (deepagents' ``task`` takes ``runtime`` outside its schema), and ``runtime`` by name.

    Upstream: ``langgraph.prebuilt.tool_node._get_all_injected_args`` (``_InjectedArgs``)."""
    from langgraph.prebuilt.tool_node import _get_all_injected_args

    parts = (
        type(tool),
        getattr(tool, "args_schema", None),
        getattr(tool, "func", None),
        getattr(tool, "coroutine", None),
    )
    key = tuple(map(id, parts))
    hit = _INJECTED.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], parts, strict=True)):
        return hit[1]
    found = _get_all_injected_args(tool)
    sources: dict[str, set[Source]] = {name: {("arg", None)} for name in found.all_injected_keys}
    for name, field in found.state.items():
        sources.setdefault(name, set()).add(("state", field))
    if found.store:
        sources.setdefault(found.store, set()).add(("store", None))
    if found.runtime:
        sources.setdefault(found.runtime, set()).add(("runtime", None))
    frozen = {name: frozenset(kinds) for name, kinds in sources.items()}
    if len(_INJECTED) >= 1024:
        _INJECTED.clear()
    _INJECTED[key] = (parts, frozen)
    return frozen


_MISSING = object()


def injected_by_toolnode(tool: Any, args: dict[str, Any], runtime: Any) -> frozenset[str]:
    """The keys of ``args`` (the input ``tool`` is invoked with) that hold what ToolNode
    injects: under a name it injects into this tool, its very object: a ``ToolRuntime``, a
    store, ``runtime``'s graph state or that state's field. A value under such a name that is
    not ToolNode's (ToolNode injects by the *call's* name, so a tool a layer hands it under
    another tool's name gets nothing injected; a layer may invoke the tool itself) was written
    by someone: it is not listed.

    Upstream: ``ToolNode._inject_tool_args`` (what it takes from ``ToolRuntime``)."""
    from langgraph.prebuilt.tool_node import ToolRuntime
    from langgraph.store.base import BaseStore

    sources = _sources(tool)
    state = getattr(runtime, "state", _MISSING)

    def toolnodes(value: Any, source: Source) -> bool:
        kind, field = source
        if kind == "runtime":
            return isinstance(value, ToolRuntime)
        if kind == "store":
            return isinstance(value, BaseStore)
        if kind != "state" or state is _MISSING:
            return False  # an InjectedToolArg: ToolNode strips it and puts nothing there
        if field is None:
            return value is state
        held = (
            state.get(field, _MISSING)
            if isinstance(state, dict)
            else getattr(state, field, _MISSING)
        )
        return value is held

    return frozenset(
        name
        for name, value in args.items()
        if name in sources and any(toolnodes(value, s) for s in sources[name])
    )


def null_resume_pending() -> bool:
    """Whether the running task was started by ``Command(resume=value)`` (a single value).

    Upstream: ``langgraph._internal._constants.CONFIG_KEY_SCRATCHPAD``,
    ``PregelScratchpad.get_null_resume``. Outside a graph run: False.
    """
    from langgraph._internal._constants import CONFIG_KEY_SCRATCHPAD
    from langgraph.config import get_config

    try:
        configurable = get_config()["configurable"]
    except RuntimeError:  # outside a runnable context
        return False
    scratchpad = configurable.get(CONFIG_KEY_SCRATCHPAD)
    if scratchpad is None:
        return False
    return scratchpad.get_null_resume(False) is not None
