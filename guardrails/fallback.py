"""Fall back to other models when one fails, with a circuit breaker per model.

Drop-in for LangChain's ``ModelFallbackMiddleware(first_model, *additional_models)``: the agent's
own model is tried first, then ``first_model``, then the others, each with the same request (bound
tools, tool choice and structured output survive the switch). What ours adds:

* A circuit breaker per model: after ``failure_threshold`` consecutive failures a model is skipped
  for ``cooldown`` seconds, then one probe call is let through (half-open): success closes the
  circuit, failure opens it again. ``failure_threshold=None`` turns the breaker off.
* ``storage="redis://host:port"`` shares breaker state between processes (redis-py, atomic
  ``INCR`` / ``SET NX PX``); ``memory://`` keeps it in this process.
* A guardrail's own decision (``GuardrailError``: a PII block, a limit) is never "fallen back"
  around: it propagates at once. LangGraph interrupts propagate too.
* Model strings ("provider:model") are checked at construction and built on first use, so a
  policy can be validated without API keys.
* Audit events: ``fallback.switched``, ``fallback.circuit_open``, ``fallback.circuit_closed``,
  ``fallback.exhausted``.

Example::

    agent = create_agent("openai:gpt-5", tools=tools, middleware=[
        ModelFallbackMiddleware("anthropic:claude-sonnet-4-5", failure_threshold=3, cooldown=30),
    ])
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.errors import GraphBubbleUp

from guardrails import _validate as v
from guardrails._adapters.langchain import parse_model, sanitize_request_for_fallback
from guardrails._core import IO, Call, Flow, Guardrail
from guardrails.audit import emit
from guardrails.errors import GuardrailConfigError, GuardrailError, classify

__all__ = ["ModelFallbackMiddleware"]


def _model_key(model: Any) -> str:
    name = (
        getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
    )
    provider = getattr(model, "_llm_type", None) or type(model).__name__
    return f"{provider}:{name}"


def _sanitize(request: Any, model: Any) -> Any:
    return sanitize_request_for_fallback(request, model)


class _MemoryBreaker:
    """Breaker state in this process. ``allow`` -> "closed" | "probe" | "open"."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}
        self._probing: dict[str, float] = {}
        self.clock: Callable[[], float] = time.monotonic

    def _io(self, fn: Callable[[], Any]) -> IO:
        async def run() -> Any:
            return fn()

        return IO(fn, run)

    def healthy(self, key: str) -> bool:
        """No failure on record for ``key`` (a dict lookup; safe without the lock)."""
        return key not in self._failures

    def allow(self, key: str, threshold: int, cooldown: float) -> IO:
        def op() -> str:
            with self._lock:
                now = self.clock()
                if self._failures.get(key, 0) < threshold:
                    return "closed"
                if now < self._open_until.get(key, 0.0):
                    return "open"
                if now < self._probing.get(key, 0.0):
                    return "open"  # another caller is probing
                self._probing[key] = now + max(cooldown, 1.0)
                return "probe"

        return self._io(op)

    def success(self, key: str, threshold: int) -> IO:
        def op() -> bool:
            with self._lock:
                was_open = self._failures.get(key, 0) >= threshold
                self._failures.pop(key, None)
                self._open_until.pop(key, None)
                self._probing.pop(key, None)
                return was_open

        return self._io(op)

    def failure(self, key: str, threshold: int, cooldown: float) -> IO:
        def op() -> int:
            with self._lock:
                count = self._failures.get(key, 0) + 1
                self._failures[key] = count
                self._probing.pop(key, None)
                if count >= threshold:
                    self._open_until[key] = self.clock() + cooldown
                return count

        return self._io(op)


class _RedisBreaker:
    """Breaker state in Redis, shared by every process using the same URL."""

    def __init__(self, url: str) -> None:
        try:
            import redis
            import redis.asyncio as aredis
        except ImportError as exc:  # pragma: no cover - the redis extra
            raise GuardrailConfigError(
                "storage='redis://...' needs the redis client: pip install "
                "'guardrails-middleware[redis]'"
            ) from exc
        self._sync: Any = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._url = url
        self._aredis = aredis
        self._async: Any = None

    def _aclient(self) -> Any:
        if self._async is None:
            self._async = self._aredis.Redis.from_url(
                self._url, socket_connect_timeout=2, socket_timeout=2
            )
        return self._async

    @staticmethod
    def _keys(key: str) -> tuple[str, str, str]:
        base = f"guardrails:breaker:{key}"
        return f"{base}:failures", f"{base}:open", f"{base}:probe"

    def allow(self, key: str, threshold: int, cooldown: float) -> IO:
        failures, open_, probe = self._keys(key)
        probe_ms = int(max(cooldown, 1.0) * 1000)

        def decide(count: Any, is_open: Any) -> str | None:
            if int(count or 0) < threshold:
                return "closed"
            if is_open:
                return "open"
            return None

        def sync() -> str:
            count, is_open = self._sync.mget(failures, open_)
            verdict = decide(count, is_open)
            if verdict is not None:
                return verdict
            return "probe" if self._sync.set(probe, 1, nx=True, px=probe_ms) else "open"

        async def async_() -> str:
            client = self._aclient()
            count, is_open = await client.mget(failures, open_)
            verdict = decide(count, is_open)
            if verdict is not None:
                return verdict
            return "probe" if await client.set(probe, 1, nx=True, px=probe_ms) else "open"

        return IO(sync, async_)

    def success(self, key: str, threshold: int) -> IO:
        failures, open_, probe = self._keys(key)

        def sync() -> bool:
            count = self._sync.getdel(failures)
            self._sync.delete(open_, probe)
            return int(count or 0) >= threshold

        async def async_() -> bool:
            client = self._aclient()
            count = await client.getdel(failures)
            await client.delete(open_, probe)
            return int(count or 0) >= threshold

        return IO(sync, async_)

    def failure(self, key: str, threshold: int, cooldown: float) -> IO:
        failures, open_, probe = self._keys(key)
        ms = int(cooldown * 1000)

        def sync() -> int:
            count = int(self._sync.incr(failures))
            self._sync.delete(probe)
            if count >= threshold and ms > 0:
                self._sync.set(open_, 1, px=ms)
            return count

        async def async_() -> int:
            client = self._aclient()
            count = int(await client.incr(failures))
            await client.delete(probe)
            if count >= threshold and ms > 0:
                await client.set(open_, 1, px=ms)
            return count

        return IO(sync, async_)


class ModelFallbackMiddleware(
    Guardrail,
    kind="model_fallback",
    hooks=("model",),
    events=(
        "fallback.switched",
        "fallback.circuit_open",
        "fallback.circuit_closed",
        "fallback.exhausted",
    ),
):
    """Try other models when the current one fails, skipping models whose circuit is open.

    ``first_model`` is the first *fallback* (the agent's own model is tried before it), as in
    LangChain. Models are ``"provider:model"`` strings or chat model instances.

    Example::

        ModelFallbackMiddleware("openai:gpt-5-mini", "anthropic:claude-haiku-4-5",
                                failure_threshold=3, cooldown=30.0,
                                storage="redis://127.0.0.1:6379")
    """

    def __init__(
        self,
        first_model: str | BaseChatModel,
        *additional_models: str | BaseChatModel,
        failure_threshold: int | None = 3,
        cooldown: float = 30.0,
        storage: str = "memory://",
    ) -> None:
        super().__init__()
        self._specs: list[str | BaseChatModel] = []
        for position, model in enumerate((first_model, *additional_models)):
            if isinstance(model, str):
                try:
                    parse_model(model)
                except ValueError as exc:
                    raise GuardrailConfigError(
                        f"model #{position + 1} {model!r} is not a 'provider:model' string "
                        f"LangChain can resolve: {str(exc).splitlines()[0]}"
                    ) from exc
            elif not isinstance(model, BaseChatModel):
                raise GuardrailConfigError(
                    f"models must be 'provider:model' strings or chat model instances, "
                    f"got {type(model).__name__}"
                )
            self._specs.append(model)
        failure_threshold = v.positive_int("failure_threshold", failure_threshold, optional=True)
        cooldown = v.number("cooldown", cooldown)
        scheme = storage.split("://", 1)[0] if isinstance(storage, str) else None
        if scheme == "memory" and storage == "memory://":
            self._breaker: _MemoryBreaker | _RedisBreaker = _MemoryBreaker()
        elif scheme in ("redis", "rediss", "unix"):
            self._breaker = _RedisBreaker(storage)
        else:
            raise GuardrailConfigError(
                f"storage must be 'memory://' or a 'redis://host:port' URL, got {storage!r}"
            )
        self.failure_threshold = failure_threshold
        self.cooldown = float(cooldown)
        self.storage = storage
        self._models: dict[int, BaseChatModel] = {}
        self._lock = threading.Lock()

    @property
    def models(self) -> list[BaseChatModel]:
        """The fallback models, built on first use from their strings."""
        return [self._model(i) for i in range(len(self._specs))]

    def _model(self, index: int) -> BaseChatModel:
        spec = self._specs[index]
        if isinstance(spec, BaseChatModel):
            return spec
        with self._lock:
            if index not in self._models:
                from langchain.chat_models import init_chat_model

                self._models[index] = init_chat_model(spec)
            return self._models[index]

    def model_flow(self, request: Any) -> Flow[Any]:
        threshold, cooldown = self.failure_threshold, self.cooldown
        breaker = self._breaker
        if threshold is None or (
            isinstance(breaker, _MemoryBreaker) and breaker.healthy(_model_key(request.model))
        ):  # fast path: nothing known against the primary, no I/O to do
            try:
                return (yield Call(request))
            except (GraphBubbleUp, GuardrailError):
                raise
            except Exception as exc:
                primary_error: Exception | None = exc  # recorded below, not called again
        else:
            primary_error = None
        candidates: list[Callable[[], Any]] = [lambda: request.model]
        candidates += [functools.partial(self._model, i) for i in range(len(self._specs))]
        last_exc: Exception | None = None
        previous: str | None = None
        reason: str | None = None
        status: int | None = None
        tried: list[str] = []
        for index, get_model in enumerate(candidates):
            try:
                model = get_model()
            except Exception as exc:  # building a fallback model failed (e.g. no API key)
                last_exc = exc
                continue
            key = _model_key(model)
            if threshold is not None:
                verdict = yield self._breaker.allow(key, threshold, cooldown)
                if verdict == "open":
                    previous = previous or key
                    reason, status = reason or "circuit_open", status
                    continue
            target = request if index == 0 else _sanitize(request, model).override(model=model)
            if previous is not None:
                emit(
                    "fallback.switched",
                    self.name,
                    runtime=request.runtime,
                    from_model=previous,
                    to_model=key,
                    reason=reason,
                    status=status,
                )
            tried.append(key)
            try:
                if index == 0 and primary_error is not None:
                    raise primary_error
                response = yield Call(target)
            except (GraphBubbleUp, GuardrailError):
                raise
            except Exception as exc:
                last_exc = exc
                info = classify(exc)
                previous, reason, status = key, info.error_type, info.status
                if threshold is not None:
                    count = yield self._breaker.failure(key, threshold, cooldown)
                    if count >= threshold:
                        emit(
                            "fallback.circuit_open",
                            self.name,
                            runtime=request.runtime,
                            model=key,
                            failures=int(count),
                            cooldown_s=cooldown,
                        )
                continue
            if threshold is not None:
                was_open = yield self._breaker.success(key, threshold)
                if was_open:
                    emit("fallback.circuit_closed", self.name, runtime=request.runtime, model=key)
            return response
        emit(
            "fallback.exhausted",
            self.name,
            runtime=request.runtime,
            tried=tried,
            error=type(last_exc).__name__ if last_exc else None,
            skipped=len(candidates) - len(tried),
        )
        if last_exc is not None:
            raise last_exc
        raise GuardrailError(
            f"{self.name}: every model's circuit is open (cooldown {cooldown:.0f} s); "
            "no model was called"
        )
