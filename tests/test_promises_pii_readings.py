"""Every plausible reading of an encoded payload is scanned: no heuristic an attacker can tip
decides which one.

Bytes without a byte-order mark are often text in more than one encoding: ASCII in UTF-16
little-endian is CJK big-endian, a CJK character with a zero low byte (U+4E00) is ASCII the
other way round, an ASCII text is a CJK one in UTF-16, a full-width address holds no zero byte
at all. A token is often more than one encoding too (both base64 alphabets mixed; one character
too many for whole quanta, which lenient decoders drop). Whichever reading holds the address,
the provider never receives it: real ``create_agent`` graphs, a scripted model, a tool whose
result is the payload, sync and async.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from guardrails.errors import PIIDetectionError
from guardrails.pii import PIIMiddleware
from guardrails.pii.vault import MemoryVault
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

JANE = "jane@example.com"
WIDE = "".join(chr(ord(c) + 0xFEE0) for c in JANE)  # full width: U+FF4A ...
CODECS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp1252", "latin-1")
_TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{16,}={0,2}")


def _readings_of(token: str) -> list[str]:
    """What any decoder may read in ``token``: both alphabets, the dangling character dropped,
    every codec (undecodable bytes skipped)."""
    body = token.rstrip("=").translate(str.maketrans("-_", "+/"))
    body = body[: len(body) - (len(body) % 4 == 1)]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        return []
    return [raw.decode(c, "ignore") for c in CODECS]


def _leaks(requests: list[Any], values: tuple[str, ...] = (JANE, WIDE)) -> list[str]:
    text = repr(requests)
    found = [v for v in values if v in text]
    for token in _TOKEN.findall(text):
        found += [v for r in _readings_of(token) for v in values if v in r]
    return found


def _agent(payload: str, strategy: str) -> tuple[Any, ScriptedChatModel]:
    @tool
    def fetch(ref: str) -> str:
        """Fetch an attachment."""
        return payload

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("fetch", {"ref": "a1"})]), "Ok."]
    )
    extra: dict[str, Any] = {"vault": MemoryVault()} if strategy == "pseudonymize" else {}
    pii = PIIMiddleware("email", strategy=strategy, apply_to_tool_results=True, **extra)
    return create_agent(model, tools=[fetch], middleware=[pii]), model


def _run(payload: str, strategy: str, mode: str) -> ScriptedChatModel:
    agent, model = _agent(payload, strategy)
    config = {"configurable": {"thread_id": "t"}}
    if strategy == "block":
        with pytest.raises(PIIDetectionError):
            invoke(agent, {"messages": [("user", "Read a1.")]}, mode, config)
    else:
        invoke(agent, {"messages": [("user", "Read a1.")]}, mode, config)
    return model


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


#: bytes that read as text in two ways, the address in one of them only
PAYLOADS = {
    # as many zero-low-byte characters as ASCII ones: no majority of zero bytes
    "utf-16-be tie": (JANE + "\u4e00" * len(JANE)).encode("utf-16-be"),
    "utf-16-le tie": (JANE + "\u4e00" * len(JANE)).encode("utf-16-le"),
    # the zero bytes point the other way: CJK in the address's order outnumbers it
    "utf-16-be minority": (JANE + "\u4e00" * 24).encode("utf-16-be"),
    # full width: no zero byte in either order
    "full width utf-16-be": (WIDE + "\u4e00" * 16).encode("utf-16-be"),
    "full width utf-16-le": (WIDE + "\u4e00" * 16).encode("utf-16-le"),
    # valid UTF-8 text (16 zero bytes in 1,616 characters) that is UTF-16 text too
    "utf-8 over utf-16-le": b"AN" * 800 + JANE.encode("utf-16-le"),
    # control characters a reader skips: one NUL makes a text under 100 characters binary
    # to the control-character count, and a short binary token is not counted unscannable
    "a NUL after it": JANE.encode() + b"\x00",
    "forty NULs after it": JANE.encode() + b"\x00" * 40,
    "a protobuf field": b"\n\x10" + JANE.encode() + b"\x12\x03abc",
    "NUL and a high byte": JANE.encode() + b"\x00\xff",
    "utf-16-le and NULs": (JANE + "\x00" * 4).encode("utf-16-le"),
}


@pytest.mark.parametrize("name", list(PAYLOADS))
@pytest.mark.parametrize("strategy", ["redact", "pseudonymize", "block"])
def test_an_address_in_any_plausible_reading_never_reaches_the_provider(
    name: str, strategy: str, mode: str
) -> None:
    model = _run(f"attachment: {_b64(PAYLOADS[name])}", strategy, mode)
    assert not _leaks(model.requests), name


def _mixed_alphabets() -> str:
    for pad in range(64):
        token = _b64(f"note {'?' * pad}{JANE} ~~>> ok".encode())
        std = [i for i, c in enumerate(token) if c in "+/"]
        if len(std) >= 2:
            i = std[0]
            return token[:i] + {"+": "-", "/": "_"}[token[i]] + token[i + 1 :]
    raise AssertionError("no token with two std-only characters")


TOKENS = {
    "both alphabets": _mixed_alphabets(),
    # 24 bytes: 32 characters, no padding; a 33rd makes the token invalid to strict decoders
    "one character too many": _b64(f"note {JANE} ok".encode()) + "Q",
}


@pytest.mark.parametrize("name", list(TOKENS))
@pytest.mark.parametrize("strategy", ["redact", "block"])
def test_a_token_lenient_decoders_read_is_read(name: str, strategy: str, mode: str) -> None:
    token = TOKENS[name]
    assert len(token) % 4 == 1 or "-" in token or "_" in token
    assert any(JANE in r for r in _readings_of(token))
    model = _run(f"blob {token} end", strategy, mode)
    assert not _leaks(model.requests), name


def test_a_data_url_in_the_other_byte_order_is_read(mode: str) -> None:
    raw = PAYLOADS["utf-16-be tie"]
    model = _run(f"data:text/plain;base64,{_b64(raw)}", "redact", mode)
    assert not _leaks(model.requests)
    tokens = _TOKEN.findall(repr(model.requests))
    assert any("[REDACTED_EMAIL]" in r for t in tokens for r in _readings_of(t))


MB = 1_000_000
#: 1 MB tokens shaped against the readings: both alphabets, a dangling character, padding
#: inside, hex that is base64 too, a UTF-16 tie, text in five readings at once
ADVERSARIAL = {
    "mixed alphabets": "ab+_" * (MB // 4),
    "dangling": "QUJD" * (MB // 4) + "Q",
    "padding inside": "QQ==" * (MB // 4),
    "hex and base64": "6a61" * (MB // 4),
    "utf-16 tie": _b64(("a\u4e00" * (MB // 8)).encode("utf-16-be")),
    "every reading": _b64(b"AN" * (MB // 4)),
}


def _seconds(fn: Any, text: str) -> float:
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_opening_a_payload_is_linear_on_one_megabyte(name: str) -> None:
    from guardrails.pii import payloads

    text = ADVERSARIAL[name]
    small = text[: len(text) // 8]
    for fn in (payloads.open_blob, payloads.is_binary_blob, payloads.base64_runs):
        # a quadratic step takes ~64x longer on 8x the input; a linear one ~8x
        big_s, small_s = _seconds(fn, text), _seconds(fn, small)
        assert big_s < 6.0, (name, big_s)
        if small_s > 0.05:  # below that, timer noise on a shared host dominates the ratio
            assert big_s / small_s < 30, (name, big_s, small_s)


@pytest.mark.slow
def test_a_megabyte_payload_in_two_readings_is_handled_in_both() -> None:
    # a tie of ASCII and zero-low-byte characters, 14,705 addresses (a space apart from the
    # CJK: the email finder misses an address glued to the one before by CJK alone)
    unit = JANE + " " + "\u4e00" * (len(JANE) + 1)
    raw = unit.encode("utf-16-be") * (MB // 68)
    pii = PIIMiddleware("email")
    scan = pii.scan("input")
    out = scan.text(_b64(raw))
    assert scan.found == {"email": MB // 68}
    assert not any(JANE in r for r in _readings_of(out))


@pytest.mark.parametrize("content", [JANE, "nobody"])
@pytest.mark.parametrize("where", ["whole", "run", "data_url"])
def test_bytes_read_only_past_their_control_characters_still_count_as_binary(
    where: str, content: str, mode: str
) -> None:
    """Read and handled, and still binary to ``refuse_unscannable`` where binary counted
    before (a whole token of 64+ characters, a ``data:`` URL): refused as one unscannable
    payload, never let through as proven text. A run inside a text was never counted: it
    is read and handled."""
    blob = _b64(b"mail " + content.encode() + b" \x00\x01 sent" + b"." * 40)
    text = {"whole": blob, "run": f"see {blob} here", "data_url": f"data:;base64,{blob}"}[where]
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    if where == "run":
        invoke(agent, {"messages": [("user", text)]}, mode)
        assert not _leaks(model.requests)
        return
    with pytest.raises(PIIDetectionError) as caught:
        invoke(agent, {"messages": [("user", text)]}, mode)
    assert caught.value.counts == {"unscannable": 1}
