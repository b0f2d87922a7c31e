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
from pathlib import Path
from typing import Any

from guardrails._adapters import deepagents as _da
from guardrails.audit import emit
from guardrails.errors import GuardrailConfigError
from guardrails.filesystem.layers import ACTIVE, ALLOW, Context, audit_denied
from guardrails.filesystem.links import Verdict, deepagents_fs, exec_dir, judge
from guardrails.filesystem.paths import PathRejectedError, backend_path

__all__ = ["filter_error", "guard_backend", "is_guarded", "refusal"]


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


def _host_roots(backend: Any, prefix: str = "/") -> list[tuple[str, str]]:
    """``(host folder, virtual folder)`` of each virtual-mode FilesystemBackend in ``backend``."""
    fs = deepagents_fs()
    if fs is None:
        return []
    if isinstance(backend, fs.CompositeBackend):
        out = _host_roots(backend.default, prefix)
        for route, routed in backend.routes.items():
            out += _host_roots(routed, route)
        return out
    if isinstance(backend, fs.FilesystemBackend) and backend.virtual_mode:
        return [(Path(backend.cwd).as_posix().rstrip("/"), prefix)]
    return []


_QUOTED = re.compile(r"""['"](/[^'"\n]*)['"]""")
_BARE = re.compile(r"""(?<![\w'"])(/[^\n'",;()]*?)(?=: |, |\)|$|\n)""")


def filter_error(
    backend: Any, ctx: Context, text: str | None, prefix: str | None = None
) -> tuple[str | None, int]:
    """``text`` without the lines naming a path the rules withhold; host paths made virtual.

    Every path-like span of a line (quoted, or running to the next ``": "``) must be allowed for
    read, or the line is dropped. Returns the text (None if nothing is left to say) and the
    number of lines dropped.
    """
    if not text:
        return text, 0
    roots = sorted(_host_roots(backend), key=lambda r: len(r[0]), reverse=True)
    kept: list[str] = []
    dropped = 0
    for line in text.split("\n"):
        out, ok = line, True
        spans = _QUOTED.findall(line) + _BARE.findall(line)
        for span in dict.fromkeys(s.rstrip(".") for s in spans):
            virtual = span
            for host, folder in roots:
                if span == host or span.startswith(host + "/"):
                    virtual = folder.rstrip("/") + span[len(host) :] or "/"
                    break
            if prefix is not None and virtual == span:
                virtual = prefix.rstrip("/") + span
            verdict = judge(ctx.policy, "read", virtual, backend, ctx.case_insensitive)
            if not verdict.allowed:
                ok = False
                break
            out = out.replace(span, verdict.path or virtual)
        if ok:
            kept.append(out)
        else:
            dropped += 1
    if dropped and not any("/" in line for line in kept):
        return None, dropped
    return "\n".join(kept) or None, dropped


class _Filter:
    """Which result paths a guarded backend may return, memoized for one call."""

    def __init__(self, ctx: Context, backend: Any) -> None:
        self.ctx = ctx
        self.backend = backend
        self.cache: dict[str, bool] = {}
        self.withheld = 0

    def allowed(self, raw: str) -> bool:
        if raw not in self.cache:
            verdict = judge(self.ctx.policy, "read", raw, self.backend, self.ctx.case_insensitive)
            self.cache[raw] = verdict.allowed
        if not self.cache[raw]:
            self.withheld += 1
        return self.cache[raw]

    def error(self, text: str | None, prefix: str | None = None) -> str | None:
        cleaned, dropped = filter_error(self.backend, self.ctx, text, prefix)
        self.withheld += dropped
        return cleaned

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
        kept = [
            item for item in items if keep.allowed(str(item.get("path", "")).rstrip("/") or "/")
        ]
        error = keep.error(getattr(result, "error", None), prefix)
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
    kept = [m for m in result.matches or [] if keep.allowed(str(m.get("path", "")))]
    if isinstance(result.error, _PrefixedErrors):
        texts = [keep.error(part, part.prefix) for part in result.error.parts]
        error = "\n".join(t for t in texts if t) or None
    else:
        error = keep.error(result.error)
    keep.done("grep", path)
    truncated = bool(result.truncated)
    if max_count is not None and len(kept) > max_count:
        kept, truncated = kept[:max_count], True
    return _protocol().GrepResult(error=error, matches=kept, truncated=truncated)


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
            errors.append(_PrefixedError(result.error, prefix))
        truncated = truncated or bool(result.truncated)
    return fs.GrepResult(error=_PrefixedErrors(errors) if errors else None, matches=matches,
                         truncated=truncated)  # fmt: skip


class _PrefixedError(str):
    """An error text of one composite route, with the route its paths are relative to."""

    prefix: str | None

    def __new__(cls, text: str, prefix: str | None) -> _PrefixedError:
        made = super().__new__(cls, text)
        made.prefix = prefix
        return made


class _PrefixedErrors(str):
    parts: list[_PrefixedError]

    def __new__(cls, parts: list[Any]) -> _PrefixedErrors:
        made = super().__new__(cls, "\n".join(parts))
        made.parts = parts
        return made


def _method(name: str, pre: Callable[..., Any], post: Callable[..., Any], composite: bool) -> Any:
    def sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        base = getattr(super(guarded_of(type(self)), self), name)
        ctx = None if _INSIDE.get() else active_for(self)
        if ctx is None:
            return base(*args, **kwargs)
        early, args, kwargs, state = pre(self, ctx, *args, **kwargs)
        if early is not None:
            return early
        token = _INSIDE.set(True)
        try:
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
        early, args, kwargs, state = pre(self, ctx, *args, **kwargs)
        if early is not None:
            return early
        token = _INSIDE.set(True)
        try:
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
    clone = _da.retype(backend, guarded_class(type(backend)))
    if middleware is not None:
        clone._guardrails_base = middleware.context_for(backend)
    return clone
