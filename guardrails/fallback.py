"""Fall back to other models when one fails, with a circuit breaker per model.

Drop-in for LangChain's ``ModelFallbackMiddleware(first_model, *additional_models)``: the agent's
own model is tried first, then ``first_model``, then the others, each with the same request (bound
tools, tool choice and structured output survive the switch). What ours adds:

* A circuit breaker per model: after ``failure_threshold`` consecutive failures a model is skipped
  for ``cooldown`` seconds, then one probe call is let through (half-open): success closes the
  circuit, failure opens it again. ``failure_threshold=None`` turns the breaker off.
* ``storage="redis://host:port"`` shares breaker state between processes (redis-py, atomic
  ``INCR`` / ``SET NX PX``); ``memory://`` keeps it in this process.
* ``fallback.circuit_open`` is emitted once per opening (threshold reached, probe failed), the
  same in memory and on Redis; failures of calls already in flight do not extend the cooldown.
  A storage outage latches the store (``storage_latch``): later calls skip its timeouts.
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
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.errors import GraphBubbleUp
from pydantic import BaseModel

from guardrails import _validate as v
from guardrails._adapters.langchain import (
    parse_model,
    provider_module,
    sanitize_request_for_fallback,
)
from guardrails._core import IO, Call, Flow, Guardrail, carry_guards
from guardrails._storage import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LATCH,
    DEFAULT_READ_TIMEOUT,
    Prefetch,
    RedisConnector,
    ScriptStep,
    StorageSpec,
    duration,
    milliseconds,
    parse_storage,
    prefetched,
    storage_errors,
)
from guardrails.errors import GuardrailConfigError, GuardrailError, classify

__all__ = ["ModelFallbackMiddleware"]


_ENDPOINT_ATTRS = (
    # base URL / endpoint
    "openai_api_base",
    "base_url",
    "azure_endpoint",
    "anthropic_api_url",
    "endpoint_url",
    "api_base",
    "endpoint",
    # deployment / region / project
    "deployment_name",
    "azure_deployment",
    "region_name",
    "region",
    "location",
    "project",
)


def missing_provider_package(position: int, model: str, provider: str) -> None:
    """Refuse a ``"provider:model"`` fallback whose provider package is not installed: found now,
    at construction (and by ``guardrails check``), not during the outage it was meant for."""
    import importlib.util

    module = provider_module(provider)
    if module is None:
        return
    top = module.split(".")[0]
    if importlib.util.find_spec(top) is None:
        package = top.replace("_", "-")
        raise GuardrailConfigError(
            f"model #{position + 1} {model!r} needs the provider package {package!r}, which is "
            f"not installed: pip install {package} (a fallback that cannot be built would only "
            "be noticed during an outage)"
        )


_MISSING = object()
_PYDANTIC_GETATTR = getattr(BaseModel, "__getattr__", None)
#: Per (model class, attribute): whether the class itself has the attribute (a property, a
#: class attribute); ``None`` when the class resolves missing attributes its own way.
_ON_CLASS: dict[tuple[type, str], bool | None] = {}


def _attr(model: Any, attr: str) -> Any:
    """``getattr(model, attr, None)``, without pydantic's ``__getattr__`` for an attribute a
    model does not have (it raises a formatted error: tens of microseconds, for each of the
    attributes :func:`_endpoint` tries on every model call). Same result: a pydantic model's
    fields are in its ``__dict__``, extras in ``__pydantic_extra__``, the rest on its class."""
    cls = type(model)
    on_class = _ON_CLASS.get((cls, attr), _MISSING)
    if on_class is _MISSING:
        own = _PYDANTIC_GETATTR is not None and getattr(cls, "__getattr__", None) is (
            _PYDANTIC_GETATTR
        )
        on_class = hasattr(cls, attr) if own else None
        if len(_ON_CLASS) < 4096:
            _ON_CLASS[(cls, attr)] = on_class
    if on_class is False:
        value = model.__dict__.get(attr, _MISSING)
        if value is not _MISSING:
            return value
        extra = model.__pydantic_extra__
        return extra.get(attr) if extra else None
    return getattr(model, attr, None)


def _endpoint(model: Any) -> str:
    """Where a chat model sends its requests: base URL, deployment, region (no credentials)."""
    parts: list[str] = []
    for attr in _ENDPOINT_ATTRS:
        try:
            value = _attr(model, attr)
        except Exception:  # a property that needs credentials
            value = None
        if value is None or callable(value):
            continue
        text = str(value).strip()
        if not text:
            continue
        if "://" in text:
            try:
                parsed = urllib.parse.urlsplit(text)
                host = parsed.hostname or ""
                port = f":{parsed.port}" if parsed.port else ""
                text = f"{parsed.scheme}://{host}{port}{parsed.path.rstrip('/')}"
            except ValueError:
                text = "<unparseable url>"
        if text not in parts:
            parts.append(text)
    return ",".join(parts)


def _model_key(model: Any) -> str:
    """The breaker's identity of a model: provider, model name and endpoint.

    Two models with the same name on two endpoints (two regions, a proxy, two Azure
    deployments) get two breakers.
    """
    name = (
        getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
    )
    provider = getattr(model, "_llm_type", None) or type(model).__name__
    endpoint = _endpoint(model)
    return f"{provider}:{name}@{endpoint}" if endpoint else f"{provider}:{name}"


def _sanitize(request: Any, model: Any) -> Any:
    return sanitize_request_for_fallback(request, model)


class _MemoryBreaker:
    """Breaker state in this process.

    ``allow`` -> ``"healthy"`` (no failure on record) | ``"closed"`` | ``"probe"`` | ``"open"``;
    ``failure`` -> ``(count, opened)``: ``opened`` is true on the transition to open only (the
    threshold reached, or the half-open probe failed); failures of calls that were already in
    flight when the circuit opened neither reopen it nor push its cooldown forward.
    """

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
                count = self._failures.get(key, 0)
                if count == 0:
                    return "healthy"
                if count < threshold:
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

    def failure(self, key: str, threshold: int, cooldown: float, probe: bool) -> IO:
        def op() -> tuple[int, bool]:
            with self._lock:
                before = self._failures.get(key, 0)
                count = before + 1
                self._failures[key] = count
                opened = probe or before < threshold <= count
                if opened:
                    self._open_until[key] = self.clock() + cooldown
                if probe:
                    self._probing.pop(key, None)
                return count, opened

        return self._io(op)


# Every script checks its arguments before its first write (an error leaves nothing behind).
# Integers only, within what Redis expiries and Lua doubles hold exactly (2^53).
ALLOW = ScriptStep(
    "allow",
    check="""
if int(ARGV, 1, 1) == nil or int(ARGV, 2, 1) == nil then
  return 'breaker: bad arguments'
end
""",
    run="""
local threshold, probe_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count == 0 then return 'healthy' end
if count < threshold then return 'closed' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'open' end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', probe_ms) then return 'probe' end
return 'open'
""",
)
SUCCESS = ScriptStep(
    "success",
    check="",
    run="""
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return count
""",
)
FAILURE = ScriptStep(
    "failure",
    check="""
local probe = int(ARGV, 4, 0)
if int(ARGV, 1, 1) == nil or int(ARGV, 2, 0) == nil or int(ARGV, 3, 1) == nil
    or probe == nil or probe > 1 then
  return 'breaker: bad arguments'
end
""",
    run="""
local threshold, cooldown_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local keep_ms, probe = tonumber(ARGV[3]), tonumber(ARGV[4])
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
local count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], keep_ms)
local opened = 0
if probe == 1 or (before < threshold and count >= threshold) then
  opened = 1
  if cooldown_ms > 0 then
    redis.call('SET', KEYS[2], '1', 'PX', cooldown_ms)
  else
    redis.call('DEL', KEYS[2])
  end
end
if probe == 1 then redis.call('DEL', KEYS[3]) end
return {count, opened}
""",
)
_ALLOW, _SUCCESS, _FAILURE = ALLOW.source, SUCCESS.source, FAILURE.source


def _verdict(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class _RedisBreaker:
    """Breaker state in Redis, shared by every process using the same storage.

    Each transition is one Lua script, so it is atomic: half-open lets exactly one probe through
    whatever the number of threads and processes, and exactly one caller learns that the circuit
    opened. Clients come from a :class:`~guardrails._storage.RedisConnector` (bounded timeouts,
    one async client per loop, the store's health latch).
    """

    def __init__(self, spec: StorageSpec) -> None:
        self._connector = RedisConnector.shared(spec)

    @staticmethod
    def _keys(key: str) -> list[str]:
        tag = key.replace("{", "(").replace("}", ")")
        base = f"guardrails:breaker:{{{tag}}}"  # one hash slot: scripts work on a cluster
        return [f"{base}:failures", f"{base}:open", f"{base}:probe"]

    def _run(self, source: str, keys: list[str], args: list[Any], owner: bool = False) -> IO:
        def sync() -> Any:
            if owner:
                found, value = prefetched(self, keys)
                if found:
                    return value
            return self._connector.eval(source, keys, args)

        async def async_() -> Any:
            if owner:
                found, value = prefetched(self, keys)
                if found:
                    return value
            return await self._connector.aeval(source, keys, args)

        return IO(sync, async_)

    def allow_step(self, key: str, threshold: int, cooldown: float) -> Prefetch:
        """The allow check as a step of a composed stack's one-round-trip batch (the raw
        result is kept: :meth:`allow` maps it)."""
        args = (threshold, milliseconds(max(cooldown, 1.0)))
        return Prefetch(self, self._connector, ALLOW, tuple(self._keys(key)), args, lambda r: r)

    def allow(self, key: str, threshold: int, cooldown: float) -> IO:
        args = [threshold, milliseconds(max(cooldown, 1.0))]
        return _mapped(self._run(_ALLOW, self._keys(key), args, owner=True), _verdict)

    def success(self, key: str, threshold: int) -> IO:
        io = self._run(_SUCCESS, self._keys(key), [])
        return _mapped(io, lambda raw: int(raw or 0) >= threshold)

    def failure(self, key: str, threshold: int, cooldown: float, probe: bool) -> IO:
        ms = milliseconds(cooldown)
        # failures are forgotten after a quiet period (10 cooldowns, at least an hour)
        keep_ms = max(ms * 10, 3_600_000)
        io = self._run(_FAILURE, self._keys(key), [threshold, ms, keep_ms, int(probe)])
        return _mapped(io, lambda raw: (int(raw[0]), bool(int(raw[1]))))


def _mapped(io: IO, fn: Callable[[Any], Any]) -> IO:
    def sync() -> Any:
        return fn(io.sync())

    async def async_() -> Any:
        return fn(await io.async_())

    return IO(sync, async_)


class _Fallbacks:
    """The fallback models in order: a ``"provider:model"`` string is checked at construction
    (LangChain resolves it, its provider package is installed) and built once, on first use, so
    a policy can be validated without API keys; a chat model instance is used as given."""

    def __init__(self, models: Sequence[str | BaseChatModel]) -> None:
        self.specs: list[str | BaseChatModel] = []
        for position, model in enumerate(models):
            if isinstance(model, str):
                try:
                    _, provider = parse_model(model)
                except ValueError as exc:
                    raise GuardrailConfigError(
                        f"model #{position + 1} {model!r} is not a 'provider:model' string "
                        f"LangChain can resolve: {str(exc).splitlines()[0]}"
                    ) from exc
                missing_provider_package(position, model, provider)
            elif not isinstance(model, BaseChatModel):
                raise GuardrailConfigError(
                    f"models must be 'provider:model' strings or chat model instances, "
                    f"got {type(model).__name__}"
                )
            self.specs.append(model)
        self._models: dict[int, BaseChatModel] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.specs)

    def model(self, index: int) -> BaseChatModel:
        """The ``index``-th fallback, built now if it is a string not built yet."""
        spec = self.specs[index]
        if isinstance(spec, BaseChatModel):
            return spec
        with self._lock:
            if index not in self._models:
                from langchain.chat_models import init_chat_model

                self._models[index] = init_chat_model(spec)
            return self._models[index]

    def label(self, index: int) -> str:
        """The ``index``-th fallback as audit events name it: its string, or its class name."""
        spec = self.specs[index]
        return spec if isinstance(spec, str) else type(spec).__name__


class ModelFallbackMiddleware(
    Guardrail,
    kind="model_fallback",
    hooks=("model",),
    events=(
        "fallback.switched",
        "fallback.circuit_open",
        "fallback.circuit_closed",
        "fallback.exhausted",
        "fallback.storage_error",
        "fallback.unavailable",
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
        storage_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        storage_read_timeout: float = DEFAULT_READ_TIMEOUT,
        storage_latch: float = DEFAULT_LATCH,
        breaker_key: Callable[[BaseChatModel], str] | None = None,
    ) -> None:
        super().__init__()
        self._fallbacks = _Fallbacks((first_model, *additional_models))
        failure_threshold = v.positive_int("failure_threshold", failure_threshold, optional=True)
        cooldown = duration("cooldown", cooldown)
        spec = parse_storage(
            "storage",
            storage,
            connect_timeout=storage_connect_timeout,
            read_timeout=storage_read_timeout,
            latch=storage_latch,
        )
        self._breaker: _MemoryBreaker | _RedisBreaker = (
            _MemoryBreaker() if spec.is_memory else _RedisBreaker(spec)
        )
        self._storage_spec = spec
        if breaker_key is not None and not callable(breaker_key):
            raise GuardrailConfigError(
                f"breaker_key must be a callable(model) -> str or None, got {breaker_key!r}"
            )
        if breaker_key is not None:
            v.sync_callable("breaker_key", breaker_key, returns="a str")
        self.breaker_key = breaker_key
        self.storage_connect_timeout = spec.connect_timeout
        self.storage_read_timeout = spec.read_timeout
        self.storage_latch = spec.latch
        self.failure_threshold = failure_threshold
        self.cooldown = float(cooldown)
        self.storage = storage

    @property
    def models(self) -> list[BaseChatModel]:
        """The fallback models, built on first use from their strings."""
        return [self._fallbacks.model(i) for i in range(len(self._fallbacks))]

    def _key(self, model: Any) -> str:
        if self.breaker_key is not None:
            key = self.breaker_key(model)
            if not isinstance(key, str) or not key:
                raise GuardrailConfigError(
                    f"{self.name}: breaker_key returned {key!r}; it must return a non-empty str"
                )
            return key
        return _model_key(model)

    def storage_step(self, request: Any) -> Prefetch | None:
        """The breaker's allow check of the primary model as a step of a composed stack's
        one-round-trip batch (:func:`guardrails.compose`); None in memory or without a
        breaker."""
        threshold = self.failure_threshold
        if threshold is None or not isinstance(self._breaker, _RedisBreaker):
            return None
        return self._breaker.allow_step(self._key(request.model), threshold, self.cooldown)

    def _breaker_io(self, io: IO, request: Any, report: list[bool], op: str) -> Flow[Any]:
        """Run a breaker operation; storage trouble means "closed", audited once per call."""
        try:
            return (yield io)
        except storage_errors() as exc:
            if not report:
                report.append(True)
                self.audit(
                    "fallback.storage_error",
                    runtime=request.runtime,
                    error=type(exc).__name__,
                    storage=self._storage_spec.label,
                    operation=op,
                    decision="closed",
                )
            return None

    def model_flow(self, request: Any) -> Flow[Any]:
        threshold, cooldown = self.failure_threshold, self.cooldown
        breaker = self._breaker
        if threshold is None or (
            isinstance(breaker, _MemoryBreaker) and breaker.healthy(self._key(request.model))
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
        candidates += [
            functools.partial(self._fallbacks.model, i) for i in range(len(self._fallbacks))
        ]
        last_exc: Exception | None = None
        build_errors: list[tuple[str, Exception]] = []
        previous: str | None = None
        reason: str | None = None
        status: int | None = None
        tried: list[str] = []
        report: list[bool] = []  # storage trouble already audited in this call
        for index, get_model in enumerate(candidates):
            try:
                model = get_model()
            except Exception as exc:  # building a fallback model failed (e.g. no API key)
                label = self._fallbacks.label(index - 1)
                build_errors.append((label, exc))
                self.audit(
                    "fallback.unavailable",
                    runtime=request.runtime,
                    model=label,
                    error=type(exc).__name__,
                    decision="skip",
                )
                continue
            key = self._key(model)
            verdict: str | None = "healthy" if index == 0 and primary_error is not None else None
            if threshold is not None and verdict is None:
                verdict = yield from self._breaker_io(
                    self._breaker.allow(key, threshold, cooldown), request, report, "allow"
                )
                if verdict == "open":
                    previous = previous or key
                    reason, status = reason or "circuit_open", status
                    continue
            target = (
                request
                if index == 0
                else _sanitize(request, model).override(model=carry_guards(request.model, model))
            )
            if previous is not None:
                self.audit(
                    "fallback.switched",
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
                    outcome = yield from self._breaker_io(
                        self._breaker.failure(key, threshold, cooldown, verdict == "probe"),
                        request,
                        report,
                        "failure",
                    )
                    if outcome is not None and outcome[1]:  # the transition to open, once
                        self.audit(
                            "fallback.circuit_open",
                            runtime=request.runtime,
                            model=key,
                            failures=int(outcome[0]),
                            cooldown_s=cooldown,
                        )
                continue
            if threshold is not None and verdict != "healthy":  # nothing to reset otherwise
                was_open = yield from self._breaker_io(
                    self._breaker.success(key, threshold), request, report, "success"
                )
                if was_open:
                    self.audit("fallback.circuit_closed", runtime=request.runtime, model=key)
            return response
        self.audit(
            "fallback.exhausted",
            runtime=request.runtime,
            tried=tried,
            error=type(last_exc).__name__ if last_exc else None,
            skipped=len(candidates) - len(tried),
            unavailable=len(build_errors),
        )
        if last_exc is not None:
            for label, build_error in build_errors:
                last_exc.add_note(
                    f"fallback {label!r} could not be built: "
                    f"{type(build_error).__name__}: {build_error}"
                )
            if build_errors and last_exc.__context__ is None:
                last_exc.__context__ = build_errors[-1][1]
            raise last_exc
        if build_errors:
            label, build_error = build_errors[-1]
            raise build_error
        raise GuardrailError(
            f"{self.name}: every model's circuit is open (cooldown {cooldown:.0f} s); "
            "no model was called"
        )
