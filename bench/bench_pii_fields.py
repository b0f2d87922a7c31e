"""Field names as context (issue 28): bare numbers under a field name, as a tool call or a
structured response carries them, scored per field name.

Values come from Faker (seeded; SSNs, phone numbers and card numbers in its en_US, de_DE and
fr_FR formats, digits only, as JSON numbers and as strings); hard negatives put the *same kind*
of values (phone-shaped 10 digits, SSN-shaped 9 digits) under fields that say they are
something else (``order_id``, ``count``, ...). Reported: the share of positives handled per
field name, and the share of hard negatives left alone (a false positive is a hard negative
handled).

Run: ``python -m bench pii_fields`` (``--quick`` for fewer values).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from bench.common import Row
from guardrails.pii import PIIMiddleware

#: field name -> the type its values are (the context words of that type, in several styles)
POSITIVE: dict[str, str] = {
    "ssn": "us_ssn",
    "SSN": "us_ssn",
    "social_security_number": "us_ssn",
    "socialSecurityNumber": "us_ssn",
    "taxpayer_id": "us_ssn",
    "phone": "phone",
    "phone_number": "phone",
    "phoneNumber": "phone",
    "mobile": "phone",
    "cell": "phone",
    "tel": "phone",
    "fax": "phone",
    "telefon": "phone",
    "telefonnummer": "phone",
    "téléphone": "phone",
    "telefono": "phone",
    "телефон": "phone",
    "電話番号": "phone",
    "contact_number": "phone",
    "card": "credit_card",
    "card_number": "credit_card",
    "cardNumber": "credit_card",
    "credit_card": "credit_card",
    "cc": "credit_card",
    "pan": "credit_card",
    "kreditkarte": "credit_card",
}
#: field names whose numbers are not PII (the hard negatives)
NEGATIVE = [
    "order_id",
    "orderId",
    "count",
    "invoice_number",
    "tracking_number",
    "quantity",
    "zip",
    "sku",
    "amount",
    "total",
    "page",
    "row",
    "version",
    "build",
    "ticket",
    "reference",
    "customer_id",
    "product_id",
    "id",
    "timestamp",
    "size",
    "offset",
]


def _values(n: int) -> dict[str, list[str]]:
    from faker import Faker

    out: dict[str, list[str]] = {"us_ssn": [], "phone": [], "credit_card": []}
    for locale in ("en_US", "de_DE", "fr_FR"):
        fake = Faker(locale)
        fake.seed_instance(28)
        us = Faker("en_US")
        us.seed_instance(28)
        for _ in range(n):
            out["us_ssn"].append(re.sub(r"\D", "", us.ssn()))
            out["phone"].append(re.sub(r"\D", "", fake.phone_number()).lstrip("0") or "1")
            out["credit_card"].append(fake.credit_card_number())
    return out


def measure(
    n: int = 100, field: bool = True
) -> tuple[dict[str, float], dict[str, float], dict[str, Counter[str]]]:
    """(handled share per positive field, left-alone share per negative field, negatives'
    false positives by type); ``field=False``: the same values scanned without their field
    (a list item), the figure without field context."""
    middleware = PIIMiddleware(["us_ssn", "phone", "credit_card"])
    values = _values(n)
    recall: dict[str, float] = {}
    for name, kind in POSITIVE.items():
        hit = total = 0
        for raw in values[kind]:
            for value in (raw, int(raw)):
                scan = middleware.scan("tool_args")
                scan.value({name: value} if field else [value])
                total += 1
                hit += scan.found.get(kind, 0) > 0
        recall[name] = hit / total
    kept: dict[str, float] = {}
    wrong: dict[str, Counter[str]] = {}
    shaped = values["us_ssn"] + values["phone"]
    for name in NEGATIVE:
        ok = total = 0
        wrong[name] = Counter()
        for raw in shaped:
            for value in (raw, int(raw)):
                scan = middleware.scan("tool_args")
                scan.value({name: value} if field else [value])
                total += 1
                ok += not scan.found
                wrong[name].update(scan.found)
        kept[name] = ok / total
    return recall, kept, wrong


def run(quick: bool = False) -> list[Row]:
    n = 20 if quick else 100
    recall, kept, wrong = measure(n)
    bare_recall, bare_kept, _ = measure(n, field=False)
    rows = [
        Row(
            "pii",
            f"field '{name}': numbers handled (theirs: same values, no field)",
            share * 100,
            bare_recall[name] * 100,
            "%",
            higher_is_better=True,
        )
        for name, share in recall.items()
    ]
    rows += [
        Row(
            "pii",
            f"hard negative '{name}': numbers left alone (theirs: no field)",
            share * 100,
            bare_kept[name] * 100,
            "%",
            higher_is_better=True,
            note=", ".join(f"{k} {v}" for k, v in wrong[name].items()),
        )
        for name, share in kept.items()
    ]
    return rows


def _main(argv: Any = None) -> None:  # pragma: no cover - manual run
    for row in run():
        print(f"{row.what:75s} {row.ours:6.1f} % {row.theirs:6.1f} % {row.note}")


if __name__ == "__main__":  # pragma: no cover
    _main()
