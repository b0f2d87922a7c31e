"""Path-based permissions for an agent's file tools, with nothing leaking through bulk results.

:class:`FilesystemPermission` rules (first match wins, like deepagents' own) are compiled once at
construction; :class:`FilesystemPermissionMiddleware` checks every file tool call in
``wrap_tool_call`` / ``awrap_tool_call``:

* every path is normalized first (``.``/``..`` resolved, repeated and trailing slashes removed,
  Unicode NFC; backslashes, NUL and control characters rejected; a path escaping the root is
  denied) and the normalized path is what the backend then receives;
* ``*`` and ``**`` match dot-names (``deny /secrets/**`` covers ``/secrets/.env``) and ``/x/**``
  covers ``/x`` itself;
* with a ``FilesystemBackend`` symlinks are resolved and both the link and its target must be
  allowed; while any rule denies an operation, a file with several hard links is refused for it
  (the rules name paths and a hard link is another path to the same data);
* ``ls``, ``glob`` and ``grep`` run on a guarded copy of the backend that drops denied entries and
  lines *before* deepagents counts, truncates or hints, so neither a result nor a note reveals a
  denied file; ``grep``'s ``max_count`` is applied after filtering;
* ``edit_file`` needs read and write; ``execute`` is denied unless a rule allows ``"execute"``;
* a denied path gets the same answer whether or not it exists, before the backend is touched.

Layers: a subagent's middleware composes the rules of the agent that called it (carried in a
context variable while the parent's ``task`` tool runs) with its own; the most restrictive answer
wins unless a ``widen=`` rule grants more, which is audited.
:meth:`FilesystemPermissionMiddleware.guard` wraps a backend so that subagents with no middleware
of ours (a compiled subagent, ``permissions: []``) are held to the same rules.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import inspect
import os
import re
import stat
import unicodedata
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolMessage
from langgraph.errors import GraphInterrupt
from langgraph.types import interrupt

from guardrails._adapters import deepagents as _da
from guardrails._core import IO, Call, Flow, ToolHook
from guardrails.audit import emit
from guardrails.errors import GuardrailConfigError

__all__ = [
    "FilesystemPermission",
    "FilesystemPermissionMiddleware",
    "PathRejectedError",
    "normalize_path",
]

Operation = Literal["read", "write", "execute"]
Mode = Literal["allow", "deny", "interrupt"]
OPERATIONS: tuple[str, ...] = ("read", "write", "execute")
MODES: tuple[str, ...] = ("allow", "deny", "interrupt")
_RANK = {"allow": 0, "interrupt": 1, "deny": 2}
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_WILDCARDS = frozenset("*?[{")
_NAME = "FilesystemPermissionMiddleware"

# --------------------------------------------------------------------------- paths


class PathRejectedError(ValueError):
    """A path that cannot be checked safely (control characters, backslashes, escaping the root)."""


def normalize_path(path: str) -> str:
    """Normalize an agent-supplied path the way the backend resolves it, or raise.

    Example::

        normalize_path("/public/../secret.txt")  # "/secret.txt"
        normalize_path("/a//b/./c/")             # "/a/b/c"
    """
    if not isinstance(path, str) or not path:
        raise PathRejectedError("the path is empty or not a string")
    if (  # fast path: an already normalized ASCII path (ASCII is its own NFC form)
        path[0] == "/"
        and path.isascii()
        and "//" not in path
        and "/./" not in path
        and "/../" not in path
        and (len(path) == 1 or not path.endswith(("/", "/.", "/..")))
        and _BAD_CHARS.search(path) is None
    ):
        return path
    if _BAD_CHARS.search(path):
        raise PathRejectedError("backslashes, NUL and control characters are not allowed")
    if path.startswith("~") or _DRIVE.match(path):
        raise PathRejectedError("only absolute virtual paths ('/...') are allowed")
    parts: list[str] = []
    for segment in unicodedata.normalize("NFC", path).split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise PathRejectedError("the path escapes the root")
            parts.pop()
            continue
        parts.append(segment)
    return "/" + "/".join(parts)


def _anchor(pattern: str) -> str:
    """The literal folder a pattern starts with (``/a/b`` for ``/a/b/*.md``; ``/`` if none)."""
    literal: list[str] = []
    for segment in pattern.split("/")[1:]:
        if any(c in _WILDCARDS for c in segment):
            break
        literal.append(segment)
    return "/" + "/".join(literal)


def _glob_root(pattern: str) -> str:
    """The folder an absolute glob pattern names (``/workspace`` for ``/workspace/*.txt``)."""
    segments = pattern.split("/")[1:-1]
    literal: list[str] = []
    for segment in segments:
        if any(c in _WILDCARDS for c in segment):
            break
        literal.append(segment)
    return "/" + "/".join(literal)


def _within(path: str, folder: str) -> bool:
    return folder == "/" or path == folder or path.startswith(folder + "/")


# --------------------------------------------------------------------------- rules


def _check_pattern(pattern: Any, where: str) -> str:
    if not isinstance(pattern, str) or not pattern:
        raise GuardrailConfigError(f"{where}: a path pattern must be a non-empty string")
    if pattern.startswith("**/"):
        pattern = "/" + pattern
    if not pattern.startswith("/"):
        raise GuardrailConfigError(
            f"{where}: path pattern {pattern!r} is relative; patterns must be absolute "
            "('/workspace/**') or start with '**/' ('**/.env')"
        )
    if _BAD_CHARS.search(pattern):
        raise GuardrailConfigError(
            f"{where}: path pattern {pattern!r} has a backslash or a control character"
        )
    depth_square = depth_brace = 0
    for char in pattern:
        depth_square += {"[": 1, "]": -1}.get(char, 0) if depth_square or char == "[" else 0
        depth_brace += {"{": 1, "}": -1}.get(char, 0)
        if depth_brace < 0:
            break
    if depth_square != 0 or depth_brace != 0:
        raise GuardrailConfigError(f"{where}: path pattern {pattern!r} has unbalanced [ ] or {{ }}")
    return unicodedata.normalize("NFC", pattern)


_MAX_EXPANSIONS = 256


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


def _segment_regex(segment: str, pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            if not out or out[-1] != "[^/]*":
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            j = i + 1
            negate = j < len(segment) and segment[j] in "!^"
            j += negate
            k = j + 1 if j < len(segment) and segment[j] == "]" else j
            while k < len(segment) and segment[k] != "]":
                k += 1
            if k >= len(segment) or k == j:
                raise GuardrailConfigError(f"path pattern {pattern!r} has an unclosed [ ]")
            body = "".join("-" if c == "-" else re.escape(c) for c in segment[j:k])
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            i = k + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _pattern_regex(pattern: str) -> str:
    """A regex for one brace-free pattern, matched against normalized paths.

    Normalized paths have no empty, ``.`` or ``..`` segment, so ``**`` is simply "any number of
    names" (dot-names included) and ``/x/**`` covers ``/x`` itself.
    """
    segments = pattern.split("/")[1:]
    if pattern == "/":
        return "/"
    if all(s == "**" for s in segments):
        return "/|(?:/[^/]+)+"
    return "".join(
        "(?:/[^/]+)*" if s == "**" else "/" + _segment_regex(s, pattern) for s in segments
    )


def _check_segments(pattern: str, where: str) -> None:
    segments = pattern.split("/")[1:]
    if pattern != "/" and any(s in ("", ".", "..") for s in segments):
        raise GuardrailConfigError(
            f"{where}: path pattern {pattern!r} has an empty, '.' or '..' segment "
            "(patterns are matched against normalized paths)"
        )
    if any("**" in s and s != "**" for s in segments):
        raise GuardrailConfigError(
            f"{where}: path pattern {pattern!r}: '**' must be a whole segment ('/a/**/b')"
        )


def _rule_regex(patterns: Sequence[str], where: str) -> str:
    alternatives: list[str] = []
    for pattern in patterns:
        for expanded in _expand_braces(pattern):
            _check_segments(expanded, where)
            alternatives.append(_pattern_regex(expanded))
    return "|".join(f"(?:{a})" for a in alternatives)


@dataclass(frozen=True)
class FilesystemPermission:
    """One access rule: ``operations`` on paths matching ``paths`` get ``mode``.

    ``operations`` from ``"read"``, ``"write"``, ``"execute"``; ``paths`` are absolute globs
    (``*`` one name, ``**`` any depth, ``{a,b}``, ``[ab]``; dot-names included); ``mode`` is
    ``"allow"``, ``"deny"`` or ``"interrupt"`` (ask a human: approve or reject).

    Example::

        FilesystemPermission(["read", "write"], ["/workspace/**"])            # allow
        FilesystemPermission(["read", "write"], ["**/.env"], mode="deny")
        FilesystemPermission(["write"], ["/memories/**"], mode="interrupt")
    """

    operations: Sequence[str]
    paths: Sequence[str]
    mode: str = "allow"
    _source: str = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _regex_i: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _anchors: tuple[str, ...] = field(init=False, repr=False, compare=False)

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
        paths = tuple(_check_pattern(p, "FilesystemPermission.paths") for p in raw)
        object.__setattr__(self, "operations", tuple(ops))
        object.__setattr__(self, "paths", paths)
        source = _rule_regex(paths, "FilesystemPermission.paths")
        object.__setattr__(self, "_source", source)
        object.__setattr__(self, "_regex", re.compile(source))
        object.__setattr__(self, "_regex_i", re.compile(source, re.IGNORECASE))
        object.__setattr__(self, "_anchors", tuple(_anchor(p) for p in paths))

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

    def matches(self, path: str, ignore_case: bool = False) -> bool:
        """Whether a normalized path matches one of this rule's patterns."""
        return (self._regex_i if ignore_case else self._regex).fullmatch(path) is not None


# --------------------------------------------------------------------------- layers and policy


@dataclass(frozen=True)
class _Decision:
    mode: str
    rule: int | None = None  # index of the deciding rule in its layer; None = default
    layer: str | None = None
    widened: bool = False


_ALLOW = _Decision("allow")
_DENY = _Decision("deny")


class _Layer:
    """One middleware's own rules, its default and its widening grants."""

    def __init__(
        self, rules: Sequence[FilesystemPermission], default: str, widen: Sequence[Any], name: str
    ) -> None:
        self.rules = tuple(rules)
        self.default = default
        self.widen = tuple(FilesystemPermission.coerce(r) for r in widen)
        self.name = name
        self.by_op: dict[str, tuple[tuple[int, FilesystemPermission], ...]] = {
            op: tuple((i, r) for i, r in enumerate(self.rules) if op in r.operations)
            for op in OPERATIONS
        }
        self.widen_by_op = {
            op: tuple(r for r in self.widen if op in r.operations and r.mode == "allow")
            for op in OPERATIONS
        }
        self.restrictive = {
            op: default != "allow" or any(r.mode != "allow" for _, r in self.by_op[op])
            for op in OPERATIONS
        }

        # One regex per operation, rules as named alternatives in order: the first rule that
        # matches is the alternative the regex engine takes (first match wins), in one pass.
        self._matchers: dict[tuple[str, bool], re.Pattern[str] | None] = {}
        self._decisions: dict[str, _Decision] = {}
        for op in OPERATIONS:
            source = "|".join(f"(?P<r{i}>{r._source})" for i, r in self.by_op[op])
            for ci in (False, True):
                flags = re.IGNORECASE if ci else 0
                self._matchers[(op, ci)] = re.compile(source, flags) if source else None
        for i, rule in enumerate(self.rules):
            self._decisions[f"r{i}"] = _Decision(rule.mode, i, name)
        self._default = _Decision(default, None, name)

    def decide(self, op: str, path: str, ci: bool) -> _Decision | None:
        matcher = self._matchers[(op, ci)]
        if matcher is not None:
            found = matcher.fullmatch(path)
            if found is not None:
                return self._decisions[found.lastgroup or ""]
        if op == "execute":
            return None  # abstain: execute needs an explicit allow somewhere
        return self._default

    def widens(self, op: str, path: str, ci: bool) -> bool:
        return any(r.matches(path, ci) for r in self.widen_by_op[op])


class _Policy:
    """Layers from the outermost agent to the innermost subagent; most restrictive wins."""

    def __init__(self, layers: tuple[_Layer, ...]) -> None:
        self.layers = layers
        self._children: dict[int, tuple[_Policy, _Policy]] = {}

    def then(self, inner: _Policy) -> _Policy:
        """This policy with ``inner``'s layers added below it (cached; layers deduplicated)."""
        cached = self._children.get(id(inner))
        if cached is not None and cached[0] is inner:
            return cached[1]
        layers = self.layers + tuple(x for x in inner.layers if x not in self.layers)
        composed = _Policy(layers)
        self._children[id(inner)] = (inner, composed)
        return composed

    def restrictive(self, op: str) -> bool:
        return any(layer.restrictive[op] for layer in self.layers)

    def decide(self, op: str, path: str, ci: bool) -> _Decision:
        if len(self.layers) == 1 and not self.layers[0].widen:
            only = self.layers[0].decide(op, path, ci)
            return only if only is not None else _DENY
        worst: _Decision | None = None
        widened = False
        for layer in self.layers:
            if layer.widen and layer.widens(op, path, ci):
                worst, widened = None, True  # explicit grant: the layers above are overruled
            decision = layer.decide(op, path, ci)
            if decision is not None and (worst is None or _RANK[decision.mode] > _RANK[worst.mode]):
                worst = decision
        if worst is None:
            return _DENY if op == "execute" else _ALLOW
        if widened:
            return _Decision(worst.mode, worst.rule, worst.layer, widened=True)
        return worst

    def delete_overlaps_denied(self, path: str) -> int | None:
        """Index of a write rule that could deny something under folder ``path``.

        A rule rooted below ``path`` (``/a/keep/**`` for a delete of ``/a``), or one rooted above
        it with wildcards that reach below (``**/.env``), could match a descendant; a recursive
        delete would remove it without a decision on it, so it is refused.
        """
        for layer in self.layers:
            for index, rule in layer.by_op["write"]:
                if rule.mode == "allow":
                    continue
                for pattern, anchor in zip(rule.paths, rule._anchors, strict=True):
                    below = anchor != path and _within(anchor, path)
                    above = pattern != anchor and _within(path, anchor)
                    if below or above:
                        return index
        return None


@dataclass(frozen=True)
class _Context:
    policy: _Policy
    tool: str
    ci: bool
    runtime: Any
    guardrail: str
    checked: str | None = None  # a path the middleware decided for this call


#: The policy of the innermost guarded tool call running now (a subagent inherits it).
_ACTIVE: contextvars.ContextVar[_Context | None] = contextvars.ContextVar(
    "guardrails_fs_active", default=None
)

# --------------------------------------------------------------------------- backends


_FS_MODULE: Any = None


def _deepagents() -> Any:
    """``deepagents.middleware.filesystem`` (imported once), or None when not installed."""
    global _FS_MODULE
    if _FS_MODULE is None:
        try:
            import deepagents.middleware.filesystem as fs

            _FS_MODULE = fs
        except ImportError:  # pragma: no cover - deepagents is optional
            _FS_MODULE = False
    return _FS_MODULE or None


def _resolve(backend: Any, path: str) -> tuple[Path, str] | None:
    """``(host path, virtual path after symlinks)`` under a FilesystemBackend (maybe routed).

    One resolution, the same one the backend makes (``FilesystemBackend._resolve_path``); raises
    ``ValueError`` when the path escapes the root, ``OSError`` on a symlink loop.
    """
    fs = _deepagents()
    if fs is None:
        return None
    if isinstance(backend, fs.CompositeBackend):
        routed, routed_path, prefix = _da.route_for_path(backend, path)
        found = _resolve(routed, routed_path)
        if found is None or prefix is None:
            return found
        return found[0], normalize_path(prefix.rstrip("/") + found[1])
    if isinstance(backend, fs.FilesystemBackend):
        host = _da.backend_host_path(backend, path)
        if backend.virtual_mode:
            relative = host.relative_to(backend.cwd)
        else:
            host = Path(os.path.realpath(host))
            relative = host.relative_to(host.anchor)
        posix = relative.as_posix()
        return host, "/" if posix == "." else "/" + posix
    return None


_CI_CACHE: dict[str, bool] = {}


def _case_insensitive_dir(folder: Path) -> bool:
    """Whether ``folder`` sits on a case-insensitive volume (probed once per folder)."""
    key = str(folder)
    if key not in _CI_CACHE:
        probe = folder / ".guardrails-case-Probe"
        result = False
        try:
            probe.touch(exist_ok=True)
            try:
                result = (folder / ".GUARDRAILS-CASE-PROBE").exists()
            finally:
                probe.unlink(missing_ok=True)
        except OSError:
            swapped = key.swapcase()
            result = swapped != key and os.path.exists(swapped)
        _CI_CACHE[key] = result
    return _CI_CACHE[key]


_CI_BY_BACKEND: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _backend_case_insensitive(backend: Any) -> bool:
    """Whether a FilesystemBackend under ``backend`` is on a case-insensitive volume (cached)."""
    if backend is None:
        return False
    try:
        return _CI_BY_BACKEND[backend]
    except (KeyError, TypeError):
        pass
    fs = _deepagents()
    result = False
    if fs is not None and isinstance(backend, fs.CompositeBackend):
        backends = [backend.default, *backend.routes.values()]
        result = any(_backend_case_insensitive(b) for b in backends)
    elif fs is not None and isinstance(backend, fs.FilesystemBackend):
        result = _case_insensitive_dir(Path(backend.cwd))
    with contextlib.suppress(TypeError):
        _CI_BY_BACKEND[backend] = result
    return result


def _resolve_check(
    policy: _Policy, op: str, path: str, backend: Any, ci: bool
) -> tuple[_Decision, str] | None:
    """Symlink and hard-link checks for an allowed ``path``; ``(decision, reason)`` if refused."""
    if backend is None:
        return None
    try:
        found = _resolve(backend, path)
    except (ValueError, OSError, RuntimeError):
        return _DENY, "unresolvable"
    if found is None:
        return None
    host, real = found
    if real != path:
        target = policy.decide(op, real, ci)
        if target.mode != "allow":
            return _Decision("deny", target.rule, target.layer), "symlink"
    if policy.restrictive(op):
        try:
            info = os.stat(host)
        except OSError:
            return None  # does not exist (yet): nothing is linked
        if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
            return _DENY, "hardlink"
    return None


def _may_have_descendants(backend: Any, path: str) -> IO:
    """Whether ``delete(path)`` may remove more than one file (asks the backend; True if unsure)."""
    fs = _deepagents()

    def sync() -> bool:
        if fs is None or backend is None:
            return True
        try:
            return _da.delete_may_have_descendants(backend, path)
        except Exception:  # cannot tell: treat it as a folder
            return True

    async def async_() -> bool:
        if fs is None or backend is None:
            return True
        try:
            return await _da.adelete_may_have_descendants(backend, path)
        except Exception:
            return True

    return IO(sync, async_)


def _denied(message: str, name: str, call_id: str | None) -> ToolMessage:
    return ToolMessage(content=message, name=name, tool_call_id=call_id, status="error")


def _refusal(op: str, path: str | None) -> str:
    if op == "execute":
        return "Error: permission denied for execute (no rule allows running commands)"
    if path is None:
        return f"Error: permission denied for {op}: invalid path"
    return f"Error: permission denied for {op} on {path}"


class _Filter:
    """Which result paths a guarded backend may return, memoized for one call."""

    def __init__(self, ctx: _Context, backend: Any) -> None:
        self.ctx = ctx
        self.backend = backend
        self.cache: dict[str, bool] = {}
        self.withheld = 0

    def allowed(self, raw: str) -> bool:
        if raw not in self.cache:
            ok = False
            try:
                path = normalize_path(raw)
                decision = self.ctx.policy.decide("read", path, self.ctx.ci)
                ok = decision.mode == "allow" and (
                    _resolve_check(self.ctx.policy, "read", path, self.backend, self.ctx.ci) is None
                )
            except PathRejectedError:
                ok = False
            self.cache[raw] = ok
        if not self.cache[raw]:
            self.withheld += 1
        return self.cache[raw]

    def done(self, method: str, path: str | None) -> None:
        if self.withheld:
            fields: dict[str, Any] = {"tool": self.ctx.tool, "operation": "read"}
            if path is not None:
                with contextlib.suppress(PathRejectedError):
                    fields["path"] = normalize_path(path)
            emit(
                "fs.filtered",
                self.ctx.guardrail,
                runtime=self.ctx.runtime,
                backend_method=method,
                withheld=self.withheld,
                **fields,
            )


_GUARDED: dict[type, type] = {}


#: True while a guarded backend method runs: the backend's own delegation (``als`` running
#: ``ls`` in a thread, a composite calling itself) passes through instead of filtering twice.
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "guardrails_fs_inside", default=False
)

# A guarded method is ``pre`` (check the arguments: an early answer, or the arguments to call the
# backend with and a state), the backend's own method, then ``post`` (filter the result).
_Pre = Callable[..., tuple[Any, tuple[Any, ...], dict[str, Any], Any]]
_Post = Callable[[Any, Any, Any], Any]


def _guarded_class(cls: type) -> type:
    """A subclass of the backend's class whose file methods enforce the active policy."""
    if cls in _GUARDED or getattr(cls, "_guardrails_guarded", False):
        return _GUARDED.get(cls, cls)
    import deepagents.backends.protocol as fs

    base: Any = cls
    grep_has_max = "max_count" in inspect.signature(cls.grep).parameters  # type: ignore[attr-defined]

    def check(self: Any, op: str, raw: Any, method: str) -> str | None:
        ctx = _active_for(self)
        if ctx is None:
            return None
        try:
            path = normalize_path(raw)
        except PathRejectedError:
            _emit_denied(ctx, op, None, _DENY, "invalid_path", method)
            return _refusal(op, None)
        if op == "read" and path == ctx.checked:
            return None  # the middleware decided this very path for this call already
        decision = ctx.policy.decide(op, path, ctx.ci)
        reason = "rule" if decision.rule is not None else "default"
        if decision.mode == "allow":
            refused = _resolve_check(ctx.policy, op, path, self, ctx.ci)
            if refused is None:
                return None
            decision, reason = refused
        _emit_denied(ctx, op, path, decision, reason, method)
        return _refusal(op, path)

    def pair(name: str, pre: _Pre, post: _Post) -> tuple[Callable[..., Any], Callable[..., Any]]:
        def sync(self: Any, *args: Any, **kwargs: Any) -> Any:
            if _INSIDE.get():
                return getattr(base, name)(self, *args, **kwargs)
            early, args, kwargs, state = pre(self, *args, **kwargs)
            if early is not None:
                return early
            token = _INSIDE.set(True)
            try:
                result = getattr(base, name)(self, *args, **kwargs)
            finally:
                _INSIDE.reset(token)
            return post(self, result, state)

        async def async_(self: Any, *args: Any, **kwargs: Any) -> Any:
            if _INSIDE.get():
                return await getattr(base, "a" + name)(self, *args, **kwargs)
            early, args, kwargs, state = pre(self, *args, **kwargs)
            if early is not None:
                return early
            token = _INSIDE.set(True)
            try:
                result = await getattr(base, "a" + name)(self, *args, **kwargs)
            finally:
                _INSIDE.reset(token)
            return post(self, result, state)

        return sync, async_

    def same(self: Any, result: Any, state: Any) -> Any:
        return result

    def ls_pre(self: Any, path: str, *a: Any, **k: Any) -> Any:
        error = check(self, "read", path, "ls")
        return (fs.LsResult(error=error) if error else None), (path, *a), k, path

    def glob_pre(self: Any, pattern: str, path: str | None = None) -> Any:
        error = check(self, "read", path, "glob") if path is not None else None
        return (fs.GlobResult(error=error) if error else None), (pattern,), {"path": path}, path

    def grep_pre(self: Any, pattern: str, path: str | None = None, glob: str | None = None,
                 max_count: int | None = None) -> Any:  # fmt: skip
        error = check(self, "read", path, "grep") if path is not None else None
        kwargs: dict[str, Any] = {"path": path, "glob": glob}
        if grep_has_max:
            kwargs["max_count"] = None  # the cap is applied after filtering
        early = fs.GrepResult(error=error) if error else None
        return early, (pattern,), kwargs, (path, max_count)

    def single_pre(method: str, ops: tuple[str, ...], result_type: Callable[..., Any]) -> _Pre:
        def pre(self: Any, file_path: str, *a: Any, **k: Any) -> Any:
            for op in ops:
                if (error := check(self, op, file_path, method)) is not None:
                    return result_type(error=error), (), {}, None
            return None, (file_path, *a), k, None

        return pre

    def transfer_pre(method: str, op: str, response: Callable[..., Any]) -> _Pre:
        def pre(self: Any, items: list[Any]) -> Any:
            paths = [item[0] if isinstance(item, tuple) else item for item in items]
            denied = {p for p in paths if check(self, op, p, method)}
            allowed = [item for item, p in zip(items, paths, strict=True) if p not in denied]
            state = (paths, denied)
            early = merge(self, [], state) if not allowed else None
            return early, (allowed,), {}, state

        def merge(self: Any, result: Any, state: Any) -> Any:
            paths, denied = state
            got = iter(result)
            return [
                response(path=p, error="permission_denied") if p in denied else next(got)
                for p in paths
            ]

        pre.merge = merge  # type: ignore[attr-defined]
        return pre

    def execute_pre(self: Any, command: str, *a: Any, **k: Any) -> Any:
        error = check(self, "execute", "/", "execute")
        early = fs.ExecuteResponse(output=error, exit_code=126) if error else None
        return early, (command, *a), k, None

    def entries(method: str, attr: str) -> _Post:
        return lambda self, result, path: _filter_entries(self, result, method, path, attr)

    def grep_post(self: Any, result: Any, state: Any) -> Any:
        return _filter_grep(self, result, state[0], state[1])

    download = transfer_pre("download_files", "read", fs.FileDownloadResponse)
    upload = transfer_pre("upload_files", "write", fs.FileUploadResponse)
    methods: list[tuple[str, _Pre, _Post]] = [
        ("ls", ls_pre, entries("ls", "entries")),
        ("glob", glob_pre, entries("glob", "matches")),
        ("grep", grep_pre, grep_post),
        ("read", single_pre("read", ("read",), fs.ReadResult), same),
        ("write", single_pre("write", ("write",), fs.WriteResult), same),
        ("edit", single_pre("edit", ("read", "write"), fs.EditResult), same),
        ("delete", single_pre("delete", ("write",), fs.DeleteResult), same),
        ("download_files", download, download.merge),  # type: ignore[attr-defined]
        ("upload_files", upload, upload.merge),  # type: ignore[attr-defined]
        ("execute", execute_pre, same),
    ]
    namespace: dict[str, Any] = {"_guardrails_guarded": True, "_guardrails_base": None}
    for name, pre, post in methods:
        if hasattr(cls, name) and hasattr(cls, "a" + name):
            namespace[name], namespace["a" + name] = pair(name, pre, post)
    guarded = type(f"Guarded{cls.__name__}", (cls,), namespace)
    _GUARDED[cls] = guarded
    return guarded


def _filter_entries(backend: Any, result: Any, method: str, path: str | None, attr: str) -> Any:
    ctx = _active_for(backend)
    items = getattr(result, attr, None)
    if ctx is None or not items:
        return result
    keep = _Filter(ctx, backend)
    kept = [item for item in items if keep.allowed(str(item.get("path", "")))]
    keep.done(method, path)
    return result if len(kept) == len(items) else dataclasses.replace(result, **{attr: kept})


def _filter_grep(backend: Any, result: Any, path: str | None, max_count: int | None) -> Any:
    ctx = _active_for(backend)
    matches = result.matches or []
    if ctx is None:
        kept = list(matches)
    else:
        keep = _Filter(ctx, backend)
        kept = [m for m in matches if keep.allowed(str(m.get("path", "")))]
        keep.done("grep", path)
    truncated = bool(result.truncated)
    if max_count is not None and len(kept) > max_count:
        kept, truncated = kept[:max_count], True
    fs = _deepagents()
    return fs.GrepResult(error=result.error, matches=kept, truncated=truncated)


def _active_for(backend: Any) -> _Context | None:
    active = _ACTIVE.get()
    base: _Context | None = getattr(backend, "_guardrails_base", None)
    if active is None:
        return base
    if base is None:
        return active
    return _Context(
        base.policy.then(active.policy),
        active.tool,
        active.ci or base.ci,
        active.runtime,
        active.guardrail,
        active.checked,
    )


def _emit_denied(
    ctx: _Context, op: str, path: str | None, decision: _Decision, reason: str, method: str
) -> None:
    emit(
        "fs.denied",
        ctx.guardrail,
        runtime=ctx.runtime,
        tool=ctx.tool,
        backend_method=method,
        operation=op,
        path=path,
        rule=decision.rule,
        layer=decision.layer,
        reason=reason,
        decision="deny",
    )


def guard_backend(backend: Any, middleware: FilesystemPermissionMiddleware | None = None) -> Any:
    """A copy of ``backend`` (same class, via a subclass) that enforces the rules itself.

    Calls made while one of our middleware handles a tool call use that call's rules (with
    ``middleware``'s composed above them); other calls use ``middleware``'s rules.
    """
    if _deepagents() is None:  # pragma: no cover
        raise GuardrailConfigError("guard_backend needs deepagents installed")
    clone = _da.retype(backend, _guarded_class(type(backend)))
    if middleware is not None:
        clone._guardrails_base = _Context(
            middleware._policy, "", middleware._ci_for(backend), None, middleware.name
        )
    return clone


# --------------------------------------------------------------------------- subagents


def _is_guarded(backend: Any) -> bool:
    return bool(getattr(type(backend), "_guardrails_guarded", False))


def _members(middleware: Iterable[Any]) -> list[Any]:
    """Middleware with composed stacks (``guardrails.compose``) flattened into their members."""
    out: list[Any] = []
    for m in middleware:
        members = getattr(m, "members", None)
        out.extend(_members(members) if isinstance(members, tuple) else [m])
    return out


def _unheld(spec: Mapping[str, Any], seen: set[int]) -> str | None:
    """Why the subagent of ``spec`` is not held to the rules of its caller; None if it is.

    Held means every deepagents file tool it (or any subagent below it) can call runs either
    under a middleware of ours (which inherits the caller's rules) or on a guarded backend.
    """
    if id(spec) in seen:
        return None
    seen.add(id(spec))
    if "runnable" in spec:
        return _unheld_graph(spec["runnable"], seen)
    fs = _deepagents()
    members = _members(spec.get("middleware") or ())
    if any(isinstance(m, FilesystemPermissionMiddleware) for m in members):
        return None  # ours: it inherits the caller's rules and checks nested task calls
    for m in members:
        if fs is not None and isinstance(m, fs.FilesystemMiddleware) and not _is_guarded(m.backend):
            return "its file tools run on a backend without these rules"
        for tool in getattr(m, "tools", None) or ():
            reason = _unheld_tool(tool, seen)
            if reason is not None:
                return reason
    return None


def _unheld_tool(tool: Any, seen: set[int]) -> str | None:
    owner = _da.fs_middleware_of(tool)
    if owner is not None and not _is_guarded(owner.backend):
        return "its file tools run on a backend without these rules"
    for name, spec in (_da.task_subagent_specs(tool) or {}).items():
        reason = _unheld(spec, seen)
        if reason is not None:
            return f"its subagent {name!r}: {reason}"
    return None


def _unheld_graph(runnable: Any, seen: set[int]) -> str | None:
    graph = runnable
    for _ in range(16):  # RunnableBinding (with_config) around the compiled graph
        if hasattr(graph, "nodes") or not hasattr(graph, "bound"):
            break
        graph = graph.bound
    nodes = getattr(graph, "nodes", None)
    if not isinstance(nodes, Mapping):
        return "it is not a graph whose tools can be inspected"
    if id(graph) in seen:
        return None
    seen.add(id(graph))
    for node in nodes.values():
        bound = getattr(node, "bound", None)
        tools = getattr(bound, "tools_by_name", None)
        if isinstance(tools, Mapping):
            for tool in tools.values():
                reason = _unheld_tool(tool, seen)
                if reason is not None:
                    return reason
        elif bound is not None and isinstance(getattr(bound, "nodes", None), Mapping):
            reason = _unheld_graph(bound, seen)
            if reason is not None:
                return reason
    return None


def _hold_graph(runnable: Any, seen: set[int]) -> None:
    """Guard, in place, the backend of every deepagents file tool inside a compiled subagent.

    The guarded backend applies the rules of the tool call running now (the caller's ``task``),
    so the compiled subagent used on its own elsewhere behaves as before.
    """
    graph = runnable
    for _ in range(16):
        if hasattr(graph, "nodes") or not hasattr(graph, "bound"):
            break
        graph = graph.bound
    nodes = getattr(graph, "nodes", None)
    if not isinstance(nodes, Mapping) or id(graph) in seen:
        return
    seen.add(id(graph))
    for node in nodes.values():
        bound = getattr(node, "bound", None)
        tools = getattr(bound, "tools_by_name", None)
        if isinstance(tools, Mapping):
            for tool in tools.values():
                owner = _da.fs_middleware_of(tool)
                if owner is not None and not _is_guarded(owner.backend):
                    owner.backend = guard_backend(owner.backend)
                for spec in (_da.task_subagent_specs(tool) or {}).values():
                    if "runnable" in spec:
                        _hold_graph(spec["runnable"], seen)
                    else:
                        for m in _members(spec.get("middleware") or ()):
                            fs = _deepagents()
                            if isinstance(m, fs.FilesystemMiddleware) and not _is_guarded(
                                m.backend
                            ):
                                m.backend = guard_backend(m.backend)
        elif bound is not None and isinstance(getattr(bound, "nodes", None), Mapping):
            _hold_graph(bound, seen)


_HELD: weakref.WeakKeyDictionary[Any, dict[str, str | None]] = weakref.WeakKeyDictionary()


def _task_refusal(tool: Any, subagent: Any) -> str | None:
    """Why a ``task`` call to ``subagent`` would run outside the rules (None: it would not)."""
    func = getattr(tool, "func", None) or getattr(tool, "coroutine", None)
    if func is None or not isinstance(subagent, str):
        return None
    try:
        known = _HELD.setdefault(func, {})
    except TypeError:
        known = {}
    if subagent not in known:
        specs = _da.task_subagent_specs(tool)
        spec = specs.get(subagent) if specs is not None else None
        known[subagent] = None if spec is None else _unheld(spec, set())
    return known[subagent]


# --------------------------------------------------------------------------- the middleware

#: deepagents' file tools: argument holding a path -> operations it needs.
_FILE_TOOLS: dict[str, dict[str, tuple[str, ...]]] = {
    "read_file": {"file_path": ("read",)},
    "write_file": {"file_path": ("write",)},
    "edit_file": {"file_path": ("read", "write")},
    "delete": {"file_path": ("write",)},
}
_BULK_TOOLS = frozenset({"ls", "glob", "grep"})


@dataclass(frozen=True)
class _Check:
    op: str
    path: str | None
    decision: _Decision
    reason: str


class FilesystemPermissionMiddleware(ToolHook, AgentMiddleware[Any, Any, Any]):
    """Allow / deny / interrupt file tool calls by path; filter what listings and searches show.

    ``rules`` are :class:`FilesystemPermission` (or deepagents' own) checked in order, first match
    wins; ``default`` applies when none matches (``execute`` is always denied unless a rule allows
    it). ``tool_paths`` adds your own tools: ``{"copy_file": {"src": "read", "dst": "write"}}``.
    ``case_insensitive=None`` detects a case-insensitive volume under a ``FilesystemBackend``.

    Rules are checked in order and the first match wins, so denials come before the allow rule
    they carve out of. Build the agent with :func:`guardrails.deep.create_deep_agent` so that
    every subagent (deepagents' own ``general-purpose`` one and compiled ones included) is held
    to the rules; a ``task`` call to a subagent that is not held is denied (``fs.denied``,
    ``reason="unguarded_subagent"``).

    Example::

        from deepagents.backends import FilesystemBackend
        from guardrails.deep import create_deep_agent
        from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware

        jail = FilesystemPermissionMiddleware(
            [FilesystemPermission(["read", "write"], ["**/.env"], mode="deny"),
             FilesystemPermission(["read", "write"], ["/workspace/**"])],
            default="deny",
        )
        agent = create_deep_agent(
            model, guardrails=[jail],
            backend=FilesystemBackend(root_dir="/srv/agent", virtual_mode=True),
            subagents=[{
                "name": "reviewer", "description": "reads only", "system_prompt": "...",
                "middleware": [jail.restrict([FilesystemPermission(["write"], ["/**"], "deny")])],
            }],
        )
    """

    def __init__(
        self,
        rules: Iterable[Any],
        *,
        default: str = "allow",
        tool_paths: Mapping[str, Mapping[str, str | Sequence[str]]] | None = None,
        backend: Any = None,
        case_insensitive: bool | None = None,
        widen: Iterable[Any] = (),
        name: str | None = None,
        _parent: _Policy | None = None,
    ) -> None:
        super().__init__()
        if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, Iterable):
            raise GuardrailConfigError(
                f"rules must be a list of FilesystemPermission, got {type(rules).__name__}"
            )
        if default not in ("allow", "deny"):
            raise GuardrailConfigError(f"default must be 'allow' or 'deny', got {default!r}")
        if case_insensitive not in (None, True, False):
            raise GuardrailConfigError(
                f"case_insensitive must be True, False or None (detect), got {case_insensitive!r}"
            )
        self.rules = [FilesystemPermission.coerce(r) for r in rules]
        self.default = default
        self.case_insensitive = case_insensitive
        self.backend = backend
        self._name = name or _NAME
        self._tools: dict[str, dict[str, tuple[str, ...]]] = dict(_FILE_TOOLS)
        for tool, args in (tool_paths or {}).items():
            if not isinstance(args, Mapping) or not args:
                raise GuardrailConfigError(
                    f"tool_paths[{tool!r}] must map argument names to an operation, "
                    "e.g. {'src': 'read', 'dst': 'write'}"
                )
            spec: dict[str, tuple[str, ...]] = {}
            for arg, ops in args.items():
                op_list = (ops,) if isinstance(ops, str) else tuple(ops)
                if not op_list or any(op not in OPERATIONS for op in op_list):
                    raise GuardrailConfigError(
                        f"tool_paths[{tool!r}][{arg!r}] must be one of {list(OPERATIONS)} "
                        f"or a list of them, got {ops!r}"
                    )
                spec[arg] = op_list
            self._tools[tool] = spec
        self.tool_paths = dict(tool_paths or {})
        widen_rules = [FilesystemPermission.coerce(r) for r in widen]
        if any(r.mode != "allow" for r in widen_rules):
            raise GuardrailConfigError("widen rules grant access: their mode must be 'allow'")
        if default == "deny" and not any(r.mode == "allow" for r in self.rules):
            warnings.warn(
                "FilesystemPermissionMiddleware(default='deny') has no allow rule: every file "
                "tool call will be denied",
                UserWarning,
                stacklevel=2,
            )
        layer = _Layer(self.rules, default, widen_rules, self._name)
        own = _Policy((layer,))
        self._policy = own if _parent is None else _parent.then(own)
        self._fs_cache: weakref.WeakKeyDictionary[Any, tuple[Any, dict[str, Any]]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def name(self) -> str:
        return self._name

    # -- composition ----------------------------------------------------------------------

    def restrict(
        self,
        rules: Iterable[Any],
        *,
        default: str = "allow",
        widen: Iterable[Any] = (),
        name: str | None = None,
        tool_paths: Mapping[str, Mapping[str, str | Sequence[str]]] | None = None,
    ) -> FilesystemPermissionMiddleware:
        """A middleware for a subagent: these rules on top of this one's, never looser.

        ``widen`` lists allow rules that may overrule this (the parent's) denials: each use is
        audited as ``fs.widened``.

        Example::

            reader = parent.restrict([FilesystemPermission(["write"], ["/**"], "deny")])
        """
        return FilesystemPermissionMiddleware(
            rules,
            default=default,
            widen=widen,
            name=name or self._name,
            tool_paths=tool_paths or self.tool_paths,
            backend=self.backend,
            case_insensitive=self.case_insensitive,
            _parent=self._policy,
        )

    def guard(self, backend: Any) -> Any:
        """``backend`` enforcing these rules itself: pass it to ``create_deep_agent(backend=)``.

        Subagents share the backend, so one without any middleware of ours (a compiled subagent,
        ``permissions: []``) still cannot read or list what these rules deny.

        Example::

            agent = create_deep_agent(model, backend=jail.guard(FilesystemBackend(root_dir=root)),
                                      middleware=[jail])
        """
        return guard_backend(backend, self)

    def guard_deep_agent(self, setup: Any) -> None:
        """Hold a deep agent's shared backend and compiled subagents to these rules.

        Called by :func:`guardrails.deep.create_deep_agent`: the shared backend is wrapped
        (:meth:`guard`), and the backend of every deepagents file tool inside a compiled
        subagent is guarded in place. A compiled subagent whose tools cannot be inspected is
        refused with a ``GuardrailConfigError``.

        Example::

            agent = guardrails.deep.create_deep_agent(model, guardrails=[jail], backend=backend)
        """
        if not _is_guarded(setup.backend):
            setup.backend = self.guard(setup.backend)
        for name, runnable in setup.compiled.items():
            _hold_graph(runnable, set())
            reason = _unheld_graph(runnable, set())
            if reason is not None:
                raise GuardrailConfigError(
                    f"compiled subagent {name!r} cannot be held to the filesystem rules of "
                    f"{self.name}: {reason}; build it with create_agent or create_deep_agent"
                )

    # -- decisions -------------------------------------------------------------------------

    def _ci_for(self, backend: Any) -> bool:
        if self.case_insensitive is not None:
            return self.case_insensitive
        return _backend_case_insensitive(backend)

    def decide(self, operation: str, path: str, *, backend: Any = None) -> str:
        """``"allow"``, ``"deny"`` or ``"interrupt"`` for a raw path (handy in tests and UIs).

        Example::

            jail.decide("read", "/workspace/../etc/passwd")  # "deny"
        """
        if operation not in OPERATIONS:
            raise GuardrailConfigError(
                f"operation must be one of {list(OPERATIONS)}, got {operation!r}"
            )
        backend = backend if backend is not None else self.backend
        return self._check(self._policy, operation, path, backend, self._ci_for(backend)).mode

    def _check(self, policy: _Policy, op: str, raw: Any, backend: Any, ci: bool) -> _Decision:
        try:
            path = normalize_path(raw)
        except PathRejectedError:
            return _Decision("deny")
        decision = policy.decide(op, path, ci)
        if decision.mode == "allow" and op != "execute":
            refused = _resolve_check(policy, op, path, backend, ci)
            if refused is not None:
                return refused[0]
        return decision

    def _fs_tools(self, tool: Any) -> tuple[Any, dict[str, Any]] | None:
        """(backend, guarded tools by name) for a deepagents file tool; None for other tools."""
        fs = _deepagents()
        if fs is None or tool is None:
            return None
        owner = _da.fs_middleware_of(tool)
        if owner is None:
            return None
        cached = self._fs_cache.get(owner)
        if cached is None:
            cached = (owner.backend, _da.create_fs_tools(owner, guard_backend(owner.backend)))
            self._fs_cache[owner] = cached
        return cached

    def tool_flow(self, request: Any) -> Flow[Any]:
        call = request.tool_call
        name = call["name"]
        bulk = name in _BULK_TOOLS
        parent = _ACTIVE.get()
        policy = self._policy if parent is None else parent.policy.then(self._policy)
        if not bulk and name != "execute" and name not in self._tools:
            # not a file tool, but it may run a subagent (deepagents' task): it inherits our
            # rules, and it must be held to them (its own middleware, or a guarded backend)
            subagent = (call.get("args") or {}).get("subagent_type")
            unheld = _task_refusal(request.tool, subagent) if request.tool is not None else None
            if unheld is not None:
                emit("fs.denied", self.name, runtime=request.runtime, tool=name,
                     operation="execute", path=None, rule=None, layer=None,
                     reason="unguarded_subagent", target_subagent=str(subagent),
                     decision="deny")  # fmt: skip
                text = (
                    f"Error: permission denied: subagent {subagent!r} is not held to the "
                    "filesystem rules of this agent"
                )
                return _denied(text, name, call.get("id"))
            token = _ACTIVE.set(_Context(policy, name, False, request.runtime, self.name))
            try:
                return (yield Call(request))
            finally:
                _ACTIVE.reset(token)
        found = self._fs_tools(request.tool) if name in _FILE_TOOLS or bulk or name == "execute" \
            else None  # fmt: skip
        backend = self.backend if self.backend is not None else (found[0] if found else None)
        ci = self._ci_for(backend)
        args = dict(call.get("args") or {})
        checks: list[_Check] = []

        def check(op: str, raw: Any) -> str | None:
            try:
                path = normalize_path(raw)
            except PathRejectedError:
                checks.append(_Check(op, None, _Decision("deny"), "invalid_path"))
                return None
            decision = policy.decide(op, path, ci)
            reason = "rule" if decision.rule is not None else "default"
            if decision.mode == "allow" and op != "execute":
                refused = _resolve_check(policy, op, path, backend, ci)
                if refused is not None:
                    decision, reason = refused
            checks.append(_Check(op, path, decision, reason))
            return path

        replacement = None
        checked: str | None = None
        if name == "execute":
            check("execute", "/")
        elif bulk:
            root_arg = "path"
            raw_root = args.get("path")
            if name == "glob" and raw_root is None and str(args.get("pattern", "")).startswith("/"):
                pattern = str(args["pattern"])
                raw_root = _glob_root(pattern)
                rest = pattern[len(raw_root.rstrip("/")) :]
                args["path"], args["pattern"] = (
                    raw_root,
                    rest if rest.startswith("/") else "/" + rest,
                )
            elif raw_root is None and name != "ls":
                raw_root = "/"
                root_arg = ""
            if raw_root is None:
                raw_root = ""
            normalized = check("read", raw_root)
            if normalized is not None and root_arg:
                args[root_arg] = normalized
                checked = normalized
            if found is not None:
                replacement = found[1].get(name)
            if replacement is None and policy.restrictive("read"):
                checks.append(_Check("read", normalized, _Decision("deny"), "unfilterable"))
        else:
            for arg, ops in self._tools[name].items():
                if arg not in args:
                    continue
                for op in ops:
                    normalized = check(op, args[arg])
                if normalized is not None:
                    args[arg] = normalized
                    if name == "delete":
                        rule = policy.delete_overlaps_denied(normalized)
                        if rule is not None and (yield _may_have_descendants(backend, normalized)):
                            checks.append(
                                _Check("write", normalized, _Decision("deny", rule), "descendants")
                            )
        worst = max(checks, key=lambda c: _RANK[c.decision.mode], default=None)
        if worst is not None and worst.decision.mode == "deny":
            self._audit_denied(request, name, worst)
            return _denied(_refusal(worst.op, worst.path), name, call.get("id"))
        if worst is not None and worst.decision.mode == "interrupt":
            answer = self._interrupt(request, name, worst, args)
            if answer is not None:
                return answer
        for c in checks:
            if c.decision.widened:
                emit("fs.widened", self.name, runtime=request.runtime, tool=name,
                     operation=c.op, path=c.path, layer=c.decision.layer)  # fmt: skip
        new_call = {**call, "args": args}
        new_request = request.override(tool_call=new_call)
        if replacement is not None:
            new_request = new_request.override(tool=replacement)
        token = _ACTIVE.set(_Context(policy, name, ci, request.runtime, self.name, checked))
        try:
            return (yield Call(new_request))
        finally:
            _ACTIVE.reset(token)

    def _audit_denied(self, request: Any, tool: str, check: _Check) -> None:
        emit(
            "fs.denied",
            self.name,
            runtime=request.runtime,
            tool=tool,
            operation=check.op,
            path=check.path,
            rule=check.decision.rule,
            layer=check.decision.layer,
            reason=check.reason,
            decision="deny",
        )

    def _interrupt(
        self, request: Any, tool: str, check: _Check, args: dict[str, Any]
    ) -> ToolMessage | None:
        """Ask a human (HumanInTheLoopMiddleware's request shape); None when approved."""
        payload = {
            "action_requests": [
                {
                    "name": tool,
                    "args": args,
                    "description": f"Filesystem permission: {check.op} on {check.path} "
                    "needs approval",
                }
            ],
            "review_configs": [{"action_name": tool, "allowed_decisions": ["approve", "reject"]}],
        }
        try:
            response = interrupt(payload)
        except GraphInterrupt:
            emit("fs.interrupted", self.name, runtime=request.runtime, tool=tool,
                 operation=check.op, path=check.path, rule=check.decision.rule,
                 layer=check.decision.layer, decision="interrupt")  # fmt: skip
            raise
        decisions = response.get("decisions") if isinstance(response, Mapping) else None
        first = decisions[0] if isinstance(decisions, list) and decisions else {}
        kind = first.get("type") if isinstance(first, Mapping) else None
        if kind == "approve":
            emit("fs.approved", self.name, runtime=request.runtime, tool=tool,
                 operation=check.op, path=check.path, decision="approve")  # fmt: skip
            return None
        reason = "rejected" if kind == "reject" else "invalid_decision"
        self._audit_denied(request, tool, _Check(check.op, check.path, check.decision, reason))
        message = first.get("message") if isinstance(first, Mapping) else None
        text = f"{_refusal(check.op, check.path)} (rejected by a reviewer"
        text += f": {message})" if message else ")"
        return _denied(text, tool, request.tool_call.get("id"))
