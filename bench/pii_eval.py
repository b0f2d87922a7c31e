"""Precision and recall of a detector on a labeled JSONL set (``{"text", "entities"}`` rows).

Example::

    scores = evaluate(rows, lambda text: detect(text, ["email"]), ["email"])
    scores["email"].precision
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Score", "evaluate"]


@dataclass
class Score:
    """True positives, false positives and false negatives of one type."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def evaluate(
    rows: Iterable[Mapping[str, Any]],
    find: Callable[[str], Iterable[Mapping[str, Any]]],
    types: Iterable[str],
) -> dict[str, Score]:
    """Score ``find`` on ``rows``: a match counts when its type and exact value are labeled."""
    scores = {t: Score() for t in types}
    for row in rows:
        expected = Counter((e["type"], e["value"]) for e in row["entities"])
        got = Counter((m["type"], m["value"]) for m in find(row["text"]) if m["type"] in scores)
        for (kind, value), count in got.items():
            hit = min(count, expected.get((kind, value), 0))
            scores[kind].tp += hit
            scores[kind].fp += count - hit
        for (kind, value), count in expected.items():
            if kind in scores:
                scores[kind].fn += count - min(count, got.get((kind, value), 0))
    return scores
