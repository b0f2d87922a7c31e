"""Nothing proven before is trusted after an in-place edit (issue 24 item 1, issue 29 item 1).

The per-call shortcuts of the PII guardrail (the clean set keyed by text, the set of clean
messages keyed by :func:`~guardrails.pii.walk.fingerprint`, the hand-over proof between the
guardrail's own pass and the provider-side pass) all prove a message clean *by content*. These
tests attack them where they pay off: on the second model call of a run, every message of the
first call has already been proven clean, the very same objects sit in graph state, and an
edit in place keeps the message's identity, its id, its class and (where it can) the length of
what it edits. Each edit is made by a middleware either *outside* the guardrail (before its own
pass: the stored thread itself is edited) or *inside* it (after its own pass, before the
provider call), through a real ``create_agent`` run with a tool call between the two model
calls, sync and async, under ``redact`` (the value never reaches the model) and ``block`` (the
second call is refused before the model runs).

Each edit puts an email into a field a provider receives: a string content reassigned (same
length), a content block's text edited, a key added to a block, a nested list inside a block,
a tool call's arguments edited (a value replaced, a key added, a nested list edited), an
invalid tool call's arguments, ``additional_kwargs`` (a new entry, the raw ``tool_calls``),
the message ``name``, and a tool message's content blocks. A shortcut that skipped any of these
as "seen before" fails here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import Field

from guardrails.compose import compose
from guardrails.errors import PIIDetectionError
from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import tool

EMAIL = "jane.doe@example.com"
#: A clean text exactly as long as the email (a same-length replacement).
SAME_LENGTH = "x" * len(EMAIL)


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "found it"


def _history() -> list[Any]:
    raw_call = {
        "id": "r1",
        "type": "function",
        "function": {"name": "lookup", "arguments": json.dumps({"q": "old"})},
    }
    return [
        HumanMessage(SAME_LENGTH, id="h0"),
        HumanMessage(
            [
                {"type": "text", "text": "hi there"},
                {"type": "text", "text": "more", "extras": {"tags": ["a", "b"]}},
            ],
            id="h1",
        ),
        AIMessage(
            "",
            tool_calls=[
                {
                    "name": "lookup",
                    "args": {"q": "old", "opts": {"k": "v", "list": ["p", "q"]}},
                    "id": "c0",
                    "type": "tool_call",
                }
            ],
            invalid_tool_calls=[{"name": "lookup", "args": '{"q": "y"', "id": "c9", "error": None}],
            additional_kwargs={"tool_calls": [raw_call]},
            id="a0",
        ),
        ToolMessage([{"type": "text", "text": "result zero"}], tool_call_id="c0", id="t0"),
        HumanMessage("go on", id="h2"),
    ]


def _msg(request: Any, mid: str) -> Any:
    return next(m for m in request.messages if m.id == mid)


def _raw_tool_calls(request: Any) -> None:
    fn = _msg(request, "a0").additional_kwargs["tool_calls"][0]["function"]
    fn["arguments"] = json.dumps({"q": EMAIL})


#: shape -> an in-place edit (same message object, same id) that puts EMAIL into a field the
#: provider receives
EDITS: dict[str, Callable[[Any], None]] = {
    "string content reassigned, same length": lambda r: setattr(_msg(r, "h0"), "content", EMAIL),
    "block text edited": lambda r: _msg(r, "h1").content[0].__setitem__("text", f"hi {EMAIL}"),
    "key added to a block": lambda r: _msg(r, "h1").content[1].__setitem__("note", EMAIL),
    "nested list in a block": lambda r: (
        _msg(r, "h1").content[1]["extras"]["tags"].__setitem__(0, EMAIL)
    ),
    "block list grown": lambda r: _msg(r, "h1").content.append({"type": "text", "text": EMAIL}),
    "tool call arg replaced": lambda r: _msg(r, "a0").tool_calls[0]["args"].__setitem__("q", EMAIL),
    "tool call arg added": lambda r: _msg(r, "a0").tool_calls[0]["args"].__setitem__("to", EMAIL),
    "tool call nested list": lambda r: (
        _msg(r, "a0").tool_calls[0]["args"]["opts"]["list"].__setitem__(1, EMAIL)
    ),
    "invalid tool call args": lambda r: (
        _msg(r, "a0").invalid_tool_calls[0].__setitem__("args", '{"q": "' + EMAIL + '"')
    ),
    "raw tool_calls in additional_kwargs": _raw_tool_calls,
    "additional_kwargs entry": lambda r: _msg(r, "h2").additional_kwargs.__setitem__("who", EMAIL),
    "message name": lambda r: setattr(_msg(r, "h2"), "name", EMAIL),
    "tool message block": lambda r: _msg(r, "t0").content[0].__setitem__("text", EMAIL),
}


class EditOnSecondCall(AgentMiddleware):
    """Edits the request in place on the run's second model call only."""

    def __init__(self, edit: Callable[[Any], None]) -> None:
        super().__init__()
        self.edit = edit
        self.calls = 0

    def _maybe_edit(self, request: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            self.edit(request)

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        self._maybe_edit(request)
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        self._maybe_edit(request)
        return await handler(request)


class Recorded(ScriptedChatModel):
    """Keeps what each call received as text, written at the call (the message objects are
    edited in place later)."""

    sent: list[str] = Field(default_factory=list)

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        self.sent.append(json.dumps([m.model_dump() for m in messages], default=str))
        return super()._generate(messages, stop, run_manager, **kw)


def _model() -> Recorded:
    return Recorded(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", {"q": "next"})]), "done"]
    )


def _run(agent: Any, mode: str) -> Any:
    payload = {"messages": _history()}
    if mode == "sync":
        return agent.invoke(payload)
    return asyncio.run(agent.ainvoke(payload))


def _sent(model: Recorded, call: int) -> str:
    return model.sent[call]


@pytest.mark.sweep
@pytest.mark.parametrize("where", ["outside", "inside", "composed"])
@pytest.mark.parametrize("strategy", ["redact", "block"])
@pytest.mark.parametrize("shape", list(EDITS))
def test_an_edit_of_a_message_proven_clean_on_the_first_call(
    shape: str, strategy: str, where: str, mode: str
) -> None:
    model = _model()
    pii = PIIMiddleware("email", strategy=strategy)
    editor = EditOnSecondCall(EDITS[shape])
    if where == "outside":
        middleware: list[Any] = [editor, pii]
    elif where == "inside":
        middleware = [pii, editor]
    else:  # inside, both in one composed pair
        middleware = [compose(pii, editor)]
    agent = create_agent(model, tools=[lookup], middleware=middleware)
    if strategy == "block":
        with pytest.raises(PIIDetectionError):
            _run(agent, mode)
        assert model.calls == 1, f"{shape}: the second call reached the model"
        return
    _run(agent, mode)
    assert model.calls == 2
    assert EMAIL not in _sent(model, 0)
    second = _sent(model, 1)
    assert EMAIL not in second, f"{shape} ({where}): the edited value reached the model"
    assert "REDACTED_EMAIL" in second


@pytest.mark.parametrize("shape", list(EDITS))
def test_the_same_edit_on_a_second_run_of_the_same_objects(shape: str, mode: str) -> None:
    """The same message objects handed to a second run (every one proven clean by the first,
    and remembered by content): an edit between the runs is found on the first call."""
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email", strategy="block")])
    history = _history()
    payload = {"messages": history}
    if mode == "sync":
        agent.invoke(payload)
    else:
        asyncio.run(agent.ainvoke(payload))
    assert model.calls == 1

    class Request:
        messages = history
        system_message = None

    EDITS[shape](Request)
    with pytest.raises(PIIDetectionError):
        if mode == "sync":
            agent.invoke(payload)
        else:
            asyncio.run(agent.ainvoke(payload))
    assert model.calls == 1


def _padding(turns: int) -> list[Any]:
    """Clean turns before the edited messages: a history long enough that a pass first
    compares it with the lists proven clean before (``walk._proven_prefix``)."""
    out: list[Any] = []
    for i in range(turns):
        out.append(HumanMessage(f"turn {i}: what is the status of order {i}?", id=f"p{i}h"))
        call = {"name": "lookup", "args": {"q": f"order {i}"}, "id": f"pc{i}", "type": "tool_call"}
        out.append(AIMessage("", tool_calls=[call], id=f"p{i}a"))
        out.append(ToolMessage(f"order {i}: shipped", tool_call_id=f"pc{i}", id=f"p{i}t"))
        out.append(AIMessage(f"Order {i} has shipped.", id=f"p{i}d"))
    return out


@pytest.mark.sweep
@pytest.mark.parametrize("where", ["outside", "inside"])
@pytest.mark.parametrize("shape", list(EDITS))
def test_an_edit_after_forty_clean_turns(shape: str, where: str, mode: str) -> None:
    """The same edits behind 40 clean turns (165 messages): the first model call proves the
    list clean and remembers it as a prefix; the edit on the second call (same objects, same
    classes, same length where it can) is found, and again on a second run of fresh objects
    holding the same values (a prefix proven by an earlier run)."""
    pii = PIIMiddleware("email", strategy="redact")  # one detector: its proofs kept
    for run in range(2):  # the second run: fresh objects, every prefix proven before
        model = _model()
        editor = EditOnSecondCall(EDITS[shape])
        middleware: list[Any] = [editor, pii] if where == "outside" else [pii, editor]
        agent = create_agent(model, tools=[lookup], middleware=middleware)
        payload = {"messages": [*_padding(40), *_history()]}
        if mode == "sync":
            agent.invoke(payload)
        else:
            asyncio.run(agent.ainvoke(payload))
        assert model.calls == 2
        second = _sent(model, 1)
        assert EMAIL not in second, f"{shape} ({where}, run {run}): the edit reached the model"
        assert "REDACTED_EMAIL" in second


def _with_finding(kind: str) -> list[Any]:
    """12 clean turns, one message holding EMAIL, 3 clean turns after it."""
    if kind == "content":
        found: Any = HumanMessage(f"mail {EMAIL} please", id="f0")
    else:
        call = {"name": "lookup", "args": {"q": EMAIL}, "id": "fc", "type": "tool_call"}
        found = AIMessage("", tool_calls=[call], id="f0")
    tail = _padding(3)
    if kind != "content":  # the tool call answered before the clean turns go on
        tail.insert(0, ToolMessage("found it", tool_call_id="fc", id="f1"))
    return [*_padding(12), found, *tail]


@pytest.mark.parametrize("kind", ["content", "tool call args"])
def test_a_list_holding_a_finding_is_not_remembered_past_it(kind: str, mode: str) -> None:
    """A pass that found something remembers the list as proven only up to that message: the
    same list again (the same objects, a second run) has its value handled again, on every
    run, and the clean messages after it are no proof for it."""
    pii = PIIMiddleware("email", strategy="redact")
    payload = {"messages": _with_finding(kind)}
    for run in range(3):
        model = Recorded(responses=["done"])
        agent = create_agent(model, tools=[lookup], middleware=[pii])
        if mode == "sync":
            agent.invoke(payload)
        else:
            asyncio.run(agent.ainvoke(payload))
        sent = _sent(model, 0)
        assert EMAIL not in sent, f"run {run}: the value reached the model"
        assert "REDACTED_EMAIL" in sent


class _SaysEqualDict(dict):  # type: ignore[type-arg]
    """Claims to equal anything (an empty dict included)."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


class _SaysEqualList(list):  # type: ignore[type-arg]
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize("field", ["additional_kwargs", "invalid_tool_calls"])
def test_a_container_subclass_claiming_to_be_empty_is_read(field: str, mode: str) -> None:
    """A message whose content is a clean text proven before and whose other fields *compare
    equal* to empty ones is not taken as holding nothing else: a dict or list subclass whose
    ``__eq__`` says so is read (the fast path compares exact types first)."""
    if field == "additional_kwargs":
        message: Any = HumanMessage("hello there, a clean text", id="m0")
        value: Any = _SaysEqualDict({"note": EMAIL})
    else:
        message = AIMessage("hello there, a clean text", id="m0")
        value = _SaysEqualList([{"name": "lookup", "args": f'{{"q": "{EMAIL}"}}', "id": "c1"}])
    pii = PIIMiddleware("email", strategy="block")
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[pii])
    payload = {"messages": [message]}
    if mode == "sync":
        agent.invoke(payload)
    else:
        asyncio.run(agent.ainvoke(payload))  # the content is now a key of the clean set
    object.__setattr__(message, field, value)  # (as a node or a tool with state could)
    with pytest.raises(PIIDetectionError):
        if mode == "sync":
            agent.invoke(payload)
        else:
            asyncio.run(agent.ainvoke(payload))
    assert model.calls == 1
