"""PII promises the seed-61 and seed-71 ``pii`` samples showed unstated (issue 29, round 8).

* The vault's mapping is the run's thread's whichever way the runtime carries it: LangGraph
  1.0 (allowed by ``langgraph>=1.0``) hands middleware a runtime without ``execution_info``, and
  the thread is then read from the run's configuration.
* A long conversation that holds a message of a class no scan has met yet (a subclass of your
  own) is scanned like any other, its values handled.
* A tool message's artifact in the caller's history is read whatever its text.
* A tool a layer inside runs itself (a dict of arguments, or a one-argument tool's text) gets
  its input handled.
* A history another layer writes anew with LangGraph's ``Overwrite`` (compaction: messages
  without ids, which no reducer numbered) is stored handled, and the model's answer is kept.
* The v3 stream transformer handles every event, of any kind, field by field.

Real ``create_agent`` graphs, a scripted model, sync and async.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelResponse
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.types import Overwrite

from guardrails import PIIDetectionError
from guardrails.pii import MemoryVault, PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool
from tests.test_promises_pii_stream import Streamer, _text_chunks

JANE = "jane.doe@example.com"
BOB = "bob@example.org"


# ------------------------------------------------------------------ the run's thread


class NoExecutionInfo(AgentMiddleware):  # type: ignore[type-arg]
    """Hands the layers inside it a runtime without ``execution_info``, as LangGraph 1.0's
    ``Runtime`` (which has no such field) does."""

    @staticmethod
    def _bare(request: Any) -> Any:
        return request.override(runtime=dataclasses.replace(request.runtime, execution_info=None))

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return handler(self._bare(request))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._bare(request))

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._bare(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._bare(request))


def test_a_vault_is_keyed_by_the_configured_thread_when_the_runtime_has_no_execution_info(
    mode: str,
) -> None:
    """Two threads share one vault; each has its own ``<EMAIL_1>``, and the tool of each
    thread receives that thread's value, with the thread read from the run's configuration."""
    sent: list[str] = []

    @tool
    def send_email(to: str) -> str:
        """Send an email."""
        sent.append(to)
        return "sent"

    model = ScriptedChatModel(
        default="done",
        responses=[
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>"})]),
            "sent",
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>"})]),
            "sent",
        ],
    )
    pii = PIIMiddleware(
        "email", strategy="pseudonymize", restore_tools=["send_email"], vault=MemoryVault()
    )
    agent = create_agent(model, tools=[send_email], middleware=[NoExecutionInfo(), pii])
    for who, value in (("a", JANE), ("b", BOB)):
        thread = {"configurable": {"thread_id": f"{who}-{uuid.uuid4().hex}"}}
        invoke(agent, {"messages": [HumanMessage(f"mail {value}")]}, mode, thread)
    assert sent == [JANE, BOB]
    assert model.requests[0]["messages"][-1].content == "mail <EMAIL_1>"
    assert model.requests[2]["messages"][-1].content == "mail <EMAIL_1>"


# ------------------------------------------------------------------ messages of a new class


def test_a_long_history_with_a_message_of_a_class_never_scanned_is_handled(mode: str) -> None:
    # a class made here, for this test only: no scan of this process has met it
    Note = type(f"Note{uuid.uuid4().hex[:8]}", (HumanMessage,), {})
    history: list[Any] = [
        HumanMessage("hello"),
        AIMessage("hi, how can I help?"),
        HumanMessage("a question"),
        AIMessage("an answer"),
        Note(f"write to {JANE}"),
    ]
    model = ScriptedChatModel(responses=["Noted."])
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": history}, mode)
    sent = model.requests[0]["messages"]
    assert len(sent) == len(history)
    assert sent[-1].content == "write to [REDACTED_EMAIL]"
    assert JANE not in repr(sent)


# ------------------------------------------------------------------ a tool message's artifact


def test_a_tool_messages_artifact_in_the_history_is_handled_whatever_its_text(
    mode: str, memory_saver: Any
) -> None:
    """A tool message the caller's history holds (a conversation carried over) whose text is
    one already seen clean: its artifact is still read. The model call (and every callback
    and tracer it has) and the stored thread get the artifact handled."""
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email")], checkpointer=memory_saver)
    history = [
        HumanMessage("done"),
        AIMessage("", tool_calls=[tool_call("lookup", {"q": "x"}, "c1")]),
        ToolMessage("done", artifact={"owner": JANE}, tool_call_id="c1"),
    ]
    config = {"configurable": {"thread_id": f"t-{uuid.uuid4().hex}"}}
    invoke(agent, {"messages": history}, mode, config)
    sent = model.requests[0]["messages"][-1]
    assert sent.content == "done" and sent.artifact == {"owner": "[REDACTED_EMAIL]"}
    stored = agent.get_state(config).values["messages"]
    assert JANE not in repr(stored)


# ------------------------------------------------------------------ a tool a layer runs itself

CAROL = "carol@example.net"


class RunsItself(AgentMiddleware):  # type: ignore[type-arg]
    """A layer inside the guardrail that runs the tool itself with arguments it writes: a
    plain dict of arguments, or for a one-argument tool its text (LangChain's tools take
    both), adding a copy to ``CAROL``."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def _input(self, request: Any) -> Any:
        to = f"{request.tool_call['args']['to']}, cc {CAROL}"
        return {"to": to} if self.how == "arguments" else to

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        out = request.tool.invoke(self._input(request))
        return ToolMessage(str(out), tool_call_id=request.tool_call["id"])

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        out = await request.tool.ainvoke(self._input(request))
        return ToolMessage(str(out), tool_call_id=request.tool_call["id"])


@pytest.mark.parametrize("how", ["arguments", "text"])
def test_a_tool_a_layer_runs_itself_gets_its_input_handled(how: str, mode: str) -> None:
    got: list[str] = []

    @tool
    def send_email(to: str) -> str:
        """Send an email."""
        got.append(to)
        return "sent"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("send_email", {"to": JANE})]), "ok"]
    )
    agent = create_agent(
        model,
        tools=[send_email],
        middleware=[PIIMiddleware("email", apply_to_tool_args=True), RunsItself(how)],
    )
    invoke(agent, {"messages": [HumanMessage("send it")]}, mode)
    assert got == ["[REDACTED_EMAIL], cc [REDACTED_EMAIL]"]


# ------------------------------------------------------------------ a history written anew


class Compact(AgentMiddleware):  # type: ignore[type-arg]
    """Rewrites the history before each model call as new messages (a compaction), through
    LangGraph's ``Overwrite``: they reach the state without ids."""

    def before_model(self, state: Any, runtime: Any) -> dict[str, Any]:
        kept = [
            HumanMessage(f"summary: {m.content}") for m in state["messages"] if m.type == "human"
        ]
        return {"messages": Overwrite(kept)}


def test_a_history_written_anew_without_ids_is_stored_handled_with_the_answer(
    mode: str, memory_saver: Any
) -> None:
    model = ScriptedChatModel(responses=["Done."])
    agent = create_agent(
        model, middleware=[Compact(), PIIMiddleware("email")], checkpointer=memory_saver
    )
    config = {"configurable": {"thread_id": f"c-{uuid.uuid4().hex}"}}
    result = invoke(agent, {"messages": [HumanMessage(f"write to {JANE}")]}, mode, config)
    stored = agent.get_state(config).values["messages"]
    for messages in (result["messages"], stored):
        assert [(m.type, m.content) for m in messages] == [
            ("human", "summary: write to [REDACTED_EMAIL]"),
            ("ai", "Done."),
        ]
    assert model.requests[0]["messages"][-1].content == "summary: write to [REDACTED_EMAIL]"


class Silent(AgentMiddleware):  # type: ignore[type-arg]
    """A layer inside the guardrail that answers with no message (LangChain accepts it)."""

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return ModelResponse(result=[])

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return ModelResponse(result=[])


def test_a_history_written_anew_is_stored_handled_when_the_answer_is_empty(
    mode: str, memory_saver: Any
) -> None:
    agent = create_agent(
        ScriptedChatModel(responses=["Done."]),
        middleware=[Compact(), PIIMiddleware("email"), Silent()],
        checkpointer=memory_saver,
    )
    config = {"configurable": {"thread_id": f"e-{uuid.uuid4().hex}"}}
    invoke(agent, {"messages": [HumanMessage(f"write to {JANE}")]}, mode, config)
    stored = agent.get_state(config).values["messages"]
    assert [(m.type, m.content) for m in stored] == [
        ("human", "summary: write to [REDACTED_EMAIL]")
    ]


# ------------------------------------------------------------------ the v3 stream: every event
# LangGraph hands each protocol event of ``stream_events(version="v3")`` to the middleware's
# transformer; an event of a kind it does not take apart by name is handled field by field
# (fail closed), its identifying fields left as they are.


def _transformer() -> Any:
    (factory,) = PIIMiddleware("email", apply_to_output=True).transformers
    return factory(())


def _tools_event(data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "method": "tools", "params": {"data": data}}


def _message_event(payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "method": "messages", "params": {"data": (payload, {"run_id": "r"})}}


@pytest.mark.parametrize(
    "data",
    [
        {"event": "tool-progress", "tool_call_id": "c1", "tool_name": "send", "detail": JANE},
        {"event": "tool-log", "tool_call_id": "c1", "lines": [f"to {JANE}", "ok"]},
        {"event": "tool-output", "tool_call_id": "c1", "message": {"to": {"first": JANE}}},
        {"event": "tool-started", "tool_call_id": "c1", "tool_name": "send", "args": JANE},
    ],
    ids=["progress", "log lines", "nested", "start without input"],
)
def test_a_tools_event_of_any_kind_releases_no_value(data: dict[str, Any]) -> None:
    event = _tools_event(data)
    ids = {k: v for k, v in data.items() if k in ("event", "tool_call_id", "tool_name")}
    assert _transformer().process(event) is True
    assert JANE not in repr(event) and "[REDACTED_EMAIL]" in repr(event)
    assert {k: v for k, v in data.items() if k in ids} == ids


@pytest.mark.parametrize(
    "payload",
    [
        {
            "event": "content-block-start",
            "index": 0,
            "content": {"type": "image", "url": f"https://img.example.org/a.png?u={JANE}"},
        },
        {
            "event": "content-block-start",
            "index": 1,
            "content": {"type": "text", "text": "", "extras": {"note": f"to {JANE}"}},
        },
        {"event": "message-start", "role": "ai", "id": "m1", "metadata": {"owner": JANE}},
        {"event": "error", "message": f"no mailbox {JANE}", "code": "bad_request"},
        {"event": "message-finish", "usage": {"input_tokens": 3}, "note": JANE},
        {"event": "message-annotation", "index": 0, "citation": {"title": f"mail {JANE}"}},
    ],
    ids=["image start", "text start extras", "start metadata", "error", "finish", "unknown"],
)
def test_a_messages_event_of_any_kind_releases_no_value(payload: dict[str, Any]) -> None:
    event = _message_event(payload)
    ids = {k: v for k, v in payload.items() if k in ("event", "index", "id", "role")}
    _transformer().process(event)
    assert JANE not in repr(event) and "[REDACTED_EMAIL]" in repr(event)
    assert {k: v for k, v in payload.items() if k in ids} == ids


def test_an_event_between_a_tools_output_deltas_keeps_what_is_held_back() -> None:
    """The 128 characters held back of a tool's streamed output still come out when another
    kind of event of the same call passes in between (only the call's end releases them)."""
    t = _transformer()
    text = "line " * 40 + f"owner {JANE} " + "tail " * 40
    pieces = [text[i : i + 9] for i in range(0, len(text), 9)]
    released = ""
    for k, piece in enumerate(pieces):
        data = {"event": "tool-output-delta", "tool_call_id": "c1", "delta": piece}
        t.process(_tools_event(data))
        released += data["delta"]
        if k == len(pieces) // 2:
            t.process(_tools_event({"event": "tool-progress", "tool_call_id": "c1", "pct": 50}))
    end = {"event": "tool-output-delta", "tool_call_id": "c1", "delta": " done"}
    t.process(_tools_event(end))
    released += end["delta"]
    handled = (text + " done").replace(JANE, "[REDACTED_EMAIL]")
    assert handled.startswith(released) and len(handled) - len(released) <= 140
    assert len(released) > len(handled) - 140, "the held-back text was dropped"


# ------------------------------------------------------------------ a streamed answer under block


def _stream(agent: Any, mode: str, seen: list[str]) -> None:
    """Stream a run (``stream_mode="messages"``), every chunk read kept in ``seen``."""
    import asyncio

    payload = {"messages": [HumanMessage("hi")]}
    if mode == "sync":
        for token, _ in agent.stream(payload, stream_mode="messages"):
            seen.append(repr(token))
    else:

        async def run() -> None:
            async for token, _ in agent.astream(payload, stream_mode="messages"):
                seen.append(repr(token))

        asyncio.run(run())


def test_a_streamed_answer_holding_a_value_is_refused_under_block(mode: str) -> None:
    """``block`` with ``apply_to_output``: a value early in a streamed answer (well before the
    128 characters held back) stops the stream with ``PIIDetectionError``, and no chunk the
    caller read holds it."""
    text = f"mail {JANE} " + "word " * 80
    agent = create_agent(
        Streamer(chunks=_text_chunks(text)),
        middleware=[PIIMiddleware("email", strategy="block", apply_to_output=True)],
    )
    seen: list[str] = []
    with pytest.raises(PIIDetectionError):
        _stream(agent, mode, seen)
    assert JANE not in "".join(seen)


# ------------------------------------------------------------------ the event loop, inside a layer


def test_a_long_text_inside_a_layer_gives_the_loop_a_turn_between_its_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Async only. The long text sits inside a JSON document (a layer the scan opens): its
    chunks are scanned with a turn of the loop between any two, as a long plain text's are
    (tests/test_promises_pii_9.py), and its value is handled."""
    import asyncio
    import itertools
    import json

    from guardrails.pii import scan as scan_module
    from tests.test_promises_pii_9 import _AsyncScripted, _count_turns

    monkeypatch.setattr(scan_module, "SLICE", 0.0)
    seen: list[int] = []
    inner = " ".join(f"word{i}" for i in range(20_000)) + " EMP-123456"

    def employee_ids(chunk: str) -> list[dict[str, Any]]:
        if len(chunk) >= 4_096:  # a chunk of the document or of the text inside it
            seen.append(turns())
        at = chunk.find("EMP-")
        return [] if at < 0 else [{"start": at, "end": at + 10, "score": 1.0}]

    model = _AsyncScripted(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("employee_id", detector=employee_ids)])
    document = json.dumps({"note": inner, "n": 1})
    turns = _count_turns(lambda: agent.ainvoke({"messages": [HumanMessage(document)]}))
    asyncio.run(turns.main([]))  # type: ignore[attr-defined]
    sent = json.loads(str(model.requests[0]["messages"][-1].content))
    assert sent["note"].endswith("[REDACTED_EMPLOYEE_ID]") and "EMP-123456" not in str(sent)
    assert len(seen) >= 10
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert gaps.count(0) == 0, f"{gaps.count(0)} of {len(gaps)} chunks without a turn"
