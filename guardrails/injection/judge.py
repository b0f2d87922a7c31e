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
    reason: str  # "untrusted_value" | "built_url"

    def describe(self) -> str:
        what = {"address": "address", "number": "number", "id": "identifier"}.get(
            self.atom.kind, "value"
        )
        where = ", ".join(repr(s) for s in self.sources)
        if self.reason == "built_url":
            return (
                f"argument {self.atom.arg!r} is a URL built on a host ({self.atom.host}) that "
                f"appeared only in untrusted content from {where}"
            )
        return (
            f"argument {self.atom.arg!r} carries the {what} {self.atom.shown()!r}, which appeared "
            f"only in untrusted content from {where}, not in the user's request"
        )


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

    A protected call is judged on every value; any other call on its addresses only (a read
    whose *request* goes to an address from untrusted text is a way out). A declared allowance
    (``allow={"tool.arg": [sources]}``) lets a value come from those sources, never from others.

    With ``picks`` a value seen only as a single value in fields of structured results
    (``tool#field`` sources: an id in a listing, a hotel's name) is a pick of an existing object
    and passes; once untrusted *prose* names it too, it is judged on every source.
    """
    if not provenance.untrusted:
        return []
    findings: list[Finding] = []
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
