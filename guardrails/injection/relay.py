"""Final answers that relay a link or address from untrusted content to the user."""

from __future__ import annotations

from guardrails.injection.atoms import _DOMAIN, _EMAIL, _URL, Atom, addresses
from guardrails.injection.normalize import canonical
from guardrails.injection.taint import Provenance

__all__ = ["REDACTED", "redact_links", "relayed_links"]

REDACTED = "[link removed: it came from untrusted content]"


def relayed_links(text: str, provenance: Provenance) -> list[tuple[tuple[int, int], str]]:
    """``[(span, source)]``: the addresses in ``text`` seen only in untrusted content.

    Spans index ``text`` itself when case-folding keeps its length (almost always); otherwise
    they index the case-folded text, which :func:`redact_links` then edits instead.
    """
    found: list[tuple[tuple[int, int], str]] = []
    for atom, span in _spans(text.casefold()):
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
    if len(text.casefold()) != len(text):
        text = text.casefold()
    for start, end in sorted(set(spans), reverse=True):
        text = text[:start] + REDACTED + text[end:]
    return text
