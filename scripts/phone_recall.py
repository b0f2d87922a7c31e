"""Phone recall and precision with whichever ``phonenumbers`` build is installed (full or lite).

Two sets: the phone rows of ``tests/data/pii_eval_faker.jsonl`` (every row: a planted phone is a
true positive, anything else reported as a phone a false positive), and a public corpus,
libphonenumber's example number of every number type of every region, in national,
international and E.164 formats, detected with that region configured.

Run it under each build and compare (docs/performance.md has the figures)::

    python scripts/phone_recall.py
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import phonenumbers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pii_eval import evaluate
from guardrails.pii import detect

TYPES = (
    "FIXED_LINE",
    "MOBILE",
    "TOLL_FREE",
    "PREMIUM_RATE",
    "SHARED_COST",
    "VOIP",
    "PERSONAL_NUMBER",
    "PAGER",
    "UAN",
    "VOICEMAIL",
)
FORMATS = {
    "national": phonenumbers.PhoneNumberFormat.NATIONAL,
    "international": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    "e164": phonenumbers.PhoneNumberFormat.E164,
}


def build() -> str:
    for dist in ("phonenumbers", "phonenumberslite"):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def faker_rows() -> list[dict]:
    path = Path(__file__).resolve().parent.parent / "tests/data/pii_eval_faker.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return rows


def example_corpus() -> tuple[int, int]:
    found = total = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for name in TYPES:
            number = phonenumbers.example_number_for_type(
                region, getattr(phonenumbers.PhoneNumberType, name)
            )
            if number is None:
                continue
            for fmt in FORMATS.values():
                value = phonenumbers.format_number(number, fmt)
                total += 1
                hits = detect(f"call {value} today", ["phone"], regions=[region])
                found += any(m["value"] == value for m in hits)
    return found, total


def main() -> None:
    score = evaluate(faker_rows(), lambda t: detect(t, ["phone"]), ["phone"])["phone"]
    found, total = example_corpus()
    print(
        json.dumps(
            {
                "build": build(),
                "faker_phone": {
                    "tp": score.tp,
                    "fp": score.fp,
                    "fn": score.fn,
                    "recall": round(score.recall, 4),
                    "precision": round(score.precision, 4),
                },
                "examples": {"found": found, "total": total, "recall": round(found / total, 4)},
            }
        )
    )


if __name__ == "__main__":
    main()
