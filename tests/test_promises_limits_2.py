"""More promises of the limits (issue 29, seed-7 survivors of ``limits``).

- In memory (bounded), a user's calls keep counting for as long as they can refuse a call: a
  sliding window's previous window still weighs in after a quiet spell in which only other users
  called (state is forgotten only when it can no longer refuse anything), and users calling in
  turns each keep their own count.
- The call-limit message names only the limits reached (LangChain's text).
- A shared ``memory://`` thread budget admits exactly ``thread_limit`` calls across agents.
- A wait shorter than a second lasts what the window needs (no rounding up to a second).
- ``thread_limit`` / ``run_limit`` that are not whole numbers are refused by name.

Time is the middleware's clock (``_clock``), as in tests/test_promises_limits.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from guardrails.call_limits import ModelCallLimitMiddleware, ToolCallLimitMiddleware
from guardrails.errors import GuardrailConfigError, RateLimitExceededError
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool
from tests.test_promises_limits import T0, Clock


def _call_as(agent: Any, mode: str, user: str) -> bool:
    """True when the call of ``user`` is admitted."""
    try:
        invoke(agent, {"messages": [("user", "x")]}, mode, {"configurable": {"user_id": user}})
    except RateLimitExceededError:
        return False
    return True


def test_a_sliding_window_remembers_a_user_through_a_quiet_spell(mode: str) -> None:
    mw = RateLimitMiddleware("2/minute", strategy="sliding-window-counter")
    clock = Clock(mw, T0 + 10.0)
    agent = create_agent(ScriptedChatModel(default="hi"), middleware=[mw])
    assert _call_as(agent, mode, "bob")  # t0+10: someone else's call
    clock.now = T0 + 65.0  # the next minute: alice's two calls
    assert [_call_as(agent, mode, "alice") for _ in range(2)] == [True, True]
    clock.now = T0 + 130.0  # a minute on, 10 s in: her 2 calls weigh 2 x 50/60 = 1.67
    assert not _call_as(agent, mode, "alice")
    assert _call_as(agent, mode, "bob")


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
def test_users_calling_in_turns_each_keep_their_count(mode: str, strategy: str) -> None:
    mw = RateLimitMiddleware("2/minute", strategy=strategy)
    clock = Clock(mw, T0 + 1.0)
    agent = create_agent(ScriptedChatModel(default="hi"), middleware=[mw])
    seen = []
    for user in ["a", "b", "c", "a", "b", "c", "a", "b", "c"]:
        clock.now += 0.5
        seen.append(_call_as(agent, mode, user))
    assert seen == [True] * 6 + [False] * 3


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
def test_memory_forgets_users_whose_calls_can_no_longer_refuse(mode: str, strategy: str) -> None:
    mw = RateLimitMiddleware("2/minute", strategy=strategy)
    clock = Clock(mw, T0 + 1.0)
    agent = create_agent(ScriptedChatModel(default="hi"), middleware=[mw])
    for i in range(30):
        assert _call_as(agent, mode, f"user-{i}")
    assert len(mw._windows) == 30
    clock.now += 241.0  # longer than two windows (a sliding window's state lives two)
    assert _call_as(agent, mode, "late")
    assert len(mw._windows) == 1


# ------------------------------------------------------------------ call limits


@tool
def search(q: str) -> str:
    """Search."""
    return f"found {q}"


def test_the_limit_message_names_only_the_limits_reached(mode: str) -> None:
    step = AIMessage("", tool_calls=[tool_call("search", {"q": "x"})])
    model = ScriptedChatModel(default=step)
    mw = ModelCallLimitMiddleware(
        run_limit=2, run_token_limit=1000, thread_limit=50, thread_token_limit=5000
    )
    agent = create_agent(model, tools=[search], middleware=[mw], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "msg"}}
    result = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    assert model.calls == 2
    assert result["messages"][-1].content == "Model call limits exceeded: run limit (2/2)"


def test_a_shared_memory_budget_admits_exactly_its_limit_across_agents(mode: str) -> None:
    """Two agents (their own checkpointers: no shared state) on one thread_id share the budget
    of ``thread_storage='memory://'`` in this process: exactly ``thread_limit`` calls."""
    mw = ModelCallLimitMiddleware(thread_limit=3, thread_storage="memory://")
    models = [ScriptedChatModel(default="hi"), ScriptedChatModel(default="hi")]
    agents = [create_agent(m, middleware=[mw], checkpointer=InMemorySaver()) for m in models]
    config = {"configurable": {"thread_id": f"shared-{mode}"}}
    answers = [
        invoke(agents[i % 2], {"messages": [("user", "x")]}, mode, config)["messages"][-1].content
        for i in range(5)
    ]
    assert models[0].calls + models[1].calls == 3
    assert answers[:3] == ["hi"] * 3
    assert all("thread limit (3/3)" in a for a in answers[3:]), answers


# ------------------------------------------------------------------ waits


def test_a_wait_lasts_as_long_as_the_window_needs_even_under_a_second(mode: str) -> None:
    mw = RateLimitMiddleware("1/second", key="global", strategy="fixed-window", on_limit="wait")
    clock = Clock(mw, T0 + 0.75)
    agent = create_agent(ScriptedChatModel(default="hi"), middleware=[mw])
    assert _call_as(agent, mode, "u") and _call_as(agent, mode, "u")
    assert clock.slept == [pytest.approx(0.25)]  # to the next second's edge, not a whole second


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize("cls", [ModelCallLimitMiddleware, ToolCallLimitMiddleware])
@pytest.mark.parametrize("setting", ["thread_limit", "run_limit"])
@pytest.mark.parametrize("bad", [-1, True, 2.0, "3"])
def test_a_limit_that_is_not_a_whole_number_is_refused_by_name(
    cls: Any, setting: str, bad: Any
) -> None:
    with pytest.raises(GuardrailConfigError, match=setting):
        cls(**{setting: bad})


# ------------------------------------------------------------------ tool limits: what is reported


def _batch_model(n: int) -> ScriptedChatModel:
    calls = [tool_call("search", {"q": str(i)}) for i in range(n)]
    return ScriptedChatModel(responses=[AIMessage("", tool_calls=calls)], default="done")


def test_a_batch_refused_with_error_is_one_event(mode: str, audit: AuditCapture) -> None:
    from guardrails.errors import ToolCallLimitExceededError

    mw = ToolCallLimitMiddleware(run_limit=1, exit_behavior="error")
    agent = create_agent(_batch_model(3), tools=[search], middleware=[mw])
    with pytest.raises(ToolCallLimitExceededError):
        invoke(agent, {"messages": [("user", "go")]}, mode)
    (event,) = audit.of("limit.exceeded")
    assert (event["scope"], event["limit"], event["blocked"], event["decision"]) == (
        "run",
        1,
        2,
        "error",
    )


def test_a_thread_limit_is_reported_with_its_own_value(mode: str, audit: AuditCapture) -> None:
    mw = ToolCallLimitMiddleware(thread_limit=1, run_limit=None, exit_behavior="continue")
    agent = create_agent(_batch_model(2), tools=[search], middleware=[mw])
    invoke(agent, {"messages": [("user", "go")]}, mode)
    (event,) = audit.of("limit.exceeded")
    assert (event["scope"], event["limit"], event["tool"]) == ("thread", 1, "search")


def test_a_refusal_by_the_shared_budget_names_the_tool(mode: str, audit: AuditCapture) -> None:
    mw = ToolCallLimitMiddleware(thread_limit=1, thread_storage="memory://")
    config = {"configurable": {"thread_id": f"budget-tool-{mode}"}}
    for _ in range(2):  # two agents, their own checkpointers: only the budget is shared
        agent = create_agent(
            _batch_model(1), tools=[search], middleware=[mw], checkpointer=InMemorySaver()
        )
        invoke(agent, {"messages": [("user", "go")]}, mode, config)
    (event,) = audit.of("limit.exceeded")
    assert (event["scope"], event["tool"], event["limit"]) == ("thread", "search", 1)


def test_a_run_limit_error_counts_this_runs_calls_not_the_threads(mode: str) -> None:
    from guardrails.errors import ToolCallLimitExceededError

    one = AIMessage("", tool_calls=[tool_call("search", {"q": "first"})])
    three = AIMessage("", tool_calls=[tool_call("search", {"q": str(i)}) for i in range(3)])
    model = ScriptedChatModel(responses=[one, "done", three], default="done")
    mw = ToolCallLimitMiddleware(run_limit=1, exit_behavior="error")
    agent = create_agent(model, tools=[search], middleware=[mw], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"run-count-{mode}"}}
    invoke(agent, {"messages": [("user", "go")]}, mode, config)  # 1 call on the thread
    with pytest.raises(ToolCallLimitExceededError) as caught:
        invoke(agent, {"messages": [("user", "again")]}, mode, config)
    assert (caught.value.scope, caught.value.count, caught.value.limit) == ("run", 3, 1)
