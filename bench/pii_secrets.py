"""Secret types: recall and precision per category on tests/data/secrets_eval.jsonl (dev and
held-out) and throughput, beside detect-secrets (Yelp, default plugins and filters) on the same
rows. Called from ``bench_pii.run`` (``python -m bench pii``).

Two ways of counting:

* **exact** (ours only, what tests/test_secrets.py asserts): a match counts when its category
  and its exact value are labeled;
* **found** (ours and detect-secrets alike): a reported value finds a labeled secret when one
  contains the other, whatever the type name; a reported value that finds none is a false
  positive. detect-secrets reports some values as a regex group (``ghp`` for a GitHub token) or a
  PEM header line: counting by containment gives it those.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.common import Row
from bench.pii_eval import evaluate

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "secrets_eval.jsonl"
CATEGORIES = ["api_key", "private_key", "jwt", "password", "generic_secret"]
FILLER = [
    "Thanks, that makes sense. Can you summarise the meeting notes from yesterday?",
    "The deployment went fine; latency is down to 120 ms at p95 after the cache change.",
    "Let's move the review to Thursday afternoon, the design doc still needs two sections.",
    "I tried the new onboarding flow and the third step is confusing for first-time users.",
    "Please draft a short reply saying we will ship the fix in the next release.",
]


def rows(split: str | None = None) -> list[dict[str, Any]]:
    data = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    return [r for r in data if split is None or r["split"] == split]


def detect_secrets_finder() -> Callable[[str], list[str]]:
    """detect-secrets 1.x with its default plugins and filters, line by line as it scans a
    file (``_process_line_based_plugins``: the line and context filters apply)."""
    from detect_secrets.core.scan import _process_line_based_plugins
    from detect_secrets.settings import default_settings

    def find(text: str) -> list[str]:
        lines = list(enumerate(text.splitlines(), start=1))
        with default_settings():
            return [
                str(s.secret_value)
                for s in _process_line_based_plugins(lines, filename="message.txt")
                if s.secret_value
            ]

    return find


def ours_finder() -> Callable[[str], list[str]]:
    from guardrails.pii.detect import build_detector

    scan = build_detector("secret")._scan  # the scan itself, not the cache
    return lambda text: [m["value"] for m in scan(text)]


def found_scores(
    data: list[dict[str, Any]], find: Callable[[str], Iterable[str]]
) -> tuple[dict[str, float], float]:
    """Recall per category and overall precision, counting by containment (see above)."""
    hit = dict.fromkeys(CATEGORIES, 0)
    total = dict.fromkeys(CATEGORIES, 0)
    tp = fp = 0
    for row in data:
        labels = [(e["type"], e["value"]) for e in row["entities"]]
        got = list(dict.fromkeys(find(row["text"])))
        for kind, value in labels:
            total[kind] += 1
            hit[kind] += any(g in value or value in g for g in got)
        for g in got:
            if any(g in value or value in g for _, value in labels):
                tp += 1
            else:
                fp += 1
    recall = {k: hit[k] / total[k] if total[k] else 1.0 for k in CATEGORIES}
    return recall, tp / (tp + fp) if tp + fp else 1.0


def _slowdown() -> float:
    start = time.perf_counter()
    sum(range(10**7))
    return max(1.0, (time.perf_counter() - start) / 0.12)


def throughput(find: Callable[[str], Any], texts: list[str], rounds: int) -> tuple[float, float]:
    """Best MB/s over ``rounds`` and the idle-core equivalent (scaled by the machine's load)."""
    size = sum(len(t.encode()) for t in texts)
    best, best_idle = 0.0, 0.0
    for _ in range(rounds):
        factor = _slowdown()
        start = time.perf_counter()
        for text in texts:
            find(text)
        took = time.perf_counter() - start
        best = max(best, size / took / 1e6)
        best_idle = max(best_idle, size / (took / factor) / 1e6)
    return best, best_idle


def mixed(data: list[dict[str, Any]]) -> list[str]:
    """Chat-like text: each labeled row among four secret-free messages."""
    rng = random.Random(7)
    out = []
    for row in data:
        out.extend(rng.choice(FILLER) for _ in range(4))
        out.append(row["text"])
    return out


def run(quick: bool = False) -> list[Row]:
    from guardrails.pii.detect import build_detector

    ours = ours_finder()
    theirs = detect_secrets_finder()
    result: list[Row] = []
    for split in ("dev", "heldout"):
        part = rows(split)
        exact = evaluate(part, build_detector(CATEGORIES)._scan, CATEGORIES)
        our_recall, our_precision = found_scores(part, ours)
        their_recall, their_precision = found_scores(part, theirs)
        for kind in CATEGORIES:
            result.append(
                Row(
                    "pii",
                    f"secrets {split} recall {kind}",
                    our_recall[kind],
                    their_recall[kind],
                    "ratio",
                    higher_is_better=True,
                    note=f"exact value and type: recall {exact[kind].recall:.3f}, precision "
                    f"{exact[kind].precision:.3f}; theirs = detect-secrets (found by containment)",
                )
            )
        result.append(
            Row(
                "pii",
                f"secrets {split} precision, all categories",
                our_precision,
                their_precision,
                "ratio",
                higher_is_better=True,
                note=f"{sum(not r['entities'] for r in part)} hard-negative rows included; "
                "theirs = detect-secrets",
            )
        )
    texts = mixed(rows("heldout")[:300] if quick else rows("heldout"))
    sample = texts[: len(texts) // (10 if quick else 4)]  # detect-secrets is slow: a quarter
    ours_mbs, ours_idle = throughput(ours, texts, 2 if quick else 3)
    theirs_mbs, theirs_idle = throughput(theirs, sample, 1)
    result.append(
        Row(
            "pii",
            "secrets throughput, mixed chat text (idle-core equivalent)",
            ours_idle,
            theirs_idle,
            "MB/s",
            higher_is_better=True,
            note=f"as measured: ours {ours_mbs:.2f}, detect-secrets {theirs_mbs:.3f} MB/s "
            "(loaded machine); goal >= 3 MB/s",
        )
    )
    return result
