"""Exception types of the pack, and the classification of model-provider errors.

:func:`classify` answers, for any exception a chat model can raise (openai, anthropic, httpx,
httpx2, langchain-core ``ModelError``): may a retry succeed, what HTTP status came back, and how
long the server asked us to wait (``Retry-After`` / ``retry-after-ms``).

Example::

    from guardrails.errors import classify

    try:
        model.invoke("hi")
    except Exception as exc:
        info = classify(exc)
        if info.retryable:
            time.sleep(info.retry_after or 1.0)
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ErrorInfo",
    "GuardrailConfigError",
    "GuardrailError",
    "LimitExceededError",
    "ModelCallLimitExceededError",
    "PIIDetectionError",
    "PIIToolError",
    "PermissionDeniedError",
    "RateLimitExceededError",
    "RateLimitStorageError",
    "ToolCallLimitExceededError",
    "classify",
    "is_retryable",
    "parse_retry_after",
]


class GuardrailError(Exception):
    """Base class of every error a guardrail raises on purpose.

    Example::

        try:
            agent.invoke({"messages": [("user", "hi")]})
        except GuardrailError as exc:
            log.warning("stopped by a guardrail: %s", exc)
    """


class GuardrailConfigError(GuardrailError, ValueError):
    """A middleware was built with a setting it does not accept (also a ``ValueError``).

    Example::

        raise GuardrailConfigError("on_failure must be 'continue', 'error' or a callable")
    """


class LimitExceededError(GuardrailError):
    """A call or token limit was reached.

    Example::

        raise LimitExceededError("run limit 3 reached", limit=3, count=3, scope="run")
    """

    def __init__(
        self,
        message: str,
        *,
        limit: int | None = None,
        count: int | None = None,
        scope: str | None = None,
    ) -> None:
        Exception.__init__(
            self, message
        )  # not super(): LangChain's classes sit after us in the MRO
        self.limit = limit
        self.count = count
        self.scope = scope


try:  # LangChain's own classes, so `except` clauses written for the built-ins keep working
    from langchain.agents.middleware.model_call_limit import (
        ModelCallLimitExceededError as _LCModelCallLimitExceededError,
    )
    from langchain.agents.middleware.tool_call_limit import (
        ToolCallLimitExceededError as _LCToolCallLimitExceededError,
    )
except ImportError:  # pragma: no cover - older langchain
    _LCModelCallLimitExceededError = Exception  # type: ignore[assignment,misc]
    _LCToolCallLimitExceededError = Exception  # type: ignore[assignment,misc]


def _model_limit_text(
    thread_count: int, run_count: int, thread_limit: int | None, run_limit: int | None
) -> str:
    """LangChain's text for a model call limit (``count >= limit`` is exceeded)."""
    parts = []
    if thread_limit is not None and thread_count >= thread_limit:
        parts.append(f"thread limit ({thread_count}/{thread_limit})")
    if run_limit is not None and run_count >= run_limit:
        parts.append(f"run limit ({run_count}/{run_limit})")
    return f"Model call limits exceeded: {', '.join(parts)}"


def _tool_limit_text(
    thread_count: int,
    run_count: int,
    thread_limit: int | None,
    run_limit: int | None,
    tool_name: str | None,
) -> str:
    """LangChain's text for a tool call limit (``count > limit`` is exceeded)."""
    subject = f"'{tool_name}' tool" if tool_name else "Tool"
    parts = []
    if thread_limit is not None and thread_count > thread_limit:
        parts.append(f"thread limit exceeded ({thread_count}/{thread_limit} calls)")
    if run_limit is not None and run_count > run_limit:
        parts.append(f"run limit exceeded ({run_count}/{run_limit} calls)")
    return f"{subject} call limit reached: {' and '.join(parts)}."


def _which_limit(
    thread_count: int,
    run_count: int,
    thread_limit: int | None,
    run_limit: int | None,
    *,
    inclusive: bool,
) -> tuple[str | None, int | None, int | None]:
    """The scope, count and limit that were exceeded (the thread first, like LangChain's text)."""

    def over(count: int, limit: int | None) -> bool:
        return limit is not None and (count >= limit if inclusive else count > limit)

    if over(thread_count, thread_limit):
        return "thread", thread_count, thread_limit
    if over(run_count, run_limit):
        return "run", run_count, run_limit
    return None, None, None


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Unpickle a limit error with its constructor arguments (``pickle``, ``copy``)."""
    return cls(*args, **kwargs)


class ModelCallLimitExceededError(LimitExceededError, _LCModelCallLimitExceededError):
    """Model calls or tokens reached a run or thread limit (``exit_behavior="error"``).

    Also an instance of LangChain's ``ModelCallLimitExceededError``, built with the same
    arguments (``thread_count, run_count, thread_limit, run_limit``), with the same attributes
    and, by default, the same message. Our keyword-only extras say which limit tripped:
    ``scope`` (``"thread"`` / ``"run"``), ``count``, ``limit``, ``unit`` (``"calls"`` /
    ``"tokens"``); left out, they are derived from the counts like LangChain's message.

    Example::

        raise ModelCallLimitExceededError(2, 1, 2, None)  # LangChain's arguments
        except ModelCallLimitExceededError as exc:
            print(exc.scope, exc.count, exc.limit)  # "thread" 2 2
    """

    def __init__(
        self,
        thread_count: int,
        run_count: int,
        thread_limit: int | None,
        run_limit: int | None,
        *,
        message: str | None = None,
        scope: str | None = None,
        count: int | None = None,
        limit: int | None = None,
        unit: str = "calls",
    ) -> None:
        self.thread_count = thread_count
        self.run_count = run_count
        self.thread_limit = thread_limit
        self.run_limit = run_limit
        self.unit = unit
        if scope is None and count is None and limit is None:
            scope, count, limit = _which_limit(
                thread_count, run_count, thread_limit, run_limit, inclusive=True
            )
        if message is None:
            message = _model_limit_text(thread_count, run_count, thread_limit, run_limit)
        self._init_kwargs: dict[str, Any] = {
            "message": message,
            "scope": scope,
            "count": count,
            "limit": limit,
            "unit": unit,
        }
        LimitExceededError.__init__(self, message, limit=limit, count=count, scope=scope)

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.thread_count, self.run_count, self.thread_limit, self.run_limit)
        return (_rebuild, (type(self), args, self._init_kwargs), self.__dict__)


class ToolCallLimitExceededError(LimitExceededError, _LCToolCallLimitExceededError):
    """Tool calls reached a run or thread limit (``exit_behavior="error"``).

    Also an instance of LangChain's ``ToolCallLimitExceededError``, built with the same
    arguments (``thread_count, run_count, thread_limit, run_limit, tool_name=None``), with the
    same attributes and, by default, the same message. Our keyword-only extras: ``scope``,
    ``count``, ``limit`` (derived from the counts when left out).

    Example::

        raise ToolCallLimitExceededError(3, 1, 2, None, "search")  # LangChain's arguments
        except ToolCallLimitExceededError as exc:
            print(exc.tool_name, exc.scope, exc.count, exc.limit)  # search thread 3 2
    """

    def __init__(
        self,
        thread_count: int,
        run_count: int,
        thread_limit: int | None,
        run_limit: int | None,
        tool_name: str | None = None,
        *,
        message: str | None = None,
        scope: str | None = None,
        count: int | None = None,
        limit: int | None = None,
    ) -> None:
        self.thread_count = thread_count
        self.run_count = run_count
        self.thread_limit = thread_limit
        self.run_limit = run_limit
        self.tool_name = tool_name
        if scope is None and count is None and limit is None:
            scope, count, limit = _which_limit(
                thread_count, run_count, thread_limit, run_limit, inclusive=False
            )
        if message is None:
            message = _tool_limit_text(thread_count, run_count, thread_limit, run_limit, tool_name)
        self._init_kwargs: dict[str, Any] = {
            "message": message,
            "scope": scope,
            "count": count,
            "limit": limit,
        }
        LimitExceededError.__init__(self, message, limit=limit, count=count, scope=scope)

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.thread_count, self.run_count, self.thread_limit, self.run_limit)
        return (_rebuild, (type(self), (*args, self.tool_name), self._init_kwargs), self.__dict__)


class RateLimitExceededError(GuardrailError):
    """A time-window rate limit refused the call; ``reset_at`` is the epoch time it frees up.

    Example::

        except RateLimitExceededError as exc:
            time.sleep(max(0.0, exc.reset_at - time.time()))
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        reset_at: float | None = None,
        limit: str | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.reset_at = reset_at
        self.limit = limit


class RateLimitStorageError(GuardrailError):
    """The rate-limit storage could not be reached and the middleware fails closed.

    Example::

        except RateLimitStorageError:
            return "service busy, try again"
    """


try:
    from langchain.agents.middleware import (  # the public path
        PIIDetectionError as _LCPIIDetectionError,
    )
except ImportError:  # pragma: no cover - older langchain
    _LCPIIDetectionError = Exception  # type: ignore[assignment,misc]


class PIIDetectionError(GuardrailError, ValueError, _LCPIIDetectionError):
    """PII was found where the ``block`` strategy is configured. Carries types and counts only.

    Also an instance of LangChain's ``PIIDetectionError`` (``except`` clauses written for the
    built-in keep working), with its attributes ``pii_type`` and ``matches`` (empty: the values
    are withheld so they cannot reach a log through the exception).

    Example::

        except PIIDetectionError as exc:
            print(exc.pii_type, exc.counts)
    """

    def __init__(
        self,
        pii_type: str,
        matches: list[Any] | None = None,
        counts: Mapping[str, int] | None = None,
        where: str | None = None,
    ) -> None:
        self.pii_type = pii_type
        self.matches = matches or []
        self.counts = dict(counts or {pii_type: len(self.matches)})
        self.where = where
        detail = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        place = f" in {where}" if where else ""
        Exception.__init__(  # not super(): LangChain's class sits after us in the MRO
            self, f"Detected {pii_type} PII{place} ({detail}); blocked by PIIMiddleware"
        )


class PIIToolError(GuardrailError):
    """A tool's exception whose message carried values ``PIIMiddleware`` handles, when its own
    type cannot be rebuilt with the handled message (its ``__str__`` reads something else than
    its arguments and attributes). Raised as an instance of a class deriving from this one *and*
    the tool's exception type when Python allows it (``except ThatType`` keeps catching it); the
    original exception is not kept (it holds the raw values). ``error_type``: the original
    type's qualified name.

    Example::

        except PIIToolError as exc:
            log.warning("tool failed (%s): %s", exc.error_type, exc)
    """

    error_type: str = ""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PermissionDeniedError(GuardrailError, PermissionError):
    """A filesystem permission rule denied an operation.

    Example::

        raise PermissionDeniedError("read denied for /secrets/key")
    """


# --------------------------------------------------------------------------- classification

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "context window",
)
_TIMEOUT_NAMES = frozenset(
    {
        "TimeoutException",
        "ReadTimeout",
        "ConnectTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "APITimeoutError",
        "TimeoutError",
        "ModelTimeoutError",
        "RequestTimeoutError",
    }
)
_CONNECTION_NAMES = frozenset(
    {
        "ConnectError",
        "ReadError",
        "WriteError",
        "RemoteProtocolError",
        "NetworkError",
        "APIConnectionError",
        "ConnectionError",
        "ModelConnectionError",
        "ProtocolError",
        "LocalProtocolError",
        "ProxyError",
    }
)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What :func:`classify` found out about an exception.

    Example::

        info = classify(exc)
        info.retryable, info.status, info.retry_after, info.kind
    """

    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    kind: str = "other"  # timeout | connection | status | context_length | other
    error_type: str = ""


def _headers_of(exc: BaseException) -> Mapping[str, str] | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        headers = getattr(exc, "headers", None)
    if headers is None or not hasattr(headers, "get"):
        return None
    return headers  # type: ignore[no-any-return]


def _status_of(exc: BaseException) -> int | None:
    for candidate in (
        getattr(exc, "status_code", None),
        getattr(exc, "status", None),
        getattr(getattr(exc, "response", None), "status_code", None),
        getattr(exc, "http_status", None),
    ):
        if isinstance(candidate, int) and 100 <= candidate <= 599:
            return candidate
    return None


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or date).

    Example::

        parse_retry_after({"Retry-After": "2"})  # 2.0
    """
    if not headers:
        return None
    get = headers.get
    raw_ms = get("retry-after-ms") or get("Retry-After-Ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except (TypeError, ValueError):
            ms = -1.0
        if ms >= 0:
            return ms / 1000.0
    raw = get("retry-after") or get("Retry-After")
    if raw is None:
        return None
    raw = str(raw).strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if parsed is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, parsed.timestamp() - current)
    return seconds if seconds >= 0 else None


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _is_context_overflow(exc: BaseException, names: set[str]) -> bool:
    if "ContextOverflowError" in names:
        return True
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code == "context_length_exceeded":
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _CONTEXT_MARKERS)


def classify(exc: BaseException) -> ErrorInfo:
    """Classify a provider exception: retryable or not, HTTP status, requested delay.

    Retryable: timeouts, connection errors, HTTP 408, 409, 425, 429 and 5xx, and anything a
    langchain-core ``ModelError`` marks ``is_retryable``, unless the server said
    ``x-should-retry: false``. Never retryable: other 4xx (400, 401, 403, 404, 422, ...) and
    context-length errors. Works on the exception classes of openai, anthropic, httpx and httpx2
    by their names and attributes, so no SDK needs to be installed.

    Example::

        classify(openai.RateLimitError(...)).retryable  # True
    """
    names = _names(exc)
    status = _status_of(exc)
    headers = _headers_of(exc)
    retry_after = parse_retry_after(headers)
    error_type = type(exc).__name__

    if _is_context_overflow(exc, names) and (status is None or status < 500):
        return ErrorInfo(False, status, retry_after, "context_length", error_type)

    should_retry = headers.get("x-should-retry") if headers is not None else None

    if status is not None:
        retryable = status in _RETRYABLE_STATUS or status >= 500
        if should_retry == "false":
            retryable = False
        elif should_retry == "true":
            retryable = True
        return ErrorInfo(retryable, status, retry_after, "status", error_type)

    if names & _TIMEOUT_NAMES or isinstance(exc, TimeoutError):
        return ErrorInfo(True, None, retry_after, "timeout", error_type)
    if names & _CONNECTION_NAMES or isinstance(exc, ConnectionError):
        return ErrorInfo(True, None, retry_after, "connection", error_type)
    flag = getattr(type(exc), "is_retryable", None)
    if "ModelError" in names and isinstance(flag, bool):
        return ErrorInfo(flag, None, retry_after, "other", error_type)
    return ErrorInfo(False, None, retry_after, "other", error_type)


def is_retryable(exc: BaseException) -> bool:
    """``classify(exc).retryable``: the default ``retry_on`` of the retry middleware.

    Example::

        ModelRetryMiddleware(retry_on=is_retryable)
    """
    return classify(exc).retryable
