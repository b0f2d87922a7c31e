"""All structure is scanned (issue 21, item 4) and field names are context (issue 28).

Through real ``create_agent`` runs, sync and async:

* dictionary keys: a key of a tool-call argument under ``block`` never reaches the tool, a key
  of a history tool call under ``redact`` never reaches the model, a ``dict[str, str]``
  structured response keeps no key;
* every content-block kind that carries text, decided by content: OpenAI ``file`` blocks with
  a text data URL in UTF-8 / UTF-16 (with and without BOM) / UTF-32, a data URL whose MIME type
  says binary but whose bytes are text, Anthropic ``document`` blocks with a plain-text source,
  base64 text inside a sentence, hex, JSON with ``\\u`` escapes inside a string, percent and
  HTML-entity encoding; binary payloads under any key are counted and refused when asked;
* field names as context: ``ssn`` / ``phone`` / ``card`` / ``telefon`` / camelCase /
  snake_case names make a bare number under them what the name says, as JSON numbers and as
  strings, nested in objects and lists, for every strategy; ``order_id`` and ``count`` do not.

The model side is a ``ScriptedChatModel`` that records every request it receives (what a
provider would get); the checks decode each payload with the standard library, not with the
code under test.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.structured_output import ToolStrategy
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import BaseModel

from guardrails.errors import PIIDetectionError
from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import tool
from tests.test_pii_wire import dumps

EMAIL = "jane.doe@example.com"
TEXT = f"Contract for {EMAIL}, signed."


def _run(agent: Any, payload: Any, mode: str, **kwargs: Any) -> Any:
    if mode == "sync":
        return agent.invoke(payload, **kwargs)
    return asyncio.run(agent.ainvoke(payload, **kwargs))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# ---------------------------------------------------------------------- keys
def test_a_key_of_a_tool_argument_never_reaches_the_tool_under_block(mode: str) -> None:
    seen: list[Any] = []

    @tool
    def store(data: dict[str, str]) -> str:
        """Store data."""
        seen.append(data)
        return "ok"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("store", {"data": {EMAIL: "primary"}})])],
        default="done",
    )
    agent = create_agent(
        model,
        tools=[store],
        middleware=[PIIMiddleware("email", strategy="block", apply_to_tool_args=True)],
    )
    with pytest.raises(PIIDetectionError):
        _run(agent, {"messages": [("user", "store it")]}, mode)
    assert seen == []


def test_a_key_of_a_history_tool_call_never_reaches_the_model(mode: str) -> None:
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    history = [
        HumanMessage("store it"),
        AIMessage("", tool_calls=[tool_call("store", {"data": {EMAIL: "primary"}}, id="c1")]),
        ToolMessage("ok", tool_call_id="c1"),
        HumanMessage("thanks"),
    ]
    _run(agent, {"messages": history}, mode)
    sent = dumps(model.requests)
    assert EMAIL not in sent and "[REDACTED_EMAIL]" in sent


class Directory(BaseModel):
    entries: dict[str, str]


def test_a_structured_response_keeps_no_key(mode: str) -> None:
    model = ScriptedChatModel(
        responses=[
            AIMessage(
                "", tool_calls=[tool_call("Directory", {"entries": {EMAIL: "Jane", "x": "y"}})]
            )
        ]
    )
    agent = create_agent(
        model,
        response_format=ToolStrategy(Directory),
        middleware=[PIIMiddleware("email", apply_to_output=True)],
    )
    result = _run(agent, {"messages": [("user", "who?")]}, mode)
    assert EMAIL not in dumps(result)
    assert result["structured_response"].entries == {"[REDACTED_EMAIL]": "Jane", "x": "y"}


# ---------------------------------------------------------------------- text inside payloads
def _file_block(raw: bytes, mime: str = "text/plain") -> dict[str, Any]:
    url = f"data:{mime};base64,{_b64(raw)}"
    return {"type": "file", "file": {"filename": "contract.txt", "file_data": url}}


def _decode_file(block: dict[str, Any], codec: str) -> str:
    # LangChain turns an OpenAI file block into a standard one ({"base64": ..., "mime_type"})
    data = block["file"]["file_data"].partition(",")[2] if "file" in block else block["base64"]
    return base64.b64decode(data).decode(codec)


#: name -> (content block, how to read the text back out of the sent block)
PAYLOADS: dict[str, tuple[dict[str, Any], Any]] = {
    "file utf-8": (_file_block(TEXT.encode()), lambda b: _decode_file(b, "utf-8")),
    "file utf-16 with BOM": (
        _file_block(TEXT.encode("utf-16")),
        lambda b: _decode_file(b, "utf-16"),
    ),
    "file utf-16-le no BOM": (
        _file_block(TEXT.encode("utf-16-le")),
        lambda b: _decode_file(b, "utf-16-le"),
    ),
    "file utf-16-be no BOM": (
        _file_block(TEXT.encode("utf-16-be")),
        lambda b: _decode_file(b, "utf-16-be"),
    ),
    "file utf-32": (_file_block(TEXT.encode("utf-32")), lambda b: _decode_file(b, "utf-32")),
    "file utf-8 with BOM": (
        _file_block(TEXT.encode("utf-8-sig")),
        lambda b: _decode_file(b, "utf-8-sig"),
    ),
    "text declared as octet-stream": (
        _file_block(TEXT.encode(), "application/octet-stream"),
        lambda b: _decode_file(b, "utf-8"),
    ),
    "anthropic document, text source": (
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": TEXT},
        },
        lambda b: b["source"]["data"],
    ),
    "anthropic document, base64 text source": (
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "text/plain", "data": _b64(TEXT.encode())},
        },
        lambda b: base64.b64decode(b["source"]["data"]).decode(),
    ),
    "base64 inside a sentence": (
        {"type": "text", "text": f"attached: {_b64(TEXT.encode())} (b64)"},
        lambda b: base64.b64decode(b["text"].split()[1]).decode(),
    ),
    "hex text": (
        {"type": "text", "text": TEXT.encode().hex()},
        lambda b: binascii.unhexlify(b["text"]).decode() if len(b["text"]) % 2 == 0 else b["text"],
    ),
    "json with escapes in a string": (
        {"type": "text", "text": json.dumps({"note": TEXT}).replace("@", "\\u0040")},
        lambda b: json.dumps(json.loads(b["text"])),
    ),
    "percent-encoded twice": (
        {"type": "text", "text": TEXT.replace("@", "%2540").replace(".", "%252E")},
        lambda b: b["text"].replace("%25", "%").replace("%40", "@").replace("%2E", "."),
    ),
    "html entities": (
        {"type": "text", "text": "".join(f"&#{ord(c)};" for c in TEXT)},
        lambda b: __import__("html").unescape(b["text"]),
    ),
    "unknown block kind": (
        {"type": "x-custom", "payload": {"body": _b64(TEXT.encode("utf-16"))}},
        lambda b: base64.b64decode(b["payload"]["body"]).decode("utf-16"),
    ),
}


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_text_inside_any_payload_is_handled(name: str, mode: str) -> None:
    block, read = PAYLOADS[name]
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    _run(agent, {"messages": [HumanMessage([{"type": "text", "text": "see"}, block])]}, mode)
    sent = model.requests[0]["messages"][0].content[1]
    text = read(sent)
    assert EMAIL not in text and EMAIL not in dumps(model.requests)
    assert "[REDACTED_EMAIL]" in text


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_text_inside_any_payload_is_blocked(name: str, mode: str) -> None:
    block, _ = PAYLOADS[name]
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email", strategy="block")])
    with pytest.raises(PIIDetectionError):
        _run(agent, {"messages": [HumanMessage([{"type": "text", "text": "see"}, block])]}, mode)
    assert model.calls == 0


PNG = bytes(range(256)) * 2


@pytest.mark.parametrize(
    "block",
    [
        {"type": "file", "file": {"file_data": f"data:text/plain;base64,{_b64(PNG)}"}},
        {"type": "x-custom", "blob": _b64(PNG)},
        {"type": "document", "source": {"type": "base64", "data": _b64(PNG)}},
    ],
    ids=["binary declared as text", "binary under an unknown key", "binary document"],
)
def test_binary_anywhere_is_refused_when_asked(block: dict[str, Any], mode: str) -> None:
    model = ScriptedChatModel(default="done")
    payload = {"messages": [HumanMessage([{"type": "text", "text": "see"}, block])]}
    _run(create_agent(model, middleware=[PIIMiddleware("email")]), payload, mode)
    assert model.calls == 1  # default: sent, counted, listed as not covered in the docs
    strict = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    with pytest.raises(PIIDetectionError, match="unscannable"):
        _run(strict, payload, mode)
    assert model.calls == 1


# ---------------------------------------------------------------------- field names (issue 28)
CARD, SSN, PHONE = 4111111111111111, 536221234, 6502530000
ARGS: dict[str, Any] = {
    "card": CARD,
    "ssn": SSN,
    "phone": PHONE,
    "customer": {
        "socialSecurityNumber": str(SSN),
        "contacts": [{"mobile_phone": str(PHONE)}, {"telefon": PHONE}],
        "phones": [PHONE, str(PHONE)],
    },
    "order_id": SSN,
    "count": PHONE,
    "items": [{"sku": SSN, "quantity": PHONE}],
}
RAW = (str(SSN), str(PHONE))


def _kept_negatives(args: dict[str, Any]) -> None:
    assert args["order_id"] == SSN and args["count"] == PHONE
    assert args["items"] == [{"sku": SSN, "quantity": PHONE}]


def _no_positive(args: dict[str, Any]) -> None:
    positives = {k: v for k, v in args.items() if k not in {"order_id", "count", "items"}}
    text = json.dumps(positives)
    for raw in (*RAW, str(CARD)):
        assert raw not in text, f"{raw} reached the tool under its field name"


STRATEGIES = ["redact", "mask", "hash", "pseudonymize"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_number_under_its_field_name_is_handled_before_the_tool(strategy: str, mode: str) -> None:
    got: list[dict[str, Any]] = []

    @tool
    def save(record: dict[str, Any]) -> str:
        """Save a record."""
        got.append(record)
        return "saved"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("save", {"record": ARGS}, id="c1")])],
        default="done",
    )
    options: dict[str, Any] = {"strategy": strategy, "apply_to_tool_args": True}
    if strategy == "hash":
        options["hash_key"] = b"k"
    if strategy == "pseudonymize":
        options["restore_tools"] = ["another_tool"]  # save is not restored into
    agent = create_agent(
        model,
        tools=[save],
        middleware=[PIIMiddleware(["credit_card", "us_ssn", "phone"], **options)],
    )
    _run(agent, {"messages": [("user", "save it")]}, mode)
    (record,) = got
    _no_positive(record)
    _kept_negatives(record)


def test_a_number_under_its_field_name_is_blocked(mode: str) -> None:
    for field_name, value in (("ssn", SSN), ("phoneNumber", PHONE), ("tel", str(PHONE))):
        model = ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("save", {field_name: value})])],
            default="done",
        )

        @tool
        def save(**kwargs: Any) -> str:
            """Save."""
            raise AssertionError("the tool ran")

        agent = create_agent(
            model,
            tools=[save],
            middleware=[
                PIIMiddleware(["us_ssn", "phone"], strategy="block", apply_to_tool_args=True)
            ],
        )
        with pytest.raises(PIIDetectionError):
            _run(agent, {"messages": [("user", "save")]}, mode)


def test_hard_negatives_pass_untouched_under_block(mode: str) -> None:
    got: list[Any] = []

    @tool
    def save(order_id: int, count: int, invoice_number: str) -> str:
        """Save."""
        got.append((order_id, count, invoice_number))
        return "ok"

    args = {"order_id": SSN, "count": PHONE, "invoice_number": str(SSN)}
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("save", args)])], default="done"
    )
    agent = create_agent(
        model,
        tools=[save],
        middleware=[PIIMiddleware(["us_ssn", "phone"], strategy="block", apply_to_tool_args=True)],
    )
    _run(agent, {"messages": [("user", "save")]}, mode)
    assert got == [(SSN, PHONE, str(SSN))]


def test_history_arguments_and_json_tool_results_use_field_names(mode: str) -> None:
    @tool
    def lookup(q: str) -> str:
        """Look up a customer."""
        return json.dumps({"customer": {"ssn": SSN, "phone": PHONE, "order_id": SSN}})

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", {"q": "x", "ssn": SSN})])],
        default="done",
    )
    agent = create_agent(
        model,
        tools=[lookup],
        middleware=[PIIMiddleware(["us_ssn", "phone"], apply_to_tool_results=True)],
    )
    result = _run(agent, {"messages": [("user", "find")]}, mode)
    second = dumps(model.requests[1]["messages"])
    assert str(PHONE) not in second
    # the SSN is still there once: as the order id, which is not an SSN
    (tool_message,) = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    doc = json.loads(tool_message.content)["customer"]
    assert doc["order_id"] == SSN and doc["ssn"] != SSN and doc["phone"] != PHONE
    history_args = next(
        m for m in model.requests[1]["messages"] if isinstance(m, AIMessage)
    ).tool_calls[0]["args"]
    assert history_args["ssn"] != SSN


class Applicant(BaseModel):
    name: str
    ssn: int | str  # a handled number is a string: the field must accept one
    phone_number: str


def test_a_structured_response_field_name_is_context(mode: str) -> None:
    data = {"name": "Jane", "ssn": SSN, "phone_number": str(PHONE)}
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=[tool_call("Applicant", data)])])
    agent = create_agent(
        model,
        response_format=ToolStrategy(Applicant),
        middleware=[PIIMiddleware(["us_ssn", "phone"], apply_to_output=True)],
    )
    result = _run(agent, {"messages": [("user", "who?")]}, mode)
    out = result["structured_response"]
    assert str(SSN) not in dumps(out) and str(PHONE) not in dumps(out)


@pytest.mark.parametrize(
    "line",
    [
        "phoneNumber: 6502530000",
        "customerPhone=6502530000",
        "social_security_number: 536221234",
        "socialSecurityNumber 536221234",
        "Telefonnummer: 6502530000",
    ],
)
def test_form_like_lines_in_free_text_use_the_name(line: str, mode: str) -> None:
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware(["us_ssn", "phone"])])
    _run(agent, {"messages": [HumanMessage(f"record:\n{line}\nthanks")]}, mode)
    sent = model.requests[0]["messages"][0].content
    assert "6502530000" not in sent and "536221234" not in sent, sent
