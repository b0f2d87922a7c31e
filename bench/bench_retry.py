"""Retry and fallback on the success path: added cost per agent run, ours vs LangChain's."""

from __future__ import annotations

from langchain.agents import create_agent
from langchain.agents.middleware import ModelFallbackMiddleware as LCFallback
from langchain.agents.middleware import ModelRetryMiddleware as LCRetry
from langchain_core.messages import AIMessage

from bench.common import Row, atimeit_us, compare_agents, timeit_us
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
    rows.extend(_direct(quick))
    return rows


def _direct(quick: bool) -> list[Row]:
    """The hook alone, called directly with a handler that answers at once (no agent noise)."""
    from langchain.agents.middleware import ModelRequest, ModelResponse

    response = ModelResponse(result=[AIMessage("ok")])
    request = ModelRequest(model=_model(), messages=[])

    def handler(_: object) -> ModelResponse:
        return response

    async def ahandler(_: object) -> ModelResponse:
        return response

    pairs = {
        "retry": (ModelRetryMiddleware(), LCRetry()),
        "fallback": (ModelFallbackMiddleware(_model()), LCFallback(_model())),
    }
    number = 2000 if quick else 20000
    rows = []
    for area, (ours, theirs) in pairs.items():
        rows.append(
            Row(
                area,
                "hook alone, us per call (sync)",
                timeit_us(lambda o=ours: o.wrap_model_call(request, handler), number=number),
                timeit_us(lambda t=theirs: t.wrap_model_call(request, handler), number=number),
                "us/call",
            )
        )
        rows.append(
            Row(
                area,
                "hook alone, us per call (async)",
                atimeit_us(lambda o=ours: o.awrap_model_call(request, ahandler), number=number),
                atimeit_us(lambda t=theirs: t.awrap_model_call(request, ahandler), number=number),
                "us/call",
            )
        )
    return rows
