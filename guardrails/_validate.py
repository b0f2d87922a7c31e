"""Shared validators for middleware settings: one refusal, one message, everywhere.

Settings arrive from Python code and from policy files (TOML, YAML, environment strings). A
string ``"false"`` is truthy, ``NaN`` passes every ``< 0`` check and a bare string is an
iterable of letters: each of those silently switches a guardrail off. The validators here
refuse them at construction with a :class:`~guardrails.errors.GuardrailConfigError` whose
message names the setting, the allowed values and what was given.

Example::

    from guardrails import _validate as v

    fail_open = v.strict_bool("fail_open", fail_open)
    cooldown = v.number("cooldown", cooldown, minimum=0.0)
    threshold = v.whole_number("failure_threshold", threshold, minimum=1, optional=True)
    on_limit = v.one_of("on_limit", on_limit, ("error", "wait", "end"))
    names = v.tool_names("tools", tools, optional=True)
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

from guardrails.errors import GuardrailConfigError

__all__ = [
    "GuardrailKeywordError",
    "check_keywords",
    "closest",
    "middleware_name",
    "not_awaitable",
    "number",
    "one_of",
    "positive_int",
    "strict_bool",
    "sync_callable",
    "tool_names",
    "whole_number",
]

T = TypeVar("T")


class GuardrailKeywordError(GuardrailConfigError, TypeError):
    """A keyword argument the constructor does not have; a ``TypeError`` like Python's own, and
    a :class:`~guardrails.errors.GuardrailConfigError` naming the closest parameter.

    Example::

        ModelRetryMiddleware(max_retires=3)
        # GuardrailKeywordError: ModelRetryMiddleware() got an unexpected keyword argument
        # 'max_retires' (did you mean 'max_retries'?); ...
    """


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``name`` (difflib), or ``None`` when none is close.

    Example::

        closest("max_retires", ["max_retries", "jitter"])  # "max_retries"
    """
    options = list(choices)
    by_lower = {c.lower(): c for c in options}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


_PARAMETERS: dict[Callable[..., Any], tuple[frozenset[str], bool]] = {}


def check_keywords(owner: str, function: Callable[..., Any], given: Mapping[str, Any]) -> None:
    """Refuse a keyword ``function`` does not take, naming the closest parameter.

    ``owner`` is how the call reads in the message (``"ModelRetryMiddleware()"``).

    Example::

        check_keywords("ModelRetryMiddleware()", ModelRetryMiddleware.__init__, {"max_retires": 3})
    """
    known = _PARAMETERS.get(function)
    if known is None:
        parameters = inspect.signature(function).parameters.values()
        names = frozenset(
            p.name
            for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        )
        open_ended = any(p.kind is p.VAR_KEYWORD for p in parameters)
        known = _PARAMETERS[function] = (names, open_ended)
    names, open_ended = known
    if open_ended:
        return
    for key in given:
        if key in names:
            continue
        public = sorted(n for n in names if not n.startswith("_"))
        near = closest(key, public)
        hint = f" (did you mean {near!r}?)" if near else ""
        raise GuardrailKeywordError(
            f"{owner} got an unexpected keyword argument {key!r}{hint}; its keyword arguments "
            f"are: {', '.join(public)}"
        )


def not_awaitable(name: str, result: Any) -> None:
    """Refuse what a user callable returned when it is awaitable (a plain function that returns a
    coroutine): it would be read as a truthy value, never run. The coroutine is closed.

    Example::

        verdict = retry_on(exc)
        not_awaitable("retry_on", verdict)
    """
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # no "coroutine was never awaited" warning later
        raise GuardrailConfigError(
            f"{name} returned an awaitable ({type(result).__name__}); it must be a plain (sync) "
            "callable that returns its answer, since it is called without await"
        )


def sync_callable(name: str, value: Any, *, returns: str) -> None:
    """Refuse an ``async def`` function (or an object whose ``__call__`` is one) where a plain
    callable is called without ``await``: its coroutine would be truthy, or never run.

    Example::

        sync_callable("retry_on", my_predicate, returns="bool")
    """
    target = value if inspect.isfunction(value) or inspect.ismethod(value) else None
    if target is None and callable(value):
        target = getattr(value, "__call__", None)  # noqa: B004
    inner = getattr(value, "func", None)  # functools.partial
    if (target is not None and inspect.iscoroutinefunction(target)) or (
        inner is not None and inspect.iscoroutinefunction(inner)
    ):
        raise GuardrailConfigError(
            f"{name} must be a plain (sync) callable returning {returns}, got the async "
            f"function {getattr(value, '__name__', value)!r}: it is called without await in "
            f"sync and async runs alike (a coroutine would be read as {returns}); write it as a "
            "plain def (run blocking work inside it, or precompute what it needs)"
        )


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def strict_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False``; anything else (``"false"``, ``0``, ``1``,
    ``None``) is refused: a string from a policy file or an environment variable must be
    parsed by the caller, never read as truthy.

    Example::

        strict_bool("fail_open", False)    # False
        strict_bool("fail_open", "false")  # GuardrailConfigError
    """
    if value is True or value is False:
        return bool(value)
    hint = ""
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "0", "1"):
        hint = (
            " (a string is not a boolean: write true/false unquoted in TOML/YAML, or parse "
            "the environment variable yourself)"
        )
    raise GuardrailConfigError(
        f"{name} must be a boolean, True or False; got {_shown(value)}{hint}"
    )


@overload
def number(
    name: str,
    value: Any,
    *,
    minimum: float | None = ...,
    maximum: float | None = ...,
    exclusive_minimum: bool = ...,
    optional: Literal[False] = ...,
) -> float: ...


@overload
def number(
    name: str,
    value: Any,
    *,
    minimum: float | None = ...,
    maximum: float | None = ...,
    exclusive_minimum: bool = ...,
    optional: Literal[True],
) -> float | None: ...


def number(
    name: str,
    value: Any,
    *,
    minimum: float | None = 0.0,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    optional: bool = False,
) -> float | None:
    """A finite real number (int or float, not bool, not NaN, not +/-inf) within bounds.

    ``minimum`` defaults to 0 (seconds, factors); ``optional=True`` lets ``None`` through.
    Returns the value as a ``float``.

    Example::

        number("cooldown", 30)                  # 30.0
        number("cooldown", float("nan"))        # GuardrailConfigError
        number("max_wait", None, optional=True) # None
    """
    if value is None and optional:
        return None
    low = "" if minimum is None else (f"> {minimum:g}" if exclusive_minimum else f">= {minimum:g}")
    high = "" if maximum is None else f"<= {maximum:g}"
    bounds = " and ".join(b for b in (low, high) if b)
    kind = "a finite number" + (" or None" if optional else "")
    allowed = f"{bounds} ({kind})" if bounds else kind
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
    ):
        raise GuardrailConfigError(f"{name} must be {allowed}; got {_shown(value)}")
    result = float(value)
    if minimum is not None and (result < minimum or (exclusive_minimum and result == minimum)):
        raise GuardrailConfigError(f"{name} must be {allowed}; got {_shown(value)}")
    if maximum is not None and result > maximum:
        raise GuardrailConfigError(f"{name} must be {allowed}; got {_shown(value)}")
    return result


@overload
def whole_number(
    name: str,
    value: Any,
    *,
    minimum: int = ...,
    maximum: int | None = ...,
    optional: Literal[False] = ...,
) -> int: ...


@overload
def whole_number(
    name: str,
    value: Any,
    *,
    minimum: int = ...,
    maximum: int | None = ...,
    optional: Literal[True],
) -> int | None: ...


def whole_number(
    name: str,
    value: Any,
    *,
    minimum: int = 0,
    maximum: int | None = None,
    optional: bool = False,
) -> int | None:
    """An ``int`` (not bool, not ``3.0``, not ``"3"``) within ``[minimum, maximum]``.

    Returns the int, or ``None`` when ``optional`` and ``value is None``.

    Example::

        whole_number("max_retries", 2)                             # 2
        whole_number("thread_limit", None, optional=True)          # None
        whole_number("failure_threshold", 0, minimum=1)            # GuardrailConfigError
    """
    if value is None and optional:
        return None
    high = f" and <= {maximum}" if maximum is not None else ""
    allowed = f">= {minimum}{high} (a whole number" + (" or None)" if optional else ")")
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or int(value) < minimum
        or (maximum is not None and int(value) > maximum)
    ):
        raise GuardrailConfigError(f"{name} must be {allowed}; got {_shown(value)}")
    return int(value)


@overload
def positive_int(name: str, value: Any, *, optional: Literal[False] = ...) -> int: ...


@overload
def positive_int(name: str, value: Any, *, optional: Literal[True]) -> int | None: ...


def positive_int(name: str, value: Any, *, optional: bool = False) -> int | None:
    """A whole number >= 1 (see :func:`whole_number`).

    Example::

        positive_int("failure_threshold", 3)  # 3
    """
    if value is None and optional:
        return None
    return whole_number(name, value, minimum=1)


def middleware_name(value: Any, default: str) -> str:
    """The ``name=`` of a guardrail: ``default`` for None, else a non-blank string (it keys
    the guardrail's state, audit events and LangChain's graph nodes), else refused.

    Example::

        middleware_name(None, "PIIMiddleware[email]")  # "PIIMiddleware[email]"
    """
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise GuardrailConfigError(f"name must be a non-empty string or None; got {_shown(value)}")
    return value


def one_of(name: str, value: Any, allowed: Sequence[T]) -> T:
    """``value`` if it is one of ``allowed`` (compared by equality, same type), else refused.

    Example::

        one_of("on_limit", "wait", ("error", "wait", "end"))  # "wait"
    """
    for candidate in allowed:
        if type(value) is type(candidate) and value == candidate:
            return candidate
    choices = ", ".join(repr(a) for a in allowed)
    raise GuardrailConfigError(f"{name} must be one of {choices}; got {_shown(value)}")


@overload
def tool_names(
    name: str, value: Any, *, optional: Literal[False] = ..., allow_empty: bool = ...
) -> tuple[str, ...]: ...


@overload
def tool_names(
    name: str, value: Any, *, optional: Literal[True], allow_empty: bool = ...
) -> tuple[str, ...] | None: ...


def tool_names(
    name: str,
    value: Any,
    *,
    optional: bool = False,
    allow_empty: bool = True,
) -> tuple[str, ...] | None:
    """A list (tuple, set) of tool names or tools (objects with a ``name``), as names.

    A bare string is refused (``tools="work"`` would be read letter by letter); so are empty
    names and items that are neither strings nor tools. ``optional=True`` lets ``None`` through
    (meaning "every tool"); ``allow_empty=False`` refuses ``[]``.

    Example::

        tool_names("tools", ["search", fetch_tool])  # ("search", "fetch_url")
        tool_names("tools", "search")                 # GuardrailConfigError
    """
    if value is None and optional:
        return None
    allowed = ("a list" if allow_empty else "a non-empty list") + " of tool names or tools"
    allowed += " or None (every tool)" if optional else ""
    if isinstance(value, (str, bytes)):
        raise GuardrailConfigError(
            f"{name} must be {allowed}, not a bare string: write [{value!r}] for one tool; "
            f"got {_shown(value)}"
        )
    if isinstance(value, dict) or not isinstance(value, Iterable):
        raise GuardrailConfigError(f"{name} must be {allowed}; got {_shown(value)}")
    names: list[str] = []
    for item in value:
        label = item if isinstance(item, str) else getattr(item, "name", None)
        if not isinstance(label, str) or not label:
            raise GuardrailConfigError(
                f"{name} must be {allowed} (non-empty names); item {_shown(item)} is neither"
            )
        names.append(label)
    if not names and not allow_empty:
        raise GuardrailConfigError(f"{name} must be {allowed}; got {_shown(value)}")
    return tuple(dict.fromkeys(names))
