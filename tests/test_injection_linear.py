"""Linear time on untrusted input: every matcher of the injection guard on 1 MB adversarial text."""

from __future__ import annotations

import time

import pytest

from guardrails.injection.atoms import addresses, atoms_of, is_content
from guardrails.injection.normalize import canonical, index
from guardrails.injection.taint import split_structure

#: replays the whole scenario set / 1 MB inputs: in the slow group (make test-slow, CI)
pytestmark = pytest.mark.slow

MB = 1_000_000
ADVERSARIAL = {
    "dots": "a." * (MB // 2),
    "at": "a@" * (MB // 2),
    "local": "a" * MB,
    "digits": "1" * MB,
    "digit-groups": "12 " * (MB // 3),
    "commas": "1,000" * (MB // 5),
    "urls": "http://" * (MB // 7),
    "www": "www." * (MB // 4),
    "percent": "%25" * (MB // 3),
    "escapes": "\\u0041" * (MB // 6),
    "words": "word " * (MB // 5),
    "json": "[" * 50_000 + "]" * 50_000,
    "mixed": "a1-" * (MB // 3),
}


def _seconds(fn: object, text: str) -> float:
    start = time.perf_counter()
    fn(text)  # type: ignore[operator]
    return time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_every_matcher_is_linear_on_one_megabyte(name: str) -> None:
    text = ADVERSARIAL[name]
    small = text[: len(text) // 8]
    for fn in (
        canonical,
        lambda t: index.__wrapped__(t),
        lambda t: list(atoms_of({"a": t})),
        lambda t: addresses(canonical(t), "a"),
        is_content,
        split_structure,
    ):
        # a quadratic matcher takes ~64x longer on 8x the input; a linear one ~8x
        big_s = _seconds(fn, text)
        small_s = _seconds(fn, small)
        assert big_s < 6.0, (name, big_s)  # quadratic on 1 MB would take hours (shared host)
        if small_s > 0.05:  # below that, timer noise on a shared host dominates the ratio
            assert big_s / small_s < 30, (name, big_s, small_s)
