"""Linear time on untrusted input: every built-in type scans 1 MB of adversarial text (repeated
separators, ``%``, ``@``, digits, dots, near-miss values) in bounded time, and the detection
cache is bounded in bytes, not in entries."""

from __future__ import annotations

import functools
import random
import time

import pytest

from guardrails.pii.detect import BUILTIN_TYPES, Detector, build_detector
from guardrails.pii.finders.secrets import SECRET_TYPES

MB = 1_000_000
#: the bound the issue asks for (an idle core); the test scales it by how slow this machine is
#: right now (shared CI runners) and allows 3x headroom: a quadratic pattern takes minutes
BOUND_S = 0.5


def _slowdown() -> float:
    """How much slower than an idle 2024 core this machine runs now (at least 1)."""
    start = time.perf_counter()
    sum(range(10**7))
    return max(1.0, (time.perf_counter() - start) / 0.12)


def _rand_digits(n: int) -> str:
    rng = random.Random(5)
    return "".join(rng.choice("0123456789") for _ in range(n))


_UNITS = {
    "percent_at": "%",
    "at_signs": "@",
    "a_at": "a@",
    "a_dot": "a.",
    "dot_at": ".@",
    "digits_dot": "1.",
    "digits_space": "1 ",
    "digits_dash": "1-",
    "digits_slash": "1/",
    "double_space": "12  ",
    "colon_hex": "a:",
    "colon_digits": "1:",
    "ipv4_near": "1.2.3.",
    "dash_groups": "4111-",
    "space_groups": "4111 ",
    "plus": "+1 ",
    "paren": "(1",
    "iban_like": "DE89 ",
    "iban_lower": "de12",
    "letters": "ab",
    "zero_width": "1\u200b",
    "fullwidth": "\uff11 ",
    "nbsp": "1\u00a0",
    "url_like": "http://",
    "www": "www.",
    "mail_like": "a.b@c.",
    "defanged": "1[.]",
    "percent40": "a%40",
    "bc1": "bc1q",
    # numbers side by side: every run parts into numbers (the phone finder's split, issue 24)
    "phone_list": "415-555-0132 ",
    "bracket_list": "(11) 2345-6789/",
    "pairs_list": "01 23 45 67 89  ",
    # field names glued of words, and words glued to letters (the context words' look-up)
    "glued_names": "homePHONEnumber 19 99 99 9 hotelphone 123456 telefonos ",
    "glued_words": "phonenumberhotel",
}
#: inputs that are not a repeated unit
_MADE = (
    "percent_then_at",
    "random_digits",
    "random_digit_groups",
    "random_mixed",
    "one_long_name",
)
NAMES = sorted([*_UNITS, *_MADE])


def adversarial() -> dict[str, str]:
    """Named 1 MB inputs aimed at the patterns' repetitions and look-arounds."""
    out = {name: (u * (MB // len(u) + 1))[:MB] for name, u in _UNITS.items()}
    out["percent_then_at"] = "%" * (MB - 1) + "@"
    out["random_digits"] = _rand_digits(MB)
    rng = random.Random(9)
    out["random_digit_groups"] = " ".join(_rand_digits(4) for _ in range(MB // 5))[:MB]
    out["random_mixed"] = "".join(rng.choice("0123456789 .-/@%:+()") for _ in range(MB))
    # one run of letters made of context words, then a number that asks for context
    out["one_long_name"] = "phone" * ((MB - 12) // 5) + " 19 99 99 9 "
    assert sorted(out) == NAMES
    return out


#: built on first use (a deselected slow group costs nothing)
inputs = functools.cache(adversarial)


#: the secret sub-types share the finder of ``secret`` (tests/test_secrets_linear.py)
_SAME_AS_SECRET = set(SECRET_TYPES) - {"secret"}
KINDS = sorted(set(BUILTIN_TYPES) - {"person", "location"} - _SAME_AS_SECRET)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", KINDS)
def test_each_type_scans_1mb_of_adversarial_input_in_bounded_time(kind: str, name: str) -> None:
    detector = build_detector(kind)
    text = inputs()[name]
    start = time.perf_counter()
    detector._scan(text)  # the scan itself, not the cache
    took = time.perf_counter() - start
    if took <= BOUND_S * 3:
        return
    # over the bound on a fast machine: measure how slow this one is now (the calibration
    # costs 0.1 s or more, so it runs only when needed)
    bound = BOUND_S * 3 * _slowdown()
    assert took <= bound, f"{kind} on 1 MB of {name!r}: {took:.2f} s, bound {bound:.2f} s"


def test_the_cache_is_bounded_in_bytes() -> None:
    detector = build_detector(["email", "phone"])
    text = "x" * 100_000
    for i in range(200):  # 200 distinct 100 KB texts: 20 MB if all were kept
        detector(f"{i} {text}")
    assert detector.cache_bytes <= Detector.CACHE_BYTES


def test_a_cached_text_is_not_scanned_twice() -> None:
    calls = []

    def finder(text: str) -> list[tuple[int, int]]:
        calls.append(text)
        return []

    detector = build_detector("x", detector=lambda t: finder(t) or [])
    detector("hello")
    detector("".join(["hel", "lo"]))  # equal content, another object
    assert len(calls) == 1
