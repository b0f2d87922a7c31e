"""The decision on one tool call: which of its argument values came from untrusted content."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.injection.atoms import Atom, atoms_of
from guardrails.injection.rules import Allowances
from guardrails.injection.taint import Provenance

__all__ = ["Finding", "judge"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One argument value of untrusted provenance: the atom, its sources, and why."""

    atom: Atom
    sources: tuple[str, ...]
    reason: str  # "untrusted_value" | "built_url" | "copied_text"

    def describe(self) -> str:
        what = {"address": "address", "number": "number", "id": "identifier"}.get(
            self.atom.kind, "value"
        )
        where = ", ".join(repr(s) for s in self.sources)
        if self.reason == "copied_text":
            return (
                f"argument {self.atom.arg!r} repeats a passage of untrusted content from {where} "
                "word for word"
            )
        if self.reason == "built_url":
            return (
                f"argument {self.atom.arg!r} is a URL built on a host ({self.atom.host}) that "
                f"appeared only in untrusted content from {where}"
            )
        return (
            f"argument {self.atom.arg!r} carries the {what} {self.atom.shown()!r}, which appeared "
            f"only in untrusted content from {where}, not in the user's request"
        )


def _texts(value: Any, arg: str = "") -> list[tuple[str, str]]:
    """``[(argument path, string)]`` for every string in an argument value."""
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _texts(v, f"{arg}.{k}" if arg else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in _texts(v, arg)]
    return [(arg, value)] if isinstance(value, str) else []


def judge(
    tool: str,
    args: Mapping[str, Any],
    provenance: Provenance,
    *,
    protected: bool,
    allow: Allowances,
    picks: bool = True,
) -> list[Finding]:
    """The findings on a call: every judged value whose only sources are untrusted.

    A protected call is judged on every value and on passages it repeats word for word from
    untrusted prose (:data:`~guardrails.injection.normalize.GRAM` tokens in a row: a title or
    body that relays planted text); any other call on its addresses only (a read
    whose *request* goes to an address from untrusted text is a way out). A declared allowance
    (``allow={"tool.arg": [sources]}``) lets a value come from those sources, never from others.

    With ``picks`` a value seen only as a single value in fields of structured results
    (``tool#field`` sources: an id in a listing, a hotel's name) is a pick of an existing object
    and passes; once untrusted *prose* names it too, it is judged on every source.
    """
    if not provenance.untrusted:
        return []
    findings: list[Finding] = []
    if protected:
        for arg, text in _texts(dict(args)):
            copied = tuple(
                s for s in provenance.copied_from(text) if not allow.allows(tool, arg, s)
            )
            if copied:
                findings.append(Finding(Atom("phrase", arg, "", ""), copied, "copied_text"))
    judged: set[tuple[str, str]] = set()
    for atom in atoms_of(dict(args)):
        if not protected and atom.kind != "address":
            continue
        key = (atom.arg, atom.squashed)
        if key in judged:
            continue
        judged.add(key)
        sources = provenance.sources_of(atom)
        if picks and all("#" in s for s in sources):
            sources = []
        unallowed = tuple(s for s in sources if not allow.allows(tool, atom.arg, s))
        if unallowed:
            findings.append(Finding(atom, unallowed, "untrusted_value"))
            continue
        if atom.host is not None and not sources:
            hosts = provenance.host_sources(atom)
            if hosts:
                findings.append(Finding(atom, tuple(hosts), "built_url"))
    return findings
