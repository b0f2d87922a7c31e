"""The promises of PII detection, part 10 (issue 29, round 7: the seed-31 survivors of
``pii_detect`` left open, the context words' boundaries, and the fresh seed-61 sample).

* **A digit of any script is a digit**: every decimal digit Unicode knows (each script's run of
  ten, enumerated with ``unicodedata``, not a hand-picked list) written in a card, an SSN, a
  phone number, an IBAN, an IP address, a MAC address, a date or an email is read as the ASCII
  digit, found whole, and never reaches the model through an agent (sync and async).
* **A context word is a word**: every context word of every type, alone, raises a number the
  rules leave to context (also ``फ़ोन``, which normalization writes without its nukta and which
  therefore never matched); glued to a letter of a script written with spaces (Latin, accented,
  Cyrillic, Greek, Hebrew, Devanagari) on either side it is part of another word
  (``hotel: 19 99 99 9`` holds no ``tel``, ``Отель`` no ``тел``), and so is a phone URI scheme
  (``tel:``, ``sms:``, ``fax:``, ``phone:``, ``callto:``). Words of scripts written without
  spaces still match anywhere, and a Hebrew word keeps its one-letter prefixes.
* **Two numbers side by side are two numbers whatever follows them**: a bracket, a note, a
  dash or punctuation after the second number does not change how the run parts.
* **Every assignment of a secret is read, whatever came before it in the text**: a name that is
  no secret's, a name with no value, a list of names, a placeholder, a header found or refused
  before it: the scan goes on to the next name.
* **A key named in words is a key** (``my API key is ...``, ``the Stripe key: ...``), while the
  bare word ``key`` in a sentence (``the key is ...``: a cache key, an object key) is not.
* **Every format of a shared prefix is tried**: ``sk-`` begins four formats; a token of any
  length one of them allows is found whole, whichever format an earlier one refused.
* **Plain text is returned as is**: a text with nothing to normalize is neither copied nor
  mapped (the fast path every scan of ordinary text takes).

Seed 61:

* **One span of two types is named by its stronger reading**, whichever type is listed first
  (a Maestro card a phone reading also takes, next to a card word, is a card).
* **A private key cut short** ends at its body's last character (padding included, never the
  line break, quote or space after); **cut at its start** it is reported from its first body
  line, indented or not; **an END line after fewer than 40 body characters is no key**.
* **The best reading of a phone candidate wins**: a number followed by a short group (``24
  hours``) is the number alone, with or without a context word.
* **A reference to a secret is not a secret** (``%DB_PASS%``, ``[NAME]``, ``&lt;...&gt;``, an
  Azure Key Vault reference, a truncated example, templates).
* **A hand-made bearer token is a credential** (12+ characters, three classes, not random).
* **A partial overlap of two types is one span named by the higher score**, in any order.
"""

from __future__ import annotations

import base64
import random
import re
import string
import sys
import unicodedata
import uuid
from typing import Any

import phonenumbers
import pytest
import respx
from faker import Faker
from langchain.agents import create_agent

from guardrails import PIIMiddleware
from guardrails.pii import detect
from guardrails.pii.context import _OPEN_STEMS
from guardrails.pii.detect import CONTEXT_WORDS, DEFAULT_REGIONS
from guardrails.pii.normalize import normalize
from tests.support import invoke, ok, request_bodies


def found(text: str, types: str | list[str]) -> list[tuple[str, str]]:
    return [(m["type"], m["value"]) for m in detect(text, types)]  # type: ignore[arg-type]


def _sent(text: str, types: list[str], mode: str, openai_mock: respx.MockRouter, chat: Any) -> str:
    """What the model receives of ``text`` through a real agent and PIIMiddleware."""
    route = openai_mock.post("/chat/completions").mock(return_value=ok("noted"))
    agent = create_agent(chat(), middleware=[PIIMiddleware(types)])
    invoke(agent, {"messages": [("user", text)]}, mode)
    bodies = request_bodies(route)
    return str(bodies[-1]["messages"][-1]["content"])


# ------------------------------------------------------------------ digits of every script


def _decimal_zeros() -> dict[str, int]:
    """Every run of ten decimal digits Unicode knows (category Nd), by its zero's name."""
    zeros = {}
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.category(ch) == "Nd" and unicodedata.decimal(ch) == 0 and cp > 0x7F:
            assert all(unicodedata.decimal(chr(cp + d)) == d for d in range(10))
            zeros[unicodedata.name(ch)] = cp
    return zeros


ZEROS = _decimal_zeros()
#: a value of every type that carries digits, as found in ASCII ("x VALUE y")
DIGIT_VALUES = [
    ("credit_card", "4111 1111 1111 1111"),
    ("credit_card", "5500005555555559"),
    ("us_ssn", "536-22-1234"),
    ("phone", "+44 20 7946 0958"),
    ("phone", "+1 650-253-0000"),
    ("iban", "DE89 3704 0044 0532 0130 00"),
    ("ip", "81.2.69.142"),
    ("mac_address", "00:1A:2B:3C:4D:5E"),
    ("date", "2024-01-15"),
    ("email", "jane42@example.com"),
]


def _written(value: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in value)


def test_every_script_of_decimal_digits_is_enumerated() -> None:
    # the set is Unicode's own: dozens of scripts, the common ones among them
    assert len(ZEROS) >= 60
    for name in ("ARABIC-INDIC DIGIT ZERO", "DEVANAGARI DIGIT ZERO", "FULLWIDTH DIGIT ZERO"):
        assert name in ZEROS


@pytest.mark.parametrize("script", sorted(ZEROS))
def test_a_value_written_in_any_script_of_digits_is_found(script: str) -> None:
    zero = ZEROS[script]
    for kind, value in DIGIT_VALUES:
        assert found(f"x {value} y", kind) == [(kind, value)], (kind, value)  # ASCII first
        written = _written(value, zero)
        assert found(f"x {written} y", kind) == [(kind, written)], (script, kind, written)
    # a phone number the rules leave to context: the context word still counts
    national = _written("020 7946 0958", zero)
    assert found(f"tel {national}", "phone") == [("phone", national)], script


@pytest.mark.sweep
@pytest.mark.parametrize("script", sorted(ZEROS))
def test_a_value_in_any_script_of_digits_never_reaches_the_model(
    script: str, mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    zero = ZEROS[script]
    values = [(k, _written(v, zero)) for k, v in DIGIT_VALUES if k != "email"]
    text = "; ".join(f"{k}: {v}" for k, v in values)
    kinds = sorted({k for k, _ in values})
    sent = _sent(text, kinds, mode, openai_mock, chat_openai)
    for kind, value in values:
        assert value not in sent, (script, kind)
        assert f"[REDACTED_{kind.upper()}]" in sent, (script, kind)


# ------------------------------------------------------------------ context words are words

#: per type, a value the rules leave to context: found next to a context word only
CONTEXT_ONLY = {"phone": "19 99 99 9", "credit_card": "1234 5678 9012 3452", "us_ssn": "536221234"}
#: the URI schemes a phone number is written after
SCHEMES = ("tel:", "sms:", "fax:", "phone:", "callto:")
#: letters of scripts written with spaces between words: Latin (both cases), accented Latin,
#: Cyrillic, Greek, Hebrew (not one of its one-letter prefixes), Devanagari
GLUE = [*"aqzAQZ", "é", "ô", "ß", "ø", "ñ", "ı", "о", "д", "λ", "א", "क"]
#: scripts written without spaces (a word there needs no boundary): Thai, Kana, Han, Hangul
SPACELESS = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _is_letter(ch: str) -> bool:
    return ch.isalpha() or unicodedata.category(ch).startswith("M")


def _stands_in(word: str, text: str) -> bool:
    """``word`` occurs in ``text`` with no letter glued on either side (this file's own rule)."""
    for m in re.finditer(re.escape(word), text):
        before = text[m.start() - 1] if m.start() else " "
        after = text[m.end()] if m.end() < len(text) else " "
        if not (_is_letter(before) or _is_letter(after)):
            return True
    return False


def _spaced_words(kind: str) -> list[str]:
    return [w for w in CONTEXT_WORDS[kind] if not SPACELESS.match(w)]


@pytest.mark.parametrize("kind", sorted(CONTEXT_ONLY))
def test_the_values_need_context(kind: str) -> None:
    value = CONTEXT_ONLY[kind]
    assert found(f"x {value} y", kind) == []
    assert found(f"hello world {value}", kind) == []


@pytest.mark.parametrize("kind", sorted(CONTEXT_ONLY))
def test_every_context_word_alone_is_context(kind: str) -> None:
    value = CONTEXT_ONLY[kind]
    for word in CONTEXT_WORDS[kind]:
        for text in (f"{word} {value}", f"{word}: {value}", f"{word.upper()} {value}"):
            assert found(text, kind) == [(kind, value)], text


@pytest.mark.parametrize("kind", sorted(CONTEXT_ONLY))
def test_a_context_word_glued_to_a_letter_before_it_is_not_context(kind: str) -> None:
    value = CONTEXT_ONLY[kind]
    words = CONTEXT_WORDS[kind]
    checked = 0
    for word in _spaced_words(kind):
        for letter in GLUE:
            glued = f"{letter}{word}"
            if any(_stands_in(w, glued) for w in words):
                continue  # "xmaster card" still holds the word "card"
            for text in (f"{glued} {value}", f"{glued}: {value}", f"the {glued} {value}"):
                assert found(text, kind) == [], text
            checked += 1
    assert checked >= len(_spaced_words(kind)) * len(GLUE) * 0.8


@pytest.mark.parametrize("kind", sorted(CONTEXT_ONLY))
def test_a_context_word_glued_to_a_letter_after_it_is_not_context(kind: str) -> None:
    value = CONTEXT_ONLY[kind]
    words = CONTEXT_WORDS[kind]
    for word in _spaced_words(kind):
        if not _is_letter(word[-1]):
            continue  # "cc#", "ph.": a letter after is after the mark
        if len(word) >= 5 and "\u0400" <= word[0] <= "\u04ff":
            continue  # a Cyrillic word takes its endings ("телефонный"; test_redteam_round7)
        if word.startswith(_OPEN_STEMS):
            continue  # a Finnish word takes its endings ("puhelimeen"; test_promises_detect_16)
        for letter in GLUE:
            if letter.isupper():
                continue  # "cardNumber": a camelCase name's parts are words
            glued = f"{word}{letter}"
            if any(_stands_in(w, glued) for w in words):
                continue  # "phone" + "s" is "phones", a context word too
            assert found(f"{glued} {value}", kind) == [], glued


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_phone_scheme_glued_to_a_letter_is_not_a_scheme(scheme: str) -> None:
    value = CONTEXT_ONLY["phone"]
    assert found(f"{scheme}{value}", "phone") == [("phone", value)]
    assert found(f"{scheme} {value}", "phone") == [("phone", value)]
    assert found(f"x {scheme.upper()} {value}", "phone") == [("phone", value)]
    for letter in GLUE:
        for text in (f"{letter}{scheme}{value}", f"{letter}{scheme} {value}"):
            assert found(text, "phone") == [], text


def test_words_of_scripts_written_without_spaces_match_anywhere() -> None:
    value = CONTEXT_ONLY["phone"]
    for text in (f"電話番号は{value}", f"携帯{value}", f"제 전화번호는 {value}", f"x電話 {value}"):
        assert found(text, "phone") == [("phone", value)], text


def test_a_hebrew_context_word_keeps_its_prefixes() -> None:
    value = CONTEXT_ONLY["phone"]
    for word in ("טלפון", "נייד"):
        for prefix in ("", "ב", "ה", "ל", "וב", "מה"):
            assert found(f"{prefix}{word} {value}", "phone") == [("phone", value)], prefix
        assert found(f"א{word} {value}", "phone") == []


def test_an_inflected_russian_context_word_is_context() -> None:
    for text, kind in (
        ("по телефону 19 99 99 9", "phone"),
        ("номер телефона 19 99 99 9", "phone"),
        ("с карты 1234 5678 9012 3452", "credit_card"),
    ):
        assert found(text, kind) != [], text
    assert found("телевизор 19 99 99 9", "phone") == []
    assert found("Отель: 19 99 99 9", "phone") == []


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("hotel: 19 99 99 9", "phone", "19 99 99 9"),
        ("Hôtel 19 99 99 9", "phone", "19 99 99 9"),
        ("Отель: 19 99 99 9", "phone", "19 99 99 9"),
        ("scarded 1234 5678 9012 3452", "credit_card", "1234 5678 9012 3452"),
    ],
)
def test_a_word_holding_a_context_word_reaches_the_model_unchanged(
    text: str, kind: str, value: str, mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    assert _sent(text, [kind], mode, openai_mock, chat_openai) == text
    # and the context word itself, as a word, redacts it
    alone = text.replace(text.split()[0], {"phone": "tel:", "credit_card": "card"}[kind])
    assert value not in _sent(alone, [kind], mode, openai_mock, chat_openai)


# ------------------------------------------------------------------ numbers side by side


def _bracketed(number: str) -> str:
    """A national number with its first group (the area code) in brackets: "(020) 7946 0958"."""
    head, _, rest = number.partition(" ")
    return f"({head}) {rest}" if rest and head.isdigit() else number


def _alone(value: str) -> bool:
    return found(f"call {value} today", "phone") == [("phone", value)]


def _pairs() -> list[tuple[str, str]]:
    """Two different example numbers of a region (phonenumbers' data), each written as
    formatted, as one block of digits, in E.164 and with its area code in brackets, each form
    found alone."""
    out = []
    national = phonenumbers.PhoneNumberFormat.NATIONAL
    for region in ("US", "GB", "DE", "FR", "IT", "ES", "NL", "IN", "AU", "BR"):
        numbers = []
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            ex = phonenumbers.example_number_for_type(region, kind)
            if ex is not None:
                numbers.append(ex)
        if len(numbers) < 2 or numbers[0] == numbers[1]:
            continue
        forms = []
        for n in numbers:
            text = phonenumbers.format_number(n, national)
            e164 = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
            block = re.sub(r"\D", "", text)
            forms.append(
                [f for f in dict.fromkeys((text, block, e164, _bracketed(text))) if _alone(f)]
            )
        out += [(a, b) for a in forms[0] for b in forms[1] if a[0] != "+" or b[0] == "+"]
    return out


PAIRS = _pairs()
#: what may follow a number in a text
AFTER = [" today", " (office)", "(office)", " (", ")", ".", ",", " - x", "/x", ":", ";", "!", ""]


def test_the_pairs_are_many_and_of_every_form() -> None:
    assert len(PAIRS) >= 60
    assert any(b.startswith("(") for _, b in PAIRS)  # the second number opens with a bracket
    assert any(a.isdigit() for a, _ in PAIRS)  # the first is one block of digits


@pytest.mark.parametrize("after", AFTER)
def test_two_numbers_side_by_side_are_two_whatever_follows(after: str) -> None:
    """Each pair is two numbers, whatever follows the second (a bracketed area code begins
    a number and never ends one: "020 7946 0958 (020) 7946 0959" parts before the bracket)."""
    for a, b in PAIRS:
        text = f"call {a} {b}{after}"
        assert found(text, "phone") == [("phone", a), ("phone", b)], text


# ------------------------------------------------------------------ secret assignments


#: a secret assignment, then texts that read as no secret before it
SECRET_TYPES = ["secret"]
TARGET = 'DB_PASSWORD="Xk9mQ2vL7pRt"'
NOT_A_SECRET = [
    "the keyboard is here",  # a secret word inside another word
    "see the password field",  # a name with no value
    "the token expires soon",  # a bare space binds only command-line flags
    "the key is 9b08923d10c67fd994b2b8fda02f34a6",  # the bare word key in a sentence
    "password, token",  # a list of names
    "Authorization: Bearer",  # a header with no credential
    "Authorization: Basic changeme",  # a placeholder
    "Authorization: Basic abcdefgh",  # not user:pass, not random
    "Authorization: Bearer short",  # not a credential
    "Authorization: Bearer <token>",  # a template, no value
    "Authorization: Basic Zm9vYmFy",  # base64 of no user:pass, short
    'apikey "hello world"',  # a quoted value after a space: only a random one
    "password=",  # nothing assigned
    "password=x",  # too short
    "api_key=settings.API_KEY",  # code, not a value
    "token_url=https://example.com/oauth/token",  # a name of something else
    "<password></password>",  # an empty element
]
#: texts that hold a secret of their own before the target
A_SECRET = [
    "Authorization: Bearer 8f3KqZ2mX9vB7nL4pR1tY6wE",
    "Authorization: Basic dXNlcjpodW50ZXIyMDI0",
    'api_key="Zq8Lm2Xv9Rt4Bn7Kp3Wd6Yh1"',
]


@pytest.mark.parametrize("joiner", ["\n", "; ", " and ", ", "])
def test_every_assignment_is_read_whatever_came_before(joiner: str) -> None:
    alone = found(TARGET, SECRET_TYPES)
    assert alone == [("secret", "Xk9mQ2vL7pRt")]
    for before in NOT_A_SECRET:
        assert found(before, SECRET_TYPES) == [], before
        assert found(f"{before}{joiner}{TARGET}", SECRET_TYPES) == alone, before
    for before in A_SECRET:
        own = found(before, SECRET_TYPES)
        assert len(own) == 1, before
        assert found(f"{before}{joiner}{TARGET}", SECRET_TYPES) == own + alone, before


def test_every_assignment_of_a_list_is_read() -> None:
    values = ["Xk9mQ2vL7pRt", "Zq8Lm2Xv9Rt4Bn7Kp3Wd6Yh1", "b7Tn3Wq9Lx2Mv8Rk5Pz1"]
    lines = [f"DB_PASSWORD={values[0]}", "password=", f"api_token={values[1]}", "key_id=12"]
    text = "\n".join([*lines, f"SMTP_PASS={values[2]}"])
    assert [v for _, v in found(text, SECRET_TYPES)] == values


def _random_token(rng: random.Random, n: int) -> str:
    while True:
        v = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))
        if any(c.isdigit() for c in v) and any(c.isupper() for c in v):
            return v


#: what people call a key when they name it in words
KEY_NAMES = [
    "API key",
    "api key",
    "secret key",
    "access key",
    "private key",
    "signing key",
    "encryption key",
    "master key",
    "license key",
    "subscription key",
    "client key",
    "service key",
    "app key",
    "session key",
    "webhook key",
    "Stripe key",
    "OpenAI key",
    "AWS key",
]


@pytest.mark.parametrize("name", KEY_NAMES)
def test_a_key_named_in_words_is_a_key(name: str) -> None:
    rng = random.Random(name)
    for connector in (" is ", " was ", ": ", " = "):
        token = _random_token(rng, 24)
        head = f"{name[0].upper()}{name[1:]}"
        for text in (f"my {name}{connector}{token}", f"{head}{connector}{token}"):
            assert found(text, SECRET_TYPES) == [("secret", token)], text


def test_the_bare_word_key_in_a_sentence_is_not_a_secret() -> None:
    rng = random.Random(7)
    values = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(6)]
    values += ["tenant-8842-orders-2024-q3", "b6589fc6ab0dc82cf12099d1c2d40ab994e8410c"]
    for connector in ("is", "was", "to", "are"):
        for value in values:
            for lead in ("The", "the primary", "my cache", "an object"):
                text = f"{lead} key {connector} {value} for this lookup."
                assert found(text, SECRET_TYPES) == [], text


@pytest.mark.sweep
@pytest.mark.parametrize("name", ["API key", "Stripe key"])
def test_a_key_named_in_words_never_reaches_the_model(
    name: str, mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    token = _random_token(random.Random(name), 32)
    sent = _sent(f"here is my {name}: {token}, thanks", ["secret"], mode, openai_mock, chat_openai)
    assert token not in sent


# ------------------------------------------------------------------ formats of one prefix


def _alnum(rng: random.Random, n: int, extra: str = "") -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + extra) for _ in range(n))


def test_every_length_of_every_sk_format_is_found() -> None:
    """``sk-`` begins OpenAI's project, legacy (``T3BlbkFJ``) and 48-character keys and other
    providers' ``sk-`` keys of 32 to 200 characters: each is found whole at every length its
    format allows, whichever format was tried before it."""
    rng = random.Random(61)
    tokens = [f"sk-{_alnum(rng, n)}" for n in range(32, 201)]
    tokens += [f"sk-proj-{_alnum(rng, n, '_-')}" for n in range(40, 251, 7)]
    tokens += [f"sk-{_alnum(rng, 20)}T3BlbkFJ{_alnum(rng, 20)}" for _ in range(5)]
    for token in tokens:
        for text in (f"key {token} end", f"OPENAI_API_KEY={token}", token):
            values = [v for _, v in found(text, SECRET_TYPES)]
            assert values == [token], (len(token), text[:20])


# ------------------------------------------------------------------ plain text as is


def test_plain_text_is_neither_copied_nor_mapped() -> None:
    texts = ["hello world", "call me at noon, ok?", "a-b_c.d:e;f!g" * 20, "x" * 10000, ""]
    texts += ["café au lait", "naïve résumé"]  # characters that fold to themselves
    for text in texts:
        norm = normalize(text)
        assert norm.text is text
        assert norm.starts is None and norm.ends is None and norm.tokens is None
        if text:
            assert norm.span(0, len(text)) == (0, len(text))


# ------------------------------------------------------------------ seed 61: one span, two types

CARD_NETWORKS = ["visa13", "visa16", "mastercard", "amex", "diners", "discover", "jcb15"]
CARD_NETWORKS += ["jcb16", "maestro"]


def _cards_also_phones() -> list[str]:
    """Faker's cards that the phone finder, alone, also reads as a phone number whole."""
    fake = Faker()
    fake.seed_instance(61)
    cards = [fake.credit_card_number(card_type=t) for t in CARD_NETWORKS for _ in range(80)]
    return [c for c in dict.fromkeys(cards) if found(f"pay {c} now", "phone") == [("phone", c)]]


def test_one_span_of_two_types_is_named_by_its_stronger_reading_in_any_order() -> None:
    """A number both a card (an issued range and Luhn) and a phone number (a national reading)
    is one match; next to a card word the card reading is the stronger, and names it whichever
    type is listed first (only a tie goes to the type listed first)."""
    both = _cards_also_phones()
    assert len(both) >= 3
    for card in both:
        for types in (["phone", "credit_card"], ["credit_card", "phone"]):
            for text in (f"pay {card} now", f"card {card}", f"card number: {card}."):
                assert found(text, types) == [("credit_card", card)], (types, text)


# ------------------------------------------------------------------ seed 61: private keys cut short

_KEY_KINDS = ["RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", ""]


def _pem_lines(seed: int, size: int = 300) -> list[str]:
    rng = random.Random(seed)
    body = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(size))).decode()
    return [body[i : i + 64] for i in range(0, len(body), 64)]


@pytest.mark.parametrize("kind", _KEY_KINDS)
def test_a_key_cut_short_ends_at_its_last_body_character(kind: str) -> None:
    """A key with no END line is reported from BEGIN to the last character of its body (a
    base64 padding ``=`` included), never the line break, quote, comma or space after it."""
    lines = _pem_lines(len(kind))
    for pad in ("", "=", "=="):
        key = f"-----BEGIN {kind}PRIVATE KEY-----\n" + "\n".join(lines[:3]) + pad
        for tail in ("", "\n", "\r\n", '"', '",', "'", " ", "\t", "\n\n"):
            assert found(f"{key}{tail}", SECRET_TYPES) == [("secret", key)], (pad, tail)


@pytest.mark.parametrize("indent", ["", "  ", "    ", "        ", "\t"])
@pytest.mark.parametrize("kind", _KEY_KINDS)
def test_a_key_cut_at_its_start_is_reported_from_its_first_body_line(
    kind: str, indent: str
) -> None:
    """A key whose BEGIN line is not in the text (a chunk, a paste cut at its start) is
    reported from its first body line to its END line, indented (a YAML block) or not."""
    lines = _pem_lines(7 + len(indent))[1:]  # the body from its second line on
    end = f"-----END {kind}PRIVATE KEY-----"
    block = "\n".join(f"{indent}{line}" for line in [*lines, end])
    for head in ("key: |\n", "private_key: >-\n", "```\n", ""):
        value = block[len(indent) :]
        assert found(f"{head}{block}", SECRET_TYPES) == [("secret", value)], (head, indent)


@pytest.mark.parametrize("kind", _KEY_KINDS)
def test_an_end_line_without_a_body_is_no_key(kind: str) -> None:
    """An END line after fewer than 40 characters of body (a tutorial, a truncated example,
    prose) is no key; 40 or more make one (a key cut at its start)."""
    end = f"-----END {kind}PRIVATE KEY-----"
    body = "".join(c for c in "".join(_pem_lines(3)) if c.isalnum())
    for n in range(40):
        for text in (f"{body[:n]}\n{end}", f"the file ends with {body[:n]} {end} and more"):
            assert found(text, SECRET_TYPES) == [], (n, text)
    assert found(f"{body[:40]}\n{end}", SECRET_TYPES) == [("secret", f"{body[:40]}\n{end}")]


# ------------------------------------------------------------------ seed 61: the best reading


def _international_examples() -> list[str]:
    out = []
    for region in DEFAULT_REGIONS:
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            ex = phonenumbers.example_number_for_type(region, kind)
            if ex is not None:
                fmt = phonenumbers.PhoneNumberFormat.INTERNATIONAL
                out.append(phonenumbers.format_number(ex, fmt))
    return list(dict.fromkeys(out))


INTERNATIONAL = _international_examples()


@pytest.mark.parametrize("lead", ["", "tel: ", "call ", "mobile: ", "reach me at "])
def test_a_number_followed_by_a_short_group_is_reported_without_it(lead: str) -> None:
    """The best reading of a candidate wins, not the first that reaches the threshold: an
    international number followed by a group of one or two digits (hours, a count) is the
    number alone, also where a context word lets the longer reading through (the longer
    reading is no valid number: phonenumbers says so)."""
    assert len(INTERNATIONAL) >= 40
    for number in INTERNATIONAL:
        for short in ("24", "7", "12"):
            if phonenumbers.is_valid_number(phonenumbers.parse(f"{number}{short}")):
                continue  # "+49 30 123456 24" is a German number too (variable length)
            if all(len(g) == len(short) for g in re.findall(r"\d+", number)[1:]):
                continue  # "+32 12 34 56 78 24": a group in the number's own grouping
            text = f"{lead}{number} {short} hours"
            assert found(text, "phone") == [("phone", number)], text


# ------------------------------------------------------------------ seed 61: references


#: values that name or elide a secret instead of holding it: a Windows environment variable,
#: an INI or docs reference in brackets, an escaped placeholder, an Azure Key Vault reference,
#: a truncated example, shell and Python templates
REFERENCES = [
    "%DB_PASS_9x%",
    "%SMTP_Passw0rd_2%",
    "[SMTP_Passw0rd_2]",
    "[DbPassw0rd2024]",
    "&lt;Passw0rd_Here2&gt;",
    "@Microsoft.KeyVault(SecretUri=https://kv9.vault.azure.net/secrets/Db2)",
    "@Db_Passw0rd_9",
    # a token's prefix cut short (a longer random head is a leak, and under a password name what
    # stands before the dots is the password: test_secrets_truncated)
    "sk-Xk9m...",
    "ghp_Xk9mQ2...",
    "${DB_PASSWORD_2}",
    "$(cat /run/secrets/db_2)",
    "%(db_password_2)s",
]


def test_a_reference_to_a_secret_is_not_a_secret() -> None:
    for value in REFERENCES:
        for text in (f'password="{value}"', f"DB_PASSWORD={value}", f"api_key: '{value}'"):
            assert found(text, SECRET_TYPES) == [], text
    # the same characters as a value are one
    assert found('password="DbPassw0rd2024"', SECRET_TYPES) == [("secret", "DbPassw0rd2024")]


# ------------------------------------------------------------------ seed 61: weak bearer tokens

#: bearer tokens people make by hand: 12+ characters of three classes, far from random
WEAK_BEARERS = ["Abc123Abc123", "Passw0rdPassw0rd", "Welcome2024Team", "Summer2023Summer"]
WEAK_BEARERS += ["Monday2025Monday", "Office365Office"]


def test_a_hand_made_bearer_token_is_a_credential() -> None:
    """A bearer token is a credential whatever its entropy: one of 12 characters or more in
    three character classes is reported though it is not random-looking."""
    for token in WEAK_BEARERS:
        for text in (
            f"Authorization: Bearer {token}",
            f"Proxy-Authorization: Bearer {token}",
            f'{{"Authorization": "Bearer {token}"}}',
            f"curl -H 'Authorization: Bearer {token}' https://api.example.com",
        ):
            assert found(text, SECRET_TYPES) == [("secret", token)], text
    for short in ("Abc123Abc12", "bearer", "abc123abc123"):  # too short, a word, two classes
        assert found(f"Authorization: Bearer {short}", SECRET_TYPES) == [], short


# ------------------------------------------------------------------ seed 61: session ids


@pytest.mark.parametrize("name", ["PHPSESSID", "session_id", "JSESSIONID", "connect.sid"])
def test_a_random_session_id_is_one_whatever_word_it_holds_by_chance(name: str) -> None:
    """A session cookie's value is judged by its own characters: 24 or more random letters and
    digits are a session id, also when a placeholder word (``dummy``, ``fake``, ``xxxx``)
    occurs in them by chance; the cookie's name is not part of the judgement."""
    rng = random.Random(name)
    for marker in ("dummy", "fake", "xxxx", "test", "demo", "sample", "example"):
        for _ in range(10):
            base = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(28))
            cut = rng.randrange(len(base))
            value = base[:cut] + marker + base[cut:]
            text = f"Cookie: {name}={value}; path=/"
            assert found(text, SECRET_TYPES) == [("secret", value)], text


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("tel 12 34 4111 1111 1111 1111", "credit_card", "12 34 4111 1111 1111 1111"),
        ("tel 0207 946 0958 536 22 1234", "us_ssn", "0207 946 0958 536 22 1234"),
    ],
)
def test_a_partial_overlap_is_one_span_named_by_the_higher_score_in_any_order(
    text: str, kind: str, value: str
) -> None:
    """Two types whose spans overlap in part (a phone reading run into a card or an SSN) are one
    match over both (no fragment of either is left), named by the higher score, whichever type
    is listed first and whichever starts first."""
    types = ["phone", kind, "date"]
    for order in (types, types[::-1], [kind, "phone"]):
        assert found(text, order) == [(kind, value)], order
