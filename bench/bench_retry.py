"""Retry and fallback on the success path: added cost per agent run, ours vs LangChain's."""

from __future__ import annotations

from langchain.agents import create_agent
from langchain.agents.middleware import ModelFallbackMiddleware as LCFallback
from langchain.agents.middleware import ModelRetryMiddleware as LCRetry
from langchain_core.messages import AIMessage

from bench.common import Row, compare_agents
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.retry import ModelRetryMiddleware
from guardrails.testing import ScriptedChatModel


def _model() -> ScriptedChatModel:
    return ScriptedChatModel(default=AIMessage("ok"), record=False)


def run(quick: bool = False) -> list[Row]:
    number, repeat = (20, 3) if quick else (100, 9)
    payload = {"messages": [("user", "hi")]}
    rows: list[Row] = []
    for mode in ("sync", "async"):
        t = compare_agents(
            {
                "bare": lambda: create_agent(_model()),
                "ours_retry": lambda: create_agent(_model(), middleware=[ModelRetryMiddleware()]),
                "lc_retry": lambda: create_agent(_model(), middleware=[LCRetry()]),
                "ours_fb": lambda: create_agent(
                    _model(), middleware=[ModelFallbackMiddleware(_model())]
                ),
                "lc_fb": lambda: create_agent(_model(), middleware=[LCFallback(_model())]),
            },
            payload,
            mode=mode,
            number=number,
            repeat=repeat,
        )
        bare = t["bare"]
        rows.append(
            Row(
                "retry",
                f"added us per model call ({mode})",
                t["ours_retry"] - bare,
                t["lc_retry"] - bare,
                "us/call",
                note="success path",
            )
        )
        rows.append(
            Row(
                "fallback",
                f"added us per model call ({mode})",
                t["ours_fb"] - bare,
                t["lc_fb"] - bare,
                "us/call",
                note="success path, breaker on (memory://)",
            )
        )
    return rows
