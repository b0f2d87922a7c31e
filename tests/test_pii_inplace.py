"""The last hop never trusts a mutable value it saw before (issue 29, item 1).

A middleware listed *after* ``PIIMiddleware`` may edit the messages it is handed in place: the
same message, the same content list, the same number of blocks, a different text. Whatever it
edits, the request the model receives is scanned again. Each shape below is edited in place by
an inner middleware, through a real ``create_agent`` run, sync and async, under ``redact``
(the value never reaches the model) and ``block`` (the call is refused before the model runs).
One case goes over the real ``ChatOpenAI`` client to the wire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import respx
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from guardrails.errors import PIIDetectionError
from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel
from tests.test_pii_wire import answer, dumps, wire

EMAIL = "jane.doe@example.com"


def _history() -> list[Any]:
    raw_call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup", "arguments": json.dumps({"q": "x"})},
    }
    return [
        HumanMessage(
            [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "https://img.example/a.png"}},
            ],
            id="h1",
        ),
        AIMessage(
            "",
            tool_calls=[{"name": "lookup", "args": {"q": "x", "opts": {"k": "v"}}, "id": "c1"}],
            invalid_tool_calls=[{"name": "lookup", "args": '{"q": "y"', "id": "c2", "error": None}],
            additional_kwargs={"tool_calls": [raw_call]},
            id="a1",
        ),
        ToolMessage([{"type": "text", "text": "found"}], tool_call_id="c1", id="t1"),
        HumanMessage("next", id="h2"),
    ]


def _by_id(request: Any, mid: str) -> Any:
    return next(m for m in request.messages if m.id == mid)


def _raw_args(request: Any) -> None:
    fn = _by_id(request, "a1").additional_kwargs["tool_calls"][0]["function"]
    fn["arguments"] = json.dumps({"q": EMAIL})


#: shape -> an in-place edit of the request an inner middleware receives
EDITS: dict[str, Callable[[Any], None]] = {
    "content block text": lambda r: (
        _by_id(r, "h1")
        .content[0]
        .__setitem__("text", _by_id(r, "h1").content[0]["text"] + " " + EMAIL)
    ),
    "nested block field": lambda r: (
        _by_id(r, "h1")
        .content[1]["image_url"]
        .__setitem__("url", "https://img.example/a.png?who=" + EMAIL)
    ),
    "block replaced in the list": lambda r: _by_id(r, "h1").content.__setitem__(
        0, {"type": "text", "text": EMAIL}
    ),
    "block appended": lambda r: _by_id(r, "h1").content.append({"type": "text", "text": EMAIL}),
    "content reassigned": lambda r: setattr(_by_id(r, "h2"), "content", f"next {EMAIL}"),
    "tool message block": lambda r: (
        _by_id(r, "t1").content[0].__setitem__("text", f"found {EMAIL}")
    ),
    "tool call args": lambda r: _by_id(r, "a1").tool_calls[0]["args"].__setitem__("q", EMAIL),
    "nested tool call args": lambda r: (
        _by_id(r, "a1").tool_calls[0]["args"]["opts"].__setitem__("k", EMAIL)
    ),
    "invalid tool call args": lambda r: (
        _by_id(r, "a1").invalid_tool_calls[0].__setitem__("args", '{"q": "' + EMAIL + '"')
    ),
    "raw tool_calls in additional_kwargs": _raw_args,
    "additional_kwargs entry": lambda r: _by_id(r, "h2").additional_kwargs.__setitem__(
        "metadata", {"who": EMAIL}
    ),
    "message name": lambda r: setattr(_by_id(r, "h2"), "name", EMAIL),
    "system message block": lambda r: r.system_message.content[0].__setitem__(
        "text", f"be brief {EMAIL}"
    ),
}


class InPlace(AgentMiddleware):
    """Edits the request it is handed in place, then calls the model."""

    def __init__(self, edit: Callable[[Any], None]) -> None:
        super().__init__()
        self.edit = edit

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        self.edit(request)
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        self.edit(request)
        return await handler(request)


def _run(agent: Any, mode: str) -> Any:
    payload = {"messages": _history()}
    if mode == "sync":
        return agent.invoke(payload)
    return asyncio.run(agent.ainvoke(payload))


@pytest.mark.sweep
@pytest.mark.parametrize("strategy", ["redact", "block"])
@pytest.mark.parametrize("shape", list(EDITS))
def test_an_in_place_edit_after_the_guardrail_is_scanned(
    shape: str, strategy: str, mode: str
) -> None:
    model = ScriptedChatModel(default="done")
    agent = create_agent(
        model,
        system_prompt=SystemMessage([{"type": "text", "text": "be brief"}]),
        middleware=[PIIMiddleware("email", strategy=strategy), InPlace(EDITS[shape])],
    )
    if strategy == "block":
        with pytest.raises(PIIDetectionError):
            _run(agent, mode)
        assert model.calls == 0
        return
    _run(agent, mode)
    sent = dumps(model.requests)
    assert EMAIL not in sent, f"{shape}: the edited value reached the model"
    assert "REDACTED_EMAIL" in sent


def test_the_issue_case_over_the_wire(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    """``m.content[0]["text"] += " jane@example.com"`` (issue 29) with the real OpenAI client."""

    class Append(AgentMiddleware):
        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            request.messages[0].content[0]["text"] += " jane@example.com"
            return handler(request)

        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            request.messages[0].content[0]["text"] += " jane@example.com"
            return await handler(request)

    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    agent = create_agent(chat_openai(), middleware=[PIIMiddleware("email"), Append()])
    payload = {"messages": [HumanMessage([{"type": "text", "text": "hello"}])]}
    if mode == "sync":
        agent.invoke(payload)
    else:
        asyncio.run(agent.ainvoke(payload))
    assert "jane@example.com" not in wire(route)
    assert "[REDACTED_EMAIL]" in wire(route)
