"""Limits promises at their edges (issue 29, the lead's outsider edits and seed-11 survivors).

* a provider that reports only input and output tokens still spends a token budget;
* usage figures that are no counts (NaN, infinity, negative, text) neither take a healthy call
  down nor give tokens back;
* a local clock ahead of the shared storage's (Redis server time decides the windows) never
  makes a refusal report a negative reset time, nor a wait longer than ``max_wait``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import respx
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from guardrails.call_limits import ModelCallLimitMiddleware
from guardrails.errors import RateLimitExceededError
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import completion, invoke, ok, tool


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


# ------------------------------------------------------------------ usage as the provider sent it


def _answer_with_usage(prompt: str, completion_: str, total: str) -> httpx.Response:
    """A tool-call answer whose usage figures are written as raw JSON: ``NaN`` and ``1e400``
    are what Python's JSON reader (the openai SDK's) turns into a NaN and an infinity; neither
    the SDK nor ``langchain-openai`` checks a figure."""
    body = completion(None, tool_calls=[("search", {"q": "x"})], usage=(1, 2))
    text = json.dumps(body)
    for key, value in (("prompt_tokens", prompt), ("completion_tokens", completion_)):
        text = text.replace(f'"{key}": {1 if key == "prompt_tokens" else 2}', f'"{key}": {value}')
    text = text.replace('"total_tokens": 3', f'"total_tokens": {total}')
    assert all(f": {v}" in text for v in (prompt, completion_, total))
    return httpx.Response(200, content=text.encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("prompt", "completion_", "total", "counted"),
    [
        ("10", "5", "NaN", 15),
        ("10", "5", "1e400", 15),
        ("10", "5", "-1e400", 15),
        ("10", "5", "-500", 15),
        ("10", "5", '"abc"', 15),
        ("10", "5", "true", 15),
        ("10", "5", "[15]", 15),
        ("10", "5", "3", 15),  # a total below its own parts
        ("10", "5", "20", 20),  # a total above them (cached or reasoning tokens)
        ("-500", "-500", "-1000", 0),  # nothing given back
        ("true", "5", '"abc"', 5),  # a bool is no count
        ("NaN", "5", '"abc"', 5),
        ("9.2", "5", '"abc"', 15),  # whole tokens, rounded up
    ],
)
def test_usage_figures_that_are_no_counts_neither_take_the_call_down_nor_give_tokens_back(
    mode: str,
    openai_mock: respx.MockRouter,
    chat_openai: Any,
    prompt: str,
    completion_: str,
    total: str,
    counted: int,
) -> None:
    """The model answered: its answer is kept and counted by the figures that are counts. Then
    a well-formed answer of 15 tokens fills a budget of ``counted + 15`` exactly, so the third
    call is refused, and the refusal names the count. A negative figure used to give tokens back
    (the budget never filled), a NaN, an infinity, a string or a list took the healthy call
    down, ``true`` counted as a token, and a total below its own parts undercounted."""
    budget = counted + 15
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[
            _answer_with_usage(prompt, completion_, total),
            ok(None, tool_calls=[("search", {"q": "y"})], usage=(10, 5)),
            ok("never"),
        ]
    )
    agent = create_agent(
        chat_openai(), tools=[search], middleware=[ModelCallLimitMiddleware(run_token_limit=budget)]
    )
    result = invoke(agent, {"messages": [("user", "go")]}, mode, {"recursion_limit": 12})
    assert route.call_count == 2
    assert result["messages"][-1].content == (
        f"Model call limits exceeded: run token limit ({budget}/{budget})"
    )
