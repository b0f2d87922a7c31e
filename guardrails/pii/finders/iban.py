"""IBANs: a country code, two check digits and up to 30 letters or digits in groups of at most
four; the ISO 13616 mod-97 checksum and the length each country registered."""

from __future__ import annotations

import functools
import re
import string

from guardrails.pii.context import Span, _Scan
from guardrails.pii.finders.spaceless import not_before
from guardrails.pii.normalize import ascii_digits

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
# (?<![A-Za-z0-9])[A-Za-z]{2}...: written first letter first (the engine skips to letters)
_IBAN = re.compile(
    ascii_digits(
        r"[A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z][ \t]?\d[ \t.\-]?\d"
        r"(?:(?:[ \t]{1,2}|[.\-/]|[ \t]?\r?\n[ \t]?)?[A-Za-z0-9]{1,4}){2,9}"
    )
)
_ALNUM = re.compile(r"[A-Za-z0-9]")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_WORD = re.compile(r"[A-Za-z0-9]+" + not_before(r"\w"))


#: an ASCII letter as the number ISO 13616 gives it (``int(c, 36)``: A or a = 10 ... Z = 35)
_AS_DIGITS = {ord(c): str(int(c, 36)) for c in string.ascii_letters}


@functools.lru_cache(maxsize=4096)
def iban_ok(compact: str, strict: bool = True) -> bool:
    """The ISO 13616 mod-97 check of an upper-case IBAN without separators (``strict``: and
    the length its country registered; otherwise any length from 15 to 34)."""
    length = _IBAN_LENGTHS.get(compact[:2], -1)
    if (strict and len(compact) != length) or not compact[2:4].isdigit():
        return False
    if not strict and (length < 0 or not 15 <= len(compact) <= 34):
        return False
    moved = compact[4:] + compact[:4]
    if moved.isascii() and moved.isalnum():  # each letter as its two digits, in C
        return int(moved.translate(_AS_DIGITS)) % 97 == 1
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _ibans(scan: _Scan) -> list[Span]:
    text = scan.text
    out: list[Span] = []
    # a candidate's checksum depends on its own characters only: a text that repeats one
    # (adversarial input, a table) checks it once. value -> the country's length when the
    # first that many characters pass, 0 when they do not, -1 for no IBAN country
    checked: dict[str, int] = {}
    pos = 0
    while True:
        m = _IBAN.search(text, pos)
        if m is None:
            return out
        start = m.start()
        pos = start + 4  # on failure, go on from the next word (the match may span two)
        value = m.group(0)
        length = checked.get(value)
        if length is None:
            length = _IBAN_LENGTHS.get(value[:2].upper(), -1)
            if length > 0:
                compact = _NOT_ALNUM.sub("", value)
                if not (len(compact) >= length and iban_ok(compact[:length].upper())):
                    length = 0
            checked[value] = length
        if length < 0:
            continue
        if length:
            chars = list(_ALNUM.finditer(text, start, m.end()))
            end = chars[length - 1].end()
            if not (end < len(text) and text[end].isalnum() and text[end].isascii()):
                out.append((start, end, 0.95))
                pos = end
                continue
        # checksum right, length off ("GB" + 19): one word of 15 to 34 letters and digits, so
        # its first 15 characters are in the candidate without a separator
        if not value[:15].isalnum() or len(value) < 15:
            continue
        word = _WORD.match(text, start)
        if (
            word is not None
            and 15 <= len(word.group(0)) <= 34
            and word.group(0).isupper()
            and iban_ok(word.group(0), strict=False)
        ):
            out.append((start, word.end(), 0.6))
            pos = word.end()
