"""The international phone check (guardrails.pii.phones.international_valid) gives phonenumbers'
own answer: ``is_valid_number(parse("+" + digits))``, on numbers we did not write (phonenumbers'
example number of every region and number type, Faker's numbers of every locale) and on their
near misses (a digit more, a digit less, a digit changed, a trunk prefix kept), plus random digits
after every calling code."""

from __future__ import annotations

import random
import re
import unicodedata

import phonenumbers
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumberType

from guardrails.pii.phones import (
    DEFAULT_REGIONS,
    PhoneRules,
    _compiled,
    _Region,
    international_valid,
)

_TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
]


def reference(digits: str) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None)))
    except phonenumbers.NumberParseException:
        return False


def _examples() -> list[str]:
    """E.164 digits of phonenumbers' example numbers: every region, every type, non-geographic
    calling codes too."""
    out = []
    for cc, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            for kind in _TYPES:
                if region == "001":
                    number = phonenumbers.example_number_for_non_geo_entity(cc)
                else:
                    number = phonenumbers.example_number_for_type(region, kind)
                if number is not None:
                    out.append(
                        str(number.country_code) + phonenumbers.national_significant_number(number)
                    )
    return sorted(set(out))


def _near_misses(digits: str, rng: random.Random) -> list[str]:
    i = rng.randrange(len(digits))
    changed = digits[:i] + str((int(digits[i]) + rng.randrange(1, 10)) % 10) + digits[i + 1 :]
    out = [digits, digits[:-1], digits + str(rng.randrange(10)), changed]
    for w in (1, 2, 3):
        if int(digits[:w]) in COUNTRY_CODE_TO_REGION_CODE:
            out.append(digits[:w] + "0" + digits[w:])  # "+44 0 20 ...": the trunk prefix kept
            break
    return out


def _faker_numbers() -> list[str]:
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES

    out = []
    for locale in sorted(set(AVAILABLE_LOCALES) - {"fr_QC"}):  # fr_QC: deprecated alias of fr_CA
        fake = Faker(locale)
        fake.seed_instance(3)
        if not hasattr(fake, "msisdn") or not hasattr(fake, "phone_number"):
            continue  # a locale without a phone provider
        for _ in range(20):
            for text in (fake.phone_number(), fake.msisdn()):
                text = str(text)
                if text.lstrip().startswith("+"):  # digits of any script, as detection folds them
                    out.append(
                        "".join(str(unicodedata.decimal(d)) for d in re.findall(r"\d", text))
                    )
                elif text.isascii() and text.isdigit() and len(text) >= 8:
                    out.append(text)  # an MSISDN is written without "+"
    return sorted({d for d in out if d})


@pytest.fixture(scope="module", autouse=True)
def _fast_reference() -> None:
    # the reference recompiles its patterns otherwise (same answers, slower); older
    # phonenumbers / phonenumberslite releases have no such switch
    from phonenumbers import re_util

    enable = getattr(re_util, "enable_pattern_cache", None)
    if enable is not None:
        enable()


def test_example_numbers_of_every_region_and_type_and_their_near_misses() -> None:
    rng = random.Random(1)
    cases = [d for e in _examples() for d in _near_misses(e, rng)]
    assert len(cases) > 2000
    wrong = [d for d in cases if international_valid(d) != reference(d)]
    assert not wrong, wrong[:20]
    assert sum(map(international_valid, cases)) > 500  # the valid side is exercised too


@pytest.mark.slow  # about 30 s: Faker builds every locale
def test_faker_numbers_of_every_locale_and_their_near_misses() -> None:
    rng = random.Random(2)
    cases = [d for f in _faker_numbers() for d in _near_misses(f, rng) if len(d) > 3]
    assert len(cases) > 1000
    wrong = [d for d in cases if international_valid(d) != reference(d)]
    assert not wrong, wrong[:20]


def test_random_digits_after_every_calling_code() -> None:
    rng = random.Random(3)
    cases = []
    for cc in sorted(COUNTRY_CODE_TO_REGION_CODE):
        for length in range(1, 16):
            cases.append(str(cc) + "".join(rng.choice("0123456789") for _ in range(length)))
    cases += [
        "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 20))) for _ in range(3000)
    ]
    wrong = [d for d in cases if international_valid(d) != reference(d)]
    assert not wrong, wrong[:20]


def test_the_rules_answer_like_the_reference_and_remember_it() -> None:
    rules = PhoneRules(DEFAULT_REGIONS)
    for digits in ("442079460958", "14155550100", "4420794609", "999123456789"):
        assert rules.international(digits) == reference(digits)
        assert rules.international(digits) == reference(digits)  # the memo answers alike


# ------------------------------------------------------- one merged pattern per region and length


def _every_region() -> list[_Region]:
    from phonenumbers import COUNTRY_CODES_FOR_NON_GEO_REGIONS, SUPPORTED_REGIONS

    regions = [_compiled(code, 0) for code in sorted(SUPPORTED_REGIONS)]
    regions += [_compiled("001", cc) for cc in sorted(COUNTRY_CODES_FOR_NON_GEO_REGIONS)]
    return [r for r in regions if r is not None]


@pytest.mark.slow  # compiles every region's metadata
def test_the_metadata_patterns_merge_without_changing_meaning() -> None:
    """A merge of patterns into one alternation keeps each one's meaning when none holds a
    back-reference (group numbers shift), a named group or an inline flag."""
    for region in _every_region():
        for pattern in [region.general, *(p for _, p in region.types)]:
            if pattern is not None:
                assert not re.search(r"\\[1-9]|\(\?P|\(\?[aiLmsux]", pattern.pattern), region.code


@pytest.mark.slow  # every region, every length, 60,000 digit strings
def test_the_merged_pattern_answers_what_each_pattern_answers() -> None:
    """``valid`` (one merged pattern per length) answers the general description and any of the
    number types' patterns, as they were asked one by one, for every region of the metadata, on
    its example numbers, their near misses and random digits of every length."""
    rng = random.Random(11)
    checked = accepted = 0
    for region in _every_region():
        samples = [
            "".join(rng.choice("0123456789") for _ in range(rng.randrange(2, 18)))
            for _ in range(150)
        ]
        examples = [
            n.national_number
            for t in PhoneNumberType.values()
            if region.code != "001"
            and (n := phonenumbers.example_number_for_type(region.code, t)) is not None
        ]
        for number in examples:
            digits = str(number)
            samples += [digits, digits[:-1], digits + "5", "9" + digits[1:]]
        for national in samples:
            n = len(national)
            patterns = region._by_length.get(n)
            expected = (
                patterns is not None
                and region._viable(national)
                and any(p.fullmatch(national) for p in patterns)
            )
            assert region.valid(national) == expected, (region.code, national)
            checked += 1
            accepted += expected
    assert accepted > 500 and checked > 40_000


def test_the_merged_pattern_still_asks_the_general_description_of_the_whole_number() -> None:
    """The metadata's types are narrower than its general description, so the sweep above
    cannot tell a merge without it: two made-up regions where the general description alone
    refuses a number (it starts with 1; its first five digits only would pass)."""
    six = (frozenset({6}), re.compile(r"\d{6}"))
    starts = _Region("XA", 999, None, None, re.compile(r"[2-9]\d{5}"), (six,), possible=(6,))
    prefix = _Region("XB", 998, None, None, re.compile(r"[2-9]\d{4}"), (six,), possible=(6,))
    assert starts.valid("234567") and not starts.valid("123456")
    assert not prefix.valid("234567")  # the general pattern matches "23456", not the number
