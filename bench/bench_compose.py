"""compose(): cost of N pass-through guardrails listed separately vs composed, per agent run."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from bench.common import Row, compare_agents
from guardrails._core import Call, Flow, ModelHook, ToolHook
from guardrails.compose import compose
from guardrails.testing import ScriptedChatModel, tool_call


@tool
def noop(x: int) -> int:
    """Return x."""
    return x


def _layer(i: int) -> AgentMiddleware[Any, Any, Any]:
    class PassThrough(ModelHook, ToolHook, AgentMiddleware):  # type: ignore[type-arg]
        @property
        def name(self) -> str:
            return f"pass{i}"

        def model_flow(self, request: Any) -> Flow[Any]:
            return (yield Call(request))

        def tool_flow(self, request: Any) -> Flow[Any]:
            return (yield Call(request))

    return PassThrough()


def _model() -> ScriptedChatModel:
    """Two model calls and one tool call per run, for as many runs as asked."""

    def answer(messages: list[Any]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            return AIMessage("done")
        return AIMessage("", tool_calls=[tool_call("noop", {"x": 1})])

    return ScriptedChatModel(default=answer, record=False)


def run(quick: bool = False) -> list[Row]:
    n = 6
    number, repeat = (10, 3) if quick else (40, 9)
    payload = {"messages": [("user", "go")]}
    rows: list[Row] = []
    for mode in ("sync", "async"):
        t = compare_agents(
            {
                "bare": lambda: create_agent(_model(), tools=[noop]),
                "separate": lambda: create_agent(
                    _model(), tools=[noop], middleware=[_layer(i) for i in range(n)]
                ),
                "composed": lambda: create_agent(
                    _model(), tools=[noop], middleware=[compose(*[_layer(i) for i in range(n)])]
                ),
            },
            payload,
            mode=mode,
            number=number,
            repeat=repeat,
        )
        rows.append(
            Row(
                "compose",
                f"{n} guardrails, added us/run ({mode})",
                t["composed"] - t["bare"],
                t["separate"] - t["bare"],
                "us/run",
                note="run = 2 model + 1 tool call; theirs = the same listed separately",
            )
        )
    return rows
