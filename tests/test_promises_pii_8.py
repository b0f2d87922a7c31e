"""PII promises of streams, tool commands and encoded payloads a careless edit would break
unnoticed (issue 29, areas ``pii`` and ``pii_flow``: the survivors left open by the last round).

* ``stream_events(version="v3")``: LangGraph's built-in projections (``run.values``) keep what
  the event held when *they* saw it, so the middleware's stream transformer must run before
  them (``before_builtins``): a tool result, raw in the snapshot taken after the tools node,
  reaches no projection raw;
* a tool that answers with a ``Command`` under ``pseudonymize`` (no vault): the mapping of the
  placeholders minted for its output is written with that ``Command`` (the thread keeps it), so
  ``restore_output`` and ``restore_tools`` still give the real value back;
* an answer a later middleware makes without the model (a cache, a canned reply) is handled
  by the backstop pass as configured: under ``apply_to_output`` every message of it, also when
  no later model call's input pass comes after it (the run's last answer); under
  ``apply_to_tool_args`` alone only its tool calls (its text and structured response are left
  as configured);
* an empty ``data:`` URL (``data:,``) carries no bytes, so nothing can hide in it: it is text
  (empty), not an unscannable binary payload, and ``refuse_unscannable=True`` does not refuse it
  (a ``data:`` URL of binary bytes still is).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Annotated, Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelResponse
from langchain.agents.structured_output import ToolStrategy
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import InjectedToolCallId
from langgraph.types import Command
from pydantic import BaseModel

from guardrails import PIIDetectionError, PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool

EMAIL = "jane.doe@example.com"
VAULT_KEY = "guardrails_pii_vault"


def _dumps(value: Any) -> str:
    return json.dumps(value, default=lambda o: getattr(o, "__dict__", repr(o)), ensure_ascii=False)


# ------------------------------------------------------------------ v3 stream projections


@tool
def lookup(q: str) -> str:
    """Look a contact up."""
    return f"contact {EMAIL}"


def _lookup_agent() -> Any:
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", {"q": "jane"})]), "done"]
    )
    # the tool result is raw in the snapshot taken right after the tools node (the next model
    # call's input pass handles it in the thread later): the stream must handle it first
    return create_agent(
        model, tools=[lookup], middleware=[PIIMiddleware("email", apply_to_output=True)]
    )


def _projections(mode: str) -> dict[str, list[Any]]:
    payload = {"messages": [HumanMessage("find jane")]}
    seen: dict[str, list[Any]] = {"values": [], "events": []}
    if mode == "sync":
        run = _lookup_agent().stream_events(payload, version="v3")
        seen["values"].extend(run.values)
        run = _lookup_agent().stream_events(payload, version="v3")
        seen["events"].extend(run)
        return seen

    async def consume() -> None:
        run = await _lookup_agent().astream_events(payload, version="v3")
        async for snapshot in run.values:
            seen["values"].append(snapshot)
        run = await _lookup_agent().astream_events(payload, version="v3")
        async for event in run:
            seen["events"].append(event)

    asyncio.run(consume())
    return seen


def test_a_raw_tool_result_reaches_no_v3_projection(mode: str) -> None:
    """``run.values`` holds the state snapshots LangGraph's built-in transformer kept as the
    events passed: the tool's email was replaced before it kept them."""
    seen = _projections(mode)
    assert seen["values"], "no snapshot was streamed"
    assert seen["events"], "no event was streamed"
    assert any("[REDACTED_EMAIL]" in _dumps(s) for s in seen["values"]), "nothing was handled"
    assert EMAIL not in _dumps(seen["values"]), "a values snapshot held the tool's raw value"
    assert EMAIL not in _dumps(seen["events"]), "an event held the tool's raw value"


# ------------------------------------------------------------------ a tool's Command, pseudonymized


@tool
def save_contact(name: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Save a contact and say where it was saved."""
    return Command(
        update={"messages": [ToolMessage(f"saved {name} as {EMAIL}", tool_call_id=tool_call_id)]}
    )


def _answer_with_placeholder(messages: list[Any]) -> AIMessage:
    """The model answers with the placeholder the tool's output got (whatever its number)."""
    (result,) = [m for m in messages if isinstance(m, ToolMessage)]
    placeholder = str(result.content).rsplit(" ", 1)[-1]
    assert placeholder.startswith("<EMAIL_"), result.content
    return AIMessage(f"I saved it as {placeholder}")


def test_a_tool_command_keeps_its_pseudonym_mapping(mode: str, memory_saver: Any) -> None:
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("save_contact", {"name": "jane"})]),
            _answer_with_placeholder,
        ]
    )
    agent = create_agent(
        model,
        tools=[save_contact],
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize", restore_output=True)],
    )
    config = {"configurable": {"thread_id": "cmd"}}
    out = invoke(agent, {"messages": [HumanMessage("save jane")]}, mode, config)
    (result,) = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert EMAIL not in str(result.content)
    placeholder = str(result.content).rsplit(" ", 1)[-1]
    # the model saw the placeholder only; the caller gets the real value back
    assert EMAIL not in str(model.requests[1]["messages"])
    assert out["messages"][-1].content == f"I saved it as {EMAIL}"
    mapping = agent.get_state(config).values[VAULT_KEY]["PIIMiddleware[email]"]
    assert mapping == {placeholder: EMAIL}


def test_a_tool_command_placeholder_is_restored_for_a_restore_tool(
    mode: str, memory_saver: Any
) -> None:
    sent: list[str] = []

    @tool
    def send_email(to: str) -> str:
        """Send an email."""
        sent.append(to)
        return "sent"

    def send_to_placeholder(messages: list[Any]) -> AIMessage:
        (result,) = [m for m in messages if isinstance(m, ToolMessage) and "saved" in m.text]
        placeholder = str(result.content).rsplit(" ", 1)[-1]
        return AIMessage("", tool_calls=[tool_call("send_email", {"to": placeholder})])

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("save_contact", {"name": "jane"})]),
            send_to_placeholder,
            "done",
        ]
    )
    agent = create_agent(
        model,
        tools=[save_contact, send_email],
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"])],
    )
    invoke(agent, {"messages": [HumanMessage("save jane, then mail her")]}, mode, {
        "configurable": {"thread_id": "cmd2"}
    })  # fmt: skip
    assert sent == [EMAIL]  # the tool declared to get real values got the one the placeholder names


# ------------------------------------------------------------------ answers made without the model


class Contact(BaseModel):
    to: str


class _Canned(AgentMiddleware):
    """Listed after the guardrail: answers without calling the model, from a script."""

    def __init__(self, *answers: ModelResponse) -> None:
        super().__init__()
        self.answers = list(answers)

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return self.answers.pop(0)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return self.wrap_model_call(request, handler)


@pytest.mark.parametrize("apply_to_input", [True, False])
def test_every_message_of_a_last_answer_made_without_the_model_is_handled(
    mode: str, apply_to_input: bool
) -> None:
    """The run's last answer: no model call comes after it, so no input pass repairs it."""
    final = ModelResponse(result=[AIMessage(f"done, {EMAIL}"), HumanMessage(f"noted: {EMAIL}")])
    agent = create_agent(
        ScriptedChatModel(responses=[]),
        middleware=[
            PIIMiddleware("email", apply_to_output=True, apply_to_input=apply_to_input),
            _Canned(final),
        ],
    )
    out = invoke(agent, {"messages": [HumanMessage("go")]}, mode)
    texts = [m.text for m in out["messages"][1:]]
    assert texts == ["done, [REDACTED_EMAIL]", "noted: [REDACTED_EMAIL]"]


def test_tool_args_alone_handle_the_calls_not_the_text_nor_the_structured_response(
    mode: str,
) -> None:
    sent: list[str] = []

    @tool
    def send(to: str) -> str:
        """Send a note."""
        sent.append(to)
        return "sent"

    call = tool_call("send", {"to": EMAIL})
    agent = create_agent(
        ScriptedChatModel(responses=[]),
        tools=[send],
        response_format=ToolStrategy(Contact),
        middleware=[
            PIIMiddleware("email", apply_to_input=False, apply_to_tool_args=True),
            _Canned(
                ModelResponse(result=[AIMessage(f"writing to {EMAIL}", tool_calls=[call])]),
                ModelResponse(result=[AIMessage("ok")], structured_response=Contact(to=EMAIL)),
            ),
        ],
    )
    out = invoke(agent, {"messages": [HumanMessage("go")]}, mode)
    assert sent == ["[REDACTED_EMAIL]"]  # the call: handled, in what the tool receives
    assert out["messages"][1].tool_calls[0]["args"] == {"to": "[REDACTED_EMAIL]"}  # and in state
    assert out["messages"][1].text == f"writing to {EMAIL}"  # the text: left as configured
    assert out["structured_response"] == Contact(to=EMAIL)  # left as configured


def test_output_handles_the_structured_response_of_such_an_answer(mode: str) -> None:
    # the control of the test above: the same answer under apply_to_output
    agent = create_agent(
        ScriptedChatModel(responses=[]),
        response_format=ToolStrategy(Contact),
        middleware=[
            PIIMiddleware("email", apply_to_output=True),
            _Canned(ModelResponse(result=[AIMessage("ok")], structured_response=Contact(to=EMAIL))),
        ],
    )
    out = invoke(agent, {"messages": [HumanMessage("go")]}, mode)
    assert out["structured_response"] == Contact(to="[REDACTED_EMAIL]")


# ------------------------------------------------------------------ an empty data URL


def _request_with(url: str) -> dict[str, Any]:
    return {
        "messages": [
            HumanMessage(
                content=[
                    {"type": "text", "text": "see the attachment"},
                    {"type": "image_url", "image_url": {"url": url}},
                ]
            )
        ]
    }


@pytest.mark.parametrize("url", ["data:,", "data:text/plain;base64,", "data:text/plain,"])
def test_an_empty_data_url_is_not_refused_as_unscannable(url: str, mode: str) -> None:
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    out = invoke(agent, _request_with(url), mode)
    assert out["messages"][-1].content == "ok"
    assert url in str(model.requests[0]["messages"])


def test_a_binary_data_url_is_still_refused(mode: str) -> None:
    # the control: the refusal is on, and binary bytes are what it refuses
    png = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 2).decode()
    agent = create_agent(
        ScriptedChatModel(responses=["ok"]),
        middleware=[PIIMiddleware("email", refuse_unscannable=True)],
    )
    with pytest.raises(PIIDetectionError):
        invoke(agent, _request_with(png), mode)


# ------------------------------------------------------------------ seed-11 sample of ``pii``


def test_pseudonymize_is_audited_as_pseudonymized(mode: str, audit: AuditCapture) -> None:
    """What the audit trail says happened to a value is the strategy that ran: a pseudonymized
    value is ``pii.pseudonymized`` (never reported as merely ``pii.detected``)."""
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email", strategy="pseudonymize")])
    invoke(agent, {"messages": [HumanMessage(f"mail {EMAIL}")]}, mode)
    assert "<EMAIL_1>" in str(model.requests[0]["messages"])
    (event,) = audit.of("pii.pseudonymized")
    assert event["entities"] == {"email": 1}
    assert not audit.of("pii.detected")


def test_redact_is_audited_as_detected(mode: str, audit: AuditCapture) -> None:
    # the control: the other strategies report pii.detected
    agent = create_agent(ScriptedChatModel(responses=["ok"]), middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": [HumanMessage(f"mail {EMAIL}")]}, mode)
    assert [e["entities"] for e in audit.of("pii.detected")] == [{"email": 1}]
    assert not audit.of("pii.pseudonymized")


OBFUSCATED = r"[a-z.]+ \(at\) [a-z]+ \(dot\) [a-z]+"


@pytest.mark.parametrize("style", ["langchain", "shape"])
def test_mask_of_an_email_a_custom_detector_finds_without_an_at_hides_it_all(
    mode: str, style: str
) -> None:
    """``detector=`` for ``email`` (an obfuscated address: ``jane.doe (at) example (dot)
    com``): the mask keeps none of a value it cannot split at ``@``."""
    value = "jane.doe (at) example (dot) com"
    model = ScriptedChatModel(responses=["ok"])
    mw = PIIMiddleware("email", detector=OBFUSCATED, strategy="mask", mask_style=style)
    agent = create_agent(model, middleware=[mw])
    invoke(agent, {"messages": [HumanMessage(f"write to {value} today")]}, mode)
    sent = str(model.requests[0]["messages"][0].content)
    assert "jane" not in sent and "example" not in sent, sent
    assert sent.startswith("write to ") and sent.endswith(" today"), sent


class _Reshape(AgentMiddleware):
    """Listed after the guardrail: replaces a message's content in place with another shape
    (a dict, a tuple of blocks) before the model is called."""

    def __init__(self, shape: str) -> None:
        super().__init__()
        self.shape = shape

    def _edit(self, request: Any) -> None:
        message = request.messages[-1]
        if self.shape == "dict":
            message.content = {"note": f"mail {EMAIL}"}
        else:
            message.content = ({"type": "text", "text": f"mail {EMAIL}"},)

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        self._edit(request)
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        self._edit(request)
        return await handler(request)


@pytest.mark.parametrize("shape", ["dict", "tuple"])
def test_content_reshaped_in_place_after_the_guardrail_is_scanned(mode: str, shape: str) -> None:
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email"), _Reshape(shape)])
    invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    sent = _dumps([m.content for m in model.requests[0]["messages"]])
    assert EMAIL not in sent, sent
    assert "[REDACTED_EMAIL]" in sent, sent


# ------------------------------------------------------------------ seed-11 sample of ``pii_flow``


def test_the_strategy_cells_of_the_inventory_are_judged_under_that_strategy() -> None:
    """Without a vault, ``pseudonymize`` keeps the mapping in the state: the inventory judges
    the pairs that carry the state as ``declared`` under that strategy (docs/pii.md), and
    every other strategy as the default cell."""
    from guardrails.pii.inventory import cell

    for source, sink in [
        ("user", "state"),
        ("tool_result", "checkpoints"),
        ("file_read", "events_v2"),
    ]:
        under = cell(source, sink, "pseudonymize (no vault)")
        assert under.status == "declared", (source, sink, under)
        assert "guardrails_pii_vault" in under.how
        assert under != cell(source, sink)
        assert cell(source, sink, "redact") == cell(source, sink)


def _sent_layer(agent_input: str, mode: str) -> str:
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": [HumanMessage(agent_input)]}, mode)
    return str(model.requests[0]["messages"][0].content)


def test_a_hundred_character_text_with_one_control_character_is_text(mode: str) -> None:
    """ "Almost no control characters" is one in 100: a 100-character payload holding one (a
    bell, a form of padding some encoders leave) is text, opened and handled."""
    text = f"contact {EMAIL}\x07 " + "x" * 100
    text = text[:100]
    assert len(text) == 100 and EMAIL in text
    token = base64.b64encode(text.encode()).decode()
    sent = _sent_layer(f"see {token}", mode)
    assert token not in sent
    decoded = base64.b64decode(sent.split()[-1]).decode()
    assert EMAIL not in decoded and "[REDACTED_EMAIL]" in decoded


@pytest.mark.parametrize("codec", ["utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be"])
def test_a_wide_encoding_without_a_byte_order_mark_is_opened(mode: str, codec: str) -> None:
    text = f"please write to {EMAIL} about the invoice"
    token = base64.b64encode(text.encode(codec)).decode()
    sent = _sent_layer(f"see {token}", mode)
    decoded = base64.b64decode(sent.split()[-1]).decode(codec)
    assert EMAIL not in decoded and "[REDACTED_EMAIL]" in decoded, decoded


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_mark_is_read_in_the_byte_order_its_zero_bytes_show(
    mode: str, codec: str
) -> None:
    """Compact JSON (no spaces) in UTF-16 also reads as printable CJK in the other byte order:
    the order the zero bytes point to is tried first, so the value is found."""
    text = json.dumps({"to": EMAIL, "subject": "invoice", "ref": "INV-7734"}, separators=(",", ":"))
    token = base64.b64encode(text.encode(codec)).decode()
    sent = _sent_layer(f"see {token}", mode)
    decoded = base64.b64decode(sent.split()[-1]).decode(codec)
    assert EMAIL not in decoded and "[REDACTED_EMAIL]" in decoded, decoded


def test_a_hex_encoded_text_is_opened(mode: str) -> None:
    text = f"please write to {EMAIL} about the invoice"
    token = text.encode().hex()
    sent = _sent_layer(f"see {token}", mode)
    decoded = bytes.fromhex(sent.split()[-1]).decode()
    assert EMAIL not in decoded and "[REDACTED_EMAIL]" in decoded, decoded


@pytest.mark.parametrize("token", ["A1B2C3D4" * 9, "QW7B3PDKHX4PY8GPAN0R" * 4])
def test_a_long_token_without_both_cases_is_not_counted_unscannable(mode: str, token: str) -> None:
    """Only a run with digits *and both cases* (as real base64 payloads are) that decodes to
    binary is an unscannable payload: an upper-case id or serial is text as it stands, and
    ``refuse_unscannable=True`` lets it through."""
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    out = invoke(agent, {"messages": [HumanMessage(token)]}, mode)  # a whole string
    assert out["messages"][-1].content == "ok"
    assert token in str(model.requests[0]["messages"])
