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

__all__ = ["injected_arg_names", "null_resume_pending", "viewing_request"]


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


#: (tool class, schema, func, coroutine) by id -> (those objects, held so no id is reused while
#: the entry lives; the names): a tool view is made per call, what it is made of is not
_INJECTED: dict[tuple[int, ...], tuple[tuple[Any, ...], frozenset[str]]] = {}


def injected_arg_names(tool: Any) -> frozenset[str]:
    """The names of the arguments ToolNode injects into ``tool`` (graph state, a store, the
    runtime, any ``InjectedToolArg``), as ToolNode itself computes them: from the tool's input
    schema and its function's annotations (deepagents' ``task`` takes ``runtime`` outside its
    schema), and ``runtime`` by name.

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
    extra = (n for n in (found.store, found.runtime) if n)
    names = frozenset({*found.state, *found.all_injected_keys, *extra})
    if len(_INJECTED) >= 1024:
        _INJECTED.clear()
    _INJECTED[key] = (parts, names)
    return names


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
