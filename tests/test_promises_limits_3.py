"""Limits promises at their edges (issue 29, the lead's outsider edits and seed-11 survivors).

* a provider that reports only input and output tokens still spends a token budget;
* a local clock ahead of the shared storage's (Redis server time decides the windows) never
  makes a refusal report a negative reset time, nor a wait longer than ``max_wait``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from guardrails.call_limits import ModelCallLimitMiddleware
from guardrails.errors import RateLimitExceededError
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool


@tool
def search(q: str) -> str:
    """Search."""
    return f"found {q}"


def _parts_only(messages: Any) -> AIMessage:
    """An answer whose usage names the parts only (set after construction, as an integration
    that fills usage in later may): no ``total_tokens``."""
    answer = AIMessage("", tool_calls=[tool_call("search", {"q": "x"})])
    answer.usage_metadata = {"input_tokens": 6, "output_tokens": 4}  # type: ignore[typeddict-item]
    return answer


def test_usage_without_a_total_counts_input_plus_output(mode: str) -> None:
    model = ScriptedChatModel(default=_parts_only)
    agent = create_agent(
        model, tools=[search], middleware=[ModelCallLimitMiddleware(run_token_limit=30)]
    )
    # a bounded graph: a budget that never fills fails fast (GraphRecursionError), not by timeout
    result = invoke(agent, {"messages": [("user", "go")]}, mode, {"recursion_limit": 20})
    assert model.calls == 3  # 10, 20, 30 tokens: the fourth call is refused
    assert result["messages"][-1].content == "Model call limits exceeded: run token limit (30/30)"


# ------------------------------------------------------------------ clocks that disagree


@pytest.mark.redis
@pytest.mark.parametrize("ahead", [5.0, 3600.0])
def test_a_local_clock_ahead_of_the_storage_never_reports_a_negative_wait(
    mode: str, redis_url: str, ahead: float, audit: AuditCapture
) -> None:
    """Redis server time decides the windows; this process's clock runs ``ahead`` seconds
    fast. The refusal says the window frees up in 0 s or more, and ``on_limit="wait"`` waits at
    most ``max_wait`` in total before refusing."""
    mw = RateLimitMiddleware(
        "1/minute",
        key="global",
        storage=redis_url,
        on_limit="wait",
        max_wait=0.05,
        name=f"skew-{mode}-{int(ahead)}-{time.time_ns()}",
    )
    slept: list[float] = []
    mw._clock = lambda: time.time() + ahead

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    mw._sleep = sleep  # type: ignore[method-assign]
    mw._asleep = asleep  # type: ignore[method-assign]
    agent = create_agent(ScriptedChatModel(default="hi"), middleware=[mw])
    invoke(agent, {"messages": [("user", "x")]}, mode)  # admitted
    with pytest.raises(RateLimitExceededError) as refused:
        invoke(agent, {"messages": [("user", "x")]}, mode)
    assert sum(slept) <= 0.05 + 1e-9, slept
    assert "in -" not in str(refused.value)
    (event,) = audit.of("rate_limit.exceeded")
    assert event["reset_in_s"] >= 0
