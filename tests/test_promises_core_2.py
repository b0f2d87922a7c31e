"""Promises of the hook plumbing a fresh mutation sample (seed 31, issue 29) found open.

A guardrail's hook leaves nothing behind in its caller's context once it returns: a hook called
later in the same context (code that drives middleware hooks itself, as LangChain's own tests and
custom tool runners do) is not taken as running *inside* the earlier one, so no order warning is
raised for two guardrails that were never nested, in either hook, sync and async; two that are
nested still warn.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.prebuilt.tool_node import ToolCallRequest

from guardrails import ToolCallLimitMiddleware, ToolRetryMiddleware
from guardrails.order import GuardrailOrderWarning
from guardrails.testing import tool_call


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


def test_hooks_called_one_after_the_other_are_not_nested(mode: str) -> None:
    """A tool retry's hook, then a tool call limit's, in one context: each ran alone (the limit
    was never inside the retry), so no 'tool call limits inside a tool retry' warning."""
    retry = ToolRetryMiddleware(max_retries=0)
    limit = ToolCallLimitMiddleware(run_limit=5)
    handler = _answer if mode == "sync" else _aanswer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            _call(retry, handler, mode)
            _call(limit, handler, mode)
    assert not [w for w in caught if issubclass(w.category, GuardrailOrderWarning)], [
        str(w.message) for w in caught
    ]


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
