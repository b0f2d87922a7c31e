"""``FilesystemPermission`` and the matcher its patterns compile to.

Patterns are read the way deepagents reads them (``*`` one name, ``**`` any depth, ``?``, ``[ab]``,
``{a,b}``, a backslash escapes the next character), with the gaps of plain glob matching closed:
``*`` and ``**`` match dot-names and ``/x/**`` covers ``/x`` itself. Each pattern compiles twice:

* to a regular expression, used when the path is short and shallow (its backtracking is then
  bounded by a small constant);
* to a segment matcher that cannot backtrack: ``**`` is a star over path segments and ``*`` a star
  over characters, both matched greedily with one resume point (time linear in the path length
  times the pattern length), used for every other path.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from guardrails.errors import GuardrailConfigError

__all__ = ["MODES", "OPERATIONS", "FilesystemPermission", "Pattern"]

OPERATIONS: tuple[str, ...] = ("read", "write", "execute")
MODES: tuple[str, ...] = ("allow", "deny", "interrupt")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_EXPANSIONS = 256
_WILD = frozenset("*?[{\\")
#: Paths up to this long and this deep are matched with the regular expression.
REGEX_MAX_LEN = 512
REGEX_MAX_DEPTH = 24


class PatternNotSupportedError(GuardrailConfigError, NotImplementedError):
    """A pattern deepagents refuses with ``NotImplementedError`` (``~``); also a config error."""


# --------------------------------------------------------------------------- tokens

Token = tuple[Any, ...]  # ("l", char) | ("?",) | ("*",) | ("[", negate, chars, ranges)
_GLOBSTAR = "**"


def _tokens(pattern: str, where: str) -> list[list[Token] | str]:
    """Segments of a brace-free pattern: each a token list, or ``"**"``."""
    segments: list[list[Token] | str] = []
    current: list[Token] = []
    raw = ""  # the segment's source, to tell a whole-segment "**"
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            current.append(("l", pattern[i + 1]))
            raw += "\\" + pattern[i + 1]
            i += 2
            continue
        if char == "/":
            segments.append(_GLOBSTAR if raw == "**" else current)
            current, raw = [], ""
        elif char == "*":
            if not current or current[-1] != ("*",):
                current.append(("*",))
            raw += "*"
        elif char == "?":
            current.append(("?",))
            raw += "?"
        elif char == "[":
            j = i + 1
            negate = j < len(pattern) and pattern[j] in "!^"
            j += negate
            k = j + 1 if j < len(pattern) and pattern[j] == "]" else j
            while k < len(pattern) and pattern[k] not in "]/":
                k += 1
            if k >= len(pattern) or pattern[k] != "]" or k == j:
                raise GuardrailConfigError(f"{where}: path pattern {pattern!r} has an unclosed [ ]")
            body = pattern[j:k]
            chars: set[str] = set()
            ranges: list[tuple[str, str]] = []
            n = 0
            while n < len(body):
                if n + 2 < len(body) and body[n + 1] == "-":
                    ranges.append((body[n], body[n + 2]))
                    n += 3
                else:
                    chars.add(body[n])
                    n += 1
            current.append(("[", negate, frozenset(chars), tuple(ranges)))
            raw += pattern[i : k + 1]
            i = k + 1
            continue
        else:
            current.append(("l", char))
            raw += char
        i += 1
    segments.append(_GLOBSTAR if raw == "**" else current)
    return segments[1:]  # the pattern starts with "/": drop the empty first segment


def _token_regex(token: Token) -> str:
    kind = token[0]
    if kind == "l":
        return re.escape(str(token[1]))
    if kind == "?":
        return "[^/]"
    if kind == "*":
        return "[^/]*"
    negate, chars, ranges = token[1], token[2], token[3]
    body = "".join(re.escape(c) for c in sorted(chars))
    body += "".join(f"{re.escape(a)}-{re.escape(b)}" for a, b in ranges)
    return f"[^/{body}]" if negate else f"[{body}]"


@functools.lru_cache(maxsize=4096)
def _folded(token: Token) -> re.Pattern[str]:
    """The token as the case-insensitive regular expression reads it (one character)."""
    return re.compile(_token_regex(token), re.IGNORECASE)


def _one(token: Token, char: str, ci: bool) -> bool:
    kind = token[0]
    if kind == "?":
        return True
    if ci:
        # exactly the regular expression's case folding (``ſ`` is ``s``, ``K`` is ``k``, the
        # dotted and dotless i are one letter...): both matchers give one answer for a path,
        # whichever its length picks
        return _folded(token).fullmatch(char) is not None
    if kind == "l":
        return bool(token[1] == char)
    negate, chars, ranges = token[1], token[2], token[3]
    hit = char in chars or any(a <= char <= b for a, b in ranges)
    return bool(hit != negate)


def _star_match(pattern: Sequence[Any], items: Sequence[Any], star: Any, one: Any) -> bool:
    """Greedy wildcard matching with one resume point: O(len(items) * len(pattern))."""
    p = i = 0
    star_p, star_i = -1, 0
    n, m = len(items), len(pattern)
    while i < n:
        if p < m and pattern[p] == star:
            star_p, star_i = p, i
            p += 1
        elif p < m and one(pattern[p], items[i]):
            p += 1
            i += 1
        elif star_p >= 0:
            p = star_p + 1
            star_i += 1
            i = star_i
        else:
            return False
    while p < m and pattern[p] == star:
        p += 1
    return p == m


@dataclass(frozen=True)
class Pattern:
    """One brace-free pattern, compiled to a regular expression and a segment matcher."""

    source: str
    origin: str  # the rule path as written
    segments: tuple[tuple[Token, ...] | str, ...]
    regex: str
    regex_safe: bool  # at most one '*' per segment and four '**': bounded backtracking

    @classmethod
    def compile(cls, pattern: str, where: str, origin: str = "") -> Pattern:
        segments = _tokens(pattern, where)
        origin = origin or pattern
        if not segments:  # "/"
            return cls(pattern, origin, (), "/", True)
        parts = [
            "(?:/[^/]+)*" if isinstance(s, str) else "/" + "".join(_token_regex(t) for t in s)
            for s in segments
        ]
        regex = "".join(parts)
        if all(s == _GLOBSTAR for s in segments):
            regex = "/|(?:/[^/]+)+"
        stars = [sum(t == ("*",) for t in s) for s in segments if s != _GLOBSTAR]
        globstars = sum(s == _GLOBSTAR for s in segments)
        safe = all(n <= 1 for n in stars) and globstars <= 4
        frozen: tuple[tuple[Token, ...] | str, ...] = tuple(
            s if isinstance(s, str) else tuple(s) for s in segments
        )
        return cls(pattern, origin, frozen, regex, safe)

    def matches(self, names: Sequence[str], ci: bool) -> bool:
        """Whether the path with segments ``names`` matches, in linear time."""

        if not names and self.segments:
            names = [""]  # the root, as the regular expression sees it ("/" is one empty name)

        def segment(seg: Any, name: str) -> bool:
            return _star_match(seg, name, ("*",), lambda t, c: _one(t, c, ci))

        return _star_match(self.segments, names, _GLOBSTAR, segment)


# --------------------------------------------------------------------------- rules


def _expand_braces(pattern: str) -> list[str]:
    """``/a/{b,c}/*`` -> ``/a/b/*``, ``/a/c/*`` (nested braces too)."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth, end = 0, -1
    for i in range(start, len(pattern)):
        depth += {"{": 1, "}": -1}.get(pattern[i], 0)
        if depth == 0:
            end = i
            break
    if end < 0:
        raise GuardrailConfigError(f"path pattern {pattern!r} has unbalanced {{ }}")
    options: list[str] = []
    current: list[str] = []
    depth = 0
    for char in pattern[start + 1 : end]:
        if char == "," and depth == 0:
            options.append("".join(current))
            current = []
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        current.append(char)
    options.append("".join(current))
    expanded: list[str] = []
    for option in options:
        expanded.extend(_expand_braces(pattern[:start] + option + pattern[end + 1 :]))
        if len(expanded) > _MAX_EXPANSIONS:
            raise GuardrailConfigError(
                f"path pattern {pattern!r} expands to more than {_MAX_EXPANSIONS} patterns"
            )
    return expanded


def _readings(pattern: Any, mode: str, where: str) -> list[str]:
    """The patterns one rule path stands for, validated as deepagents validates it.

    deepagents' refusals and messages: a path not starting with ``/`` (ours also takes ``**/x``),
    a ``..`` part (``ValueError``), a ``~`` part (``NotImplementedError``). A deny or interrupt
    rule whose last name has no wildcard (``/secrets``, ``/secrets/``, ``**/.env``) covers that
    path and everything under it; an allow rule covers the path itself only (deepagents' reading:
    widening an allow is never done for you). A backslash escapes the next character (as in
    deepagents); a deny or interrupt rule also covers the reading with backslashes as
    separators (``/workspace\\sub\\**``).
    """
    if not isinstance(pattern, str) or not pattern:
        raise GuardrailConfigError(f"{where}: a path pattern must be a non-empty string")
    if pattern.startswith("**/"):
        pattern = "/" + pattern
    if not pattern.startswith("/"):
        raise GuardrailConfigError(
            f"Permission path must start with '/': {pattern!r} ({where}; or '**/' for any depth)"
        )
    parts = PurePosixPath(pattern.replace("\\", "/")).parts
    if ".." in parts:
        raise GuardrailConfigError(f"Permission path must not contain '..': {pattern!r}")
    if "~" in parts:
        raise PatternNotSupportedError(f"Permission path must not contain '~': {pattern!r}")
    if _CONTROL.search(pattern):
        raise GuardrailConfigError(f"{where}: path pattern {pattern!r} has a control character")
    depth_square = depth_brace = 0
    for char in pattern:
        depth_square += {"[": 1, "]": -1}.get(char, 0) if depth_square or char == "[" else 0
        depth_brace += {"{": 1, "}": -1}.get(char, 0)
        if depth_brace < 0:
            break
    if depth_square != 0 or depth_brace != 0:
        raise GuardrailConfigError(f"{where}: path pattern {pattern!r} has unbalanced [ ] or {{ }}")
    restrictive = mode != "allow"
    sources = [pattern]
    if restrictive and "\\" in pattern:
        sources.append(pattern.replace("\\", "/"))
    out: list[str] = []
    for source in sources:
        source = unicodedata.normalize("NFC", source)
        segments = [s for s in source.split("/") if s not in ("", ".")]
        clean = "/" + "/".join(segments)
        if restrictive and segments and not any(c in _WILD for c in segments[-1]):
            # a deny / interrupt rule naming a folder covers what is in it: ``/secrets`` is read
            # as ``/secrets/**`` (which covers ``/secrets`` itself), as a user reads it
            clean += "/**"
        out.extend(_expand_braces(clean))
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class FilesystemPermission:
    """One access rule: ``operations`` on paths matching ``paths`` get ``mode``.

    ``operations`` from ``"read"``, ``"write"``, ``"execute"``; ``paths`` are absolute globs
    (``*`` one name, ``**`` any depth, ``{a,b}``, ``[ab]``; dot-names included); ``mode`` is
    ``"allow"``, ``"deny"`` or ``"interrupt"`` (ask a human: approve or reject). deepagents'
    own ``FilesystemPermission`` objects are accepted as they are, with the same refusals.

    Example::

        FilesystemPermission(["read", "write"], ["**/.env"], mode="deny")
        FilesystemPermission(["read", "write"], ["/workspace/**"])            # allow
        FilesystemPermission(["write"], ["/memories/**"], mode="interrupt")
    """

    operations: Sequence[str]
    paths: Sequence[str]
    mode: str = "allow"
    _patterns: tuple[Pattern, ...] = field(init=False, repr=False, compare=False)
    _source: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ops = [self.operations] if isinstance(self.operations, str) else self.operations
        if not ops or any(op not in OPERATIONS for op in ops):
            raise GuardrailConfigError(
                f"FilesystemPermission.operations must be a non-empty list of {list(OPERATIONS)}, "
                f"got {self.operations!r}"
            )
        if self.mode not in MODES:
            raise GuardrailConfigError(
                f"FilesystemPermission.mode must be one of {list(MODES)}, got {self.mode!r}"
            )
        raw = [self.paths] if isinstance(self.paths, str) else self.paths
        if not raw:
            raise GuardrailConfigError("FilesystemPermission.paths must not be empty")
        where = "FilesystemPermission.paths"
        patterns = tuple(
            Pattern.compile(p, where, r) for r in raw for p in _readings(r, self.mode, where)
        )
        object.__setattr__(self, "operations", tuple(ops))
        object.__setattr__(self, "paths", tuple(raw))
        object.__setattr__(self, "_patterns", patterns)
        object.__setattr__(self, "_source", "|".join(f"(?:{p.regex})" for p in patterns))

    @classmethod
    def coerce(cls, rule: Any) -> FilesystemPermission:
        """Ours as is; deepagents' ``FilesystemPermission`` (or any look-alike) converted."""
        if isinstance(rule, cls):
            return rule
        if all(hasattr(rule, a) for a in ("operations", "paths")):
            return cls(list(rule.operations), list(rule.paths), getattr(rule, "mode", "allow"))
        if isinstance(rule, Mapping):
            unknown = set(rule) - {"operations", "paths", "mode"}
            if unknown:
                raise GuardrailConfigError(
                    f"FilesystemPermission: unknown keys {sorted(unknown)}; "
                    "allowed: operations, paths, mode"
                )
            return cls(**rule)
        raise GuardrailConfigError(
            f"rules must be FilesystemPermission instances (ours or deepagents'), got {rule!r}"
        )

    @property
    def anchors(self) -> tuple[tuple[str, str], ...]:
        """``(pattern, literal folder it starts with)`` for each compiled pattern."""
        from guardrails.filesystem.paths import anchor

        return tuple((p.source, anchor(p.source)) for p in self._patterns)

    @property
    def regex_safe(self) -> bool:
        return all(p.regex_safe for p in self._patterns)

    def matches(self, path: str, ignore_case: bool = False) -> bool:
        """Whether a normalized path matches one of this rule's patterns (linear time)."""
        return bool(self.matching(path, ignore_case))

    def matching(self, path: str, ignore_case: bool = False) -> list[str]:
        """The rule paths (as written) whose patterns match a normalized path."""
        names = [s for s in path.split("/") if s]
        found = [p.origin for p in self._patterns if p.matches(names, ignore_case)]
        return list(dict.fromkeys(found))
