"""Normalize, decide, check links: the one judgement every path gets.

:func:`judge` is used by the middleware (tool arguments), by the guarded backend (calls a subagent
without middleware of ours makes) and by the listing filter (each entry), so the three can never
disagree. With a ``FilesystemBackend`` (directly or behind a ``CompositeBackend`` route) the path is
resolved the way the backend resolves it: the link and its target must both be allowed, and while
a rule restricts the operation a file with several hard links is refused.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import importlib
import json
import os
import re
import shlex
import stat
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardrails._adapters import deepagents as _da
from guardrails.filesystem.layers import ALLOW, DENY, Decision, RuleStack
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


@dataclass(frozen=True)
class Placed:
    """Where a path really is: its canonical path in the rules' coordinates, and what it is."""

    real: str  # after links and ``..``, in the rules' coordinates (virtual path in virtual mode)
    host: Path | None = None  # the host path (FilesystemBackend), to stat lazily
    nlink: int | None = None  # hard links of a regular file (0: not a regular file; None: ask host)


#: Per-call memo of sandbox placements ``{(id(backend), path): Placed | None}``; None outside.
_MEMO: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "guardrails_fs_placed", default=None
)


@contextlib.contextmanager
def placement_memo() -> Iterator[None]:
    """Memoize sandbox placements (and rule anchor aliases) for the duration of one call."""
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


_CLASSES: dict[str, Any] = {}


def _sandbox_class() -> Any:
    if "sandbox" not in _CLASSES:
        try:
            from deepagents.backends.sandbox import BaseSandbox
        except ImportError:  # pragma: no cover
            BaseSandbox = None  # type: ignore[assignment,misc]
        _CLASSES["sandbox"] = BaseSandbox
    return _CLASSES["sandbox"]


def _virtual_classes() -> tuple[type, ...]:
    """Backends whose paths are keys (no links, no working folder): placed as written."""
    if "virtual" not in _CLASSES:
        _CLASSES["virtual"] = _find_virtual_classes()
    found: tuple[type, ...] = _CLASSES["virtual"]
    return found


def _find_virtual_classes() -> tuple[type, ...]:
    out: list[type] = []
    for module, name in (
        ("deepagents.backends.state", "StateBackend"),
        ("deepagents.backends.store", "StoreBackend"),
        ("deepagents.backends.context_hub", "ContextHubBackend"),
    ):
        with contextlib.suppress(ImportError, AttributeError):
            out.append(getattr(importlib.import_module(module), name))
    return tuple(out)


#: A hook a custom backend may define: ``guardrails_resolve_paths(paths) -> list[str]`` giving,
#: for each path (absolute or relative to the backend's working folder), its canonical absolute
#: path after links and ``..`` (raise ``OSError`` when a path cannot be resolved).
HOOK = "guardrails_resolve_paths"


def placement_gap(backend: Any) -> str | None:
    """Why the guardrail cannot put ``backend``'s paths in one coordinate system (None: it can)."""
    if backend is None or callable(getattr(backend, HOOK, None)):
        return None
    fs = deepagents_fs()
    if fs is None:  # pragma: no cover
        return None
    if isinstance(backend, fs.CompositeBackend):
        sandbox = _sandbox_class()
        for prefix, routed in backend.routes.items():
            host_paths = isinstance(routed, fs.FilesystemBackend) and not routed.virtual_mode
            if host_paths or (sandbox is not None and isinstance(routed, sandbox)):
                return (
                    f"the CompositeBackend route {prefix!r} serves a {type(routed).__name__} "
                    "that takes absolute host paths: the route prefix is stripped, so "
                    f"'{prefix.rstrip('/')}/etc/passwd' would open '/etc/passwd' while rules see "
                    "the prefixed path; give routes a FilesystemBackend(virtual_mode=True)"
                )
        if (overlap := _overlapping_roots(backend, fs.FilesystemBackend)) is not None:
            return overlap
        for routed in (backend.default, *backend.routes.values()):
            gap = placement_gap(routed)
            if gap is not None:
                return gap
        return None
    sandbox = _sandbox_class()
    if isinstance(backend, fs.FilesystemBackend) or (
        sandbox is not None and isinstance(backend, sandbox)
    ):
        return None
    if isinstance(backend, _virtual_classes()):
        return None
    return (
        f"{type(backend).__name__} is not a backend whose paths the guardrail can resolve "
        "(FilesystemBackend, CompositeBackend, StateBackend, StoreBackend, a BaseSandbox, or a "
        f"backend with a {HOOK}(paths) method)"
    )


def _overlapping_roots(backend: Any, fs_class: type) -> str | None:
    """Two virtual-mode roots of one composite that are the same or nested host folder (aliases)."""
    roots: list[tuple[str, str]] = []
    for label, routed in (("the default", backend.default), *backend.routes.items()):
        if isinstance(routed, fs_class) and getattr(routed, "virtual_mode", False):
            roots.append((str(label), os.path.realpath(str(getattr(routed, "cwd", "")))))
    for i, (label_a, root_a) in enumerate(roots):
        for label_b, root_b in roots[i + 1 :]:
            if within(root_a, root_b) or within(root_b, root_a):
                return (
                    f"the CompositeBackend routes {label_a!r} and {label_b!r} serve the same or "
                    f"nested host folders ({root_a!r}, {root_b!r}): one file would have two "
                    "virtual paths and a rule naming one would not cover the other; give each "
                    "host folder one route"
                )
    return None


_PLACE_SCRIPT = (
    "import os,sys,json,base64,stat\n"
    "ps=json.loads(base64.b64decode(sys.argv[1]).decode())\n"
    "out=[]\n"
    "for p in ps:\n"
    "  r=os.path.realpath(p)\n"
    "  try:\n"
    "    s=os.stat(r);n=s.st_nlink if stat.S_ISREG(s.st_mode) else 0\n"
    "  except OSError:\n"
    "    n=0\n"
    "  out.append([r,n])\n"
    "print('GUARDRAILS-PLACED '+json.dumps({'cwd':os.getcwd(),'out':out}))\n"
)


def _raw_execute(backend: Any) -> Any:
    """The backend's own ``execute`` (a guarded copy's would judge the call it serves)."""
    for klass in type(backend).__mro__:
        found = klass.__dict__.get("execute")
        if found is not None and not klass.__dict__.get("_guardrails_guarded"):
            return found.__get__(backend)
    return backend.execute


def _sandbox_place(backend: Any, paths: list[str]) -> dict[str, Placed]:
    """Resolve ``paths`` inside a sandbox, through the sandbox itself (one ``execute``)."""
    memo = _MEMO.get()
    bid = id(backend)
    missing = [p for p in dict.fromkeys(paths) if memo is None or (bid, p) not in memo]
    missing += [] if memo is None or (bid, "") in memo else [""]  # "" asks for the cwd
    if missing:
        blob = base64.b64encode(json.dumps([p or "." for p in missing]).encode()).decode()
        command = f"python3 -c {shlex.quote(_PLACE_SCRIPT)} {blob}"
        response = _raw_execute(backend)(command)
        output = str(getattr(response, "output", "") or "")
        line = next(
            (x for x in reversed(output.splitlines()) if x.startswith("GUARDRAILS-PLACED ")), None
        )
        if line is None or getattr(response, "exit_code", 0) not in (0, None):
            raise OSError("the sandbox could not resolve the paths")
        data = json.loads(line[len("GUARDRAILS-PLACED ") :])
        found = {p: Placed(r, None, int(n)) for p, (r, n) in zip(missing, data["out"], strict=True)}
        found[""] = Placed(str(data["cwd"]), None, 0)
        if memo is None:
            return found
        for p, placed in found.items():
            memo[(bid, p)] = placed
    return {p: memo[(bid, p)] for p in [*paths, ""]} if memo is not None else {}


def prefetch(backend: Any, paths: list[str]) -> None:
    """Resolve many paths at once where resolving costs a round trip (a sandbox)."""
    if backend is None or _MEMO.get() is None:
        return
    fs = deepagents_fs()
    sandbox = _sandbox_class()
    target = backend
    if fs is not None and isinstance(backend, fs.CompositeBackend):
        target = backend.default  # routed paths are resolved one by one
        paths = [p for p in paths if _da.route_for_path(backend, p)[2] is None]
    if (
        sandbox is not None
        and isinstance(target, sandbox)
        and not isinstance(target, fs.FilesystemBackend)
    ):
        _sandbox_place(target, paths)


def working_folder(backend: Any) -> str | None:
    """The folder a backend's relative paths are taken from, in the rules' coordinates."""
    fs = deepagents_fs()
    if fs is None or backend is None:
        return None
    if isinstance(backend, fs.CompositeBackend):
        return working_folder(backend.default)
    if isinstance(backend, fs.FilesystemBackend):
        if backend.virtual_mode:
            return "/"
        with contextlib.suppress(PathRejectedError, ValueError):
            return backend_path(Path(backend.cwd).as_posix())
        return None
    sandbox = _sandbox_class()
    if sandbox is not None and isinstance(backend, sandbox):
        return _sandbox_place(backend, [])[""].real
    hook = getattr(backend, HOOK, None)
    if callable(hook):
        return str(hook(["."])[0])
    return None


def resolve(backend: Any, path: str) -> Placed | None:
    """Where ``path`` really is on ``backend`` (None: a backend without links, like state).

    Raises ``ValueError`` when the path escapes the root, ``OSError`` on a symlink loop or a
    sandbox that cannot answer.
    """
    fs = deepagents_fs()
    if fs is None:
        return None
    if isinstance(backend, fs.CompositeBackend):
        routed, routed_path, prefix = _da.route_for_path(backend, path)
        found = resolve(routed, routed_path)
        if found is None or prefix is None:
            return found
        real = backend_path(prefix.rstrip("/") + found.real)
        return Placed(real, found.host, found.nlink)
    if isinstance(backend, fs.FilesystemBackend):
        host = _da.backend_host_path(backend, path)
        if backend.virtual_mode:
            relative = host.relative_to(backend.cwd)
        else:
            host = Path(os.path.realpath(host))
            relative = host.relative_to(host.anchor)
        posix = relative.as_posix()
        return Placed("/" if posix == "." else "/" + posix, host, None)
    sandbox = _sandbox_class()
    if sandbox is not None and isinstance(backend, sandbox):
        placed = _sandbox_place(backend, [path])[path]
        return Placed(backend_path(placed.real), None, placed.nlink)
    hook = getattr(backend, HOOK, None)
    if callable(hook):
        return Placed(backend_path(str(hook([path])[0])), None, 0)
    return None


#: Seconds a rule anchor's resolution is reused (a re-pointed anchor link is seen after this).
ALIAS_TTL = 2.0
_ALIASES: weakref.WeakKeyDictionary[Any, dict[int, tuple[RuleStack, float, Any]]] = (
    weakref.WeakKeyDictionary()
)


def aliases(policy: RuleStack, backend: Any) -> tuple[tuple[str, str], ...]:
    """``(anchor as written, where it really is)`` for rule anchors that pass through a link.

    A rule written through a symlinked folder (``/app/current/** -> releases/v42``) also covers
    the files under the folder's real path; so does one on a system alias (``/etc`` ->
    ``/private/etc``). Raises ``OSError`` when an anchor cannot be placed now (a sandbox or a
    resolve hook failing): callers refuse the path (``unresolvable``), and nothing is cached.
    """
    if backend is None:
        return ()
    anchors = policy.anchors()
    if not anchors:
        return ()
    now = time.monotonic()
    try:
        per_backend = _ALIASES.setdefault(backend, {})
    except TypeError:  # not weak-referenceable: resolved every time
        per_backend = {}
    hit = per_backend.get(id(policy))
    if hit is not None and hit[0] is policy and hit[1] > now:
        cached: tuple[tuple[str, str], ...] = hit[2]
        return cached
    with contextlib.suppress(ValueError, OSError, RuntimeError, PathRejectedError):
        prefetch(backend, list(anchors))  # if this failed, each anchor is asked again below
    out: list[tuple[str, str]] = []
    for written in anchors:
        try:
            placed = resolve(backend, written)
        except (ValueError, OSError, RuntimeError, PathRejectedError) as exc:
            # not remembered, and no decision without it: the path judged now may be below
            # the anchor's real folder, which only this resolution would show
            raise OSError(f"the rule anchor {written!r} could not be placed") from exc
        if placed is not None and key(placed.real) != written:
            out.append((written, key(placed.real)))
    result = tuple(out)
    per_backend[id(policy)] = (policy, now + ALIAS_TTL, result)
    return result


def spellings(real: str, found: tuple[tuple[str, str], ...]) -> list[str]:
    """``real`` and its spellings through rule anchors that are links."""
    out = [real]
    for written, target in found:
        if within(real, target):
            out.append(written if real == target else written.rstrip("/") + real[len(target) :])
    return out


_CI_CACHE: dict[str, bool] = {}
#: One probe at a time: two parallel tool calls probing one folder would otherwise share the
#: probe file, and the second could look after the first removed it (and cache "sensitive").
_CI_LOCK = threading.Lock()


def _case_insensitive_dir(folder: Path) -> bool:
    """Whether ``folder`` sits on a case-insensitive volume (probed once per folder)."""
    name = str(folder)
    with _CI_LOCK:
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


#: Tool calls that just ended under one of our middleware: deepagents may offload the result of
#: each, once, to ``large_tool_results/<sanitized id>`` (``{sanitized id: deadline}``).
_EXPECTED: dict[str, float] = {}
_EXPECTED_LOCK = threading.Lock()
_EXPECT_FOR = 120.0  # seconds: deepagents offloads right after the call returns
_EXPECT_MAX = 4096


def expect_offload(call_id: str) -> None:
    """Let deepagents write the offload file of this tool call's result, once."""
    now = time.monotonic()
    with _EXPECTED_LOCK:
        if len(_EXPECTED) >= _EXPECT_MAX:
            for name in [n for n, t in _EXPECTED.items() if t < now] or list(_EXPECTED)[:512]:
                _EXPECTED.pop(name, None)
        _EXPECTED[sanitize_id(call_id)] = now + _EXPECT_FOR


def _take_expected(name: str) -> bool:
    with _EXPECTED_LOCK:
        deadline = _EXPECTED.pop(name, None)
    return deadline is not None and deadline >= time.monotonic()


_HISTORY_NAME = re.compile(
    r"(?:session_[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"
    r"\.md|media/[0-9a-f]{16}\.[A-Za-z0-9]{1,8}"
)


def sanitize_id(call_id: str) -> str:
    """deepagents' file name for a tool call id (``sanitize_tool_call_id``)."""
    from deepagents.backends.utils import sanitize_tool_call_id

    return sanitize_tool_call_id(call_id)


def _graph_node() -> str | None:
    try:
        from langgraph.config import get_config

        node = get_config().get("metadata", {}).get("langgraph_node")
    except Exception:  # outside a graph run
        return None
    return node if isinstance(node, str) else None


def _scratch_bases(backend: Any) -> set[str]:
    root = getattr(backend, "artifacts_root", "/") or "/"
    bases = {"/"}
    if isinstance(root, str):
        with contextlib.suppress(PathRejectedError):
            bases.add(backend_path(root))
    return bases


def scratch(path: str, backend: Any) -> bool:
    """Whether ``path`` is a file in deepagents' own offload folders (``/large_tool_results/x``)."""
    for base in _scratch_bases(backend):
        for folder in SCRATCH:
            top = backend_path(base.rstrip("/") + "/" + folder)
            if path != top and within(path, top):
                return True
    return False


def offload_target(path: str, backend: Any) -> bool:
    """Whether ``path`` is the exact file deepagents writes now for its own offloading.

    ``large_tool_results/<id>`` of a tool call that just ended under one of our middleware
    (each once), or a
    ``conversation_history`` file named as deepagents names them (``session_<32 hex>.md``,
    ``<uuid4>.md``, ``media/<16 hex>.<ext>``) written outside a tools node (a model's tool call
    cannot write it).
    """
    for base in _scratch_bases(backend):
        head = base.rstrip("/")
        results = f"{head}/large_tool_results/"
        if path.startswith(results) and "/" not in path[len(results) :]:
            return _take_expected(path[len(results) :])
        top = f"{head}/conversation_history/"
        if path.startswith(top) and _HISTORY_NAME.fullmatch(path[len(top) :]):
            return _graph_node() != "tools"
    return False


def exec_dir(backend: Any) -> str | None:
    """The folder ``execute`` runs in, in the rules' coordinates.

    ``/`` for a backend without a working folder of its own (virtual mode, a state backend);
    None when the backend has one but cannot say which (a sandbox without ``python3``): then no
    rule can be shown to allow it, and :func:`judge` refuses it (``unresolvable``).
    """
    try:
        folder = working_folder(backend)
    except (OSError, ValueError, RuntimeError, PathRejectedError):
        return None
    return folder if folder is not None else "/"


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
    real_key = key(found.real)
    try:
        names = spellings(real_key, aliases(policy, backend))
    except OSError:
        return DENY, "unresolvable"
    ci = case_insensitive(backend, real_key, override)
    target = ALLOW if names == [key(path)] else policy.decide_any(op, names, ci)
    if target.mode != "allow":
        reason = "symlink" if real_key != key(path) else "rule"
        return Decision("deny", target.rule, target.layer), reason
    if policy.restrictive(op):
        nlink = found.nlink
        if nlink is None and found.host is not None:
            try:
                info = os.stat(found.host)
            except OSError:
                return None  # does not exist (yet): nothing is linked
            nlink = info.st_nlink if stat.S_ISREG(info.st_mode) else 0
        if nlink is not None and nlink > 1:
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
    """Normalize ``raw``, decide ``op`` on it, check what it really is.

    The path as written must be allowed, and so must the file it resolves to on the backend
    (links, and rule anchors that are themselves links: see :func:`aliases`).
    ``machinery``: deepagents itself calls (no tool call of the model). ``listing``: the root of
    a listing or search (deepagents' offload folders are read one file at a time, never listed).
    """
    if op == "execute" and raw is None:  # the working folder could not be placed
        return Verdict(op, None, None, DENY, "unresolvable")
    try:
        path = backend_path(raw)
    except PathRejectedError:
        return Verdict(op, None, None, DENY, "invalid_path")
    path_key = key(path)
    ci = case_insensitive(backend, path_key, override)
    try:
        found = aliases(policy, backend)
    except OSError:  # a rule anchor the backend cannot place now: only a denial is safe
        as_written = policy.decide(op, path_key, ci)
        if as_written.mode == "deny":
            return Verdict(op, path, path_key, as_written, "rule" if as_written.rule is not None
                           else "default")  # fmt: skip
        return Verdict(op, path, path_key, DENY, "unresolvable")
    if op == "execute":  # ``path`` is the folder commands run in, already resolved
        decision = policy.decide_any(op, spellings(path_key, found), ci)
        return Verdict(op, path, path_key, decision, "rule" if decision.rule is not None else
                       "default")  # fmt: skip
    if found:  # the path as written, and its spellings through rule anchors that are links
        decision = policy.decide_any(op, spellings(path_key, found), ci)
    else:
        decision = policy.decide(op, path_key, ci)
    reason = "rule" if decision.rule is not None else "default"
    if (
        decision.mode == "deny"
        and not decision.explicit
        and (
            (op == "read" and not listing and scratch(path_key, backend))
            or (machinery and op == "write" and offload_target(path_key, backend))
        )
    ):
        decision, reason = Decision("allow", None, decision.layer), "scratch"
    if decision.mode in ("allow", "interrupt"):  # a reviewer is not asked about a denied target
        refused = link_check(policy, op, path, backend, override)
        if refused is not None:
            decision, reason = refused
    return Verdict(op, path, path_key, decision, reason)


def place_relative(backend: Any, raw: str) -> str | None:
    """A relative result path placed through the backend's working folder (None: cannot).

    Only a backend that runs in a working folder of its own (a sandbox, a backend with the
    resolve hook; a composite's default one) reports relative paths; they are resolved there,
    links included. Any other backend's relative path is not placed (the caller withholds it).
    """
    fs = deepagents_fs()
    target = backend
    if fs is not None and isinstance(backend, fs.CompositeBackend):
        target = backend.default
    sandbox = _sandbox_class()
    is_sandbox = sandbox is not None and isinstance(target, sandbox)
    if fs is not None and isinstance(target, fs.FilesystemBackend):
        is_sandbox = False
    if not is_sandbox and not callable(getattr(target, HOOK, None)):
        return None
    placed = resolve(target, raw)
    return None if placed is None else placed.real


def search_root(backend: Any) -> str:
    """The folder a ``grep`` without a path searches: a sandbox's working folder, else ``/``."""
    fs = deepagents_fs()
    target = backend.default if fs is not None and isinstance(backend, fs.CompositeBackend) \
        else backend  # fmt: skip
    sandbox = _sandbox_class()
    if (
        sandbox is not None
        and isinstance(target, sandbox)
        and not (fs is not None and isinstance(target, fs.FilesystemBackend))
    ):
        try:
            return working_folder(target) or "/"
        except (OSError, ValueError, RuntimeError):
            return "/"
    return "/"
