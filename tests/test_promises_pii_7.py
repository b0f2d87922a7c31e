"""PII promises of the answer's backstop (issue 29, a seed-11 survivor of the ``pii`` area).

``apply_to_output`` covers the answer's text *and* its tool calls (docs/pii.md), also when the
answer does not come from the guarded model: a middleware listed after the guardrail (a cache, a
canned reply) answers without calling the model, so only the backstop pass sees it. Every message
of such an answer is handled, not only the AI message.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelResponse
from langchain_core.messages import AIMessage, HumanMessage

from guardrails import PIIMiddleware
from guardrails.testing import ScriptedChatModel
from tests.support import invoke, tool
from tests.test_promises_pii import EMAIL, _dumps


class _Canned(AgentMiddleware):
    """Listed after the guardrail: answers without calling the model, first with a tool call
    whose argument holds an email (and a note holding one), then with a plain answer."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            call = {"name": "send", "args": {"to": EMAIL}, "id": "c1", "type": "tool_call"}
            return ModelResponse(
                result=[
                    AIMessage(f"sending to {EMAIL}", tool_calls=[call]),
                    HumanMessage(f"noted: {EMAIL}"),
                ]
            )
        return ModelResponse(result=[AIMessage("done")])

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return self.wrap_model_call(request, handler)


def _agent(seen: list[str], **settings: Any) -> Any:
    @tool
    def send(to: str) -> str:
        """Send a note."""
        seen.append(to)
        return "sent"

    return create_agent(
        ScriptedChatModel(responses=[]),
        tools=[send],
        middleware=[PIIMiddleware("email", **settings), _Canned()],
    )


def test_output_handles_the_tool_calls_of_an_answer_the_model_did_not_make(mode: str) -> None:
    seen: list[str] = []
    out = invoke(_agent(seen, apply_to_output=True), {"messages": ["go"]}, mode)
    assert seen == ["[REDACTED_EMAIL]"]  # the tool never got the raw value
    assert EMAIL not in _dumps([m.model_dump() for m in out["messages"]])


def test_output_handles_every_message_of_such_an_answer(mode: str) -> None:
    seen: list[str] = []
    out = invoke(_agent(seen, apply_to_output=True), {"messages": ["go"]}, mode)
    notes = [m for m in out["messages"] if isinstance(m, HumanMessage) and "noted" in m.text]
    assert notes and all(EMAIL not in m.text for m in notes)


def test_without_apply_to_output_the_answer_is_left_as_configured(mode: str) -> None:
    # the control: the tests above fail for the setting, not for the fixture
    seen: list[str] = []
    invoke(_agent(seen), {"messages": ["go"]}, mode)
    assert seen == [EMAIL]
