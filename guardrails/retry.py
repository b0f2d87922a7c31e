"""Retry model calls and tool calls with exponential backoff, honouring ``Retry-After``.

Drop-in for LangChain's ``ModelRetryMiddleware`` / ``ToolRetryMiddleware`` (same parameters,
defaults and failure messages), built on tenacity's strategy objects (``wait_exponential``,
``stop_after_attempt``, ``stop_before_delay``) driven by one flow shared by the sync and async
hooks. What ours adds:

* ``retry_on`` defaults to :func:`default_retry_on`: what LangChain's default retries, except
  what :func:`guardrails.errors.classify` knows is permanent (400, 401, 403, 404, 422 and other
  non-retryable statuses, context-length errors, ``GuardrailError``, LangGraph interrupts).
* ``respect_retry_after``: a ``Retry-After`` / ``retry-after-ms`` from the server is the minimum
  wait. When the server asks for more than ``max_delay``, we stop retrying instead of knocking
  early (a shorter wait would only earn another 429).
* ``max_elapsed``: a budget for the whole call; no sleep starts that would cross it.
* One audit event per decision: ``retry.attempt`` and ``retry.exhausted``.
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain.agents.middleware import ModelResponse
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp
from tenacity import RetryCallState, stop_after_attempt, stop_before_delay, wait_exponential
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_fixed

from guardrails import _validate as v
from guardrails._core import Call, Flow, Guardrail, Sleep
from guardrails.errors import GuardrailConfigError, GuardrailError, classify

__all__ = [
    "ModelRetryMiddleware",
    "ProviderRetriesWarning",
    "ToolRetryMiddleware",
    "default_retry_on",
    "provider_retries",
]


class ProviderRetriesWarning(UserWarning):
    """The chat model's own client retries failed calls under :class:`ModelRetryMiddleware`."""


def provider_retries(model: Any) -> int:
    """How many times ``model``'s own client retries a failed request (0 when it does not, or
    when it does not say).

    ``ChatOpenAI`` and ``ChatAnthropic`` retry twice by default (the OpenAI and Anthropic SDKs'
    ``max_retries=2``), ``ChatGoogleGenerativeAI`` six times. A ``max_retries=None`` on the chat
    model means the SDK's default, read from its client.

    Example::

        provider_retries(ChatOpenAI(model="gpt-5"))                 # 2
        provider_retries(ChatOpenAI(model="gpt-5", max_retries=0))  # 0
    """
    for _ in range(4):  # a RunnableBinding (bind_tools) holds the model in .bound
        inner = getattr(model, "bound", None)
        if inner is None or inner is model:
            break
        model = inner
    found = 0
    value = getattr(model, "max_retries", None)
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    for attr in ("root_client", "root_async_client", "client", "_client"):
        try:
            client = getattr(model, attr, None)
        except Exception:  # a property that needs credentials
            continue
        value = getattr(client, "max_retries", None)
        if isinstance(value, int) and not isinstance(value, bool):
            found = max(found, value)
    return found


_PROVIDER_CHECKED: set[tuple[int, str, str]] = set()

RetryOn = tuple[type[Exception], ...] | Callable[[Exception], bool]
OnFailure = Literal["error", "continue"] | Callable[[Exception], str]


def default_retry_on(exc: BaseException) -> bool:
    """LangChain's default, minus what is known to be permanent.

    LangChain's ``default_retry_on`` retries every ``Exception`` except a langchain-core
    ``ModelError`` whose ``is_retryable`` is false. Ours retries the same set, except what
    :func:`guardrails.errors.classify` knows cannot succeed on a second try: an HTTP status that
    is not retryable (400, 401, 403, 404, 422, ... or ``x-should-retry: false``), a context-length
    error, our own :class:`~guardrails.errors.GuardrailError` decisions and LangGraph interrupts
    (``GraphBubbleUp``). So a migration is silent (a ``ValueError`` from a provider SDK is still
    retried) and a 4xx is never amplified.
    """
    if not isinstance(exc, Exception) or isinstance(exc, (GuardrailError, GraphBubbleUp)):
        return False
    info = classify(exc)
    if info.retryable:
        return True
    if info.kind in ("status", "context_length"):
        return False
    flag = getattr(type(exc), "is_retryable", None)
    if isinstance(flag, bool) and any(c.__name__ == "ModelError" for c in type(exc).__mro__):
        return flag
    return True


default_model_retry_on = default_retry_on
"""The default ``retry_on`` of :class:`ModelRetryMiddleware` (see :func:`default_retry_on`)."""
default_tool_retry_on = default_retry_on
"""The default ``retry_on`` of :class:`ToolRetryMiddleware` (see :func:`default_retry_on`)."""


class _RelativeJitter(wait_base):
    """±25% jitter around another wait strategy (LangChain's jitter)."""

    def __init__(self, inner: wait_base, rng: random.Random | None = None) -> None:
        self.inner = inner
        self.rng = rng or random.Random()

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = float(self.inner(retry_state))
        if delay <= 0:
            return delay
        return max(0.0, delay + self.rng.uniform(-0.25 * delay, 0.25 * delay))


class _Retrying:
    """The retry policy shared by both middleware: validation, strategies and the flow."""

    def __init__(
        self,
        *,
        max_retries: int,
        retry_on: RetryOn,
        on_failure: OnFailure,
        backoff_factor: float,
        initial_delay: float,
        max_delay: float,
        jitter: bool,
        respect_retry_after: bool,
        max_elapsed: float | None,
    ) -> None:
        max_retries = v.whole_number("max_retries", max_retries)
        initial_delay = v.number("initial_delay", initial_delay)
        max_delay = v.number("max_delay", max_delay)
        backoff_factor = v.number("backoff_factor", backoff_factor)
        max_elapsed = v.number("max_elapsed", max_elapsed, optional=True, exclusive_minimum=True)
        jitter = v.strict_bool("jitter", jitter)
        respect_retry_after = v.strict_bool("respect_retry_after", respect_retry_after)
        legacy: Any = on_failure
        # the caller's line: _Retrying.__init__ <- _configure <- the middleware's __init__ <-
        # the metaclass's __call__ <- the user (DeprecationWarning is shown where it is raised
        # from the user's own code, hidden when attributed to this package)
        if legacy == "raise":  # LangChain's deprecated spellings
            warnings.warn(
                "on_failure='raise' is deprecated; use on_failure='error'",
                DeprecationWarning,
                stacklevel=5,
            )
            on_failure = "error"
        elif legacy == "return_message":
            warnings.warn(
                "on_failure='return_message' is deprecated; use on_failure='continue'",
                DeprecationWarning,
                stacklevel=5,
            )
            on_failure = "continue"
        if not (callable(on_failure) or on_failure in ("continue", "error")):
            raise GuardrailConfigError(
                f"on_failure must be 'continue', 'error' or a callable(exception) -> str, "
                f"got {on_failure!r}"
            )
        if callable(on_failure):
            v.sync_callable("on_failure", on_failure, returns="a str")
        if callable(retry_on):
            v.sync_callable("retry_on", retry_on, returns="a bool")
        if not callable(retry_on) and not (
            isinstance(retry_on, tuple)
            and all(isinstance(t, type) and issubclass(t, BaseException) for t in retry_on)
        ):
            raise GuardrailConfigError(
                "retry_on must be a tuple of exception types or a callable(exception) -> bool, "
                f"got {retry_on!r}"
            )
        self.max_retries = max_retries
        self.retry_on = retry_on
        self.on_failure = on_failure
        self.backoff_factor = backoff_factor
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.respect_retry_after = respect_retry_after
        self.max_elapsed = max_elapsed
        base: wait_base = (
            wait_fixed(min(initial_delay, max_delay))
            if backoff_factor == 0
            else wait_exponential(
                multiplier=initial_delay, exp_base=backoff_factor, min=0, max=max_delay
            )
        )
        self.wait: wait_base = _RelativeJitter(base) if jitter else base
        self.stop: stop_base = stop_after_attempt(max_retries + 1)
        if max_elapsed is not None:
            self.stop = self.stop | stop_before_delay(max_elapsed)
        self.clock: Callable[[], float] = time.monotonic

    def should_retry(self, exc: Exception) -> bool:
        if callable(self.retry_on):
            verdict = self.retry_on(exc)
            if isinstance(verdict, bool):
                return verdict
            v.not_awaitable("retry_on", verdict)
            return bool(verdict)
        return isinstance(exc, self.retry_on)

    def flow(self, request: Any, guardrail: Guardrail, target: dict[str, Any]) -> Flow[Any]:
        """Call until success; returns the result, or ``(exception, attempts)`` when giving up.

        Exceptions ``retry_on`` rejects propagate at once.
        """
        start = self.clock()
        deadline = None if self.max_elapsed is None else start + self.max_elapsed
        state: RetryCallState | None = None  # built on the first failure: the success path is free
        while True:
            # async: an attempt still running at the deadline is cancelled (TimeoutError)
            timeout = None if deadline is None else max(deadline - self.clock(), 0.0)
            try:
                return (yield Call(request, timeout=timeout))
            except GraphBubbleUp:
                raise
            except Exception as exc:
                past_deadline = deadline is not None and self.clock() >= deadline
                if not (past_deadline and isinstance(exc, TimeoutError)) and not (
                    self.should_retry(exc)
                ):
                    raise
                if state is None:
                    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
                    state.start_time = start
                info = classify(exc)
                state.outcome_timestamp = self.clock()
                delay = float(self.wait(state))
                reason = None
                if self.respect_retry_after and info.retry_after is not None:
                    if info.retry_after > self.max_delay:
                        reason = "retry_after_exceeds_max_delay"
                    delay = max(delay, info.retry_after)
                state.upcoming_sleep = delay
                if reason is None and self.stop(state):
                    reason = (
                        "max_retries" if state.attempt_number > self.max_retries else "max_elapsed"
                    )
                if reason is not None:
                    guardrail.audit(
                        "retry.exhausted",
                        runtime=getattr(request, "runtime", None),
                        attempts=state.attempt_number,
                        error=info.error_type,
                        status=info.status,
                        reason=reason,
                        retry_after_s=info.retry_after,
                        decision="error" if self.on_failure == "error" else "continue",
                        **target,
                    )
                    return _GaveUp(exc, state.attempt_number)
                guardrail.audit(
                    "retry.attempt",
                    runtime=getattr(request, "runtime", None),
                    attempt=state.attempt_number,
                    delay_s=round(delay, 3),
                    error=info.error_type,
                    status=info.status,
                    retry_after_s=info.retry_after,
                    **target,
                )
                yield Sleep(delay)
                state.idle_for += delay
                state.attempt_number += 1

    def failure_text(self, exc: Exception, default: str) -> str:
        if self.on_failure == "error":
            raise exc
        if callable(self.on_failure):
            return str(self.on_failure(exc))
        return default


def _configure(middleware: Any, **settings: Any) -> None:
    """Validate the settings once and store them, LangChain-style, as public attributes."""
    middleware._retrying = _Retrying(**settings)
    for name, value in settings.items():
        setattr(middleware, name, value)
    middleware.on_failure = middleware._retrying.on_failure  # deprecated spellings normalized
    middleware.tools = []


class _GaveUp:
    __slots__ = ("attempts", "exc")

    def __init__(self, exc: Exception, attempts: int) -> None:
        self.exc = exc
        self.attempts = attempts


def _attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


class ModelRetryMiddleware(
    Guardrail,
    kind="model_retry",
    hooks=("model",),
    events=("retry.attempt", "retry.exhausted", "retry.provider_retries"),
):
    """Retry failed model calls with exponential backoff; drop-in for LangChain's.

    ``on_failure``: ``"continue"`` (default) answers with an ``AIMessage`` describing the failure,
    ``"error"`` re-raises, a callable(exc) -> str gives the message. ``max_elapsed`` bounds the
    whole call in seconds; ``respect_retry_after`` waits at least what the server asked.

    Example::

        agent = create_agent("openai:gpt-5", tools=tools, middleware=[
            ModelRetryMiddleware(max_retries=3, backoff_factor=2.0, initial_delay=1.0,
                                 max_elapsed=30.0),
        ])
    """

    _retrying: _Retrying

    def __init__(
        self,
        *,
        max_retries: int = 2,
        retry_on: RetryOn = default_model_retry_on,
        on_failure: OnFailure = "continue",
        backoff_factor: float = 2.0,
        initial_delay: float = 1.0,
        max_delay: float = 60.0,
        jitter: bool = True,
        respect_retry_after: bool = True,
        max_elapsed: float | None = None,
    ) -> None:
        super().__init__()
        _configure(
            self,
            max_retries=max_retries,
            retry_on=retry_on,
            on_failure=on_failure,
            backoff_factor=backoff_factor,
            initial_delay=initial_delay,
            max_delay=max_delay,
            jitter=jitter,
            respect_retry_after=respect_retry_after,
            max_elapsed=max_elapsed,
        )

    def model_flow(self, request: Any) -> Flow[Any]:
        model = getattr(request.model, "model_name", None) or type(request.model).__name__
        # by value: a per-call copy of the model (a guard another guardrail put on it) is the
        # same model
        key = (id(self), str(model), type(request.model).__name__)
        if key not in _PROVIDER_CHECKED:
            self._check_provider_retries(request, str(model), key)
        result = yield from self._retrying.flow(request, self, {"model": str(model)})
        if not isinstance(result, _GaveUp):
            return result
        exc = result.exc
        text = self._retrying.failure_text(
            exc,
            f"Model call failed after {_attempts(result.attempts)} with "
            f"{type(exc).__name__}: {exc}",
        )
        return ModelResponse(result=[AIMessage(content=text)])

    def _check_provider_retries(self, request: Any, model: str, key: tuple[int, str, str]) -> None:
        """Once per model: warn and audit when the model's client retries on its own."""
        if len(_PROVIDER_CHECKED) >= 4096:
            _PROVIDER_CHECKED.clear()
        _PROVIDER_CHECKED.add(key)
        inner = provider_retries(request.model)
        if inner <= 0:
            return
        ours = self._retrying.max_retries + 1
        total = ours * (inner + 1)
        cls = type(request.model).__name__
        self.audit(
            "retry.provider_retries",
            runtime=getattr(request, "runtime", None),
            level=logging.WARNING,
            model=model,
            provider_retries=inner,
            attempts=ours,
            max_requests=total,
            decision="warn",
        )
        warnings.warn(
            f"{cls} retries failed calls itself (max_retries={inner}) before "
            f"{type(self).__name__} sees them: up to {total} HTTP requests per model call instead "
            f"of {ours}, and the audit counts {ours}. Build the model with max_retries=0, e.g. "
            f"init_chat_model('provider:model', max_retries=0) or {cls}(..., max_retries=0) "
            "(docs/retry.md: 'The provider's own retries')",
            ProviderRetriesWarning,
            stacklevel=2,
        )


class ToolRetryMiddleware(
    Guardrail, kind="tool_retry", hooks=("tool",), events=("retry.attempt", "retry.exhausted")
):
    """Retry failed tool calls with exponential backoff; drop-in for LangChain's.

    ``tools`` limits retries to some tools (names or ``BaseTool``s). On exhaustion with
    ``on_failure="continue"`` the agent gets an error ``ToolMessage`` for that call and goes on.

    Example::

        ToolRetryMiddleware(max_retries=2, tools=["search", "fetch_url"],
                            retry_on=(TimeoutError, ConnectionError))
    """

    _retrying: _Retrying

    def __init__(
        self,
        *,
        max_retries: int = 2,
        tools: Sequence[BaseTool | str] | None = None,
        retry_on: RetryOn = default_tool_retry_on,
        on_failure: OnFailure = "continue",
        backoff_factor: float = 2.0,
        initial_delay: float = 1.0,
        max_delay: float = 60.0,
        jitter: bool = True,
        respect_retry_after: bool = True,
        max_elapsed: float | None = None,
    ) -> None:
        super().__init__()
        _configure(
            self,
            max_retries=max_retries,
            retry_on=retry_on,
            on_failure=on_failure,
            backoff_factor=backoff_factor,
            initial_delay=initial_delay,
            max_delay=max_delay,
            jitter=jitter,
            respect_retry_after=respect_retry_after,
            max_elapsed=max_elapsed,
        )
        names = v.tool_names("tools", tools, optional=True)
        self._tool_filter: frozenset[str] | None = None if names is None else frozenset(names)

    def tool_flow(self, request: Any) -> Flow[Any]:
        name = request.tool.name if request.tool else request.tool_call["name"]
        if self._tool_filter is not None and name not in self._tool_filter:
            return (yield Call(request))
        result = yield from self._retrying.flow(request, self, {"tool": name})
        if not isinstance(result, _GaveUp):
            return result
        exc = result.exc
        text = self._retrying.failure_text(
            exc,
            f"Tool '{name}' failed after {_attempts(result.attempts)} with "
            f"{type(exc).__name__}: {exc}. Please try again.",
        )
        return ToolMessage(
            content=text, tool_call_id=request.tool_call["id"], name=name, status="error"
        )
