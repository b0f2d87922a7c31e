"""Decisions: one middleware's rules (a layer), layers stacked by subagents, the active context.

A :class:`Layer` decides one operation on one path in a single pass: the rules of an operation are
one regular expression whose first matching alternative is the first matching rule (for short,
shallow paths), or the linear-time segment matcher in rule order (for every other path). A
:class:`RuleStack` stacks layers from the outermost agent down; the most restrictive answer wins
unless a ``widen=`` rule grants more. The one ``fs.denied`` emitter lives here too.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from guardrails.audit import emit
from guardrails.filesystem.paths import anchor, within
from guardrails.filesystem.rules import (
    OPERATIONS,
    REGEX_MAX_DEPTH,
    REGEX_MAX_LEN,
    FilesystemPermission,
)

RANK = {"allow": 0, "interrupt": 1, "deny": 2}


@dataclass(frozen=True)
class Decision:
    mode: str
    rule: int | None = None  # index of the deciding rule in its layer; None = a default
    layer: str | None = None
    widened: bool = False
    explicit: bool = True  # False when only defaults (no rule) denied it


ALLOW = Decision("allow")
DENY = Decision("deny")
DEFAULT_DENY = Decision("deny", explicit=False)


class Layer:
    """One middleware's own rules, its default and its widening grants."""

    def __init__(
        self,
        rules: Sequence[FilesystemPermission],
        default: str,
        widen: Sequence[FilesystemPermission],
        name: str,
        tools: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        #: ``tool_paths`` of this layer: a subagent's middleware checks these tools too
        self.tools = {t: dict(a) for t, a in (tools or {}).items()}
        self.default = default
        self.widen = tuple(widen)
        self.name = name
        self.by_op: dict[str, tuple[tuple[int, FilesystemPermission], ...]] = {
            op: tuple((i, r) for i, r in enumerate(self.rules) if op in r.operations)
            for op in OPERATIONS
        }
        self.widen_by_op = {
            op: tuple(r for r in self.widen if op in r.operations) for op in OPERATIONS
        }
        self.restrictive = {
            op: default != "allow" or any(r.mode != "allow" for _, r in self.by_op[op])
            for op in OPERATIONS
        }
        self.regex_safe = all(r.regex_safe for r in self.rules)
        self._matchers: dict[tuple[str, bool], re.Pattern[str] | None] = {}
        for op in OPERATIONS:
            source = "|".join(f"(?P<r{i}>{r._source})" for i, r in self.by_op[op])
            for ci in (False, True):
                flags = re.IGNORECASE if ci else 0
                self._matchers[(op, ci)] = re.compile(source, flags) if source else None
        self._decisions = {f"r{i}": Decision(r.mode, i, name) for i, r in enumerate(self.rules)}
        self._default = Decision(default, None, name, explicit=default == "allow")

    def decide(self, op: str, path: str, ci: bool) -> Decision | None:
        """This layer's answer for a normalized path; None: abstain (``execute``, no rule)."""
        if self.regex_safe and len(path) <= REGEX_MAX_LEN and path.count("/") <= REGEX_MAX_DEPTH:
            matcher = self._matchers[(op, ci)]
            found = matcher.fullmatch(path) if matcher is not None else None
            if found is not None:
                return self._decisions[found.lastgroup or ""]
        else:
            for i, rule in self.by_op[op]:
                if rule.matches(path, ci):
                    return self._decisions[f"r{i}"]
        if op == "execute":
            return None  # abstain: execute needs an explicit allow somewhere
        return self._default

    def decide_any(self, op: str, paths: Sequence[str], ci: bool) -> Decision | None:
        """The first rule matching any of ``paths`` (spellings of one file); else the default."""
        if len(paths) == 1:
            return self.decide(op, paths[0], ci)
        best: Decision | None = None
        for path in paths:
            found = self.decide(op, path, ci)
            if (
                found is not None
                and found.rule is not None
                and (best is None or (best.rule is not None and found.rule < best.rule))
            ):
                best = found  # fmt: skip
        if best is not None:
            return best
        return None if op == "execute" else self._default

    def widens(self, op: str, path: str, ci: bool) -> bool:
        return any(r.matches(path, ci) for r in self.widen_by_op[op])


class RuleStack:
    """Layers from the outermost agent to the innermost subagent; most restrictive wins."""

    def __init__(self, layers: tuple[Layer, ...]) -> None:
        self.layers = layers
        self._children: dict[int, tuple[RuleStack, RuleStack]] = {}
        self._anchors: tuple[str, ...] | None = None
        self._tools: dict[str, dict[str, tuple[str, ...]]] | None = None

    def then(self, inner: RuleStack) -> RuleStack:
        """This policy with ``inner``'s layers added below it (cached; layers deduplicated)."""
        cached = self._children.get(id(inner))
        if cached is not None and cached[0] is inner:
            return cached[1]
        layers = self.layers + tuple(x for x in inner.layers if x not in self.layers)
        composed = RuleStack(layers)
        self._children[id(inner)] = (inner, composed)
        return composed

    def restrictive(self, op: str) -> bool:
        return any(layer.restrictive[op] for layer in self.layers)

    def tools(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Every layer's ``tool_paths`` merged (a tool's arguments and operations united)."""
        if self._tools is None:
            merged: dict[str, dict[str, tuple[str, ...]]] = {}
            for layer in self.layers:
                for tool, args in layer.tools.items():
                    into = merged.setdefault(tool, {})
                    for arg, ops in args.items():
                        into[arg] = tuple(dict.fromkeys((*into.get(arg, ()), *ops)))
            self._tools = merged
        return self._tools

    def anchors(self) -> tuple[str, ...]:
        """The literal folders the rules' patterns start with (``/`` left out), cached."""
        if self._anchors is None:
            found = {
                root
                for layer in self.layers
                for rule in (*layer.rules, *layer.widen)
                for _, root in rule.anchors
                if root != "/"
            }
            self._anchors = tuple(sorted(found))
        return self._anchors

    def decide(self, op: str, path: str, ci: bool) -> Decision:
        return self.decide_any(op, (path,), ci)

    def decide_any(self, op: str, paths: Sequence[str], ci: bool) -> Decision:
        """The decision on one file named by several ``paths`` (its spellings through aliases)."""
        if len(self.layers) == 1 and not self.layers[0].widen:
            only = self.layers[0].decide_any(op, paths, ci)
            return only if only is not None else DENY
        worst: Decision | None = None
        widened = False
        explicit = False
        for layer in self.layers:
            if layer.widen and any(layer.widens(op, p, ci) for p in paths):
                worst, widened, explicit = None, True, False  # an explicit grant overrules
            decision = layer.decide_any(op, paths, ci)
            if decision is None:
                continue
            if decision.mode != "allow" and decision.explicit:
                explicit = True
            if worst is None or RANK[decision.mode] > RANK[worst.mode]:
                worst = decision
        if worst is None:
            return DENY if op == "execute" else ALLOW
        if widened or (worst.mode != "allow" and worst.explicit != explicit):
            return Decision(worst.mode, worst.rule, worst.layer, widened, explicit)
        return worst

    def delete_overlaps(
        self, path: str, ci: bool, modes: tuple[str, ...] = ("deny", "interrupt")
    ) -> list[str]:
        """Write rule paths (of ``modes``) that could match something below folder ``path``.

        A rule rooted below ``path`` (``/a/keep/**`` for a delete of ``/a``), or one rooted above
        it with wildcards that reach below (``**/.env``), could match a descendant: a recursive
        delete would remove it without a decision on it.
        """
        found: list[str] = []
        for layer in self.layers:
            for _, rule in layer.by_op["write"]:
                if rule.mode not in modes:
                    continue
                for pattern, root in rule.anchors:
                    below = root != path and _within(root, path, ci)
                    above = pattern != root and _within(path, root, ci)
                    if below or above or rule.matches(path, ci):
                        origin = next(
                            (p.origin for p in rule._patterns if p.source == pattern), pattern
                        )
                        found.append(origin)
        return list(dict.fromkeys(found))

    def matching_denials(self, op: str, path: str, ci: bool) -> list[str]:
        """Rule paths (as written) of the non-allow rules matching ``path`` for ``op``."""
        found: list[str] = []
        for layer in self.layers:
            for _, rule in layer.by_op[op]:
                if rule.mode != "allow":
                    found.extend(rule.matching(path, ci))
        return list(dict.fromkeys(found))


def _within(path: str, folder: str, ci: bool) -> bool:
    """:func:`within`, with case folded as the rules fold it when ``ci`` (``/DATA`` holds
    ``/data/keep`` on a case-insensitive backend)."""
    if within(path, folder):
        return True
    return ci and re.fullmatch(re.escape(folder) + "(?:/.*)?", path, re.I | re.S) is not None


@dataclass(frozen=True)
class Context:
    """The rules in force for the tool call running now (a subagent inherits them)."""

    policy: RuleStack
    tool: str
    runtime: Any
    guardrail: str
    case_insensitive: bool | None = None  # None: detect per path from the backend
    checked: str | None = None  # a path the middleware decided for this call already
    approved: frozenset[tuple[str, str]] = frozenset()  # (operation, path) a reviewer approved
    subagent: str | None = None  # the subagent a task call starts
    machinery: bool = False  # no tool call: deepagents' own reads and writes (memory, eviction)


#: The context of the innermost guarded tool call running now.
ACTIVE: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "guardrails_fs_active", default=None
)


def audit_denied(
    guardrail: str,
    *,
    runtime: Any,
    tool: str | None,
    operation: str | None,
    path: str | None,
    decision: Decision,
    reason: str,
    via: Callable[..., Any] | None = None,
    **extra: Any,
) -> None:
    """The one ``fs.denied`` event: never file contents; an invalid path is not echoed.

    ``via`` is the middleware's own ``audit`` (checked against its declared events); the guarded
    backend, which has no middleware instance, emits under the guardrail's name.
    """
    send = via if via is not None else partial(emit, guardrail=guardrail)
    send(
        "fs.denied",
        runtime=runtime,
        tool=tool,
        operation=operation,
        path=path,
        rule=decision.rule,
        layer=decision.layer,
        reason=reason,
        decision="deny",
        **extra,
    )


__all__ = [
    "ACTIVE",
    "ALLOW",
    "DENY",
    "RANK",
    "Context",
    "Decision",
    "Layer",
    "RuleStack",
    "anchor",
    "audit_denied",
]
