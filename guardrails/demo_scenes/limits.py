"""Scene: a looping agent stopped by call limits, and a per-user rate limit."""

from __future__ import annotations

from typing import IO

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from guardrails.call_limits import ModelCallLimitMiddleware, ToolCallLimitMiddleware
from guardrails.errors import RateLimitExceededError
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.testing import ScriptedChatModel, tool_call

TITLE = "Call limits and rate limits: a confused agent that keeps searching"


@tool
def web_search(query: str) -> str:
    """Search the web."""
    return f"results for {query!r}"


def run(out: IO[str]) -> None:
    looping = AIMessage(
        "",
        tool_calls=[
            tool_call("web_search", {"query": "same thing"}),
            tool_call("web_search", {"query": "again"}),
        ],
    )
    model = ScriptedChatModel(default=looping)
    agent = create_agent(
        model,
        tools=[web_search],
        checkpointer=InMemorySaver(),
        middleware=[
            ModelCallLimitMiddleware(run_limit=3),
            ToolCallLimitMiddleware(tool_name="web_search", run_limit=4),
        ],
    )
    result = agent.invoke(
        {"messages": [HumanMessage("research this")]},
        {"configurable": {"thread_id": "demo-limits"}},
    )
    print(f"  stopped after {model.calls} model calls: {result['messages'][-1].content}", file=out)
    limited = create_agent(
        ScriptedChatModel(default="hi"), middleware=[RateLimitMiddleware("2/minute", key="user")]
    )
    for attempt in range(3):
        try:
            limited.invoke(
                {"messages": [HumanMessage("hello")]}, {"configurable": {"user_id": "alice"}}
            )
            print(f"  alice request {attempt + 1}: allowed", file=out)
        except RateLimitExceededError as exc:
            print(f"  alice request {attempt + 1}: refused ({exc})", file=out)
