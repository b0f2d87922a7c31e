"""The storage health latch: one store, one health, shared by every guardrail on it.

Promise: after a timeout or connection error the store counts as unreachable for ``latch``
seconds (or until a background ping succeeds); meanwhile every guardrail on that store decides at
once, open or closed as configured, audited, without sending a command. Real faults: a real
redis-server paused (SIGSTOP), stopped, slowed (``DEBUG SLEEP``) and restarted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain.agents import create_agent
from langgraph.checkpoint.memory import InMemorySaver

from guardrails import ModelCallLimitMiddleware, ModelFallbackMiddleware, RateLimitMiddleware
from guardrails._storage import StorageUnreachableError, StoreHealth, parse_storage
from guardrails.errors import GuardrailConfigError, RateLimitStorageError
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture, RedisServer
from tests.support import wait_recovered

pytestmark = pytest.mark.redis

CALLS = 10


def _stack(url: str, *, fail_open: bool = True, **storage: Any) -> list[Any]:
    return [
        RateLimitMiddleware(
            "1000/minute", key="global", storage=url, fail_open=fail_open, **storage
        ),
        ModelCallLimitMiddleware(
            thread_limit=1000,
            thread_storage=url,
            thread_storage_fail_open=fail_open,
            **{f"thread_{k}": v for k, v in storage.items()},
        ),
        ModelFallbackMiddleware(
            ScriptedChatModel(responses=[], default="backup", model_name="b"),
            storage=url,
            **storage,
        ),
    ]


def _run(agent: Any, mode: str, calls: int = CALLS) -> list[Any]:
    """``calls`` model calls on one thread (one event loop in async); results or errors."""
    config = {"configurable": {"thread_id": "t-latch"}}
    payload = {"messages": [("user", "x")]}

    def one_sync() -> Any:
        try:
            return agent.invoke(payload, config)["messages"][-1].content
        except Exception as exc:
            return exc

    async def all_async() -> list[Any]:
        out: list[Any] = []
        for _ in range(calls):
            try:
                out.append((await agent.ainvoke(payload, config))["messages"][-1].content)
            except Exception as exc:
                out.append(exc)
        return out

    if mode == "sync":
        return [one_sync() for _ in range(calls)]
    return asyncio.run(all_async())


def _health(url: str) -> StoreHealth:
    return StoreHealth.of(parse_storage("storage", url))


def test_paused_redis_costs_one_timeout_not_one_per_command(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    primary = ScriptedChatModel(responses=[], default="primary", model_name="p")
    agent = create_agent(primary, middleware=_stack(own_redis.url), checkpointer=InMemorySaver())
    assert _run(agent, mode, 1) == ["primary"]  # pooled connections exist
    health = _health(own_redis.url)
    attempts, skipped = health.attempts, health.skipped
    own_redis.pause()
    try:
        started = time.monotonic()
        results = _run(agent, mode)
        elapsed = time.monotonic() - started
    finally:
        own_redis.resume()
    assert results == ["primary"] * CALLS  # every guardrail failed open, every call answered
    # 10 calls x (rate limit + budget + breaker allow + breaker success) = 40 commands; one of
    # them waited for the read timeout and tripped the latch, the rest were decided at once
    sent = health.attempts - attempts
    assert sent == 1, sent
    assert health.skipped - skipped == 3 * CALLS - 1 + CALLS  # allow fails: success is tried
    assert health.trips == 1
    assert elapsed < 10.0, elapsed  # sanity only (one read timeout of 1 s); figures in bench/
    # audited: one event per guardrail per call, the latched ones name the latch
    assert len(audit.of("rate_limit.storage_error")) == CALLS
    assert len(audit.of("limit.storage_error")) == CALLS
    assert len(audit.of("fallback.storage_error")) == CALLS
    errors = [e["error"] for e in audit.of("rate_limit.storage_error")]
    assert errors[0] == "TimeoutError" and set(errors[1:]) == {"StorageUnreachableError"}
    assert {e["decision"] for e in audit.of("rate_limit.storage_error")} == {"allow"}


# slow: waits out a paused real redis-server on the clock
@pytest.mark.slow
def test_latched_store_refuses_at_once_when_failing_closed(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    primary = ScriptedChatModel(responses=[], default="primary", model_name="p")
    agent = create_agent(
        primary, middleware=_stack(own_redis.url, fail_open=False), checkpointer=InMemorySaver()
    )
    assert _run(agent, mode, 1) == ["primary"]
    health = _health(own_redis.url)
    attempts = health.attempts
    own_redis.pause()
    try:
        results = _run(agent, mode)
    finally:
        own_redis.resume()
    assert all(isinstance(r, RateLimitStorageError) for r in results), results
    assert primary.calls == 1  # nothing let through while the store was unreachable
    assert health.attempts - attempts == 1
    events = audit.of("rate_limit.storage_error")
    assert len(events) == CALLS and {e["decision"] for e in events} == {"deny"}
    assert {e["error"] for e in events[1:]} == {"StorageUnreachableError"}


def test_background_ping_clears_the_latch_when_redis_answers_again(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    primary = ScriptedChatModel(responses=[], default="primary", model_name="p")
    agent = create_agent(
        primary,
        middleware=_stack(own_redis.url, storage_read_timeout=0.3, storage_latch=60),
        checkpointer=InMemorySaver(),
    )
    _run(agent, mode, 1)
    health = _health(own_redis.url)
    own_redis.pause()
    try:
        _run(agent, mode, 2)
        assert health.failed_at is not None
    finally:
        own_redis.resume()
    wait_recovered(own_redis.url)  # long before the 60 s latch ends
    audit.events.clear()
    attempts = health.attempts
    assert _run(agent, mode, 3) == ["primary"] * 3
    assert audit.of("rate_limit.storage_error") == []
    assert health.attempts - attempts == 3 * 3  # rate limit, budget, breaker allow per call


def test_stopped_then_restarted_redis(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    primary = ScriptedChatModel(responses=[], default="primary", model_name="p")
    agent = create_agent(primary, middleware=_stack(own_redis.url), checkpointer=InMemorySaver())
    _run(agent, mode, 1)
    health = _health(own_redis.url)
    attempts = health.attempts
    own_redis.stop()
    try:
        assert _run(agent, mode, 5) == ["primary"] * 5
        assert health.attempts - attempts == 1  # connection refused once, then latched
    finally:
        own_redis.start()
    wait_recovered(own_redis.url)
    audit.events.clear()
    assert _run(agent, mode, 2) == ["primary"] * 2
    assert audit.of("rate_limit.storage_error") == []


# slow: waits out a slowed real redis-server on the clock
@pytest.mark.slow
def test_slow_redis_trips_the_latch(mode: str, own_redis: RedisServer) -> None:
    primary = ScriptedChatModel(responses=[], default="primary", model_name="p")
    agent = create_agent(
        primary,
        middleware=_stack(own_redis.url, storage_read_timeout=0.3),
        checkpointer=InMemorySaver(),
    )
    _run(agent, mode, 1)
    health = _health(own_redis.url)
    attempts = health.attempts
    sleeper = own_redis.slow(2)
    assert _run(agent, mode, 4) == ["primary"] * 4
    assert health.attempts - attempts == 1
    sleeper.join(10)
    wait_recovered(own_redis.url)


def test_interval_end_lets_one_probe_through(own_redis: RedisServer) -> None:
    """When the interval ends one command goes to the store; concurrent ones still decide at
    once until it answers."""
    spec = parse_storage("storage", own_redis.url, read_timeout=0.5, latch=0.3)
    from guardrails._storage import RedisConnector

    connector = RedisConnector(spec)
    connector.eval("return 1", [], [])
    health = connector.health
    own_redis.pause()
    try:
        with pytest.raises(Exception) as first:
            connector.eval("return 1", [], [])
        assert not isinstance(first.value, StorageUnreachableError)
        with pytest.raises(StorageUnreachableError):
            connector.eval("return 1", [], [])
        time.sleep(0.35)  # the interval is over; the background ping is stuck on the pause
        import threading

        attempts = health.attempts
        barrier = threading.Barrier(6)
        kinds: list[str] = []

        def call() -> None:
            barrier.wait()
            try:
                connector.eval("return 1", [], [])
            except StorageUnreachableError:
                kinds.append("latched")
            except Exception:
                kinds.append("sent")

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        own_redis.resume()
    assert health.attempts - attempts == 1
    assert sorted(kinds) == ["latched"] * 5 + ["sent"]


def test_latch_off_sends_every_command(own_redis: RedisServer) -> None:
    from guardrails._storage import RedisConnector

    connector = RedisConnector(parse_storage("storage", own_redis.url, read_timeout=0.2, latch=0))
    connector.eval("return 1", [], [])
    own_redis.pause()
    try:
        for _ in range(3):
            with pytest.raises(Exception) as info:
                connector.eval("return 1", [], [])
            assert not isinstance(info.value, StorageUnreachableError)
    finally:
        own_redis.resume()
    assert connector.health.failed_at is None


def test_every_guardrail_on_one_store_shares_one_health(redis_url: str) -> None:
    stack = _stack(redis_url, storage_read_timeout=0.7)
    other = RateLimitMiddleware("1/second", storage=redis_url, storage_connect_timeout=0.1)
    healths = {
        id(stack[0]._windows.connector.health),
        id(stack[1]._budget._engine.connector.health),
        id(stack[2]._breaker._connector.health),
        id(other._windows.connector.health),
    }
    assert len(healths) == 1
    # same URI and timeouts: one client and pool too
    assert stack[0]._windows.connector is stack[2]._breaker._connector


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "5", True, 1e9])
def test_latch_setting_is_checked(value: Any) -> None:
    with pytest.raises(GuardrailConfigError, match="storage_latch must be"):
        RateLimitMiddleware("1/second", storage_latch=value)
    with pytest.raises(GuardrailConfigError, match="thread_storage_latch must be"):
        ModelCallLimitMiddleware(
            thread_limit=1, thread_storage="memory://", thread_storage_latch=value
        )
    with pytest.raises(GuardrailConfigError, match="storage_latch must be"):
        ModelFallbackMiddleware(ScriptedChatModel(responses=[]), storage_latch=value)


LATCH_WORKER = """
import json, sys
from langchain.agents import create_agent
from langgraph.checkpoint.memory import InMemorySaver
from guardrails import ModelCallLimitMiddleware, ModelFallbackMiddleware, RateLimitMiddleware
from guardrails._storage import StoreHealth, parse_storage
from guardrails.testing import ScriptedChatModel
url = sys.argv[1]
stack = [
    RateLimitMiddleware("1000/minute", key="global", storage=url, fail_open=True),
    ModelCallLimitMiddleware(thread_limit=1000, thread_storage=url, thread_storage_fail_open=True),
    ModelFallbackMiddleware(ScriptedChatModel(responses=[], default="b", model_name="b"),
                            storage=url),
]
agent = create_agent(ScriptedChatModel(responses=[], default="p", model_name="p"),
                     middleware=stack, checkpointer=InMemorySaver())
config = {"configurable": {"thread_id": "t"}}
agent.invoke({"messages": [("user", "x")]}, config)
health = StoreHealth.of(parse_storage("s", url))
attempts = health.attempts
print("ready", flush=True)
sys.stdin.readline()  # the test pauses Redis, then says go
answers = [agent.invoke({"messages": [("user", "x")]}, config)["messages"][-1].content
           for _ in range(5)]
print(json.dumps({"answers": answers, "sent": health.attempts - attempts}), flush=True)
"""


@pytest.mark.slow  # other processes (pyproject: the slow group)
def test_each_process_pays_one_timeout(own_redis: RedisServer) -> None:
    """The latch is per process: two processes on one paused Redis each send one command."""
    import json
    import subprocess
    import sys

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LATCH_WORKER, own_redis.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        own_redis.pause()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        done = [p.communicate(timeout=60) for p in procs]
        outputs = [json.loads(out.strip() or "null") for out, _ in done]
        assert None not in outputs, [err[-2000:] for _, err in done]
    finally:
        own_redis.resume()
    for out in outputs:
        assert out == {"answers": ["p"] * 5, "sent": 1}


def test_event_loops_in_threads_share_the_latch(own_redis: RedisServer) -> None:
    """Loops in several threads each have their own client, and one latch: once a command
    timed out, every loop decides at once."""
    import threading

    primary = ScriptedChatModel(responses=[], default="primary", model_name="p")
    agent = create_agent(primary, middleware=_stack(own_redis.url), checkpointer=InMemorySaver())
    _run(agent, "async", 1)
    health = _health(own_redis.url)
    attempts, skipped = health.attempts, health.skipped
    results: list[Any] = []
    own_redis.pause()
    try:
        threads = [
            threading.Thread(target=lambda: results.extend(_run(agent, "async", 3)))
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        own_redis.resume()
    assert results == ["primary"] * 9
    sent = health.attempts - attempts
    # the commands in flight when the first timed out time out too (at most one per loop)
    assert 1 <= sent <= 3, sent
    assert health.skipped - skipped == 9 * 4 - sent


def test_a_store_still_down_after_its_interval_is_no_longer_pinged() -> None:
    """The background ping runs only while the store is latched: once the interval is over with
    the store still down it stops (the next call probes), instead of pinging a dead server for
    the life of the process."""
    from guardrails._storage import PING_EVERY, RedisConnector
    from tests.conftest import _free_port

    spec = parse_storage("storage", f"redis://127.0.0.1:{_free_port()}", latch=0.3)
    connector = RedisConnector(spec)
    health = connector.health
    with pytest.raises(Exception) as first:  # nothing listens: refused at once
        connector.eval("return 1", [], [])
    assert not isinstance(first.value, StorageUnreachableError)
    assert health.failed_at is not None and health._pinging
    deadline = time.monotonic() + 0.3 + 10 * PING_EVERY
    while health._pinging and time.monotonic() < deadline:
        time.sleep(PING_EVERY / 2)
    assert not health._pinging
    assert health.failed_at is not None  # still down: the next call is the probe


def test_the_background_ping_paces_itself_and_ends_quietly() -> None:
    """While latched, the store is pinged once every ``PING_EVERY`` (not in a tight loop); a
    latch cleared by another caller ends the ping without an error in its thread."""
    import threading

    from guardrails._storage import PING_EVERY

    pings: list[float] = []

    def down() -> None:
        pings.append(time.monotonic())
        raise ConnectionError("down")

    errors: list[Any] = []
    previous = threading.excepthook
    threading.excepthook = errors.append
    try:
        paced = StoreHealth()
        paced.failed(ConnectionError("down"), 0.5, down)
        cleared = StoreHealth()
        cleared.failed(ConnectionError("down"), 60.0, down)
        cleared.ok()  # another caller saw the store answer
        deadline = time.monotonic() + 0.5 + 10 * PING_EVERY
        while (paced._pinging or cleared._pinging) and time.monotonic() < deadline:
            time.sleep(PING_EVERY / 2)
    finally:
        threading.excepthook = previous
    assert not paced._pinging and not cleared._pinging
    assert errors == []
    assert 1 <= len(pings) <= 0.5 / PING_EVERY + 1, len(pings)
