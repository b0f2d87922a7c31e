"""The core of every guardrail: one flow for sync and async, and the :class:`Guardrail` base.

**Flows.** A *flow* is a generator that yields operations and receives their results; the sync
and async drivers below carry the operations out. The flow never calls the handler, sleeps or
does I/O itself, so ``wrap_model_call`` and ``awrap_model_call`` run exactly the same code:

    class MyGuard(Guardrail, kind="my_guard", hooks=("model",), events=("retry.attempt",)):
        def model_flow(self, request):
            try:
                response = yield Call(request)        # run the rest of the chain
            except Exception:
                self.audit("retry.attempt", runtime=request.runtime, attempt=1)
                yield Sleep(1.0)                      # time.sleep / asyncio.sleep
                response = yield Call(request)
            return response

Operations:

* :class:`Call` — call the next handler with a (possibly changed) request; an exception it
  raises is thrown back into the flow at the ``yield``.
* :class:`Sleep` — wait; never blocks the event loop in async.
* :class:`Offload` — CPU-heavy work: inline in sync, in a worker thread in async.
* :class:`SyncAsync` — the same operation through a sync and an async API (e.g. ``limits`` and
  ``limits.aio``): the sync driver calls ``sync()``, the async driver awaits ``async_()``.
  (``IO`` is its old name, kept as a deprecated alias: it clashed with ``typing.IO``.)

A flow is always closed when its driver stops, cancellation included, so its ``finally`` blocks
run at once (never later, at garbage collection).

**The base.** :class:`Guardrail` declares, in its class statement:

* ``kind`` — a stable identifier (``"model_retry"``, ``"rate_limit"``, ...). Order rules
  (:func:`guardrails.policy.check_order`), the policy registry and the demo use it, never class
  names, so subclasses and every configuration of a guardrail are seen alike.
* ``hooks`` — which LangChain hooks it may have: ``"model"`` (``wrap_model_call`` and its async
  twin, driven by ``model_flow``) and/or ``"tool"`` (``wrap_tool_call``, ``tool_flow``). Only
  the declared hooks exist: LangChain wraps every defined hook in tracing (about 110 us sync and
  440 us async per call), so a hook a guardrail does not need must not exist. When the hooks an
  instance needs depend on its settings (a rate limit on tools does not need the model hook),
  :meth:`Guardrail.active_hooks` returns the subset and the instance gets a class without the
  others: the one place this happens is :class:`_GuardrailType`.
* ``events`` — the audit events it may emit; each must be registered in
  :data:`guardrails.audit.EVENTS`. :meth:`Guardrail.audit` refuses any other.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from langchain.agents.middleware import AgentMiddleware

from guardrails import audit as _audit

__all__ = [
    "HOOKS",
    "IO",
    "Call",
    "Flow",
    "Guardrail",
    "Hook",
    "ModelHook",
    "Offload",
    "Sleep",
    "SyncAsync",
    "ToolHook",
    "carry_guards",
    "run_async",
    "run_sync",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """Call the next handler with ``request``; the flow receives its result.

    ``timeout`` (seconds, async only): the call is cancelled when it runs longer and
    ``TimeoutError`` is thrown into the flow. A sync call cannot be interrupted safely and runs to
    its end (bound it with the client's own timeout).
    """

    request: Any
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` (``time.sleep`` in sync, ``asyncio.sleep`` in async)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Offload:
    """Run ``fn(*args)``: inline in sync, in a worker thread in async."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncAsync:
    """One operation with a sync and an async implementation (both take no arguments).

    Example::

        allowed = yield SyncAsync(lambda: limiter.hit(item), lambda: alimiter.hit(item))
    """

    sync: Callable[[], Any]
    async_: Callable[[], Awaitable[Any]]


#: Deprecated name of :class:`SyncAsync` (it clashed with ``typing.IO``); same class.
IO = SyncAsync

Op = Call | Sleep | Offload | SyncAsync
Flow = Generator[Op, Any, T]


def carry_guards(current: Any, replacement: Any) -> Any:
    """``replacement`` under the per-call guards that ``current`` carries.

    A guardrail that swaps ``request.model`` (a fallback) passes the new model through this,
    so a guard another guardrail put on the model for this call (the PII last hop, see
    :mod:`guardrails.pii.lasthop`) goes with the request instead of being dropped. A model
    without guards is returned as it is.
    """
    cls = type(current)
    carry = _CARRY.get(cls, _CARRY)
    if carry is _CARRY:  # looked up once per class (a pydantic class's missing attribute
        carry = getattr(cls, "_guardrails_carry", None)  # costs its metaclass __getattr__)
        if len(_CARRY) < 1024:
            _CARRY[cls] = carry
    return carry(current, replacement) if carry is not None else replacement


_CARRY: dict[type, Any] = {}


def run_sync(
    flow: Flow[T],
    handler: Callable[[Any], Any],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Drive ``flow`` synchronously, calling ``handler`` for each :class:`Call`."""
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                op = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value = None
            error = None
            try:
                if type(op) is Call:
                    value = handler(op.request)
                elif type(op) is Sleep:
                    if op.seconds > 0:
                        sleep(op.seconds)
                elif type(op) is Offload:
                    value = op.fn(*op.args)
                elif type(op) is SyncAsync:
                    value = op.sync()
                else:
                    raise TypeError(f"a guardrail flow yielded {op!r}, not an operation")
            except Exception as exc:
                error = exc
    finally:
        flow.close()  # a BaseException (KeyboardInterrupt, ...) left it suspended: run its finally


async def run_async(
    flow: Flow[T],
    handler: Callable[[Any], Awaitable[Any]],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Drive ``flow`` asynchronously, awaiting ``handler`` for each :class:`Call`."""
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                op = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value = None
            error = None
            try:
                if type(op) is Call:
                    if op.timeout is None:
                        value = await handler(op.request)
                    else:
                        value = await asyncio.wait_for(handler(op.request), op.timeout)
                elif type(op) is Sleep:
                    if op.seconds > 0:
                        await sleep(op.seconds)
                elif type(op) is Offload:
                    value = await asyncio.to_thread(op.fn, *op.args)
                elif type(op) is SyncAsync:
                    value = await op.async_()
                else:
                    raise TypeError(f"a guardrail flow yielded {op!r}, not an operation")
            except Exception as exc:
                error = exc
    finally:
        flow.close()  # cancelled (CancelledError) mid-call: run the flow's finally blocks now


class _Sleeps:
    """The sleep functions a middleware's flows use; tests replace them on an instance."""

    _sleep: Callable[[float], None] = staticmethod(time.sleep)
    _asleep: Callable[[float], Awaitable[None]] = staticmethod(asyncio.sleep)


# --------------------------------------------------------------------------- nesting
# A plain ``middleware=[...]`` list is never seen whole by a guardrail; the first call shows how
# the guardrails nest. Each generated hook records itself (with the hook and the runtime of the
# call) on a context variable while the rest of the chain runs; the guardrails it finds there,
# for the same hook and the same runtime (a subagent's calls have their own runtime), enclose it.
# Each nesting is checked once against the order rules (guardrails.order), with the warning
# compose() gives at construction.

_Entry = tuple[Any, str, int]
_ENCLOSING: contextvars.ContextVar[tuple[_Entry, ...]] = contextvars.ContextVar(
    "guardrails_enclosing", default=()
)
_NESTINGS_SEEN: Any = None  # a guardrails.order.SeenOnce: each nesting, by identity, checked once


def _enter(guard: Any, hook: str, request: Any) -> contextvars.Token[tuple[_Entry, ...]]:
    stack = _ENCLOSING.get()
    runtime = id(getattr(request, "runtime", None))
    if stack:
        outers = [g for g, h, r in stack if h == hook and r == runtime]
        if outers:
            global _NESTINGS_SEEN
            if _NESTINGS_SEEN is None:
                from guardrails.order import SeenOnce

                _NESTINGS_SEEN = SeenOnce()
            if _NESTINGS_SEEN.first((guard, *outers)):
                from guardrails.order import check_nesting

                check_nesting(outers, guard)
    return _ENCLOSING.set((*stack, (guard, hook, runtime)))


# --------------------------------------------------------------------------- the hook methods
# Defined once; the base installs them on a guardrail class for each hook it declares.


def _wrap_model_call(self: Any, request: Any, handler: Callable[[Any], Any]) -> Any:
    token = _enter(self, "model", request)
    try:
        return run_sync(self.model_flow(request), handler, self._sleep)
    finally:
        _ENCLOSING.reset(token)


async def _awrap_model_call(
    self: Any, request: Any, handler: Callable[[Any], Awaitable[Any]]
) -> Any:
    token = _enter(self, "model", request)
    try:
        return await run_async(self.model_flow(request), handler, self._asleep)
    finally:
        _ENCLOSING.reset(token)


def _wrap_tool_call(self: Any, request: Any, handler: Callable[[Any], Any]) -> Any:
    token = _enter(self, "tool", request)
    try:
        return run_sync(self.tool_flow(request), handler, self._sleep)
    finally:
        _ENCLOSING.reset(token)


async def _awrap_tool_call(
    self: Any, request: Any, handler: Callable[[Any], Awaitable[Any]]
) -> Any:
    token = _enter(self, "tool", request)
    try:
        return await run_async(self.tool_flow(request), handler, self._asleep)
    finally:
        _ENCLOSING.reset(token)


Hook = Literal["model", "tool"]
_Methods = tuple[tuple[str, Callable[..., Any]], ...]
#: Each hook a guardrail may declare: its flow method and the (name, function) of its hook pair.
HOOKS: dict[str, tuple[str, _Methods]] = {
    "model": (
        "model_flow",
        (("wrap_model_call", _wrap_model_call), ("awrap_model_call", _awrap_model_call)),
    ),
    "tool": (
        "tool_flow",
        (("wrap_tool_call", _wrap_tool_call), ("awrap_tool_call", _awrap_tool_call)),
    ),
}
_GENERATED = frozenset(f for _, methods in HOOKS.values() for _, f in methods)


class ModelHook(_Sleeps):
    """Mixin: write ``model_flow(request)`` once; get ``wrap_model_call`` and its async twin.

    For a guardrail of this package use :class:`Guardrail` (it also declares a kind and its
    audit events); this mixin stays for middleware written against it.

    Example::

        class Audit(ModelHook, AgentMiddleware):
            def model_flow(self, request):
                return (yield Call(request))
    """

    def model_flow(self, request: Any) -> Flow[Any]:
        raise NotImplementedError

    wrap_model_call = _wrap_model_call
    awrap_model_call = _awrap_model_call


class ToolHook(_Sleeps):
    """Mixin: write ``tool_flow(request)`` once; get ``wrap_tool_call`` and its async twin.

    Example::

        class Audit(ToolHook, AgentMiddleware):
            def tool_flow(self, request):
                return (yield Call(request))
    """

    def tool_flow(self, request: Any) -> Flow[Any]:
        raise NotImplementedError

    wrap_tool_call = _wrap_tool_call
    awrap_tool_call = _awrap_tool_call


# --------------------------------------------------------------------------- the Guardrail base

_VARIANTS: dict[tuple[type, frozenset[str]], type] = {}
_VARIANTS_LOCK = threading.Lock()


def _without_hooks(cls: type, dropped: frozenset[str]) -> type:
    """``cls`` with the hooks in ``dropped`` reset to LangChain's defaults (cached per class).

    LangChain decides whether a middleware has a hook by comparing ``type(m).wrap_model_call``
    with ``AgentMiddleware.wrap_model_call``; this subclass makes that comparison true for the
    hooks an instance does not need. It has the same name, module and behaviour as ``cls``.
    """
    key = (cls, dropped)
    with _VARIANTS_LOCK:
        variant = _VARIANTS.get(key)
        if variant is None:
            namespace: dict[str, Any] = {
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": cls.__doc__,
                "_guardrail_class": cls,
                "_guardrail_dropped": dropped,
            }
            for hook in dropped:
                for method, _ in HOOKS[hook][1]:
                    namespace[method] = getattr(AgentMiddleware, method)
            variant = type(cls)(cls.__name__, (cls,), namespace)
            _VARIANTS[key] = variant
    return variant


def _narrowed(cls: type, dropped: frozenset[str]) -> Any:
    """Unpickle a narrowed instance: an empty object of the same narrowed class."""
    return object.__new__(_without_hooks(cls, dropped))


class _GuardrailType(type):
    """Metaclass of :class:`Guardrail`: after ``__init__``, drop the hooks an instance does not use.

    The only place a guardrail's class is narrowed; it replaces per-guardrail ``__new__``
    tricks. ``isinstance(x, RateLimitMiddleware)`` and ``type(x).__name__`` are unchanged.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs:  # a misspelled keyword: name the closest parameter, not Python's bare error
            from guardrails._validate import check_keywords

            check_keywords(f"{cls.__name__}()", cls.__init__, kwargs)  # type: ignore[misc]
        instance = super().__call__(*args, **kwargs)
        declared: frozenset[str] = cls.hooks  # type: ignore[attr-defined]
        hooks = instance.active_hooks()
        active = frozenset([hooks] if isinstance(hooks, str) else hooks)
        if not active <= declared:
            raise TypeError(
                f"{cls.__name__}.active_hooks() returned {sorted(active)}, but the class declares "
                f"hooks={sorted(declared)}"
            )
        if active != declared:
            instance.__class__ = _without_hooks(cls, declared - active)
        return instance


class Guardrail(AgentMiddleware[Any, Any, Any], _Sleeps, metaclass=_GuardrailType):
    """Base of every guardrail: declared hooks, a stable ``kind``, the audit events it may emit.

    Declare them as class keywords; write ``model_flow`` and/or ``tool_flow`` once (see
    :mod:`guardrails._core`); report decisions with :meth:`audit`.

    Example::

        from guardrails import Call, Guardrail

        class CountCalls(Guardrail, kind="count_calls", hooks=("model",),
                         events=("limit.exceeded",)):
            def __init__(self, limit: int) -> None:
                super().__init__()
                self.limit = limit

            def model_flow(self, request):
                if len(request.messages) > self.limit:
                    self.audit("limit.exceeded", runtime=request.runtime, decision="end")
                return (yield Call(request))

        agent = create_agent(model, middleware=[CountCalls(50)])
    """

    #: Stable identifier used by order rules, the policy registry and the demo.
    kind: ClassVar[str] = ""
    #: The hooks this guardrail may have ("model", "tool").
    hooks: ClassVar[frozenset[str]] = frozenset()
    #: The audit events it may emit (names registered in :data:`guardrails.audit.EVENTS`).
    events: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(
        cls,
        *,
        kind: str | None = None,
        hooks: Iterable[Hook] | None = None,
        events: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if "_guardrail_class" in cls.__dict__:
            return  # a narrowed variant made by _without_hooks: nothing to declare
        if kind is not None:
            if not isinstance(kind, str) or not kind.replace("_", "").isalnum():
                raise TypeError(
                    f"{cls.__name__}: kind must be a word like 'rate_limit', got {kind!r}"
                )
            cls.kind = kind
        if events is not None:
            names = frozenset([events] if isinstance(events, str) else events)
            unknown = sorted(n for n in names if n not in _audit.EVENTS)
            if unknown:
                raise TypeError(
                    f"{cls.__name__} declares audit events {unknown} that are not registered; add "
                    "them to guardrails.audit.EVENTS (or guardrails.audit.register_event) and to "
                    "the table in docs/audit.md"
                )
            cls.events = names
        if hooks is not None:
            declared = frozenset([hooks] if isinstance(hooks, str) else hooks)
            unknown_hooks = sorted(h for h in declared if h not in HOOKS)
            if unknown_hooks:
                raise TypeError(
                    f"{cls.__name__}: unknown hooks {unknown_hooks}; allowed: {sorted(HOOKS)}"
                )
            for hook in sorted(declared):
                flow, methods = HOOKS[hook]
                if any(method in cls.__dict__ for method, _ in methods):
                    continue  # the class writes the hook methods itself (e.g. compose)
                if getattr(cls, flow) is getattr(Guardrail, flow):
                    raise TypeError(f"{cls.__name__} declares the {hook!r} hook but no {flow}()")
                for method, function in methods:
                    setattr(cls, method, function)
            for hook in set(HOOKS) - declared:  # a subclass may declare fewer hooks
                for method, _ in HOOKS[hook][1]:
                    if getattr(cls, method, None) in _GENERATED:
                        setattr(cls, method, getattr(AgentMiddleware, method))
            cls.hooks = declared
        for hook, (flow, _) in HOOKS.items():
            if flow in cls.__dict__ and hook not in cls.hooks:
                raise TypeError(
                    f"{cls.__name__} defines {flow}() but does not declare the {hook!r} hook "
                    f"(hooks={sorted(cls.hooks)}): it would never run"
                )

    def __reduce_ex__(self, protocol: Any) -> Any:
        variant = type(self).__dict__
        if "_guardrail_class" not in variant:
            return super().__reduce_ex__(protocol)
        # the narrowed class is not importable by name: rebuild it from its public class
        return (
            _narrowed,
            (variant["_guardrail_class"], variant["_guardrail_dropped"]),
            self.__dict__,
        )

    def active_hooks(self) -> Iterable[Hook]:
        """The declared hooks this instance needs (all by default); called once after ``__init__``.

        Override it when settings decide: e.g. ``{"model"} if self.applies_to == "model" else
        {"tool"}``.
        """
        return self.hooks  # type: ignore[return-value]

    def model_flow(self, request: Any) -> Flow[Any]:
        """The model-call logic, written once for sync and async (see the module docs)."""
        raise NotImplementedError

    def tool_flow(self, request: Any) -> Flow[Any]:
        """The tool-call logic, written once for sync and async (see the module docs)."""
        raise NotImplementedError

    def audit(
        self,
        event: str,
        *,
        runtime: Any = None,
        level: int = logging.INFO,
        secrets: Iterable[str] = (),
        **fields: Any,
    ) -> dict[str, Any] | None:
        """Emit one audit event as this guardrail (:func:`guardrails.audit.emit`).

        Raises:
            ValueError: ``event`` is not one of the events this class declares.
        """
        if event not in self.events:
            raise ValueError(
                f"{type(self).__name__} (kind {self.kind!r}) may not emit {event!r}; it declares "
                f"events={sorted(self.events)}"
            )
        return _audit.emit(
            event, self.name, runtime=runtime, level=level, secrets=secrets, **fields
        )


def __getattr__(name: str) -> Any:
    if name == "_Clock":  # the old, misleading name of _Sleeps (it holds sleeps, not a clock)
        warnings.warn("_Clock is now _Sleeps", DeprecationWarning, stacklevel=2)
        return _Sleeps
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
