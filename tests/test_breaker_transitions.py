"""Breaker transitions, the same on ``memory://`` and Redis.

Promise: ``fallback.circuit_open`` is emitted once per opening (the threshold reached, or the
half-open probe failing), never for failures of calls that were already in flight; those late
failures do not push the cooldown forward either. Concurrent calls, several processes.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError

from guardrails._core import run_sync
from guardrails._storage import parse_storage
from guardrails.fallback import ModelFallbackMiddleware, _MemoryBreaker, _RedisBreaker
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture

BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


def _uri(backend: str, request: pytest.FixtureRequest) -> str:
    return "memory://" if backend == "memory" else request.getfixturevalue("redis_url")


def _op(io: Any) -> Any:
    def flow() -> Any:
        return (yield io)

    return run_sync(flow(), lambda r: r)


def _breaker(uri: str) -> Any:
    return _MemoryBreaker() if uri == "memory://" else _RedisBreaker(parse_storage("s", uri))


@pytest.mark.parametrize("backend", BACKENDS)
def test_open_once_and_late_failures_do_not_extend_the_cooldown(
    backend: str, request: pytest.FixtureRequest
) -> None:
    breaker = _breaker(_uri(backend, request))
    key, threshold, cooldown = f"m-{backend}", 3, 1.0
    assert _op(breaker.allow(key, threshold, cooldown)) == "healthy"
    assert _op(breaker.failure(key, threshold, cooldown, False)) == (1, False)
    assert _op(breaker.allow(key, threshold, cooldown)) == "closed"
    assert _op(breaker.failure(key, threshold, cooldown, False)) == (2, False)
    opened_at = time.monotonic()
    assert _op(breaker.failure(key, threshold, cooldown, False)) == (3, True)
    time.sleep(0.5)
    # five calls that started before the opening fail now: no event, same cooldown
    late = [_op(breaker.failure(key, threshold, cooldown, False)) for _ in range(5)]
    assert late == [(n, False) for n in range(4, 9)]
    assert _op(breaker.allow(key, threshold, cooldown)) == "open"
    time.sleep(max(0.0, opened_at + cooldown + 0.15 - time.monotonic()))
    # the cooldown counted from the opening (a late failure would have moved it to +1.5 s)
    assert _op(breaker.allow(key, threshold, cooldown)) == "probe"
    assert _op(breaker.allow(key, threshold, cooldown)) == "open"  # one probe at a time
    # the probe fails: the circuit opens again (a transition: reported), a late one does not
    assert _op(breaker.failure(key, threshold, cooldown, True)) == (9, True)
    assert _op(breaker.failure(key, threshold, cooldown, False)) == (10, False)
    assert _op(breaker.allow(key, threshold, cooldown)) == "open"
    assert _op(breaker.success(key, threshold)) is True
    assert _op(breaker.allow(key, threshold, cooldown)) == "healthy"


def _failing_primary(concurrency: int) -> ScriptedChatModel:
    barrier = threading.Barrier(concurrency, timeout=20)

    def fail(_: Any) -> Any:
        barrier.wait()  # every call is in flight before any fails
        raise ModelAPIError("503 from primary")

    return ScriptedChatModel(responses=[], default=fail, model_name="p")


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_in_flight_failures_open_the_circuit_once(
    mode: str, backend: str, request: pytest.FixtureRequest, audit: AuditCapture
) -> None:
    uri = _uri(backend, request)
    concurrency = 5  # below the default executor's workers (async runs sync models there)
    primary = _failing_primary(concurrency)
    backup = ScriptedChatModel(responses=[], default="backup", model_name="b")
    mw = ModelFallbackMiddleware(backup, failure_threshold=2, cooldown=60, storage=uri)
    agent = create_agent(primary, middleware=[mw])
    payload = {"messages": [("user", "x")]}
    if mode == "sync":
        results: list[Any] = []
        threads = [
            threading.Thread(target=lambda: results.append(agent.invoke(payload)))
            for _ in range(concurrency)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:

        async def main() -> list[Any]:
            return await asyncio.gather(*(agent.ainvoke(payload) for _ in range(concurrency)))

        results = asyncio.run(main())
    assert [r["messages"][-1].content for r in results] == ["backup"] * concurrency
    opened = audit.of("fallback.circuit_open")
    assert len(opened) == 1, opened
    assert opened[0]["failures"] == 2
    # and the circuit is open: the next call goes straight to the backup
    calls = primary.calls
    assert agent.invoke(payload)["messages"][-1].content == "backup"
    assert primary.calls == calls
    assert len(audit.of("fallback.circuit_open")) == 1


WORKER = textwrap.dedent("""
    import sys, time
    from guardrails._core import run_sync
    from guardrails._storage import parse_storage
    from guardrails.fallback import _RedisBreaker
    breaker = _RedisBreaker(parse_storage("storage", sys.argv[1]))
    def op(io):
        def flow():
            return (yield io)
        return run_sync(flow(), lambda r: r)
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.001)
    opened = [op(breaker.failure("proc-model", 3, 30.0, False))[1] for _ in range(5)]
    print(sum(opened))
""")


@pytest.mark.slow  # other processes (pyproject: the slow group)
@pytest.mark.redis
def test_one_opening_across_processes(redis_url: str) -> None:
    start = time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [int(p.communicate(timeout=60)[0].strip()) for p in procs]
    assert sum(outputs) == 1, outputs  # 15 failures, threshold 3: one transition to open
