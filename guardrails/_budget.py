"""A thread budget shared by concurrent runs and processes (the call limits' ``thread_storage``).

Thread counts in graph state are per run: two runs of one ``thread_id`` at the same time each
start from the last checkpoint, so each may spend the whole ``thread_limit``. With a shared
budget every call first takes one unit from a counter keyed by the thread id in ``memory://``
(concurrent runs in this process) or Redis (every process): check and take is one atomic step,
so ``thread_limit`` calls are made in all, whatever the concurrency.

Example::

    budget = SharedBudget("thread_storage", "redis://127.0.0.1:6379", fail_open=False)
    allowed, count = yield from budget.take(request, "ModelCallLimitMiddleware", limit=10)
"""

from __future__ import annotations

from typing import Any

from guardrails import _validate as v
from guardrails._core import Flow
from guardrails._storage import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LATCH,
    DEFAULT_READ_TIMEOUT,
    Prefetch,
    RedisConnector,
    duration,
    parse_storage,
    storage_errors,
)
from guardrails._windows import MemoryBudget, RedisBudget
from guardrails.audit import emit, identity
from guardrails.errors import GuardrailError, RateLimitStorageError

__all__ = ["DEFAULT_TTL", "MissingThreadIdError", "SharedBudget"]

DEFAULT_TTL = 30 * 86_400.0  # a thread's budget is forgotten 30 days after its last call


class MissingThreadIdError(GuardrailError):
    """``thread_storage`` is set but the run has no thread id to key the budget by.

    Example::

        agent.invoke(payload, {"configurable": {"thread_id": "t-1"}})
    """


class SharedBudget:
    """Take one unit per call from a per-thread counter in shared storage; audited faults.

    Example::

        SharedBudget("thread_storage", "memory://")
    """

    def __init__(
        self,
        setting: str,
        storage: Any,
        *,
        fail_open: Any = False,
        ttl: Any = DEFAULT_TTL,
        connect_timeout: Any = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: Any = DEFAULT_READ_TIMEOUT,
        latch: Any = DEFAULT_LATCH,
    ) -> None:
        self.spec = parse_storage(
            setting,
            storage,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            latch=latch,
        )
        self.setting = setting
        self.fail_open = v.strict_bool(f"{setting}_fail_open", fail_open)
        # at least a second: a TTL shorter than the gap between two calls forgets the budget
        self.ttl = duration(f"{setting}_ttl", ttl, minimum=1.0)
        self._engine: MemoryBudget | RedisBudget = (
            MemoryBudget(self.ttl)
            if self.spec.is_memory
            else RedisBudget(RedisConnector.shared(self.spec), "guardrails:budget", self.ttl)
        )

    def step(self, request: Any, guardrail: str, limit: int) -> Prefetch | None:
        """:meth:`take` as a step of a composed stack's one-round-trip batch (None in memory
        or without a thread id: the call then takes its unit, or fails, on its own)."""
        if not isinstance(self._engine, RedisBudget):
            return None
        thread_id = identity(getattr(request, "runtime", None)).get("thread_id")
        if not thread_id:
            return None
        return self._engine.step(f"{guardrail}|{thread_id}", limit)

    def take(self, request: Any, guardrail: str, limit: int) -> Flow[tuple[bool, int | None]]:
        """``(allowed, count)``; ``count`` is None when the storage failed and we fail open."""
        thread_id = identity(getattr(request, "runtime", None)).get("thread_id")
        if not thread_id:
            raise MissingThreadIdError(
                f"{guardrail}: {self.setting} keeps a budget per thread, but this run has no "
                "thread id; invoke with config={'configurable': {'thread_id': ...}} (and a "
                "checkpointer), or drop " + self.setting
            )
        try:
            allowed, count = yield self._engine.io(f"{guardrail}|{thread_id}", limit)
        except storage_errors() as exc:
            emit(
                "limit.storage_error",
                guardrail,
                runtime=getattr(request, "runtime", None),
                error=type(exc).__name__,
                storage=self.spec.label,
                decision="allow" if self.fail_open else "deny",
            )
            if self.fail_open:
                return True, None
            raise RateLimitStorageError(
                f"{guardrail}: the thread budget storage cannot be reached "
                f"({type(exc).__name__}); refusing the call ({self.setting}_fail_open=False)"
            ) from exc
        return bool(allowed), int(count)
