"""``FilesystemPermissionMiddleware``: checks every file tool call, holds subagents to the rules.

The class holds the rules and how it composes (``restrict`` for subagents, ``guard`` for a
backend, ``guard_deep_agent``); deciding each tool call is :mod:`~guardrails.filesystem.tool_flow`,
asking a human about the calls of a turn is :mod:`~guardrails.filesystem.review`.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from guardrails._core import Guardrail
from guardrails._validate import middleware_name
from guardrails.errors import GuardrailConfigError
from guardrails.filesystem.backends import guard_backend, is_guarded
from guardrails.filesystem.layers import Context, Layer, RuleStack
from guardrails.filesystem.links import judge, placement_gap
from guardrails.filesystem.review import Review
from guardrails.filesystem.rules import OPERATIONS, FilesystemPermission
from guardrails.filesystem.subagents import hold_graph, unwrap_bindings
from guardrails.filesystem.tool_flow import ToolFlow
from guardrails.filesystem.toolargs import check_tool, parse_tool_paths

__all__ = ["FilesystemPermissionMiddleware"]

_NAME = "FilesystemPermissionMiddleware"


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


class FilesystemPermissionMiddleware(
    ToolFlow,
    Review,
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
        compiled: set[str] = set()
        for runnable in setup.compiled.values():
            compiled |= set(_graph_tool_names(runnable))
        self.check_tools(tools, also=compiled, stacklevel=4)
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

    def check_tools(
        self, tools: Iterable[Any], *, also: Iterable[str] = (), stacklevel: int = 2
    ) -> None:
        """Check ``tool_paths`` against the tools' own schemas; raise on an argument they lack.
        Warn when it names a tool that is neither among ``tools`` nor in ``also`` (tools the
        agent has elsewhere, a compiled subagent's): a misspelt name leaves the real tool's
        paths unchecked.

        Called by :func:`guardrails.deep.create_deep_agent` with the agent's tools (and on the
        first call of each tool otherwise).

        Example::

            jail.check_tools([copy_file])  # GuardrailConfigError if copy_file has no 'src'
        """
        tools = list(tools)
        spec = self._policy.tools()
        for tool in tools:
            tool_name = getattr(tool, "name", None)
            if isinstance(tool_name, str) and tool_name in spec:
                check_tool(tool, spec[tool_name])
        known = {_tool_name(t) for t in tools} | set(also)
        unknown = sorted(set(spec) - known - {None})
        if unknown and tools:
            warnings.warn(
                f"tool_paths names tool(s) {unknown} that this agent was not given (tools: "
                f"{sorted(n for n in known if n)}); a misspelt name leaves that tool unchecked",
                UserWarning,
                stacklevel=stacklevel,
            )
