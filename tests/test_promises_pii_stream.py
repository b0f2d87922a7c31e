"""PII promises of streams a careless edit would break unnoticed (issue 29, area ``pii``).

The v3 stream transformer (``middleware.transformers``) driven with protocol events of every
shape LangChain's stream bridge produces, and streamed answers at the last hop (text, content
blocks, tool-call chunks, invalid calls, a legacy ``function_call``) through real agents, sync
and async: no event or chunk releases a value, a piece of one, or a tail of another message,
and what is held back (128 characters, raw) still comes out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from guardrails import PIIDetectionError, PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke
from tests.test_promises_pii import EMAIL, OTHER, SSN, _dumps

# ------------------------------------------------------------------- the v3 stream transformer
# LangGraph hands every protocol event of ``stream_events(version="v3")`` to the middleware's
# transformer (``middleware.transformers``) before releasing it; these drive that protocol
# with events of every shape LangChain's stream bridge produces.

LOOKBACK = 128


def _assert_held_back(released: str, handled: str) -> None:
    """What came out is the handled text but its last 128 characters (and the rest of the
    word the cut fell in): never a piece of a value."""
    assert "[REDACTED_EMAIL]" in released or EMAIL not in handled
    assert handled.startswith(released), "released text that is not the handled text"
    assert LOOKBACK <= len(handled) - len(released) < LOOKBACK + 6, len(handled) - len(released)


def _transformer(strategy: str = "redact", types: Any = "email") -> Any:
    mw = PIIMiddleware(types, strategy=strategy, apply_to_output=True)
    (factory,) = mw.transformers
    return factory(())


def _msg_event(payload: Any, run: str = "r1") -> dict[str, Any]:
    return {"type": "event", "method": "messages", "params": {"data": (payload, {"run_id": run})}}


def _delta(kind: str, field: str, text: str, index: int = 0) -> dict[str, Any]:
    return {"event": "content-block-delta", "index": index, "delta": {"type": kind, field: text}}


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize(
    ("kind", "field"),
    [("text-delta", "text"), ("reasoning-delta", "reasoning"), ("tool-call-delta", "args")],
)
def test_a_value_split_across_deltas_is_never_released(kind: str, field: str) -> None:
    t = _transformer()
    text = "filler " * 30 + f"write to {EMAIL} now " + "more " * 40
    released = ""
    for piece in _pieces(text):
        event = _msg_event(_delta(kind, field, piece))
        assert t.process(event) is True
        released += event["params"]["data"][0]["delta"][field]
    handled = text.replace(EMAIL, "[REDACTED_EMAIL]")
    _assert_held_back(released, handled)
    finish = {
        "event": "content-block-finish",
        "index": 0,
        "content": {"type": "text", "text": text},
    }
    t.process(_msg_event(finish))
    assert finish["content"]["text"] == handled


def test_deltas_of_two_blocks_and_two_runs_are_held_apart() -> None:
    t = _transformer()
    released: dict[tuple[str, int], str] = {}
    first, second = "aaa " * 40, "bbb " * 40
    for piece_a, piece_b in zip(_pieces(first), _pieces(second), strict=True):
        for run, index, piece in (("r1", 0, piece_a), ("r1", 1, piece_b), ("r2", 0, piece_b)):
            event = _msg_event(_delta("text-delta", "text", piece, index), run)
            t.process(event)
            key = (run, index)
            released[key] = released.get(key, "") + event["params"]["data"][0]["delta"]["text"]
    _assert_held_back(released[("r1", 0)], first)
    _assert_held_back(released[("r1", 1)], second)
    _assert_held_back(released[("r2", 0)], second)


@pytest.mark.parametrize("end", ["message-finish", "error", "content-block-finish"])
def test_a_finished_message_leaves_nothing_held_for_the_next(end: str) -> None:
    """After a message (or its block) ends, the next message on the same run and index starts
    from nothing: the previous message's held tail never comes out in it."""
    t = _transformer()
    for piece in _pieces("aaa " * 50):
        t.process(_msg_event(_delta("text-delta", "text", piece)))
    t.process(_msg_event({"event": end, "index": 0, "content": {"type": "text", "text": "a"}}))
    released = ""
    for piece in _pieces("bbb " * 50):
        event = _msg_event(_delta("text-delta", "text", piece))
        t.process(event)
        released += event["params"]["data"][0]["delta"]["text"]
    assert "a" not in released, "a held tail of the previous message came out"
    _assert_held_back(released, "bbb " * 50)


def test_cumulative_block_delta_arguments_are_handled_and_their_tail_held() -> None:
    t = _transformer()
    args = json.dumps({"to": EMAIL, "body": "x" * 200})
    fields = {
        "type": "tool_call_chunk",
        "id": "c1",
        "name": "send",
        "index": 0,
        "args": args,
        "extras": {"note": OTHER},
    }
    event = _msg_event(
        {
            "event": "content-block-delta",
            "index": 0,
            "delta": {"type": "block-delta", "fields": fields},
        }
    )
    t.process(event)
    out = event["params"]["data"][0]["delta"]["fields"]
    handled = args.replace(EMAIL, "[REDACTED_EMAIL]")
    assert out["args"] == handled[:-LOOKBACK]
    assert out["extras"] == {"note": "[REDACTED_EMAIL]"}
    assert (out["name"], out["id"], out["type"], out["index"]) == (
        "send",
        "c1",
        "tool_call_chunk",
        0,
    )


@pytest.mark.parametrize(
    "payload",
    [
        {
            "event": "content-block-delta",
            "index": 0,
            "delta": {"type": "data-delta", "data": f"mail {EMAIL}"},
        },
        {
            "event": "content-block-finish",
            "index": 0,
            "content": {"type": "tool_call", "name": "send", "args": {"to": EMAIL}, "id": "c1"},
        },
        {
            "event": "content-block-finish",
            "index": 0,
            "content": {"type": "text", "text": f"hi {EMAIL}"},
        },
        {"event": "message-start", "message": {"role": "ai", "content": f"hi {EMAIL}"}},
        {
            "event": "message-finish",
            "metadata": {"finish_reason": "stop"},
            "additional_kwargs": {"function_call": {"name": "send", "arguments": EMAIL}},
        },
    ],
    ids=["other delta type", "finished tool call", "finished text", "message start", "finish"],
)
def test_every_other_message_event_is_handled(payload: dict[str, Any]) -> None:
    t = _transformer()
    event = _msg_event(payload)
    t.process(event)
    assert EMAIL not in _dumps(event) and "[REDACTED_EMAIL]" in _dumps(event)


def test_a_whole_message_chunk_with_tool_call_chunks_is_handled() -> None:
    t = _transformer()
    args = json.dumps({"to": EMAIL})
    chunk = AIMessageChunk(
        content="", tool_call_chunks=[{"name": "send", "args": args, "id": "c1", "index": 0}]
    )
    event = _msg_event(chunk)
    t.process(event)
    message, _ = event["params"]["data"]
    assert EMAIL not in _dumps(message.model_dump())
    assert "[REDACTED_EMAIL]" in message.tool_call_chunks[0]["args"]


def test_a_whole_message_on_the_messages_channel_is_handled() -> None:
    t = _transformer()
    event = _msg_event(AIMessage(f"hi {EMAIL}", tool_calls=[tool_call("s", {"to": EMAIL}, "c")]))
    t.process(event)
    message, meta = event["params"]["data"]
    assert meta == {"run_id": "r1"}
    assert EMAIL not in _dumps(message.model_dump())
    assert message.content == "hi [REDACTED_EMAIL]"


@pytest.mark.parametrize(
    "data",
    [
        {"event": "tool-started", "tool_call_id": "c1", "input": {"to": EMAIL}},
        {"event": "tool-started", "tool_call_id": "c1", "input": EMAIL},
        {"event": "tool-output-delta", "tool_call_id": "c1", "delta": {"line": EMAIL}},
        {"event": "tool-finished", "tool_call_id": "c1", "output": f"sent to {EMAIL}"},
        {"event": "tool-finished", "tool_call_id": "c1", "output": {"to": [EMAIL]}},
        {"event": "tool-error", "tool_call_id": "c1", "message": f"no mailbox {EMAIL}"},
    ],
    ids=["started dict", "started str", "output delta dict", "finished", "finished dict", "error"],
)
def test_the_tools_channel_is_handled(data: dict[str, Any]) -> None:
    t = _transformer()
    event = {"type": "event", "method": "tools", "params": {"data": data}}
    assert t.process(event) is True
    assert EMAIL not in _dumps(event) and "[REDACTED_EMAIL]" in _dumps(event)


def test_tool_output_text_deltas_are_held_and_the_finish_clears_them() -> None:
    t = _transformer()
    text = "line " * 30 + f"owner {EMAIL} " + "line " * 40
    released = ""
    for piece in _pieces(text):
        data = {"event": "tool-output-delta", "tool_call_id": "c1", "delta": piece}
        t.process({"type": "event", "method": "tools", "params": {"data": data}})
        released += data["delta"]
    _assert_held_back(released, text.replace(EMAIL, "[REDACTED_EMAIL]"))
    t.process(
        {
            "type": "event",
            "method": "tools",
            "params": {"data": {"event": "tool-finished", "tool_call_id": "c1", "output": "ok"}},
        }
    )
    released = ""
    for piece in _pieces("zzz " * 50):
        data = {"event": "tool-output-delta", "tool_call_id": "c1", "delta": piece}
        t.process({"type": "event", "method": "tools", "params": {"data": data}})
        released += data["delta"]
    _assert_held_back(released, "zzz " * 50)


@pytest.mark.parametrize("method", ["values", "updates"])
def test_state_snapshots_and_updates_are_handled(method: str) -> None:
    t = _transformer()
    data = {
        "messages": [HumanMessage(f"hi {EMAIL}", name="u", additional_kwargs={"k": EMAIL})],
        "notes": {"owner": EMAIL},
    }
    event = {"type": "event", "method": method, "params": {"data": data}}
    t.process(event)
    assert EMAIL not in _dumps(event["params"]["data"])


@pytest.mark.parametrize(
    "event",
    [
        {"type": "event", "method": "values", "params": {"data": {"m": [f"ssn {SSN}"]}}},
        {"type": "event", "method": "updates", "params": {"data": {"m": f"ssn {SSN}"}}},
        {
            "type": "event",
            "method": "tools",
            "params": {"data": {"event": "tool-finished", "tool_call_id": "c", "output": SSN}},
        },
        _msg_event(_delta("text-delta", "text", f"the ssn is {SSN} " + "x" * 200)),
        _msg_event(
            {
                "event": "content-block-finish",
                "index": 0,
                "content": {"type": "text", "text": f"ssn {SSN}"},
            }
        ),
        _msg_event(AIMessage(f"ssn {SSN}")),
    ],
    ids=["values", "updates", "tools", "delta", "finish", "message"],
)
def test_block_raises_before_the_event_is_released(event: dict[str, Any]) -> None:
    t = _transformer("block", "us_ssn")
    with pytest.raises(PIIDetectionError):
        t.process(event)


def test_pseudonymize_redacts_in_the_stream() -> None:
    mw = PIIMiddleware("email", strategy="pseudonymize", apply_to_tool_results=True)
    (factory,) = mw.transformers
    t = factory(())
    event = {"type": "event", "method": "values", "params": {"data": {"x": f"to {EMAIL}"}}}
    t.process(event)
    assert event["params"]["data"] == {"x": "to [REDACTED_EMAIL]"}


@pytest.mark.parametrize(
    "event",
    [
        {"type": "event", "method": "messages", "params": {"data": "not a pair"}},
        {"type": "event", "method": "messages", "params": {"data": ("a", "b", "c")}},
        {"type": "event", "method": "messages", "params": {"data": (["x"], {})}},
        {"type": "event", "method": "tools", "params": {"data": "text"}},
        {"type": "event", "method": "values", "params": {"data": None}},
        {"type": "event", "method": "custom", "params": {"data": {"anything": 1}}},
        _msg_event({"event": "content-block-delta", "index": 0, "delta": "text"}),
        _msg_event(
            {
                "event": "content-block-delta",
                "index": 0,
                "delta": {"type": "block-delta", "fields": "text"},
            }
        ),
    ],
)
def test_unknown_shapes_pass_through_unchanged(event: dict[str, Any]) -> None:
    import copy

    before = copy.deepcopy(event)
    assert _transformer().process(event) is True
    assert event == before


# --------------------------------------------------------------------------- streamed answers

STREAMED = {
    "email": EMAIL,
    "url": "https://example.com/path/abc",
    "ip": "192.168.100.200",
    "phone": "+49 30 901820",
}


def _stream_tokens(agent: Any, mode: str) -> str:
    import asyncio

    payload = {"messages": [("user", "hi")]}
    tokens: list[str] = []
    if mode == "sync":
        for token, _ in agent.stream(payload, stream_mode="messages"):
            tokens.append(token.content if isinstance(token.content, str) else "")
    else:

        async def run() -> None:
            async for token, _ in agent.astream(payload, stream_mode="messages"):
                tokens.append(token.content if isinstance(token.content, str) else "")

        asyncio.run(run())
    return "".join(tokens)


# slow: every alignment of every streamed kind through a real client (chunk shapes stay fast)
@pytest.mark.slow
@pytest.mark.parametrize("kind", list(STREAMED))
def test_a_streamed_value_is_never_handled_in_part(
    kind: str, mode: str, openai_mock: Any, chat_openai: Any
) -> None:
    """The provider streams a few characters at a time; a prefix of a value can be a value
    itself (``jane.doe@example.co``, ``https://example.com``, ``192.168.100.20``). Whatever
    the alignment, the value is handled whole: no piece of it is streamed or kept."""
    from tests.test_pii_wire import answer

    value = STREAMED[kind]
    for pad in range(5):
        text = "x" * pad + f" value {value} " + "word " * 40
        expected = "x" * pad + f" value [REDACTED_{kind.upper()}] " + "word " * 40
        openai_mock.post("/chat/completions").mock(side_effect=answer((text, []), (text, [])))
        agent = create_agent(
            chat_openai(streaming=True), middleware=[PIIMiddleware(kind, apply_to_output=True)]
        )
        assert _stream_tokens(agent, mode) == expected, f"pad {pad}: a piece of the value"
        out = invoke(agent, {"messages": [("user", "hi")]}, mode)
        assert out["messages"][-1].content == expected, f"pad {pad}: a piece of the value"


class Streamer(BaseChatModel):
    """A model that streams the given chunks (any shape) and answers their sum otherwise."""

    chunks: list[Any]

    @property
    def _llm_type(self) -> str:
        return "streamer"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        whole = self.chunks[0]
        for c in self.chunks[1:]:
            whole = whole + c
        message = AIMessage(
            content=whole.content,
            tool_calls=whole.tool_calls,
            invalid_tool_calls=whole.invalid_tool_calls,
            additional_kwargs=whole.additional_kwargs,
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        for c in self.chunks:
            yield ChatGenerationChunk(message=c.model_copy(deep=True))

    async def _astream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for c in self.chunks:
            yield ChatGenerationChunk(message=c.model_copy(deep=True))


def _text_chunks(text: str, size: int = 3) -> list[AIMessageChunk]:
    return [AIMessageChunk(content=p, id="run-s") for p in _pieces(text, size)]


def _block_chunks(text: str, size: int = 3) -> list[AIMessageChunk]:
    return [
        AIMessageChunk(content=[{"type": "text", "text": p, "index": 0}], id="run-s")
        for p in _pieces(text, size)
    ]


def _call_chunks(args: str, size: int = 4, name: str = "send") -> list[AIMessageChunk]:
    out = [
        AIMessageChunk(
            content="",
            id="run-s",
            tool_call_chunks=[{"name": name, "args": "", "id": "c1", "index": 0}],
        )
    ]
    out += [
        AIMessageChunk(
            content="",
            id="run-s",
            tool_call_chunks=[{"name": None, "args": p, "id": None, "index": 0}],
        )
        for p in _pieces(args, size)
    ]
    return out


STREAM_SHAPES: dict[str, Any] = {
    "text": lambda: _text_chunks("word " * 40 + f"mail {EMAIL} " + "word " * 40),
    "content blocks": lambda: _block_chunks("word " * 10 + f"mail {EMAIL} " + "word " * 10),
    "text then blocks": lambda: [
        *_text_chunks("word " * 40 + f"mail {EMAIL[:6]}"),
        *_block_chunks(EMAIL[6:] + " word"),
    ],
    "tool call arguments": lambda: _call_chunks(json.dumps({"to": EMAIL, "body": "x" * 200})),
    "invalid tool call arguments": lambda: _call_chunks('{"to": "' + EMAIL + '", '),
    "function_call": lambda: [
        AIMessageChunk(
            content="ok",
            id="run-s",
            additional_kwargs={"function_call": {"name": "send", "arguments": "{}"}},
        ),
        AIMessageChunk(
            content="",
            id="run-s",
            additional_kwargs={"function_call": {"arguments": EMAIL}},
        ),
    ],
}


def _stream_run(agent: Any, mode: str) -> tuple[list[Any], Any]:
    import asyncio

    payload = {"messages": [("user", "hi")]}
    seen: list[Any] = []
    config = {"configurable": {"thread_id": "s"}}
    if mode == "sync":
        for token, _ in agent.stream(payload, config, stream_mode="messages"):
            seen.append(token)
    else:

        async def run() -> None:
            async for token, _ in agent.astream(payload, config, stream_mode="messages"):
                seen.append(token)

        asyncio.run(run())
    return seen, agent.get_state(config).values["messages"]


@pytest.mark.sweep
@pytest.mark.parametrize("shape", list(STREAM_SHAPES))
def test_every_streamed_chunk_shape_is_handled_at_the_last_hop(
    shape: str, mode: str, memory_saver: Any
) -> None:
    """Whatever the provider streams (text, content blocks, tool-call chunks, invalid calls,
    a legacy ``function_call``), no chunk the caller reads and nothing the thread keeps holds
    the value, and the answer still comes out whole."""
    model = Streamer(chunks=STREAM_SHAPES[shape]())
    agent = create_agent(
        model,
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", apply_to_output=True, apply_to_input=False)],
    )
    seen, stored = _stream_run(agent, mode)
    assert seen, "nothing was streamed"
    assert EMAIL not in _dumps([t.model_dump() for t in seen]), f"{shape}: a chunk held the value"
    final = stored[-1]
    assert isinstance(final, AIMessage)
    assert EMAIL not in _dumps(final.model_dump()), f"{shape}: the thread kept the value"
    assert "[REDACTED_EMAIL]" in _dumps(final.model_dump())
    if shape in {"text", "content blocks"}:
        text = final.text if shape == "content blocks" else final.content
        assert text.endswith("word " * 10), "the held-back tail never came out"


@pytest.mark.parametrize("shape", ["text", "content blocks", "tool call arguments"])
def test_without_output_handling_the_stream_passes_whole(
    shape: str, mode: str, memory_saver: Any
) -> None:
    """Input-only guardrails do not hold or drop anything the model streams."""
    chunks = STREAM_SHAPES[shape]()
    model = Streamer(chunks=chunks)
    agent = create_agent(model, checkpointer=memory_saver, middleware=[PIIMiddleware("email")])
    seen, stored = _stream_run(agent, mode)
    assert len(seen) >= len(chunks)
    whole = chunks[0]
    for c in chunks[1:]:
        whole = whole + c
    final = stored[-1]
    assert final.content == whole.content
    assert [c["args"] for c in final.tool_calls] == [c["args"] for c in whole.tool_calls]


def test_the_v3_projections_never_hold_a_value(mode: str) -> None:
    """``run.values`` (a built-in projection LangGraph fills as events pass) holds the handled
    state only: the transformer runs before the built-ins snapshot anything, the caller's own
    input echoed in the first snapshot included."""
    import asyncio

    model = ScriptedChatModel(responses=[f"noted {EMAIL}"])
    agent = create_agent(model, middleware=[PIIMiddleware("email", apply_to_output=True)])
    payload = {"messages": [HumanMessage(f"remember {EMAIL}")]}
    snapshots: list[Any] = []
    if mode == "sync":
        run = agent.stream_events(payload, version="v3")
        snapshots.extend(run.values)
    else:

        async def consume() -> None:
            run = await agent.astream_events(payload, version="v3")
            async for snapshot in run.values:
                snapshots.append(snapshot)

        asyncio.run(consume())
    assert snapshots
    assert EMAIL not in _dumps(snapshots), "a values snapshot held the raw value"


def test_a_streamed_answers_provider_fields_are_kept_handled(mode: str, memory_saver: Any) -> None:
    chunks = [
        AIMessageChunk(content="hello ", id="run-s"),
        AIMessageChunk(content="there", id="run-s", additional_kwargs={"note": f"to {EMAIL}"}),
    ]
    agent = create_agent(
        Streamer(chunks=chunks),
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", apply_to_output=True)],
    )
    _, stored = _stream_run(agent, mode)
    final = stored[-1]
    assert final.content == "hello there"
    assert final.additional_kwargs.get("note") == "to [REDACTED_EMAIL]"
