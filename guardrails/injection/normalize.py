"""One canonical form for text and values, so a copy is recognised in any form a model can write.

A model copies a value from a tool result into a tool call in many forms: another case, spaces
or dashes inside an IBAN, a URL percent-encoded or with its scheme dropped, a JSON-escaped
string, a number as ``1,250.00`` or ``1250``. Both sides, the untrusted text and the arguments,
go through :func:`canonical` and are then compared in three views (:class:`Index`):

* ``squashed``: letters and digits only (``DE89 3704-0044`` -> ``de8937040044``): long values
  (6 characters or more) are found as substrings of it, whatever separators either side used;
* ``tokens``: the runs of letters and digits, space-separated and padded (`` file 13 ``): short
  values and phrases are found as whole token sequences (``13`` is not found in ``2013``);
* ``numbers``: every number in canonical decimal form (``1,250.00`` -> ``1250``).

Every pattern here is linear on adversarial input (a lookbehind pins each match to the start of
a run, so no start position is scanned twice); ``tests/test_injection_linear.py`` checks 1 MB.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import unquote

__all__ = [
    "DOTS",
    "Index",
    "canonical",
    "index",
    "number_form",
    "squash",
    "token_form",
]

_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_NON_ALNUM = re.compile(r"[\W_]+")
_ALNUM_RUN = re.compile(r"[^\W_]+")
#: A number not glued to letters or digits: ``1,250.50``, ``13``, ``13th``, ``0.5``.
_NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?:st|nd|rd|th)?(?![\w])"
)
_MAX_DECODE = 3
#: The label separators IDNA (UTS #46) reads as ``.`` in a host name: ``evil。com`` is
#: ``evil.com`` to a browser or an HTTP client.
DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def canonical(text: str) -> str:
    """``text`` decoded (percent, JSON ``\\uXXXX``, HTML entities), NFKC, invisible marks
    removed, IDNA's other full stops (:data:`DOTS`) read as ``.``, and case-folded: the one
    form both sides are compared in.

    Example::

        canonical("Mark%2EBlack%40Evil.COM")  # "mark.black@evil.com"
    """
    for _ in range(_MAX_DECODE):
        before = text
        if "%" in text:
            text = unquote(text)
        if "\\u" in text or "\\/" in text:
            text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).replace("\\/", "/")
        if "&" in text:
            text = html.unescape(text)
        if text == before:
            break
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = _INVISIBLE.sub("", text).translate(DOTS)
    return text.casefold()


def squash(text: str) -> str:
    """Letters and digits of a canonical text only."""
    return _NON_ALNUM.sub("", text)


def token_form(text: str) -> str:
    """The letter/digit runs of a canonical text, space-joined (no padding)."""
    return " ".join(_ALNUM_RUN.findall(text))


def number_form(raw: str | int | float | Decimal) -> str | None:
    """A number in canonical decimal form: ``"1,250.00"`` and ``1250`` are both ``"1250"``."""
    if isinstance(raw, bool):
        return None
    try:
        value = Decimal(str(raw).replace(",", "")) if not isinstance(raw, Decimal) else raw
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_MONTH_BEFORE = re.compile(_MONTH + r",?\s*$")
_MONTH_AFTER = re.compile(r"^(?:st|nd|rd|th)?,?\s*(?:of\s+)?" + _MONTH + r"(?![a-z])")
_TIME = re.compile(r"^(?::\d{2}|\s*[ap]\.?m\b|\s*o'?clock)")


def _date_or_time(text: str, start: int, end: int) -> bool:
    """Whether the number at ``text[start:end]`` is a day of a month or an hour (``June 13``,
    ``13th of June``, ``13:00``, ``3 pm``): dates and times are not judged."""
    return bool(
        _MONTH_BEFORE.search(text[max(0, start - 12) : start])
        or _MONTH_AFTER.match(text[end : end + 20])
        or _TIME.match(text[end : end + 10])
        or (start > 0 and text[start - 1] == ":")
    )


def numbers_in(text: str) -> frozenset[str]:
    """Every number in a canonical text, in :func:`number_form` (days and hours excluded)."""
    raw: set[str] = set()
    for m in _NUMBER.finditer(text):
        item = m.group(1)
        if item in raw:
            continue  # one plain occurrence is enough
        if len(item) <= 2 and _date_or_time(text, m.start(), m.end()):
            continue  # a day or an hour
        raw.add(item)
    found = set()
    for item in raw:
        if item.isdigit():
            found.add(item.lstrip("0") or "0")  # the common case, without Decimal
        else:
            form = number_form(item)
            if form is not None:
                found.add(form)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Index:
    """A text in the three views values are looked up in (see the module docs)."""

    squashed: str
    tokens: str
    numbers: frozenset[str]

    def has_squashed(self, value: str) -> bool:
        return bool(value) and value in self.squashed

    def has_tokens(self, tokens: str) -> bool:
        return bool(tokens) and f" {tokens} " in self.tokens

    def has_number(self, form: str) -> bool:
        return form in self.numbers

    @staticmethod
    def join(parts: list[Index]) -> Index:
        """One index over several texts; a value is never found across two of them."""
        if len(parts) == 1:
            return parts[0]
        return Index(
            "|".join(p.squashed for p in parts),
            "|".join(p.tokens for p in parts),
            frozenset().union(*(p.numbers for p in parts)),
        )


EMPTY = Index("", "", frozenset())

#: Tokens in a row that make a copied passage (a title or body repeating planted text).
GRAM = 6


@lru_cache(maxsize=256)
def grams(tokens: str) -> frozenset[str]:
    """Every run of :data:`GRAM` tokens of an index's token view (cached by content)."""
    out: set[str] = set()
    for part in tokens.split("|"):
        words = part.split()
        for i in range(len(words) - GRAM + 1):
            out.add(" ".join(words[i : i + GRAM]))
    return frozenset(out)


@lru_cache(maxsize=4096)
def index(text: str) -> Index:
    """The :class:`Index` of a raw text (cached by content)."""
    norm = canonical(text)
    return Index(squash(norm), f" {token_form(norm)} ", numbers_in(norm))
