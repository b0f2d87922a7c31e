"""The guarded backend: a deepagents backend that enforces the rules itself, and filters.

:func:`guard_backend` returns a copy of a backend whose class is a subclass adding the checks, so
every ``isinstance`` deepagents makes still holds. Calls made while one of our middleware handles a
tool call use that call's rules (composed below the guard's own); calls made outside any tool call
(deepagents' own: loading ``memory=`` files, offloading a large result) use the guard's rules, and
a denied read then answers "not found" so the caller skips the file instead of failing.

Listings and searches are filtered *before* deepagents counts, truncates or hints: entries and
lines from denied files are dropped, and so are the lines of an error text that name one (or a
host path in virtual mode).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any

from guardrails._adapters import deepagents as _da
from guardrails.audit import emit
from guardrails.errors import GuardrailConfigError
from guardrails.filesystem.layers import ACTIVE, ALLOW, DENY, Context, audit_denied
from guardrails.filesystem.links import (
    Verdict,
    case_insensitive,
    deepagents_fs,
    exec_dir,
    judge,
    place_relative,
    placement_gap,
    placement_memo,
    prefetch,
)
from guardrails.filesystem.paths import PathRejectedError, backend_path, key

__all__ = ["guard_backend", "is_guarded", "rebuild_error", "refusal"]


def refusal(op: str, path: str | None) -> str:
    """The answer a denied operation gets, whether or not the path exists."""
    if op == "execute":
        return "Error: permission denied for execute (no rule allows running commands here)"
    if path is None:
        return f"Error: permission denied for {op}: invalid path"
    return f"Error: permission denied for {op} on {path}"


def is_guarded(backend: Any) -> bool:
    return bool(getattr(type(backend), "_guardrails_guarded", False))


#: True while a guarded backend method runs: the backend's own delegation (``als`` running ``ls``
#: in a thread, a composite calling itself) passes through instead of filtering twice.
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "guardrails_fs_inside", default=False
)


def active_for(backend: Any) -> Context | None:
    """The rules for a call on ``backend`` now: the running tool call's, under the guard's own."""
    active = ACTIVE.get()
    base: Context | None = getattr(backend, "_guardrails_base", None)
    if active is None:
        return None if base is None else dataclasses.replace(base, machinery=True)
    # inside a task call but outside any file tool call: the subagent's deepagents machinery
    machinery = active.subagent is not None
    if base is None:
        return dataclasses.replace(active, machinery=True) if machinery else active
    return dataclasses.replace(active, policy=base.policy.then(active.policy), machinery=machinery)


# --------------------------------------------------------------------------- filters


#: Error texts of deepagents' backends that name only the path the caller gave (kept as is).
_ROOT_ERRORS = ("Path '{}': path_not_found", "Path '{}': not_a_directory")
_FIXED_ERRORS = re.compile(
    r"Error: (?:grep|glob) timed out after \d+s\. Try a more specific pattern or a narrower path\."
)


def rebuild_error(text: str | None, root: str | None, verb: str) -> str | None:
    """A backend's error for a listing or search, rebuilt from what the caller may see.

    A backend's error text is free text that may name any file (a denied one, a host path); it
    is never passed on. What is kept: deepagents' own answers about the searched path itself
    (``Path '/x': path_not_found``), its fixed timeout texts; anything else becomes
    ``some files under <path> could not be <verb>``, naming only the path the caller gave.
    """
    if not text:
        return text
    if root is not None and text in {t.format(root) for t in _ROOT_ERRORS}:
        return text
    if _FIXED_ERRORS.fullmatch(text):
        return text
    where = f" under {root}" if root is not None else ""
    return f"some files{where} could not be {verb}"


class _Filter:
    """Which result paths a guarded backend may return, memoized for one call.

    A result path is judged where it really is: an absolute path as it is, a relative one
    (a sandbox's ``grep`` without a path answers ``./secrets/key.pem``) placed through the
    backend's own working folder, or withheld when the backend has none to offer.
    """

    def __init__(self, ctx: Context, backend: Any) -> None:
        self.ctx = ctx
        self.backend = backend
        self.cache: dict[str, bool] = {}
        self.withheld = 0

    def prefetch(self, raws: list[str]) -> None:
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            prefetch(self.backend, [r for r in dict.fromkeys(raws) if r not in self.cache])

    def _judge(self, raw: str) -> bool:
        if not raw.startswith("/"):
            try:
                placed = place_relative(self.backend, raw)
            except (ValueError, OSError, RuntimeError, PathRejectedError):
                return False
            if placed is None:
                return False  # no working folder to place it in: withheld, never re-anchored
            raw = placed
        verdict = judge(self.ctx.policy, "read", raw, self.backend, self.ctx.case_insensitive)
        return verdict.allowed

    def allowed(self, raw: str) -> bool:
        if raw not in self.cache:
            self.cache[raw] = self._judge(raw)
        if not self.cache[raw]:
            self.withheld += 1
        return self.cache[raw]

    def error(self, text: str | None, root: str | None, verb: str) -> str | None:
        rebuilt = rebuild_error(text, root, verb)
        if rebuilt != text:
            self.withheld += 1
        return rebuilt

    def done(self, method: str, path: str | None) -> None:
        if not self.withheld:
            return
        fields: dict[str, Any] = {"tool": self.ctx.tool or None, "operation": "read"}
        if path is not None:
            with contextlib.suppress(PathRejectedError):
                fields["path"] = backend_path(path)
        emit("fs.filtered", self.ctx.guardrail, backend_method=method,
             withheld=self.withheld, **fields)  # fmt: skip


# --------------------------------------------------------------------------- guarded methods

# A guarded method is ``pre`` (check the arguments: an early answer, or the arguments to call
# the backend with and a state), the backend's own method, then ``post`` (filter the result).
_NOT_FOUND = {
    "read": lambda p: {"error": f"File '{p}' not found"},
    "edit": lambda p: {"error": f"Error: File '{p}' not found"},
    "delete": lambda p: {"error": f"Error: '{p}' not found"},
    "ls": lambda p: {"error": f"Path '{p}': path_not_found"},
}


def _check(backend: Any, ctx: Context, op: str, raw: Any, method: str) -> Verdict:
    if op == "read" and ctx.checked is not None and raw == ctx.checked:
        return Verdict(op, raw, raw, ALLOW, "checked")  # decided by the middleware already
    verdict = judge(ctx.policy, op, raw, backend, ctx.case_insensitive,
                    machinery=ctx.machinery, listing=method in ("ls", "glob", "grep"))  # fmt: skip
    if (
        verdict.decision.mode == "interrupt"
        and verdict.path is not None
        and (op, verdict.path) in ctx.approved
    ):
        return Verdict(op, verdict.path, verdict.key, ALLOW, "approved")  # a reviewer said yes
    if not verdict.allowed:
        audit_denied(ctx.guardrail, runtime=None, tool=ctx.tool or None, operation=op,
                     path=verdict.key, decision=verdict.decision, reason=verdict.reason,
                     backend_method=method)  # fmt: skip
    return verdict


def _early(method: str, verdict: Verdict, result_type: Callable[..., Any]) -> Any:
    if verdict.hidden and method in _NOT_FOUND:
        return result_type(**_NOT_FOUND[method](verdict.path))
    return result_type(error=refusal(verdict.op, verdict.key))


def _ls_pre(self: Any, ctx: Context, path: str, *a: Any, **k: Any) -> Any:
    fs = _protocol()
    verdict = _check(self, ctx, "read", path, "ls")
    early = None if verdict.allowed else _early("ls", verdict, fs.LsResult)
    return early, (path, *a), k, path


def _glob_pre(self: Any, ctx: Context, pattern: str, path: str | None = None) -> Any:
    fs = _protocol()
    if path is not None and not (verdict := _check(self, ctx, "read", path, "glob")).allowed:
        early = (
            fs.GlobResult(matches=[]) if verdict.hidden else _early("glob", verdict, fs.GlobResult)
        )
        return early, (), {}, None
    return None, (pattern,), {"path": path}, path


def _grep_pre(self: Any, ctx: Context, pattern: str, path: str | None = None,
              glob: str | None = None, max_count: int | None = None) -> Any:  # fmt: skip
    fs = _protocol()
    if path is not None and not (verdict := _check(self, ctx, "read", path, "grep")).allowed:
        early = (
            fs.GrepResult(matches=[]) if verdict.hidden else _early("grep", verdict, fs.GrepResult)
        )
        return early, (), {}, None
    kwargs: dict[str, Any] = {"path": path, "glob": glob}
    if "max_count" in inspect.signature(type(self).grep).parameters:
        kwargs["max_count"] = None  # the cap is applied after filtering
    return None, (pattern,), kwargs, (path, max_count)


def _single_pre(method: str, ops: tuple[str, ...], result: str) -> Callable[..., Any]:
    def pre(self: Any, ctx: Context, file_path: str, *a: Any, **k: Any) -> Any:
        for op in ops:
            verdict = _check(self, ctx, op, file_path, method)
            if not verdict.allowed:
                return _early(method, verdict, getattr(_protocol(), result)), (), {}, None
        return None, (file_path, *a), k, None

    return pre


def _transfer_pre(method: str, op: str) -> Callable[..., Any]:
    def pre(self: Any, ctx: Context, items: list[Any]) -> Any:
        paths = [item[0] if isinstance(item, tuple) else item for item in items]
        denied: dict[int, str] = {}
        for i, path in enumerate(paths):
            verdict = _check(self, ctx, op, path, method)
            if not verdict.allowed:
                missing = verdict.hidden or (ctx.machinery and op == "read")
                denied[i] = "file_not_found" if missing else "permission_denied"
        allowed = [item for i, item in enumerate(items) if i not in denied]
        state = (paths, denied, op)
        early = _transfer_merge(self, ctx, [], state) if not allowed else None
        return early, (allowed,), {}, state

    return pre


def _transfer_merge(self: Any, ctx: Context, result: Any, state: Any) -> Any:
    paths, denied, op = state
    fs = _protocol()
    response = fs.FileDownloadResponse if op == "read" else fs.FileUploadResponse
    got = iter(result)
    return [response(path=p, error=denied[i]) if i in denied else next(got)
            for i, p in enumerate(paths)]  # fmt: skip


def _execute_pre(self: Any, ctx: Context, command: str, *a: Any, **k: Any) -> Any:
    verdict = _check(self, ctx, "execute", exec_dir(self), "execute")
    if verdict.allowed:
        return None, (command, *a), k, None
    return _protocol().ExecuteResponse(output=refusal("execute", None), exit_code=126), (), {}, None


def _delete_overlaps(backend: Any, ctx: Context, raw: Any) -> tuple[str, list[str]] | None:
    """``(path, rule paths)`` when deleting ``raw`` could remove a file those rules protect.

    A backend's ``delete`` removes a folder with everything in it: a write-deny (or interrupt)
    rule rooted below it, or reaching below it (``**/.env``), would be bypassed. After a
    reviewer approved the delete, only deny rules count.
    """
    try:
        path = backend_path(raw)
    except PathRejectedError:
        return None
    path_key = key(path)
    ci = case_insensitive(backend, path_key, ctx.case_insensitive)
    modes = ("deny",) if ("write", path) in ctx.approved else ("deny", "interrupt")
    named = ctx.policy.delete_overlaps(path_key, ci, modes)
    return (path, named) if named else None


def _delete_refused(ctx: Context, path: str, named: list[str]) -> Any:
    audit_denied(ctx.guardrail, runtime=None, tool=ctx.tool or None, operation="write",
                 path=key(path), decision=DENY, reason="descendants",
                 backend_method="delete")  # fmt: skip
    text = f"{refusal('write', key(path))} (matches deny rule(s): {', '.join(named)})"
    return _protocol().DeleteResult(error=text)


def _route_prefix(backend: Any, path: Any) -> str | None:
    """The route a composite serves ``path`` from (None: the default backend, or not composite)."""
    fs = deepagents_fs()
    if fs is None or not isinstance(backend, fs.CompositeBackend) or path in (None, "/"):
        return None
    prefix: str | None = _da.route_for_path(backend, str(path))[2]
    return prefix


def _entries(method: str, attr: str) -> Callable[..., Any]:
    def post(self: Any, ctx: Context, result: Any, path: Any) -> Any:
        items = list(getattr(result, attr, None) or [])
        prefix = _route_prefix(self, path) if getattr(result, "error", None) else None
        remapped = prefix is not None and bool(items)
        if prefix is not None:  # a composite returns a route's result with an error unprefixed
            head = prefix.rstrip("/")
            items = [{**item, "path": head + str(item.get("path", ""))} for item in items]
        keep = _Filter(ctx, self)
        names = [str(item.get("path", "")).rstrip("/") or "/" for item in items]
        keep.prefetch(names)
        kept = [item for item, name in zip(items, names, strict=True) if keep.allowed(name)]
        error = getattr(result, "error", None)
        if error and items:  # deepagents' ls / glob show an error alone: keep the entries
            keep.withheld += 1
            error = None
        error = keep.error(error, _shown_root(path), "listed")
        keep.done(method, path)
        changes: dict[str, Any] = {}
        if remapped or len(kept) != len(items):
            changes[attr] = kept
        if error != getattr(result, "error", None):
            changes["error"] = error
        return dataclasses.replace(result, **changes) if changes else result

    return post


def _grep_post(self: Any, ctx: Context, result: Any, state: Any) -> Any:
    path, max_count = state
    keep = _Filter(ctx, self)
    keep.prefetch([str(m.get("path", "")) for m in result.matches or []])
    kept = [m for m in result.matches or [] if keep.allowed(str(m.get("path", "")))]
    error = keep.error(str(result.error) if result.error else None, _shown_root(path), "searched")
    keep.done("grep", path)
    truncated = bool(result.truncated)
    if max_count is not None and len(kept) > max_count:
        kept, truncated = kept[:max_count], True
    return _protocol().GrepResult(error=error, matches=kept, truncated=truncated)


def _shown_root(path: Any) -> str | None:
    """The searched path as the caller may see it (normalized), or None."""
    if not isinstance(path, str):
        return None
    try:
        return backend_path(path)
    except PathRejectedError:
        return None


def _same(self: Any, ctx: Context, result: Any, state: Any) -> Any:
    return result


_METHODS: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
    ("ls", _ls_pre, _entries("ls", "entries")),
    ("glob", _glob_pre, _entries("glob", "matches")),
    ("grep", _grep_pre, _grep_post),
    ("read", _single_pre("read", ("read",), "ReadResult"), _same),
    ("write", _single_pre("write", ("write",), "WriteResult"), _same),
    ("edit", _single_pre("edit", ("read", "write"), "EditResult"), _same),
    ("delete", _single_pre("delete", ("write",), "DeleteResult"), _same),
    ("download_files", _transfer_pre("download_files", "read"), _transfer_merge),
    ("upload_files", _transfer_pre("upload_files", "write"), _transfer_merge),
    ("execute", _execute_pre, _same),
]


def _protocol() -> Any:
    import deepagents.backends.protocol as protocol

    return protocol


def _composite_grep(self: Any, pattern: str, path: str | None, glob: str | None) -> Any:
    """A composite's grep, routed here so each route's matches and errors carry its prefix."""
    fs = _protocol()
    parts = _composite_parts(self, path)
    results = [(routed.grep(pattern, inner, glob), prefix) for routed, inner, prefix in parts]
    return _merge_grep(fs, results)


async def _composite_agrep(self: Any, pattern: str, path: str | None, glob: str | None) -> Any:
    fs = _protocol()
    parts = _composite_parts(self, path)
    results = [
        (await routed.agrep(pattern, inner, glob), prefix) for routed, inner, prefix in parts
    ]
    return _merge_grep(fs, results)


def _composite_parts(self: Any, path: str | None) -> list[tuple[Any, str | None, str | None]]:
    if path is not None and path != "/":
        routed, inner, prefix = _da.route_for_path(self, path)
        return [(routed, inner, prefix)]
    parts: list[tuple[Any, str | None, str | None]] = [(self.default, path, None)]
    return parts + [(routed, "/", prefix) for prefix, routed in self.routes.items()]


def _merge_grep(fs: Any, results: list[tuple[Any, str | None]]) -> Any:
    matches: list[Any] = []
    errors: list[str] = []
    truncated = False
    for result, prefix in results:
        head = prefix.rstrip("/") if prefix else ""
        matches += [{**m, "path": head + m["path"]} for m in result.matches or []]
        if result.error:
            errors.append(str(result.error))
        truncated = truncated or bool(result.truncated)
    return fs.GrepResult(error="\n".join(errors) if errors else None, matches=matches,
                         truncated=truncated)  # fmt: skip


def _method(name: str, pre: Callable[..., Any], post: Callable[..., Any], composite: bool) -> Any:
    def sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        base = getattr(super(guarded_of(type(self)), self), name)
        ctx = None if _INSIDE.get() else active_for(self)
        if ctx is None:
            return base(*args, **kwargs)
        with placement_memo():
            early, args, kwargs, state = pre(self, ctx, *args, **kwargs)
            if early is not None:
                return early
            token = _INSIDE.set(True)
            try:
                if name == "delete" and (found := _delete_overlaps(self, ctx, args[0])):
                    try:
                        folder = _da.delete_may_have_descendants(self, found[0])
                    except Exception:  # cannot tell: treat it as a folder
                        folder = True
                    if folder:
                        return _delete_refused(ctx, *found)
                if composite and name == "grep":
                    result = _composite_grep(self, args[0], kwargs.get("path"), kwargs.get("glob"))
                else:
                    result = base(*args, **kwargs)
            finally:
                _INSIDE.reset(token)
            return post(self, ctx, result, state)

    async def async_(self: Any, *args: Any, **kwargs: Any) -> Any:
        base = getattr(super(guarded_of(type(self)), self), "a" + name)
        ctx = None if _INSIDE.get() else active_for(self)
        if ctx is None:
            return await base(*args, **kwargs)
        with placement_memo():
            early, args, kwargs, state = pre(self, ctx, *args, **kwargs)
            if early is not None:
                return early
            token = _INSIDE.set(True)
            try:
                if name == "delete" and (found := _delete_overlaps(self, ctx, args[0])):
                    try:
                        folder = await _da.adelete_may_have_descendants(self, found[0])
                    except Exception:  # cannot tell: treat it as a folder
                        folder = True
                    if folder:
                        return _delete_refused(ctx, *found)
                if composite and name == "grep":
                    result = await _composite_agrep(self, args[0], kwargs.get("path"),
                                                    kwargs.get("glob"))  # fmt: skip
                else:
                    result = await base(*args, **kwargs)
            finally:
                _INSIDE.reset(token)
            return post(self, ctx, result, state)

    return sync, async_


_GUARDED: dict[type, type] = {}


def guarded_of(cls: type) -> type:
    """The guarded subclass itself (``cls`` may be a user subclass of it)."""
    for klass in cls.__mro__:
        if klass.__dict__.get("_guardrails_guarded"):
            return klass
    return cls


def guarded_class(cls: type) -> type:
    """A subclass of a backend class whose file methods enforce the active rules (cached)."""
    if getattr(cls, "_guardrails_guarded", False):
        return cls
    if cls not in _GUARDED:
        fs = deepagents_fs()
        composite = fs is not None and issubclass(cls, fs.CompositeBackend)
        namespace: dict[str, Any] = {"_guardrails_guarded": True, "_guardrails_base": None}
        for name, pre, post in _METHODS:
            if hasattr(cls, name) and hasattr(cls, "a" + name):
                namespace[name], namespace["a" + name] = _method(name, pre, post, composite)
        _GUARDED[cls] = type(f"Guarded{cls.__name__}", (cls,), namespace)
    return _GUARDED[cls]


def guard_backend(backend: Any, middleware: Any = None) -> Any:
    """A copy of ``backend`` (same class, via a subclass) that enforces the rules itself.

    Calls made while one of our middleware handles a tool call use that call's rules (with
    ``middleware``'s composed above them); other calls use ``middleware``'s rules.

    Example::

        guarded = guard_backend(FilesystemBackend(root_dir=root), jail)
    """
    if deepagents_fs() is None:  # pragma: no cover
        raise GuardrailConfigError("guard_backend needs deepagents installed")
    gap = placement_gap(backend)
    if gap is not None:
        raise GuardrailConfigError(f"cannot guard this backend: {gap}")
    clone = _da.retype(backend, guarded_class(type(backend)))
    if middleware is not None:
        clone._guardrails_base = middleware.context_for(backend)
    return clone
