"""The shortcuts of the all-types detector lose no detection (issue 24 item 2).

Each built-in type skips a text its gate says cannot hold a value of the type (no ``@`` for an
email, fewer than 12 digits in one run of digits and separators for a card, 9 for an SSN, 6 for a
phone number, ...). The promise: the detector with every type on finds exactly what it finds with
every gate removed (each finder reading every text, as it did before any gate), span for span
and type for type, on text this project did not write: values Faker makes in 16 locales for
every type it has a provider of, and the example numbers ``phonenumbers`` ships for every region
and every number type, in its national, international and E.164 formats, each among Faker's
sentences and addresses. The digit counts the gates read are checked against their plain
definitions on the same texts and on the adversarial inputs of tests/test_pii_detect_linear.py.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from guardrails.pii.context import _Builtin, _Scan
from guardrails.pii.detect import BUILTIN_TYPES, Detector, build_detector
from guardrails.pii.normalize import normalize

#: whole sweeps over a generated corpus (~10 s idle): `make test-slow` and .ci/run
pytestmark = pytest.mark.slow

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "ja_JP",
           "zh_CN", "en_IN", "pl_PL", "en_AU", "sv_SE", "ko_KR", "ru_RU"]  # fmt: skip
EVERY = sorted(set(BUILTIN_TYPES) - {"person", "location"})
CARD_TYPES = ["amex", "diners", "discover", "jcb15", "jcb16", "maestro", "mastercard",
              "visa13", "visa16", "visa19"]  # fmt: skip


def _faker_values(rng: random.Random) -> Iterator[str]:
    """Values of every type Faker has a provider of, in every locale (a provider a locale lacks
    falls back to Faker's default one, or is skipped)."""
    from faker import Faker

    makers: list[Callable[[Any], object]] = [
        lambda f: f.phone_number(),
        lambda f: f.msisdn(),
        lambda f: f.country_calling_code() + " " + f.msisdn()[3:],
        *[(lambda f, t=t: f.credit_card_number(card_type=t)) for t in CARD_TYPES],
        lambda f: f.credit_card_full(),
        lambda f: f.iban(),
        lambda f: f.bban(),
        lambda f: f.ssn(),
        lambda f: f.ipv4(),
        lambda f: f.ipv4_private(),
        lambda f: f.ipv6(),
        lambda f: f.email(),
        lambda f: f.url(),
        lambda f: f.uri(),
        lambda f: f.mac_address(),
        lambda f: f.date(),
        lambda f: f.date_between(date(1950, 1, 1), date(2030, 12, 31)).strftime("%d/%m/%Y"),
        lambda f: f.date_between(date(1950, 1, 1), date(2030, 12, 31)).strftime("%d.%m.%Y"),
        lambda f: f.date_between(date(1950, 1, 1), date(2030, 12, 31)).strftime("%b %d, %Y"),
        lambda f: f.date_time().isoformat(),
        lambda f: f.address(),
        lambda f: f.postcode(),
        lambda f: f.building_number(),
        lambda f: f.ean13(),
        lambda f: f.isbn13(),
        lambda f: f.sentence(),
        lambda f: f.password(length=rng.randrange(8, 40)),
        lambda f: f.sha256(),
        lambda f: f.md5(),
        lambda f: f.uuid4(),
        lambda f: f.pricetag(),
        lambda f: f.license_plate(),
    ]
    for i, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(2400 + i)
        for _ in range(3):
            for make in makers:
                try:
                    yield str(make(fake))
                except (AttributeError, KeyError):  # a provider or card kind a locale lacks
                    continue


def _example_numbers() -> Iterator[str]:
    """phonenumbers' example number of every region and number type, in three formats."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    kinds = [v for k, v in vars(PhoneNumberType).items() if k.isupper() and isinstance(v, int)]
    formats = [
        PhoneNumberFormat.NATIONAL,
        PhoneNumberFormat.INTERNATIONAL,
        PhoneNumberFormat.E164,
    ]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                for form in formats:
                    yield phonenumbers.format_number(number, form)


@functools.cache
def corpus() -> list[str]:
    from faker import Faker

    rng = random.Random(24)
    values = list(_faker_values(rng)) + list(_example_numbers())
    filler = Faker("en_US")
    filler.seed_instance(24)
    glue = [" ", ", ", "\n", "; ", " / ", " call ", " card: ", " tel ", " SSN ", " IBAN ", " on "]
    texts = list(values)
    for _ in range(6000):
        parts = [rng.choice(values) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.5:
            parts.insert(rng.randrange(len(parts) + 1), filler.sentence())
        texts.append(rng.choice(glue).join(parts))
    return texts


def _ungated(detector: Detector) -> Detector:
    """The same finders with every gate removed: each reads every text."""
    return Detector(
        tuple(
            (name, _Builtin(f.find, lambda scan: True, f.secret) if isinstance(f, _Builtin) else f)
            for name, f in detector.finders
        )
    )


@pytest.mark.parametrize("types", [EVERY, EVERY[::-1], ["phone", "credit_card", "us_ssn"]])
def test_the_gated_detector_finds_what_every_finder_finds_reading_every_text(
    types: list[str],
) -> None:
    gated = build_detector(types)
    plain = _ungated(gated)
    found = 0
    for text in corpus():
        expected = plain._scan(text)
        assert gated._scan(text) == expected, text[:200]
        found += len(expected)
    assert found > 5000  # the corpus is full of values, not only of misses


def test_the_corpus_holds_every_kind_the_digit_gates_stand_for() -> None:
    """Each digit gate is crossed by values it lets through and skips texts it must not read:
    without both the test above could not fail on a gate that skips too much."""
    detector = build_detector(["phone", "credit_card", "us_ssn"])
    kinds = {m["type"] for text in corpus() for m in detector._scan(text)}
    assert kinds == {"phone", "credit_card", "us_ssn"}
    runs = [_Scan(normalize(t), t).run_digits() for t in corpus()]
    for bound in (6, 9, 12):
        assert sum(r == bound for r in runs) > 20  # values right at a gate's bound
        assert sum(r < bound for r in runs) > 100  # texts a gate skips


#: a run of digits and the separators numbers are written with, from its first digit on
_RUN = re.compile(r"\d[\d \t\r\n().\-/+]*")
_DIGIT = re.compile(r"\d")


def _plain_counts(text: str) -> tuple[int, int]:
    """The digits of ``text`` and the most digits of one run, the plain way."""
    runs = [len(_DIGIT.findall(run)) for run in _RUN.findall(text)]
    return sum(map(text.count, "0123456789")), max(runs, default=0)


def test_the_digit_counts_the_gates_read_are_their_plain_definitions() -> None:
    from tests.test_pii_detect_linear import adversarial

    texts = [*corpus(), *(t[:20_000] for t in adversarial().values())]
    texts += ["", "no digits", "+(", "1", "12345", "\ud800 1 2 3 4 5 6", "\uff11\uff12 345678"]
    for text in texts:
        scan = _Scan(normalize(text), text)
        digits, run = _plain_counts(scan.text)
        assert scan.digits() == digits, text[:200]
        assert _Scan(normalize(text), text).run_digits() == run, text[:200]
