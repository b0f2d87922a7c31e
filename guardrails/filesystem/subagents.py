"""Whether a subagent is held to the rules of the agent that starts it, and holding it.

Held means: every path-taking tool the subagent (or any subagent below it) can call is covered.
deepagents' file tools and ``execute`` are covered by a ``FilesystemPermissionMiddleware`` of the
subagent's own (which inherits the caller's rules and ``tool_paths`` through the active context)
or by a guarded backend; a tool the caller lists in ``tool_paths`` opens files itself, so only a
middleware of ours in the subagent covers it (a guarded backend cannot). Declarative subagents
are judged from their spec's middleware and tools; compiled subagents from their graph's tool
nodes (a ``tool_paths`` tool there is never covered).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from guardrails._adapters import deepagents as _da
from guardrails.filesystem.backends import guard_backend, is_guarded
from guardrails.filesystem.links import deepagents_fs

__all__ = ["hold_graph", "task_refusal", "unheld_graph"]

_UNGUARDED = "its file tools run on a backend without these rules"
#: Called with each deepagents FilesystemMiddleware found; returns a reason to refuse, or None.
_Visit = Callable[[Any], str | None]


def members(middleware: Iterable[Any]) -> list[Any]:
    """Middleware with composed stacks (``guardrails.compose``) flattened into their members."""
    out: list[Any] = []
    for m in middleware:
        inner = getattr(m, "members", None)
        out.extend(members(inner) if isinstance(inner, tuple) else [m])
    return out


def _is_ours(m: Any) -> bool:
    return bool(getattr(type(m), "_guardrails_fs_middleware", False))


def _path_tool(tool: Any, paths: frozenset[str]) -> str | None:
    name = tool.get("name") if isinstance(tool, Mapping) else getattr(tool, "name", None)
    if not isinstance(name, str):
        name = getattr(tool, "__name__", None)  # a plain function deepagents makes a tool of
    if isinstance(name, str) and name in paths:
        return (
            f"its tool {name!r} takes paths (tool_paths) and no FilesystemPermissionMiddleware "
            "checks it there"
        )
    return None


def _spec(
    spec: Mapping[str, Any],
    visit: _Visit,
    seen: set[int],
    trust_ours: bool,
    paths: frozenset[str] = frozenset(),
) -> str | None:
    if id(spec) in seen:
        return None
    seen.add(id(spec))
    if "runnable" in spec:
        return _graph(spec["runnable"], visit, seen, trust_ours, paths)
    fs = deepagents_fs()
    stack = members(spec.get("middleware") or ())
    if trust_ours and any(_is_ours(m) for m in stack):
        return None  # ours inherits the caller's rules and checks nested task calls itself
    for tool in spec.get("tools") or ():
        if (reason := _path_tool(tool, paths)) is not None:
            return reason
    for m in stack:
        if fs is not None and isinstance(m, fs.FilesystemMiddleware):
            reason = visit(m)
            if reason is not None:
                return reason
        for tool in getattr(m, "tools", None) or ():
            reason = _tool(tool, visit, seen, trust_ours, paths)
            if reason is not None:
                return reason
    return None


def _tool(
    tool: Any, visit: _Visit, seen: set[int], trust_ours: bool, paths: frozenset[str]
) -> str | None:
    if (reason := _path_tool(tool, paths)) is not None:
        return reason
    owner = _da.fs_middleware_of(tool)
    if owner is not None and (reason := visit(owner)) is not None:
        return reason
    for name, spec in (_da.task_subagent_specs(tool) or {}).items():
        reason = _spec(spec, visit, seen, trust_ours, paths)
        if reason is not None:
            return f"its subagent {name!r}: {reason}"
    return None


def unwrap_bindings(runnable: Any) -> Any:
    """The graph inside any number of bindings (``with_config``, ``with_retry``, ...): each
    ``.bound`` followed until an object with ``nodes`` or without ``bound`` (a loop of
    bindings stops where it closes)."""
    graph = runnable
    seen: set[int] = set()
    while not hasattr(graph, "nodes") and hasattr(graph, "bound") and id(graph) not in seen:
        seen.add(id(graph))
        graph = graph.bound
    return graph


def _graph(
    runnable: Any, visit: _Visit, seen: set[int], trust_ours: bool, paths: frozenset[str]
) -> str | None:
    graph = unwrap_bindings(runnable)
    nodes = getattr(graph, "nodes", None)
    if not isinstance(nodes, Mapping):
        return "it is not a graph whose tools can be inspected"
    if id(graph) in seen:
        return None
    seen.add(id(graph))
    for node in nodes.values():
        bound = getattr(node, "bound", None)
        tools = getattr(bound, "tools_by_name", None)
        if isinstance(tools, Mapping):
            for tool in tools.values():
                if (reason := _tool(tool, visit, seen, trust_ours, paths)) is not None:
                    return reason
        elif (
            bound is not None
            and isinstance(getattr(bound, "nodes", None), Mapping)
            and (reason := _graph(bound, visit, seen, trust_ours, paths)) is not None
        ):
            return reason
    return None


def _report(owner: Any) -> str | None:
    return None if is_guarded(owner.backend) else _UNGUARDED


def _guard(owner: Any) -> None:
    if not is_guarded(owner.backend):
        owner.backend = guard_backend(owner.backend)


def unheld_graph(runnable: Any, paths: frozenset[str] = frozenset()) -> str | None:
    """Why a compiled subagent is not held to its caller's rules (None: it is)."""
    return _graph(runnable, _report, set(), False, paths)


def hold_graph(runnable: Any, paths: frozenset[str] = frozenset()) -> str | None:
    """Guard, in place, the backend of every deepagents file tool in a compiled subagent.

    The guarded backend applies the rules of the tool call running now (the caller's ``task``),
    so the compiled subagent used on its own elsewhere behaves as before. Returns why it still
    cannot be held (an opaque runnable), or None.
    """
    _graph(runnable, lambda owner: _guard(owner), set(), False, frozenset())
    return unheld_graph(runnable, paths)


_HELD: weakref.WeakKeyDictionary[Any, dict[Any, str | None]] = weakref.WeakKeyDictionary()


def task_refusal(tool: Any, subagent: Any, paths: frozenset[str] = frozenset()) -> str | None:
    """Why a ``task`` call to ``subagent`` would run outside the rules (None: it would not).

    ``paths``: the names of the caller's ``tool_paths`` tools (they must be checked there too).
    """
    func = getattr(tool, "func", None) or getattr(tool, "coroutine", None)
    if func is None or not isinstance(subagent, str):
        return None
    try:
        known = _HELD.setdefault(func, {})
    except TypeError:
        known = {}
    memo = (subagent, paths)
    if memo not in known:
        specs = _da.task_subagent_specs(tool)
        spec = specs.get(subagent) if specs is not None else None
        known[memo] = None if spec is None else _spec(spec, _report, set(), True, paths)
    return known[memo]
