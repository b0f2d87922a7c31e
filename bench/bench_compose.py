"""compose(): cost of N pass-through guardrails listed separately vs composed, per agent run;
the six real guardrails (call limits, retries, fallback, PII) composed vs LangChain's six listed,
beside the floor of one pass-through hook pair; what PII adds inside each stack, on a short and
on a 40-turn history, sync and async."""

from __future__ import annotations

import time
from typing import Any

from langchain.agents import create_agent
from langchain.agents import middleware as lc
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

import guardrails as ours
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


def _six(mod: Any, pii: bool) -> list[Any]:
    """The six built-in middleware (five without PII) of ``mod`` (LangChain's or ours), in the
    order our order rules ask for."""
    stack = [
        mod.ModelCallLimitMiddleware(run_limit=1000),
        mod.ToolCallLimitMiddleware(run_limit=1000),
        mod.ModelRetryMiddleware(),
        mod.ToolRetryMiddleware(),
        mod.ModelFallbackMiddleware(_model()),
    ]
    if pii:
        stack.append(mod.PIIMiddleware("email"))
    return stack


def _history(turns: int) -> list[Any]:
    out: list[Any] = []
    for i in range(turns):
        out.append(HumanMessage(f"turn {i}: please look up the order of customer number {i}"))
        call = {"name": "noop", "args": {"x": i}, "id": f"c{i}", "type": "tool_call"}
        out.append(AIMessage("", tool_calls=[call]))
        out.append(ToolMessage(f"order {i}: shipped, 3 items", tool_call_id=f"c{i}"))
        out.append(AIMessage(f"Order {i} has shipped."))
    return out


def _share(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs > 0 else "-"


def _stacks(quick: bool) -> list[Row]:
    """Six guardrails composed (ours) vs LangChain's six listed, what PII adds in each, and the
    floor of one pass-through hook pair; CPU time (``process_time``), best of interleaved
    rounds."""
    number, repeat = (10, 3) if quick else (30, 7)
    rows: list[Row] = []
    for turns in (0, 40):
        payload = {"messages": [*_history(turns), HumanMessage("mail jane@example.com: go")]}
        for mode in ("sync", "async"):
            t = compare_agents(
                {
                    "bare": lambda: create_agent(_model(), tools=[noop]),
                    "floor": lambda: create_agent(
                        _model(), tools=[noop], middleware=[compose(_layer(0))]
                    ),
                    "ours5": lambda: create_agent(
                        _model(), tools=[noop], middleware=[compose(*_six(ours, False))]
                    ),
                    "ours6": lambda: create_agent(
                        _model(), tools=[noop], middleware=[compose(*_six(ours, True))]
                    ),
                    "lc5": lambda: create_agent(_model(), tools=[noop], middleware=_six(lc, False)),
                    "lc6": lambda: create_agent(_model(), tools=[noop], middleware=_six(lc, True)),
                },
                payload,
                mode=mode,
                number=number,
                repeat=repeat,
                clock=time.process_time,
            )
            added = {k: max(v - t["bare"], 0.0) for k, v in t.items()}
            history = f"{turns}-turn history" if turns else "short history"
            pii_ours = max(t["ours6"] - t["ours5"], 0.0)
            pii_theirs = max(t["lc6"] - t["lc5"], 0.0)
            rows += [
                Row(
                    "compose",
                    f"six guardrails with PII, added us/run ({mode}, {history})",
                    added["ours6"],
                    added["lc6"],
                    "us/run",
                    note=f"ours composed, LangChain's listed: ours/theirs "
                    f"{_share(added['ours6'], added['lc6'])}, goal <= 0.20x (ratio >= 5x)",
                ),
                Row(
                    "compose",
                    f"  PII (email) inside the stack, added us/run ({mode}, {history})",
                    pii_ours,
                    pii_theirs,
                    "us/run",
                    note=f"six minus five: ours/theirs {_share(pii_ours, pii_theirs)}, goal <= "
                    "0.20x; LangChain's scans the last user message only",
                ),
                Row(
                    "compose",
                    f"  floor: one pass-through hook pair, added us/run ({mode}, {history})",
                    added["floor"],
                    added["lc6"],
                    "us/run",
                    note="the least a composed stack can add: "
                    f"{_share(added['floor'], added['lc6'])} of LangChain's six",
                ),
            ]
    return rows


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
    rows.extend(_stacks(quick))
    return rows
