"""Whether the subagents a model can start through deepagents' ``task`` carry a PII guardrail.

A subagent is a second agent with its own model: if its stack lacks the guardrail, that model
receives raw values (the general-purpose subagent reads the same files, with no
``PIIMiddleware``, under a plain ``deepagents.create_deep_agent(middleware=[...])``). The
filesystem guardrail denies a ``task`` to a subagent not held to its rules; the PII guardrail
refuses the setup, at the first model call that offers such a ``task`` tool, before any value
has been sent (``guardrails.deep.create_deep_agent`` gives every subagent the guardrail).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from guardrails._adapters import deepagents as _da

__all__ = ["unguarded_subagent"]

_KNOWN: weakref.WeakKeyDictionary[Any, dict[int, str | None]] = weakref.WeakKeyDictionary()


def _members(stack: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for m in stack:
        inner = getattr(m, "members", None)
        out.extend(_members(inner) if isinstance(inner, tuple) else [m])
    return out


def _carries(spec: Mapping[str, Any], mw: Any) -> bool:
    """The subagent's stack has ``mw`` itself or a PII guardrail of its own (a stack its
    author configured, e.g. a policy's ``subagents.NAME`` section, is taken as chosen)."""
    return any(
        m is mw or (getattr(m, "kind", None) == "pii" and getattr(m, "apply_to_input", False))
        for m in _members(spec.get("middleware") or ())
    )


def _judge(tool: Any, mw: Any) -> str | None:
    specs = _da.task_subagent_specs(tool)
    if specs is None:
        return None
    for name in sorted(specs):
        spec = specs[name]
        if "runnable" in spec or "graph_id" in spec:
            return (
                f"subagent {name!r} is a compiled graph {mw.name} cannot enter: its model "
                "would receive raw values"
            )
        if not _carries(spec, mw):
            return (
                f"subagent {name!r} has no PIIMiddleware in its middleware (the caller has "
                f"{mw.name}): its model would receive raw values"
            )
    return None


def unguarded_subagent(tools: Sequence[Any], mw: Any) -> str | None:
    """Why one of the subagents behind a ``task`` tool in ``tools`` would run without ``mw``
    (None: all carry it). Judged once per task tool and middleware."""
    for tool in tools:
        if getattr(tool, "name", None) != "task":
            continue
        func = getattr(tool, "func", None) or getattr(tool, "coroutine", None)
        if func is None:
            continue
        try:
            known = _KNOWN.setdefault(func, {})
        except TypeError:  # pragma: no cover - an object that cannot be weakly referenced
            known = {}
        if id(mw) not in known:
            known[id(mw)] = _judge(tool, mw)
        why = known[id(mw)]
        if why is not None:
            return why
    return None
