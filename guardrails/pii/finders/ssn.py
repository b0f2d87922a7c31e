"""US Social Security numbers: the SSA's issuing rules; nine bare digits only next to a context
word, never after a word that makes them an id or an amount."""

from __future__ import annotations

import re

from guardrails.pii.context import CONTEXT_BOOST, THRESHOLD, Span, _Scan
from guardrails.pii.normalize import ascii_digits

# (?<![\d\-./])(\d{3})...: written first digit first, so the regex engine skips to digits
_SSN = re.compile(
    ascii_digits(r"(\d(?<![\d\-./]\d)\d{2})([ \-./]?)(\d{2})([ \-./]?)(\d{4})(?![\d\-]|[./]\d)")
)
_SSN_SAMPLES = frozenset({"123456789", "987654320", "078051120", "219099999"})


def ssn_ok(digits: str) -> bool:
    """The SSA's issuing rules: no 000/666 area, 00 group or 0000 serial, no sample number."""
    if len(digits) != 9 or digits.count(digits[0]) == 9 or digits in _SSN_SAMPLES:
        return False
    return digits[:3] not in ("000", "666") and digits[3:5] != "00" and digits[5:] != "0000"


def _ssns(scan: _Scan) -> list[Span]:
    out: list[Span] = []
    for m in _SSN.finditer(scan.text):
        digits = m.group(1) + m.group(3) + m.group(5)
        if not ssn_ok(digits):
            continue
        seps = (m.group(2), m.group(4))
        score = 0.85 if all(seps) else 0.3
        if score < THRESHOLD and scan.negative(m.start(), "us_ssn"):
            continue
        if scan.context("us_ssn", m.start(), m.end()):
            score += CONTEXT_BOOST
        if score >= THRESHOLD:
            out.append((m.start(), m.end(), score))
    return out
