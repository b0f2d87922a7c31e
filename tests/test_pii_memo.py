"""The memo of clean messages (issue 24): a message proven clean costs one look-up on the next
pass, and only while its content is *proven* unchanged (issue 29: nothing mutable counts as
scanned on its identity).

The key of a message is :func:`guardrails.pii.scan.fingerprint`: every field a scan reads,
written by :mod:`marshal` (exact builtin types only, each with its type). These tests edit
every mutable shape in place after a pass has remembered the message as clean, and check the
next pass finds the value: directly on :class:`~guardrails.pii.scan.Scan`, and through a real
agent across two model calls, sync and async.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from guardrails.pii import PIIMiddleware
from guardrails.pii.scan import _memo_of, fingerprint
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import tool
from tests.test_pii_inplace import EDITS, EMAIL, _history
from tests.test_pii_wire import dumps


def _request() -> Any:
    return SimpleNamespace(
        messages=_history(), system_message=SystemMessage([{"type": "text", "text": "be brief"}])
    )


def _everything(request: Any) -> list[Any]:
    return [request.system_message, *request.messages]


@pytest.mark.parametrize("shape", list(EDITS))
def test_a_message_remembered_as_clean_and_edited_in_place_is_scanned_again(shape: str) -> None:
    pii = PIIMiddleware("email")
    request = _request()
    first = pii.scan("input")
    assert first.messages(_everything(request)) == _everything(request)
    assert not first.found
    assert _memo_of(pii._detector), "the clean messages were not remembered"
    second = pii.scan("input")
    again = second.messages(_everything(request))
    assert all(a is b for a, b in zip(again, _everything(request), strict=True))
    EDITS[shape](request)
    third = pii.scan("input")
    handled = third.messages(_everything(request))
    assert third.found == {"email": 1}, f"{shape}: the edit was not scanned"
    assert EMAIL not in dumps(handled)


def test_a_text_passed_on_unproven_is_not_remembered() -> None:
    """A pass skips the texts it wrote itself (a mask can look like its input); a message
    holding one was not proven clean, so the next pass (a new call) scans it."""
    pii = PIIMiddleware("email")
    message = AIMessage("", tool_calls=[tool_call("send", {"to": EMAIL})], id="a1")
    skipping = pii.scan("input")
    skipping.produced.add(EMAIL)  # as if this pass had written it
    assert skipping.messages([message]) == [message]
    assert not skipping.found
    fresh = pii.scan("input")
    handled = fresh.messages([message])
    assert fresh.found == {"email": 1}
    assert EMAIL not in dumps(handled)


def test_a_message_with_pii_is_never_remembered_as_clean() -> None:
    pii = PIIMiddleware("email")
    message = AIMessage("", tool_calls=[tool_call("send", {"to": EMAIL})], id="a1")
    for _ in range(2):
        scan = pii.scan("input")
        scan.messages([message])
        assert scan.found == {"email": 1}
    assert fingerprint(message) not in _memo_of(pii._detector)


def test_the_key_holds_exact_types_and_values() -> None:
    class Text(str):
        pass

    def call(args: Any) -> AIMessage:
        return AIMessage("", tool_calls=[tool_call("f", args)], id="a")

    message = HumanMessage("hi")
    message.content = Text("hi")  # a subclass: walked every time
    assert fingerprint(message) is None
    keys = {
        fingerprint(call({"n": 1})),
        fingerprint(call({"n": "1"})),
        fingerprint(call({"n": True})),
        fingerprint(call({"n": 1.0})),
        fingerprint(call({"n": [1]})),
        fingerprint(call({"n": (1,)})),
        fingerprint(call({"m": 1})),
    }
    assert len(keys) == 7
    # the class is part of the key (a scan reads an AIMessage's tool calls, not a human's)
    assert fingerprint(HumanMessage("x")) != fingerprint(AIMessage("x"))
    long = HumanMessage([{"type": "text", "text": "x" * 10_000}])
    assert len(fingerprint(long)[1]) == 16  # no long raw text kept


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "found"


class EditOnSecondCall(AgentMiddleware):
    """On the second model call, edits in place the AI message of the first (whose tool call
    every pass of the first call proved clean)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def _edit(self, request: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            ai = next(m for m in request.messages if isinstance(m, AIMessage) and m.tool_calls)
            ai.tool_calls[0]["args"]["q"] = EMAIL

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        self._edit(request)
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        self._edit(request)
        return await handler(request)


def test_an_edit_on_a_later_call_of_a_message_an_earlier_call_proved_clean(mode: str) -> None:
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", {"q": "x"})]), "done"]
    )
    pii = PIIMiddleware("email")
    agent = create_agent(model, tools=[lookup], middleware=[pii, EditOnSecondCall()])
    payload = {"messages": [HumanMessage("hello")]}
    if mode == "sync":
        agent.invoke(payload)
    else:
        asyncio.run(agent.ainvoke(payload))
    assert len(model.requests) == 2
    assert _memo_of(pii._detector)
    second = dumps(model.requests[1])
    assert EMAIL not in second
    assert "REDACTED_EMAIL" in second


def test_tool_messages_and_their_artifacts_are_keyed() -> None:
    pii = PIIMiddleware("email")
    artifact = {"rows": ["a"]}
    message = ToolMessage("ok", tool_call_id="c1", artifact=artifact)
    assert pii.scan("input").messages([message]) == [message]
    artifact["rows"].append(EMAIL)
    scan = pii.scan("input")
    handled = scan.messages([message])
    assert scan.found == {"email": 1}
    assert EMAIL not in str(handled[0].artifact)


_BYTES_KINDS = {"bytes": bytes, "bytearray": bytearray, "memoryview": memoryview}


def _with_payload(kind: str, size: int) -> list[Any]:
    raw = _BYTES_KINDS[kind](f"mail {EMAIL}".encode())
    history: list[Any] = [HumanMessage(f"hello {i}", id=f"h{i}") for i in range(size - 1)]
    return [*history, HumanMessage("see attached", additional_kwargs={"blob": raw}, id="b")]


@pytest.mark.parametrize("size", [1, 5])  # one message (its fingerprint), a history (prefixes)
@pytest.mark.parametrize("first", list(_BYTES_KINDS))
@pytest.mark.parametrize("then", list(_BYTES_KINDS))
def test_a_field_swapped_between_bytes_kinds_is_scanned_as_a_fresh_pass_scans_it(
    first: str, then: str, size: int
) -> None:
    """marshal writes bytes, bytearray and memoryview alike, so the proofs of clean messages
    (fingerprints, proven prefixes) cannot tell them apart: the walker must treat the three
    alike too (it does: none is read as text), or a swap after a proof would change what a
    pass scans. A pass after the swap decides what a fresh middleware decides."""
    warm = PIIMiddleware("email")
    warm.scan("input").messages(_with_payload(first, size))
    after = warm.scan("input")
    got = after.messages(_with_payload(then, size))
    fresh = PIIMiddleware("email").scan("input")
    expected = fresh.messages(_with_payload(then, size))
    assert after.found == fresh.found
    assert [m.additional_kwargs for m in got] == [m.additional_kwargs for m in expected]
