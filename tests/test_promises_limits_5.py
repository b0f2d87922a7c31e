"""Promise of ``ToolCallLimitMiddleware(tool_name=...)``: a misspelt ``tool_name`` is said.

The limit counts only the calls of ``tool_name``; ``tool_name="serach"`` beside a ``search``
tool counts nothing, and the agent calls ``search`` without limit. It cannot be refused at
construction (one instance may sit in subagents that lack the tool), so the first call of a
tool whose name is a near miss of ``tool_name`` warns, once per pair; a tool with another name
does not. Through a real ``create_agent`` graph with a scripted model, sync and async.
"""

from __future__ import annotations

import warnings

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from guardrails.call_limits import ToolCallLimitMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool


@tool
def search(q: str) -> str:
    """Search."""
    return f"found {q}"


@tool
def fetch_page(url: str) -> str:
    """Fetch a page."""
    return "page"


@tool
def web_search(q: str) -> str:
    """Search the web."""
    return f"found {q}"


@tool
def ls(q: str) -> str:
    """List."""
    return "listed"


def _said(mode: str, tool_name: str, called: str, times: int) -> list[str]:
    steps = [AIMessage("", tool_calls=[tool_call(called, {"url": "u"} if called == "fetch_page" else
                                                 {"q": "x"})]) for _ in range(times)]  # fmt: skip
    model = ScriptedChatModel(responses=[*steps, "done"])
    limit = ToolCallLimitMiddleware(tool_name=tool_name, run_limit=1)
    agent = create_agent(model, tools=[search, fetch_page, web_search, ls], middleware=[limit])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        invoke(agent, {"messages": [("user", "go")]}, mode)
    return [str(w.message) for w in caught if "misspelt tool_name" in str(w.message)]


@pytest.mark.parametrize(
    "typo", ["serach", "saerch", "searh", "seearch", "seerch", "Search", "web_serch"]
)
def test_a_misspelt_tool_name_is_said_once(mode: str, typo: str) -> None:
    """Each pair is said once per process: the async run uses its own spelling of the typo."""
    tool_name = typo if mode == "sync" else typo.swapcase()
    said = _said(mode, tool_name, "web_search" if typo.startswith("web") else "search", 3)
    assert len(said) == 1, said
    assert "did you mean" in said[0]


@pytest.mark.parametrize("other", ["fetch_page", "ls", "lt"])
def test_a_tool_of_another_name_is_not_a_misspelling(mode: str, other: str) -> None:
    assert (
        _said(mode, "lt" if other == "ls" else "search", other if other != "lt" else "ls", 2) == []
    )
