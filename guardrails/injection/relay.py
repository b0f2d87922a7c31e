"""Final answers that relay a link or address from untrusted content to the user."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from guardrails.injection.atoms import _DOMAIN, _EMAIL, _URL, Atom, addresses
from guardrails.injection.normalize import DOTS, canonical
from guardrails.injection.taint import Provenance

__all__ = [
    "REDACTED",
    "Unrebuildable",
    "may_hold_link",
    "redact_links",
    "relayed_in",
    "relayed_links",
]

REDACTED = "[link removed: it came from untrusted content]"


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=4096)
def _one(ch: str) -> str:
    form = unicodedata.normalize("NFKC", ch)
    return form if len(form) == 1 else ch


def _view(text: str) -> str:
    """The text links are searched in: each character in its compatibility form when that is
    one character (``ｅｖｉｌ．ｃｏｍ``, ``mark＠evil.com``), IDNA's other full stops read as ``.``
    (``evil。com``), case-folded. Offsets are the text's own unless case folding changed the
    length (then :func:`redact_links` edits this view instead)."""
    if not text.isascii():
        text = _NON_ASCII.sub(lambda m: _one(m.group(0)), text).translate(DOTS)
    return text.casefold()


def may_hold_link(text: str) -> bool:
    """A cheap gate: whether ``text`` can hold an address at all: a dot (every domain and
    e-mail address has one) or a scheme's ``://`` (``http://intranet/``, ``http://2130706433/``),
    in any of the forms :func:`_view` reads."""
    view = text if text.isascii() else _view(text)  # case folding moves no ASCII "." or "://"
    return "." in view or "://" in view


def relayed_links(text: str, provenance: Provenance) -> list[tuple[tuple[int, int], str]]:
    """``[(span, source)]``: the addresses in ``text`` seen only in untrusted content.

    Spans index ``text`` itself when the view keeps its length (almost always); otherwise
    they index the view, which :func:`redact_links` then edits instead.
    """
    found: list[tuple[tuple[int, int], str]] = []
    for atom, span in _spans(_view(text)):
        sources = provenance.sources_of(atom) or provenance.host_sources(atom)
        if sources:
            found.append((span, sources[0]))
    return found


def _spans(text: str) -> list[tuple[Atom, tuple[int, int]]]:
    out: list[tuple[Atom, tuple[int, int]]] = []
    taken: list[tuple[int, int]] = []
    for pattern in (_EMAIL, _URL, _DOMAIN):
        for m in pattern.finditer(text):
            start, end = m.span()
            if any(s <= start < e for s, e in taken):
                continue
            taken.append((start, end))
            for atom in addresses(canonical(m.group(0)), "answer"):
                out.append((atom, (start, end)))
                break
    return out


def redact_links(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span replaced by :data:`REDACTED`."""
    view = _view(text)
    if len(view) != len(text):
        text = view
    for start, end in sorted(set(spans), reverse=True):
        text = text[:start] + REDACTED + text[end:]
    return text


class Unrebuildable(Exception):
    """A structured answer holds a relayed link inside a value of a type it cannot rebuild;
    ``sources`` names where the links came from."""

    def __init__(self, kind: str, sources: list[str]) -> None:
        super().__init__(kind)
        self.sources = sources


#: Nesting past this is not walked: such a value is read whole (``str``), like an unknown type.
_MAX_DEPTH = 32


def relayed_in(value: Any, provenance: Provenance) -> tuple[Any, list[str]]:
    """``(value with every relayed link redacted, [source of each link])`` for a structured
    answer (LangChain's ``structured_response``, a tool call's arguments): strings wherever
    they sit (dict keys and values, lists, tuples, pydantic models, dataclasses). Nothing found:
    ``value`` itself. Raises :class:`Unrebuildable` when a link sits in a value of another type
    (read as ``str(value)``), which cannot be redacted in place."""
    sources: list[str] = []

    def text(s: str) -> str:
        if not may_hold_link(s):
            return s
        links = relayed_links(s, provenance)
        if not links:
            return s
        sources.extend(source for _, source in links)
        return redact_links(s, [span for span, _ in links])

    def walk(v: Any, depth: int) -> Any:
        if isinstance(v, str):
            return text(v)
        if v is None or isinstance(v, (bool, int, float)):
            return v
        if depth < _MAX_DEPTH:
            if type(v) is dict:
                out = {walk(k, depth + 1): walk(x, depth + 1) for k, x in v.items()}
                if len(out) != len(v):  # two keys redacted alike: a value would be lost
                    raise Unrebuildable("dict", sources)
                return out
            if type(v) in (list, tuple):
                return type(v)(walk(x, depth + 1) for x in v)
            if isinstance(v, BaseModel):
                fields = type(v).model_fields
                return v.model_copy(update={n: walk(getattr(v, n), depth + 1) for n in fields})
            if dataclasses.is_dataclass(v) and not isinstance(v, type):
                changes = {
                    f.name: walk(getattr(v, f.name), depth + 1)
                    for f in dataclasses.fields(v)
                    if f.init
                }
                return dataclasses.replace(v, **changes)
        before = len(sources)
        text(str(v))
        if len(sources) != before:
            raise Unrebuildable(type(v).__name__, sources)
        return v

    new = walk(value, 0)
    return (new if sources else value), sources
