"""Durations the storage cannot keep are refused at construction; no script writes before it
has checked its arguments, so no key is ever left without a TTL."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError
from langgraph.checkpoint.memory import InMemorySaver

from guardrails import (
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    RateLimitMiddleware,
    ToolCallLimitMiddleware,
)
from guardrails._budget import SharedBudget
from guardrails._storage import MAX_DURATION, RedisConnector, parse_storage
from guardrails._windows import _HIT, _TAKE
from guardrails.errors import GuardrailConfigError
from guardrails.fallback import _ALLOW, _FAILURE
from guardrails.testing import ScriptedChatModel
from tests.support import invoke

HUGE = [1e300, 1e20, MAX_DURATION * 1.01, float("inf"), float("nan")]


@pytest.mark.parametrize("storage", ["memory://", "redis://127.0.0.1:1"])
@pytest.mark.parametrize("value", HUGE)
def test_durations_beyond_the_storage_are_refused(storage: str, value: float) -> None:
    with pytest.raises(GuardrailConfigError, match="cooldown must be"):
        ModelFallbackMiddleware(ScriptedChatModel(responses=[]), cooldown=value, storage=storage)
    for cls in (ModelCallLimitMiddleware, ToolCallLimitMiddleware):
        with pytest.raises(GuardrailConfigError, match="thread_storage_ttl must be"):
            cls(thread_limit=3, thread_storage=storage, thread_storage_ttl=value)


@pytest.mark.parametrize("value", [0, 0.0001, 0.5, -1])
def test_a_budget_ttl_below_a_second_is_refused(value: float) -> None:
    # a TTL of 0.0001 s became PEXPIRE 0 on Redis: the budget key vanished at once (no limit)
    with pytest.raises(GuardrailConfigError, match="thread_storage_ttl must be >= 1"):
        ModelCallLimitMiddleware(
            thread_limit=3, thread_storage="memory://", thread_storage_ttl=value
        )


def test_longest_durations_are_accepted() -> None:
    ModelFallbackMiddleware(ScriptedChatModel(responses=[]), cooldown=MAX_DURATION)
    ModelCallLimitMiddleware(
        thread_limit=3, thread_storage="memory://", thread_storage_ttl=MAX_DURATION
    )
    RateLimitMiddleware("1 per 99 year")


def test_rate_limit_windows_beyond_the_storage_are_refused() -> None:
    with pytest.raises(GuardrailConfigError, match="longer than the longest the storage keeps"):
        RateLimitMiddleware("1 per 1000 year")


@pytest.mark.redis
def test_long_valid_durations_work_on_redis(mode: str, redis_url: str) -> None:
    """The longest accepted durations are stored with their TTL on a real Redis."""
    import redis

    primary = ScriptedChatModel(
        responses=[ModelAPIError("down")] * 3, default="primary", model_name="p"
    )
    backup = ScriptedChatModel(responses=[], default="backup", model_name="b")
    agent = create_agent(
        primary,
        checkpointer=InMemorySaver(),
        middleware=[
            RateLimitMiddleware("5 per 99 year", key="global", storage=redis_url),
            ModelCallLimitMiddleware(
                thread_limit=2, thread_storage=redis_url, thread_storage_ttl=MAX_DURATION
            ),
            ModelFallbackMiddleware(
                backup, failure_threshold=1, cooldown=MAX_DURATION, storage=redis_url
            ),
        ],
    )
    config = {"configurable": {"thread_id": "t-long"}}
    assert invoke(agent, {"messages": [("user", "x")]}, mode, config)["messages"][-1].content == (
        "backup"
    )
    assert invoke(agent, {"messages": [("user", "x")]}, mode, config)["messages"][-1].content == (
        "backup"  # the circuit is open for 100 years
    )
    result = invoke(agent, {"messages": [("user", "x")]}, mode, config)
    assert "thread limit" in result["messages"][-1].content
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("guardrails:*")
    assert keys
    for key in keys:
        assert client.pttl(key) > 0, key  # every key expires


@pytest.mark.redis
@pytest.mark.parametrize(
    ("source", "nkeys", "args"),
    [
        (_TAKE, 1, [3, "1" + "0" * 303]),  # the old thread_storage_ttl=1e300
        (_TAKE, 1, [3, 0]),
        (_TAKE, 1, [3, -5]),
        (_TAKE, 1, [3, "nan"]),
        (_TAKE, 1, [3, 1.5]),
        (_TAKE, 1, ["x", 1000]),
        (_FAILURE, 3, [3, "1" + "0" * 303, 3_600_000, 0]),  # the old cooldown=1e300
        (_FAILURE, 3, [3, 1000, "1" + "0" * 304, 0]),
        (_FAILURE, 3, [0, 1000, 3_600_000, 0]),
        (_FAILURE, 3, [3, 1000, 3_600_000, 2]),
        (_FAILURE, 3, [3, 1000, 3_600_000]),
        (_ALLOW, 3, [3, "1" + "0" * 303]),
        (_HIT, 1, ["moving-window", 3, "1" + "0" * 303]),
        (_HIT, 1, ["fixed-window", 3, 0]),
        (_HIT, 1, ["sliding-window-counter", 3]),
        (_HIT, 1, ["leaky-bucket", 3, 1000]),
        (_HIT, 2, ["fixed-window", 3, 1000, 2, "inf"]),
    ],
)
def test_scripts_check_arguments_before_writing(
    redis_url: str, source: str, nkeys: int, args: list[Any]
) -> None:
    import redis

    connector = RedisConnector(parse_storage("s", redis_url))
    keys = [f"guardrails:test:{{k}}:{i}" for i in range(nkeys)]
    with pytest.raises(redis.exceptions.ResponseError, match="bad arguments"):
        connector.eval(source, keys, args)
    client = redis.Redis.from_url(redis_url)
    assert client.keys("*") == []  # nothing written, so nothing left without a TTL
    # the failure of the breaker: a count was on record before; still untouched
    client.set(keys[0], 2, px=60_000)
    with pytest.raises(redis.exceptions.ResponseError):
        connector.eval(source, keys, args)
    assert client.get(keys[0]) == b"2" and 0 < client.pttl(keys[0]) <= 60_000
    assert connector.health.failed_at is None  # a refused script is not an unreachable store


@pytest.mark.redis
def test_budget_ttl_is_rounded_up_never_to_zero(redis_url: str) -> None:
    import redis

    budget = SharedBudget("thread_storage", redis_url, ttl=1.0004)
    assert budget._engine.ttl_ms == 1001  # type: ignore[union-attr]
    io = budget._engine.io("g|t", 5)
    assert io.sync() == (True, 1)
    client = redis.Redis.from_url(redis_url)
    (key,) = client.keys("guardrails:budget:*")
    assert 0 < client.pttl(key) <= 1001


@pytest.mark.parametrize("value", [0, -1, 1e300, float("nan"), float("inf"), True, "60"])
def test_vault_ttl_within_what_redis_keeps(value: Any) -> None:
    from guardrails.pii.vault import RedisVault

    with pytest.raises(GuardrailConfigError, match="RedisVault ttl must be > 0 and <="):
        RedisVault("redis://127.0.0.1:1", ttl=value)


@pytest.mark.redis
@pytest.mark.parametrize("bad_at", [0, 1])
def test_a_batch_checks_every_steps_arguments_before_any_step_writes(
    redis_url: str, bad_at: int
) -> None:
    """The one script of a composed stack validates the arguments of each of its steps before
    the first one runs: a bad argument anywhere writes nothing at all."""
    import redis

    from guardrails._storage import Prefetch, _batch_call
    from guardrails._windows import HIT, TAKE

    redis.Redis.from_url(redis_url).flushall()
    good = [("moving-window", 3, 60_000), (3, 60_000)]
    bad = [("moving-window", 3, "1" + "0" * 303), (3, -5)]
    args = [bad[i] if i == bad_at else good[i] for i in range(2)]
    batch = [
        Prefetch(object(), None, HIT, ("guardrails:test:{a}:0",), args[0], None),  # type: ignore[arg-type]
        Prefetch(object(), None, TAKE, ("guardrails:test:{a}:1",), args[1], None),  # type: ignore[arg-type]
    ]
    source, keys, argv = _batch_call(batch)
    connector = RedisConnector(parse_storage("s", redis_url))
    with pytest.raises(redis.exceptions.ResponseError, match="bad arguments"):
        connector.eval(source, keys, argv)
    assert redis.Redis.from_url(redis_url).keys("*") == []
    ok = [
        Prefetch(p.owner, p.connector, p.step, p.keys, good[i], None) for i, p in enumerate(batch)
    ]
    connector.eval(*_batch_call(ok))  # the same batch with good arguments runs and writes
    assert len(redis.Redis.from_url(redis_url).keys("*")) == 2
