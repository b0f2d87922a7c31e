"""Promises of the limits, stated at their edges (issue 29: careless edits must fail a test).

Each test names the promise a user relies on; the careless edits it guards against are the kinds a
hand-made review tries: an off-by-one at a window's edge, a threshold +/- 1, a skipped check, a
swapped fail-open default. Time is the middleware's clock (``_clock``, as tests/test_rate_limits.py
does), so the edges are exact, not approximately slept.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from guardrails.call_limits import ModelCallLimitMiddleware, ToolCallLimitMiddleware
from guardrails.errors import RateLimitExceededError
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool

T0 = 1_000_020.0  # the start of an aligned minute (1_000_020 = 16_667 x 60)


@tool
def search(q: str) -> str:
    """Search."""
    return f"found {q}"


class Clock:
    """The rate limiter's clock and its sleeps: sleeping moves time on, nothing waits."""

    def __init__(self, mw: RateLimitMiddleware, now: float = T0) -> None:
        self.now = now
        self.slept: list[float] = []
        mw._clock = lambda: self.now

        def sleep(seconds: float) -> None:
            self.slept.append(seconds)
            self.now += seconds

        async def asleep(seconds: float) -> None:
            sleep(seconds)

        mw._sleep = sleep  # type: ignore[method-assign]
        mw._asleep = asleep  # type: ignore[method-assign]


def _agent(mw: Any, model: ScriptedChatModel | None = None, **kwargs: Any) -> Any:
    return create_agent(model or ScriptedChatModel(default="hi"), middleware=[mw], **kwargs)


def _call(agent: Any, mode: str) -> float | None:
    """None when the call is admitted, else the refusal's ``reset_at``."""
    try:
        invoke(agent, {"messages": [("user", "x")]}, mode)
    except RateLimitExceededError as exc:
        assert exc.reset_at is not None
        return exc.reset_at
    return None


# ------------------------------------------------------------------ window edges (rate limits)


def test_a_moving_window_frees_a_slot_exactly_one_window_after_the_call(
    mode: str, audit: AuditCapture
) -> None:
    mw = RateLimitMiddleware("2/minute", key="global", strategy="moving-window")
    clock = Clock(mw, T0 + 7.0)
    agent = _agent(mw)
    assert _call(agent, mode) is None  # t0 + 7
    clock.now += 1.0
    assert _call(agent, mode) is None  # t0 + 8: the limit is 2, both admitted
    clock.now = T0 + 7.0 + 59.999
    assert _call(agent, mode) == pytest.approx(T0 + 67.0)  # the first call frees its slot then
    (event,) = audit.of("rate_limit.exceeded")
    assert event["reset_in_s"] == pytest.approx(0.001, abs=1e-6)
    clock.now = T0 + 67.0  # exactly one window after the first call
    assert _call(agent, mode) is None
    assert _call(agent, mode) == pytest.approx(T0 + 68.0)  # the second call's slot is next


def test_a_fixed_window_resets_at_its_aligned_edge(mode: str) -> None:
    mw = RateLimitMiddleware("2/minute", key="global", strategy="fixed-window")
    clock = Clock(mw, T0 + 30.0)
    agent = _agent(mw)
    assert _call(agent, mode) is None
    assert _call(agent, mode) is None
    clock.now = T0 + 59.999
    assert _call(agent, mode) == pytest.approx(T0 + 60.0)
    clock.now = T0 + 60.0  # the next aligned minute: a fresh count of 2
    assert _call(agent, mode) is None
    assert _call(agent, mode) is None
    assert _call(agent, mode) == pytest.approx(T0 + 120.0)


def test_a_sliding_window_weighs_the_previous_window_by_the_time_left(mode: str) -> None:
    mw = RateLimitMiddleware("2/minute", key="global", strategy="sliding-window-counter")
    clock = Clock(mw, T0)
    agent = _agent(mw)
    assert _call(agent, mode) is None
    assert _call(agent, mode) is None
    clock.now = T0 + 60.0  # the previous minute's 2 calls weigh in whole
    assert _call(agent, mode) == pytest.approx(T0 + 120.0)
    clock.now = T0 + 90.0  # half of the minute gone: they weigh 1, so one more fits
    assert _call(agent, mode) is None
    assert _call(agent, mode) == pytest.approx(T0 + 120.0)
    clock.now = T0 + 180.0  # two windows later nothing of the first one weighs
    assert _call(agent, mode) is None
    clock.now = T0 + 240.0  # one window on: 1 call weighs 1, one more fits
    assert _call(agent, mode) is None
    assert _call(agent, mode) is not None
    clock.now = T0 + 360.0  # two windows on: nothing weighs, this window fills up (2)
    assert _call(agent, mode) is None
    assert _call(agent, mode) is None
    clock.now = T0 + 480.0  # two windows later: the full one weighs nothing, 2 fit, not 3
    assert [_call(agent, mode) is None for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
def test_each_limit_admits_exactly_its_amount(mode: str, strategy: str) -> None:
    mw = RateLimitMiddleware("3/minute;5/hour", key="user", strategy=strategy)  # type: ignore[arg-type]
    clock = Clock(mw, T0)
    agent = _agent(mw)
    config = {"configurable": {"user_id": "u"}}

    def admitted(n: int) -> int:
        ok = 0
        for _ in range(n):
            try:
                invoke(agent, {"messages": [("user", "x")]}, mode, config)
                ok += 1
            except RateLimitExceededError:
                pass
        return ok

    assert admitted(5) == 3
    clock.now = T0 + 180.0  # the minute is over (two for the sliding counter), the hour is not
    assert admitted(5) == 2  # the hour's 5: refused calls were charged to neither limit


# ------------------------------------------------------------------ waiting (rate limits)


def test_wait_waits_up_to_exactly_max_wait_and_no_longer(mode: str, audit: AuditCapture) -> None:
    mw = RateLimitMiddleware(
        "1/minute", key="global", strategy="fixed-window", on_limit="wait", max_wait=60
    )
    clock = Clock(mw, T0)
    agent = _agent(mw)
    assert _call(agent, mode) is None
    assert _call(agent, mode) is None  # the window frees in exactly 60 s = max_wait: it waits
    assert clock.slept == [pytest.approx(60.0)]
    (waited,) = audit.of("rate_limit.waited")
    assert waited["waited_s"] == pytest.approx(60.0)

    short = RateLimitMiddleware(
        "1/minute", key="global", strategy="fixed-window", on_limit="wait", max_wait=59.99
    )
    other = Clock(short, T0)
    agent = _agent(short)
    assert _call(agent, mode) is None
    assert _call(agent, mode) == pytest.approx(T0 + 60.0)  # 60 s > 59.99: refused at once
    assert other.slept == []
    refused = audit.of("rate_limit.exceeded")[-1]
    assert refused["decision"] == "error" and refused["reset_in_s"] == pytest.approx(60.0)


def test_max_wait_bounds_all_the_waits_of_one_call_together(mode: str) -> None:
    # a sliding window still weighs the previous minute when it ends: a call may have to wait
    # twice, and the two waits together must fit in max_wait
    mw = RateLimitMiddleware(
        "1/minute", key="global", strategy="sliding-window-counter", on_limit="wait", max_wait=100
    )
    clock = Clock(mw, T0)
    agent = _agent(mw)
    assert _call(agent, mode) is None
    assert _call(agent, mode) == pytest.approx(T0 + 120.0)  # 60 s waited, 60 more would be 120
    assert clock.slept == [pytest.approx(60.0)]


def test_wait_without_max_wait_waits_as_long_as_the_window_needs(mode: str) -> None:
    mw = RateLimitMiddleware("1/hour", key="global", strategy="fixed-window", on_limit="wait")
    clock = Clock(mw, 3600.0 * 300)
    agent = _agent(mw)
    assert _call(agent, mode) is None
    assert _call(agent, mode) is None
    assert clock.slept == [pytest.approx(3600.0)]


# ------------------------------------------------------------------ call limits at their edges


def _looping(n: int = 50) -> ScriptedChatModel:
    step = AIMessage("", tool_calls=[tool_call("search", {"q": "x"})])
    return ScriptedChatModel(default=step)


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_a_run_limit_of_n_makes_exactly_n_model_calls(
    mode: str, limit: int, audit: AuditCapture
) -> None:
    model = _looping()
    agent = create_agent(
        model, tools=[search], middleware=[ModelCallLimitMiddleware(run_limit=limit)]
    )
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    assert model.calls == limit
    assert result["messages"][-1].content == (
        f"Model call limits exceeded: run limit ({limit}/{limit})"
    )
    (event,) = audit.of("limit.exceeded")
    assert (event["count"], event["limit"], event["scope"]) == (limit, limit, "run")


def test_a_token_limit_refuses_the_call_after_the_one_that_reaches_it(mode: str) -> None:
    usage = {"input_tokens": 6, "output_tokens": 4, "total_tokens": 10}
    step = AIMessage("", tool_calls=[tool_call("search", {"q": "x"})], usage_metadata=usage)
    model = ScriptedChatModel(default=step)
    agent = create_agent(
        model, tools=[search], middleware=[ModelCallLimitMiddleware(run_token_limit=30)]
    )
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    assert model.calls == 3  # 10, 20, 30: the 30th token reaches the limit, the 4th is refused
    assert result["messages"][-1].content == ("Model call limits exceeded: run token limit (30/30)")


def test_answers_without_usage_count_no_tokens(mode: str) -> None:
    steps: list[Any] = [AIMessage("", tool_calls=[tool_call("search", {"q": "x"})])] * 3
    model = ScriptedChatModel(responses=[*steps, "done"])
    agent = create_agent(
        model, tools=[search], middleware=[ModelCallLimitMiddleware(run_token_limit=1)]
    )
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    assert model.calls == 4 and result["messages"][-1].content == "done"


@pytest.mark.parametrize("scope", ["run", "thread"])
@pytest.mark.parametrize(("limit", "batch"), [(1, 2), (2, 2), (2, 3), (3, 5)])
def test_a_tool_batch_runs_exactly_as_many_calls_as_the_limit_leaves(
    mode: str, limit: int, batch: int, scope: str, audit: AuditCapture
) -> None:
    ran: list[str] = []

    @tool
    def count(q: str) -> str:
        """Count."""
        ran.append(q)
        return q

    calls = [tool_call("count", {"q": str(i)}) for i in range(batch)]
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=calls), "done"])
    from langgraph.checkpoint.memory import InMemorySaver

    mw = ToolCallLimitMiddleware(**{f"{scope}_limit": limit})
    agent = create_agent(model, tools=[count], middleware=[mw], checkpointer=InMemorySaver())
    invoke(agent, {"messages": [("user", "go")]}, mode, {"configurable": {"thread_id": "t"}})
    assert sorted(ran) == [str(i) for i in range(min(limit, batch))]
    events = audit.of("limit.exceeded")
    if batch > limit:
        (event,) = events
        assert event["blocked"] == batch - limit and event["limit"] == limit
        assert event["count"] == batch and event["scope"] == scope
    else:
        assert events == []


# ------------------------------------------------------------------ the documented defaults


def _closed_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}"  # nothing listens there: connection refused at once


def test_by_default_a_rate_limit_refuses_when_its_store_is_unreachable(
    mode: str, audit: AuditCapture
) -> None:
    from guardrails.errors import RateLimitStorageError

    model = ScriptedChatModel(default="hi")
    agent = _agent(RateLimitMiddleware("5/minute", key="global", storage=_closed_port()), model)
    with pytest.raises(RateLimitStorageError, match="fail_open=False"):
        invoke(agent, {"messages": [("user", "x")]}, mode)
    assert model.calls == 0
    (event,) = audit.of("rate_limit.storage_error")
    assert event["decision"] == "deny" and event["storage"] == "redis"


@pytest.mark.parametrize("kind", ["model", "tool"])
def test_by_default_a_shared_thread_budget_refuses_when_its_store_is_unreachable(
    mode: str, kind: str, audit: AuditCapture
) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from guardrails.errors import RateLimitStorageError

    ran: list[str] = []

    @tool
    def work(q: str) -> str:
        """Work."""
        ran.append(q)
        return q

    uri = _closed_port()
    mw: Any = (
        ModelCallLimitMiddleware(thread_limit=5, thread_storage=uri)
        if kind == "model"
        else ToolCallLimitMiddleware(thread_limit=5, thread_storage=uri)
    )
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("work", {"q": "a"})]), "done"]
    )
    agent = create_agent(model, tools=[work], middleware=[mw], checkpointer=InMemorySaver())
    with pytest.raises(RateLimitStorageError, match="thread_storage_fail_open=False"):
        invoke(agent, {"messages": [("user", "x")]}, mode, {"configurable": {"thread_id": "t"}})
    assert ran == [] and model.calls == (0 if kind == "model" else 1)
    (event,) = audit.of("limit.storage_error")
    assert event["decision"] == "deny"
