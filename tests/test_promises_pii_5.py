"""PII promises of a streamed answer at the last hop (issue 29, area ``pii``).

Through a real ``create_agent`` streaming (``stream_mode="messages"``), sync and async:

* a run of non-space characters that is still arriving is never cut after its first
  character: an encoded value (a base64 blob) must be opened whole, or its raw tail is
  released misaligned and never opened;
* a run longer than the run limit is still released as it arrives (the stream is not held to
  its end);
* a streamed answer made of content blocks keeps the provider's usage and metadata;
* a value in an ``int`` subclass (an ``IntEnum``) is handled like a number.
"""

from __future__ import annotations

import asyncio
import base64
import re
from enum import IntEnum
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from guardrails import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool
from tests.test_promises_pii_stream import Streamer

JANE = "jane.doe@example.com"


def _stream(agent: Any, mode: str) -> tuple[list[Any], list[Any]]:
    payload = {"messages": [("user", "hi")]}
    config = {"configurable": {"thread_id": "s5"}}
    seen: list[Any] = []
    if mode == "sync":
        for token, _ in agent.stream(payload, config, stream_mode="messages"):
            seen.append(token)
    else:

        async def run() -> None:
            async for token, _ in agent.astream(payload, config, stream_mode="messages"):
                seen.append(token)

        asyncio.run(run())
    return seen, agent.get_state(config).values["messages"]


def _answer_tokens(seen: list[Any]) -> list[str]:
    return [str(t.content) for t in seen if isinstance(t, AIMessageChunk)]


def test_an_encoded_value_still_arriving_is_not_cut_after_its_first_character(
    mode: str, memory_saver: Any
) -> None:
    """The first chunk ends inside a base64 blob whose first character sits right after the
    128 characters held back; the blob is released only whole, handled."""
    inner = ("note " * 30)[:129] + " " + JANE
    blob = base64.b64encode(inner.encode()).decode()
    assert len(blob) == 200
    first = "x" * 70 + " " + blob[:129]  # 200 characters: the cut falls on blob[1]
    chunks = [
        AIMessageChunk(content=first, id="run-b"),
        AIMessageChunk(content=blob[129:] + " done", id="run-b"),
    ]
    agent = create_agent(
        Streamer(chunks=chunks),
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", apply_to_output=True)],
    )
    seen, stored = _stream(agent, mode)
    streamed = "".join(_answer_tokens(seen))
    for text in (streamed, str(stored[-1].content)):
        (run,) = re.findall(r"[A-Za-z0-9+/]{100,}={0,2}", text)
        decoded = base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8", "replace")
        assert JANE not in decoded, "the encoded value was released raw"
        assert decoded.endswith("[REDACTED_EMAIL]")
        assert text.startswith("x" * 70 + " ") and text.endswith(" done")


def test_a_run_longer_than_the_limit_is_released_as_it_arrives(
    mode: str, memory_saver: Any
) -> None:
    run = "\u00e9" * 3000  # no space, nothing a detector reads: cut as text past the limit
    chunks = [AIMessageChunk(content=run[i : i + 200], id="run-l") for i in range(0, 3000, 200)]
    agent = create_agent(
        Streamer(chunks=chunks),
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", apply_to_output=True)],
    )
    seen, stored = _stream(agent, mode)
    released = [t for t in _answer_tokens(seen) if t]
    assert "".join(released) == run and stored[-1].content == run
    # released while it arrives, about every 1,024 characters (the run limit), not at the end
    assert len(released) >= 3, f"held to the end: {len(released)} releases"


def test_a_streamed_answer_of_content_blocks_keeps_usage_and_metadata(
    mode: str, memory_saver: Any
) -> None:
    usage = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    chunks = [
        AIMessageChunk(
            content=[{"type": "text", "text": "hello ", "index": 0}],
            id="run-u",
            response_metadata={"model_name": "streamer-1"},
        ),
        AIMessageChunk(
            content=[{"type": "text", "text": f"mail {JANE}", "index": 0}],
            id="run-u",
            usage_metadata=usage,  # type: ignore[arg-type]
            response_metadata={"finish_reason": "stop"},
        ),
    ]
    agent = create_agent(
        Streamer(chunks=chunks),
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", apply_to_output=True)],
    )
    seen, stored = _stream(agent, mode)
    final = stored[-1]
    assert JANE not in str(final.content) and "[REDACTED_EMAIL]" in str(final.content)
    assert JANE not in str([t.content for t in seen])
    assert final.usage_metadata is not None
    assert {k: final.usage_metadata[k] for k in usage} == usage  # type: ignore[literal-required]
    assert final.response_metadata.get("model_name") == "streamer-1"
    assert final.response_metadata.get("finish_reason") == "stop"


# --------------------------------------------------------------------------- int subclasses


class _Code(IntEnum):
    CARD = 4111111111111111  # a valid card number, as an enum member
    ONE = 1


def test_a_value_in_an_int_subclass_is_handled_and_a_clean_one_kept(mode: str) -> None:
    """An ``IntEnum`` member is a number like any other: a card in it is handled, a clean one
    stays the same object (not turned into text)."""

    @tool(response_format="content_and_artifact")
    def lookup(q: str) -> tuple[str, dict[str, Any]]:
        """Look it up."""
        return "found", {"card": _Code.CARD, "count": _Code.ONE}

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", {"q": "x"})]), "done"]
    )
    agent = create_agent(
        model,
        tools=[lookup],
        middleware=[PIIMiddleware("credit_card", apply_to_tool_results=True)],
    )
    out = invoke(agent, {"messages": [HumanMessage("go")]}, mode)
    (result,) = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert result.artifact["card"] == "[REDACTED_CREDIT_CARD]"
    assert result.artifact["count"] is _Code.ONE


def test_the_v3_messages_projection_holds_the_handled_answer_only(mode: str) -> None:
    """``run.messages`` (a built-in projection that snapshots each answer as its events pass)
    never holds the raw value: the PII transformer runs before the built-ins."""
    text = f"noted {JANE} " + "and more words " * 12
    chunks = [AIMessageChunk(content=text[i : i + 5], id="run-v") for i in range(0, len(text), 5)]
    agent = create_agent(
        Streamer(chunks=chunks), middleware=[PIIMiddleware("email", apply_to_output=True)]
    )
    payload = {"messages": [HumanMessage("hi")]}
    outputs: list[Any] = []
    if mode == "sync":
        run = agent.stream_events(payload, version="v3")
        outputs.extend(stream.output for stream in run.messages)
    else:

        async def consume() -> None:
            run = await agent.astream_events(payload, version="v3")
            async for stream in run.messages:
                outputs.append(await stream)

        asyncio.run(consume())
    assert outputs
    seen = repr(outputs)
    assert JANE not in seen and "[REDACTED_EMAIL]" in seen
