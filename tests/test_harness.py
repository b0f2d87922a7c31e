"""The test harness itself: scripted model in real agents, Redis and checkpointer fixtures."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from guardrails.testing import ScriptedChatModel, ScriptExhaustedError, tool_call
from tests.support import invoke, ok, request_bodies, tool


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_scripted_model_in_create_agent(mode: str, scripted: Any) -> None:
    model = scripted(AIMessage("", tool_calls=[tool_call("add", {"a": 2, "b": 3})]), "five")
    agent = create_agent(model, tools=[add])
    result = invoke(agent, {"messages": [("user", "2+3?")]}, mode)
    assert result["messages"][-1].content == "five"
    assert [m.content for m in result["messages"] if isinstance(m, ToolMessage)] == ["5"]
    assert model.calls == 2
    assert model.requests[0]["tools"][0]["function"]["name"] == "add"
    assert isinstance(model.requests[1]["messages"][-1], ToolMessage)


def test_scripted_model_raises_and_runs_out(scripted: Any) -> None:
    model = scripted(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        model.invoke("x")
    with pytest.raises(ScriptExhaustedError):
        model.invoke("x")
    assert ScriptedChatModel(default="d").invoke("x").content == "d"


def test_scripted_model_callable_response() -> None:
    model = ScriptedChatModel(responses=[lambda msgs: f"echo {msgs[-1].content}"])
    assert model.invoke([HumanMessage("hey")]).content == "echo hey"


def test_scripted_model_in_deep_agent(mode: str, scripted: Any) -> None:
    deepagents = pytest.importorskip("deepagents")
    model = scripted(
        AIMessage(
            "",
            tool_calls=[tool_call("write_file", {"file_path": "/notes.txt", "content": "hello"})],
        ),
        AIMessage("", tool_calls=[tool_call("read_file", {"file_path": "/notes.txt"})]),
        "done",
    )
    agent = deepagents.create_deep_agent(model=model, tools=[])
    result = invoke(agent, {"messages": [("user", "write then read")]}, mode)
    tool_texts = [str(m.content) for m in result["messages"] if isinstance(m, ToolMessage)]
    assert any("hello" in t for t in tool_texts)
    assert result["messages"][-1].content == "done"


def test_chat_openai_over_respx(mode: str, openai_mock: Any, chat_openai: Any) -> None:
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[ok(None, tool_calls=[("add", {"a": 1, "b": 1})]), ok("two")]
    )
    agent = create_agent(chat_openai(), tools=[add])
    result = invoke(agent, {"messages": [("user", "1+1")]}, mode)
    assert result["messages"][-1].content == "two"
    bodies = request_bodies(route)
    assert len(bodies) == 2
    assert bodies[0]["tools"][0]["function"]["name"] == "add"


def test_checkpointers_keep_threads(
    mode: str, scripted: Any, memory_saver: Any, sqlite_saver: Any
) -> None:
    for saver in (memory_saver, sqlite_saver):
        agent = create_agent(scripted("a", "b"), checkpointer=saver)
        config = {"configurable": {"thread_id": "t"}}
        if mode == "async" and saver is sqlite_saver:
            continue  # SqliteSaver is sync-only; AsyncSqliteSaver is tested where needed
        invoke(agent, {"messages": [("user", "1")]}, mode, config)
        result = invoke(agent, {"messages": [("user", "2")]}, mode, config)
        assert [m.content for m in result["messages"]] == ["1", "a", "2", "b"]


@pytest.mark.redis
def test_redis_fixture_is_real(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    assert client.ping()
    client.set("k", "v")
    assert client.get("k") == b"v"
