"""``PIIMiddleware``'s tool side: arguments handled or restored, and the tool's output handled
inside the tool's own run (before ``on_tool_end``), with the pseudonym mapping's bookkeeping.

A mixin of :class:`~guardrails.pii.middleware.PIIMiddleware` (the methods read its settings and
its scan / mapping helpers); kept apart because the tool call is its own seam: a different
request, a different run, the tool view of :mod:`guardrails.pii.observers`.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage
from langgraph.types import Command

from guardrails._core import Call, Flow, run_async, run_sync
from guardrails._state import state_get, tool_batch, with_update
from guardrails.errors import PIIDetectionError
from guardrails.pii.observers import Blocked, observed_tool
from guardrails.pii.pseudonym import (
    Pseudonymizer,
    merge_vault,
    message_texts,
    restore_value,
    run_thread,
)
from guardrails.pii.scan import Scan

__all__ = ["MODEL_FACING_TOOLS", "VAULT_KEY", "ToolSide"]

#: Private state key of the pseudonym mapping: ``{middleware name: {placeholder: value}}``.
VAULT_KEY = "guardrails_pii_vault"
#: Tools whose arguments go to another model, not to the outside world: deepagents' ``task``
#: and its async-subagent tools. Never restored into unless named in ``restore_tools``.
MODEL_FACING_TOOLS = frozenset({"task", "start_async_task", "update_async_task"})


class ToolSide:
    """The ``tool`` hook of ``PIIMiddleware`` (see the module docs).

    Example::

        class PIIMiddleware(ToolSide, Guardrail, kind="pii", hooks=("model", "tool")): ...
    """

    @staticmethod
    def _slot(request: Any) -> tuple[int, int]:
        """This tool call's place among the parallel calls of its AI message: (index, count)."""
        index, calls = tool_batch(request)
        return index, len(calls)

    def tool_flow(self: Any, request: Any) -> Flow[Any]:
        runtime = request.runtime
        call = request.tool_call
        tool = str(call.get("name"))
        box: list[Pseudonymizer] = []
        thread: str | None = None
        args = call.get("args", {})
        restore_inside: Any = None
        if self._strategy.needs_mapping:
            thread = run_thread(runtime) if self.vault is not None else None
            mapping = yield from self._load(request.state, thread)
            state_messages = state_get(request.state, "messages") or []
            box.append(
                Pseudonymizer(
                    mapping, slot=self._slot(request), texts=lambda: message_texts(state_messages)
                )
            )
            # real values go only where declared: no restore_tools, no tool gets them
            allowed = self.restore_tools is not None and tool in self.restore_tools
            if allowed:

                def restore(value: Any) -> Any:
                    counts: dict[str, int] = {}
                    secrets: list[str] = []
                    restored = restore_value(value, mapping, counts, secrets)
                    if counts:
                        self.audit(
                            "pii.restored",
                            runtime=runtime,
                            where="tool_args",
                            tool=tool,
                            entities=counts,
                            secrets=secrets,
                        )
                    return restored

                if request.tool is None:  # no tool object to restore inside: the arguments
                    request = request.override(tool_call={**call, "args": restore(args)})
                else:
                    restore_inside = restore
                handle_args = False
            else:  # this tool never receives real values, not even ones the model wrote itself
                handle_args = True
        else:
            handle_args = self.apply_to_tool_args
        known: dict[str, Any] = {}
        if handle_args:
            yield from self._prefetch(known, [], args)
            scans: list[Scan] = []

            def on_args(pseudo: Pseudonymizer | None) -> Any:
                scans[:] = [self.scan("tool_args", runtime, pseudo, known)]
                return scans[0].value(args)

            handled_args = yield from self._run(box, thread, on_args)
            scans[0].report(tool if box else None)
            if scans[0].found:
                request = request.override(tool_call={**call, "args": handled_args})
        if not (self.apply_to_tool_results or box):
            return (yield Call(request))
        # ingress: the tool's output is handled inside its run, before ``on_tool_end``
        # (tracers, astream_events) and the ToolMessage see it
        ran = _ToolRun(self, runtime, box, thread, known, tool)
        if request.tool is not None:
            view = observed_tool(request.tool, ran.handle, ran.ahandle, restore_inside)
            request = request.override(tool=view)
        result = yield Call(request)
        if ran.blocked is not None:
            raise ran.blocked
        yield from self._prefetch(known, [], result)
        scans = []

        def on_result(pseudo: Pseudonymizer | None) -> Any:
            # a backstop: what the tool's run handed over already handled (a cache hit),
            # and what it did not (an output LangChain stringified, an error message)
            scans[:] = [self.scan("tool_result", runtime, pseudo, known)]
            return self._handle_result(result, scans[0])

        handled = yield from self._run(box, thread, on_result)
        scans[0].report(tool if box else None)
        if not box or self.vault is not None or not box[0].new:
            return handled
        entries = {VAULT_KEY: {self.name: dict(box[0].new)}}
        if isinstance(handled, ToolMessage):
            return Command(update={"messages": [handled], **entries})
        if isinstance(handled, Command):
            return with_update(
                handled,
                lambda u: {**u, VAULT_KEY: merge_vault(u.get(VAULT_KEY), entries[VAULT_KEY])},
            )
        return handled  # pragma: no cover - a result we cannot attach state to

    def output_flow(
        self: Any,
        output: Any,
        runtime: Any,
        box: list[Pseudonymizer],
        thread: str | None,
        known: dict[str, Any],
        tool: str,
    ) -> Flow[Any]:
        """A tool's raw output (content, ``(content, artifact)``, ToolMessage, Command)
        handled and reported, inside the tool's run."""
        yield from self._prefetch(known, [], output)
        scans: list[Scan] = []

        def work(pseudo: Pseudonymizer | None) -> Any:
            scans[:] = [self.scan("tool_result", runtime, pseudo, known)]
            return self._handle_output(output, scans[0])

        handled = yield from self._run(box, thread, work)
        scans[0].report(tool if box else None)
        return handled

    @classmethod
    def _handle_output(cls, output: Any, scan: Scan) -> Any:
        if isinstance(output, ToolMessage | Command):
            return cls._handle_result(output, scan)
        handled = scan.value(output)
        if handled is output and not isinstance(output, _PLAIN):
            # an object (a pydantic model, a dataclass, ...): LangChain stringifies it into
            # the ToolMessage after this point (json, else str), so handle that text here or
            # on_tool_end and the tool's run outputs carry it raw
            text = _stringify(output)
            handled_text = scan.value(text)
            return handled_text if handled_text != text else output
        return handled

    @staticmethod
    def _handle_result(result: Any, scan: Scan) -> Any:
        if isinstance(result, ToolMessage):
            return scan.message(result)
        if isinstance(result, Command):
            # every key of the update, not only messages: a tool's Command can write any
            # state key (state, checkpoints, streams and traces all see it)
            return with_update(result, lambda u: _handle_update(u, scan))
        return result


_PLAIN = (str, int, float, bool, dict, list, tuple, type(None))


def _stringify(output: Any) -> str:
    """The text LangChain makes of a tool's non-message output (json, else ``str``)."""
    try:
        return json.dumps(output, ensure_ascii=False)
    except Exception:
        return str(output)


def _handle_update(update: dict[str, Any], scan: Scan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in update.items():
        if key == VAULT_KEY:
            out[key] = value
        elif key == "messages" and isinstance(value, list):
            # messages as dicts, tuples or strings (add_messages coerces them) as values
            out[key] = [
                m if isinstance(m, BaseMessage) else scan.value(m) for m in scan.messages(value)
            ]
        else:
            out[key] = scan.value(value, key)
    return out


class _ToolRun:
    """One tool call's output handling, run inside the tool (see
    :func:`~guardrails.pii.observers.observed_tool`). A ``block`` is kept for the middleware
    to raise after the run (a tool error handler must not turn it into a message)."""

    def __init__(
        self,
        mw: Any,
        runtime: Any,
        box: list[Pseudonymizer],
        thread: str | None,
        known: dict[str, Any],
        tool: str,
    ) -> None:
        self.args = (runtime, box, thread, known, tool)
        self.mw = mw
        self.blocked: PIIDetectionError | None = None

    def _refused(self, error: PIIDetectionError) -> Any:
        self.blocked = error
        return Blocked(f"[blocked by {self.mw.name}: {error.pii_type}]")

    def handle(self, output: Any) -> Any:
        try:
            return run_sync(self.mw.output_flow(output, *self.args), _no_call)
        except PIIDetectionError as error:
            return self._refused(error)

    async def ahandle(self, output: Any) -> Any:
        try:
            return await run_async(self.mw.output_flow(output, *self.args), _no_acall)
        except PIIDetectionError as error:
            return self._refused(error)


def _no_call(request: Any) -> Any:  # pragma: no cover - output flows make no calls
    raise RuntimeError("a tool output flow made a call")


async def _no_acall(request: Any) -> Any:  # pragma: no cover
    raise RuntimeError("a tool output flow made a call")
