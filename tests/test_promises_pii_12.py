"""A UTF-16 payload without a byte-order mark is read first in the byte order its zero bytes
point to.

Both readings of such bytes are often text: ASCII in little-endian is CJK in big-endian and a
CJK character with a zero low byte (U+4E00, U+4100...) is ASCII the other way round. The
first reading (``as_text``) is decided by where most zero bytes sit (odd offsets:
little-endian); every plausible reading is scanned anyway, a tie included
(tests/test_promises_pii_readings.py).
"""

from __future__ import annotations

import itertools

import pytest

from guardrails.pii.payloads import as_text

#: characters with a zero low byte: little-endian puts their zero at an even offset
ZERO_LOW = ["\u4100", "\u4e00", "\u6100", "\u7a00"]


def _arrangements() -> list[str]:
    """Every order of ``a`` ASCII letters and ``b < a`` zero-low-byte characters (a <= 6): a
    strict majority (at a tie both readings are equally plausible; see docs/mutation.md)."""
    out: set[str] = set()
    for a in range(2, 7):
        for b in range(1, a):
            for pat in set(itertools.permutations("A" * a + "B" * b)):
                chars = [
                    "ab"[k % 2] if c == "A" else ZERO_LOW[k % len(ZERO_LOW)]
                    for k, c in enumerate(pat)
                ]
                out.add("".join(chars))
    return sorted(out)


TEXTS = _arrangements()


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_the_byte_order_most_zero_bytes_point_to_is_read(codec: str) -> None:
    read = 0
    for text in TEXTS:
        raw = text.encode(codec)
        got = as_text(raw)
        if got is None:  # not text in either order: nothing to choose
            continue
        assert got == (text, b"", codec), (text, got)
        read += 1
    assert read > 200


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("cjk", ZERO_LOW)
def test_an_address_beside_cjk_is_read_in_its_own_byte_order(codec: str, cjk: str) -> None:
    # up to one fewer zero-low-byte character than the address has ASCII ones
    address = "jane@example.com"
    for n in range(1, len(address)):
        text = cjk * n + address if n % 2 else address + cjk * n
        got = as_text(text.encode(codec))
        assert got is not None and address in got[0], (n, got)
