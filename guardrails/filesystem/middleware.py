"""``FilesystemPermissionMiddleware``: checks every file tool call, holds subagents to the rules."""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import ToolMessage
from langgraph.errors import GraphInterrupt
from langgraph.types import interrupt

from guardrails._adapters import deepagents as _da
from guardrails._core import Call, Flow, Guardrail, SyncAsync
from guardrails._validate import middleware_name
from guardrails.errors import GuardrailConfigError
from guardrails.filesystem.approvals import Group, publish, resume_pending, wait_for
from guardrails.filesystem.backends import guard_backend, is_guarded, refusal
from guardrails.filesystem.layers import (
    ACTIVE,
    DENY,
    RANK,
    Context,
    Layer,
    RuleStack,
    audit_denied,
)
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
from guardrails.filesystem.rules import OPERATIONS, FilesystemPermission
from guardrails.filesystem.subagents import hold_graph, task_refusal, unwrap_bindings
from guardrails.filesystem.toolargs import (
    ABSENT,
    UNKNOWN,
    alias_keys,
    arg_values,
    check_tool,
    parse_tool_paths,
)

__all__ = ["FilesystemPermissionMiddleware"]

_NAME = "FilesystemPermissionMiddleware"
#: deepagents' file tools: argument holding a path -> operations it needs.
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


def _tool_name(tool: Any) -> str | None:
    name = tool.get("name") if isinstance(tool, Mapping) else getattr(tool, "name", None)
    name = name if isinstance(name, str) else getattr(tool, "__name__", None)
    return name if isinstance(name, str) else None


def _graph_tool_names(runnable: Any) -> list[str]:
    graph = unwrap_bindings(runnable)
    names: list[str] = []
    for node in (getattr(graph, "nodes", None) or {}).values():
        tools = getattr(getattr(node, "bound", None), "tools_by_name", None)
        if isinstance(tools, Mapping):
            names.extend(str(n) for n in tools)
    return names


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


class FilesystemPermissionMiddleware(
    Guardrail,
    kind="filesystem",
    hooks=("tool",),
    events=("fs.denied", "fs.filtered", "fs.widened", "fs.interrupted", "fs.approved"),
):
    """Allow / deny / interrupt file tool calls by path; filter what listings and searches show.

    ``rules`` are :class:`FilesystemPermission` (or deepagents' own) checked in order, first match
    wins; ``default`` applies when none matches (``execute`` is judged on the folder commands run
    in and denied unless a rule allows it). ``tool_paths`` adds your own tools:
    ``{"copy_file": {"src": "read", "dst": "write"}}``. ``case_insensitive=None`` detects a
    case-insensitive volume under a ``FilesystemBackend`` (per route of a ``CompositeBackend``).

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

    _guardrails_fs_middleware = True

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
        _parent: RuleStack | None = None,
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
        self._name = middleware_name(name, _NAME)
        own_tools = parse_tool_paths(tool_paths)
        if backend is not None and (gap := placement_gap(backend)) is not None:
            raise GuardrailConfigError(f"FilesystemPermissionMiddleware(backend=...): {gap}")
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
        own = RuleStack((Layer(self.rules, default, widen_rules, self._name, own_tools),))
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
            name=self._name if name is None else name,
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

    def context_for(self, backend: Any) -> Context:
        """The context a backend guarded by this middleware applies outside tool calls."""
        return Context(self._policy, "", None, self.name, self.case_insensitive)

    def guard_deep_agent(self, setup: Any) -> None:
        """Hold a deep agent's shared backend and compiled subagents to these rules.

        Called by :func:`guardrails.deep.create_deep_agent`: the shared backend is wrapped
        (:meth:`guard`), and the backend of every deepagents file tool inside a compiled
        subagent is guarded in place. A compiled subagent whose tools cannot be inspected is
        refused with a ``GuardrailConfigError``.

        Example::

            agent = guardrails.deep.create_deep_agent(model, guardrails=[jail], backend=backend)
        """
        if not is_guarded(setup.backend):
            setup.backend = self.guard(setup.backend)
        tools = list(getattr(setup, "tools", None) or ())
        self.check_tools(tools)
        known = {_tool_name(t) for t in tools}
        for runnable in setup.compiled.values():
            known |= set(_graph_tool_names(runnable))
        unknown = sorted(set(self._policy.tools()) - known - {None})
        if unknown and tools:
            warnings.warn(
                f"tool_paths names tool(s) {unknown} that this agent was not given (tools: "
                f"{sorted(n for n in known if n)}); a misspelt name leaves that tool unchecked",
                UserWarning,
                stacklevel=3,
            )
        paths = frozenset(self._policy.tools())
        for name, runnable in setup.compiled.items():
            reason = hold_graph(runnable, paths)
            if reason is not None:
                raise GuardrailConfigError(
                    f"compiled subagent {name!r} cannot be held to the filesystem rules of "
                    f"{self.name}: {reason}; build it with create_agent or create_deep_agent"
                )

    # -- decisions -------------------------------------------------------------------------

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
        return judge(self._policy, operation, path, backend, self.case_insensitive).decision.mode

    def _fs_tools(self, tool: Any) -> tuple[Any, dict[str, Any]] | None:
        """(backend, guarded tools by name) for a deepagents file tool; None for other tools."""
        if tool is None:
            return None
        owner = _da.fs_middleware_of(tool)
        if owner is None:
            return None
        cached = self._fs_cache.get(owner)
        if cached is None and placement_gap(owner.backend) is not None:
            return owner.backend, {}  # refused in tool_flow (unsupported_backend)
        if cached is None:
            cached = (owner.backend, _da.create_fs_tools(owner, guard_backend(owner.backend)))
            self._fs_cache[owner] = cached
        return cached

    def tool_flow(self, request: Any) -> Flow[Any]:
        call = request.tool_call
        try:
            with placement_memo():
                return (yield from self._tool_flow(request))
        finally:
            if isinstance(call.get("id"), str) and call["id"]:
                expect_offload(call["id"])  # deepagents may offload this call's result, once

    def _tool_flow(self, request: Any) -> Flow[Any]:
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
        self,
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

    def check_tools(self, tools: Iterable[Any]) -> None:
        """Check ``tool_paths`` against the tools' own schemas; raise on an argument they lack.

        Called by :func:`guardrails.deep.create_deep_agent` with the agent's tools (and on the
        first call of each tool otherwise).

        Example::

            jail.check_tools([copy_file])  # GuardrailConfigError if copy_file has no 'src'
        """
        spec = self._policy.tools()
        for tool in tools:
            tool_name = getattr(tool, "name", None)
            if isinstance(tool_name, str) and tool_name in spec:
                check_tool(tool, spec[tool_name])

    def _other_tool(self, request: Any, policy: RuleStack, args: dict[str, Any]) -> Flow[Any]:
        """Not a file tool, but it may start a subagent (``task``): held to our rules, or denied."""
        call = request.tool_call
        subagent = args.get("subagent_type")
        paths = frozenset(policy.tools())
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

    def _group(self, request: Any, policy: RuleStack, backend: Any) -> Group | None:
        """The calls of this model turn that need approval (None: cannot tell, ask alone)."""
        call_id = request.tool_call.get("id")
        state = getattr(request, "state", None)
        messages = state.get("messages") if isinstance(state, Mapping) else None
        if not isinstance(call_id, str) or not isinstance(messages, list):
            return None
        turn = next(
            (m for m in reversed(messages)
             if any(c.get("id") == call_id for c in getattr(m, "tool_calls", None) or ())),
            None,
        )  # fmt: skip
        if turn is None:
            return None
        ids: list[str] = []
        asks: list[dict[str, Any]] = []
        for sibling in turn.tool_calls:
            found = self._dry_run(sibling, policy, backend)
            if found is not None and isinstance(sibling.get("id"), str):
                verdict, clean = found
                ids.append(sibling["id"])
                asks.append(
                    {
                        "name": sibling["name"],
                        "args": clean,  # as the call will run: normalized paths, as asked alone
                        "description": f"Filesystem permission: {verdict.op} on {verdict.key} "
                        "needs approval",
                    }
                )
        return Group(ids, asks) if call_id in ids else None

    def _dry_run(
        self, call: Mapping[str, Any], policy: RuleStack, backend: Any
    ) -> tuple[Verdict, dict[str, Any]] | None:
        """The verdict asking for approval that a call would get, and its arguments as they
        would run (paths normalized, as :meth:`_tool_flow` rewrites them); None: no approval."""
        name = call.get("name")
        args = dict(call.get("args") or {})
        custom = policy.tools()
        verdicts: list[Verdict] = []

        def check(op: str, raw: Any, listing: bool = False) -> Verdict:
            verdict = judge(policy, op, raw, backend, self.case_insensitive, listing=listing)
            verdicts.append(verdict)
            return verdict

        if name == "execute":
            check("execute", exec_dir(backend))
        elif name in _BULK_TOOLS:
            root, root_arg = args.get("path"), "path"
            if name == "glob" and root is None and str(args.get("pattern", "")).startswith("/"):
                pattern = str(args["pattern"])
                root = glob_root(pattern)
                rest = pattern[len(root.rstrip("/")) :]
                args["pattern"] = rest if rest.startswith("/") else "/" + rest
            elif root is None and name != "ls":
                root, root_arg = search_root(backend), ""
            verdict = check("read", root if root is not None else "", True)
            if verdict.path is not None and root_arg:
                args[root_arg] = verdict.path
        elif isinstance(name, str) and (name in custom or name in _FILE_TOOLS):
            for arg, ops in (custom.get(name) or _FILE_TOOLS[name]).items():
                for key_name in alias_keys(name, arg):
                    if key_name not in args:
                        continue
                    done: dict[int, str] = {}
                    for index, raw in enumerate(_paths_in(args[key_name])):
                        for op in ops:
                            verdict = check(op, raw)
                        if verdict.path is not None:
                            done[index] = verdict.path
                    args[key_name] = _rewrite(args[key_name], done, [0])
        worst = max(verdicts, key=lambda v: RANK[v.decision.mode], default=None)
        if worst is None or worst.decision.mode != "interrupt":
            return None
        return worst, args

    def _interrupt(
        self,
        request: Any,
        tool: str,
        verdict: Verdict,
        args: dict[str, Any],
        policy: RuleStack,
        backend: Any,
    ) -> Flow[ToolMessage | None]:
        """Ask a human (HumanInTheLoopMiddleware's request shape); None when approved.

        The calls of one model turn that need approval are asked about together, once (see
        :mod:`~guardrails.filesystem.approvals`), so one resume value answers them all.
        """
        call_id = request.tool_call.get("id")
        group = self._group(request, policy, backend)
        if group is None or len(group.ids) == 1:
            group = Group(
                [str(call_id)],
                [{"name": tool, "args": args, "description": f"Filesystem permission: "
                  f"{verdict.op} on {verdict.key} needs approval"}],
            )  # fmt: skip
        index = group.ids.index(str(call_id))
        decisions: Any
        if index == 0:
            try:
                response = interrupt(group.payload())
            except GraphInterrupt:
                self._audit_interrupted(request, tool, verdict)
                raise
            decisions = response.get("decisions") if isinstance(response, Mapping) else None
            decisions = decisions if isinstance(decisions, list) else []
            if len(group.ids) > 1:
                publish(group.key(), decisions)
        else:
            if not resume_pending():  # the first call of the group asks for all
                self._audit_interrupted(request, tool, verdict)
                raise GraphInterrupt(())
            decisions = (yield wait_for(group.key())) or []
        first = decisions[index] if index < len(decisions) else {}
        kind = first.get("type") if isinstance(first, Mapping) else None
        if kind == "approve":
            self.audit("fs.approved", runtime=request.runtime, tool=tool,
                 operation=verdict.op, path=verdict.key, decision="approve")  # fmt: skip
            return None
        reason = "rejected" if kind == "reject" else "invalid_decision"
        audit_denied(self.name, via=self.audit, runtime=request.runtime, tool=tool,
                     operation=verdict.op, path=verdict.key, decision=verdict.decision,
                     reason=reason)  # fmt: skip
        message = first.get("message") if isinstance(first, Mapping) else None
        text = f"{refusal(verdict.op, verdict.key)} (rejected by a reviewer"
        text += f": {message})" if message else ")"
        return _denied(text, tool, request.tool_call.get("id"))

    def _audit_interrupted(self, request: Any, tool: str, verdict: Verdict) -> None:
        self.audit("fs.interrupted", runtime=request.runtime, tool=tool,
                   operation=verdict.op, path=verdict.key, rule=verdict.decision.rule,
                   layer=verdict.decision.layer, decision="interrupt")  # fmt: skip
