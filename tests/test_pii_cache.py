"""The detector's result cache accounts the memory it keeps (issue 24, item 3).

Its cap is in bytes; those bytes must be the memory the entries really keep alive (within
1.3x), or the documented bound in MB of RSS is not a bound. Checked against tracemalloc on
texts we did not write (the Faker evaluation set, made unique per entry), filled past the cap
(evicting), with strings of every width (ASCII, Latin-1, CJK, emoji) and long texts keyed by a
digest. The RSS figure is measured by ``python -m bench pii_cache`` (not a test: it depends on
the process).
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path

import pytest

from guardrails.pii.cache import _ByteLRU, entry_bytes
from guardrails.pii.detect import build_detector

DATA = Path(__file__).parent / "data" / "pii_eval_faker.jsonl"
CAP = 1 << 19


def _texts() -> list[str]:
    rows = [json.loads(line)["text"] for line in DATA.read_text().splitlines() if line.strip()]
    return rows


def _fill(kind: str) -> tuple[int, int, int]:
    """Feed a detector ``kind`` texts until its cache is past ``CAP`` (evicting): (accounted,
    traced, entries). Each text is a fresh string the caller drops right after, as a message
    is; the matches are made by the scan inside the traced window, as they are in use."""
    detector = build_detector(["email", "phone", "credit_card", "ip", "url", "iban"])
    base = _texts()
    if kind == "long":
        base = [" ".join(base[i : i + 8]) for i in range(0, len(base) - 8, 4)]
    elif kind == "wide":
        base = [f"{t} 日本語のテキスト 🙂" if i % 2 else f"{t} café" for i, t in enumerate(base)]
    for text in base:  # the detector's own tables (per candidate) warmed outside the window
        detector._scan(text)
    cache = detector._cache  # type: ignore[attr-defined]
    assert not cache._data
    cache.max_bytes = CAP
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i, text in enumerate(base):
            detector.matches(f"{text} #{i}")
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert cache.bytes <= CAP
    assert cache.bytes > CAP * 0.9, "not filled to the cap"
    return cache.bytes, traced, len(cache._data)


@pytest.mark.slow  # fills the cache to its plateau and reads RSS (memory, ~20 s)
@pytest.mark.parametrize("kind", ["chat", "wide", "long"])
def test_the_cache_accounts_the_memory_it_keeps(kind: str) -> None:
    accounted, traced, entries = _fill(kind)
    ratio = traced / accounted
    assert 1 / 1.3 <= ratio <= 1.3, (
        f"{kind}: {entries} entries account {accounted:,} bytes, tracemalloc sees "
        f"{traced:,} ({ratio:.2f}x)"
    )


def test_an_entry_counts_its_key_by_width_and_its_matches() -> None:
    ascii_key, wide_key = "a" * 100, "日" * 100
    assert entry_bytes(wide_key, ()) - entry_bytes(ascii_key, ()) >= 100  # 2 bytes a char
    match = {"type": "email", "value": "jane@example.com", "start": 300, "end": 316}
    with_match = entry_bytes(ascii_key, (match,))  # type: ignore[arg-type]
    assert with_match - entry_bytes(ascii_key, ()) >= 184 + 49 + 2 * 28


def test_a_replaced_entry_is_not_counted_twice() -> None:
    cache = _ByteLRU(CAP)
    cache.put("some text", ())
    once = cache.bytes
    cache.put("some text", ())
    assert cache.bytes == once
