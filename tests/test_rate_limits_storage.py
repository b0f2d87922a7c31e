"""The rate limiter's storage: several limits charged together, bounded memory, and a real Redis
that is stopped, paused, slowed and restarted, from sync, async, threads and asyncio.run loops."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from langchain.agents import create_agent
from limits import parse_many

from guardrails._windows import MemoryWindows
from guardrails.errors import RateLimitExceededError, RateLimitStorageError
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture, RedisServer
from tests.support import invoke

STRATEGIES = ["moving-window", "fixed-window", "sliding-window-counter"]


def _agent(mw: RateLimitMiddleware) -> Any:
    return create_agent(ScriptedChatModel(responses=[], default="hi"), middleware=[mw])


def _admitted(agent: Any, n: int, mode: str) -> int:
    ok = 0
    for _ in range(n):
        try:
            invoke(agent, {"messages": [("user", "x")]}, mode)
            ok += 1
        except RateLimitExceededError:
            pass
    return ok


# ----------------------------------------------------------------------------- row 5


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_refused_call_is_charged_to_no_limit_memory(mode: str, strategy: str) -> None:
    mw = RateLimitMiddleware("3/day;2/minute", key="global", strategy=strategy)  # type: ignore[arg-type]
    now = [1_800_000_000.0 - 1_800_000_000.0 % 86_400 + 10]  # early in an aligned day
    mw._clock = lambda: now[0]
    agent = _agent(mw)
    assert _admitted(agent, 10, mode) == 2  # the minute limit refuses 8 ...
    now[0] += 121  # ... which were not charged to the day: 1 of the day's 3 is left
    assert _admitted(agent, 5, mode) == 1


@pytest.mark.slow  # waits out real windows on Redis server time (pyproject: the slow group)
@pytest.mark.redis
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_refused_call_is_charged_to_no_limit_redis(
    mode: str, strategy: str, redis_url: str
) -> None:
    mw = RateLimitMiddleware(
        "3/day;2 per 2 seconds",
        key="global",
        strategy=strategy,  # type: ignore[arg-type]
        storage=redis_url,
    )
    agent = _agent(mw)
    first = _admitted(agent, 10, mode)
    # fixed and sliding windows admit a little more across a window boundary (the day caps it)
    assert first == 2 or (strategy != "moving-window" and first == 3)
    time.sleep(4.2)  # two short windows have passed (Redis server time)
    assert _admitted(agent, 5, mode) == 3 - first  # the day was charged `first`, not 10


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_memory_windows_each_strategy_admits_the_limit(strategy: str) -> None:
    now = [1_000_000.0]
    windows = MemoryWindows(strategy, list(parse_many("5/minute")), clock=lambda: now[0])
    results = [windows.hit("k")[0] for _ in range(8)]
    assert results.count(True) == 5 and results[:5] == [True] * 5
    allowed, reset = windows.hit("k")
    assert not allowed and now[0] < reset <= now[0] + 60
    now[0] += 180
    assert windows.hit("k")[0]


# ----------------------------------------------------------------------------- row 9


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_memory_is_bounded_over_a_process_life(strategy: str) -> None:
    now = [1_000_000.0]
    mw = RateLimitMiddleware("10/minute", key="thread", strategy=strategy)  # type: ignore[arg-type]
    mw._clock = lambda: now[0]
    windows = mw._windows
    assert isinstance(windows, MemoryWindows)
    for i in range(20_000):
        assert windows.hit(f"thread:{i}")[0]
        now[0] += 0.001
    assert len(windows) == 20_000  # all within the last minute
    now[0] += 500  # quiet for longer than twice the idle span (2 x 2 windows for sliding)
    windows.hit("thread:new")
    assert len(windows) == 1


def test_idle_expiry_never_forgets_a_key_that_could_still_refuse() -> None:
    now = [1_000_000.0]
    windows = MemoryWindows("moving-window", list(parse_many("2/minute")), clock=lambda: now[0])
    assert windows.hit("a")[0] and windows.hit("a")[0]
    now[0] += 59
    windows.hit("b")  # triggers eviction: "a" is still inside its window
    assert not windows.hit("a")[0]
    now[0] += 1.5
    assert windows.hit("a")[0]


# ----------------------------------------------------------------------------- rows 3 and 4


@pytest.mark.redis
def test_asyncio_run_many_times_counts_every_call(redis_url: str, audit: AuditCapture) -> None:
    mw = RateLimitMiddleware("3/minute", key="global", storage=redis_url)
    agent = _agent(mw)
    results = []
    for _ in range(5):
        try:
            asyncio.run(agent.ainvoke({"messages": [("user", "x")]}))
            results.append(True)
        except RateLimitExceededError:
            results.append(False)
    assert results == [True, True, True, False, False]
    assert audit.of("rate_limit.storage_error") == []


@pytest.mark.redis
def test_asyncio_run_fail_open_still_counts(redis_url: str, audit: AuditCapture) -> None:
    mw = RateLimitMiddleware("2/minute", key="global", storage=redis_url, fail_open=True)
    agent = _agent(mw)
    admitted = 0
    for _ in range(4):
        try:
            asyncio.run(agent.ainvoke({"messages": [("user", "x")]}))
            admitted += 1
        except RateLimitExceededError:
            pass
    assert admitted == 2  # no run let through uncounted
    assert audit.of("rate_limit.storage_error") == []


@pytest.mark.redis
def test_loops_in_threads_share_one_budget(redis_url: str) -> None:
    mw = RateLimitMiddleware(  # generous timeouts: this test is about loops, not latency
        "20/minute",
        key="global",
        storage=redis_url,
        storage_connect_timeout=10,
        storage_read_timeout=10,
    )
    agent = _agent(mw)
    admitted: list[bool] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(3):

            async def go() -> bool:
                try:
                    await agent.ainvoke({"messages": [("user", "x")]})
                    return True
                except RateLimitExceededError:
                    return False

            result = asyncio.run(go())
            with lock:
                admitted.append(result)

    threads = [threading.Thread(target=run) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 30 and admitted.count(True) == 20


# slow: waits out a paused real redis-server on the clock
@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("fail_open", [False, True])
def test_paused_redis_is_bounded_then_fails_as_configured(
    mode: str, own_redis: RedisServer, fail_open: bool, audit: AuditCapture
) -> None:
    mw = RateLimitMiddleware(
        "100/minute",
        key="global",
        storage=own_redis.url,
        fail_open=fail_open,
        storage_read_timeout=0.5,
    )
    agent = _agent(mw)
    invoke(agent, {"messages": [("user", "x")]}, mode)
    own_redis.pause()
    try:
        started = time.monotonic()
        if fail_open:
            invoke(agent, {"messages": [("user", "x")]}, mode)
        else:
            with pytest.raises(RateLimitStorageError):
                invoke(agent, {"messages": [("user", "x")]}, mode)
        elapsed = time.monotonic() - started
    finally:
        own_redis.resume()
    assert elapsed < 4.0, elapsed  # was unbounded (> 60 s) before
    (event,) = audit.of("rate_limit.storage_error")
    assert event["decision"] == ("allow" if fail_open else "deny")
    assert event["error"] == "TimeoutError"


# slow: waits out a slowed real redis-server on the clock
@pytest.mark.slow
@pytest.mark.redis
def test_slow_redis_is_bounded(mode: str, own_redis: RedisServer, audit: AuditCapture) -> None:
    mw = RateLimitMiddleware(
        "100/minute", key="global", storage=own_redis.url, fail_open=True, storage_read_timeout=0.3
    )
    agent = _agent(mw)
    invoke(agent, {"messages": [("user", "x")]}, mode)
    sleeper = own_redis.slow(4)
    started = time.monotonic()
    invoke(agent, {"messages": [("user", "x")]}, mode)
    elapsed = time.monotonic() - started
    sleeper.join()
    assert elapsed < 3.0, elapsed
    assert audit.of("rate_limit.storage_error")[0]["decision"] == "allow"


@pytest.mark.redis
def test_redis_restart_on_the_same_port_recovers(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    mw = RateLimitMiddleware("2/minute", key="global", storage=own_redis.url)
    agent = _agent(mw)
    assert _admitted(agent, 1, mode) == 1
    own_redis.restart()  # the pooled connection is dead; state is gone (no persistence)
    assert _admitted(agent, 3, mode) == 2  # reconnected at once, counting again
    assert audit.of("rate_limit.storage_error") == []
