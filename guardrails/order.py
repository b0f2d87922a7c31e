"""Order rules: which guardrail must wrap which, checked by ``kind``, never by class name.

The first middleware in a list is the outermost layer. A rule says that a guardrail of one kind
must be listed before (outside) one of another kind, on a hook both have: a call limit inside a
retry counts every attempt; a tool-only rate limit says nothing about a model retry. Every
guardrail is seen, whatever its configuration, its subclass, or whether it sits inside
:func:`guardrails.compose`. Middleware that does not declare a ``kind`` (LangChain's built-ins,
or one written before the :class:`~guardrails._core.Guardrail` base) is recognised by the name
of a class in its MRO.

Example::

    from guardrails.order import check_order

    check_order([ModelRetryMiddleware(), ModelCallLimitMiddleware(run_limit=3)])
    # warns: ModelCallLimitMiddleware should be listed before ModelRetryMiddleware: ...
"""

from __future__ import annotations

import os
import sys
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain.agents.middleware import AgentMiddleware

__all__ = [
    "ORDER_RULES",
    "GuardrailOrderWarning",
    "OrderRule",
    "check_nesting",
    "check_order",
    "kind_of",
]


class GuardrailOrderWarning(UserWarning):
    """A middleware stack lists guardrails in an order known to misbehave."""


@dataclass(frozen=True)
class OrderRule:
    """``outer`` must be listed before ``inner`` when both have ``hook`` ("model" or "tool")."""

    outer: str
    inner: str
    hook: str
    why: str


#: The rules, by kind.
ORDER_RULES: tuple[OrderRule, ...] = (
    OrderRule(
        "model_call_limit",
        "model_retry",
        "model",
        "call limits inside a retry count every retry attempt as a new model call",
    ),
    OrderRule(
        "rate_limit",
        "model_retry",
        "model",
        "a rate limit inside a retry spends the budget on every retry attempt",
    ),
    OrderRule(
        "rate_limit",
        "tool_retry",
        "tool",
        "a rate limit inside a tool retry spends the budget on every retry attempt",
    ),
    OrderRule(
        "model_call_limit",
        "model_fallback",
        "model",
        "call limits inside a fallback count every fallback attempt as a new model call",
    ),
    OrderRule(
        "rate_limit",
        "model_fallback",
        "model",
        "a rate limit inside a fallback spends the budget on every fallback attempt",
    ),
    OrderRule(
        "model_fallback",
        "pii",
        "model",
        "PII outside the fallback is fine for input, but output redaction then runs once after "
        "the fallback chose a model; put PII inside so every model's request and answer is handled",
    ),
    OrderRule(
        "tool_call_limit",
        "tool_retry",
        "tool",
        "tool call limits inside a tool retry count every retry attempt as a new tool call",
    ),
    OrderRule(
        "filesystem",
        "tool_retry",
        "tool",
        "a permission check inside a tool retry runs again on every attempt; put it outside so a "
        "denial is final",
    ),
)

#: Kinds of middleware that declare none, by the name of a class in their MRO.
_KIND_BY_CLASS_NAME = {
    "ModelRetryMiddleware": "model_retry",
    "ToolRetryMiddleware": "tool_retry",
    "ModelFallbackMiddleware": "model_fallback",
    "ModelCallLimitMiddleware": "model_call_limit",
    "ToolCallLimitMiddleware": "tool_call_limit",
    "RateLimitMiddleware": "rate_limit",
    "PIIMiddleware": "pii",
    "FilesystemPermissionMiddleware": "filesystem",
}

_HOOK_METHODS = {
    "model": ("wrap_model_call", "awrap_model_call"),
    "tool": ("wrap_tool_call", "awrap_tool_call"),
}


def kind_of(middleware: Any) -> str | None:
    """The stable kind of ``middleware`` (an instance or a class): its declared ``kind``, else
    by a class in its MRO."""
    of = middleware if isinstance(middleware, type) else type(middleware)
    kind = getattr(of, "kind", None)
    if isinstance(kind, str) and kind:
        return kind
    for cls in of.__mro__:
        if cls.__name__ in _KIND_BY_CLASS_NAME:
            return _KIND_BY_CLASS_NAME[cls.__name__]
    return None


def _has(middleware: Any, hook: str) -> bool:
    cls = type(middleware)
    return any(
        getattr(cls, m, None) is not getattr(AgentMiddleware, m) for m in _HOOK_METHODS[hook]
    )


def _flatten(stack: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for item in stack:
        members = getattr(item, "members", None)
        if isinstance(members, tuple) and kind_of(item) == "compose":
            out.extend(_flatten(members))
        else:
            out.append(item)
    return out


def _label(middleware: Any) -> str:
    return type(middleware).__name__  # a narrowed instance's class has its public class's name


class SeenOnce:
    """Tuples of live objects (and a few plain values) seen before, by identity.

    Keyed by ``id()`` for speed, but an entry only counts while the objects it was made for
    are alive: CPython reuses a dead object's id for a new one, and a new middleware stack must
    never be taken for one already checked (its warning would be silenced). Each object is held
    by a weak reference (strongly when it cannot be weakly referenced, so its id cannot be
    reused while the entry exists); an entry is dropped when one of its objects dies.

    Example::

        seen = SeenOnce()
        seen.first((outer, inner), "why")  # True
        seen.first((outer, inner), "why")  # False while both are alive
    """

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._entries: dict[tuple[Any, ...], tuple[Callable[[], Any], ...]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def first(self, objects: tuple[Any, ...], *plain: Any) -> bool:
        """True (and remembered) the first time these very objects come with these values."""
        key = (*map(id, objects), *plain)
        refs = self._entries.get(key)
        if refs is not None and all(r() is o for r, o in zip(refs, objects, strict=True)):
            return False
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[key] = tuple(self._ref(o, key) for o in objects)
        return True

    def _ref(self, obj: Any, key: tuple[Any, ...]) -> Callable[[], Any]:
        entries = self._entries

        def gone(ref: Any) -> None:
            if ref in entries.get(key, ()):
                del entries[key]

        try:
            return weakref.ref(obj, gone)
        except TypeError:  # no weak references: held, so its id cannot be reused meanwhile
            return lambda: obj


#: (outer, inner, message) of each problem already warned about, so the check at the first call
#: (check_nesting) does not repeat what compose() or check_order() said for the same two objects.
_WARNED = SeenOnce()


def _package_dir(name: str) -> str | None:
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    return os.path.dirname(file) + os.sep if file else None


#: frames in these packages are the machinery between the user's line and the warning
_MACHINERY = ("guardrails", "langchain", "langchain_core", "langgraph", "langsmith", "deepagents")


def _caller_level(fallback: int) -> int:
    """The ``stacklevel`` of the first frame outside the pack and LangChain's machinery.

    ``compose(...)``, ``Policy.middleware()`` and ``create_deep_agent(...)`` reach the check
    through several of our frames: the warning should name the user's line, not ours. When no
    such frame is on the stack (a hook run by an event loop), ``fallback`` is used.
    """
    dirs = tuple(d for d in map(_package_dir, _MACHINERY) if d is not None)
    frame = sys._getframe(2)  # the caller of _warn
    level = 2
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(dirs):
            # a frame of the standard library (asyncio, threading) is not the user's line either
            return level if not name.startswith(_STDLIB) else fallback
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return fallback


_STDLIB = os.path.dirname(os.__file__) + os.sep


def _warn(found: list[tuple[Any, Any, str]], stacklevel: int) -> None:
    if not found:
        return
    level = _caller_level(stacklevel + 1)
    for outer, inner, text in found:
        if _WARNED.first((outer, inner), text):
            warnings.warn(text, GuardrailOrderWarning, stacklevel=level)


def check_order(stack: Sequence[AgentMiddleware[Any, Any, Any]], *, warn: bool = True) -> list[str]:
    """Return (and by default warn about) known-bad orders in a middleware stack.

    The first middleware in a list is the outermost layer; composed stacks are looked into.
    See ``docs/policy.md`` for the recommended order and why. A plain ``middleware=[...]`` list
    is also checked, at its first call (:func:`check_nesting`), with the same warnings.

    Example::

        check_order([ModelRetryMiddleware(), ModelCallLimitMiddleware(run_limit=3)])
    """
    found = _problems(_flatten(stack))
    if warn:
        _warn(found, stacklevel=2)
    return list(dict.fromkeys(text for _, _, text in found))


def check_nesting(outers: Sequence[Any], inner: Any) -> list[str]:
    """Warn about what is wrong with ``inner`` running inside ``outers`` (outermost first).

    Called by every guardrail's hook on the first call of each nesting it sees (see
    :mod:`guardrails._core`), so a plain ``middleware=[...]`` list gets the warnings
    :func:`compose` gives at construction; a problem already warned about for the same two
    middleware is not repeated. Returns the problems that involve ``inner``.

    Example::

        check_nesting([ModelRetryMiddleware()], ModelCallLimitMiddleware(run_limit=3))
    """
    found = [p for p in _problems([*outers, inner]) if p[0] is inner or p[1] is inner]
    _warn(found, stacklevel=3)
    return [text for _, _, text in found]


def _problems(members: list[Any]) -> list[tuple[Any, Any, str]]:
    """(the middleware to list first, the other one, why) for each known-bad pair."""
    kinds = [kind_of(m) for m in members]
    problems: list[tuple[Any, Any, str]] = []
    fallback_at = kinds.index("model_fallback") if "model_fallback" in kinds else -1
    for position, member in enumerate(members):
        if (
            kinds[position] == "model_retry"
            and 0 <= fallback_at < position
            and getattr(member, "on_failure", "error") != "error"
        ):
            problems.append(
                (
                    members[fallback_at],
                    member,
                    f"{_label(member)} inside {_label(members[fallback_at])} needs "
                    "on_failure='error': with 'continue' it answers with a failure message and "
                    "the fallback never runs",
                )
            )
    for rule in ORDER_RULES:
        for i, inner in enumerate(members):
            if kinds[i] != rule.inner or not _has(inner, rule.hook):
                continue
            outer = next(
                (
                    m
                    for j, m in enumerate(members[i + 1 :], start=i + 1)
                    if kinds[j] == rule.outer and _has(m, rule.hook)
                ),
                None,
            )
            if outer is not None:
                text = f"{_label(outer)} should be listed before {_label(inner)}: {rule.why}"
                problems.append((outer, inner, text))
    return problems
