"""One core for sync and async hooks: each guardrail writes its logic once, as a generator.

A *flow* is a generator that yields operations and receives their results; the sync and async
drivers below carry the operations out. The flow never calls the handler, sleeps or does I/O
itself, so ``wrap_model_call`` and ``awrap_model_call`` run exactly the same code:

    class MyGuard(ModelHook, AgentMiddleware):
        def model_flow(self, request):
            try:
                response = yield Call(request)        # run the rest of the chain
            except Exception:
                yield Sleep(1.0)                      # time.sleep / asyncio.sleep
                response = yield Call(request)
            return response

Operations:

* :class:`Call` — call the next handler with a (possibly changed) request; an exception it
  raises is thrown back into the flow at the ``yield``.
* :class:`Sleep` — wait; never blocks the event loop in async.
* :class:`Offload` — CPU-heavy work: inline in sync, in a worker thread in async.
* :class:`IO` — the same operation through a sync and an async API (e.g. ``limits`` and
  ``limits.aio``): the sync driver calls ``sync()``, the async driver awaits ``async_()``.

The mixins :class:`ModelHook` and :class:`ToolHook` turn a flow into the hook pairs LangChain
calls. A middleware uses only the mixin it needs: LangChain wraps every defined hook in tracing,
so a hook that is not needed must not exist.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "IO",
    "Call",
    "Flow",
    "ModelHook",
    "Offload",
    "Sleep",
    "ToolHook",
    "run_async",
    "run_sync",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """Call the next handler with ``request``; the flow receives its result."""

    request: Any


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
class IO:
    """One operation with a sync and an async implementation (both take no arguments)."""

    sync: Callable[[], Any]
    async_: Callable[[], Awaitable[Any]]


Op = Call | Sleep | Offload | IO
Flow = Generator[Op, Any, T]


def run_sync(
    flow: Flow[T],
    handler: Callable[[Any], Any],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Drive ``flow`` synchronously, calling ``handler`` for each :class:`Call`."""
    value: Any = None
    error: BaseException | None = None
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
            elif type(op) is IO:
                value = op.sync()
            else:
                raise TypeError(f"a guardrail flow yielded {op!r}, not an operation")
        except Exception as exc:
            error = exc


async def run_async(
    flow: Flow[T],
    handler: Callable[[Any], Awaitable[Any]],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Drive ``flow`` asynchronously, awaiting ``handler`` for each :class:`Call`."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value = None
        error = None
        try:
            if type(op) is Call:
                value = await handler(op.request)
            elif type(op) is Sleep:
                if op.seconds > 0:
                    await sleep(op.seconds)
            elif type(op) is Offload:
                value = await asyncio.to_thread(op.fn, *op.args)
            elif type(op) is IO:
                value = await op.async_()
            else:
                raise TypeError(f"a guardrail flow yielded {op!r}, not an operation")
        except Exception as exc:
            error = exc


class _Clock:
    """Sleep functions a middleware uses; tests replace them on an instance."""

    _sleep: Callable[[float], None] = staticmethod(time.sleep)
    _asleep: Callable[[float], Awaitable[None]] = staticmethod(asyncio.sleep)


class ModelHook(_Clock):
    """Mixin: write ``model_flow(request)`` once; get ``wrap_model_call`` and its async twin.

    Example::

        class Audit(ModelHook, AgentMiddleware):
            def model_flow(self, request):
                return (yield Call(request))
    """

    def model_flow(self, request: Any) -> Flow[Any]:
        raise NotImplementedError

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return run_sync(self.model_flow(request), handler, self._sleep)

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        return await run_async(self.model_flow(request), handler, self._asleep)


class ToolHook(_Clock):
    """Mixin: write ``tool_flow(request)`` once; get ``wrap_tool_call`` and its async twin.

    Example::

        class Audit(ToolHook, AgentMiddleware):
            def tool_flow(self, request):
                return (yield Call(request))
    """

    def tool_flow(self, request: Any) -> Flow[Any]:
        raise NotImplementedError

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return run_sync(self.tool_flow(request), handler, self._sleep)

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        return await run_async(self.tool_flow(request), handler, self._asleep)
