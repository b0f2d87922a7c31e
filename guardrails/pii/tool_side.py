"""``PIIMiddleware``'s tool side: arguments handled or restored, and the tool's output handled
inside the tool's own run (before ``on_tool_end``), with the pseudonym mapping's bookkeeping.

A mixin of :class:`~guardrails.pii.middleware.PIIMiddleware` (the methods read its settings and
its scan / mapping helpers); kept apart because the tool call is its own seam: a different
request, a different run, the tool view of :mod:`guardrails.pii.observers`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage
from langgraph.types import Command

from guardrails._adapters.langgraph import injected_by_toolnode, viewing_request
from guardrails._core import Call, Flow, run_async, run_sync
from guardrails._state import state_get, tool_batch, with_update
from guardrails.errors import PIIDetectionError
from guardrails.pii.observers import Blocked, made_by, observed_tool
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
        restore: Any = None
        if self._strategy.needs_mapping:
            thread = run_thread(runtime) if self.vault is not None else None
            mapping = yield from self._load(request.state, thread)
            state_messages = state_get(request.state, "messages") or []
            box.append(
                Pseudonymizer(
                    mapping, slot=self._slot(request), texts=lambda: message_texts(state_messages)
                )
            )
            restore = self._restorer(mapping, runtime)
            # (this frame is on the traceback of whatever the tool raises: no real value in
            # its locals, a formatter with capture_locals would print the mapping)
            del mapping
            # real values go only where declared: no restore_tools, no tool gets them
            if self._restores(tool):
                if request.tool is None:  # no tool object to restore inside: the arguments
                    request = request.override(tool_call={**call, "args": restore(tool, args)})
                handle_args = False
            else:  # this tool never receives real values, not even ones the model wrote itself
                handle_args = True
        else:
            handle_args = self.apply_to_tool_args
        known: dict[str, Any] = {}
        if handle_args:
            handled_args = yield from self._args_flow(tool, args, runtime, box, thread, known)
            if handled_args is not args:
                request = request.override(tool_call={**call, "args": handled_args})
        if not (self.apply_to_tool_results or box or handle_args):
            return (yield Call(request))
        # ingress: the tool's output is handled inside its run, before ``on_tool_end``
        # (tracers, astream_events) and the ToolMessage see it; its input too, as the tool is
        # invoked: a layer listed after this one (a reviewer's edit in HumanInTheLoopMiddleware,
        # any rewrite) may have changed the call, even pointed it at another tool
        ran = _ToolRun(self, runtime, box, thread, known, tool)
        inputs = bool(box) or handle_args
        if inputs:
            # a copy: a layer inside may edit the very dict it is handed (in place), and what
            # changed must be handled as the tool is invoked, not compared equal to itself
            # (read only by the input pass, which runs only when inputs are handled)
            ran.handed = _snapshot(request.tool_call.get("args"))
        if request.tool is not None:
            request = self._viewed(request, ran, restore, inputs)
        try:
            result = yield Call(request)
        except Exception:
            # this frame is on the traceback of what the call raised: the matches computed
            # ahead for the tool's error (raw texts) must not be in its locals
            known.clear()
            if ran.blocked is None:
                raise
            # a block inside the run (the tool's input, output or error refused) is raised as
            # the block it is, also when ToolNode re-raises the tool's (refused) error
            result = None
        if ran.blocked is not None:
            known.clear()
            raise _bare(ran.blocked)
        if not (self.apply_to_tool_results or box):
            return result
        yield from self._prefetch(known, [], result)
        scans: list[Scan] = []

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

    def _restores(self: Any, tool: str) -> bool:
        return self.restore_tools is not None and tool in self.restore_tools

    def _restorer(self: Any, mapping: dict[str, str], runtime: Any) -> Any:
        def restore(tool: str, value: Any) -> Any:
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

        restore.mapping = mapping  # type: ignore[attr-defined]  # (read by _Restore.undo)
        return restore

    def _args_flow(
        self: Any,
        tool: str,
        args: Any,
        runtime: Any,
        box: list[Pseudonymizer],
        thread: str | None,
        known: dict[str, Any],
    ) -> Flow[Any]:
        """A tool call's arguments handled (``args`` itself when nothing was found)."""
        yield from self._prefetch(known, [], args)
        scans: list[Scan] = []

        def on_args(pseudo: Pseudonymizer | None) -> Any:
            scans[:] = [self.scan("tool_args", runtime, pseudo, known)]
            return scans[0].value(args)

        handled = yield from self._run(box, thread, on_args)
        scans[0].report(tool if box else None)
        return handled if scans[0].found else args

    def _viewed(self: Any, request: Any, ran: _ToolRun, restore: Any, inputs: bool) -> Any:
        """``request`` with its tool (and, when the input is handled, every tool of the
        runtime a layer inside may switch the call to) seen through
        :func:`~guardrails.pii.observers.observed_tool`."""
        outputs = bool(self.apply_to_tool_results or ran.args[1])
        handle, ahandle = (ran.handle, ran.ahandle) if outputs else (_same, _asame)
        prepare = (ran.prepare, ran.aprepare) if inputs else None

        def view(of: Any) -> Any:
            if made_by(of, ran):
                return of
            name = str(getattr(of, "name", ""))
            back = _Restore(restore, name) if restore and self._restores(name) else None
            return observed_tool(of, handle, ahandle, back, prepare, owner=ran)

        mine = view(request.tool)
        runtime = request.runtime
        tools = getattr(runtime, "tools", None)
        if not inputs:
            return request.override(tool=mine)
        # any tool a layer inside hands to ToolNode (one the agent was not built with too)
        request = viewing_request(request, view)
        if not tools or not _is_dataclass_instance(runtime):
            return request.override(tool=mine)
        views = [mine if t is request.tool else view(t) for t in tools]
        return request.override(tool=mine, runtime=dataclasses.replace(runtime, tools=views))

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
        self.handed: Any = None  # the arguments this guardrail let through

    def _input_flow(self, view: Any, value: Any) -> Flow[Any]:
        """The input the tool ``view`` is invoked with, handled unless it is what this
        guardrail handed on (nothing inside changed it) or that tool gets real values."""
        runtime, box, thread, known, tool = self.args
        name = str(view.name)
        call = isinstance(value, dict) and value.get("type") == "tool_call"
        args = value.get("args") if call else value
        if box and self.mw._restores(name):
            return value  # restored inside the tool (_to_args_and_kwargs)
        facing, rest = _split_injected(view, args, runtime)
        if name == tool and _exactly(facing, self.handed):
            return value
        handled = yield from self.mw._args_flow(name, facing, runtime, box, thread, known)
        if handled is facing:
            return value
        merged = {**handled, **rest} if isinstance(handled, dict) else handled
        return {**value, "args": merged} if call else merged

    def prepare(self, view: Any, value: Any) -> Any:
        try:
            return run_sync(self._input_flow(view, value), _no_call)
        except PIIDetectionError as error:
            self.blocked = error
            raise

    async def aprepare(self, view: Any, value: Any) -> Any:
        try:
            return await run_async(self._input_flow(view, value), _no_acall)
        except PIIDetectionError as error:
            self.blocked = error
            raise

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


class _Restore:
    """A tool view's restore hook (``value -> value`` with real values for placeholders) and
    its inverse, :meth:`undo`: the real values of the mapping put back as their placeholders
    (what an exception raised on restored arguments quotes, see
    :func:`~guardrails.pii.observers.observed_tool`)."""

    def __init__(self, restore: Any, tool: str) -> None:
        self.restore = restore
        self.tool = tool
        mapping: dict[str, str] = getattr(restore, "mapping", {})
        self.values = sorted(
            ((value, placeholder) for placeholder, value in mapping.items() if value),
            key=lambda pair: -len(pair[0]),
        )

    def __call__(self, value: Any) -> Any:
        return self.restore(self.tool, value)

    def undo(self, value: Any) -> Any:
        if isinstance(value, str):
            for real, placeholder in self.values:
                if real in value:
                    value = value.replace(real, placeholder)
            return value
        if isinstance(value, dict):
            return {self.undo(k): self.undo(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            items = [self.undo(v) for v in value]
            return items if isinstance(value, list) else tuple(items)
        return value


def _split_injected(tool: Any, args: Any, runtime: Any) -> tuple[Any, dict[str, Any]]:
    """(the arguments the model or a layer wrote, the ones ToolNode injects: state, store,
    runtime). Injected are only the arguments ToolNode itself injects into this tool, holding
    its very objects (``runtime``'s state or its field, whatever its type: a state key the
    application set is not the model's words, its store, a ``ToolRuntime``); every other key
    is written, also one the tool's schema does not name (a
    JSON-schema tool, as MCP adapters build, passes it on), and a dict a layer puts under an
    injected name where ToolNode injects nothing (a tool handed to it under another tool's
    name)."""
    if not isinstance(args, dict):
        return args, {}
    names = _injected_names(tool, args, runtime)
    injected = {k: v for k, v in args.items() if k in names}
    if not injected:
        return args, {}
    return {k: v for k, v in args.items() if k not in injected}, injected


def _injected_names(tool: Any, args: dict[str, Any], runtime: Any) -> frozenset[str]:
    """The keys of ``args`` holding what ToolNode injects into ``tool`` (none when that
    cannot be read: then every argument counts as written and is handled)."""
    try:
        return injected_by_toolnode(tool, args, runtime)
    except Exception:
        return frozenset()


class _Unequal:
    """Equal to nothing: arguments that could not be copied are always handled again."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def _exactly(a: Any, b: Any) -> bool:
    """``a`` and ``b`` hold the same values of the same exact types, container by container
    (dict items in order, keys too): ``==`` would let ``True == 1``, ``1 == 1.0``, a subclass
    or an object whose own ``__eq__`` answers decide that an edited argument is unchanged.
    Only the builtin types of arguments (str, int, float, bool, None, bytes, dict, list,
    tuple) are compared, each by its own type's equality; any other object is never proven
    unchanged (its input is handled again)."""
    try:
        return _exact(a, b)
    except RecursionError:  # nested deeper than a walk: not proven
        return False


def _exact(a: Any, b: Any) -> bool:
    kind = type(a)
    if kind is not type(b):
        return False
    if a is None or kind is str or kind is int or kind is bool or kind is bytes:
        return bool(a == b)  # (exact builtins: their own equality)
    if kind is float:
        return float.hex(a) == float.hex(b)  # (-0.0 and nan too)
    if kind is dict:
        return len(a) == len(b) and all(
            _exact(ka, kb) and _exact(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if kind is list or kind is tuple:
        return len(a) == len(b) and all(map(_exact, a, b))
    return False


def _snapshot(args: Any) -> Any:
    """A deep copy of the arguments handed on (or a value equal to nothing when they cannot
    be copied), so that an edit made in place inside is seen as an edit."""
    try:
        return copy.deepcopy(args)
    except Exception:
        return _Unequal()


def _is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _bare(error: PIIDetectionError) -> PIIDetectionError:
    """``error`` with no traceback nor chain: it was raised inside the tool's run, where the
    frames it passed hold the very values it refused (a formatter with capture_locals)."""
    error.__traceback__ = error.__cause__ = error.__context__ = None
    return error


def _same(output: Any) -> Any:
    return output


async def _asame(output: Any) -> Any:
    return output


def _no_call(request: Any) -> Any:  # pragma: no cover - output flows make no calls
    raise RuntimeError("a tool output flow made a call")


async def _no_acall(request: Any) -> Any:  # pragma: no cover
    raise RuntimeError("a tool output flow made a call")
