"""PII coverage attacks (issue 12): every shape, order and stream, through a real agent.

Each test drives ``create_agent`` with the real ``ChatOpenAI`` over respx, in sync and async and,
where the run streams, with ``stream_mode="messages"`` / ``"updates"`` and
``stream_events(version="v3")``, and asserts the raw value is in no request body, tool argument,
stream event, result field or audit line.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import respx
from langchain.agents import create_agent
from langchain.agents.middleware import dynamic_prompt, wrap_model_call
from langchain.agents.structured_output import ProviderStrategy, ToolStrategy
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel

from guardrails.errors import GuardrailConfigError, PIIDetectionError
from guardrails.pii import MemoryVault, PIIMiddleware, guard_model
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture
from tests.support import completion, error, tool

EMAIL = "jane.doe@example.com"
CARD = "4111111111111111"
SSN = "536-22-1234"
HOWS = ["invoke", "updates", "messages", "v3"]


# ---------------------------------------------------------------------- helpers
def sse(content: str | None = "ok", tool_calls: list[tuple[str, dict[str, Any]]] = ()) -> bytes:  # type: ignore[assignment]
    """An OpenAI streamed chat completion, a few characters per chunk."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": "chatcmpl-s",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-test",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    for i in range(0, len(content or ""), 5):
        out.append(chunk({"content": (content or "")[i : i + 5]}))
    for n, (name, args) in enumerate(tool_calls):
        text = json.dumps(args)
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": n,
                            "id": f"call_s{n}",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for i in range(0, len(text), 4):
            out.append(
                chunk({"tool_calls": [{"index": n, "function": {"arguments": text[i : i + 4]}}]})
            )
    out.append(chunk({}, "tool_calls" if tool_calls else "stop"))
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def answer(*replies: tuple[str | None, list[tuple[str, dict[str, Any]]]]) -> Callable[..., Any]:
    """respx side effect: the replies in order (streamed when the request asks), then "done"."""
    queue = list(replies)

    def reply(request: httpx.Request) -> httpx.Response:
        content, calls = queue.pop(0) if queue else ("done", [])
        if json.loads(request.content).get("stream"):
            return httpx.Response(
                200, content=sse(content, calls), headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=completion(content, tool_calls=calls))

    return reply


def dumps(value: Any) -> str:
    def default(obj: Any) -> Any:
        if hasattr(obj, "model_dump"):
            return obj.model_dump()
        if hasattr(obj, "__dict__"):
            return vars(obj)
        return str(obj)

    return json.dumps(value, default=default)


def drive(
    agent: Any,
    payload: Any,
    mode: str,
    how: str = "invoke",
    config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[Any, str]:
    """Run the agent; return (result or None, everything it let out, as text)."""
    seen: list[Any] = []
    result: Any = None
    if how == "invoke":
        if mode == "sync":
            result = agent.invoke(payload, config=config, **kwargs)
        else:
            result = asyncio.run(agent.ainvoke(payload, config=config, **kwargs))
        return result, dumps(result)
    if how in {"updates", "messages", "values"}:
        if mode == "sync":
            try:
                for item in agent.stream(payload, config=config, stream_mode=how, **kwargs):
                    seen.append(item)
            finally:
                text = dumps(seen)
        else:

            async def run() -> None:
                async for item in agent.astream(payload, config=config, stream_mode=how, **kwargs):
                    seen.append(item)

            try:
                asyncio.run(run())
            finally:
                text = dumps(seen)
        return None, text
    assert how == "v3"
    if mode == "sync":
        try:
            for event in agent.stream_events(payload, config=config, version="v3", **kwargs):
                seen.append(event)
        finally:
            text = dumps(seen)
    else:

        async def run_v3() -> None:
            stream = await agent.astream_events(payload, config=config, version="v3", **kwargs)
            async for event in stream:
                seen.append(event)

        try:
            asyncio.run(run_v3())
        finally:
            text = dumps(seen)
    return None, text


def _drive_into(seen: list[Any], agent: Any, payload: Any, mode: str, how: str) -> None:
    """Like :func:`drive`, keeping what was let out in ``seen`` even when the run raises."""
    if how == "invoke":
        seen.append(drive(agent, payload, mode)[0])
        return
    if mode == "sync":
        if how == "v3":
            seen.extend(agent.stream_events(payload, version="v3"))
        else:
            for item in agent.stream(payload, stream_mode=how):
                seen.append(item)
        return

    async def run() -> None:
        if how == "v3":
            async for event in await agent.astream_events(payload, version="v3"):
                seen.append(event)
        else:
            async for item in agent.astream(payload, stream_mode=how):
                seen.append(item)

    asyncio.run(run())


def wire(route: Any) -> str:
    return "\n".join(call.request.content.decode() for call in route.calls)


def assert_nowhere(value: str, route: Any, seen: str, audit: AuditCapture, *more: str) -> None:
    sent = wire(route)
    assert value not in sent and quote(value) not in sent, "raw value reached the provider"
    assert value not in seen, "raw value in the result or a stream event"
    assert value not in dumps(audit.events), "raw value in an audit line"
    for extra in more:
        assert value not in extra


# ---------------------------------------------------------------------- 1. no skip by id
def test_a_reused_message_id_is_scanned_again_block(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, memory_saver: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    agent = create_agent(
        chat_openai(),
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("us_ssn", strategy="block")],
    )
    config = {"configurable": {"thread_id": "t"}}
    drive(agent, {"messages": [HumanMessage("hello", id="m1")]}, mode, config=config)
    with pytest.raises(PIIDetectionError):
        drive(agent, {"messages": [HumanMessage(f"ssn {SSN}", id="m1")]}, mode, config=config)
    assert SSN not in wire(route)


def test_an_edited_older_message_is_scanned_again(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, memory_saver: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    agent = create_agent(
        chat_openai(), checkpointer=memory_saver, middleware=[PIIMiddleware("email")]
    )
    config = {"configurable": {"thread_id": "t"}}
    drive(agent, {"messages": [HumanMessage("hello", id="m1")]}, mode, config=config)
    agent.update_state(config, {"messages": [HumanMessage(f"mail {EMAIL}", id="m1")]})
    drive(agent, {"messages": [HumanMessage("and?")]}, mode, config=config)
    assert EMAIL not in wire(route) and "[REDACTED_EMAIL]" in wire(route)
    stored = agent.get_state(config).values["messages"]
    assert EMAIL not in dumps(stored)


def test_a_message_edited_in_place_by_an_earlier_middleware(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    @wrap_model_call
    def inject(request: Any, handler: Any) -> Any:
        first = request.messages[0]
        edited = first.model_copy(update={"content": f"{first.content} {EMAIL}"})
        return handler(request.override(messages=[edited, *request.messages[1:]]))

    @wrap_model_call
    async def ainject(request: Any, handler: Any) -> Any:
        first = request.messages[0]
        edited = first.model_copy(update={"content": f"{first.content} {EMAIL}"})
        return await handler(request.override(messages=[edited, *request.messages[1:]]))

    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    before = inject if mode == "sync" else ainject
    agent = create_agent(chat_openai(), middleware=[before, PIIMiddleware("email")])
    drive(agent, {"messages": [HumanMessage("hi", id="m1")]}, mode)
    assert EMAIL not in wire(route)


# ---------------------------------------------------------------------- 2. every field
def _tc(name: str, args: dict[str, Any], id: str = "c1") -> dict[str, Any]:
    return {"name": name, "args": args, "id": id, "type": "tool_call"}


SHAPES: dict[str, Callable[[], list[Any]]] = {
    "additional_kwargs_name": lambda: [HumanMessage("hi", additional_kwargs={"name": EMAIL})],
    "input_text": lambda: [HumanMessage([{"type": "input_text", "text": f"mail {EMAIL}"}])],
    "tool_json_block": lambda: [
        HumanMessage("look up"),
        AIMessage("", tool_calls=[_tc("lookup", {"q": "x"})]),
        ToolMessage([{"type": "json", "json": {"email": EMAIL}}], tool_call_id="c1"),
        HumanMessage("and?"),
    ],
    "image_url_query": lambda: [
        HumanMessage(
            [
                {"type": "text", "text": "see"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"https://img.example/a.png?owner={quote(EMAIL)}"},
                },
            ]
        )
    ],
    "data_text_url": lambda: [
        HumanMessage(
            [
                {"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": "data:text/plain," + quote(EMAIL)}},
            ]
        )
    ],
    "data_text_base64": lambda: [
        HumanMessage(
            [
                {"type": "text", "text": "see"},
                {
                    "type": "file",
                    "base64": base64.b64encode(f"mail {EMAIL}".encode()).decode(),
                    "mime_type": "text/plain",
                },
            ]
        )
    ],
    "history_tool_args": lambda: [
        HumanMessage("go"),
        AIMessage("", tool_calls=[_tc("notify", {"to": EMAIL})]),
        ToolMessage("sent", tool_call_id="c1"),
        HumanMessage("and?"),
    ],
    "invalid_tool_calls": lambda: [
        HumanMessage("go"),
        AIMessage(
            "",
            invalid_tool_calls=[
                {
                    "name": "notify",
                    "args": '{"to": "' + EMAIL + '"',
                    "id": "c9",
                    "error": "bad json",
                    "type": "invalid_tool_call",
                }
            ],
        ),
        # answered, so LangChain does not "repair" it (a repair re-emits the caller's own
        # history raw on the v1/v2 updates stream: see docs/pii.md)
        ToolMessage("error: bad json", tool_call_id="c9"),
        HumanMessage("and?"),
    ],
    "function_call": lambda: [
        HumanMessage("go"),
        AIMessage(
            "",
            additional_kwargs={
                "function_call": {"name": "notify", "arguments": json.dumps({"to": EMAIL})}
            },
        ),
        HumanMessage("and?"),
    ],
    "number_args": lambda: [
        HumanMessage("go"),
        AIMessage("", tool_calls=[_tc("pay", {"card": int(CARD)})]),
        ToolMessage("paid", tool_call_id="c1"),
        HumanMessage("and?"),
    ],
}


@pytest.mark.sweep
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("how", HOWS)
def test_every_field_is_scanned(
    shape: str,
    how: str,
    mode: str,
    openai_mock: respx.MockRouter,
    chat_openai: Any,
    audit: AuditCapture,
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    agent = create_agent(
        chat_openai(),
        middleware=[PIIMiddleware(["email", "credit_card"], apply_to_output=True)],
    )
    _, seen = drive(agent, {"messages": SHAPES[shape]()}, mode, how)
    value = CARD if shape == "number_args" else EMAIL
    assert route.call_count == 1
    assert_nowhere(value, route, seen, audit)


def test_block_catches_numbers_in_history_tool_args(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    agent = create_agent(chat_openai(), middleware=[PIIMiddleware("credit_card", strategy="block")])
    with pytest.raises(PIIDetectionError):
        drive(agent, {"messages": SHAPES["number_args"]()}, mode)
    assert route.call_count == 0


def test_a_message_name_with_an_email(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    agent = create_agent(chat_openai(), middleware=[PIIMiddleware("custom", detector=r"jane\w*")])
    drive(agent, {"messages": [HumanMessage("hi", name="janedoe")]}, mode)
    assert "janedoe" not in wire(route)


def test_request_user_field_from_model_settings(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    @wrap_model_call
    def settings(request: Any, handler: Any) -> Any:
        return handler(request.override(model_settings={"user": EMAIL}))

    @wrap_model_call
    async def asettings(request: Any, handler: Any) -> Any:
        return await handler(request.override(model_settings={"user": EMAIL}))

    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    later = settings if mode == "sync" else asettings
    agent = create_agent(chat_openai(), middleware=[PIIMiddleware("email"), later])
    drive(agent, {"messages": [("user", "hi")]}, mode)
    body = json.loads(route.calls[0].request.content)
    assert EMAIL not in wire(route) and body["user"] == "[REDACTED_EMAIL]"


def test_model_kwargs_user(mode: str, openai_mock: respx.MockRouter, chat_openai: Any) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    model = chat_openai(model_kwargs={"user": EMAIL})
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    drive(agent, {"messages": [("user", "hi")]}, mode)
    assert EMAIL not in wire(route)


# ---------------------------------------------------------------------- 3. the last hop
@pytest.mark.parametrize("strategy", ["redact", "block"])
def test_text_added_after_the_guardrail_is_covered(
    strategy: str, mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    @wrap_model_call
    def add(request: Any, handler: Any) -> Any:
        note = SystemMessage(f"customer: {request.runtime.context['who']}")
        return handler(request.override(messages=[note, *request.messages]))

    @wrap_model_call
    async def aadd(request: Any, handler: Any) -> Any:
        note = SystemMessage(f"customer: {request.runtime.context['who']}")
        return await handler(request.override(messages=[note, *request.messages]))

    @dynamic_prompt
    def prompt(request: Any) -> str:
        return f"You help {request.runtime.context['who']}"

    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    later = add if mode == "sync" else aadd
    agent = create_agent(
        chat_openai(), middleware=[PIIMiddleware("email", strategy=strategy), later, prompt]
    )
    if strategy == "block":
        with pytest.raises(PIIDetectionError):
            drive(agent, {"messages": [("user", "hi")]}, mode, context={"who": EMAIL})
        assert route.call_count == 0
    else:
        _, seen = drive(agent, {"messages": [("user", "hi")]}, mode, context={"who": EMAIL})
        assert_nowhere(EMAIL, route, seen, audit)
        assert "pii.detected" in audit.names()


def test_guard_model_for_a_model_other_middleware_calls(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=answer(("summary", [])))
    summarizer = guard_model(chat_openai(), PIIMiddleware("email"))
    messages = [HumanMessage(f"summarize: {EMAIL} wrote in")]
    if mode == "sync":
        summarizer.invoke(messages)
    else:
        asyncio.run(summarizer.ainvoke(messages))
    assert EMAIL not in wire(route) and "[REDACTED_EMAIL]" in wire(route)
    with pytest.raises(GuardrailConfigError, match="pseudonymize"):
        guard_model(chat_openai(), PIIMiddleware("email", strategy="pseudonymize"))


def test_unscannable_payloads_can_be_refused(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    payload = {"messages": [HumanMessage([{"type": "text", "text": "see"}, image])]}
    drive(create_agent(chat_openai(), middleware=[PIIMiddleware("email")]), payload, mode)
    assert route.call_count == 1  # default: sent, listed in the docs as not covered
    strict = create_agent(
        chat_openai(), middleware=[PIIMiddleware("email", refuse_unscannable=True)]
    )
    with pytest.raises(PIIDetectionError, match="unscannable"):
        drive(strict, payload, mode)
    assert route.call_count == 1


# ---------------------------------------------------------------------- 4. output and streams
@tool
def notify(to: str) -> str:
    """Notify someone."""
    RECEIVED.append(to)
    return "sent"


RECEIVED: list[str] = []


@pytest.mark.parametrize("how", HOWS)
def test_output_text_and_tool_args_are_handled_on_every_stream(
    how: str, mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    RECEIVED.clear()
    route = openai_mock.post("/chat/completions").mock(
        side_effect=answer(
            (f"I will write to {EMAIL} now", [("notify", {"to": EMAIL})]),
            (f"done, {EMAIL} notified", []),
        )
    )
    agent = create_agent(
        chat_openai(),
        tools=[notify],
        middleware=[PIIMiddleware("email", apply_to_output=True, apply_to_tool_results=True)],
    )
    _, seen = drive(agent, {"messages": [("user", "notify my contact")]}, mode, how)
    assert route.call_count == 2
    assert RECEIVED == ["[REDACTED_EMAIL]"]
    assert_nowhere(EMAIL, route, seen, audit)


@pytest.mark.parametrize("how", HOWS)
def test_block_on_output_raises_before_the_value_is_streamed(
    how: str, mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    openai_mock.post("/chat/completions").mock(
        side_effect=answer((f"the ssn is {SSN}, anything else?", []))
    )
    agent = create_agent(
        chat_openai(), middleware=[PIIMiddleware("us_ssn", strategy="block", apply_to_output=True)]
    )
    seen: list[Any] = []
    with pytest.raises(PIIDetectionError):
        _drive_into(seen, agent, {"messages": [("user", "what is it?")]}, mode, how)
    assert SSN not in dumps(seen), "the value was streamed before the error"
    assert SSN not in dumps(audit.events)


class Contact(BaseModel):
    name: str
    email: str


@pytest.mark.parametrize("strategy_cls", [ToolStrategy, ProviderStrategy])
@pytest.mark.parametrize("how", ["invoke", "updates", "v3"])
def test_structured_response_is_handled(
    strategy_cls: Any,
    how: str,
    mode: str,
    openai_mock: respx.MockRouter,
    chat_openai: Any,
    audit: AuditCapture,
) -> None:
    data = {"name": "Jane", "email": EMAIL}
    if strategy_cls is ToolStrategy:
        reply = answer((None, [("Contact", data)]))
    else:
        reply = answer((json.dumps(data), []))
    route = openai_mock.post("/chat/completions").mock(side_effect=reply)
    agent = create_agent(
        chat_openai(),
        response_format=strategy_cls(Contact),
        middleware=[PIIMiddleware("email", apply_to_output=True)],
    )
    result, seen = drive(agent, {"messages": [("user", "who?")]}, mode, how)
    assert_nowhere(EMAIL, route, seen, audit)
    if result is not None:
        assert result["structured_response"].email == "[REDACTED_EMAIL]"


@pytest.mark.parametrize("how", ["invoke", "updates", "v3"])
def test_tool_artifact_is_handled(
    how: str, mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    @tool(response_format="content_and_artifact")
    def lookup(q: str) -> tuple[str, dict[str, Any]]:
        """Look someone up."""
        return "found one", {"email": EMAIL, "rows": [EMAIL]}

    route = openai_mock.post("/chat/completions").mock(
        side_effect=answer((None, [("lookup", {"q": "jane"})]))
    )
    agent = create_agent(
        chat_openai(),
        tools=[lookup],
        middleware=[PIIMiddleware("email", apply_to_tool_results=True)],
    )
    result, seen = drive(agent, {"messages": [("user", "find jane")]}, mode, how)
    assert_nowhere(EMAIL, route, seen, audit)
    if result is not None:
        (message,) = [m for m in result["messages"] if isinstance(m, ToolMessage)]
        assert message.artifact == {"email": "[REDACTED_EMAIL]", "rows": ["[REDACTED_EMAIL]"]}


def test_transformers_like_langchain() -> None:
    assert PIIMiddleware("email").transformers == ()
    assert len(PIIMiddleware("email", apply_to_output=True).transformers) == 1
    assert len(PIIMiddleware("email", apply_to_tool_results=True).transformers) == 1


# ---------------------------------------------------------------------- 5. several middlewares
@pytest.mark.parametrize("order", ["email_first", "ssn_first"])
def test_every_middleware_handling_is_stored(
    order: str,
    mode: str,
    openai_mock: respx.MockRouter,
    chat_openai: Any,
    memory_saver: Any,
    audit: AuditCapture,
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=answer())
    stack = [PIIMiddleware("email"), PIIMiddleware("us_ssn", strategy="mask")]
    if order == "ssn_first":
        stack.reverse()
    agent = create_agent(chat_openai(), checkpointer=memory_saver, middleware=stack)
    config = {"configurable": {"thread_id": "t"}}
    _, seen = drive(
        agent, {"messages": [("user", f"I am {EMAIL}, ssn {SSN}")]}, mode, config=config
    )
    stored = dumps(agent.get_state(config).values["messages"])
    for value in (EMAIL, SSN):
        assert_nowhere(value, route, seen, audit, stored)
    assert "[REDACTED_EMAIL]" in stored and "****1234" in stored


# ---------------------------------------------------------------------- 6. pseudonymize
def test_vault_thread_never_comes_from_the_context(mode: str) -> None:
    vault = MemoryVault()
    vault.add("victim", "PIIMiddleware[email]", {"<EMAIL_1>": EMAIL})
    got: list[str] = []

    @tool
    def send(to: str) -> str:
        """Send."""
        got.append(to)
        return "ok"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[_tc("send", {"to": "<EMAIL_1>"})]), "done"]
    )
    agent = create_agent(
        model,
        tools=[send],
        middleware=[PIIMiddleware("email", strategy="pseudonymize", vault=vault)],
    )
    with pytest.raises(GuardrailConfigError, match="thread_id"):
        drive(agent, {"messages": [("user", "send it")]}, mode, context={"thread_id": "victim"})
    assert got == []


@pytest.mark.parametrize("name", ["task", "start_async_task", "update_async_task"])
def test_tools_that_hand_text_to_another_model_are_never_restored(mode: str, name: str) -> None:
    got: list[Any] = []

    def handoff(description: str) -> str:
        got.append(description)
        return "started"

    handoff_tool = tool(name, description="hand work to another agent")(handoff)
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[_tc(name, {"description": "write to <EMAIL_1>"})]),
            AIMessage("", tool_calls=[_tc(name, {"description": f"write to {EMAIL}"}, "c2")]),
            "done",
        ]
    )
    agent = create_agent(
        model,
        tools=[handoff_tool],
        middleware=[PIIMiddleware("email", strategy="pseudonymize")],
    )
    drive(agent, {"messages": [("user", f"mail {EMAIL}")]}, mode)
    assert got == ["write to <EMAIL_1>", "write to <EMAIL_1>"]


# ---------------------------------------------------------------------- 7. compatibility
def test_unknown_type_says_unknown_pii_type() -> None:
    with pytest.raises(ValueError, match="Unknown PII type"):
        PIIMiddleware("nonsense_type")


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("email", "write to user@example.com please"),
        ("credit_card", "card 4111-1111-1111-1111 ok"),
        ("credit_card", "card 4111 1111 1111 1111 ok"),
        ("credit_card", "card 4111111111111111 ok"),
        ("ip", "host 192.168.1.100 up"),
        ("mac_address", "mac 00:1A:2B:3C:4D:5E here"),
        ("url", "see https://example.com/a?b=c now"),
    ],
)
def test_mask_matches_langchain(kind: str, text: str) -> None:
    from langchain.agents.middleware._redaction import BUILTIN_DETECTORS
    from langchain.agents.middleware._redaction import apply_strategy as lc_apply

    from guardrails.pii import apply_strategy, detect

    ours = apply_strategy(text, detect(text, [kind]), "mask")
    theirs = lc_apply(text, BUILTIN_DETECTORS[kind](text), "mask")
    assert ours == theirs


# ---------------------------------------------------------------------- 8. the event loop
def test_a_long_text_never_blocks_the_event_loop_long() -> None:
    """A 1 MB message in async: the loop keeps ticking while it is scanned (bound generous
    for slow CI machines; ``python -m bench pii`` reports the figure)."""
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware(["email", "credit_card"])])
    text = ("lorem ipsum dolor sit amet, 4111 " * 32_000)[:1_000_000] + f" {EMAIL}"

    async def main() -> float:
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        try:
            await agent.ainvoke({"messages": [("user", text)]})
        finally:
            done.set()
            await task
        return max(gaps)

    worst = asyncio.run(main())
    sent = model.requests[0]["messages"][-1].content
    assert EMAIL not in sent and sent.endswith("[REDACTED_EMAIL]")
    assert worst < 0.2, f"event loop blocked {worst * 1000:.0f} ms"


def _many_texts(count: int, size: int) -> list[str]:
    """``count`` distinct chat texts of ``size`` characters, numbers throughout (the costly
    case for phone and card candidates), each ending with an email and a phone number."""
    import random

    rng = random.Random(23)
    words = [
        "the",
        "report",
        "shows",
        "that",
        "our",
        "team",
        "met",
        "on",
        "site",
        "with",
        "client",
        "about",
        "the",
        "order",
    ]
    out = []
    for i in range(count):
        parts: list[str] = []
        length = 0
        while length < size - 60:
            piece = rng.choice(words) if rng.random() < 0.85 else str(rng.randint(0, 10**8))
            parts.append(piece)
            length += len(piece) + 1
        out.append(f"{' '.join(parts)} mail u{i}.x@example.com call +44 20 7946 0958")
    return out


@pytest.mark.slow
def test_many_texts_of_a_few_kb_never_block_the_event_loop_long() -> None:
    """150 messages of 7.8 KB in one async request (issue 23: texts up to 8 KB were scanned
    one after another, 1.2-1.9 s without a turn for the loop): the loop keeps ticking,
    whatever the sizes of the texts, and every value is still handled."""
    model = ScriptedChatModel(default="ok")
    agent = create_agent(
        model, middleware=[PIIMiddleware(["email", "phone", "credit_card", "us_ssn"])]
    )
    texts = _many_texts(150, 7_800)
    history = [HumanMessage(t) if i % 2 == 0 else AIMessage(t) for i, t in enumerate(texts)]

    async def main() -> float:
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            # CPU time between two ticks: what the loop spent without giving a turn (wall
            # time on a loaded machine adds the time other processes ran)
            last = time.process_time()
            while not done.is_set():
                await asyncio.sleep(0.002)
                now = time.process_time()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        try:
            await agent.ainvoke({"messages": history})
        finally:
            done.set()
            await task
        return max(gaps)

    worst = asyncio.run(main())
    sent = [str(m.content) for m in model.requests[0]["messages"]]
    assert len(sent) == 150
    assert not any("@example.com" in t or "7946 0958" in t for t in sent)
    assert all(t.endswith("mail [REDACTED_EMAIL] call [REDACTED_PHONE]") for t in sent)
    assert worst < 0.1, f"event loop blocked for {worst * 1000:.0f} ms of CPU"


# ---------------------------------------------------------------------- 9. random histories
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PLANTS = [EMAIL, CARD, SSN, "+44 20 7946 0958"]
TYPES = ["email", "credit_card", "us_ssn", "phone"]
FILL = st.text(alphabet="abcdefgh ", min_size=0, max_size=12)


@st.composite
def history(draw: Any) -> tuple[list[Any], list[Any], set[str]]:
    """Two turns of one thread: a clean one, then edits (re-used ids) and new messages, with
    PII planted in any field of any message shape."""
    planted: set[str] = set()
    ids = [f"m{i}" for i in range(4)]

    def pii() -> str:
        value = draw(st.sampled_from(PLANTS))
        planted.add(value)
        return f"{draw(FILL)} {value} {draw(FILL)}"

    def message(dirty: bool, n: int) -> list[Any]:
        text = pii() if dirty and draw(st.booleans()) else draw(FILL) or "x"
        mid = draw(st.sampled_from(ids))
        kind = draw(st.sampled_from(["human", "blocks", "name", "json", "ai_call", "invalid"]))
        if kind == "human":
            return [HumanMessage(text, id=mid)]
        if kind == "blocks":
            block = draw(st.sampled_from(["text", "input_text"]))
            return [HumanMessage([{"type": block, "text": text}], id=mid)]
        if kind == "name":
            return [HumanMessage("hi", id=mid, additional_kwargs={"name": text})]
        call_id = f"c{n}"
        if kind == "json":
            return [
                AIMessage("", id=f"a{n}", tool_calls=[_tc("lookup", {"q": "x"}, call_id)]),
                ToolMessage([{"type": "json", "json": {"v": text}}], tool_call_id=call_id, id=mid),
            ]
        if kind == "ai_call":
            arg: Any = text
            if dirty and draw(st.booleans()):
                arg = int(CARD)
                planted.add(CARD)
            return [
                AIMessage(text, id=mid, tool_calls=[_tc("lookup", {"q": arg, "n": 3}, call_id)]),
                ToolMessage("ok", tool_call_id=call_id, id=f"t{n}"),
            ]
        return [
            AIMessage(
                "",
                id=mid,
                invalid_tool_calls=[
                    {
                        "name": "lookup",
                        "args": '{"q": "' + text,
                        "id": call_id,
                        "error": "bad",
                        "type": "invalid_tool_call",
                    }
                ],
            ),
            ToolMessage("error", tool_call_id=call_id, id=f"t{n}"),
        ]

    first = [m for n in range(draw(st.integers(1, 3))) for m in message(False, n)]
    second = [m for n in range(draw(st.integers(1, 4))) for m in message(True, 10 + n)]
    if not planted:
        second.append(HumanMessage(pii(), id=draw(st.sampled_from(ids))))
    second.append(HumanMessage("and?"))
    return first, second, planted


# slow: a property sweep of random histories through a real agent
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["redact", "mask", "hash", "block", "pseudonymize"])
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=history())
def test_random_histories_never_reach_the_wire(
    strategy: str, case: tuple[list[Any], list[Any], set[str]], chat_openai: Any
) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    first, second, planted = case
    with respx.mock(base_url="http://openai.test/v1", assert_all_called=False) as router:
        route = router.post("/chat/completions").mock(side_effect=answer())
        kwargs = {"hash_key": "k"} if strategy == "hash" else {}
        agent = create_agent(
            chat_openai(),
            checkpointer=InMemorySaver(),
            middleware=[PIIMiddleware(TYPES, strategy=strategy, **kwargs)],
        )
        config = {"configurable": {"thread_id": "t"}}
        agent.invoke({"messages": first}, config=config)
        try:
            agent.invoke({"messages": second}, config=config)
        except PIIDetectionError:
            assert strategy == "block"
        sent = wire(route)
        stored = dumps(agent.get_state(config).values.get("messages"))
    for value in planted:
        assert value not in sent
        if strategy != "block":  # block refuses the turn; its input stays as the caller wrote it
            assert value not in stored


# ---------------------------------------------------------------------- 10. deepagents
@pytest.mark.parametrize("how", ["invoke", "updates", "v3"])
def test_every_subagent_gets_the_guardrail(
    how: str, mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    """``guardrails.deep.create_deep_agent``: the general-purpose subagent, which nobody names,
    sends no raw file contents to its model."""
    pytest.importorskip("deepagents")
    from guardrails.deep import create_deep_agent

    route = openai_mock.post("/chat/completions").mock(
        side_effect=answer(
            (
                None,
                [("task", {"description": "read /notes.txt", "subagent_type": "general-purpose"})],
            ),
            (None, [("read_file", {"file_path": "/notes.txt"})]),
            ("the notes name a customer", []),
            ("done", []),
        )
    )
    agent = create_deep_agent(
        chat_openai(), guardrails=[PIIMiddleware("email", apply_to_tool_results=True)]
    )
    files = {"/notes.txt": {"content": f"customer {EMAIL}", "encoding": "utf-8"}}
    _, seen = drive(agent, {"messages": [("user", "go")], "files": files}, mode, how)
    assert route.call_count == 4
    assert EMAIL not in wire(route)
    assert EMAIL not in seen.replace(dumps(files), "")  # what the caller sent, echoed back
    assert "[REDACTED_EMAIL]" in wire(route)  # the subagent's model got the handled file
    assert EMAIL not in dumps(audit.events)
    subagent_events = [e for e in audit.of("pii.detected") if e.get("subagent")]
    assert subagent_events, "the general-purpose subagent ran without the guardrail"


def test_a_compiled_subagent_it_cannot_reach_is_refused() -> None:
    pytest.importorskip("deepagents")
    import deepagents

    from guardrails.deep import create_deep_agent

    compiled = deepagents.create_deep_agent(model=ScriptedChatModel(default="x"), name="c")
    with pytest.raises(GuardrailConfigError, match="compiled subagent 'c'"):
        create_deep_agent(
            ScriptedChatModel(default="x"),
            guardrails=[PIIMiddleware("email")],
            subagents=[{"name": "c", "description": "c", "runnable": compiled}],
        )


def test_a_fallback_listed_after_the_guardrail_keeps_the_last_hop(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    """A fallback inside PIIMiddleware swaps the model; text a later middleware adds must still
    be handled on the fallback model's request (the guard goes with the swap)."""
    from guardrails import ModelFallbackMiddleware

    @wrap_model_call
    def add(request: Any, handler: Any) -> Any:
        note = SystemMessage(f"customer: {request.runtime.context['who']}")
        return handler(request.override(messages=[note, *request.messages]))

    @wrap_model_call
    async def aadd(request: Any, handler: Any) -> Any:
        note = SystemMessage(f"customer: {request.runtime.context['who']}")
        return await handler(request.override(messages=[note, *request.messages]))

    primary = openai_mock.post("/chat/completions").mock(return_value=error(500))
    backup_base = "http://backup.test/v1"
    with respx.mock(base_url=backup_base, assert_all_called=False) as backup_router:
        backup = backup_router.post("/chat/completions").mock(side_effect=answer())
        agent = create_agent(
            chat_openai(),
            middleware=[
                PIIMiddleware("email"),
                add if mode == "sync" else aadd,
                ModelFallbackMiddleware(chat_openai(model="gpt-backup", base_url=backup_base)),
            ],
        )
        _, seen = drive(agent, {"messages": [("user", "hi")]}, mode, context={"who": EMAIL})
    assert primary.call_count >= 1 and backup.call_count == 1
    assert EMAIL not in wire(primary) and EMAIL not in wire(backup)
    assert "[REDACTED_EMAIL]" in wire(backup)
    assert EMAIL not in str(seen) and EMAIL not in str(audit.events)
    assert "fallback.switched" in audit.names()
