"""Phone numbers side by side: two (or more) numbers written one after the other with a space, a
comma, a slash or a line break between them are each found, whole, and no card is read across
them. The numbers are not ours: phonenumbers' example numbers of every default region (national
and international formats) and Faker's numbers of the locales of those regions, each first
checked to be found on its own.

Before: "415-555-0132 415-555-0199" gave no phone and a card ("555-0132 415-555-0199"); the
run of digits was too long to be one number and nothing parted it. What is not split (see
docs/pii.md): a run in a card's layout (four groups of four digits first) and one right after an
IBAN's two country letters.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from faker import Faker

from guardrails.pii import detect
from guardrails.pii.detect import DEFAULT_REGIONS

SEPARATORS = [" ", ", ", " / ", "/", "  ", "; ", "\n", "\t"]
TYPES = ["phone", "credit_card", "iban", "us_ssn", "ip", "email", "url"]
#: Faker locales of the default regions (Singapore's has no phone provider)
LOCALES = [
    "en_US",
    "en_CA",
    "en_GB",
    "en_IE",
    "de_DE",
    "de_AT",
    "de_CH",
    "fr_FR",
    "nl_BE",
    "nl_NL",
    "es_ES",
    "it_IT",
    "pt_PT",
    "pl_PL",
    "sv_SE",
    "en_IN",
    "ja_JP",
    "zh_CN",
    "ko_KR",
    "en_AU",
    "en_NZ",
    "pt_BR",
    "es_MX",
    "he_IL",
]


def _found(text: str) -> list[tuple[str, str]]:
    return [(m["type"], m["value"]) for m in detect(text, TYPES)]


def _alone(value: str) -> bool:
    return _found(f"call {value} today") == [("phone", value)]


def _example_numbers(region: str) -> list[str]:
    out = []
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
        number = phonenumbers.example_number_for_type(region, kind)
        if number is None:
            continue
        for style in (
            phonenumbers.PhoneNumberFormat.NATIONAL,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        ):
            out.append(phonenumbers.format_number(number, style))
    return [v for v in out if _alone(v)]


def _faker_numbers(locale: str) -> list[str]:
    fake = Faker(locale)
    fake.seed_instance(24)
    values = [str(fake.phone_number()).split("x")[0].strip() for _ in range(10)]
    return [v for v in dict.fromkeys(values) if _alone(v)]


def _pairs(values: list[str], seed: str) -> list[str]:
    rng = random.Random(seed)
    return [
        f"call {a}{rng.choice(SEPARATORS)}{b} today"
        for a in values
        for b in rng.sample(values, min(3, len(values)))
    ]


def _share_found(texts: list[tuple[str, str, str]]) -> tuple[float, list[str]]:
    misses = [t for t, a, b in texts if _found(t) != [("phone", a), ("phone", b)]]
    return 1 - len(misses) / len(texts), misses


def _split_pair(text: str, values: list[str]) -> tuple[str, str, str]:
    body = text[len("call ") : -len(" today")]
    for a in values:
        for sep in SEPARATORS:
            if body.startswith(a + sep) and body[len(a + sep) :] in values:
                return text, a, body[len(a + sep) :]
    raise AssertionError(text)


# Singapore's numbers are 4 + 4 digits: two side by side read as a card's layout (documented)
@pytest.mark.parametrize("region", [r for r in DEFAULT_REGIONS if r != "SG"])
def test_example_numbers_side_by_side_are_each_found(region: str) -> None:
    values = _example_numbers(region)
    assert values, region
    pairs = [_split_pair(t, values) for t in _pairs(values, region)]
    share, misses = _share_found(pairs)
    assert share == 1.0, misses


def test_faker_numbers_side_by_side_are_each_found() -> None:
    pairs = []
    for locale in LOCALES:
        values = _faker_numbers(locale)
        pairs += [_split_pair(t, values) for t in _pairs(values, locale)]
    assert len(pairs) > 400
    share, misses = _share_found(pairs)
    # the few left: a country code written without "+" before the second number
    # ("+1 (192) 323-2124  1 (541) 850-3551"), a number glued to a bracketed country code
    # ("927471492 (351) 910156687"), two short local numbers ("956-6879 / 3774714")
    assert share >= 0.97, misses[:20]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("415-555-0132 415-555-0199", ["415-555-0132", "415-555-0199"]),
        ("415-555-0132/415-555-0199", ["415-555-0132", "415-555-0199"]),
        ("415.555.0132 415.555.0199", ["415.555.0132", "415.555.0199"]),
        ("(415) 555-0132 (415) 555-0199", ["(415) 555-0132", "(415) 555-0199"]),
        ("020 7946 0958 020 7946 0959", ["020 7946 0958", "020 7946 0959"]),
        ("01 42 68 53 00 01 42 68 53 01", ["01 42 68 53 00", "01 42 68 53 01"]),
        ("030 901820 / 030 901821", ["030 901820", "030 901821"]),
        (
            "415-555-0132 415-555-0199 415-555-0142",
            ["415-555-0132", "415-555-0199", "415-555-0142"],
        ),
    ],
)
def test_the_issue_cases_and_a_list_of_three(text: str, expected: list[str]) -> None:
    """No card is read across two phone numbers either (it was: "555-0132 415-555-0199")."""
    assert _found(f"phones: {text} thanks") == [("phone", v) for v in expected]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 thanks",  # a mistyped card: not two 8-digit numbers
        "transfer to DE 35 00 02 41 34 07 03 45 30 00 by Friday",  # an IBAN in pairs
        "ref 1234 5678 9012 3456 7890",
    ],
)
def test_a_long_run_that_is_not_two_numbers_is_not_split(text: str) -> None:
    assert [m for m in detect(text, ["phone"])] == []


def test_a_card_stays_one_card() -> None:
    assert _found("card 4111 1111 1111 1111 thanks") == [("credit_card", "4111 1111 1111 1111")]
