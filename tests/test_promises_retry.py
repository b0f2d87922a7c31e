"""Promises of the retry middleware, stated at their edges (issue 29: careless edits must fail).

Why a retry stopped (the ``reason`` of ``retry.exhausted``), how long it waits (backoff, cap,
jitter, ``Retry-After`` as a minimum and as a reason to stop) and how many calls it makes, each
at the boundary where an off-by-one or a swapped label would show. Time is the policy's clock and
the middleware's sleeps, replaced as tests/test_retry.py does.
"""

from __future__ import annotations

from typing import Any

import pytest
import respx
from langchain.agents import create_agent

from guardrails.retry import ModelRetryMiddleware, ToolRetryMiddleware
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture
from tests.support import error, invoke, ok


class FakeTime:
    """The retry policy's clock and the middleware's sleeps: sleeping moves the clock."""

    def __init__(self, mw: Any) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        mw._retrying.clock = lambda: self.now

        def sleep(seconds: float) -> None:
            self.slept.append(seconds)
            self.now += seconds

        async def asleep(seconds: float) -> None:
            sleep(seconds)

        mw._sleep, mw._asleep = sleep, asleep


def _failing(n: int | None = None, then: str = "ok") -> ScriptedChatModel:
    if n is None:
        return ScriptedChatModel(responses=[], default=ConnectionError("down"))
    return ScriptedChatModel(responses=[ConnectionError("down")] * n, default=then)


def _run(mw: Any, model: ScriptedChatModel, mode: str) -> Any:
    return invoke(create_agent(model, middleware=[mw]), {"messages": [("user", "hi")]}, mode)


# ------------------------------------------------------------------ why it stopped


@pytest.mark.parametrize("on_failure", ["continue", "error"])
def test_running_out_of_retries_is_reported_as_max_retries(
    mode: str, audit: AuditCapture, on_failure: str
) -> None:
    mw = ModelRetryMiddleware(max_retries=2, jitter=False, on_failure=on_failure)  # type: ignore[arg-type]
    clock = FakeTime(mw)
    model = _failing()
    if on_failure == "error":
        with pytest.raises(ConnectionError):
            _run(mw, model, mode)
    else:
        last = _run(mw, model, mode)["messages"][-1]
        assert last.content == "Model call failed after 3 attempts with ConnectionError: down"
    assert model.calls == 3 and clock.slept == [1.0, 2.0]
    (event,) = audit.of("retry.exhausted")
    assert event["reason"] == "max_retries" and event["attempts"] == 3
    assert event["decision"] == on_failure
    assert [e["attempt"] for e in audit.of("retry.attempt")] == [1, 2]


def test_a_deadline_reached_on_the_last_allowed_retry_is_reported_as_max_elapsed(
    mode: str, audit: AuditCapture
) -> None:
    # attempt 1 fails at 0 s, sleeps 4; attempt 2 fails at 4 s, the next sleep (8 s) would end
    # past max_elapsed=10: the deadline stopped it, with max_retries=2 not yet used up
    mw = ModelRetryMiddleware(
        max_retries=2, initial_delay=4, backoff_factor=2, jitter=False, max_elapsed=10
    )
    clock = FakeTime(mw)
    model = _failing()
    _run(mw, model, mode)
    assert model.calls == 2 and clock.slept == [4.0]
    (event,) = audit.of("retry.exhausted")
    assert event["reason"] == "max_elapsed" and event["attempts"] == 2


def test_a_sleep_that_ends_exactly_at_the_deadline_still_happens(mode: str) -> None:
    mw = ModelRetryMiddleware(
        max_retries=5, initial_delay=5, backoff_factor=1, jitter=False, max_elapsed=10
    )
    clock = FakeTime(mw)
    model = _failing(1)
    assert _run(mw, model, mode)["messages"][-1].content == "ok"
    assert clock.slept == [5.0] and model.calls == 2


def test_zero_retries_make_one_call(mode: str, audit: AuditCapture) -> None:
    mw = ModelRetryMiddleware(max_retries=0)
    clock = FakeTime(mw)
    model = _failing()
    last = _run(mw, model, mode)["messages"][-1]
    assert last.content == "Model call failed after 1 attempt with ConnectionError: down"
    assert model.calls == 1 and clock.slept == []
    assert audit.of("retry.exhausted")[0]["reason"] == "max_retries"


# ------------------------------------------------------------------ how long it waits


def test_backoff_grows_by_the_factor_and_stops_at_max_delay(mode: str) -> None:
    mw = ModelRetryMiddleware(
        max_retries=4, initial_delay=1, backoff_factor=3, max_delay=10, jitter=False
    )
    clock = FakeTime(mw)
    assert _run(mw, _failing(4), mode)["messages"][-1].content == "ok"
    assert clock.slept == [1.0, 3.0, 9.0, 10.0]


def test_a_zero_backoff_factor_waits_the_initial_delay_capped_by_max_delay(mode: str) -> None:
    mw = ModelRetryMiddleware(
        max_retries=2, initial_delay=3, backoff_factor=0, max_delay=2, jitter=False
    )
    clock = FakeTime(mw)
    assert _run(mw, _failing(2), mode)["messages"][-1].content == "ok"
    assert clock.slept == [2.0, 2.0]


def test_jitter_stays_within_a_quarter_of_the_delay_and_varies(mode: str) -> None:
    mw = ModelRetryMiddleware(max_retries=40, initial_delay=1, backoff_factor=1, jitter=True)
    clock = FakeTime(mw)
    assert _run(mw, _failing(40), mode)["messages"][-1].content == "ok"
    assert len(clock.slept) == 40
    assert all(0.75 <= s <= 1.25 for s in clock.slept), clock.slept
    assert max(clock.slept) - min(clock.slept) > 0.2  # not a constant delay


def test_no_delay_stays_no_delay_with_jitter(mode: str, audit: AuditCapture) -> None:
    mw = ModelRetryMiddleware(max_retries=2, initial_delay=0, jitter=True)
    clock = FakeTime(mw)
    assert _run(mw, _failing(2), mode)["messages"][-1].content == "ok"
    assert clock.slept == []  # a zero sleep is skipped
    assert [e["delay_s"] for e in audit.of("retry.attempt")] == [0.0, 0.0]


# ------------------------------------------------------------------ Retry-After


def test_retry_after_is_a_minimum_not_a_replacement(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    openai_mock.post("/chat/completions").mock(
        side_effect=[error(429, {"Retry-After": "1"}), ok("done")]
    )
    mw = ModelRetryMiddleware(initial_delay=3, jitter=False)
    clock = FakeTime(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == "done"
    assert clock.slept == [3.0]  # our backoff is longer than what the server asked


def test_retry_after_equal_to_max_delay_is_still_waited(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    openai_mock.post("/chat/completions").mock(
        side_effect=[error(429, {"Retry-After": "10"}), ok("done")]
    )
    mw = ModelRetryMiddleware(initial_delay=0.5, max_delay=10, jitter=False)
    clock = FakeTime(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == "done"
    assert clock.slept == [10.0]
    (attempt,) = audit.of("retry.attempt")
    assert attempt["retry_after_s"] == 10.0 and attempt["delay_s"] == 10.0
    assert attempt["status"] == 429
    assert audit.of("retry.exhausted") == []


def test_retry_after_ignored_when_not_respected(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    openai_mock.post("/chat/completions").mock(
        side_effect=[error(429, {"Retry-After": "120"}), ok("done")]
    )
    mw = ModelRetryMiddleware(
        initial_delay=0.5, max_delay=10, jitter=False, respect_retry_after=False
    )
    clock = FakeTime(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == "done"
    assert clock.slept == [0.5]
    assert audit.of("retry.exhausted") == []


# ------------------------------------------------------------------ tools


def test_tool_exhaustion_is_reported_with_its_tool_and_reason(
    mode: str, audit: AuditCapture
) -> None:
    from langchain_core.messages import AIMessage, ToolMessage

    from guardrails.testing import tool_call
    from tests.support import tool

    calls: list[str] = []

    @tool
    def flaky(q: str) -> str:
        """Always fails."""
        calls.append(q)
        raise ConnectionError("tool down")

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("flaky", {"q": "a"})]), "done"]
    )
    mw = ToolRetryMiddleware(max_retries=1, jitter=False, initial_delay=2)
    clock = FakeTime(mw)
    result = invoke(
        create_agent(model, tools=[flaky], middleware=[mw]), {"messages": [("user", "x")]}, mode
    )
    assert len(calls) == 2 and clock.slept == [2.0]
    (message,) = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert message.status == "error"
    (event,) = audit.of("retry.exhausted")
    assert event["reason"] == "max_retries" and event["tool"] == "flaky"
    assert event["attempts"] == 2 and event["decision"] == "continue"


def test_by_default_delays_are_jittered_and_retry_after_is_respected(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    mw = ModelRetryMiddleware(max_retries=30, initial_delay=1, backoff_factor=1)
    clock = FakeTime(mw)
    assert _run(mw, _failing(30), mode)["messages"][-1].content == "ok"
    assert len(set(clock.slept)) > 1 and all(0.75 <= s <= 1.25 for s in clock.slept)

    openai_mock.post("/chat/completions").mock(
        side_effect=[error(429, {"Retry-After": "7"}), ok("done")]
    )
    plain = ModelRetryMiddleware(initial_delay=0.1)
    other = FakeTime(plain)
    agent = create_agent(chat_openai(), middleware=[plain])
    assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == "done"
    assert other.slept == [7.0]


def test_tool_retry_defaults_are_the_same(mode: str) -> None:
    from langchain_core.messages import AIMessage

    from guardrails.testing import tool_call
    from tests.support import tool

    attempts: list[str] = []

    @tool
    def flaky(q: str) -> str:
        """Fails 20 times."""
        attempts.append(q)
        if len(attempts) <= 20:
            raise ConnectionError("tool down")
        return "fine"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("flaky", {"q": "a"})]), "done"]
    )
    mw = ToolRetryMiddleware(max_retries=20, initial_delay=1, backoff_factor=1)
    clock = FakeTime(mw)
    invoke(create_agent(model, tools=[flaky], middleware=[mw]), {"messages": [("user", "x")]}, mode)
    assert len(attempts) == 21
    assert len(set(clock.slept)) > 1 and all(0.75 <= s <= 1.25 for s in clock.slept)


def test_a_tool_retry_respects_retry_after_by_default(mode: str, audit: AuditCapture) -> None:
    import httpx
    from langchain_core.messages import AIMessage

    from guardrails.testing import tool_call
    from tests.support import tool

    attempts: list[str] = []

    @tool
    def api(q: str) -> str:
        """Calls an API that is rate limited once."""
        attempts.append(q)
        if len(attempts) == 1:
            request = httpx.Request("GET", "http://api.test/x")
            response = httpx.Response(429, headers={"Retry-After": "7"}, request=request)
            raise httpx.HTTPStatusError("429", request=request, response=response)
        return "fine"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("api", {"q": "a"})]), "done"]
    )
    mw = ToolRetryMiddleware(initial_delay=0.1)
    clock = FakeTime(mw)
    invoke(create_agent(model, tools=[api], middleware=[mw]), {"messages": [("user", "x")]}, mode)
    assert len(attempts) == 2 and clock.slept == [7.0]
    (event,) = audit.of("retry.attempt")
    assert event["retry_after_s"] == 7.0 and event["status"] == 429 and event["tool"] == "api"
