"""Pseudonymize: a restored tool's result never hands the real value back (issue 21, item 7).

A tool named in ``restore_tools`` receives the real value. Whatever cheap, undoable
transformation it applies before returning it (reversed, spaced out, split by separators,
upper-cased, hex, base64, URL-encoded, and two of them together), the result is handled before
it enters state, so the model's next request never carries the value in any of those forms.
Through a real ``create_agent`` run, sync and async.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import tool
from tests.test_pii_wire import dumps

EMAIL = "jane.doe@example.com"
PHONE = "+1 650 253 0000"

TRANSFORMS: dict[str, Callable[[str], str]] = {
    "as given": lambda v: f"sent to {v}",
    "reversed": lambda v: v[::-1],
    "spaced out": lambda v: " ".join(v),
    "dashed": lambda v: "-".join(v),
    "upper case": lambda v: v.upper(),
    # a letter that lowers into two characters (U+0130) in the same text: case is still undone
    "reversed upper case beside a dotted I": lambda v: f"\u0130stanbul: {v[::-1].upper()}",
    "swapped case": lambda v: v.swapcase(),
    "hex": lambda v: v.encode().hex(),
    "spaced hex": lambda v: " ".join(f"{b:02x}" for b in v.encode()),
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "base64 of reversed": lambda v: base64.b64encode(v[::-1].encode()).decode(),
    "base64url no padding": lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "url-encoded": lambda v: quote(v, safe=""),
    "every char percent-encoded": lambda v: "".join(f"%{b:02X}" for b in v.encode()),
    "reversed and spaced": lambda v: " ".join(v[::-1]),
    "rot13": lambda v: codecs.encode(v, "rot13"),
    "in a sentence, reversed": lambda v: f"result: {v[::-1]} (done)",
}


@pytest.mark.sweep
@pytest.mark.parametrize("value", [EMAIL, PHONE], ids=["email", "phone"])
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_a_restored_tool_cannot_hand_the_value_back(name: str, value: str, mode: str) -> None:
    transform = TRANSFORMS[name]
    received: list[str] = []

    @tool
    def transform_tool(text: str) -> str:
        """Transform a text."""
        received.append(text)
        return transform(text)

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("transform_tool", {"text": "<PII_1>"})]),
            AIMessage("done"),
        ]
    )

    def first(messages: list[Any]) -> AIMessage:  # the model writes the placeholder it was shown
        sent = messages[-1].content
        placeholder = sent[sent.index("<") : sent.index(">") + 1]
        return AIMessage("", tool_calls=[tool_call("transform_tool", {"text": placeholder})])

    model.responses[0] = first
    agent = create_agent(
        model,
        tools=[transform_tool],
        middleware=[
            PIIMiddleware(
                ["email", "phone"], strategy="pseudonymize", restore_tools=["transform_tool"]
            )
        ],
    )
    payload = {"messages": [("user", f"transform {value}")]}
    if mode == "sync":
        agent.invoke(payload)
    else:
        asyncio.run(agent.ainvoke(payload))
    assert received == [value]  # the declared tool got the real value
    second = dumps(model.requests[1]["messages"])
    leaked = transform(value)
    if name == "rot13" and leaked != value:  # not undone: the residual risk in the docs
        assert leaked in second
        return
    core = leaked.removeprefix("sent to ").removeprefix("result: ").removesuffix(" (done)")
    assert core not in second, f"{name}: the value came back to the model"
    assert value not in second


def test_without_restore_tools_no_tool_gets_a_real_value(mode: str) -> None:
    received: list[str] = []

    @tool
    def send_email(to: str) -> str:
        """Send an email."""
        received.append(to)
        return "sent"

    def first(messages: list[Any]) -> AIMessage:
        sent = messages[-1].content
        placeholder = sent[sent.index("<") : sent.index(">") + 1]
        return AIMessage("", tool_calls=[tool_call("send_email", {"to": placeholder})])

    model = ScriptedChatModel(responses=[first, AIMessage("done")])
    agent = create_agent(
        model,
        tools=[send_email],
        middleware=[PIIMiddleware("email", strategy="pseudonymize")],
    )
    payload = {"messages": [("user", f"mail {EMAIL}")]}
    if mode == "sync":
        agent.invoke(payload)
    else:
        asyncio.run(agent.ainvoke(payload))
    assert received == ["<EMAIL_1>"]
