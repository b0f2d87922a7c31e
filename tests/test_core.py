"""The shared sync/async core: one flow, two drivers, identical behaviour."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from guardrails._core import (
    IO,
    Call,
    Flow,
    ModelHook,
    Offload,
    Sleep,
    ToolHook,
    run_async,
    run_sync,
)
from guardrails.testing import tool_call
from tests.support import invoke


def retry_twice(request: Any) -> Flow[Any]:
    for attempt in range(3):
        try:
            return (yield Call(f"{request}#{attempt}"))
        except ValueError:
            yield Sleep(0.5)
    raise RuntimeError("gave up")


def drive(mode: str, flow: Flow[Any], handler: Any, slept: list[float]) -> Any:
    if mode == "sync":
        return run_sync(flow, handler, slept.append)

    async def ahandler(request: Any) -> Any:
        return handler(request)

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    return asyncio.run(run_async(flow, ahandler, asleep))


def test_flow_retries_and_sleeps(mode: str) -> None:
    seen: list[str] = []

    def handler(request: str) -> str:
        seen.append(request)
        if len(seen) < 3:
            raise ValueError("flaky")
        return f"ok:{request}"

    slept: list[float] = []
    assert drive(mode, retry_twice("req"), handler, slept) == "ok:req#2"
    assert seen == ["req#0", "req#1", "req#2"]
    assert slept == [0.5, 0.5]


def test_flow_error_propagates(mode: str) -> None:
    def handler(request: str) -> str:
        raise ValueError("always")

    with pytest.raises(RuntimeError, match="gave up"):
        drive(mode, retry_twice("req"), handler, [])


def test_offload_and_io(mode: str) -> None:
    threads: list[str] = []

    def heavy(x: int) -> int:
        threads.append(threading.current_thread().name)
        return x * 2

    async def aio() -> str:
        return "async-io"

    def flow() -> Flow[Any]:
        doubled = yield Offload(heavy, (21,))
        io = yield IO(lambda: "sync-io", aio)
        return doubled, io

    result = drive(mode, flow(), lambda r: r, [])
    assert result == (42, f"{mode}-io")
    main = threading.main_thread().name
    assert (threads[0] == main) is (mode == "sync")


def test_bad_operation_is_a_clear_error(mode: str) -> None:
    def flow() -> Flow[Any]:
        yield "not an op"  # type: ignore[misc]
        return None

    with pytest.raises(TypeError, match="not an operation"):
        drive(mode, flow(), lambda r: r, [])


class Shout(ModelHook, ToolHook, AgentMiddleware):  # type: ignore[type-arg]
    """Upper-cases the model's answer and tags tool results: one flow per hook."""

    def model_flow(self, request: Any) -> Flow[Any]:
        response = yield Call(request)
        message = response.result[0]
        return AIMessage(
            content=str(message.content).upper(), tool_calls=message.tool_calls, id=message.id
        )

    def tool_flow(self, request: Any) -> Flow[Any]:
        result = yield Call(request)
        assert isinstance(result, ToolMessage)
        return result.model_copy(update={"content": f"[tagged] {result.content}"})


@tool
def echo(text: str) -> str:
    """Echo the text."""
    return text


def test_hooks_in_a_real_agent(mode: str, scripted: Any) -> None:
    model = scripted(AIMessage("", tool_calls=[tool_call("echo", {"text": "hi"})]), "done")
    agent = create_agent(model, tools=[echo], middleware=[Shout()])
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    tool_msg = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert tool_msg.content == "[tagged] hi"
    assert result["messages"][-1].content == "DONE"


def test_mixins_define_only_their_hooks() -> None:
    class ModelOnly(ModelHook, AgentMiddleware):  # type: ignore[type-arg]
        def model_flow(self, request: Any) -> Flow[Any]:
            return (yield Call(request))

    assert ModelOnly.wrap_tool_call is AgentMiddleware.wrap_tool_call
    assert ModelOnly.wrap_model_call is not AgentMiddleware.wrap_model_call
