"""The international phone check (guardrails.pii.phones.international_valid) gives phonenumbers'
own answer: ``is_valid_number(parse("+" + digits))``, on numbers we did not write (phonenumbers'
example number of every region and number type, Faker's numbers of every locale) and on their
near misses (a digit more, a digit less, a digit changed, a trunk prefix kept: ``0`` and the
region's own, ``1`` for +1), plus random digits
after every calling code."""

from __future__ import annotations

import random
import re
import unicodedata

import phonenumbers
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumberType

from guardrails.pii.phones import DEFAULT_REGIONS, PhoneRules, international_valid

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
        regions = COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:w]))
        if regions is not None:
            # the trunk prefix kept: "+44 0 20 ...", and the region's own ("+1 1 201 ...")
            for prefix in {"0", _trunk_prefix(regions[0])} - {""}:
                out.append(digits[:w] + prefix + digits[w:])
            break
    return out


def _trunk_prefix(region: str) -> str:
    meta = (
        phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(0, region)
        if region != "001"
        else None
    )
    return (meta.national_prefix or "") if meta is not None else ""


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
