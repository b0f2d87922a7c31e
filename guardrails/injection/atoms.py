"""The values inside a tool call's arguments that provenance is judged on (*atoms*).

An argument is walked (strings, numbers, lists, dicts, nested) and each scalar becomes atoms:

* **address**: an e-mail address, a URL or a domain (``evil.com``), anywhere in any string,
  prose included. Addresses are where data goes *out* (a recipient, a fetched URL, a link a
  message carries), so they are judged in every argument of every tool.
* **number**: an integer or decimal (``13``, ``1,250.00``), compared by value.
* **id**: a run of letters and digits with at least one digit (``US133000...``, ``inv-2024-7``),
  compared without separators when 6 characters or longer, else as whole tokens.
* **phrase**: a short string as a whole (``Riverside View Hotel``, ``alice``), compared as a
  token sequence.

A *content* string (four words of letters or more: a message body, a summary) yields its
addresses only: a reply may quote numbers and names from what it answers, but a link or an
address it carries can take a reader or data somewhere. Dates and times (``2024-05-13``,
``10:30``) are not judged (a model rewrites them from the user's words; see the docs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from guardrails.injection.normalize import canonical, number_form, numbers_in, squash, token_form

__all__ = ["Atom", "addresses", "atoms_of", "is_content"]

AtomKind = Literal["address", "number", "id", "phrase"]

_TLDS = (
    "com|org|net|io|co|ai|app|dev|info|biz|me|us|uk|de|fr|es|it|nl|ch|at|be|eu|ca|au|in|jp|cn|ru|"
    "br|se|no|dk|fi|pl|cz|pt|ie|nz|xyz|site|online|shop|store|link|click|top|cc|tv|gov|edu|mil|ly"
)
_EMAIL = re.compile(r"(?<![\w.%+\-])[\w.%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+")
_URL = re.compile(r"(?<![\w/])(?:[a-z][a-z0-9+.\-]{1,9}://|www\.)[^\s<>\"'`\[\]{}()|\\^]+")
_DOMAIN = re.compile(
    rf"(?<![\w\-.@/])[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.(?:{_TLDS})(?![\w\-])(?:/[^\s<>\"'`]*)?"
)
_ID = re.compile(r"(?<![\w])[^\W_]*\d[^\W_]*(?:[ \-./_][^\W_]*\d[^\W_]*)*")
_DATE = re.compile(
    r"^\d{4}-\d{1,2}-\d{1,2}(?:[ t]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+\-]\d{2}:?\d{2})?)?$"
    r"|^\d{1,2}:\d{2}(?::\d{2})?(?: ?[ap]m)?$|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}$"
)
_WORDS = 4
_SHORT = 6
#: A longer string is never one identifier: only its addresses are judged.
_MAX_IDENTIFIER = 2048


@dataclass(frozen=True, slots=True)
class Atom:
    """One value to judge: its kind, the argument path it sits at, and its lookup forms.

    ``squashed`` / ``tokens`` / ``number`` are the forms looked up in an index; ``host`` is the
    squashed host of a URL (a URL *built* on a tainted host is judged by it).
    """

    kind: AtomKind
    arg: str
    squashed: str
    tokens: str
    number: str | None = None
    host: str | None = None

    @property
    def long(self) -> bool:
        return len(self.squashed) >= _SHORT

    def shown(self) -> str:
        """A short preview for the model's error text (never for audit logs)."""
        text = self.number or self.tokens or self.squashed
        return text if len(text) <= 40 else text[:37] + "..."


_WORD = re.compile(r"(?<!\S)[^\W\d_]{2,}[.,;:!?]?(?!\S)")


def is_content(text: str) -> bool:
    """Free text: four words of letters or more (``US13 3000 0001 ...`` is not), not an id."""
    return any(count >= _WORDS for count, _ in enumerate(_WORD.finditer(text), start=1))


def _host_of(url: str) -> str:
    rest = url.split("://", 1)[1] if "://" in url else url
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    return host[4:] if host.startswith("www.") else host


def _strip_scheme(url: str) -> str:
    rest = url.split("://", 1)[1] if "://" in url else url
    rest = rest[4:] if rest.startswith("www.") else rest
    return rest.rstrip("/.,;:!?")


def addresses(norm: str, arg: str) -> list[Atom]:
    """The e-mail addresses, URLs and domains in a canonical text."""
    found: list[Atom] = []
    taken: list[tuple[int, int]] = []
    for m in _EMAIL.finditer(norm):
        value = m.group(0).rstrip(".")
        taken.append(m.span())
        found.append(Atom("address", arg, squash(value), token_form(value)))
    for pattern in (_URL, _DOMAIN):
        for m in pattern.finditer(norm):
            start, end = m.span()
            if any(s <= start < e for s, e in taken):
                continue
            taken.append((start, end))
            value = _strip_scheme(m.group(0))
            host = squash(_host_of(m.group(0)))
            if not host:
                continue
            found.append(Atom("address", arg, squash(value), token_form(value), host=host))
    return found


def _scalar(value: Any, arg: str) -> Iterator[Atom]:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        form = number_form(value)
        if form is not None:
            yield Atom("number", arg, squash(form), token_form(form), number=form)
        return
    if not isinstance(value, str):
        value = str(value)
    norm = canonical(value).strip()
    if not norm:
        return
    if len(norm) > _MAX_IDENTIFIER or is_content(norm):
        yield from addresses(norm, arg)
        return
    if _DATE.match(norm):
        return
    found = addresses(norm, arg)
    yield from found
    if found:
        return  # an address argument: judged as an address, not piece by piece
    whole_number = number_form(norm.replace(" ", "")) if re.fullmatch(r"[\d.,\s]+", norm) else None
    if whole_number is not None:
        yield Atom("number", arg, squash(norm), token_form(norm), number=whole_number)
        return
    for form in numbers_in(norm):
        yield Atom("number", arg, squash(form), token_form(form), number=form)
    for m in _ID.finditer(norm):
        raw = m.group(0)
        yield Atom("id", arg, squash(raw), token_form(raw))
    tokens = token_form(norm)
    if any(ch.isalpha() for ch in tokens) and len(squash(norm)) >= 2:
        yield Atom("phrase", arg, squash(norm), tokens)


def atoms_of(value: Any, arg: str = "") -> Iterator[Atom]:
    """Every atom of an argument value (nested lists and dicts walked, keys excluded)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from atoms_of(item, f"{arg}.{key}" if arg else str(key))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from atoms_of(item, arg)
    else:
        yield from _scalar(value, arg)
