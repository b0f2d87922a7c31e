"""The detector's result cache: the bytes it accounts beside the memory it really keeps, at the
plateau (filled past its cap, evicting), measured with tracemalloc and with the process's RSS.

Each figure comes from a fresh interpreter (RSS is per process): a detector is built and
warmed, then fed texts it has not seen (each a fresh string the caller drops right after, so
what stays is what the cache keeps) until it has evicted for a while. Three kinds of text,
generated with Faker (en_US, de_DE, fr_FR, ja_JP): chat sentences (a third with an email, a
phone number or a card number), short strings (``"ok 12"``, an email), long paragraphs
(600-2,500 characters, keyed by a digest). The RSS figure subtracts a control run that scans
the same texts with caching off (what scanning itself leaves behind).

Run: ``python -m bench pii_cache`` (``--quick``: a 1 MiB cap instead of the default 8 MiB).
"""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench.common import Row

ROOT = Path(__file__).resolve().parents[1]
TYPES = ["email", "phone", "credit_card", "ip", "url"]
#: Texts fed per MiB of cap: enough to fill it about twice over (the plateau), per kind.
PER_MIB = {"chat": 4_000, "short": 5_000, "long": 2_500}


def _texts(kind: str, count: int, seed: int = 1) -> Iterator[str]:
    from faker import Faker

    fake = Faker(["en_US", "de_DE", "fr_FR", "ja_JP"])
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    pool = [fake.sentence(nb_words=rnd.randint(6, 16)) for _ in range(500)]
    for i in range(count):
        if kind == "chat":
            text = fake.sentence(nb_words=rnd.randint(4, 18))
            r = rnd.random()
            if r < 0.15:
                text += f" mail {fake.email()}"
            elif r < 0.25:
                text += f" call {fake.phone_number()}"
            elif r < 0.3:
                text += f" card {fake.credit_card_number()}"
            yield f"{text} #{i}"
        elif kind == "short":
            yield f"ok {i}" if rnd.random() < 0.7 else f"{fake.email()} {i}"
        else:
            body = " ".join(rnd.choice(pool) for _ in range(rnd.randint(8, 30)))
            yield f"{body} {fake.email()} #{i}"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(kind: str, mode: str, cap: int, count: int) -> dict[str, float]:
    """One measurement in this (fresh) process: ``mode`` is ``trace`` (tracemalloc on),
    ``rss``, or ``control`` (RSS with caching off)."""
    import tracemalloc

    from guardrails.pii.detect import build_detector

    detector = build_detector(TYPES)
    cache = detector._cache  # type: ignore[attr-defined]
    for text in _texts(kind, 300, seed=99):  # warm: regexes, lazy tables
        detector._scan(text)
    cache.max_bytes = 0 if mode == "control" else cap
    texts = list(_texts(kind, count))
    gc.collect()
    if mode == "trace":
        tracemalloc.start()
    rss, traced = _rss(), tracemalloc.get_traced_memory()[0]
    for text in texts:
        detector.matches(text + " ")  # a fresh string, dropped by the caller right after
    gc.collect()
    return {
        "entries": len(cache._data),
        "accounted": cache.bytes,
        "traced": tracemalloc.get_traced_memory()[0] - traced if mode == "trace" else 0,
        "rss": _rss() - rss,
    }


def _run_child(kind: str, mode: str, cap: int, count: int) -> dict[str, float]:
    code = (
        "import json, sys; from bench.bench_pii_cache import child; "
        f"print(json.dumps(child({kind!r}, {mode!r}, {cap}, {count})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(kind: str, cap: int) -> dict[str, float]:
    count = PER_MIB[kind] * max(1, cap // (1 << 20))
    traced = _run_child(kind, "trace", cap, count)
    rss = _run_child(kind, "rss", cap, count)
    control = _run_child(kind, "control", cap, count)
    return {
        "entries": rss["entries"],
        "accounted": rss["accounted"],
        "traced": traced["traced"],
        "rss": max(rss["rss"] - control["rss"], 0),
    }


def run(quick: bool = False) -> list[Row]:
    from guardrails.pii.detect import Detector

    cap = (1 << 20) if quick else Detector.CACHE_BYTES
    rows: list[Row] = []
    mb = 1 / (1 << 20)
    for kind in ("chat", "short", "long"):
        m = measure(kind, cap)
        rows += [
            Row(
                "pii_cache",
                f"cache at the plateau ({kind}, {m['entries']:,.0f} entries): accounted vs "
                "tracemalloc",
                m["accounted"] * mb,
                m["traced"] * mb,
                "MiB",
                note=f"ratio = traced/accounted, goal 0.77-1.3x; cap {cap * mb:.0f} MiB",
            ),
            Row(
                "pii_cache",
                f"cache at the plateau ({kind}): accounted vs RSS delta",
                m["accounted"] * mb,
                m["rss"] * mb,
                "MiB",
                note="ratio = RSS/accounted (control run with caching off subtracted), goal "
                "<= 1.3x",
            ),
        ]
    return rows
