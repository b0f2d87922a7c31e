"""The promises of PII detection, part 9 (issue 29: the seed-13 survivors of ``pii_detect`` left
open, and the fresh seed-31 sample).

* **A run of digits that does not part into two numbers is tried once** (linear time, counted,
  not timed): the phone finder may read a run too long for one number as two numbers side by
  side; a run that does not part is not tried again from each later candidate in it.
* **A number written with ``(0)`` after its country code is a phone number**, for every region
  phonenumbers knows (its own example numbers, fixed line and mobile): the bracketed 0 is the
  trunk prefix not dialled from abroad (``+44 (0)20 7946 0958``), or the number's own first
  digit where the country keeps it (``+39 (0)2 1234 5678``, Italy): either reading is a number.
* **Coordinates are not phone numbers**, even next to a phone word: a decimal number whose
  integer part has fewer than 4 digits (``113.13148``) is a quantity (real places, from Faker).
* **A legacy Vault token is random base62** (``s.`` and 24 characters of upper case, lower case
  and digits): a run of letters only (an identifier after ``s.``, real names from the standard
  library's sources, the false positives gitleaks allow-lists) or a hex digest is not one.

Seed 31:

* **A context word is a word**: glued to a lower-case letter on either side (``mobilez``) it is
  part of another word, not context (every letter, ``a`` and ``z`` included).
* **A card after a long number is a card**: a number of 12 digits or more joined to it by
  ``-``, ``.`` or ``/`` is not the head of a phone number whose tail it could be (Faker's cards).
* **A deny-list detector finds its literal values** (whole words, any case), and a detector of
  no supported kind is refused when the guardrail is built.
* **A base64-encoded private key cut short is a key** at every length it can be told from
  (a cut one past a group of 4 characters was not decoded, so not reported).
* **A quoted value ends on its line**, also when the line ends right after the opening quote:
  the next line is not read as the value.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import random
import re
import string
import sysconfig

import phonenumbers
import pytest
from faker import Faker
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage
from phonenumbers import PhoneNumberFormat, PhoneNumberType

import guardrails.pii.finders.phone as phone_finder
from guardrails import GuardrailConfigError, PIIMiddleware
from guardrails.pii.detect import build_detector
from guardrails.testing import ScriptedChatModel
from tests.support import invoke


def _sent(content: str, types: list[str], mode: str) -> str:
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware(types)])
    invoke(agent, {"messages": [HumanMessage(content)]}, mode)
    return str(model.requests[0]["messages"][-1].content)


# ---------------------------------------------------------------- a run is split-tried once


@pytest.mark.parametrize("unit", ["1 ", "0 ", "1 2 ", "1234 "])
def test_a_run_that_does_not_part_into_numbers_is_split_tried_once(
    unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work, counted: a long run of digit groups that reads as no two numbers costs one split
    attempt, whatever its length; trying again from each candidate in the run re-reads the run
    to its end each time (quadratic: 133 s on 1 MB of ``"1 "``)."""
    attempts: list[int] = []
    real = phone_finder._split

    def counting(*args: object, **kwargs: object) -> object:
        attempts.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(phone_finder, "_split", counting)
    detector = build_detector("phone")
    counts = []
    for size in (10_000, 40_000):
        attempts.clear()
        detector._scan((unit * size)[:size])
        counts.append(len(attempts))
    assert counts[0] == counts[1] <= 2, counts


# ---------------------------------------------------------------- "(0)" after the country code


def _bracketed_zero_examples() -> list[tuple[str, str]]:
    """phonenumbers' example numbers of every region (fixed line and mobile), written in its
    international format with a bracketed 0 after the country code."""
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            code, rest = phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL).split(
                " ", 1
            )
            # the trunk prefix before the number, or the number's own leading 0 in brackets
            written = f"{code} (0){rest[1:]}" if rest[0] == "0" else f"{code} (0){rest}"
            out.append((region, written))
    return out


BRACKETED_ZERO = _bracketed_zero_examples()


def test_a_number_with_a_bracketed_zero_is_found_for_every_region() -> None:
    detector = build_detector("phone")
    missed = []
    for region, number in BRACKETED_ZERO:
        text = f"Reach our office on {number} during the week."
        if [m["value"] for m in detector(text)] != [number]:
            missed.append((region, number))
    assert len(BRACKETED_ZERO) > 400
    assert missed == []


@pytest.mark.parametrize(
    "number", ["+44 (0)20 7946 0958", "0044 (0)20 7946 0958", "+39 (0)2 1234 5678"]
)
def test_a_bracketed_zero_number_is_redacted_in_a_message(number: str, mode: str) -> None:
    sent = _sent(f"Our office: {number}, ask for Ana.", ["phone"], mode)
    assert sent == "Our office: [REDACTED_PHONE], ask for Ana."


# ---------------------------------------------------------------- coordinates


def _places(count: int) -> list[tuple[str, str, str]]:
    fake = Faker()
    fake.seed_instance(31)
    return [fake.location_on_land()[:3] for _ in range(count)]


def test_coordinates_next_to_a_phone_word_are_not_phone_numbers() -> None:
    detector = build_detector("phone")
    texts = [f"My phone was last seen near {p} at {lat}, {lon}." for lat, lon, p in _places(300)]
    # the family: integer parts of 1 to 3 digits, decimals of 4 digits or more
    assert any(re.search(r" \d{3}\.\d{4,}", t) for t in texts)
    assert [t for t in texts if detector(t)] == []


def test_coordinates_in_a_message_reach_the_model_unchanged(mode: str) -> None:
    content = "Find my phone: it was last located at 23.02677, 113.13148 (Foshan)."
    assert _sent(content, ["phone"], mode) == content


# ---------------------------------------------------------------- legacy Vault tokens


def _identifiers() -> list[str]:
    """24-letter mixed-case runs of real identifiers (the standard library's own sources)."""
    std = sysconfig.get_paths()["stdlib"]
    names = set()
    for path in sorted(glob.glob(std + "/*.py")) + sorted(glob.glob(std + "/*/*.py")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for word in re.findall(r"\b[A-Za-z]{24,64}\b", f.read()):
                if not (word.islower() or word.isupper()):
                    names.add(word[:24])
    return sorted(names)


def test_letters_after_s_dot_are_not_a_vault_token() -> None:
    """``s.`` and 24 letters in both cases is how an identifier reads after a variable ``s``
    (``s.AsyncContextManagerTestC...``): no digit, no token (gitleaks allow-lists the same)."""
    detector = build_detector(["api_key", "secret"])
    names = _identifiers()
    assert len(names) > 100
    assert [n for n in names if detector(f"then call s.{n} again")] == []


def test_a_hex_digest_after_s_dot_is_not_a_vault_token() -> None:
    detector = build_detector(["api_key", "secret"])
    digests = [hashlib.sha256(str(i).encode()).hexdigest()[:24] for i in range(100)]
    for digest in digests:
        for written in (digest, digest.upper()):
            assert detector(f"see s.{written} for details") == [], written


def test_a_random_legacy_vault_token_is_found(mode: str) -> None:
    rng = random.Random(31)
    alphabet = string.ascii_letters + string.digits
    tokens = []
    while len(tokens) < 20:
        body = "".join(rng.choice(alphabet) for _ in range(24))
        kinds = (str.isupper, str.islower, str.isdigit)
        if all(any(k(c) for c in body) for k in kinds):  # base62: all three, bar 1.5 % of draws
            tokens.append("s." + body)
    detector = build_detector(["api_key"])
    for token in tokens:
        assert [m["value"] for m in detector(f"token {token} expires today")] == [token]
    sent = _sent(f"use {tokens[0]} for the deploy", ["api_key"], mode)
    assert tokens[0] not in sent


# ---------------------------------------------------------------- seed 31: context words


@pytest.mark.parametrize("word", ["mobile", "cell", "fax", "phone"])
def test_a_context_word_glued_to_a_letter_is_not_context(word: str) -> None:
    detector = build_detector("phone")
    assert detector(f"{word} 19 99 99 9")  # the word alone is context
    found = [
        glued
        for letter in string.ascii_lowercase
        for glued in (word + letter, letter + word)
        if glued != word + "s" and detector(f"{glued} 19 99 99 9")  # plurals are words
    ]
    assert found == []


# ---------------------------------------------------------------- seed 31: cards after numbers


def _cards() -> list[str]:
    fake = Faker()
    fake.seed_instance(31)
    kinds = ("visa16", "mastercard", "amex", "discover", "jcb16")
    return [fake.credit_card_number(card_type=kind) for kind in kinds]


def test_a_card_joined_to_a_long_number_is_found() -> None:
    detector = build_detector("credit_card")
    missed = []
    for card in _cards():
        for digits in (12, 15, 19):
            head = ("9876543210" * 2)[:digits]
            for joiner in "-./":
                text = f"ref {head}{joiner}{card} ok"
                if [m["value"] for m in detector(text)] != [card]:
                    missed.append(text)
    assert missed == []


# ---------------------------------------------------------------- seed 31: deny-lists


def test_a_deny_list_detector_finds_its_values(mode: str) -> None:
    guard = PIIMiddleware("codename", detector=["Bluebird", "Night Jar"])
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[guard])
    invoke(
        agent, {"messages": [HumanMessage("The BLUEBIRD and night jar plans, not bluebirds")]}, mode
    )
    sent = str(model.requests[0]["messages"][-1].content)
    assert sent == "The [REDACTED_CODENAME] and [REDACTED_CODENAME] plans, not bluebirds"


@pytest.mark.parametrize("detector", [42, 3.5, object(), b"secret"])
def test_a_detector_of_no_supported_kind_is_refused_at_construction(detector: object) -> None:
    with pytest.raises(GuardrailConfigError, match="detector for 'codename' must be"):
        PIIMiddleware("codename", detector=detector)


# ---------------------------------------------------------------- seed 31: base64 keys cut short

_PEMS = [
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\n",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeL\n",
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n",
]


@pytest.mark.parametrize("pem", _PEMS)
def test_a_base64_private_key_cut_at_any_length_is_found(pem: str) -> None:
    detector = build_detector("private_key")
    encoded = base64.b64encode(pem.encode()).decode()
    missed = [
        n
        for n in range(54, len(encoded) + 1)
        if [m["value"] for m in detector(f"here {encoded[:n]} end")] != [encoded[:n]]
    ]
    assert missed == []


# ---------------------------------------------------------------- seed 31: quoted values


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_quote_that_ends_its_line_reads_nothing_on_the_next(quote: str, mode: str) -> None:
    content = f"set password = {quote}\nthen restart the {quote}web{quote} service"
    assert _sent(content, ["password"], mode) == content


# ---------------------------------------------------------------- seed 13: Secret manifests


@pytest.mark.parametrize("style", ["|", "|-", "|+", ">", ">-"])
@pytest.mark.parametrize("key", ["extra", "config.json"])
def test_a_block_scalar_value_of_a_kubernetes_secret_is_found(key: str, style: str) -> None:
    """``key: |`` puts the value on the next line (YAML block scalars, every chomping style):
    it is still a value of the Secret, reported from its first character."""
    value = "Zq8vLp3kRtY2wXs9"
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n"
        f"stringData:\n  {key}: {style}\n    {value}\n"
    )
    assert [m["value"] for m in build_detector("secret")(text)] == [value]


# ---------------------------------------------------------------- seed 13: the SSA's rules


def test_every_ssa_rule_alone_makes_a_number_no_ssn() -> None:
    """Area 000 or 666, group 00, serial 0000: each rule on its own rules a number out, the
    other two parts valid (Faker's SSNs, each broken one part at a time)."""
    fake = Faker("en_US")
    fake.seed_instance(13)
    detector = build_detector("us_ssn")
    reported = []
    for _ in range(20):
        area, group, serial = fake.ssn().split("-")
        assert detector(f"SSN: {area}-{group}-{serial}")  # the valid number is found
        for broken in (
            f"000-{group}-{serial}",
            f"666-{group}-{serial}",
            f"{area}-00-{serial}",
            f"{area}-{group}-0000",
        ):
            if detector(f"SSN: {broken}"):
                reported.append(broken)
    assert reported == []
