"""Credit cards: candidates of 12 to 19 digits in groups, the Luhn checksum and the issued IIN
ranges; a Luhn-valid number outside them is reported only next to a card context word."""

from __future__ import annotations

import functools
import re

from guardrails.pii.context import _GROUP, CONTEXT_BOOST, THRESHOLD, Span, _Scan, id_before
from guardrails.pii.normalize import ascii_digits

_SEP = r"(?:[ \t]{0,2}(?:\r?\n|[\-./])[ \t]{0,2}|[ \t]{1,2})"
# (?<!\d)\d{3,19}...: written first digit first, so the regex engine skips to digits
_CARD = re.compile(
    ascii_digits(rf"\d(?<!\d\d)\d{{2,18}}(?:{_SEP}\d{{3,19}}){{0,5}}(?:{_SEP}\d{{1,2}})?(?!\d)")
)
# _CARD where it can match 12 characters or more: a match holds only digits and separators
# (spaces, tabs, line breaks, "-./"), so it starts where 12 of them in a row do. The finder
# skips shorter matches anyway; this form lets the regex engine skip them in C
# (tests/test_pii_fast_patterns.py holds it to its plain form and the finder to the old loop).
_CARD_LONG = re.compile(
    ascii_digits(
        rf"\d(?<!\d\d)(?=[\d \t\r\n\-./]{{11}})\d{{2,18}}(?:{_SEP}\d{{3,19}}){{0,5}}"
        rf"(?:{_SEP}\d{{1,2}})?(?!\d)"
    )
)
#: what joins the groups of one number (a space, a tab or a line break may also part two values)
_JOINERS = frozenset("-./")
_IBAN_HEAD = re.compile(ascii_digits(r"[A-Za-z]{2}\d{2}(?: [A-Za-z0-9]{4})* $"))
_DOUBLED = str.maketrans("0123456789", "0246813579")
#: _DOUBLED on the bytes of ASCII digits (a table look-up per byte in C, no dict)
_DOUBLED_BYTES = bytes.maketrans(b"0123456789", b"0246813579")

# issued IIN ranges: (low, high, prefix width, allowed lengths)
_IIN: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    (4, 4, 1, frozenset(range(13, 20))),  # Visa
    (51, 55, 2, frozenset(range(16, 20))),  # Mastercard
    (2221, 2720, 4, frozenset({16})),  # Mastercard 2-series
    (2200, 2204, 4, frozenset(range(16, 20))),  # Mir
    (34, 34, 2, frozenset({15})),
    (37, 37, 2, frozenset({15})),  # American Express
    (300, 305, 3, frozenset(range(14, 20))),
    (309, 309, 3, frozenset(range(14, 20))),
    (36, 36, 2, frozenset(range(14, 20))),
    (38, 39, 2, frozenset(range(14, 20))),  # Diners Club
    (35, 35, 2, frozenset(range(16, 20))),  # JCB
    (1800, 1800, 4, frozenset({15})),
    (2131, 2131, 4, frozenset({15})),  # JCB 15-digit
    (50, 50, 2, frozenset(range(12, 20))),  # Maestro, Verve, RuPay
    (56, 59, 2, frozenset(range(12, 20))),  # Maestro and other 5x
    (60, 69, 2, frozenset(range(12, 20))),  # Discover, Maestro, UnionPay, RuPay, Troy, ...
    (81, 82, 2, frozenset({16})),  # RuPay
    (9792, 9792, 4, frozenset({16})),  # Troy
)


#: _IIN by the number's first four digits: the lengths the ranges allow a number starting so
#: (a card has 12 digits at least, so its first four digits say which ranges it falls in)
_IIN_LENGTHS: dict[int, frozenset[int]] = {}
for _low, _high, _width, _lengths in _IIN:
    _scale = 10 ** (4 - _width)
    for _head in range(_low * _scale, (_high + 1) * _scale):
        _IIN_LENGTHS[_head] = _IIN_LENGTHS.get(_head, frozenset()) | _lengths


def _iin_ok(digits: str) -> bool:
    """``digits`` (12 or more) fall in an issued range of their length."""
    lengths = _IIN_LENGTHS.get(int(digits[:4]))
    return lengths is not None and len(digits) in lengths


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string."""
    if digits.isascii():  # ASCII digits: their byte values summed in C (48 per digit off)
        odd = sum(digits[-1::-2].encode()) - 48 * ((len(digits) + 1) // 2)
        even = sum(digits[-2::-2].encode().translate(_DOUBLED_BYTES)) - 48 * (len(digits) // 2)
        if digits.isdigit():
            return (odd + even) % 10 == 0
    odd = sum(map(int, digits[-1::-2]))
    even = sum(map(int, digits[-2::-2].translate(_DOUBLED)))
    return (odd + even) % 10 == 0


@functools.lru_cache(maxsize=8192)
def _card_score(digits: str) -> float:
    """0.9: Luhn and an issued range; 0.3: Luhn only (context decides); 0: no card."""
    if not 12 <= len(digits) <= 19 or digits.count(digits[0]) == len(digits):
        return 0.0
    if not luhn_ok(digits):
        return 0.0
    if not _iin_ok(digits):
        return 0.3
    return 0.9 if len(digits) >= 15 else 0.8


def _cards(scan: _Scan) -> list[Span]:
    text = scan.text
    out: list[Span] = []
    pos = 0
    while True:
        m = _CARD_LONG.search(text, pos)
        if m is None:
            return out
        if m.end() - m.start() < 12:
            pos = m.end()
            continue
        groups = [g.span() for g in _GROUP.finditer(text, m.start(), m.end())]
        if sum(e - s for s, e in groups) < 12:  # no window of fewer digits is a card
            pos = m.end()
            continue
        found = _card_window(scan, groups, out[-1][1] if out else -1)
        if found is None:
            pos = m.end()
            continue
        out.append(found)
        pos = found[1]


def _id_before(text: str, start: int, previous_end: int) -> bool:
    """Whether the number at ``start`` reads as the tail of an account number or an IBAN.

    The token right before it (one space apart) decides: an IBAN's head, or a token of 3 to 11
    digits that could be a group of the same number. A card found just before (a list of cards,
    "4111... 5555..."), a whole number of 12 digits or more and a short number ("qty 2", "v2")
    do not hide a card.
    """
    hit = id_before(text, max(0, start - 40), start)
    if hit is None:
        return False
    if previous_end >= 0 and not text[previous_end:start].strip(" \t,;"):
        return False  # the previous card itself: a list of cards
    token = hit.group()
    return _IBAN_HEAD.match(token) is not None or 3 <= sum(c.isdigit() for c in token) < 12


def _card_window(scan: _Scan, groups: list[tuple[int, int]], previous_end: int = -1) -> Span | None:
    """The longest valid card in ``groups`` that starts at the first or the second group.

    Several groups make a card only when the first has 4 digits or more (an issuer's prefix:
    "415-555-0132 415-555-0199" holds no card) and each other 3 or more ("1 2 3 4 ..." is not
    how a card is written); one group is a card of 12 to 19 digits.
    """
    text = scan.text
    lens = [e - s for s, e in groups]
    for i in range(min(2, len(groups))):
        if lens[i] < 4:
            continue  # a card's first group has 4 digits or more (its issuer's prefix)
        if i == 1 and 3 <= lens[0] < 12 and text[groups[0][1] : groups[1][0]] in _JOINERS:
            # a group joined to it by "-", "." or "/" ("415-555-0132 415-555-0199"): the tail
            # of that number, as _id_before reads a group one space before
            continue
        total = 0
        ends: list[int] = []
        for j in range(i, len(groups)):
            # groups of 3 digits or more; a short last group after groups of 4 ("...-0691-24")
            short_tail = lens[j] < 3 and j > i + 1 and all(x == 4 for x in lens[i:j])
            if j > i and ((lens[j] < 3 and not short_tail) or lens[i] > 8):
                break
            total += lens[j]
            if total > 19:
                break
            # a short window inside a longer run of groups is a piece of another number
            # a group of 12 digits or more is a whole number, never a piece of one
            if total >= 16 or (total >= 12 and ((j == len(groups) - 1 and i == 0) or j == i)):
                ends.append(j)
        for j in reversed(ends):
            digits = "".join([text[g0:g1] for g0, g1 in groups[i : j + 1]])
            score = _card_score(digits)
            if score == 0.0:
                continue
            s, e = groups[i][0], groups[j][1]
            if _id_before(text, s, previous_end) or (score < 0.9 and scan.negative(s)):
                continue  # the tail of an account number or IBAN; "tracking 591264198092"
            if scan.context("credit_card", s, e):
                score += CONTEXT_BOOST  # also ranks a card above a phone reading of it
            if score >= THRESHOLD:
                return s, e, score
    return None
