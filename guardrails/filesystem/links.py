"""Normalize, decide, check links: the one judgement every path gets.

:func:`judge` is used by the middleware (tool arguments), by the guarded backend (calls a subagent
without middleware of ours makes) and by the listing filter (each entry), so the three can never
disagree. With a ``FilesystemBackend`` (directly or behind a ``CompositeBackend`` route) the path is
resolved the way the backend resolves it: the link and its target must both be allowed, and while
a rule restricts the operation a file with several hard links is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardrails._adapters import deepagents as _da
from guardrails.filesystem.layers import DENY, Decision, RuleStack
from guardrails.filesystem.paths import PathRejectedError, backend_path, key, within

#: Where deepagents itself offloads large tool results and old conversation turns.
SCRATCH = ("large_tool_results", "conversation_history")

_FS_MODULE: Any = None


def deepagents_fs() -> Any:
    """``deepagents.middleware.filesystem`` (imported once), or None when not installed."""
    global _FS_MODULE
    if _FS_MODULE is None:
        try:
            import deepagents.middleware.filesystem as fs

            _FS_MODULE = fs
        except ImportError:  # pragma: no cover - deepagents is optional
            _FS_MODULE = False
    return _FS_MODULE or None


def resolve(backend: Any, path: str) -> tuple[Path, str] | None:
    """``(host path, virtual path after symlinks)`` under a FilesystemBackend (maybe routed).

    Raises ``ValueError`` when the path escapes the root, ``OSError`` on a symlink loop.
    """
    fs = deepagents_fs()
    if fs is None:
        return None
    if isinstance(backend, fs.CompositeBackend):
        routed, routed_path, prefix = _da.route_for_path(backend, path)
        found = resolve(routed, routed_path)
        if found is None or prefix is None:
            return found
        return found[0], backend_path(prefix.rstrip("/") + found[1])
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
    name = str(folder)
    if name not in _CI_CACHE:
        probe = folder / ".guardrails-case-Probe"
        result = False
        try:
            probe.touch(exist_ok=True)
            try:
                result = (folder / ".GUARDRAILS-CASE-PROBE").exists()
            finally:
                probe.unlink(missing_ok=True)
        except OSError:
            swapped = name.swapcase()
            result = swapped != name and os.path.exists(swapped)
        _CI_CACHE[name] = result
    return _CI_CACHE[name]


_CI_BY_BACKEND: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _leaf_case_insensitive(backend: Any) -> bool:
    try:
        return _CI_BY_BACKEND[backend]
    except (KeyError, TypeError):
        pass
    fs = deepagents_fs()
    result = False
    if fs is not None and isinstance(backend, fs.FilesystemBackend):
        result = _case_insensitive_dir(Path(backend.cwd))
    with contextlib.suppress(TypeError):
        _CI_BY_BACKEND[backend] = result
    return result


def case_insensitive(backend: Any, path: str, override: bool | None) -> bool:
    """Whether ``path`` is matched regardless of case: the setting, or the volume that serves it.

    Under a ``CompositeBackend`` each route answers for its own paths.
    """
    if override is not None:
        return override
    if backend is None:
        return False
    fs = deepagents_fs()
    if fs is not None and isinstance(backend, fs.CompositeBackend):
        routed, _, _ = _da.route_for_path(backend, path)
        return case_insensitive(routed, path, None)
    return _leaf_case_insensitive(backend)


def scratch(path: str, backend: Any) -> bool:
    """Whether ``path`` is a file in deepagents' own offload folders (``/large_tool_results/x``)."""
    root = getattr(backend, "artifacts_root", "/") or "/"
    bases = {"/"} | {backend_path(root)} if isinstance(root, str) else {"/"}
    for base in bases:
        for folder in SCRATCH:
            top = backend_path(base.rstrip("/") + "/" + folder)
            if path != top and within(path, top):
                return True
    return False


def exec_dir(backend: Any) -> str:
    """The folder ``execute`` runs in, in the rules' coordinates (``/`` when unknown)."""
    fs = deepagents_fs()
    if fs is not None and isinstance(backend, fs.CompositeBackend):
        return exec_dir(backend.default)
    if fs is not None and isinstance(backend, fs.FilesystemBackend):
        if backend.virtual_mode:
            return "/"
        with contextlib.suppress(PathRejectedError, ValueError):
            return backend_path(Path(backend.cwd).as_posix())
    return "/"


@dataclass(frozen=True)
class Verdict:
    """One path judged for one operation."""

    op: str
    path: str | None  # what the backend receives (None: invalid)
    key: str | None  # what the rules matched (NFC)
    decision: Decision
    reason: str  # rule, default, scratch, symlink, hardlink, unresolvable, invalid_path

    @property
    def allowed(self) -> bool:
        return self.decision.mode == "allow"

    @property
    def hidden(self) -> bool:
        """Refused for what the path links to: answered as if it did not exist."""
        return self.reason in ("symlink", "hardlink", "unresolvable")


def link_check(
    policy: RuleStack, op: str, path: str, backend: Any, override: bool | None
) -> tuple[Decision, str] | None:
    """Symlink and hard-link checks for an allowed ``path``; ``(decision, reason)`` if refused."""
    if backend is None:
        return None
    try:
        found = resolve(backend, path)
    except (ValueError, OSError, RuntimeError, PathRejectedError):
        return DENY, "unresolvable"
    if found is None:
        return None
    host, real = found
    real_key = key(real)
    if real_key != key(path):
        target = policy.decide(op, real_key, case_insensitive(backend, real_key, override))
        if target.mode != "allow":
            return Decision("deny", target.rule, target.layer), "symlink"
    if policy.restrictive(op):
        try:
            info = os.stat(host)
        except OSError:
            return None  # does not exist (yet): nothing is linked
        if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
            return DENY, "hardlink"
    return None


def judge(
    policy: RuleStack,
    op: str,
    raw: Any,
    backend: Any,
    override: bool | None = None,
    *,
    machinery: bool = False,
    listing: bool = False,
) -> Verdict:
    """Normalize ``raw``, decide ``op`` on it, check what it links to.

    ``machinery``: deepagents itself calls (no tool call of the model). ``listing``: the root of
    a listing or search (deepagents' offload folders are read one file at a time, never listed).
    """
    try:
        path = backend_path(raw)
    except PathRejectedError:
        return Verdict(op, None, None, DENY, "invalid_path")
    path_key = key(path)
    decision = policy.decide(op, path_key, case_insensitive(backend, path_key, override))
    reason = "rule" if decision.rule is not None else "default"
    if (
        decision.mode == "deny"
        and not decision.explicit
        and ((op == "read" and not listing) or (machinery and op == "write"))
        and scratch(path_key, backend)
    ):
        decision, reason = Decision("allow", None, decision.layer), "scratch"
    if decision.mode == "allow" and op != "execute":
        refused = link_check(policy, op, path, backend, override)
        if refused is not None:
            decision, reason = refused
    return Verdict(op, path, path_key, decision, reason)
