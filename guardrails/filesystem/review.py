"""The approval flow of ``FilesystemPermissionMiddleware``: a call an ``interrupt`` rule matches is
put to a human (``HumanInTheLoopMiddleware``'s request shape), together with the other calls of
its model turn that need approval.

A mixin of :class:`~guardrails.filesystem.FilesystemPermissionMiddleware`: the group is found by
judging every call of the turn as :mod:`~guardrails.filesystem.tool_flow` would (a dry run, no
side effect); the first call of the group asks once for all and the others take their decision
from it (:mod:`~guardrails.filesystem.approvals`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import ToolMessage
from langgraph.errors import GraphInterrupt
from langgraph.types import interrupt

from guardrails._core import Flow
from guardrails.filesystem.approvals import Group, publish, resume_pending, wait_for
from guardrails.filesystem.backends import refusal
from guardrails.filesystem.layers import RANK, RuleStack, audit_denied
from guardrails.filesystem.links import Verdict, exec_dir, judge, search_root
from guardrails.filesystem.paths import glob_root
from guardrails.filesystem.tool_flow import _BULK_TOOLS, _FILE_TOOLS, _denied, _paths_in, _rewrite
from guardrails.filesystem.toolargs import alias_keys

__all__ = ["Review"]


class Review:
    """The approvals of :class:`~guardrails.filesystem.FilesystemPermissionMiddleware` (a mixin:
    its methods read the middleware's ``case_insensitive``, ``name`` and ``audit``).

    Example::

        class FilesystemPermissionMiddleware(ToolFlow, Review, Guardrail, kind="filesystem"): ...
    """

    def _group(self: Any, request: Any, policy: RuleStack, backend: Any) -> Group | None:
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
        self: Any, call: Mapping[str, Any], policy: RuleStack, backend: Any
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
        self: Any,
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

    def _audit_interrupted(self: Any, request: Any, tool: str, verdict: Verdict) -> None:
        self.audit("fs.interrupted", runtime=request.runtime, tool=tool,
                   operation=verdict.op, path=verdict.key, rule=verdict.decision.rule,
                   layer=verdict.decision.layer, decision="interrupt")  # fmt: skip
