"""The tool flow of ``FilesystemPermissionMiddleware``: each tool call judged, its paths rewritten
to their normalized form, run under the active context, and a file tool's error re-worded.

A mixin of :class:`~guardrails.filesystem.FilesystemPermissionMiddleware` (its methods read the
middleware's ``_policy``, ``backend``, ``case_insensitive``, ``name``, ``audit`` and the approval
flow of :mod:`~guardrails.filesystem.review`); kept apart because deciding one call is its own
seam: what a call names, what it may touch, what it answers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import ToolMessage

from guardrails._adapters import deepagents as _da
from guardrails._core import Call, Flow, SyncAsync
from guardrails.filesystem.backends import guard_backend, refusal
from guardrails.filesystem.layers import ACTIVE, DENY, RANK, Context, RuleStack, audit_denied
from guardrails.filesystem.links import (
    Verdict,
    case_insensitive,
    exec_dir,
    expect_offload,
    judge,
    placement_gap,
    placement_memo,
    search_root,
)
from guardrails.filesystem.paths import glob_root
from guardrails.filesystem.subagents import task_refusal
from guardrails.filesystem.toolargs import ABSENT, UNKNOWN, arg_values, check_tool, misspelt

__all__ = ["ToolFlow"]

#: deepagents' file tools: argument holding a path -> operations it needs.
#: (tool_paths entry, called tool) pairs already warned about (see :func:`misspelt`).
_WARNED: set[tuple[str, str]] = set()

_FILE_TOOLS: dict[str, dict[str, tuple[str, ...]]] = {
    "read_file": {"file_path": ("read",)},
    "write_file": {"file_path": ("write",)},
    "edit_file": {"file_path": ("read", "write")},
    "delete": {"file_path": ("write",)},
}
_BULK_TOOLS = frozenset({"ls", "glob", "grep"})
#: What deepagents' own tools answer for a name that does not exist (a withheld name answers so).
_MISSING: dict[str, tuple[str, str]] = {
    "read_file": ("Error: File '{}' not found", "error"),
    "edit_file": ("Error: File '{}' not found", "error"),
    "delete": ("Error: '{}' not found", "error"),
    "ls": ("Error: Path '{}': path_not_found", "error"),
    "glob": ("No files found", "success"),
    "grep": ("No matches found", "success"),
}


def _denied(message: str, name: str, call_id: str | None, status: str = "error") -> ToolMessage:
    return ToolMessage(content=message, name=name, tool_call_id=call_id, status=status)


def _paths_in(value: Any) -> list[Any]:
    """The paths an argument holds: a string, or the strings in a list or dict (nested)."""
    if isinstance(value, (list, tuple)):
        return [p for item in value for p in _paths_in(item)]
    if isinstance(value, Mapping):
        return [p for item in value.values() for p in _paths_in(item)]
    return [value]


def _rewrite(value: Any, done: dict[int, str], counter: list[int]) -> Any:
    """``value`` with each path replaced by its normalized form (same structure)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_rewrite(item, done, counter) for item in value)
    if isinstance(value, Mapping):
        return {k: _rewrite(v, done, counter) for k, v in value.items()}
    index = counter[0]
    counter[0] += 1
    return done.get(index, value)


_VERBS = {"read_file": "read", "write_file": "write", "edit_file": "edit", "delete": "delete"}


def _single_file_error(
    result: Any, tool: str, shown: Sequence[str], given: Sequence[str] = ()
) -> Any:
    """A file tool's error rebuilt when it names more than the path the caller gave.

    A backend's error text may carry another coordinate system (the host path behind a virtual
    one: ``[Errno 21] Is a directory: '/srv/agent/workspace/d'``) or another file's name: such a
    text becomes ``Error: could not write '/workspace/d'``.
    """
    if not isinstance(result, ToolMessage) or not isinstance(result.content, str):
        return result
    text = result.content
    if not text.startswith("Error") and result.status != "error":
        return result
    rest = text
    for known in sorted({*shown, *given}, key=len, reverse=True):
        if known:
            rest = rest.replace(known, "")
    if "/" not in rest and "\\" not in rest:
        return result
    where = f" '{shown[0]}'" if shown else ""
    return result.model_copy(update={"content": f"Error: could not {_VERBS[tool]}{where}"})


def _may_have_descendants(backend: Any, path: str) -> SyncAsync:
    """Whether ``delete(path)`` may remove more than one file (asks the backend; True if unsure)."""

    def sync() -> bool:
        if backend is None:
            return True
        try:
            return _da.delete_may_have_descendants(backend, path)
        except Exception:  # cannot tell: treat it as a folder
            return True

    async def async_() -> bool:
        if backend is None:
            return True
        try:
            return await _da.adelete_may_have_descendants(backend, path)
        except Exception:
            return True

    return SyncAsync(sync, async_)


class ToolFlow:
    """The tool calls of :class:`~guardrails.filesystem.FilesystemPermissionMiddleware` (a mixin:
    its methods read the middleware's rules and settings; ``_interrupt`` comes from
    :class:`~guardrails.filesystem.review.Review`).

    Example::

        class FilesystemPermissionMiddleware(ToolFlow, Review, Guardrail, kind="filesystem"): ...
    """

    def _fs_tools(self: Any, tool: Any) -> tuple[Any, dict[str, Any]] | None:
        """(backend, guarded tools by name) for a deepagents file tool; None for other tools."""
        if tool is None:
            return None
        owner = _da.fs_middleware_of(tool)
        if owner is None:
            return None
        cached: tuple[Any, dict[str, Any]] | None = self._fs_cache.get(owner)
        if cached is None and placement_gap(owner.backend) is not None:
            return owner.backend, {}  # refused in tool_flow (unsupported_backend)
        if cached is None:
            cached = (owner.backend, _da.create_fs_tools(owner, guard_backend(owner.backend)))
            self._fs_cache[owner] = cached
        return cached

    def tool_flow(self: Any, request: Any) -> Flow[Any]:
        call = request.tool_call
        try:
            with placement_memo():
                return (yield from self._tool_flow(request))
        finally:
            if isinstance(call.get("id"), str) and call["id"]:
                expect_offload(call["id"])  # deepagents may offload this call's result, once

    def _tool_flow(self: Any, request: Any) -> Flow[Any]:
        call = request.tool_call
        name = call["name"]
        bulk = name in _BULK_TOOLS
        parent = ACTIVE.get()
        policy = self._policy if parent is None else parent.policy.then(self._policy)
        args = dict(call.get("args") or {})
        custom = policy.tools()
        if not bulk and name != "execute" and name not in _FILE_TOOLS and name not in custom:
            return (yield from self._other_tool(request, policy, args))
        found = self._fs_tools(request.tool) if name in _FILE_TOOLS or bulk or name == "execute" \
            else None  # fmt: skip
        backend = self.backend if self.backend is not None else (found[0] if found else None)
        override = self.case_insensitive
        verdicts: list[Verdict] = []

        def check(op: str, raw: Any) -> Verdict:
            verdict = judge(policy, op, raw, backend, override, listing=bulk)
            verdicts.append(verdict)
            return verdict

        replacement = None
        checked: str | None = None
        named: list[str] = []  # deny patterns a refused delete names
        missing: str | None = None  # a path argument given neither by the call nor a default
        gap = placement_gap(backend) if name not in custom else None
        if gap is not None:
            verdicts.append(Verdict("read", None, None, DENY, "unsupported_backend"))
        elif name == "execute":
            check("execute", exec_dir(backend))
        elif bulk:
            root_arg = "path"
            raw_root = args.get("path")
            if name == "glob" and raw_root is None and str(args.get("pattern", "")).startswith("/"):
                pattern = str(args["pattern"])
                raw_root = glob_root(pattern)
                rest = pattern[len(raw_root.rstrip("/")) :]
                args["path"], args["pattern"] = (
                    raw_root,
                    rest if rest.startswith("/") else "/" + rest,
                )
            elif raw_root is None and name != "ls":
                raw_root, root_arg = search_root(backend), ""
            verdict = check("read", raw_root if raw_root is not None else "")
            if verdict.path is not None and root_arg:
                args[root_arg] = checked = verdict.path
            if found is not None:
                replacement = found[1].get(name)
            if replacement is None and policy.restrictive("read"):
                verdicts.append(Verdict("read", verdict.path, verdict.key, DENY, "unfilterable"))
        else:
            missing = yield from self._check_args(request, name, args, policy, check, verdicts)
            if name == "delete" and verdicts and all(v.decision.mode != "deny" for v in verdicts):
                # allowed or asking a human: a folder delete must not remove what a rule denies
                for each in list(verdicts):  # every path a delete names (a tool of your own
                    assert each.path is not None and each.key is not None  # may take several)
                    ci = case_insensitive(backend, each.key, override)
                    # a delete a human approves may still not remove what a deny rule protects
                    modes = (
                        ("deny",) if each.decision.mode == "interrupt" else ("deny", "interrupt")
                    )
                    named = policy.delete_overlaps(each.key, ci, modes)
                    if named and (yield _may_have_descendants(backend, each.path)):
                        verdicts.append(Verdict("write", each.path, each.key, DENY, "descendants"))
                        break
            elif name == "delete":
                refused = next((v for v in verdicts if not v.allowed and v.key is not None), None)
                if refused is not None and refused.key is not None:
                    ci = case_insensitive(backend, refused.key, override)
                    named = policy.matching_denials("write", refused.key, ci)
        worst = max(verdicts, key=lambda v: RANK[v.decision.mode], default=None)
        if worst is not None and worst.decision.mode == "deny":
            audit_denied(self.name, via=self.audit, runtime=request.runtime, tool=name,
                         operation=worst.op, path=worst.key, decision=worst.decision,
                         reason=worst.reason)  # fmt: skip
            if worst.hidden and name in _MISSING:
                text, status = _MISSING[name]
                return _denied(text.format(worst.path), name, call.get("id"), status)
            if worst.reason == "unsupported_backend":
                text = f"Error: permission denied: {gap}"
            elif worst.reason == "missing_argument":
                text = (f"Error: permission denied for {worst.op}: give '{missing}' explicitly "
                        "(the path it defaults to cannot be checked)")  # fmt: skip
            else:
                text = refusal(worst.op, worst.key)
            if name == "delete" and named:
                text += f" (matches deny rule(s): {', '.join(named)})"
            return _denied(text, name, call.get("id"))
        approved: frozenset[tuple[str, str]] = frozenset()
        if worst is not None and worst.decision.mode == "interrupt":
            answer = yield from self._interrupt(request, name, worst, args, policy, backend)
            if answer is not None:
                return answer
            approved = frozenset(
                (v.op, v.path)
                for v in verdicts
                if v.decision.mode == "interrupt" and v.path is not None
            )
        for v in verdicts:
            if v.decision.widened:
                self.audit("fs.widened", runtime=request.runtime, tool=name,
                     operation=v.op, path=v.key, layer=v.decision.layer)  # fmt: skip
        new_request = request.override(tool_call={**call, "args": args})
        if replacement is not None:
            new_request = new_request.override(tool=replacement)
        token = ACTIVE.set(
            Context(policy, name, request.runtime, self.name, override, checked, approved=approved)
        )
        try:
            result = yield Call(new_request)
        finally:
            ACTIVE.reset(token)
        if name in _FILE_TOOLS and name not in custom:
            shown = [v.path for v in verdicts if v.path is not None]
            given = [v for v in args.values() if isinstance(v, str)]  # the caller's own text
            return _single_file_error(result, name, shown, given)
        return result

    def _check_args(
        self: Any,
        request: Any,
        name: str,
        args: dict[str, Any],
        policy: RuleStack,
        check: Callable[[str, Any], Verdict],
        verdicts: list[Verdict],
    ) -> Flow[str | None]:
        """Judge each path argument of a file tool or a ``tool_paths`` tool; rewrite it in place.

        Returns the name of a path argument that was omitted with no default to judge.
        """
        if False:  # pragma: no cover - makes this a generator (a flow with no operation)
            yield None
        custom = policy.tools()
        spec = custom.get(name) or _FILE_TOOLS[name]
        fields = None
        if name in custom and request.tool is not None:
            fields = check_tool(request.tool, spec)  # raises GuardrailConfigError
        missing: str | None = None
        for arg, ops in spec.items():
            keys, info = (fields[arg][1], fields[arg][2]) if fields else ((arg,), None)
            for value, used in arg_values(args, keys, info):
                if value is ABSENT or (value is UNKNOWN and name in _FILE_TOOLS and not fields):
                    continue  # required: the call fails validation before it touches anything
                if value is UNKNOWN:
                    if any(policy.restrictive(op) for op in ops):
                        verdicts.append(Verdict(ops[0], None, None, DENY, "missing_argument"))
                        missing = missing or arg
                    continue
                done: dict[int, str] = {}
                for index, raw in enumerate(_paths_in(value)):
                    for op in ops:
                        verdict = check(op, raw)
                    if verdict.path is not None:
                        done[index] = verdict.path
                if used:
                    args[used] = _rewrite(value, done, [0])
        return missing

    def _other_tool(self: Any, request: Any, policy: RuleStack, args: dict[str, Any]) -> Flow[Any]:
        """Not a file tool, but it may start a subagent (``task``): held to our rules, or denied."""
        call = request.tool_call
        subagent = args.get("subagent_type")
        paths = frozenset(policy.tools())
        near = misspelt(call["name"], paths) if paths else None
        if near is not None and (near, call["name"]) not in _WARNED:
            _WARNED.add((near, call["name"]))
            warnings.warn(
                f"{self.name}: tool_paths names {near!r}, and the agent called {call['name']!r}, "
                "which tool_paths does not list: a misspelt name leaves that tool's paths "
                "unchecked",
                UserWarning,
                stacklevel=2,
            )
        why = task_refusal(request.tool, subagent, paths) if request.tool is not None else None
        if why is not None:
            audit_denied(self.name, via=self.audit, runtime=request.runtime, tool=call["name"],
                         operation=None, path=None, decision=DENY, reason="unguarded_subagent",
                         target_subagent=str(subagent))  # fmt: skip
            text = (
                f"Error: permission denied: subagent {subagent!r} is not held to the "
                "filesystem rules of this agent"
            )
            return _denied(text, call["name"], call.get("id"))
        ctx = Context(policy, call["name"], request.runtime, self.name, self.case_insensitive,
                      subagent=subagent if isinstance(subagent, str) else None)  # fmt: skip
        token = ACTIVE.set(ctx)
        try:
            return (yield Call(request))
        finally:
            ACTIVE.reset(token)
