"""A composed stack's storage work in one round trip, with the same decisions.

Promise: in ``compose(rate limit, call limit with thread_storage, fallback)`` on one Redis, the
pre-call storage work of a model call is one Lua script (rate limit check-and-charge, budget
take, breaker allow, in that order, each only if the previous one admitted the call), and the
success path writes nothing else; decisions, audit events and stored state are exactly those of
the same middleware listed separately. Real Redis, sync and async, threads and event loops.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError
from langgraph.checkpoint.memory import InMemorySaver

from guardrails import (
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    RateLimitMiddleware,
    compose,
)
from guardrails.errors import RateLimitExceededError
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture, RedisServer
from tests.support import invoke

pytestmark = pytest.mark.redis


def _scripts(url: str) -> int:
    import redis

    stats = redis.Redis.from_url(url).info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


def _members(url: str, *, rate: str = "1000/minute", thread_limit: int = 1000) -> list[Any]:
    return [
        RateLimitMiddleware(rate, key="global", storage=url),
        ModelCallLimitMiddleware(thread_limit=thread_limit, thread_storage=url),
        ModelFallbackMiddleware(
            ScriptedChatModel(responses=[], default="backup", model_name="b"),
            storage=url,
            failure_threshold=2,
        ),
    ]


def _agent(middleware: list[Any], primary: Any = None) -> Any:
    primary = primary or ScriptedChatModel(responses=[], default="primary", model_name="p")
    return create_agent(primary, middleware=middleware, checkpointer=InMemorySaver())


def _cfg(thread: str = "t-1") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def test_one_round_trip_per_model_call(mode: str, redis_url: str) -> None:
    composed = _agent([compose(*_members(redis_url))])
    separate = _agent(_members(redis_url))
    for agent, expected in ((composed, 1), (separate, 3)):
        invoke(agent, {"messages": [("user", "warm")]}, mode, _cfg())
        before = _scripts(redis_url)
        for i in range(5):
            result = invoke(agent, {"messages": [("user", "x")]}, mode, _cfg(f"t-{i}"))
            assert result["messages"][-1].content == "primary"
        assert (_scripts(redis_url) - before) / 5 == expected


def _state(url: str) -> dict[str, Any]:
    """Every guardrails key: its value (counters, list lengths) and whether it expires."""
    import redis

    client = redis.Redis.from_url(url)
    out: dict[str, Any] = {}
    for key in sorted(client.keys("guardrails:*")):
        kind = client.type(key)
        value = client.llen(key) if kind == b"list" else client.get(key)
        out[key.decode()] = (value, client.pttl(key) > 0)
    return out


def _scenario(url: str, mode: str, wrap: bool, audit: AuditCapture) -> tuple[list[Any], Any]:
    """Rate limit 4/minute, budget 3 per thread, a primary failing twice: refusals of every
    kind, a fallback and an opened circuit."""
    import redis

    redis.Redis.from_url(url).flushall()
    audit.events.clear()
    primary = ScriptedChatModel(
        responses=["p1", ModelAPIError("503"), ModelAPIError("503")],
        default="primary",
        model_name="p",
    )
    members = _members(url, rate="4/minute", thread_limit=3)
    agent = _agent([compose(*members)] if wrap else members, primary)
    out: list[Any] = []
    for thread in ("a", "a", "a", "a", "b", "b"):
        try:
            out.append(invoke(agent, {"messages": [("user", "x")]}, mode, _cfg(thread)))
        except RateLimitExceededError as exc:
            out.append(type(exc).__name__)
    texts = [r if isinstance(r, str) else r["messages"][-1].content for r in out]
    return texts, (_state(url), [(e["event"], e.get("decision")) for e in audit.events])


def test_same_decisions_events_and_state_as_separate_middleware(
    mode: str, redis_url: str, audit: AuditCapture
) -> None:
    separate = _scenario(redis_url, mode, False, audit)
    composed = _scenario(redis_url, mode, True, audit)
    assert composed == separate
    texts, (state, events) = composed
    assert texts[:3] == ["p1", "backup", "backup"]  # two failures: the circuit opens
    assert "thread limit" in texts[3]  # thread a's 3 calls are spent (the rate was charged)
    assert texts[4:] == ["RateLimitExceededError"] * 2  # 4 per minute, whatever the thread
    assert ("fallback.circuit_open", None) in events
    assert all(expires for _, expires in state.values())


def test_a_refusal_stops_the_batch_before_the_next_guardrail(
    mode: str, redis_url: str, audit: AuditCapture
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    members = _members(redis_url, rate="1/minute")
    agent = _agent([compose(*members)])
    assert invoke(agent, {"messages": [("user", "x")]}, mode, _cfg())["messages"]
    breaker_failures = (
        "guardrails:breaker:{"
        + members[2]._key(ScriptedChatModel(responses=[], model_name="p"))
        + "}:failures"
    )
    client.set(breaker_failures, 5)  # an open circuit whose cooldown is over: next allow probes
    with pytest.raises(RateLimitExceededError):
        invoke(agent, {"messages": [("user", "x")]}, mode, _cfg())
    budget = [k for k in client.keys("guardrails:budget:*")]
    assert [client.get(k) for k in budget] == [b"1"]  # the refused call took no unit
    assert client.keys("guardrails:breaker:*:probe") == []  # and claimed no probe


def test_concurrent_calls_each_get_their_own_results(redis_url: str) -> None:
    """Many threads and event loops through one composed instance: per-user limits exact."""
    stack = compose(
        RateLimitMiddleware("2/minute", key="user", storage=redis_url),
        ModelCallLimitMiddleware(thread_limit=1000, thread_storage=redis_url),
        ModelFallbackMiddleware(
            ScriptedChatModel(responses=[], default="b", model_name="b"), storage=redis_url
        ),
    )
    agent = _agent([stack])
    admitted: dict[str, int] = {}
    lock = threading.Lock()

    def user_runs(user: str, use_async: bool) -> None:
        cfg = {"configurable": {"thread_id": f"t-{user}", "user_id": user}}

        async def arun() -> list[bool]:
            out = []
            for _ in range(4):
                try:
                    await agent.ainvoke({"messages": [("user", "x")]}, cfg)
                    out.append(True)
                except RateLimitExceededError:
                    out.append(False)
            return out

        if use_async:
            results = asyncio.run(arun())
        else:
            results = []
            for _ in range(4):
                try:
                    agent.invoke({"messages": [("user", "x")]}, cfg)
                    results.append(True)
                except RateLimitExceededError:
                    results.append(False)
        with lock:
            admitted[user] = sum(results)

    threads = [threading.Thread(target=user_runs, args=(f"u{i}", i % 2 == 0)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert admitted == {f"u{i}": 2 for i in range(8)}


# slow: waits out a paused real redis-server on the clock
@pytest.mark.slow
def test_paused_redis_composed_stack_decides_at_once(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    from guardrails._storage import StoreHealth, parse_storage

    members = [
        RateLimitMiddleware("1000/minute", key="global", storage=own_redis.url, fail_open=True),
        ModelCallLimitMiddleware(
            thread_limit=1000, thread_storage=own_redis.url, thread_storage_fail_open=True
        ),
        ModelFallbackMiddleware(
            ScriptedChatModel(responses=[], default="b", model_name="b"), storage=own_redis.url
        ),
    ]
    agent = _agent([compose(*members)])
    invoke(agent, {"messages": [("user", "x")]}, mode, _cfg())
    health = StoreHealth.of(parse_storage("s", own_redis.url))
    attempts = health.attempts
    own_redis.pause()
    try:
        for _ in range(5):
            result = invoke(agent, {"messages": [("user", "x")]}, mode, _cfg())
            assert result["messages"][-1].content == "primary"
    finally:
        own_redis.resume()
    assert health.attempts - attempts == 1  # the batch timed out once; then the latch decided
    assert len(audit.of("rate_limit.storage_error")) == 5
    assert len(audit.of("limit.storage_error")) == 5


def test_waiting_rate_limit_goes_on_with_its_own_round_trips(
    mode: str, redis_url: str, audit: AuditCapture
) -> None:
    """A refusal in the batch stops it; the rate limit waits and checks again on its own, and
    the guardrails after it then do their own round trip (nothing is used twice)."""
    import redis

    members = [
        RateLimitMiddleware("1/second", key="global", storage=redis_url, on_limit="wait"),
        *_members(redis_url)[1:],
    ]
    agent = _agent([compose(*members)])
    for _ in range(2):
        result = invoke(agent, {"messages": [("user", "x")]}, mode, _cfg())
        assert result["messages"][-1].content == "primary"
    (waited,) = audit.of("rate_limit.waited")
    assert waited["waited_s"] > 0
    client = redis.Redis.from_url(redis_url)
    (budget,) = client.keys("guardrails:budget:*")
    assert client.get(budget) == b"2"  # one unit per model call, not one per check


COMPOSED_WORKER = """
import sys
from langchain.agents import create_agent
from langgraph.checkpoint.memory import InMemorySaver
from guardrails import (ModelCallLimitMiddleware, ModelFallbackMiddleware, RateLimitMiddleware,
                        compose)
from guardrails.errors import RateLimitExceededError
from guardrails.testing import ScriptedChatModel
url = sys.argv[1]
stack = compose(
    RateLimitMiddleware("15/minute", key="global", storage=url),
    ModelCallLimitMiddleware(thread_limit=8, thread_storage=url),
    ModelFallbackMiddleware(ScriptedChatModel(responses=[], default="b", model_name="b"),
                            storage=url),
)
agent = create_agent(ScriptedChatModel(responses=[], default="p", model_name="p"),
                     middleware=[stack], checkpointer=InMemorySaver())
print("ready", flush=True)
sys.stdin.readline()
answered = refused = 0
for i in range(10):
    try:
        config = {"configurable": {"thread_id": f"shared-{i % 2}"}}
        result = agent.invoke({"messages": [("user", "x")]}, config)
        answered += result["messages"][-1].content == "p"
    except RateLimitExceededError:
        refused += 1
print(answered, refused, flush=True)
"""


@pytest.mark.slow  # other processes (pyproject: the slow group)
def test_limits_exact_across_processes_with_the_batch(redis_url: str) -> None:
    """3 processes x 10 calls through one composed stack: 15 per minute in all, 8 per shared
    thread in all, every refusal charged to nothing after it."""
    import subprocess
    import sys

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COMPOSED_WORKER, redis_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    counts = [tuple(map(int, p.communicate(timeout=120)[0].split())) for p in procs]
    answered = sum(a for a, _ in counts)
    refused = sum(r for _, r in counts)
    # the rate limit admits exactly 15 of the 30 calls; each admitted call takes one unit of its
    # thread's budget unless that thread's 8 are spent (then the run ends with the limit text)
    assert refused == 15, counts
    import redis

    client = redis.Redis.from_url(redis_url)
    budgets = [int(client.get(k)) for k in client.keys("guardrails:budget:*")]
    assert sum(budgets) == answered and all(b <= 8 for b in budgets), (budgets, counts)
    assert answered >= 15 - 7, counts  # at most 7 admitted calls can find their thread spent


def test_restarted_redis_reloads_the_batch_script(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    """After a restart the server has no scripts and the pooled connections are dead: the next
    call reconnects, loads the batch script again and decides normally (no storage error)."""
    agent = _agent([compose(*_members(own_redis.url, rate="3/minute"))])
    invoke(agent, {"messages": [("user", "x")]}, mode, _cfg())
    own_redis.restart()  # empty state: the window and the budget start again
    results = []
    for _ in range(4):
        try:
            results.append(invoke(agent, {"messages": [("user", "x")]}, mode, _cfg())["messages"])
        except RateLimitExceededError as exc:
            results.append(type(exc).__name__)
    assert results[3] == "RateLimitExceededError" and all(r != results[3] for r in results[:3])
    assert audit.of("rate_limit.storage_error") == [] and audit.of("limit.storage_error") == []
    # one script per call (the 4th refused inside it), plus one NOSCRIPT answer: the first call
    # after the restart tries EVALSHA, then sends the script with EVAL (once per server start)
    assert _scripts(own_redis.url) == 5
