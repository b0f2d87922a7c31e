"""The promises of PII detection, each stated so that a careless edit of its decision fails a test.

Every test goes through the public API (``guardrails.pii.detect`` / ``build_detector``,
``PIIMiddleware`` in a real agent, the ``guardrails scan`` command): the detection code is being
rewritten for speed, and these tests are what the rewrite must keep. Values come from data we did
not write where it fits: Faker's card numbers, IBANs and SSNs, ``phonenumbers``' example number of
every region. Each validator is checked from both sides: what it accepts is reported, and a
single-character break of the checksum (or of the rule) is not, even next to a context word.

The scoring numbers are the documented ones (docs/pii.md, "Scores and context words"): a
candidate is reported at 0.5; a context word within 48 characters before it or 24 after it adds
0.35; a Luhn-valid number outside the issued card ranges scores 0.3 (so: reported with card
context only).
"""

from __future__ import annotations

import pytest
from faker import Faker

from guardrails.pii import build_detector, detect

CARD_KINDS = [
    "visa13",
    "visa16",
    "visa19",
    "mastercard",
    "amex",
    "discover",
    "diners",
    "jcb15",
    "jcb16",
    "maestro",
]
IBAN_LOCALES = ["de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_PT", "fi_FI"]


def _faker(locale: str = "en_US", seed: int = 29) -> Faker:
    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


def found(text: str, types: str | list[str], **kwargs: object) -> list[tuple[str, str]]:
    return [(m["type"], m["value"]) for m in detect(text, types, **kwargs)]  # type: ignore[arg-type]


def _luhn_digit(body: str) -> str:
    """The check digit that makes ``body + digit`` pass Luhn (written here, independently of
    the detector's own implementation)."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:  # these are doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _break_last(value: str) -> str:
    """``value`` with its last digit changed (a single-digit change: every checksum here
    catches it)."""
    i = max(k for k, c in enumerate(value) if c.isdigit())
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]


def _grouped(digits: str, size: int = 4) -> str:
    return " ".join(digits[i : i + size] for i in range(0, len(digits), size))


# ----------------------------------------------------------------------------- credit cards


def _cards() -> list[tuple[str, str]]:
    fake = _faker()
    return [(kind, fake.credit_card_number(kind)) for kind in CARD_KINDS for _ in range(3)]


@pytest.mark.parametrize(("kind", "number"), _cards())
def test_an_issued_luhn_valid_card_is_reported_bare_and_grouped(kind: str, number: str) -> None:
    assert found(f"The value {number} was entered.", "credit_card") == [("credit_card", number)]
    spaced = _grouped(number)
    assert found(f"saved: {spaced} here", "credit_card") == [("credit_card", spaced)]


@pytest.mark.parametrize(("kind", "number"), _cards())
def test_a_card_whose_luhn_check_fails_is_never_reported_even_with_card_context(
    kind: str, number: str
) -> None:
    bad = _break_last(number)
    texts = [f"credit card {bad}", f"x {bad} y"]
    if len(bad) <= 16:  # a longer one grouped by 4 holds a 16-digit window that may be valid
        texts.append(f"Visa card number: {_grouped(bad)}")
    for text in texts:
        assert found(text, "credit_card") == [], text


def _unissued(prefix: str, length: int = 16) -> str:
    body = (prefix + "3141592653589793238")[: length - 1]
    return body + _luhn_digit(body)


# prefixes in no issued IIN range (docs/pii.md lists the ranges)
UNISSUED = [_unissued("1"), _unissued("7"), _unissued("83"), _unissued("99"), _unissued("2100")]


@pytest.mark.parametrize("number", UNISSUED)
def test_a_luhn_valid_number_outside_the_issued_ranges_needs_card_context(number: str) -> None:
    assert found(f"x {number} y", "credit_card") == []
    assert found(f"card {number}", "credit_card") == [("credit_card", number)]
    assert found(f"{number} (debit)", "credit_card") == [("credit_card", number)]


def test_the_card_context_window_is_48_characters_before_and_24_after() -> None:
    number = UNISSUED[0]
    # the context word must start at most 48 characters before the number
    assert found("card" + " " * 44 + number, "credit_card") == [("credit_card", number)]
    assert found("card" + " " * 45 + number, "credit_card") == []
    # ... and start less than 24 characters after its end
    assert found(number + " " * 23 + "card", "credit_card") == [("credit_card", number)]
    assert found(number + " " * 24 + "card", "credit_card") == []


def test_a_context_word_must_stand_alone() -> None:
    number = UNISSUED[1]
    assert found(f"cardinal {number}", "credit_card") == []
    assert found(f"discard {number}", "credit_card") == []
    assert found(f"card: {number}", "credit_card") == [("credit_card", number)]


def test_card_lengths_are_12_to_19_digits() -> None:
    twelve = "50" + "1234567890"[:9]
    twelve += _luhn_digit(twelve)  # Maestro, 12 digits
    nineteen = "4" + "123456789012345678"[:17]
    nineteen += _luhn_digit(nineteen)  # Visa, 19 digits
    assert found(f"x {twelve} y", "credit_card") == [("credit_card", twelve)]
    assert found(f"x {nineteen} y", "credit_card") == [("credit_card", nineteen)]
    eleven = "50" + "12345678"
    eleven += _luhn_digit(eleven)
    twenty = "4" + "1234567890123456789"[:18]
    twenty += _luhn_digit(twenty)
    assert found(f"card {eleven}", "credit_card") == []
    assert found(f"card {twenty}", "credit_card") == []


def test_a_card_length_outside_its_brand_needs_context() -> None:
    amex16 = "37" + "12345678901234"[:13]
    amex16 += _luhn_digit(amex16)  # Amex is 15 digits: 16 is no Amex
    assert found(f"x {amex16} y", "credit_card") == []
    assert found(f"card {amex16}", "credit_card") == [("credit_card", amex16)]


def test_one_repeated_digit_is_no_card_even_with_context() -> None:
    for digit in "0123456789":
        run = digit * 16
        assert found(f"credit card {run}", "credit_card") == [], run
        assert found(f"card {_grouped(run)}", "credit_card") == [], run


def test_a_number_after_an_id_word_is_no_context_only_card() -> None:
    number = UNISSUED[2]
    assert found(f"tracking {number} card", "credit_card") == []
    assert found(f"order # {number} card", "credit_card") == []
    visa = _cards()[3][1]
    assert found(f"order {visa}", "credit_card") == [("credit_card", visa)]  # issued: 0.9


def test_single_digit_groups_are_not_a_card() -> None:
    visa = "4111111111111111"
    assert found("card " + " ".join(visa), "credit_card") == []
    assert found("card " + _grouped(visa, 4), "credit_card") == [("credit_card", _grouped(visa))]


# ----------------------------------------------------------------------------- IBANs


def _ibans() -> list[str]:
    return [_faker(locale, seed).iban() for locale in IBAN_LOCALES for seed in (1, 2)]


@pytest.mark.parametrize("iban", _ibans())
def test_a_valid_iban_is_reported_in_any_grouping_and_case(iban: str) -> None:
    for value in (iban, _grouped(iban), iban.lower(), "-".join(_grouped(iban).split())):
        assert found(f"pay to {value} today", "iban") == [("iban", value)], value


@pytest.mark.parametrize("iban", _ibans())
def test_an_iban_whose_mod97_check_fails_is_not_reported(iban: str) -> None:
    body = _break_last(iban)  # a changed account digit
    digits = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]  # changed check digits
    for value in (body, digits, _grouped(body), _grouped(digits)):
        assert found(f"IBAN: {value}", "iban") == [], value


def _mod97_digits(country: str, bban: str) -> str:
    """An IBAN's check digits, computed here (ISO 13616)."""
    moved = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in moved))
    return f"{98 - number % 97:02d}"


def test_a_country_outside_the_registry_is_not_an_iban() -> None:
    bban = "370400440532013000"
    real = "DE" + _mod97_digits("DE", bban) + bban
    fake = "QX" + _mod97_digits("QX", bban) + bban  # the same checksum rule, no such country
    assert found(f"IBAN {real}", "iban") == [("iban", real)]
    assert found(f"IBAN {fake}", "iban") == []


def test_an_iban_of_another_length_than_its_country_registered() -> None:
    bban = "3704004405320130001"  # DE registered 22 characters; this is 23
    odd = "DE" + _mod97_digits("DE", bban) + bban
    # documented: an upper-case single word with a valid checksum is still reported (0.6)...
    assert found(f"IBAN {odd}", "iban") == [("iban", odd)]
    # ... but only with a valid checksum
    assert found(f"IBAN {_break_last(odd)}", "iban") == []


# ----------------------------------------------------------------------------- SSNs


def _ssns() -> list[str]:
    fake = _faker()
    return [s for s in (fake.ssn() for _ in range(40)) if not s.startswith("9")][:12]


@pytest.mark.parametrize("ssn", _ssns())
def test_a_valid_ssn_with_separators_is_reported_without_context(ssn: str) -> None:
    for value in (ssn, ssn.replace("-", " "), ssn.replace("-", ".")):
        assert found(f"x {value} y", "us_ssn") == [("us_ssn", value)], value


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("area 000", "000-22-1234"),
        ("area 666", "666-22-1234"),
        ("group 00", "536-00-1234"),
        ("serial 0000", "536-22-0000"),
        ("one digit", "777-77-7777"),
        ("sample", "078-05-1120"),
        ("sample", "219-09-9999"),
        ("sample", "123-45-6789"),
        ("sample", "987-65-4320"),
    ],
)
def test_numbers_the_ssa_never_issues_are_not_reported_even_with_context(
    rule: str, value: str
) -> None:
    bare = value.replace("-", "")
    for text in (f"SSN: {value}", f"social security number {bare}", f"x {value} y"):
        assert found(text, "us_ssn") == [], (rule, text)


def test_nine_bare_digits_are_an_ssn_only_next_to_ssn_context() -> None:
    assert found("x 536221234 y", "us_ssn") == []
    assert found("SSN 536221234", "us_ssn") == [("us_ssn", "536221234")]
    assert found("536221234 (ssn)", "us_ssn") == [("us_ssn", "536221234")]
    assert found("ssn 536-221234", "us_ssn") == [("us_ssn", "536-221234")]  # one separator
    assert found("x 536-221234 y", "us_ssn") == []
    # a word that makes the number an id rules the context-only path out
    assert found("SSN of order 536221234", "us_ssn") == []


def test_an_ssn_is_not_read_inside_a_longer_number() -> None:
    for text in ("SSN 5536-22-1234", "SSN 536-22-12345", "SSN 1536221234", "SSN 5362212345"):
        assert found(text, "us_ssn") == [], text


# ----------------------------------------------------------------------------- phones


def _example_numbers() -> list[tuple[str, str]]:
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                out.append(
                    (region, phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL))
                )
    return out


def test_every_regions_example_number_is_reported_in_international_form() -> None:
    numbers = _example_numbers()
    assert len(numbers) > 400
    missed = [(r, n) for r, n in numbers if found(f"x {n} y", "phone") != [("phone", n)]]
    assert missed == []


def _invalid_international() -> list[str]:
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    out = []
    for region in ("GB", "US", "FR", "JP", "IN", "BR", "AU", "IT", "ES", "MX"):
        number = phonenumbers.example_number_for_type(region, PhoneNumberType.FIXED_LINE)
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        for cut in (1, 2):
            shorter = e164[:-cut]
            if not phonenumbers.is_valid_number(phonenumbers.parse(shorter)):
                out.append(shorter)
                break
    return out


@pytest.mark.parametrize("number", _invalid_international())
def test_an_international_number_its_country_rejects_needs_phone_context(number: str) -> None:
    assert found(f"x {number} y", "phone") == []
    assert found(f"phone {number}", "phone") == [("phone", number)]
    assert found(f"tel:{number}", "phone") == [("phone", number)]


def test_national_numbers_follow_the_configured_regions() -> None:
    assert found("x 020 7946 0958 y", "phone", regions=["GB"]) == [("phone", "020 7946 0958")]
    assert found("x 020 7946 0958 y", "phone", regions=["US"]) == []
    assert found("x 03-3224-9999 y", "phone", regions=["JP"]) == [("phone", "03-3224-9999")]
    assert found("x 03-3224-9999 y", "phone", regions=["GB"]) == []


@pytest.mark.parametrize(
    "text",
    [
        "call 2024-05-13",
        "call 13.05.2024",
        "call 05/13/2024",
        "phone 192.168.10.12",
        "phone 1 234 567,89",
        "call 12 30 h",
        "phone $ 415 555 0100",
        "phone order 0207946095",
        "phone 536-22-1234",
    ],
)
def test_dates_addresses_amounts_quantities_and_ids_are_not_phones(text: str) -> None:
    assert found(text, "phone") == []


def test_an_international_number_after_an_id_word_is_still_a_phone() -> None:
    assert found("order +44 20 7946 0958", "phone") == [("phone", "+44 20 7946 0958")]


def test_a_bare_national_number_without_trunk_prefix_needs_context() -> None:
    assert found("x 07700900123 y", "phone") == [("phone", "07700900123")]
    assert found("x 7700900123 y", "phone") == []
    assert found("mobile 7700900123", "phone") == [("phone", "7700900123")]


def test_a_phone_context_word_counts_for_the_next_number_only() -> None:
    text = "contact: 020 7946 0958, flat 2001 86"
    assert found(text, "phone") == [("phone", "020 7946 0958")]


# ----------------------------------------------------------------------------- the detector


def test_a_long_text_is_cached_by_its_whole_content() -> None:
    """Texts that share a long prefix and differ at the end are scanned apart (the cache keys a
    long text by a digest of all of it)."""
    find = build_detector(["email", "credit_card"])
    head = "lorem ipsum dolor sit amet " * 20
    first = find(head + "mail jane@example.com")
    second = find(head + "no value here at all")
    third = find(head + "card 4111 1111 1111 1111")
    assert [m["type"] for m in first] == ["email"]
    assert second == []
    assert [m["type"] for m in third] == ["credit_card"]
    assert find(head + "no value here at all") == []  # and the cached answers stay apart
    assert [m["type"] for m in find(head + "mail jane@example.com")] == ["email"]


def test_results_do_not_depend_on_the_order_of_the_types() -> None:
    text = "mail a@example.com, card 4111 1111 1111 1111, ssn 536-22-1234, +44 20 7946 0958"
    one = detect(text, ["email", "credit_card", "us_ssn", "phone"])
    two = detect(text, ["phone", "us_ssn", "credit_card", "email"])
    assert one == two
    assert [m["type"] for m in one] == ["email", "credit_card", "us_ssn", "phone"]
    for m in one:
        assert text[m["start"] : m["end"]] == m["value"]


def test_a_card_with_card_context_wins_over_a_phone_reading_of_its_digits() -> None:
    number = UNISSUED[0]
    text = f"card {number}"
    assert found(text, ["phone", "credit_card"]) == [("credit_card", number)]
    assert found(text, ["credit_card", "phone"]) == [("credit_card", number)]


def test_overlapping_matches_leave_no_fragment() -> None:
    text = "write to jane.roe@example.com today"
    matches = detect(text, ["email", "url"])
    assert [(m["type"], m["value"]) for m in matches] == [("email", "jane.roe@example.com")]


# ----------------------------------------------------------------------------- normalization

# every kind of character the docs say is removed before detection (default-ignorable code
# points and other format characters), one of each range
INVISIBLE = [
    "\u00ad",  # soft hyphen
    "\u034f",  # combining grapheme joiner
    "\u061c",  # Arabic letter mark
    "\u115f",  # Hangul choseong filler
    "\u17b4",  # Khmer vowel inherent
    "\u180e",  # Mongolian vowel separator
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u200e",  # left-to-right mark
    "\u202a",  # left-to-right embedding
    "\u2060",  # word joiner
    "\u2066",  # left-to-right isolate
    "\u3164",  # Hangul filler
    "\ufe0f",  # variation selector 16
    "\ufeff",  # byte-order mark
    "\uffa0",  # half-width Hangul filler
    "\U0001bca0",  # shorthand format letter overlap
    "\U0001d173",  # musical symbol begin beam
    "\U000e0041",  # tag latin capital letter A
    "\U000e0100",  # variation selector 17
    "\u0600",  # Arabic number sign (format, not default-ignorable)
    "\ufff9",  # interlinear annotation anchor (format)
]


@pytest.mark.parametrize("mark", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_invisible_characters_inside_a_value_do_not_hide_it(mark: str) -> None:
    cases = [
        ("credit_card", f"4111 1111{mark} 1111 1111"),
        ("credit_card", f"4111{mark}111111111111"),
        ("email", f"jane{mark}.roe@exam{mark}ple.com"),
        ("us_ssn", f"536-2{mark}2-1234"),
        ("phone", f"+44 20 79{mark}46 0958"),
        ("iban", f"DE89 3704 0044 0532{mark} 0130 00"),
        ("ip", f"81.2.6{mark}9.142"),
    ]
    for kind, value in cases:
        # the match covers exactly the original characters, the invisible ones included
        assert found(f"x {value} y", kind) == [(kind, value)], (kind, value)
        assert found(f"{mark}{value}{mark}", kind) == [(kind, value)], (kind, value)


def _digits_in(value: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in value)


# decimal digits of other scripts and compatibility forms: each is the ASCII digit
DIGIT_ZEROS = {
    "full-width": 0xFF10,
    "Arabic-Indic": 0x0660,
    "Extended Arabic-Indic": 0x06F0,
    "Devanagari": 0x0966,
    "Bengali": 0x09E6,
    "Thai": 0x0E50,
    "Mathematical bold": 0x1D7CE,
    "Mathematical monospace": 0x1D7F6,
}


@pytest.mark.parametrize("script", sorted(DIGIT_ZEROS))
def test_digits_of_any_script_are_digits(script: str) -> None:
    zero = DIGIT_ZEROS[script]
    for kind, value in [
        ("credit_card", "4111 1111 1111 1111"),
        ("us_ssn", "536-22-1234"),
        ("phone", "+44 20 7946 0958"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("ip", "81.2.69.142"),
    ]:
        written = _digits_in(value, zero)
        assert found(f"x {written} y", kind) == [(kind, written)], (kind, written)


def test_compatibility_forms_are_folded() -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) for c in "jane.roe@example.com")  # all full-width
    assert found(f"mail {wide}", "email") == [("email", wide)]
    assert found("mail jane\uff20example.com", "email") == [("email", "jane\uff20example.com")]
    wide_iban = "".join(chr(ord(c) + 0xFEE0) for c in "DE89370400440532013000")
    assert found(f"iban {wide_iban}", "iban") == [("iban", wide_iban)]
    composed = "jose\u0301@example.com"  # a letter and a combining accent
    assert found(f"mail {composed}", "email") == [("email", composed)]


@pytest.mark.parametrize("space", ["\u00a0", "\u202f", "\u2007", "\u2009", "\u2003", "\u3000"])
def test_space_variants_separate_groups_like_a_space(space: str) -> None:
    for kind, value in [
        ("credit_card", "4111 1111 1111 1111"),
        ("phone", "+44 20 7946 0958"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("us_ssn", "536 22 1234"),
    ]:
        written = value.replace(" ", space)
        assert found(f"x {written} y", kind) == [(kind, written)], (kind, repr(written))


@pytest.mark.parametrize(
    "dash", ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d"]
)
def test_dash_variants_separate_groups_like_a_hyphen(dash: str) -> None:
    for kind, value in [
        ("credit_card", "4111-1111-1111-1111"),
        ("us_ssn", "536-22-1234"),
        ("phone", "+1 650-253-0000"),
    ]:
        written = value.replace("-", dash)
        assert found(f"x {written} y", kind) == [(kind, written)], (kind, repr(written))


def test_a_line_or_paragraph_separator_is_a_line_break() -> None:
    for sep in ("\u2028", "\u2029", "\u0085"):
        value = f"4111 1111{sep}1111 1111"
        assert found(f"card {value} ok", "credit_card") == [("credit_card", value)]


@pytest.mark.parametrize(
    "at", ["%40", "&#64;", "&#064;", "&#x40;", "&#X40;", "&commat;", "[@]", "\uff20"]
)
def test_an_encoded_at_sign_is_an_at_sign(at: str) -> None:
    value = f"jane.roe{at}example.com"
    assert found(f"mail {value} now", "email") == [("email", value)]
    assert found(f"mail {value} now, café", "email") == [("email", value)]  # non-ASCII text


@pytest.mark.parametrize("dot", ["[.]", "(.)", "[dot]", "(dot)", "[DOT]", "(DOT)", "[Dot]"])
def test_a_defanged_dot_is_a_dot(dot: str) -> None:
    email = f"jane@example{dot}com"
    ip = f"81{dot}2{dot}69{dot}142"
    for text, kind, value in ((f"mail {email}", "email", email), (f"ioc {ip}", "ip", ip)):
        assert found(text, kind) == [(kind, value)], text
        assert found(text + " café", kind) == [(kind, value)], text  # non-ASCII text too
        assert found(text + " \ufb01le", kind) == [(kind, value)], text  # a ligature: "fi"
