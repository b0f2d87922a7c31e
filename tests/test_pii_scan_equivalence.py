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

from guardrails.pii.context import _GROUP, CONTEXT_BOOST, THRESHOLD, _Builtin, _Scan
from guardrails.pii.detect import BUILTIN_TYPES, Detector, build_detector
from guardrails.pii.finders import phone
from guardrails.pii.normalize import normalize
from guardrails.pii.phones import DEFAULT_REGIONS, PhoneRules

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


# ------------------------------------------------------- phone readings, planned once per shape


# The readings of a phone candidate as they were worked out before the plan per shape
# (guardrails/pii/finders/phone.py at 7b8c951, verbatim but for the names): the reference.
def _old_readings(rules: PhoneRules, raw: str) -> tuple[phone._Reading, ...]:
    """The readings of a candidate that can reach ``THRESHOLD`` (with a context word if they
    need one), best first: all of it, then without its last one or two groups ("0207 946 0958
    24 hours"). Everything here depends on the candidate's characters only."""
    # "+65 6123 4567 (81697 ...": cut before the "("
    while "(" in raw and raw.count("(") > raw.count(")"):
        cut = raw.rfind("(")
        if cut <= 0:
            return ()
        raw = raw[:cut].rstrip(" \t-./")
    end = len(raw)
    if phone._NOT_A_NUMBER.match(raw.lstrip("+ \t(")):
        return ()  # a date, a timestamp or an IPv4 address
    groups = [g.span() for g in _GROUP.finditer(raw)]
    if len(groups) > 9:
        return ()  # digits scattered in prose, not a phone number
    total = [0]
    for g0, g1 in groups:
        total.append(total[-1] + g1 - g0)
    last = len(groups)
    international = raw.startswith("+") or (raw.startswith("00") and raw[2:3] in "123456789")
    # "00" stands for "+": it is not one of the number's at most 15 digits
    lead = 2 if international and raw.startswith("00") else 0
    out: list[phone._Reading] = []
    for k in range(last, max(0, last - 3), -1):
        if k < last:  # only a short trailing group that breaks the grouping is dropped
            dropped = groups[k][1] - groups[k][0]
            if dropped > 2 or all(g1 - g0 == dropped for g0, g1 in groups[1:k]):
                break
        n = total[k] - lead
        if n > 15:
            continue
        if n < 6:
            break
        stop = groups[k - 1][1]
        if stop < end and raw[stop] == ")":
            stop += 1
        pieces = [raw[g0:g1] for g0, g1 in groups[:k]]
        score = _old_validated(rules, raw[:stop], pieces, international)
        penalty = 0.1 * (last - k)
        bound = score if score >= THRESHOLD else score + CONTEXT_BOOST
        if not international:  # followed by a unit it is capped, then context may raise it
            bound = max(bound, min(score, 0.3) + CONTEXT_BOOST)
        if bound - penalty >= THRESHOLD:
            out.append(phone._Reading(stop, score, international, penalty))
    return tuple(out)


def _old_validated(rules: PhoneRules, raw: str, groups: list[str], international: bool) -> float:
    """What the phone rules say of ``raw`` (split into digit ``groups``), context aside:
    0 when its shape says it is something else."""
    digits = "".join(groups)
    n = len(digits) - (2 if international and raw.startswith("00") else 0)
    shape = groups
    trunk = international and "(0)" in raw
    if trunk:  # "+44 (0)20 7946 0958": the bracketed 0 is not a group of the number's own
        at = len(_GROUP.findall(raw[: raw.find("(0)")]))
        shape = groups[:at] + groups[at + 1 :]
    if not 6 <= n <= 15 or len(shape) > 7 or sum(len(g) == 1 for g in shape) > 2:
        return 0.0  # too short, too long, or digits scattered in prose
    if (
        "." in raw
        and " " not in raw
        and len(groups) > 3
        and max(map(len, groups)) <= 3
        and not all(len(g) == 2 for g in groups)  # "01.42.68.53.00" is French; "1.2.3.4.5" not
    ):
        return 0.0
    if raw.count("(") != raw.count(")"):
        return 0.0
    decimal = len(groups) == 2 and "." in raw and " " not in raw  # "33.641433", "9269.9510"
    if decimal and min(map(len, groups)) < 4:
        return 0.0
    if international:
        lead = 2 if raw.startswith("00") else 0
        # "+44 (0)20 7946 0958": a trunk prefix in brackets, not dialled from abroad; or the
        # number's own first digit ("+39 (0)2 1234 5678": Italy keeps it): either reading
        if trunk and rules.international("".join(shape)[lead:]):
            return 0.9
        return 0.9 if rules.international(digits[lead:]) else 0.3
    if [len(g) for g in groups] == [3, 2, 4]:
        return 0.0  # an SSN's shape
    formatted = len(groups) > 1 or raw.startswith("(")
    if decimal:
        return 0.3  # a phone only with context
    if formatted and rules.with_country_code(groups[0], "".join(groups[1:])):
        return 0.8  # "44 20 7946 0958": a country code written without "+"
    rank = rules.national(digits)
    if rank is None:
        return 0.3
    if formatted and (n < 8 or (len(groups) == 2 and len(groups[1]) < 4)):
        return 0.35  # "20210-261", "7038 01": a postcode or a house number as often
    if formatted:
        return 0.7 - 0.001 * rank  # the earlier a region is listed, the likelier
    if n > 12:
        return 0.0  # 13+ bare digits: an id or a card, not a national number
    if digits[0] == "0" and digits[1] != "0" and n >= 9:
        return 0.5  # "07700900123": a trunk prefix and a valid national number
    return 0.35  # bare digits valid somewhere: context decides


@pytest.mark.parametrize("regions", [None, ("GB", "FR", "DE", "IT", "ES", "NL"), ("JP", "IN")])
def test_a_phone_candidate_reads_as_it_did_before_its_shape_was_planned(
    regions: tuple[str, ...] | None,
) -> None:
    """Every phone candidate of the corpus, and every head of it a split tries, gets the same
    readings (ends, scores, penalties) from the plan of its shape as from the old code; the
    plans are kept across texts, so a shape met again with other digits is read from its plan."""
    rules = PhoneRules(regions or DEFAULT_REGIONS)
    raws: set[str] = set()
    for text in corpus():
        for m in phone._PHONE.finditer(normalize(text).text):
            raws.add(m.group())
            raws.update(m.group()[:end] for end, _ in phone._heads(m.group()))
    read = 0
    for raw in sorted(raws):
        expected = _old_readings(rules, raw)
        assert phone._readings(rules, raw) == expected, raw
        read += bool(expected)
    assert read > 2000
    assert len(rules.shapes) < len(raws) / 2  # shapes are met again: the plans are reused
