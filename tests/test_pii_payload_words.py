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

import base64
import codecs
import email.header
import json
import quopri
import random
import re
import sys
import time
import unicodedata
from collections.abc import Callable
from urllib.parse import quote

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


def test_a_control_character_right_after_a_value_ends_it() -> None:
    """Control characters also separate fields (a protobuf field's tag and length bytes:
    ``jane@example.com\\x12\\x03abc``): the value is found in that reading too, whichever
    reading holds it (detection reads both and keeps every match)."""
    missed = []
    for ch in CLASSES["Cc"]:
        for text in (f"{EMAIL}{ch}abc", f"call {PHONE}{ch}{ch}7 now", f"x{ch}{EMAIL}"):
            values = [m["value"] for m in detect(text, ["email", "phone"])]
            if not any(EMAIL in v or PHONE in v for v in values):  # (covered whole)
                missed.append((f"U+{ord(ch):04X}", text, values))
    assert not missed, missed[:5]


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

    @settings(
        max_examples=15, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
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


# --------------------------------------------------------------- transfer encodings
def _every_byte(fmt: str) -> Callable[[str], str]:
    return lambda v: "".join(fmt % b for b in v.encode())


def _qp_body(v: str) -> str:
    """A MIME body whose soft line break (every 76 characters) falls inside the value."""
    return quopri.encodestring(("x" * 70 + " " + v).encode()).decode()


#: How a client or a tool writes a text in each transfer encoding the scan reads (one row per
#: encoding; docs/pii.md lists them). The tests below are generated from this table: a new
#: row is a new promise, with no new test code.
TRANSFER_ENCODINGS: dict[str, Callable[[str], str]] = {
    "percent-encoding": lambda v: quote(v, safe=""),
    "percent-encoding, every byte": _every_byte("%%%02X"),
    "HTML decimal entities": lambda v: "".join(f"&#{ord(c)};" for c in v),
    "HTML hex entities": lambda v: "".join(f"&#x{ord(c):x};" for c in v),
    "HTML named entities": lambda v: v.replace("@", "&commat;").replace(".", "&period;"),
    "JSON \\u escapes": lambda v: "".join(f"\\u{ord(c):04x}" for c in v),
    "JSON string, ensure_ascii": lambda v: json.dumps(v.replace("e", "e\u200b"))[1:-1],
    "\\x escapes": _every_byte("\\x%02x"),
    "quoted-printable body": _qp_body,
    "quoted-printable, every byte": _every_byte("=%02X"),
    "MIME encoded word, Q": lambda v: email.header.Header(v + "é", "utf-8").encode(),
    "MIME encoded word, B": lambda v: f"=?utf-8?b?{base64.b64encode(v.encode()).decode()}?=",
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "base64url, unpadded": lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "base32": lambda v: base64.b32encode(v.encode()).decode(),
    "base32, lower case, unpadded": lambda v: (
        base64.b32encode(v.encode()).decode().lower().rstrip("=")
    ),
    "base32, mixed case": lambda v: "".join(
        c.lower() if i % 3 else c for i, c in enumerate(base64.b32encode(v.encode()).decode())
    ),
    "Ascii85": lambda v: base64.a85encode(v.encode()).decode(),
    "Ascii85, Adobe framed and wrapped": lambda v: base64.a85encode(
        v.encode(), adobe=True, wrapcol=12
    ).decode(),
    "base85 (RFC 1924, git)": lambda v: base64.b85encode(v.encode()).decode(),
    "hex": lambda v: v.encode().hex(),
    "data URL, base64": lambda v: "data:text/plain;base64," + base64.b64encode(v.encode()).decode(),
    "data URL, percent": lambda v: "data:text/plain," + quote(v, safe=""),
}

VALUES = {"email": EMAIL, "phone": PHONE}


@pytest.mark.parametrize("kind", list(VALUES))
@pytest.mark.parametrize("encoding", list(TRANSFER_ENCODINGS))
@pytest.mark.parametrize("where", ["whole", "in a sentence", "in quotes"])
def test_a_value_in_every_transfer_encoding_is_found(encoding: str, kind: str, where: str) -> None:
    value = VALUES[kind]
    if encoding == "base64url, unpadded" and kind == "phone":
        value += "??>"  # (bytes base64url writes with its own characters)
    token = TRANSFER_ENCODINGS[encoding](value)
    text = {
        "whole": token,
        "in a sentence": f"see {token} thanks",
        "in quotes": f'{{"v": "{token}"}}',
    }[where]
    scrub = redactor(PIIMiddleware([kind]))
    out = scrub(text)
    assert out != text, (encoding, text)
    assert value not in out and token not in out, (encoding, out)
    assert scrub(out) == out  # what it sent holds nothing more


#: the encodings a handled value is put back under as it came (same alphabet, case, padding)
REENCODED = ["base64", "base64url, unpadded", "base32", "base32, lower case, unpadded"]
REENCODED += ["Ascii85", "base85 (RFC 1924, git)", "hex", "data URL, base64"]


@pytest.mark.parametrize("encoding", REENCODED)
def test_a_handled_value_goes_back_under_the_same_encoding(encoding: str) -> None:
    encode = TRANSFER_ENCODINGS[encoding]
    text = f"see {encode('jane@example.com')} thanks"  # (16 bytes: no whole quanta)
    assert redactor(PIIMiddleware(["email"]))(text) == f"see {encode('[REDACTED_EMAIL]')} thanks"


def test_an_escaped_surrogate_pair_is_read_as_its_character() -> None:
    """``\\ud83d\\udcde`` (JSON's way to write 📞) decodes to the one character: the text sent
    holds no lone surrogate (which no UTF-8 encoder takes)."""
    text = json.dumps(f"📞 {EMAIL}")[1:-1]
    assert "\\ud83d\\udcde" in text
    out = redactor(PIIMiddleware(["email"]))(text)
    assert out == "📞 [REDACTED_EMAIL]"
    out.encode("utf-8")


def test_rot13_is_not_a_transfer_encoding() -> None:
    """Every text is some other text in rot13: no content tells a rot13 layer, and reading
    every text twice would double the scan (docs/pii.md says it is not read)."""
    text = codecs.encode(f"mail {EMAIL}", "rot13")
    assert redactor(PIIMiddleware(["email"]))(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Internationalization and Localization teams",
        "INTERNATIONALIZATIONS",  # base32 and base64 characters: bytes that are no text
        "see https://example.com/docs/getting-started?page=2&utm_source=newsletter",
        "path /usr/local/lib/python3.12/site-packages/guardrails/pii/payloads.py",
        "a Windows path C:\\Users\\xavier\\x64\\bin and limit=20 offset=40",
    ],
)
def test_a_text_of_no_encoding_is_left_as_it_is(text: str) -> None:
    every = ["email", "phone", "credit_card", "us_ssn", "ip", "iban", "url"]
    assert redactor(PIIMiddleware([t for t in every if t != "url"]))(text) == text


def _decoder_inputs() -> dict[str, str]:
    """1 MB inputs at each new decoder: valid tokens, near misses, many short candidates."""
    rng = random.Random(5)
    b85 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
    text = ("jane@example.com +1 650 253 0000 " * (MB // 40)).encode()
    units = {
        "base32 letters": "A",
        "base32 padding": "AAAAAAAA======",
        "a85 frame opens": "<~",
        "a85 overflow": "u",
        "b85 overflow": "~",
        "short near misses": "D={E8H83DDH8UV ",
        "backslash escapes": "\\u0040",
        "backslash near misses": "\\u004",
        "encoded word opens": "=?utf-8?q?",
        "qp every byte": "=41",
    }
    out = {name: (u * (MB // len(u) + 1))[:MB] for name, u in units.items()}
    out["base32 text"] = base64.b32encode(text[: MB * 5 // 8]).decode()
    out["a85 text"] = base64.a85encode(text[: MB * 4 // 5]).decode()
    out["a85 framed wrapped"] = base64.a85encode(
        text[: MB * 3 // 4], adobe=True, wrapcol=76
    ).decode()
    out["b85 text"] = base64.b85encode(text[: MB * 4 // 5]).decode()
    out["b85 random"] = "".join(rng.choice(b85) for _ in range(MB))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_decoder_inputs()))
def test_every_new_decoder_reads_1mb_of_adversarial_input_in_bounded_time(name: str) -> None:
    text = _decoder_inputs()[name]
    scan = PIIMiddleware(["email", "phone"]).scan("input")
    start = time.perf_counter()
    scan.text(text)
    took = time.perf_counter() - start
    bound = BOUND_S * 2 * 3  # decoding + detection of the decoded layers (as test_pii_normalize)
    if took > bound:
        bound *= _slowdown()
        assert took <= bound, f"{name!r}: {took:.2f} s, bound {bound:.2f} s"


def test_bytes_told_to_have_no_reading_have_none() -> None:
    """The quick test that spares a token of another encoding its readings agrees with
    :func:`readings` (random bytes, short ones, zero bytes and byte-order marks among them)."""
    from guardrails.pii import payloads

    rng = random.Random(1)
    told = 0
    for _ in range(40_000):
        size = rng.randrange(1, 70)
        raw = bytes(
            rng.randrange(256) if rng.random() < 0.7 else rng.choice(b"abc 0\x00\xfe\xff\xef\xbb")
            for _ in range(size)
        )
        if payloads._no_reading(raw):
            told += 1
            assert payloads.readings(raw) == [], raw
    assert told > 10_000
    # bytes at each of its edges that do have a reading: 32 CJK characters in UTF-16 without a
    # zero byte or an ASCII one (64 bytes), a byte-order mark alone, Cyrillic in UTF-8
    for raw in ("語" * 32).encode("utf-16-le"), b"\xff\xfe", b"\xfe\xff", "телефон".encode():
        assert payloads.readings(raw) != [], raw
        assert not payloads._no_reading(raw), raw


# (base85 here writes "N+P0RRC20RRC2...": a stretch of base64 characters that reads as text by
# itself, read as that stretch: docs/pii.md, not covered)
@pytest.mark.parametrize("encoding", ["Ascii85", "base32"])
def test_a_long_payload_with_control_characters_sprinkled_in_is_read(encoding: str) -> None:
    """A payload of 64 characters or more is read also when it is text only once its control
    characters are out (``jane@example.com`` and 40 NULs); a shorter token only when it is text
    as it is (docs/pii.md: word-sized tokens decode to such readings by the hundred)."""
    raw = EMAIL.encode() + b"\x01\x00" * 20  # (not all NULs: Ascii85 writes four as "z")
    token = {
        "Ascii85": base64.a85encode,
        "base85 (RFC 1924, git)": base64.b85encode,
        "base32": base64.b32encode,
    }[encoding](raw).decode()
    assert len(token) >= 64
    out = redactor(PIIMiddleware(["email"]))(f"blob {token} end")
    assert out != f"blob {token} end"


@pytest.mark.parametrize("encode", [base64.a85encode, base64.b85encode], ids=["a85", "b85"])
def test_a_twelve_byte_value_in_base85_is_read(encode: Callable[[bytes], bytes]) -> None:
    """12 bytes (``+16502530000``) are 15 base85 characters: the shortest token read, as
    base64's 16 characters are 12 bytes."""
    token = encode(b"+16502530000").decode()
    assert len(token) == 15
    out = redactor(PIIMiddleware(["phone"]))(f"tel {token} ok")
    assert out != f"tel {token} ok"


def test_a_base85_token_is_read_whole_past_a_stretch_of_base64_characters_inside() -> None:
    """``CHXw9wAZlT5WiDiIWk6+kVQp`` inside this base85 token is a base64 run whose bytes are
    text only once their control characters are out: the whole token's base85 reading is taken
    instead, and the handled value goes back under base85 as one token."""
    value = "note 1506 to jane.doe@example.com"
    token = base64.b85encode(value.encode()).decode()
    assert "CHXw9wAZlT5WiDiIWk6+kVQp" in token
    out = redactor(PIIMiddleware(["email"]))(f"blob {token} end")
    redacted = base64.b85encode(b"note 1506 to [REDACTED_EMAIL]").decode()
    assert out == f"blob {redacted} end"


@pytest.mark.slow
def test_base85_tokens_each_holding_a_value_cost_linear_time() -> None:
    """1 MB of short base85 tokens, each a phone number: every one is a layer of its own,
    decoded, scanned and re-encoded (as many base64 tokens would be; measured 36 s per MB at a
    slowdown of 5, about 7 s on an idle core: past the bound of the other inputs, each layer
    being a scan); the cost grows with the input, not faster (4x the input: at most 6x the
    time)."""
    unit = base64.b85encode(b"+1 650 253 0000").decode() + " "

    def took(size: int) -> float:
        text = (unit * (size // len(unit) + 1))[:size]
        scan = PIIMiddleware(["email", "phone"]).scan("input")
        start = time.perf_counter()
        scan.text(text)
        return time.perf_counter() - start

    small, large = took(MB // 4), took(MB)
    assert large <= small * 6, (round(small, 2), round(large, 2))


def test_an_escape_past_the_last_code_point_reads_as_a_replacement_character() -> None:
    """``\\U00110000`` names no character: read as U+FFFD, the text still handled."""
    text = "\\U00110000 \\u006a\\u0061ne@example.com"
    assert redactor(PIIMiddleware(["email"]))(text) == "\ufffd [REDACTED_EMAIL]"


def test_a_base32_token_of_whole_quanta_goes_back_padded() -> None:
    """20 bytes are 32 base32 characters and no padding: no sign either way, so the handled
    value (16 bytes) is written padded, as strict decoders want it."""
    token = base64.b32encode(EMAIL.encode()).decode()
    assert len(token) == 32 and not token.endswith("=")
    out = redactor(PIIMiddleware(["email"]))(f"see {token} thanks")
    assert out == f"see {base64.b32encode(b'[REDACTED_EMAIL]').decode()} thanks"
