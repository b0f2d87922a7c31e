"""Promises of the hook plumbing a fresh mutation sample (seed 31, issue 29) found open.

A guardrail's hook leaves nothing behind in its caller's context once it returns: a hook called
later in the same context (code that drives middleware hooks itself, as LangChain's own tests and
custom tool runners do) is not taken as running *inside* the earlier one, so no order warning is
raised for two guardrails that were never nested, tool and model hooks, sync and async (one task
in async: the four resets of `_core.py` each checked with it dropped); two that are
nested still warn.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from langchain.agents.middleware import ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.prebuilt.tool_node import ToolCallRequest

from guardrails import (
    ModelCallLimitMiddleware,
    ModelRetryMiddleware,
    ToolCallLimitMiddleware,
    ToolRetryMiddleware,
)
from guardrails.order import GuardrailOrderWarning
from guardrails.testing import ScriptedChatModel, tool_call


def _request() -> ToolCallRequest:
    call = tool_call("search", {"q": "x"}, id="c1")
    state = {"messages": [AIMessage("", tool_calls=[call])]}
    return ToolCallRequest(tool_call=call, tool=None, state=state, runtime=None)  # type: ignore[arg-type]


def _answer(request: Any) -> ToolMessage:
    return ToolMessage("ran", tool_call_id=request.tool_call["id"])


async def _aanswer(request: Any) -> ToolMessage:
    return _answer(request)


def _call(mw: Any, handler: Any, mode: str) -> Any:
    if mode == "sync":
        return mw.wrap_tool_call(_request(), handler)
    return asyncio.run(mw.awrap_tool_call(_request(), handler))


def _model_request() -> ModelRequest:
    return ModelRequest(
        model=ScriptedChatModel(responses=[], default="hi"),
        messages=[HumanMessage("hi")],
        system_message=None,
        tool_choice=None,
        tools=[],
        response_format=None,
        state={"messages": [HumanMessage("hi")]},  # type: ignore[arg-type]
        runtime=None,  # type: ignore[arg-type]
    )


def _one_after_the_other(hook: str, outer: Any, inner: Any, mode: str) -> list[str]:
    """Call ``outer``'s hook, then ``inner``'s, twice, in one context (one task in async);
    the order warnings raised."""
    if hook == "tool":
        requests, answer = _request, (lambda r: ToolMessage("ran", tool_call_id="c1"))
    else:
        requests, answer = _model_request, (lambda r: ModelResponse(result=[AIMessage("ok")]))

    async def aanswer(request: Any) -> Any:
        return answer(request)

    async def both() -> None:
        for _ in range(2):
            for mw in (outer, inner):
                await getattr(mw, f"awrap_{hook}_call")(requests(), aanswer)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if mode == "sync":
            for _ in range(2):
                for mw in (outer, inner):
                    getattr(mw, f"wrap_{hook}_call")(requests(), answer)
        else:
            asyncio.run(both())
    return [str(w.message) for w in caught if issubclass(w.category, GuardrailOrderWarning)]


@pytest.mark.parametrize("hook", ["tool", "model"])
def test_hooks_called_one_after_the_other_are_not_nested(mode: str, hook: str) -> None:
    """A retry's hook, then a call limit's, in one context: each ran alone (the limit was never
    inside the retry), so no 'call limits inside a retry' warning, for tool and model hooks."""
    if hook == "tool":
        retry, limit = ToolRetryMiddleware(max_retries=0), ToolCallLimitMiddleware(run_limit=5)
    else:
        retry, limit = ModelRetryMiddleware(max_retries=0), ModelCallLimitMiddleware(run_limit=5)
    assert _one_after_the_other(hook, retry, limit, mode) == []


def test_a_hook_called_inside_another_still_warns(mode: str) -> None:
    """The same two, the limit really inside the retry (its hook called from the retry's
    handler): the known-bad order warns."""
    retry = ToolRetryMiddleware(max_retries=0)
    limit = ToolCallLimitMiddleware(run_limit=5)

    def inner(request: Any) -> Any:
        return limit.wrap_tool_call(request, _answer)

    async def ainner(request: Any) -> Any:
        return await limit.awrap_tool_call(request, _aanswer)

    with pytest.warns(GuardrailOrderWarning, match="inside"):
        _call(retry, inner if mode == "sync" else ainner, mode)
