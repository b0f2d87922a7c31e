"""Normalization by Unicode property and decoding to a fixed point (issue 21, item 6).

* The default-ignorable table is the Unicode property itself (checked code point by code point
  against the ``regex`` module's ``\\p{Default_Ignorable_Code_Point}``), and every one of those
  code points inside a value hides nothing, for every type, through a real agent.
* Percent-encoding and HTML entities are decoded to a fixed point (up to a bound; a text still
  encoded past it counts as unscannable and is refused when asked).
* Every new layer (escapes, base64 / hex runs, data URLs, JSON documents, ignorables) scans
  1 MB of adversarial input in bounded time.
"""

from __future__ import annotations

import asyncio
import base64
import random
import re
import sys
import time
import unicodedata
from urllib.parse import quote

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage

from guardrails.errors import PIIDetectionError
from guardrails.pii import PIIMiddleware
from guardrails.pii.normalize import (
    DEFAULT_IGNORABLE,
    ascii_digits,
    is_default_ignorable,
    normalize,
)
from guardrails.testing import ScriptedChatModel
from tests.test_pii_detect_linear import BOUND_S, _slowdown
from tests.test_pii_wire import dumps

regex = pytest.importorskip("regex")

EMAIL, CARD, SSN, PHONE = (
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "536-22-1234",
    "+1 650 253 0000",
)
TYPES = ["email", "credit_card", "us_ssn", "phone"]


def _property_ranges() -> list[tuple[int, int]]:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    pattern = regex.compile(r"\p{Default_Ignorable_Code_Point}+")
    out: list[tuple[int, int]] = []
    for m in pattern.finditer(every):
        start, end = ord(m.group()[0]), ord(m.group()[-1])
        if out and out[-1][1] + 1 == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def test_the_table_is_the_unicode_property() -> None:
    assert list(DEFAULT_IGNORABLE) == _property_ranges()


def test_every_default_ignorable_code_point_is_removed() -> None:
    kept = [
        hex(c)
        for a, b in DEFAULT_IGNORABLE
        for c in range(a, b + 1)
        if normalize(f"a{chr(c)}b").text != "ab"
    ]
    assert not kept
    assert not is_default_ignorable("a") and not is_default_ignorable("\u0300")


def _hide(value: str, ch: str) -> str:
    return ch.join(value)


SAMPLES = ["\u034f", "\ufe0f", "\U000e0101", "\u115f", "\u1160", "\u3164", "\uffa0", "\U000e0041"]
SAMPLES += ["\u17b4", "\u180e", "\u2065", "\ufff0", "\U0001bca0", "\U0001d173", "\u061c"]


@pytest.mark.parametrize("ch", SAMPLES, ids=[f"U+{ord(c):04X}" for c in SAMPLES])
def test_an_ignorable_inside_a_value_hides_nothing(ch: str, mode: str) -> None:
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware(TYPES)])
    values = [EMAIL, CARD, SSN, PHONE]
    text = "; ".join(
        f"{label} {_hide(v, ch)}"
        for label, v in zip(["mail", "card", "ssn", "tel"], values, strict=True)
    )
    payload = {"messages": [HumanMessage(text)]}
    if mode == "sync":
        agent.invoke(payload)
    else:
        asyncio.run(agent.ainvoke(payload))
    sent = model.requests[0]["messages"][0].content
    assert sent.count("[REDACTED_") == 4, sent.encode("unicode_escape")


@pytest.mark.parametrize("levels", [1, 2, 3, 5, 8])
def test_percent_and_entities_are_decoded_to_a_fixed_point(levels: int, mode: str) -> None:
    text = f"write to {EMAIL}"
    for i in range(levels):
        text = quote(text, safe="") if i % 2 == 0 else "".join(f"&#{ord(c)};" for c in text)
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email", strategy="block")])
    with pytest.raises(PIIDetectionError):
        if mode == "sync":
            agent.invoke({"messages": [HumanMessage(text)]})
        else:
            asyncio.run(agent.ainvoke({"messages": [HumanMessage(text)]}))
    assert model.calls == 0


def test_encoded_deeper_than_the_bound_is_refused_when_asked(mode: str) -> None:
    text = f"write to {EMAIL}"
    for _ in range(12):
        text = quote(text, safe="")
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    with pytest.raises(PIIDetectionError, match="unscannable"):
        if mode == "sync":
            agent.invoke({"messages": [HumanMessage(text)]})
        else:
            asyncio.run(agent.ainvoke({"messages": [HumanMessage(text)]}))
    assert model.calls == 0


def test_nested_layers_are_opened(mode: str) -> None:
    inner = base64.b64encode(f'{{"note": "{quote(EMAIL)}"}}'.encode("utf-16")).decode()
    url = "data:application/octet-stream;base64," + base64.b64encode(inner.encode()).decode()
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    block = {"type": "image_url", "image_url": {"url": url}}
    payload = {"messages": [HumanMessage([{"type": "text", "text": "see"}, block])]}
    if mode == "sync":
        agent.invoke(payload)
    else:
        asyncio.run(agent.ainvoke(payload))
    sent = model.requests[0]["messages"][0].content[1]["image_url"]["url"]
    layer1 = base64.b64decode(sent.partition(",")[2]).decode()
    layer2 = base64.b64decode(layer1).decode("utf-16")
    assert "jane.doe" not in layer2 and "REDACTED_EMAIL" in layer2
    assert EMAIL not in dumps(model.requests)


# ---------------------------------------------------------------------- linear time
MB = 1_000_000


def _inputs() -> dict[str, str]:
    rng = random.Random(3)
    units = {
        "percent_25": "%25",
        "amp_entity": "&amp;",
        "numeric_entity": "&#64;",
        "entity_open": "&#",
        "percent_half": "%4",
        "base64_letters": "A",
        "base64_quads": "QUFB",
        "hex_pairs": "ab",
        "dash_run": "a-",
        "json_open": "[",
        "json_keys": '{"a":',
        "variation_selectors": "a\ufe0f",
        "grapheme_joiners": "1\u034f",
        "tags": "\U000e0041@",
        "hangul_filler": "5\u3164",
    }
    out = {name: (u * (MB // len(u) + 1))[:MB] for name, u in units.items()}
    body = base64.b64encode(("jane@example.com 4111 " * (MB // 30)).encode()).decode()
    out["data_url"] = "data:text/plain;base64," + body
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    out["random_base64"] = "".join(rng.choice(alphabet) for _ in range(MB))
    out["json_numbers"] = "[" + ",".join('{"phone": 6502530000}' for _ in range(MB // 24)) + "]"
    return out


@pytest.mark.slow
def test_every_layer_scans_1mb_of_adversarial_input_in_bounded_time() -> None:
    middleware = PIIMiddleware(["email", "phone", "credit_card", "us_ssn", "iban", "ip", "url"])
    slow = {}
    limit = sys.getrecursionlimit()
    for name, text in _inputs().items():
        bound = BOUND_S * 2 * 3 * _slowdown()  # decoding + detection of the decoded layers
        scan = middleware.scan("input")
        start = time.perf_counter()
        scan.text(text)
        took = time.perf_counter() - start
        if took > bound:
            slow[name] = (round(took, 2), round(bound, 2))
    assert sys.getrecursionlimit() == limit
    assert not slow, f"1 MB inputs over the bound (took, bound): {slow}"


# ------------------------------------------------------------------ ASCII digits only


def _digits_of_other_scripts() -> list[str]:
    return [c for c in map(chr, range(0x110000)) if re.fullmatch(r"\d", c) and not c.isascii()]


@pytest.mark.slow  # a sweep of every code point / of random text
def test_a_normalized_text_holds_no_digit_but_the_ascii_ones() -> None:
    """Every decimal digit of every script (``\\d`` of a ``str`` pattern), alone, in a run, after
    a letter or a digit, before combining marks, in a text of other non-ASCII characters, is an
    ASCII digit (or nothing) once normalized: the finders' patterns write ``\\d`` as ``[0-9]``
    (:func:`ascii_digits`) on that ground."""
    other = _digits_of_other_scripts()
    assert len(other) > 600  # Arabic-Indic, Devanagari, full-width, mathematical, ...
    contexts = (
        "{}",
        "a{}5",
        "{}{}",
        "x{}\u0301",
        "\u00e9{}\u200b{}",
        "\u3042{}\u0663\u0301",
        "1{}\u20e3",
    )
    for ch in other:
        for form in contexts:
            text = normalize(form.format(ch, ch)).text
            assert not re.search(r"[^0-9]", "".join(re.findall(r"\d", text))), (hex(ord(ch)), form)
    # no character composes into a digit (NFKC composition only builds characters that have a
    # canonical decomposition): a mark after a folded digit never turns it into another one
    assert not [c for c in other if unicodedata.normalize("NFD", c) != c]


@pytest.mark.parametrize(
    ("pattern", "written"),
    [
        (r"\d", "[0-9]"),
        (r"\d{3}-\d{2}", "[0-9]{3}-[0-9]{2}"),
        (r"[\d \t().\-/]", r"[0-9 \t().\-/]"),
        (r"[^\d]", "[^0-9]"),
        (r"[]\d]", "[]0-9]"),
        (r"[^]\d]x", "[^]0-9]x"),
        (r"\\d", r"\\d"),  # an escaped backslash, then "d"
        (r"\[\d\]", r"\[[0-9]\]"),
        (r"[\]\d]\d", r"[\]0-9][0-9]"),
        (r"(?<!\d)\D\w\s", r"(?<![0-9])\D\w\s"),
    ],
)
def test_ascii_digits_writes_each_digit_class_as_the_ascii_range(
    pattern: str, written: str
) -> None:
    assert ascii_digits(pattern) == written
    re.compile(written)


@pytest.mark.slow  # a sweep of every code point / of random text
def test_ascii_digits_matches_what_the_pattern_matches_on_normalized_text() -> None:
    rng = random.Random(5)
    alphabet = "0123456789 -./()[]\\d\u0663\u0967\uff14x"
    patterns = [r"\d+", r"[\d.]{2,}", r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}", r"[^\d\s]+", r"\D\d"]
    for _ in range(2000):
        text = normalize("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30)))).text
        for p in patterns:
            assert [m.span() for m in re.finditer(p, text)] == [
                m.span() for m in re.finditer(ascii_digits(p), text)
            ], (p, text)
