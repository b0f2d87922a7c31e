"""Shortcuts that make detection cheaper answer exactly what the long way answers.

Each shortcut of issue 24 (item 2) skips work when it can prove the work finds nothing, or does
the same arithmetic in C: the phone regions tried per number length, the token run a prefixed
secret needs, the name words an assignment needs, the IBAN checksum on a translated string. Each
test below runs the long way beside the short one, on text we did not write (the evaluation sets
of tests/data, phonenumbers' example numbers) and on random and near-miss input, and asserts the
same answer; a shortcut that skipped a real finding fails it.
"""

from __future__ import annotations

import functools
import json
import random
import re
import string
import time
from pathlib import Path

import pytest

from guardrails.pii.finders import cards, iban, secrets
from guardrails.pii.phones import DEFAULT_REGIONS, PhoneRules, _region

DATA = Path(__file__).parent / "data"


def _texts(name: str) -> list[str]:
    path = DATA / name
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


@functools.cache
def corpus() -> list[str]:
    texts: list[str] = []
    for name in sorted(p.name for p in DATA.glob("*.jsonl")):
        texts += _texts(name)
    rng = random.Random(24)
    # near misses: a character of a real text dropped, doubled or swapped
    for text in rng.sample(texts, 3000):
        i = rng.randrange(len(text))
        texts.append(text[:i] + text[i + 1 :])
        texts.append(text[:i] + text[i] + text[i:])
    return texts


# ------------------------------------------------------------------------------ phone regions


def _example_numbers() -> list[str]:
    """Every example number phonenumbers ships, national significant number and with the
    trunk prefix, for every region."""
    import phonenumbers
    from phonenumbers import SUPPORTED_REGIONS, PhoneNumberFormat

    out = []
    for region in sorted(SUPPORTED_REGIONS):
        for kind in range(11):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            out.append("".join(c for c in national if c.isdigit()))
            out.append(str(number.national_number))
    return out


@functools.cache
def digit_strings() -> list[str]:
    rng = random.Random(7)
    out = _example_numbers()
    for number in list(out):  # near misses: one digit changed, added or dropped
        i = rng.randrange(len(number))
        out.append(number[:i] + rng.choice(string.digits) + number[i + 1 :])
        out.append(number[:i] + rng.choice(string.digits) + number[i:])
        out.append(number[:i] + number[i + 1 :])
    for n in range(1, 19):
        out += ["".join(rng.choice(string.digits) for _ in range(n)) for _ in range(300)]
        out += ["0" + "".join(rng.choice(string.digits) for _ in range(n)) for _ in range(100)]
    return out


def _refused_by_length(codes: list[str]) -> int:
    by_length: dict[int, list[str]] = {}
    for digits in digit_strings():
        by_length.setdefault(len(digits), []).append(digits)
    refused = 0
    for code in codes:
        region = _region(code)
        if region is None:
            continue
        for n, numbers in by_length.items():
            if region.admits(n):
                continue
            for digits in numbers:
                refused += 1
                assert not region.valid(region.strip_prefix(digits)), (code, digits)
    return refused


def test_a_default_region_refused_by_length_never_validates_a_number_that_long() -> None:
    from phonenumbers import SUPPORTED_REGIONS

    others = sorted(set(SUPPORTED_REGIONS) - set(DEFAULT_REGIONS))
    sample = list(DEFAULT_REGIONS) + random.Random(2).sample(others, 24)
    assert _refused_by_length(sample) > 100_000  # the gate does refuse: it is not a no-op


@pytest.mark.slow
def test_any_region_refused_by_length_never_validates_a_number_that_long() -> None:
    from phonenumbers import SUPPORTED_REGIONS

    assert _refused_by_length(sorted(SUPPORTED_REGIONS)) > 1_000_000


@pytest.mark.parametrize(
    "regions", [DEFAULT_REGIONS, ("GB", "FR", "DE"), ("JP", "BR", "AR", "MX", "CN"), ("IN",)]
)
def test_national_tries_only_the_regions_of_the_length_and_finds_the_same_first_one(
    regions: tuple[str, ...],
) -> None:
    rules = PhoneRules(regions)
    found = 0
    for digits in digit_strings():
        expected = next(
            (rank for rank, r in enumerate(rules._regions) if r.valid(r.strip_prefix(digits))),
            None,
        )
        assert rules.national(digits) == expected, (regions, digits)
        found += expected is not None
    assert found > 1000


# ------------------------------------------------------------------------------ IBAN checksum


def _iban_ok_per_character(compact: str, strict: bool = True) -> bool:
    """iban_ok as it was written: each character through ``int(c, 36)``."""
    length = iban._IBAN_LENGTHS.get(compact[:2], -1)
    if (strict and len(compact) != length) or not compact[2:4].isdigit():
        return False
    if not strict and (length < 0 or not 15 <= len(compact) <= 34):
        return False
    moved = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def test_the_iban_checksum_in_c_answers_what_the_per_character_form_answers() -> None:
    from faker import Faker

    rng = random.Random(3)
    values = []
    for locale in ["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_PT"]:
        fake = Faker(locale)
        fake.seed_instance(3)
        values += [fake.iban() for _ in range(200)]
    odd = string.ascii_letters + string.digits + " _-+\u0663\u00b2\u0130\uff11"
    for value in list(values):
        for _ in range(4):  # lower case, a character changed, Unicode digits, separators
            i = rng.randrange(4, len(value))
            values.append(value[:i] + rng.choice(odd) + value[i + 1 :])
        values.append(value.lower())
        values.append(value[:2].lower() + value[2:])
    valid = 0
    for value in values:
        for strict in (True, False):
            expected = _iban_ok_per_character(value, strict)
            assert iban.iban_ok.__wrapped__(value, strict) == expected, (value, strict)
            valid += expected
    assert valid > 1000


# ------------------------------------------------------------------------------ secret gates


def _prefixed_ungated(monkeypatch: pytest.MonkeyPatch, text: str) -> list[secrets.Secret]:
    with monkeypatch.context() as m:
        m.setattr(secrets, "_TOKEN_RUN", None)
        return secrets._prefixed(text)


def _derived_token_run(patterns: list[re.Pattern[str]]) -> re.Pattern[str] | None:
    """A pattern that finds, in a text where one of ``patterns`` matches, a run of the
    characters they can match as long as their shortest match (each match is such a run):
    a text without one holds no match of any. ``None`` when a pattern holds more than literal
    characters and character classes (a look-around, ``.``, a negated class: no such gate)."""
    import importlib

    c = importlib.import_module("re._constants")  # the standard library's own pattern parser
    parser = importlib.import_module("re._parser")

    categories = {c.CATEGORY_DIGIT: r"\d", c.CATEGORY_WORD: r"\w"}
    chars: set[str] = set()
    classes: set[str] = set()
    shortest = 1 << 30

    def walk(items: object) -> bool:
        for op, av in items:  # type: ignore[attr-defined]
            if op == c.LITERAL:
                chars.add(chr(av))
            elif op == c.IN:
                for item_op, item in av:
                    if item_op == c.LITERAL:
                        chars.add(chr(item))
                    elif item_op == c.RANGE:
                        chars.update(map(chr, range(item[0], item[1] + 1)))
                    elif item_op == c.CATEGORY and item in categories:
                        classes.add(categories[item])
                    else:
                        return False  # a negated class or another kind of item
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
                if not walk(av[2]):
                    return False
            elif op == c.SUBPATTERN:
                if not walk(av[-1]):
                    return False
            elif op == c.BRANCH:
                if not all(walk(branch) for branch in av[1]):
                    return False
            else:
                return False
        return True

    try:
        for pattern in patterns:
            parsed = parser.parse(pattern.pattern, pattern.flags & ~re.UNICODE)
            if pattern.flags & re.IGNORECASE or not walk(parsed):
                return None
            shortest = min(shortest, parsed.getwidth()[0])
    except Exception:  # pragma: no cover - a pattern the parser reads otherwise
        return None
    if not 2 <= shortest < 1 << 30:
        return None
    body = "".join(sorted(classes)) + "".join(re.escape(ch) for ch in sorted(chars))
    return re.compile(rf"(?<![{body}])[{body}]{{{shortest}}}")


# slow: a whole-set equivalence sweep
@pytest.mark.slow
def test_the_token_run_gate_holds_every_character_and_length_the_rules_allow() -> None:
    """The gate written in secrets.py is the one derived from the rules' patterns: the same
    characters (every code point) and the shortest token's length."""
    derived = _derived_token_run([p for rules in secrets._BY_ANCHOR.values() for _, p in rules])
    assert derived is not None and secrets._TOKEN_RUN is not None
    length = int(derived.pattern.rsplit("{", 1)[1][:-1])
    assert length == secrets._TOKEN_RUN_LENGTH == 16  # LTAI + 12: the shortest provider token
    run_class = re.compile(r"^\(\?<!\[.*\]\)(\[.*\])\{\d+\}$")  # (?<![C])[C]{n}: the class C
    ours = re.compile(run_class.fullmatch(secrets._TOKEN_RUN.pattern).group(1))  # type: ignore[union-attr]
    theirs = re.compile(run_class.fullmatch(derived.pattern).group(1))  # type: ignore[union-attr]
    for code in range(0x110000):
        c = chr(code)
        assert (ours.fullmatch(c) is None) == (theirs.fullmatch(c) is None), hex(code)


def test_a_prefixed_token_is_found_with_and_without_the_token_run_gate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = 0
    for text in corpus():
        gated = secrets._prefixed(text)
        assert gated == _prefixed_ungated(monkeypatch, text), text[:200]
        found += len(gated)
    assert found > 300  # the provider tokens of the secrets sets are among them


def test_a_token_as_short_as_the_shortest_rule_allows_passes_the_gate() -> None:
    # every rule's shortest token, written right between the characters that end a run
    for head in ("LTAI", "AKIA"):
        for before, after in (("", ""), (" ", " "), ("(", ")"), ("\u3042", "\u3042"), ("'", "'")):
            body = "Q9xZ7kLm2Pq8Wn4R"[: 16 - len(head)]
            token = head + (body.upper() if head == "AKIA" else body)
            text = f"{before}{token}{after}"
            assert secrets._TOKEN_RUN is not None
            assert secrets._TOKEN_RUN.search(text) is not None, text


def test_an_assignment_is_found_with_and_without_the_name_word_gate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = 0
    for text in corpus():
        gated = secrets._assignments(text, [])
        with monkeypatch.context() as m:
            m.setattr(secrets, "_NAME_WORD_LIST", [""])  # "" is in every text: no gate
            assert secrets._assignments(text, []) == gated, text[:200]
        found += len(gated)
    assert found > 300


@pytest.mark.slow
@pytest.mark.parametrize(
    "unit",
    [
        "abcdefghijklmno ",  # runs one short of the gate's length
        "a-b.c/d:e=f~g+h,",  # one run of every character a token may hold, 1 MB long
        "LTAI",
        "sk-",
        "x" * 15 + "\u3042",
    ],
)
def test_the_token_run_gate_scans_1mb_in_linear_time(unit: str) -> None:
    from tests.test_pii_detect_linear import BOUND_S, MB, _slowdown

    text = (unit * (MB // len(unit) + 1))[:MB]
    start = time.perf_counter()
    secrets._prefixed(text)
    secrets._assignments(text, [])
    took = time.perf_counter() - start
    if took > BOUND_S * 3:
        assert took <= BOUND_S * 3 * _slowdown(), f"{unit!r}: {took:.2f} s"


# ------------------------------------------------------------------------------ Luhn checksum


def _luhn_per_digit(digits: str) -> bool:
    """luhn_ok as it was written: each digit through ``int``."""
    odd = sum(map(int, digits[-1::-2]))
    even = sum(map(int, digits[-2::-2].translate(cards._DOUBLED)))
    return (odd + even) % 10 == 0


def _answer(check: object, value: str) -> object:
    try:
        return check(value)  # type: ignore[operator]
    except ValueError as exc:
        return type(exc)


def test_the_luhn_sum_of_bytes_answers_what_the_per_digit_sum_answers() -> None:
    from faker import Faker

    fake = Faker()
    fake.seed_instance(5)
    rng = random.Random(5)
    values = [fake.credit_card_number() for _ in range(2000)]
    values += [
        "".join(rng.choice(string.digits) for _ in range(n)) for n in range(25) for _ in range(400)
    ]
    # not ASCII digits: Unicode digits are read as digits, anything else is refused alike
    values += [
        "\u0664\u0661\u0661\u0661" * 4,
        "4111 1111",
        "12a4",
        "\u00b2\u00b2",
        "",
        "\uff14\uff11",
    ]
    valid = 0
    for value in values:
        expected = _answer(_luhn_per_digit, value)
        assert _answer(cards.luhn_ok, value) == expected, value
        valid += expected is True
    assert valid > 2000


# ------------------------------------------------------------------------------ id before a number


# slow: a whole-set equivalence sweep
@pytest.mark.slow
def test_the_id_before_search_from_the_run_start_finds_what_searching_every_position_finds() -> (
    None
):
    from guardrails.pii.context import _ID_BEFORE, id_before

    rng = random.Random(11)
    alphabet = "aZ09 4 \n-.:#\u0663\uff11\u3042"
    texts = [t for t in corpus() if len(t) < 400][:6000]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(60))) for _ in range(6000)]
    texts += ["DE89 3704 0044 0532 0130 00 ", "acct 12345 ", "GB82 WEST 1234 \n", "x \u0663\u0663 "]
    hits = 0
    for text in texts:
        for hi in range(0, len(text) + 1, 1 if len(text) < 60 else 7):
            lo = max(0, hi - 40)
            expected = _ID_BEFORE.search(text, lo, hi)
            got = id_before(text, lo, hi)
            assert (got and (got.span(), got.group())) == (
                expected and (expected.span(), expected.group())
            ), (text, hi)
            hits += expected is not None
    assert hits > 5_000
