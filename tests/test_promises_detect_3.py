"""The promises of PII detection, part 3: registries, published test vectors and the documented
lists, each checked value by value so that dropping one entry, one checksum or one step fails.

Values come from sources the detector's authors did not write: the SWIFT IBAN registry as
python-stdnum ships it (every country's BBAN structure and length), python-stdnum's SSN rules,
phonenumbers' example number of every region and every number type (and its own validity
verdict for the numbers changed here), Faker, the card networks' test numbers as Stripe
documents them. Where a list is the promise (the default regions, the intranet top-level
domains, the types ``guardrails scan`` looks for by default), the documented list is written
out here: a default that silently loses an entry fails.

Everything goes through the public API (``detect``, ``PIIMiddleware`` in a real agent, the
``guardrails scan`` command): the detector's internals are being rewritten for speed.
"""

from __future__ import annotations

import importlib.resources
import json
import random
import re
import string
import subprocess
import sys
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from stdnum import iban as std_iban
from stdnum.us import ssn as std_ssn

from guardrails.pii import detect
from tests.test_promises_detect import _faker, _luhn_digit


def found(text: str, types: str | list[str], **kwargs: object) -> list[str]:
    return [m["value"] for m in detect(text, types, **kwargs)]  # type: ignore[arg-type]


def _luhn(prefix: str, length: int) -> str:
    """A Luhn-valid number of ``length`` digits starting with ``prefix`` (check digit computed
    by tests/test_promises_detect.py's own Luhn, not the detector's)."""
    body = (prefix + "7392046158273640582")[: length - 1]
    return body + _luhn_digit(body)


# ----------------------------------------------------------------------------- defaults

#: docs/pii.md, "What is recognised": the regions whose national formats are parsed by default
DOCUMENTED_REGIONS = [
    "US",
    "CA",
    "GB",
    "IE",
    "DE",
    "AT",
    "CH",
    "FR",
    "BE",
    "NL",
    "ES",
    "IT",
    "PT",
    "PL",
    "SE",
    "IN",
    "JP",
    "CN",
    "KR",
    "AU",
    "NZ",
    "BR",
    "MX",
    "IL",
    "ZA",
    "SG",
]


def test_the_default_regions_are_the_documented_ones() -> None:
    from guardrails.pii.detect import DEFAULT_REGIONS

    assert list(DEFAULT_REGIONS) == DOCUMENTED_REGIONS


def _example(region: str, kind: int) -> phonenumbers.PhoneNumber:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None, (region, kind)
    return number


def _valid_in(text: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, region))
    except phonenumbers.NumberParseException:
        return False


@pytest.mark.parametrize("region", DOCUMENTED_REGIONS)
def test_each_default_regions_national_numbers_are_found_and_only_valid_ones(region: str) -> None:
    """phonenumbers' example fixed-line and mobile numbers, written the national way, are
    phones by default and with ``regions=[region]``; the same number one digit shorter or
    longer, which phonenumbers says is no valid number of the region, is not (without a phone
    context word) under ``regions=[region]``, and is with one."""
    judged = 0
    for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
        national = phonenumbers.format_number(_example(region, kind), PhoneNumberFormat.NATIONAL)
        assert found(f"x {national} y", "phone") == [national]
        assert found(f"x {national} y", "phone", regions=[region]) == [national]
        for bad in (national[:-1], national + "5"):
            if _valid_in(bad, region):
                continue  # another valid length of the region
            judged += 1
            assert found(f"x {bad} y", "phone", regions=[region]) == [], bad
            assert found(f"phone {bad}", "phone", regions=[region]) == [bad], bad
    assert judged >= 1 or region in {"AT"}  # AT allows every length from 4 to 13 digits


NUMBER_TYPES = {
    "toll_free": PhoneNumberType.TOLL_FREE,
    "premium_rate": PhoneNumberType.PREMIUM_RATE,
    "shared_cost": PhoneNumberType.SHARED_COST,
    "voip": PhoneNumberType.VOIP,
    "personal_number": PhoneNumberType.PERSONAL_NUMBER,
    "pager": PhoneNumberType.PAGER,
    "uan": PhoneNumberType.UAN,
    "voicemail": PhoneNumberType.VOICEMAIL,
    "mobile": PhoneNumberType.MOBILE,
    "fixed_line": PhoneNumberType.FIXED_LINE,
}


@pytest.mark.parametrize("kind", sorted(NUMBER_TYPES))
def test_every_number_type_of_every_country_is_a_phone_in_international_form(kind: str) -> None:
    """Not only fixed lines and mobiles: toll-free, premium-rate, shared-cost, VoIP, personal,
    pager, UAN and voicemail numbers (phonenumbers' example of each type in each region)."""
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number_for_type(region, NUMBER_TYPES[kind])
        if number is not None:
            numbers.append(phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL))
    assert len(numbers) >= 15
    missed = [n for n in numbers if found(f"x {n} y", "phone") != [n]]
    assert missed == []
    # and written with 00 instead of +
    missed = [n for n in numbers if found(f"x 00{n[1:]} y", "phone") != [f"00{n[1:]}"]]
    assert missed == []


def test_non_geographic_numbers_are_phones() -> None:
    """+800 (freephone), +808 (shared cost), +870 (Inmarsat), +881/+882/+883 (satellite and
    international networks), +878, +888, +979: phonenumbers' example of each."""
    numbers = [
        phonenumbers.format_number(n, PhoneNumberFormat.INTERNATIONAL)
        for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
        if (n := phonenumbers.example_number_for_non_geo_entity(cc)) is not None
    ]
    assert len(numbers) >= 8
    assert [n for n in numbers if found(f"x {n} y", "phone") != [n]] == []


#: docs/pii.md: the intranet top-level domains accepted besides the public suffix list
DOCUMENTED_TLDS = [
    "internal",
    "corp",
    "local",
    "localdomain",
    "lan",
    "home",
    "intranet",
    "private",
    "test",
    "example",
    "invalid",
    "localhost",
    "svc",
    "cluster",
]


@pytest.mark.parametrize("tld", DOCUMENTED_TLDS)
def test_each_documented_intranet_domain_is_an_email_domain(tld: str) -> None:
    email = f"ops.team@build.{tld}"
    assert found(f"mail {email} now", "email") == [email]
    assert found(f"mail {email} now", "email", email_tlds="any") == [email]


def test_email_tlds_settings_add_or_remove_exactly_what_they_say() -> None:
    assert found("mail ops@build.corp now", "email", email_tlds="public") == []
    assert found("mail ops@build.acme now", "email") == []
    assert found("mail ops@build.acme now", "email", email_tlds=["acme"]) == ["ops@build.acme"]
    assert found("mail ops@build.acme now", "email", email_tlds=[".ACME"]) == ["ops@build.acme"]
    assert found("mail ops@build.acme now", "email", email_tlds="any") == ["ops@build.acme"]
    # the public suffix list is always there
    for domain in ("example.com", "example.co.uk", "example.museum", "example.xn--p1ai"):
        assert found(f"mail ops@{domain} now", "email", email_tlds="public") == [f"ops@{domain}"]


#: `guardrails scan --help`: the types scanned when --types is not given
SCAN_DEFAULT = {
    "email": "mail jane.roe@example.com",
    "credit_card": "card 4111 1111 1111 1111",
    "iban": "iban DE89 3704 0044 0532 0130 00",
    "us_ssn": "ssn 536-22-1234",
    "ip": "host 81.2.69.142",
    "phone": "call +44 20 7946 0958",
    "url": "see https://example.com/a",
}


@pytest.mark.slow  # a CLI process
def test_guardrails_scan_looks_for_every_documented_default_type(tmp_path: Path) -> None:
    sample = tmp_path / "notes.txt"
    sample.write_text("\n".join(SCAN_DEFAULT.values()) + "\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "guardrails.cli", "scan", "--jsonl", str(sample)],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [next(iter(r["found"])) for r in rows] == list(SCAN_DEFAULT)
    assert all(len(r["found"]) == 1 for r in rows)


# ----------------------------------------------------------------------------- IBAN registry


def _registry() -> dict[str, str]:
    """Country -> BBAN structure (``8!n10!n``), from the SWIFT registry file python-stdnum
    ships."""
    text = (importlib.resources.files("stdnum") / "iban.dat").read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        m = re.match(r'([A-Z]{2}) country="[^"]*" bban="([^"]*)"', line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


REGISTRY = _registry()
_CHARS = {
    "n": string.digits,
    "a": string.ascii_uppercase,
    "c": string.digits + string.ascii_uppercase,
}


def _bban(structure: str, rng: random.Random, extra: int = 0) -> str:
    out = "".join(
        "".join(rng.choice(_CHARS[kind]) for _ in range(int(count)))
        for count, kind in re.findall(r"(\d+)!([nac])", structure)
    )
    if extra > 0:
        out += "".join(rng.choice(string.digits) for _ in range(extra))
    return out[: len(out) + extra] if extra < 0 else out


def _with_check(country: str, bban: str) -> str:
    value = country + "00" + bban
    return country + std_iban.calc_check_digits(value) + bban


def _group4(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def _changed(value: str, rng: random.Random) -> str:
    """One BBAN character changed (mod-97 catches every single substitution)."""
    i = rng.randrange(4, len(value))
    pool = string.digits if value[i].isdigit() else string.ascii_uppercase
    return value[:i] + rng.choice(pool.replace(value[i], "")) + value[i + 1 :]


def test_the_registry_is_the_one_the_docs_count() -> None:
    assert len(REGISTRY) == 89  # docs/pii.md: the countries of the IBAN registry


@pytest.mark.parametrize("country", sorted(REGISTRY))
def test_a_valid_iban_of_every_registry_country_is_found_and_a_broken_one_is_not(
    country: str,
) -> None:
    rng = random.Random(f"iban-{country}")
    for _ in range(2):
        value = _with_check(country, _bban(REGISTRY[country], rng))
        assert std_iban.is_valid(value, check_country=False)
        for written in (value, _group4(value), _group4(value).lower()):
            assert found(f"pay to {written} today", "iban") == [written], written
        broken = _changed(value, rng)
        assert not std_iban.is_valid(broken, check_country=False)
        for written in (broken, _group4(broken)):
            assert found(f"IBAN: {written} today", "iban") == [], written


@pytest.mark.parametrize("country", sorted(REGISTRY))
def test_a_grouped_iban_of_another_length_than_registered_is_not_an_iban(country: str) -> None:
    """The registered length is part of the check: a grouped value one character longer or
    shorter, with check digits that make its mod-97 right, is not reported."""
    rng = random.Random(f"iban-length-{country}")
    bban = _bban(REGISTRY[country], rng)
    for other in (bban + rng.choice(string.digits), bban[:-1]):
        value = _with_check(country, other)
        assert found(f"IBAN: {_group4(value)} today", "iban") == [], value


# published examples (the SWIFT registry's own example IBANs), checked by stdnum too
PUBLISHED_IBANS = [
    "GB82 WEST 1234 5698 7654 32",
    "DE89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91 ABNA 0417 1643 00",
    "BE68 5390 0754 7034",
    "CH93 0076 2011 6238 5295 7",
    "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
    "NO93 8601 1117 947",
    "GR16 0110 1250 0000 0001 2300 695",
    "BE31 4354 1116 1155",
]


@pytest.mark.parametrize("value", PUBLISHED_IBANS)
def test_published_example_ibans_are_found(value: str) -> None:
    assert std_iban.is_valid(value, check_country=False)
    compact = value.replace(" ", "")
    for written in (value, compact, compact.lower()):
        assert found(f"send it to {written}, thanks", "iban") == [written]


# ----------------------------------------------------------------------------- cards

#: docs/pii.md, "Scores": the issued ranges and their lengths
CARD_RANGES = [
    ("visa", "4", "4", range(13, 20)),
    ("mastercard", "51", "55", range(16, 20)),
    ("mastercard 2-series", "2221", "2720", range(16, 17)),
    ("mir", "2200", "2204", range(16, 20)),
    ("amex 34", "34", "34", range(15, 16)),
    ("amex 37", "37", "37", range(15, 16)),
    ("diners 300-305", "300", "305", range(14, 20)),
    ("diners 309", "309", "309", range(14, 20)),
    ("diners 36", "36", "36", range(14, 20)),
    ("diners 38-39", "38", "39", range(14, 20)),
    ("jcb", "35", "35", range(16, 20)),
    ("jcb 1800", "1800", "1800", range(15, 16)),
    ("jcb 2131", "2131", "2131", range(15, 16)),
    ("maestro 50", "50", "50", range(12, 20)),
    ("maestro 56-59", "56", "59", range(12, 20)),
    ("discover etc. 60-69", "60", "69", range(12, 20)),
    ("rupay 81-82", "81", "82", range(16, 17)),
    ("troy", "9792", "9792", range(16, 17)),
]


def _issued(number: str) -> bool:
    for _, low, high, lengths in CARD_RANGES:
        head = number[: len(low)]
        if len(number) in lengths and int(low) <= int(head) <= int(high):
            return True
    return False


@pytest.mark.parametrize(
    ("name", "low", "high", "lengths"), CARD_RANGES, ids=[r[0] for r in CARD_RANGES]
)
def test_each_issued_range_is_a_card_at_both_ends_and_every_length(
    name: str, low: str, high: str, lengths: range
) -> None:
    for prefix in {low, high}:
        for length in lengths:
            number = _luhn(prefix, length)
            assert found(f"x {number} y", "credit_card") == [number], (name, number)


@pytest.mark.parametrize(
    ("name", "low", "high", "lengths"), CARD_RANGES, ids=[r[0] for r in CARD_RANGES]
)
def test_just_outside_an_issued_range_a_number_needs_card_context(
    name: str, low: str, high: str, lengths: range
) -> None:
    """The prefix before the range's first and after its last, and the lengths just outside
    the range's own, when no other range covers them: reported only next to a card word."""
    width = len(low)
    candidates = []
    for prefix in (str(int(low) - 1).zfill(width), str(int(high) + 1).zfill(width)):
        if len(prefix) == width:
            candidates += [_luhn(prefix, n) for n in (lengths[0], lengths[-1])]
    for n in (lengths[0] - 1, lengths[-1] + 1):
        if 12 <= n <= 19:
            candidates.append(_luhn(low, n))
    judged = [c for c in candidates if not _issued(c) and c.count(c[0]) != len(c)]
    assert judged or name in {"visa", "discover etc. 60-69"}
    for number in judged:
        assert found(f"x {number} y", "credit_card") == [], (name, number)
        assert found(f"card {number}", "credit_card") == [number], (name, number)


# the card networks' test numbers, as Stripe's docs list them (Luhn-valid, issued ranges)
TEST_CARDS = [
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "2223003122003222",
    "5200828282828210",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3056930009020004",
    "36227206271667",
    "3566002020360505",
    "6200000000000005",
    "4222222222222",
]


@pytest.mark.parametrize("number", TEST_CARDS)
def test_published_test_cards_are_found_and_any_single_digit_changed_is_not(number: str) -> None:
    """The Luhn check catches every single-digit change, wherever the digit is (a check that
    doubles the wrong positions, or reads from the wrong end, misses some)."""
    assert found(f"x {number} y", "credit_card") == [number]
    assert found(f"paid with {number} today", "credit_card") == [number]
    for i in range(len(number)):
        digit = str((int(number[i]) + 3) % 10)
        bad = number[:i] + digit + number[i + 1 :]
        assert found(f"card {bad}", "credit_card") == [], bad


# ----------------------------------------------------------------------------- SSNs


def _ssn_candidates(n: int) -> list[str]:
    rng = random.Random(29)
    out = []
    for _ in range(n):
        area = rng.choice([rng.randrange(1000), 0, 666, rng.randrange(1, 900)])
        group = rng.choice([rng.randrange(100), 0, rng.randrange(1, 100)])
        serial = rng.choice([rng.randrange(10000), 0, rng.randrange(1, 10000)])
        out.append(f"{area:03d}-{group:02d}-{serial:04d}")
    return out


def test_the_ssa_rules_decide_as_python_stdnum_decides_outside_the_9xx_area() -> None:
    """stdnum's SSN rules (no area 000 or 666, no group 00, no serial 0000) on random numbers:
    what it accepts is an SSN without context; what it rejects is none, even with context. The
    9xx area is an ITIN (a taxpayer number as sensitive as an SSN): reported, see the next
    test."""
    judged = 0
    for value in _ssn_candidates(400):
        if value.startswith("9") or value.replace("-", "") in {
            "123456789",
            "987654320",
            "078051120",
            "219099999",
        }:
            continue
        digits = value.replace("-", "")
        if digits.count(digits[0]) == 9:
            continue
        judged += 1
        if std_ssn.is_valid(value):
            assert found(f"x {value} y", "us_ssn") == [value], value
        else:
            assert found(f"SSN: {value}", "us_ssn") == [], value
            assert found(f"social security number {digits}", "us_ssn") == [], value
    assert judged >= 300


def test_itins_in_the_9xx_area_are_reported_as_us_ssn() -> None:
    """docs/pii.md: area 900-999 (ITINs, numbers the SSA never issues as SSNs) is reported:
    a taxpayer number is as sensitive as an SSN (the context words include itin, taxpayer)."""
    fake = _faker("en_US", 11)
    itins = [fake.itin() for _ in range(10)]
    for itin in itins:
        assert itin.startswith("9")
        assert found(f"x {itin} y", "us_ssn") == [itin], itin
        assert found(f"ITIN {itin.replace('-', '')}", "us_ssn") == [itin.replace("-", "")]


@pytest.mark.parametrize("value", ["536 22-1234", "536/22/1234", "536.22 1234", "536-22/1234"])
def test_an_ssn_with_mixed_or_slash_separators_is_found(value: str) -> None:
    assert found(f"x {value} y", "us_ssn") == [value]


# ----------------------------------------------------------------------------- separators


@pytest.mark.parametrize("sep", [" ", "  ", "\t", "-", " - ", ".", "/", "\u00a0", "\n"])
def test_every_documented_card_separator(sep: str) -> None:
    for number in ("4111111111111111", "5555555555554444"):
        value = sep.join(number[i : i + 4] for i in range(0, 16, 4))
        assert found(f"x {value} y", "credit_card") == [value], repr(value)


@pytest.mark.parametrize(
    "value",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "DE 89 3704 0044 0532 0130 00",
        "DE89.3704.0044.0532.0130.00",
        "DE89-3704-0044-0532-0130-00",
        "DE89/3704/0044/0532/0130/00",
        "DE89 3704 0044\n0532 0130 00",
        "DE89 370 400 440 532 013 000",
        "DE89 37 04 00 44 05 32 01 30 00",
    ],
)
def test_every_documented_iban_grouping(value: str) -> None:
    assert found(f"x {value} y", "iban") == [value]


@pytest.mark.parametrize(
    "value",
    [
        "+44 20 7946 0958",
        "+44\t20\t7946\t0958",
        "+44-20-7946-0958",
        "+44.20.7946.0958",
        "+44/20/7946/0958",
        "+44 (20) 7946-0958",
        "+44 (0)20 7946 0958",
        "(020) 7946 0958",
        "020-7946.0958",
        "0044 20 7946 0958",
    ],
)
def test_every_documented_phone_separator(value: str) -> None:
    assert found(f"x {value} y", "phone") == [value]


# ----------------------------------------------------------------------------- context words

#: docs/pii.md, "Scores and context words" (the table's words)
PHONE_WORDS = [
    "phone",
    "tel",
    "telephone",
    "mobile",
    "cell",
    "call",
    "fax",
    "ring",
    "text me",
    "sms",
    "whatsapp",
    "dial",
    "contact",
    "my number",
    "telefon",
    "handy",
    "téléphone",
    "portable",
    "telefone",
    "celular",
    "teléfono",
    "電話",
    "携帯",
    "手机",
    "电话",
    "전화",
    "телефон",
    "טלפון",
]
CARD_WORDS = [
    "card",
    "credit",
    "debit",
    "visa",
    "mastercard",
    "amex",
    "discover",
    "diners",
    "jcb",
    "maestro",
    "unionpay",
    "cc#",
    "ccn",
    "cvv",
    "pan",
    "expiry",
    "payment",
    "pay",
    "charge",
    "Karte",
    "carte",
    "tarjeta",
    "cartão",
    "カード",
    "信用卡",
]
SSN_WORDS = [
    "ssn",
    "social security",
    "social sec",
    "ss#",
    "ssa",
    "social",
    "taxpayer",
    "tin",
    "itin",
]
#: candidates no validator settles: reported only with a context word of their type
PHONE_ONLY_WITH_CONTEXT = "19 99 99 9"
CARD_ONLY_WITH_CONTEXT = _luhn("1", 16)  # no issued range starts with 1
SSN_ONLY_WITH_CONTEXT = "536221234"  # nine bare digits


@pytest.mark.parametrize(
    ("kind", "value", "words"),
    [
        ("phone", PHONE_ONLY_WITH_CONTEXT, PHONE_WORDS),
        ("credit_card", CARD_ONLY_WITH_CONTEXT, CARD_WORDS),
        ("us_ssn", SSN_ONLY_WITH_CONTEXT, SSN_WORDS),
    ],
)
def test_every_documented_context_word_counts_before_and_after(
    kind: str, value: str, words: list[str]
) -> None:
    assert found(f"x {value} y", kind) == []
    missed = []
    for word in words:
        for text in (f"{word} {value}", f"{word}: {value}", f"{value} ({word})"):
            if found(text, kind) != [value]:
                missed.append(text)
        upper = f"{word.upper()} {value}"
        if found(upper, kind) != [value]:
            missed.append(upper)
    assert missed == []


@pytest.mark.parametrize(
    ("kind", "value", "word"),
    [
        ("phone", PHONE_ONLY_WITH_CONTEXT, "phone"),
        ("credit_card", CARD_ONLY_WITH_CONTEXT, "card"),
        ("us_ssn", SSN_ONLY_WITH_CONTEXT, "ssn"),
    ],
)
def test_the_context_window_is_48_before_and_24_after_for_every_type(
    kind: str, value: str, word: str
) -> None:
    """The word starts at most 48 characters before the value, or less than 24 after its end."""
    pad = 48 - len(word)
    assert found(word + " " * pad + value, kind) == [value]
    assert found(word + " " * (pad + 1) + value, kind) == []
    assert found(value + " " * 23 + word, kind) == [value]
    assert found(value + " " * 24 + word, kind) == []


@pytest.mark.parametrize(
    ("kind", "value", "word"),
    [
        ("phone", PHONE_ONLY_WITH_CONTEXT, "phone"),
        ("credit_card", CARD_ONLY_WITH_CONTEXT, "card"),
        ("us_ssn", SSN_ONLY_WITH_CONTEXT, "ssn"),
    ],
)
@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_a_context_word_in_a_table_header_counts_for_the_whole_table(
    kind: str, value: str, word: str, sep: str
) -> None:
    filler = "x" * 70  # far beyond the context window
    table = f"name{sep}notes{sep}{word}\nJane{sep}{filler}{sep}{value}\n"
    assert found(table, kind) == [value]
    plain = f"name{sep}notes{sep}other\nJane{sep}{filler}{sep}{value}\n"
    assert found(plain, kind) == []
    # a first line without any separator is no header
    prose = f"about the {word}\n{filler} {value}\n"
    assert found(prose, kind) == []


def test_snake_and_camel_case_names_carry_context() -> None:
    for name in ("social_security_number", "socialSecurityNumber", "SOCIAL_SECURITY"):
        assert found(f"{name}: {SSN_ONLY_WITH_CONTEXT}", "us_ssn") == [SSN_ONLY_WITH_CONTEXT]
    for name in ("phoneNumber", "customer_phone", "mobilePhone"):
        assert found(f"{name}: {PHONE_ONLY_WITH_CONTEXT}", "phone") == [PHONE_ONLY_WITH_CONTEXT]
    for name in ("cardNumber", "credit_card_no"):
        assert found(f"{name}: {CARD_ONLY_WITH_CONTEXT}", "credit_card") == [CARD_ONLY_WITH_CONTEXT]
    # a word glued into another word is no context word
    assert found(f"microphone {PHONE_ONLY_WITH_CONTEXT}", "phone") == []
    assert found(f"discarded {CARD_ONLY_WITH_CONTEXT}", "credit_card") == []


@pytest.mark.parametrize("prefix", ["tel:", "phone:", "callto:", "sms:", "fax:", "TEL:"])
def test_a_phone_uri_prefix_is_phone_context(prefix: str) -> None:
    assert found(f"{prefix}{PHONE_ONLY_WITH_CONTEXT}", "phone") == [PHONE_ONLY_WITH_CONTEXT]
    assert found(f"{prefix} {PHONE_ONLY_WITH_CONTEXT}", "phone") == [PHONE_ONLY_WITH_CONTEXT]


#: docs/pii.md: words right before a number that say it is something else
NEGATIVE = ["order", "invoice", "ref", "id", "ticket", "tracking", "zip", "total", "amount"]
NEGATIVE += ["account", "$", "€", "£", "USD", "EUR"]


@pytest.mark.parametrize("word", NEGATIVE)
def test_a_negative_word_right_before_a_number_rules_out_the_context_only_path(word: str) -> None:
    for kind, value, context in [
        ("phone", PHONE_ONLY_WITH_CONTEXT, "phone"),
        ("credit_card", CARD_ONLY_WITH_CONTEXT, "card"),
        ("us_ssn", SSN_ONLY_WITH_CONTEXT, "ssn"),
    ]:
        assert found(f"{context} {value}", kind) == [value]
        if (kind, word) == ("us_ssn", "id"):
            # `ssn id` names the number an SSN, as `tax id` does (tests/test_redteam_round8.py)
            assert found(f"{context} {word} {value}", kind) == [value]
            continue
        assert found(f"{context} {word} {value}", kind) == [], (word, kind)
        if word[0].isalpha():
            assert found(f"{context} {word} no. {value}", kind) == [], (word, kind)
            assert found(f"{context} {word}#: {value}", kind) == [], (word, kind)


def test_a_negative_word_counts_only_right_before_the_number() -> None:
    """More than a gap of separators and ``number``/``no``/``#`` between them: the word
    describes something else."""
    value = SSN_ONLY_WITH_CONTEXT
    assert found(f"ssn (see order) {value}", "us_ssn") == [value]
    assert found(f"order shipped; ssn {value}", "us_ssn") == [value]
    assert found(f"ssn order{' ' * 30}{value}", "us_ssn") == [value]


# ----------------------------------------------------------------------------- lengths


def test_a_phone_has_6_to_15_digits() -> None:
    assert found("phone 123456", "phone") == ["123456"]
    assert found("phone 12345", "phone") == []
    assert found("phone 1 2 3 4 5", "phone") == []
    assert found("phone +123456789012345", "phone") == ["+123456789012345"]
    assert found("phone +1234567890123456", "phone") == []


def test_a_bare_national_number_of_13_digits_or_more_is_no_phone() -> None:
    """docs/pii.md: 13 or more bare digits without ``+`` are an id or a card, not a phone:
    not even a number a region would accept."""
    national = "0" + "2079460958" + "12"  # 13 digits, trunk prefix
    assert found(f"x {national} y", "phone") == []
    assert found(f"x +44 {national[1:]} y", "phone") == []  # no such UK number either


# ----------------------------------------------------------------------------- normalization


def _wide(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _math_bold(text: str) -> str:
    out = []
    for c in text:
        if "a" <= c <= "z":
            out.append(chr(0x1D41A + ord(c) - ord("a")))
        elif "0" <= c <= "9":
            out.append(chr(0x1D7CE + ord(c) - ord("0")))
        else:
            out.append(c)
    return "".join(out)


GHP = "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"  # a public example with a valid checksum


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email", "jane.roe@example.com"),
        ("credit_card", "4111 1111 1111 1111"),
        ("us_ssn", "536-22-1234"),
        ("phone", "+44 20 7946 0958"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("ip", "81.2.69.142"),
        ("url", "https://example.com/a"),
        ("mac_address", "00:1A:2B:3C:4D:5E"),
        ("github_token", GHP),
    ],
)
def test_full_width_and_mathematical_forms_are_the_ascii_value(kind: str, value: str) -> None:
    for written in (_wide(value), _math_bold(value)):
        assert found(f"see {written} now", kind) == [written], written


@pytest.mark.parametrize("mark", ["\u200b", "\u00ad", "\u2060", "\ufeff", "\u200d"])
def test_an_invisible_character_inside_a_secret_does_not_hide_it(mark: str) -> None:
    aws = "AKIAQ7ZK3M5XW2PLR4TN"
    for kind, value in (("github_token", GHP), ("aws_key", aws), ("secret", GHP)):
        for i in (2, 4, len(value) // 2, len(value) - 1):
            written = value[:i] + mark + value[i:]
            assert found(f"token {written} here", kind) == [written], (kind, written)


def test_digits_of_other_scripts_inside_secrets_and_mixed_with_ascii() -> None:
    """A value half in ASCII digits and half in another script's is one value."""
    arabic = "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in "1111 1111")
    assert found(f"x 4111 1111 {arabic} y", "credit_card") == [f"4111 1111 {arabic}"]
    deva = "".join(chr(0x0966 + int(c)) for c in "1234")
    assert found(f"x 536-22-{deva} y", "us_ssn") == [f"536-22-{deva}"]


def test_an_encoded_value_keeps_its_original_span_around_it() -> None:
    """A value after normalized characters (full-width, invisible, encoded) is reported at its
    place in the original text, so the text around it is kept exactly."""
    text = "\uff21\u200b\uff22 jane%40example.com \u200bend"
    matches = detect(text, "email")
    assert [m["value"] for m in matches] == ["jane%40example.com"]
    m = matches[0]
    assert text[m["start"] : m["end"]] == m["value"]
    assert text[: m["start"]] == "\uff21\u200b\uff22 "
    assert text[m["end"] :] == " \u200bend"


# ----------------------------------------------------------------------------- where users meet it


def test_obfuscated_values_do_not_reach_the_model_through_a_real_agent(mode: str) -> None:
    from langchain.agents import create_agent

    from guardrails.pii import PIIMiddleware
    from guardrails.testing import ScriptedChatModel
    from tests.support import invoke

    values = [
        _wide("4111 1111 1111 1111"),
        "jane&#64;example.com",
        "536-2\u200b2-1234",
        "".join(chr(0x0966 + int(c)) if c.isdigit() else c for c in "+44 20 7946 0958"),
        "DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000",
        f"gh\u00adp_{GHP[4:]}",
    ]
    text = "Here: " + "; ".join(values) + ". Thanks."
    model = ScriptedChatModel(default="noted")
    types = ["credit_card", "email", "us_ssn", "phone", "iban", "secret"]
    agent = create_agent(model, middleware=[PIIMiddleware(types, strategy="redact")])
    invoke(agent, {"messages": [("user", text)]}, mode)
    sent = str(model.requests[0]["messages"][-1].content)
    for value in values:
        assert value not in sent
    for digit_run in ("1111", "example", "1234", "7946", "3704", "ZJDeVREh"):
        assert digit_run not in sent
    assert sent.startswith("Here: [REDACTED_CREDIT_CARD]; [REDACTED_EMAIL]; ")


def test_a_list_of_email_tlds_adds_to_the_defaults_never_drops_them() -> None:
    # a setting never silently weakens a guardrail: naming your own domain keeps the
    # internal ones found (docs: `email_tlds=` "adds your own")
    from guardrails.pii.finders.net import DEFAULT_EMAIL_TLDS

    for tld in sorted(DEFAULT_EMAIL_TLDS):
        text = f"mail ops@build.{tld} now"
        assert found(text, "email") == [f"ops@build.{tld}"], tld
        assert found(text, "email", email_tlds=["acme"]) == [f"ops@build.{tld}"], tld
    assert found("mail ops@build.acme now", "email") == []
