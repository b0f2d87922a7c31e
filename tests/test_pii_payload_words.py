"""What a value may be hidden by, by kind, each kind a table the tests are generated from.

* **Invisible characters** (docs/pii.md, "Normalization"): every code point of Unicode category
  ``Cf`` (format), every ``Cc`` (control) that is not a space or separator, and every
  default-ignorable code point, inside an e-mail address or a phone number, hides nothing: the
  value is found whole, the character with it. The controls that are spaces or separators (tab,
  line feed, VT, FF, CR, U+001C-U+001F, NEL) stay separators.
* **An address's separators in a transfer encoding** (:data:`ENCODED_SEPARATORS`, every row, every
  pattern, examples drawn from the pattern itself): ``jane=40example=2Ecom``,
  ``jane\\u0040example.com``, ``jane&period;doe&#64;example.com`` are found whole; a new row is
  tested with no new code.
"""

from __future__ import annotations

import re
import sys
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails.pii import PIIMiddleware, detect
from guardrails.pii.normalize import DEFAULT_IGNORABLE, ENCODED_SEPARATORS, normalize
from guardrails.pii.observers import redactor
from tests.test_pii_detect_linear import BOUND_S, _slowdown

EMAIL = "jane.doe@example.com"
PHONE = "+1 650 253 0000"


# ------------------------------------------------------------------ invisible characters
def _classes() -> dict[str, list[str]]:
    """Every invisible character, by class, from the Unicode database (not from the code
    under test)."""
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    return {
        "Cf": [c for c in every if unicodedata.category(c) == "Cf"],
        "Cc": [c for c in every if unicodedata.category(c) == "Cc" and not c.isspace()],
        "default-ignorable": [chr(c) for a, b in DEFAULT_IGNORABLE for c in range(a, b + 1)],
    }


CLASSES = _classes()
SEPARATORS = [c for c in map(chr, range(0x100)) if unicodedata.category(c) == "Cc" and c.isspace()]


def _inside(value: str, ch: str) -> str:
    """``ch`` after the first character of ``value`` and in its middle."""
    mid = len(value) // 2
    return value[0] + ch + value[1:mid] + ch + value[mid:]


def test_the_classes_are_what_the_unicode_database_says() -> None:
    assert len(CLASSES["Cf"]) > 150 and len(CLASSES["Cc"]) == 65 - len(SEPARATORS)
    assert "\x00" in CLASSES["Cc"] and "\x7f" in CLASSES["Cc"] and "\x9b" in CLASSES["Cc"]
    assert list("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85") == SEPARATORS


@pytest.mark.parametrize("kind", ["Cf", "Cc"])
def test_an_invisible_character_inside_a_value_hides_nothing(kind: str) -> None:
    """``j\\0ane@example.com``, ``+1\\u200b650 253 0000``: the value is found whole (what a
    reader shows), its original span covering the character."""
    missed = []
    for ch in CLASSES[kind]:
        email, phone = _inside(EMAIL, ch), _inside(PHONE, ch)
        text = f"mail {email} or call {phone} today"
        got = [m["value"] for m in detect(text, ["email", "phone"])]
        if got != [email, phone]:
            missed.append((f"U+{ord(ch):04X}", got))
    assert not missed, missed[:10]


@pytest.mark.slow
def test_every_default_ignorable_inside_a_value_hides_nothing() -> None:
    missed = []
    for ch in CLASSES["default-ignorable"]:
        email = _inside(EMAIL, ch)
        if [m["value"] for m in detect(f"mail {email} today", ["email"])] != [email]:
            missed.append(f"U+{ord(ch):04X}")
    assert not missed, missed[:10]


@pytest.mark.parametrize("ch", SEPARATORS, ids=[f"U+{ord(c):04X}" for c in SEPARATORS])
def test_a_control_that_is_a_separator_stays_one(ch: str) -> None:
    """Two addresses a record separator (or a tab, a line break) stands between are two
    addresses, never one glued reading that finds neither whole."""
    text = f"jane@example.com{ch}bob@example.org"
    assert normalize(text).text == text.replace("\x85", "\n")  # (NEL: a line break)
    assert [m["value"] for m in detect(text, ["email"])] == ["jane@example.com", "bob@example.org"]


def test_a_text_of_ascii_without_controls_is_returned_as_it_is() -> None:
    text = "plain ASCII, tab\tand line\nbreak, no token"
    norm = normalize(text)
    assert norm.text is text and norm.starts is None and norm.tokens is None


# ------------------------------------------------------------ separators in an encoding
def _examples(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(re.compile(pattern, re.IGNORECASE), fullmatch=True)


ROWS = [
    (name, at, dot)
    for name, ats, dots in ENCODED_SEPARATORS
    for at in ats
    for dot in (dots if at == ats[0] else dots[:1])
]


@pytest.mark.parametrize("row", ROWS, ids=[f"{n}: {a} {d}" for n, a, d in ROWS])
def test_an_address_written_with_encoded_separators_is_found_whole(
    row: tuple[str, str, str],
) -> None:
    name, at_pattern, dot_pattern = row

    @settings(max_examples=15, database=None, suppress_health_check=list(HealthCheck))
    @given(at=_examples(at_pattern), dot=_examples(dot_pattern))
    def check(at: str, dot: str) -> None:
        value = f"jane{dot}doe{at}example{dot}com"
        text = f"Write to {value}, thanks."
        got = detect(text, ["email"])
        assert [m["value"] for m in got] == [value], (name, text)
        assert redactor(PIIMiddleware("email"))(text) == "Write to [REDACTED_EMAIL], thanks."

    check()


@pytest.mark.parametrize(
    "text",
    [
        "phone=4045551234",  # a query string's =40 before digits: a number
        "GET /?tel=4045551234&x=1",
        "cols=40 rows=2E5",
        "100%40 done",
    ],
)
def test_a_separator_token_of_another_meaning_changes_no_finding(text: str) -> None:
    got = [m["value"] for m in detect(text, ["email", "phone"])]
    if "4045551234" in text:
        assert got == ["4045551234"], got
    else:
        assert got == [], got


# ------------------------------------------------------------------------- linear time
MB = 1_000_000


def _units() -> dict[str, str]:
    units = {"nul": "a\x00", "controls": "\x01\x7f", "c1": "5\x9b"}
    for name, ats, dots in ENCODED_SEPARATORS:
        for i, pattern in enumerate(ats + dots):
            # a token and a near miss of it (its last character dropped)
            token = pattern.replace("(?![0-9])", "").replace("0*", "").replace("\\", "").lower()
            if name.endswith("escape"):
                token = "\\" + token
            units[f"{name} {i}"] = token + "x" + token[:-1]
    return units


@pytest.mark.slow
@pytest.mark.parametrize("unit", list(_units()))
def test_normalizing_1mb_of_adversarial_tokens_is_bounded(unit: str) -> None:
    u = _units()[unit]
    text = (u * (MB // len(u) + 1))[:MB]
    start = time.perf_counter()
    normalize(text)
    detect(text[: MB // 4], ["email", "phone"])
    took = time.perf_counter() - start
    if took > BOUND_S * 2:
        bound = BOUND_S * 2 * _slowdown()
        assert took <= bound, f"{unit!r}: {took:.2f} s, bound {bound:.2f} s"
    assert sys.getrecursionlimit() > 0
