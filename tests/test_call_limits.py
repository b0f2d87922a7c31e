"""Model and tool call limits in real create_agent graphs, sync and async, with checkpointers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import ModelCallLimitMiddleware as LCModelCallLimit
from langchain.agents.middleware import ToolCallLimitMiddleware as LCToolCallLimit
from langchain.agents.middleware.model_call_limit import (
    ModelCallLimitExceededError as LCModelCallLimitExceededError,
)
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import StructuredTool

from guardrails.call_limits import ModelCallLimitMiddleware, ToolCallLimitMiddleware
from guardrails.errors import (
    GuardrailConfigError,
    ModelCallLimitExceededError,
    ToolCallLimitExceededError,
)
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool

RAN: list[str] = []


@tool
def search(q: str) -> str:
    """Search."""
    RAN.append(f"search:{q}")
    return f"results for {q}"


@tool
def fetch(url: str) -> str:
    """Fetch a URL."""
    RAN.append(f"fetch:{url}")
    return f"page {url}"


def _slow_sync(i: int) -> str:
    RAN.append(f"slow-start:{i}")
    time.sleep(0.01)
    RAN.append(f"slow-end:{i}")
    return f"slow {i}"


async def _slow_async(i: int) -> str:
    RAN.append(f"slow-start:{i}")
    await asyncio.sleep(0.05)
    RAN.append(f"slow-end:{i}")
    return f"slow {i}"


slow = StructuredTool.from_function(
    func=_slow_sync,
    coroutine=_slow_async,
    name="slow",
    description="A tool that really runs concurrently in async.",
)


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def _calls(*pairs: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage("", tool_calls=[tool_call(n, a) for n, a in pairs])


def _tool_messages(result: dict[str, Any]) -> list[ToolMessage]:
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


# ------------------------------------------------------------------ model calls


def test_model_run_limit_resets_between_invocations(
    mode: str, memory_saver: Any, audit: AuditCapture
) -> None:
    looping = _calls(("search", {"q": "x"}))
    model = ScriptedChatModel(default=looping)
    agent = create_agent(
        model,
        tools=[search],
        checkpointer=memory_saver,
        middleware=[ModelCallLimitMiddleware(run_limit=2)],
    )
    config = {"configurable": {"thread_id": "t1"}}
    for turn in range(2):
        result = invoke(agent, {"messages": [("user", f"go {turn}")]}, mode, config)
        assert result["messages"][-1].content == "Model call limits exceeded: run limit (2/2)"
    assert model.calls == 4  # 2 per run: the run count started again at 0
    first, _second = audit.of("limit.exceeded")
    assert first["scope"] == "run" and first["count"] == 2 and first["limit"] == 2
    assert first["limit_kind"] == "model_calls" and first["thread_id"] == "t1"


def test_model_thread_limit_holds_per_thread(mode: str, memory_saver: Any) -> None:
    model = ScriptedChatModel(default="hello")
    agent = create_agent(
        model, checkpointer=memory_saver, middleware=[ModelCallLimitMiddleware(thread_limit=2)]
    )
    a = {"configurable": {"thread_id": "a"}}
    b = {"configurable": {"thread_id": "b"}}
    assert invoke(agent, {"messages": [("user", "1")]}, mode, a)["messages"][-1].content == "hello"
    assert invoke(agent, {"messages": [("user", "2")]}, mode, a)["messages"][-1].content == "hello"
    third = invoke(agent, {"messages": [("user", "3")]}, mode, a)["messages"][-1].content
    assert third == "Model call limits exceeded: thread limit (2/2)"
    assert invoke(agent, {"messages": [("user", "1")]}, mode, b)["messages"][-1].content == "hello"
    assert model.calls == 3


def test_model_limit_error_behavior(mode: str) -> None:
    agent = create_agent(
        ScriptedChatModel(default=_calls(("search", {"q": "x"}))),
        tools=[search],
        middleware=[ModelCallLimitMiddleware(run_limit=1, exit_behavior="error")],
    )
    with pytest.raises(ModelCallLimitExceededError) as info:
        invoke(agent, {"messages": [("user", "go")]}, mode)
    assert isinstance(info.value, LCModelCallLimitExceededError)  # LangChain's except works too
    assert (info.value.run_count, info.value.run_limit, info.value.scope) == (1, 1, "run")


def test_token_limits(mode: str, memory_saver: Any, audit: AuditCapture) -> None:
    usage = {"input_tokens": 60, "output_tokens": 40, "total_tokens": 100}
    step = AIMessage("", tool_calls=[tool_call("search", {"q": "x"})], usage_metadata=usage)
    model = ScriptedChatModel(default=step)
    agent = create_agent(
        model,
        tools=[search],
        checkpointer=memory_saver,
        middleware=[ModelCallLimitMiddleware(run_token_limit=250, thread_token_limit=400)],
    )
    config = {"configurable": {"thread_id": "t"}}
    result = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    assert model.calls == 3  # 100, 200, 300 >= 250: the fourth call is refused
    assert result["messages"][-1].content == (
        "Model call limits exceeded: run token limit (300/250)"
    )
    result = invoke(agent, {"messages": [("user", "again")]}, mode, config)
    assert model.calls == 4  # thread total 400 reached after one more call
    assert "thread token limit (400/400)" in result["messages"][-1].content
    assert audit.of("limit.exceeded")[-1]["limit_kind"] == "model_tokens"


@pytest.mark.slow  # other processes (pyproject: the slow group)
def test_thread_limit_survives_a_process_restart(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    script = textwrap.dedent(f"""
        import sys
        from langchain.agents import create_agent
        from langgraph.checkpoint.sqlite import SqliteSaver
        from guardrails.call_limits import ModelCallLimitMiddleware
        from guardrails.testing import ScriptedChatModel
        with SqliteSaver.from_conn_string({str(db)!r}) as saver:
            agent = create_agent(ScriptedChatModel(default="answer"), checkpointer=saver,
                                 middleware=[ModelCallLimitMiddleware(thread_limit=2)])
            out = agent.invoke({{"messages": [("user", sys.argv[1])]}},
                               {{"configurable": {{"thread_id": "persisted"}}}})
            print(out["messages"][-1].content)
    """)
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script, f"turn {i}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.strip()
        for i in range(3)
    ]
    assert outputs == ["answer", "answer", "Model call limits exceeded: thread limit (2/2)"]


# ------------------------------------------------------------------ tool calls


def test_parallel_tool_calls_exactly_run_limit(mode: str, audit: AuditCapture) -> None:
    batch = AIMessage("", tool_calls=[tool_call("slow", {"i": i}) for i in range(5)])
    agent = create_agent(
        ScriptedChatModel(responses=[batch, "done"]),
        tools=[slow],
        middleware=[ToolCallLimitMiddleware(run_limit=3)],
    )
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    ran = sorted(e for e in RAN if e.startswith("slow-end"))
    assert ran == ["slow-end:0", "slow-end:1", "slow-end:2"]
    messages = _tool_messages(result)
    assert [m.status for m in messages] == ["success"] * 3 + ["error"] * 2
    assert messages[-1].content == "Tool call limit exceeded. Do not make additional tool calls."
    assert len(audit.of("limit.exceeded")) == 1
    if mode == "async":  # the three allowed calls really overlapped
        starts = [i for i, e in enumerate(RAN) if e.startswith("slow-start")]
        ends = [i for i, e in enumerate(RAN) if e.startswith("slow-end")]
        assert max(starts) < min(ends)


def test_per_tool_and_global_limits_together(mode: str, memory_saver: Any) -> None:
    model = ScriptedChatModel(
        responses=[
            _calls(("search", {"q": "1"}), ("search", {"q": "2"}), ("fetch", {"url": "a"})),
            _calls(("search", {"q": "3"}), ("fetch", {"url": "b"}), ("fetch", {"url": "c"})),
            "done",
        ]
    )
    agent = create_agent(
        model,
        tools=[search, fetch],
        checkpointer=memory_saver,
        middleware=[
            ToolCallLimitMiddleware(tool_name="search", run_limit=2),
            ToolCallLimitMiddleware(run_limit=4),
        ],
    )
    config = {"configurable": {"thread_id": "t"}}
    result = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    # the global limit counts search:3 (it cannot know the search limit blocked it), exactly
    # like LangChain's built-ins: fetch:b and fetch:c are over the global limit of 4
    assert sorted(RAN) == ["fetch:a", "search:1", "search:2"]
    blocked = sorted(m.content for m in _tool_messages(result) if m.status == "error")
    assert (
        blocked
        == ["Tool call limit exceeded. Do not call 'search' again."]
        + ["Tool call limit exceeded. Do not make additional tool calls."] * 2
    )
    state = agent.get_state(config).values
    assert "guardrails_thread_counts" in state


def test_tool_thread_limit_across_runs(mode: str, memory_saver: Any) -> None:
    model = ScriptedChatModel(default=_calls(("search", {"q": "x"})))
    agent = create_agent(
        model,
        tools=[search],
        checkpointer=memory_saver,
        middleware=[
            ToolCallLimitMiddleware(tool_name="search", thread_limit=3),
            ModelCallLimitMiddleware(run_limit=2),
        ],
    )
    config = {"configurable": {"thread_id": "t"}}
    invoke(agent, {"messages": [("user", "1")]}, mode, config)
    invoke(agent, {"messages": [("user", "2")]}, mode, config)
    assert len(RAN) == 3


def test_tool_limit_end_stops_the_run(mode: str, audit: AuditCapture) -> None:
    model = ScriptedChatModel(
        responses=[
            _calls(("search", {"q": "1"})),
            _calls(("search", {"q": "2"}), ("fetch", {"url": "z"})),
            "never reached",
        ]
    )
    agent = create_agent(
        model,
        tools=[search, fetch],
        middleware=[ToolCallLimitMiddleware(tool_name="search", run_limit=1, exit_behavior="end")],
    )
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    assert RAN == ["search:1"]  # neither the blocked call nor its batch-mate ran
    assert model.calls == 2
    last = result["messages"][-1]
    assert isinstance(last, AIMessage)
    assert last.content == "'search' tool call limit reached: run limit exceeded (2/1 calls)."
    texts = [m.content for m in _tool_messages(result)[1:]]
    assert texts[0] == "Tool call limit exceeded. Do not call 'search' again."
    assert texts[1].startswith("Execution stopped before this tool call could run")
    assert audit.of("limit.exceeded")[0]["decision"] == "end"


def test_tool_limit_error(mode: str) -> None:
    agent = create_agent(
        ScriptedChatModel(responses=[_calls(("search", {"q": "1"}), ("search", {"q": "2"}))]),
        tools=[search],
        middleware=[ToolCallLimitMiddleware(run_limit=1, exit_behavior="error")],
    )
    with pytest.raises(ToolCallLimitExceededError) as info:
        invoke(agent, {"messages": [("user", "go")]}, mode)
    assert RAN == []  # raised before any call of the batch ran
    assert info.value.run_limit == 1


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (ModelCallLimitMiddleware, {}, "At least one limit"),
        (ModelCallLimitMiddleware, {"run_limit": 5, "thread_limit": 2}, "cannot exceed"),
        (ModelCallLimitMiddleware, {"run_limit": 1, "exit_behavior": "stop"}, "'end' or 'error'"),
        (ModelCallLimitMiddleware, {"run_limit": -1}, "run_limit must be >= 0 \\(a whole number"),
        (
            ModelCallLimitMiddleware,
            {"run_token_limit": 10, "thread_token_limit": 5},
            "run_token_limit",
        ),
        (ToolCallLimitMiddleware, {}, "At least one limit"),
        (ToolCallLimitMiddleware, {"run_limit": 1, "exit_behavior": "End"}, "'continue'"),
        (ToolCallLimitMiddleware, {"run_limit": 3, "thread_limit": 1}, "cannot exceed"),
        (ToolCallLimitMiddleware, {"run_limit": 1, "tool_name": ""}, "tool_name"),
    ],
)
def test_construction_errors(cls: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GuardrailConfigError, match=message):
        cls(**kwargs)
    with pytest.raises(ValueError):  # still a ValueError, like LangChain's
        cls(**kwargs)


def test_one_instance_serves_many_threads_concurrently() -> None:
    limit = ToolCallLimitMiddleware(run_limit=1)
    results: list[int] = []

    def run(i: int) -> None:
        model = ScriptedChatModel(
            responses=[_calls(("search", {"q": str(i)}), ("search", {"q": f"{i}b"})), "done"]
        )
        agent = create_agent(model, tools=[search], middleware=[limit])
        out = agent.invoke({"messages": [("user", "go")]})
        results.append(sum(1 for m in _tool_messages(out) if m.status == "success"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1] * 6


def test_same_answers_as_langchain_builtins(mode: str) -> None:
    def run(middleware: list[Any]) -> list[tuple[str, str]]:
        RAN.clear()
        model = ScriptedChatModel(
            responses=[
                _calls(("search", {"q": "1"}), ("search", {"q": "2"}), ("search", {"q": "3"})),
                _calls(("search", {"q": "4"})),
                "done",
                "extra",
            ]
        )
        agent = create_agent(model, tools=[search], middleware=middleware)
        out = invoke(agent, {"messages": [("user", "go")]}, mode)
        return [(type(m).__name__, str(m.content)) for m in out["messages"]]

    ours = run([ToolCallLimitMiddleware(run_limit=2), ModelCallLimitMiddleware(run_limit=5)])
    ran_ours = sorted(RAN)
    theirs = run([LCToolCallLimit(run_limit=2), LCModelCallLimit(run_limit=5)])
    # LangChain writes the blocked ToolMessages before the executed ones; same set, same end
    assert sorted(ours) == sorted(theirs)
    assert ours[-1] == theirs[-1]
    assert ran_ours == sorted(RAN)
