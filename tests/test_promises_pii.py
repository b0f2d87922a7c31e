"""PII promises a careless edit would break unnoticed (issue 29, the ``pii`` mutation area).

Each test states one documented promise of docs/pii.md through the public API (a real
``create_agent`` run where that is how users meet it, sync and async), so that it fails
whichever line implements the promise is broken, not only the one a mutation tool edited:

* a value is replaced whole wherever it sits: at offset 0, at the very end, right next to
  another value, and across the chunk boundaries of a long text (each value counted once);
* a refusal (``block``, ``refuse_unscannable``) is never remembered as "clean": the same text
  is refused every time it is sent;
* percent/HTML escapes are opened up to the documented 8 passes, and a text still encoded
  after them is unscannable;
* handled dictionary keys never overwrite one another; numeric keys are scanned;
* every field of a message is scanned even when its content is clean;
* the strategies' exact outputs (mask formats, keyed hash) and their setting checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from guardrails import GuardrailConfigError, PIIDetectionError, PIIMiddleware
from guardrails.pii import apply_strategy
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool

EMAIL = "jane.doe@example.com"
OTHER = "max.muster@example.org"
SSN = "536-22-1234"
CARD = "4111111111111111"


def _dumps(value: Any) -> str:
    return json.dumps(
        value, default=lambda o: o.model_dump() if hasattr(o, "model_dump") else str(o)
    )


def _sent(model: ScriptedChatModel, call: int = 0) -> list[Any]:
    return list(model.requests[call]["messages"])


def _counts(audit: AuditCapture, event: str = "pii.detected") -> dict[str, int]:
    total: dict[str, int] = {}
    for e in audit.of(event):
        for kind, n in (e.get("entities") or {}).items():
            total[kind] = total.get(kind, 0) + n
    return total


# --------------------------------------------------------------------------- where a value sits


def _long_text(positions: list[int], size: int = 20_000) -> str:
    """``size`` characters of filler with an email starting at each of ``positions``."""
    text = "x" * size
    for p in positions:
        before = text[: p - 1] + " " if p else ""
        text = (before + EMAIL + " " + text[p + len(EMAIL) + 1 :])[:size]
    return text


# chunk boundaries of the long-text scan (8 KB chunks overlapping by 2 KB): the first chunk
# owns what starts before 7168, the second from 7168 to 13312, ...; and the text's two ends
LONG_POSITIONS = [0, 7167, 7168, 8172, 13311, 13312, 19_980]


@pytest.mark.parametrize("position", LONG_POSITIONS)
def test_a_value_anywhere_in_a_long_text_is_handled_once(
    position: int, mode: str, audit: AuditCapture
) -> None:
    """A text over 8 KB is scanned in overlapping chunks: a value at any offset, a chunk
    boundary included, is replaced whole and counted exactly once."""
    positions = sorted({0, position, 19_980})
    text = _long_text(positions)
    assert text.count(EMAIL) == len(positions) and len(text) == 20_000
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": [HumanMessage(text)]}, mode)
    sent = _sent(model)[-1].content
    assert EMAIL not in sent and "example.com" not in sent, "a value (or a piece) was sent"
    assert sent.count("[REDACTED_EMAIL]") == len(positions)
    assert _counts(audit) == {"email": len(positions)}, "a value was counted twice or missed"


@pytest.mark.parametrize("size", [8_191, 8_192, 8_193, 16_384])
def test_a_value_at_the_end_of_a_text_near_the_chunk_size_is_handled(size: int, mode: str) -> None:
    text = _long_text([0, size - len(EMAIL)], size=size)
    assert text.endswith(EMAIL) and text.startswith(EMAIL)
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email", strategy="mask")])
    invoke(agent, {"messages": [HumanMessage(text)]}, mode)
    sent = _sent(model)[-1].content
    assert sent.startswith("jane.doe@****.com ") and sent.endswith(" jane.doe@****.com")
    assert "example" not in sent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("EMP-123456", "[REDACTED_EMPLOYEE]"),  # the whole text
        ("EMP-123456EMP-654321", "[REDACTED_EMPLOYEE][REDACTED_EMPLOYEE]"),  # adjacent
        ("EMP-123456 and EMP-654321", "[REDACTED_EMPLOYEE] and [REDACTED_EMPLOYEE]"),
        ("id EMP-123456", "id [REDACTED_EMPLOYEE]"),  # at the end
        ("EMP-123456 is mine", "[REDACTED_EMPLOYEE] is mine"),  # at offset 0
    ],
)
def test_values_at_the_ends_and_side_by_side_are_replaced_whole(
    text: str, expected: str, mode: str, audit: AuditCapture
) -> None:
    model = ScriptedChatModel(responses=["ok"])
    mw = PIIMiddleware("employee", detector=r"EMP-\d{6}")
    invoke(create_agent(model, middleware=[mw]), {"messages": [HumanMessage(text)]}, mode)
    assert _sent(model)[-1].content == expected
    assert _counts(audit) == {"employee": text.count("EMP-")}


def _m(kind: str, start: int, end: int, text: str) -> dict[str, Any]:
    return {"type": kind, "value": text[start:end], "start": start, "end": end}


def test_apply_strategy_replaces_adjacent_nested_and_edge_matches() -> None:
    text = "AAAABBBB tail CCCC"
    adjacent = [_m("a", 0, 4, text), _m("b", 4, 8, text), _m("c", 14, 18, text)]
    assert apply_strategy(text, adjacent, "redact") == "[REDACTED_A][REDACTED_B] tail [REDACTED_C]"
    # order of the matches does not matter
    assert apply_strategy(text, adjacent[::-1], "redact") == (
        "[REDACTED_A][REDACTED_B] tail [REDACTED_C]"
    )
    # a match inside another one is already covered: replaced once, no fragment left
    nested = [_m("outer", 0, 8, text), _m("inner", 2, 6, text)]
    assert apply_strategy(text, nested, "redact") == "[REDACTED_OUTER] tail CCCC"
    assert apply_strategy(text, [], "redact") == text


# --------------------------------------------------------------------------- refusals stay refusals


def test_a_blocked_text_is_blocked_every_time(mode: str, audit: AuditCapture) -> None:
    """``block`` refuses the same text on every call: a refusal is never remembered as clean."""
    mw = PIIMiddleware("us_ssn", strategy="block")
    for _ in range(3):
        model = ScriptedChatModel(responses=["ok"])
        agent = create_agent(model, middleware=[mw])
        with pytest.raises(PIIDetectionError):
            invoke(agent, {"messages": [HumanMessage(f"my ssn is {SSN}")]}, mode)
        assert model.calls == 0
    assert len(audit.of("pii.blocked")) == 3
    assert SSN not in _dumps(audit.events)


def test_an_unscannable_text_is_refused_every_time(mode: str) -> None:
    import base64
    import os

    blob = base64.b64encode(os.urandom(300)).decode()
    mw = PIIMiddleware("email", refuse_unscannable=True)
    for _ in range(2):
        model = ScriptedChatModel(responses=["ok"])
        agent = create_agent(model, middleware=[mw])
        with pytest.raises(PIIDetectionError, match="unscannable"):
            invoke(agent, {"messages": [HumanMessage(blob)]}, mode)
        assert model.calls == 0
    # without refuse_unscannable it is sent as it is (documented: counted, not refused)
    model = ScriptedChatModel(responses=["ok"])
    invoke(create_agent(model, middleware=[PIIMiddleware("email")]), {"messages": [blob]}, mode)
    assert _sent(model)[-1].content == blob


def test_a_value_found_in_one_field_is_not_cached_clean_for_a_block(mode: str) -> None:
    """A clean text and a refused one in one request, then the refused text alone: refused."""
    mw = PIIMiddleware("email", strategy="block")
    model = ScriptedChatModel(responses=["ok", "ok"])
    agent = create_agent(model, middleware=[mw])
    invoke(agent, {"messages": [HumanMessage("hello there")]}, mode)
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [HumanMessage(f"hello {EMAIL}")]}, mode)
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [HumanMessage(f"hello {EMAIL}")]}, mode)
    assert model.calls == 1


# --------------------------------------------------------------------------- layers of encoding


def _percent(text: str, times: int) -> str:
    for _ in range(times):
        text = text.replace("%", "%25") if "%" in text else text.replace("@", "%40")
    return text


@pytest.mark.parametrize("times", [1, 2, 7, 8])
def test_escapes_are_opened_up_to_eight_passes(times: int, mode: str) -> None:
    encoded = "mail " + _percent(EMAIL, times)
    assert "@" not in encoded
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    invoke(agent, {"messages": [HumanMessage(encoded)]}, mode)
    sent = _sent(model)[-1].content
    assert sent == "mail [REDACTED_EMAIL]", sent


@pytest.mark.parametrize("times", [9, 12])
def test_escapes_deeper_than_eight_passes_are_unscannable(times: int, mode: str) -> None:
    encoded = "mail " + _percent(EMAIL, times)
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    with pytest.raises(PIIDetectionError, match="unscannable"):
        invoke(agent, {"messages": [HumanMessage(encoded)]}, mode)
    assert model.calls == 0


def test_html_entities_hide_no_value(mode: str) -> None:
    for encoded in ("jane.doe&#64;example.com", "jane.doe&amp;#64;example.com"):
        model = ScriptedChatModel(responses=["ok"])
        agent = create_agent(model, middleware=[PIIMiddleware("email", strategy="block")])
        with pytest.raises(PIIDetectionError):
            invoke(agent, {"messages": [HumanMessage(f"write to {encoded}")]}, mode)
        assert model.calls == 0


# --------------------------------------------------------------------------- structure


def _echo_tool(received: list[Any]) -> Any:
    @tool
    def save(record: dict[str, Any]) -> str:
        """Save a record."""
        received.append(record)
        return "saved"

    return save


def test_handled_keys_never_overwrite_each_other(mode: str) -> None:
    received: list[Any] = []
    record = {EMAIL: 1, OTHER: 2, "[REDACTED_EMAIL]": 3, "plain": EMAIL}
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("save", {"record": record})]), "done"]
    )
    mw = PIIMiddleware("email", apply_to_tool_args=True)
    invoke(
        create_agent(model, tools=[_echo_tool(received)], middleware=[mw]),
        {"messages": ["go"]},
        mode,
    )
    (got,) = received
    assert EMAIL not in _dumps(got) and OTHER not in _dumps(got)
    assert sorted(got.values(), key=str) == [1, 2, 3, "[REDACTED_EMAIL]"], got
    assert got["[REDACTED_EMAIL]"] == 3, "a renamed key overwrote an existing one"
    assert got["plain"] == "[REDACTED_EMAIL]"
    assert set(got) == {"[REDACTED_EMAIL]", "[REDACTED_EMAIL] (2)", "[REDACTED_EMAIL] (3)", "plain"}


def test_block_refuses_a_value_in_a_key(mode: str) -> None:
    received: list[Any] = []
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("save", {"record": {SSN: "x"}})]), "done"]
    )
    mw = PIIMiddleware("us_ssn", strategy="block", apply_to_tool_args=True)
    with pytest.raises(PIIDetectionError):
        invoke(
            create_agent(model, tools=[_echo_tool(received)], middleware=[mw]),
            {"messages": ["go"]},
            mode,
        )
    assert received == []


def test_numbers_and_numeric_keys_are_scanned_as_text(mode: str) -> None:
    """An artifact (a Python value, keys of any type) holding a card number as an int key and
    as an int value reaches neither the state nor the model."""

    @tool(response_format="content_and_artifact")
    def lookup(q: str) -> tuple[str, Any]:
        """Look something up."""
        return "found", {int(CARD): "card on file", "n": int(CARD), "ok": True, "none": None}

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", {"q": "x"})]), "done"]
    )
    mw = PIIMiddleware("credit_card", apply_to_tool_results=True)
    out = invoke(create_agent(model, tools=[lookup], middleware=[mw]), {"messages": ["go"]}, mode)
    (result,) = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    artifact = result.artifact
    assert int(CARD) not in artifact and CARD not in _dumps(artifact)
    assert artifact["[REDACTED_CREDIT_CARD]"] == "card on file"
    assert artifact["n"] == "[REDACTED_CREDIT_CARD]"
    assert artifact["ok"] is True and artifact["none"] is None  # not numbers: untouched


FIELDS: dict[str, Any] = {
    "name": lambda v: HumanMessage("clean text", name=v),
    "additional_kwargs": lambda v: HumanMessage("clean text", additional_kwargs={"note": v}),
    "tool_calls": lambda v: AIMessage("clean text", tool_calls=[tool_call("f", {"to": v}, "c1")]),
    "invalid_tool_calls": lambda v: AIMessage(
        "clean text",
        invalid_tool_calls=[{"name": "f", "args": '{"to": "' + v, "id": "c2", "error": None}],
    ),
    "invalid_tool_call name": lambda v: AIMessage(
        "clean text", invalid_tool_calls=[{"name": v, "args": "{}", "id": "c3", "error": None}]
    ),
    "artifact": lambda v: ToolMessage("clean text", tool_call_id="c1", artifact={"to": v}),
    "raw tool_calls": lambda v: AIMessage(
        "clean text",
        additional_kwargs={
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": v}}
            ]
        },
    ),
}


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("strategy", ["redact", "block"])
def test_every_field_of_a_clean_message_is_scanned(field: str, strategy: str, mode: str) -> None:
    """A message whose content is a clean string still has its other fields scanned."""
    message = FIELDS[field](EMAIL)
    history: list[Any] = [HumanMessage("start", id="h0")]
    if isinstance(message, ToolMessage):
        history.append(AIMessage("", tool_calls=[tool_call("f", {}, "c1")], id="a0"))
    history += [message, HumanMessage("go on", id="h9")]
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email", strategy=strategy)])
    if strategy == "block":
        with pytest.raises(PIIDetectionError):
            invoke(agent, {"messages": history}, mode)
        assert model.calls == 0
        return
    invoke(agent, {"messages": history}, mode)
    sent = _dumps([m.model_dump() for m in _sent(model)])
    assert EMAIL not in sent, f"{field}: the value reached the model"
    assert "REDACTED_EMAIL" in sent


# --------------------------------------------------------------------------- strategies


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("email", "jane@example.com", "jane@****.com"),
        ("credit_card", "4111-1111-1111-1111", "****-****-****-1111"),
        ("credit_card", "4111 1111 1111 1111", "**** **** **** 1111"),
        ("credit_card", "4111111111111111", "************1111"),
        ("ip", "192.168.1.100", "*.*.*.100"),
        ("ip", "2001:db8::1", "****"),
        ("mac_address", "00:1A:2B:3C:4D:5E", "**:**:**:**:**:5E"),
        ("mac_address", "00-1A-2B-3C-4D-5E", "**-**-**-**-**-5E"),
        ("url", "https://example.com/a", "[MASKED_URL]"),
        ("us_ssn", "536-22-1234", "****1234"),
        ("employee", "E123", "****"),  # four characters or fewer: nothing kept
        ("employee", "E1234", "****1234"),
    ],
)
def test_mask_formats(kind: str, value: str, masked: str) -> None:
    text = f"<{value}>"
    assert apply_strategy(text, [_m(kind, 1, 1 + len(value), text)], "mask") == f"<{masked}>"


@pytest.mark.parametrize(
    ("value", "shaped"),
    [
        ("10.0.0.1", "**.*.*.1"),  # 5 letters/digits: a quarter is 1
        ("4111-1111-1111-1111", "****-****-****-1111"),  # 16: four kept
        ("4111-1111-1111-1111-1111-1111", "****-****-****-****-****-1111"),  # at most four
        ("abc", "***"),  # fewer than four: nothing kept
    ],
)
def test_mask_shape_keeps_the_last_quarter_at_most_four(value: str, shaped: str) -> None:
    text = f"[{value}]"
    out = apply_strategy(text, [_m("x", 1, 1 + len(value), text)], "mask", mask_style="shape")
    assert out == f"[{shaped}]"


def test_mask_shape_of_exactly_four_characters_keeps_one() -> None:
    text = "a.b.c.d"
    assert apply_strategy(text, [_m("x", 0, 7, text)], "mask", mask_style="shape") == "*.*.*.d"


def test_hash_is_a_keyed_hmac_and_unkeyed_is_plain_sha256() -> None:
    text = f"to {EMAIL}"
    match = [_m("email", 3, 3 + len(EMAIL), text)]
    keyed = hmac.new(b"k", EMAIL.encode(), hashlib.sha256).hexdigest()[:8]
    assert apply_strategy(text, match, "hash", b"k") == f"to <email_hash:{keyed}>"
    plain = hashlib.sha256(EMAIL.encode()).hexdigest()[:8]
    assert apply_strategy(text, match, "hash") == f"to <email_hash:{plain}>"


def test_the_hash_key_is_used_by_the_middleware(mode: str) -> None:
    model = ScriptedChatModel(responses=["ok"])
    mw = PIIMiddleware("email", strategy="hash", hash_key="k")
    invoke(create_agent(model, middleware=[mw]), {"messages": [f"to {EMAIL}"]}, mode)
    keyed = hmac.new(b"k", EMAIL.encode(), hashlib.sha256).hexdigest()[:8]
    assert _sent(model)[-1].content == f"to <email_hash:{keyed}>"


@pytest.mark.parametrize("strategy", ["block", "pseudonymize"])
def test_apply_strategy_refuses_strategies_that_do_not_rewrite(strategy: str) -> None:
    text = f"to {EMAIL}"
    with pytest.raises(ValueError, match="does not rewrite"):
        apply_strategy(text, [_m("email", 3, 3 + len(EMAIL), text)], strategy)


@pytest.mark.parametrize("strategy", ["redact", "mask", "hash", "block"])
@pytest.mark.parametrize(
    "setting",
    [{"restore_tools": ["send"]}, {"restore_tools": []}, {"restore_output": True}],
)
def test_pseudonymize_settings_need_pseudonymize(strategy: str, setting: dict[str, Any]) -> None:
    with pytest.raises(GuardrailConfigError, match="needs strategy='pseudonymize'"):
        PIIMiddleware("email", strategy=strategy, hash_key=b"k", **setting)


def test_a_vault_needs_pseudonymize() -> None:
    from guardrails.pii import MemoryVault

    with pytest.raises(GuardrailConfigError, match="vault= needs strategy='pseudonymize'"):
        PIIMiddleware("email", strategy="redact", vault=MemoryVault())
    PIIMiddleware("email", strategy="redact", restore_output=False)  # False is the default


def test_secret_types_settings() -> None:
    with pytest.raises(GuardrailConfigError, match="needs hash_key"):
        PIIMiddleware("api_key", strategy="hash")
    PIIMiddleware("api_key", strategy="hash", hash_key=b"k")
    # pseudonymize restores a credential into no tool unless named
    assert PIIMiddleware("api_key", strategy="pseudonymize").restore_tools == frozenset()
    assert PIIMiddleware("email", strategy="pseudonymize").restore_tools is None
    named = PIIMiddleware("api_key", strategy="pseudonymize", restore_tools=["login"])
    assert named.restore_tools == frozenset({"login"})


@pytest.mark.parametrize("bad", ["nope", None, 3, ["redact"]])
def test_an_unknown_strategy_is_refused_with_the_allowed_names(bad: Any) -> None:
    with pytest.raises(GuardrailConfigError, match="strategy must be one of"):
        PIIMiddleware("email", strategy=bad)


# --------------------------------------------------------------------------- every time, every size


def test_a_value_under_base64_is_handled_every_time_it_is_sent(mode: str) -> None:
    """A text whose value sits in a base64 run is opened on every call, not only the first:
    nothing about a text that held a value is remembered as "nothing to open"."""
    import base64

    run = base64.b64encode(f"contact {EMAIL} today".encode()).decode()
    mw = PIIMiddleware("email")
    for _ in range(3):
        model = ScriptedChatModel(responses=["ok"])
        invoke(create_agent(model, middleware=[mw]), {"messages": [f"blob {run} end"]}, mode)
        sent = _sent(model)[-1].content
        assert run not in sent, "the base64 run was sent unopened"
        inner = base64.b64decode(sent.split()[1]).decode()
        assert inner == "contact [REDACTED_EMAIL] today"


def test_the_shortest_base64_run_is_opened(mode: str) -> None:
    """Runs of 16 base64 characters and more are opened (docs: Normalization, layers)."""
    import base64

    run = base64.b64encode(b"x@example.io").decode()
    assert len(run) == 16
    model = ScriptedChatModel(responses=["ok"])
    mw = PIIMiddleware("email", strategy="block")
    with pytest.raises(PIIDetectionError):
        invoke(create_agent(model, middleware=[mw]), {"messages": [run]}, mode)
    assert model.calls == 0


def test_an_ampersand_word_beside_an_escape_is_read_not_refused(mode: str) -> None:
    """``Q&As`` looks like an HTML entity but is text: the escaped address next to it is
    decoded and handled; nothing is unscannable."""
    model = ScriptedChatModel(responses=["ok"])
    mw = PIIMiddleware("email", refuse_unscannable=True)
    text = "Q&As for jane.doe%40example.com"
    invoke(create_agent(model, middleware=[mw]), {"messages": [text]}, mode)
    assert _sent(model)[-1].content == "Q&As for [REDACTED_EMAIL]"


@pytest.mark.parametrize("strategy", ["redact", "mask", "hash", "block", "pseudonymize"])
def test_a_bad_mask_style_is_refused_whatever_the_strategy(strategy: str) -> None:
    with pytest.raises(GuardrailConfigError, match="mask_style must be one of"):
        PIIMiddleware("email", strategy=strategy, hash_key=b"k", mask_style="bogus")


@pytest.mark.parametrize("bad", ["send", ["send", 3], [None], ("send", b"x")])
def test_restore_tools_must_be_a_list_of_names(bad: Any) -> None:
    with pytest.raises(GuardrailConfigError, match="restore_tools must be None"):
        PIIMiddleware("email", strategy="pseudonymize", restore_tools=bad)


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "text", "text": f"hi {EMAIL}"}],
        [{"type": "text", "text": "clean"}, {"type": "text", "text": f"hi {EMAIL}"}],
        [{"type": "image_url", "image_url": {"url": "https://img.example/a.png"}}, f"hi {EMAIL}"],
    ],
    ids=["one block", "second of two", "after an image"],
)
def test_content_blocks_are_handled_one_or_many(content: list[Any], mode: str) -> None:
    model = ScriptedChatModel(responses=["ok"])
    invoke(
        create_agent(model, middleware=[PIIMiddleware("email")]),
        {"messages": [HumanMessage(content)]},
        mode,
    )
    sent = _sent(model)[-1].content
    assert isinstance(sent, list) and len(sent) == len(content)
    assert EMAIL not in _dumps(sent) and "[REDACTED_EMAIL]" in _dumps(sent)
    assert sent[0] == content[0] or len(content) == 1  # untouched blocks stay as they were


def test_side_by_side_values_in_a_long_text_are_each_handled(
    mode: str, audit: AuditCapture
) -> None:
    text = "x " * 3_000 + "EMP-123456EMP-654321" + " y" * 3_000
    model = ScriptedChatModel(responses=["ok"])
    mw = PIIMiddleware("employee", detector=r"EMP-\d{6}")
    invoke(create_agent(model, middleware=[mw]), {"messages": [HumanMessage(text)]}, mode)
    sent = _sent(model)[-1].content
    assert "EMP-" not in sent and sent.count("[REDACTED_EMPLOYEE]") == 2
    assert _counts(audit) == {"employee": 2}


def test_a_secret_is_masked_to_its_prefix_and_other_types_keep_their_format() -> None:
    key = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0"
    text = f"key {key} mail {EMAIL}"
    matches = [
        _m("api_key", 4, 4 + len(key), text),
        _m("email", text.index(EMAIL), len(text), text),
    ]
    masked = apply_strategy(text, matches, "mask")
    assert masked == "key sk-proj-**** mail jane.doe@****.com"
    assert apply_strategy(text, matches, "mask", mask_style="shape").startswith("key sk-proj-**** ")
