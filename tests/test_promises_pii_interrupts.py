"""A tool that asks a human (LangGraph's ``interrupt()``) under ``PIIMiddleware``.

``interrupt()`` raises inside the tool's run, where the guardrail now rebuilds a restored
tool's exceptions so that no real value leaves in them. An interrupt is not an error: it must
leave the run as LangGraph's own (the caller gets ``__interrupt__``), its question must carry
placeholders (the caller's UI and the checkpoint are sinks too), and ``Command(resume=...)``
must reach the tool, which gets real values only when it is in ``restore_tools``.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langgraph.types import Command, interrupt

from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

JANE = "jane@example.com"


@pytest.mark.parametrize("restored", [False, True], ids=["placeholders", "restore_tools"])
def test_a_tool_that_asks_a_human_is_paused_and_resumed_with_its_question_handled(
    restored: bool, mode: str, memory_saver: Any
) -> None:
    got: list[tuple[str, Any]] = []

    @tool
    def send(to: str) -> str:
        """Send a message, after a human said yes."""
        answer = interrupt({"question": f"send to {to}?"})
        got.append((to, answer))
        return "sent"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("send", {"to": "<EMAIL_1>"})]), "Done."]
    )
    pii = PIIMiddleware(
        "email", strategy="pseudonymize", restore_tools=["send"] if restored else []
    )
    agent = create_agent(model, tools=[send], checkpointer=memory_saver, middleware=[pii])
    config = {"configurable": {"thread_id": f"ask-{restored}"}}
    paused = invoke(agent, {"messages": [("user", f"mail {JANE}")]}, mode, config)
    [pending] = paused["__interrupt__"]
    assert pending.value == {"question": "send to <EMAIL_1>?"}, pending.value
    assert got == []
    done = invoke(agent, Command(resume="yes"), mode, config)
    assert got == [(JANE if restored else "<EMAIL_1>", "yes")], got
    assert done["messages"][-1].content == "Done."
