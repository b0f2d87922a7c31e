"""A tool's exception, read every way an observer reads one, holds no value the guardrail
handles: generated from ``guardrails.pii.inventory.ERROR_SHAPES`` (where in an exception a
tool puts a value) x ``ERROR_READERS`` (how an observer reads it).

Each shape is raised by a tool of a real ``create_agent`` graph (a scripted model), sync and
async, under ``pseudonymize`` (a ``restore_tools`` tool: it gets the real value, the model and
the observers the placeholder; the value enters through the vault, not the caller's input, so
no frame of the caller holds it), ``redact`` and ``block`` (``apply_to_tool_results``: the value
is the tool's own data). The run's exception, each ``on_tool_error`` error (read after the run
and while its frames still run), ``logging.exception`` with and without frame locals, and the
``ToolMessage`` of a ``ToolNode`` under each ``handle_tool_errors`` setting are read whole. A new
shape or reader in the inventory is a new set of cells here; one this module cannot raise or
read fails :func:`test_every_shape_and_reader_is_tested`.
"""

from __future__ import annotations

import asyncio
import builtins
import io
import json
import logging
import subprocess
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import ToolException

from guardrails.errors import PIIDetectionError, PIIToolError
from guardrails.pii import PIIMiddleware
from guardrails.pii.inventory import ERROR_READERS, ERROR_SHAPES, error_reader
from guardrails.pii.vault import MemoryVault
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import tool

SEED = "tool.error.seed@example.com"
STRATEGIES = ("pseudonymize", "redact", "block")
MARKS = {"pseudonymize": "<EMAIL_1>", "redact": "[REDACTED_EMAIL]"}
_GROUP: Any = getattr(builtins, "ExceptionGroup", None)


# ------------------------------------------------------------------ shapes (one per row)
class SlotError(Exception):
    """A value in a ``__slots__`` attribute (not in ``__dict__``, not in ``args``)."""

    __slots__ = ("who",)


class Record:
    """What a tool read: an object whose repr says nothing of what it holds."""

    def __init__(self, email: str) -> None:
        self.email = email

    def __repr__(self) -> str:
        return "<Record>"


def _attribute(value: str) -> BaseException:
    error = ToolException("the account service failed")
    error.email = value  # type: ignore[attr-defined]
    return error


def _note(value: str) -> BaseException:
    error = ValueError("lookup failed")
    error.add_note(f"while looking up {value}")
    return error


def _slot(value: str) -> BaseException:
    error = SlotError("lookup failed")
    error.who = value
    return error


def _object(value: str) -> BaseException:
    request = httpx.Request("GET", f"https://crm.test/contacts/{value}")
    response = httpx.Response(404, request=request)
    return httpx.HTTPStatusError("Client error '404 Not Found'", request=request, response=response)


def _chain(value: str) -> BaseException:
    outer = RuntimeError("lookup failed")
    outer.__cause__ = subprocess.CalledProcessError(1, ["mail", value])
    during = json.JSONDecodeError("Expecting value", f'{{"to": "{value}"', 8)
    outer.__context__ = during  # (suppressed by the cause; still reachable)
    during.__context__ = KeyError(value)
    return outer


def _group(value: str) -> BaseException:
    inner = ValueError("one failed")
    inner.who = value  # type: ignore[attr-defined]
    nested = _GROUP("nested", [AttributeError("no phone", name="phone", obj=Record(value))])
    return _GROUP("several failed", [inner, RuntimeError("plain"), nested])


def _read(record: dict[str, str]) -> None:
    """A frame holding the value when it raises."""
    raise LookupError("no such account")


def _frames(value: str) -> BaseException:
    """Nothing in any exception, every one raised in a frame holding the value: a group (of
    the tool's own type) of an error raised during another."""
    try:
        _read({"email": value})
    except LookupError:
        try:
            raise KeyError("account")  # (its __context__: the LookupError)
        except KeyError as during:
            return _GROUP("lookup failed", [during])
    raise AssertionError("unreachable")


SHAPES: dict[str, Callable[[str], BaseException]] = {
    "message": lambda v: ValueError(f"no account for {v}"),
    "argument": lambda v: KeyError(v),
    "attribute": _attribute,
    "note": _note,
    "slot": _slot,
    "c_member": lambda v: ImportError("no module for that account", name=v, path=f"/x/{v}"),
    "object": _object,
    "bytes": lambda v: UnicodeDecodeError("utf-8", v.encode() + b"\xff", len(v), len(v) + 1, "x"),
    "chain": _chain,
    "group": _group,
    "frames": _frames,
}
#: shapes whose handled value an attribute reader must find (it reads, it is not blind)
SHOWN = {"message", "argument", "attribute", "note", "slot", "c_member", "object"}


# ------------------------------------------------------------------ readers (one per row)
def _object_text(value: Any, depth: int = 0) -> str:
    parts = [_repr(value)]
    if isinstance(value, bytes | bytearray):
        parts.append(bytes(value).decode("utf-8", errors="replace"))
    if depth < 3:
        try:
            fields = dict(vars(value))
        except TypeError:
            fields = {}
        parts += [f"{k}={_object_text(f, depth + 1)}" for k, f in fields.items()]
        if isinstance(value, list | tuple | set | frozenset):
            parts += [_object_text(v, depth + 1) for v in value]
        if isinstance(value, dict):
            parts += [_object_text(v, depth + 1) for v in value.values()]
    return "\n".join(parts)


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return ""


_LINKS = ("__traceback__", "__cause__", "__context__", "exceptions")


def _attributes(error: BaseException) -> str:
    """Every attribute ``dir`` names (slots, C members, properties, args, notes...)."""
    parts = []
    for name in dir(error):
        if name in _LINKS or name in ("__class__", "__doc__", "__dict__", "__module__"):
            continue
        try:
            value = getattr(error, name)
        except Exception:
            continue
        if callable(value) and not isinstance(value, type):
            continue
        parts.append(f"{name}: {_object_text(value)}")
    parts.append(_object_text(getattr(error, "__dict__", {})))
    return "\n".join(parts)


def _message(error: BaseException) -> str:
    return f"{_repr(str(error))}\n{_repr(error)}"


def _linked(error: BaseException, seen: set[int] | None = None) -> list[BaseException]:
    """Every exception reachable from ``error`` through ``__cause__`` and ``__context__``."""
    seen = {id(error)} if seen is None else seen
    out: list[BaseException] = []
    for link in (error.__cause__, error.__context__):
        if link is not None and id(link) not in seen:
            seen.add(id(link))
            out += [link, *_linked(link, seen)]
    return out


def _held(error: BaseException) -> list[BaseException]:
    """Every exception an exception group holds, nested groups too."""
    out: list[BaseException] = []
    for inner in getattr(error, "exceptions", None) or ():
        if isinstance(inner, BaseException):
            out += [inner, *_held(inner)]
    return out


def _whole(error: BaseException) -> str:
    return _message(error) + _attributes(error)


def _locals(error: BaseException) -> str:
    shown = traceback.TracebackException(
        type(error), error, error.__traceback__, capture_locals=True
    )
    return "".join(shown.format())


class _LocalsFormatter(logging.Formatter):
    """A formatter that prints frame locals with the traceback (as rich, structlog and
    sentry-style formatters do)."""

    def formatException(self, ei: Any) -> str:
        return "".join(traceback.TracebackException(*ei, capture_locals=True).format())


def _logged(error: BaseException) -> str:
    out = io.StringIO()
    plain, rich = logging.StreamHandler(out), logging.StreamHandler(out)
    rich.setFormatter(_LocalsFormatter())
    log = logging.getLogger("tests.tool_errors")
    log.addHandler(plain)
    log.addHandler(rich)
    log.propagate = False
    try:
        try:
            raise error
        except BaseException:
            log.exception("the tool failed")
    finally:
        log.removeHandler(plain)
        log.removeHandler(rich)
    return out.getvalue()


def _readings(error: BaseException) -> dict[str, str]:
    """What each reader reads of ``error`` (``live_frames``, ``tool_message`` and
    ``run_outcome`` are read in the run)."""
    return {
        "message": _message(error),
        "attributes": _attributes(error),
        "chain": "\n".join(_whole(e) + _locals(e) for e in _linked(error)),
        "group": "\n".join(_whole(e) + _locals(e) for e in _held(error)),
        "traceback_locals": _locals(error),
        "logging": _logged(error),
    }


READERS = {*_readings(ValueError()), "live_frames", "tool_message", "run_outcome"}


# ------------------------------------------------------------------ the runs
class Errors(BaseCallbackHandler):
    """``on_tool_error``: the error kept, and its traceback read while its frames still run."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.live: list[str] = []

    def on_tool_error(self, error: BaseException, **kw: Any) -> None:
        self.errors.append(error)
        self.live.append(_locals(error) + _whole(error))


def _pii(strategy: str) -> tuple[PIIMiddleware, dict[str, Any]]:
    if strategy == "pseudonymize":
        vault = MemoryVault()
        pii = PIIMiddleware("email", strategy="pseudonymize", vault=vault, restore_tools=["lookup"])
        vault.add("t", pii.name, {"<EMAIL_1>": _seed()})  # (an earlier turn's value)
        return pii, {"email": "<EMAIL_1>"}
    return PIIMiddleware("email", strategy=strategy, apply_to_tool_results=True), {"email": "x"}


def _seed() -> str:
    return SEED


def _lookup(shape: str, strategy: str, got: list[bool], mode: str) -> Any:
    """The tool: sync, or (async runs) a coroutine, so that the view's ``_arun`` runs it (a
    sync tool in an async run is run by ``invoke`` in a thread, as in a sync run)."""

    def fail(email: str) -> str:
        found = {"email": _seed()}  # what the tool read (its frame holds it)
        value = email if strategy == "pseudonymize" else found["email"]
        got.append(value == _seed())
        raise SHAPES[shape](value)

    if mode == "sync":

        @tool
        def lookup(email: str) -> str:
            """Look an account up."""
            return fail(email)

        return lookup

    @tool
    async def alookup(email: str) -> str:
        """Look an account up."""
        return fail(email)

    alookup.name = "lookup"
    return alookup


def _agent_run(shape: str, strategy: str, mode: str) -> dict[str, Any]:
    got: list[bool] = []
    pii, args = _pii(strategy)
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=[tool_call("lookup", args)])])
    agent = create_agent(model, tools=[_lookup(shape, strategy, got, mode)], middleware=[pii])
    seen = Errors()
    config = {"configurable": {"thread_id": "t"}, "callbacks": [seen]}
    payload = {"messages": [("user", "Find that account.")]}
    try:
        if mode == "sync":
            agent.invoke(payload, config)
        else:
            asyncio.run(agent.ainvoke(payload, config))
    except Exception as raised:
        return {
            "got": got,
            "error": raised,
            "readings": [_readings(raised), *(_readings(e) for e in seen.errors)],
            "live": seen.live,
            "errors": len(seen.errors),
        }
    raise AssertionError("the tool's error did not end the run")


HANDLE_SETTINGS: dict[str, Any] = {
    "True": True,
    "a string": "the lookup failed",
    "a callable": lambda e: "failed: " + "\n".join(_readings(e).values()),
    "exception types": (Exception,),
}


def _toolnode_run(shape: str, strategy: str, mode: str, handle: Any) -> tuple[Any, str]:
    """A ToolNode with ``handle_tool_errors=handle`` behind the guardrail's tool hook (the
    wrap create_agent gives it), in a graph of its own: (the exception that ended the run or
    None, everything the ToolMessages and the state hold)."""
    from langgraph.graph import START, StateGraph
    from langgraph.prebuilt import ToolNode

    got: list[bool] = []
    pii, args = _pii(strategy)
    node = ToolNode(
        [_lookup(shape, strategy, got, mode)],
        handle_tool_errors=handle,
        wrap_tool_call=pii.wrap_tool_call,
        awrap_tool_call=pii.awrap_tool_call,
    )
    graph = StateGraph(pii.state_schema)
    graph.add_node("tools", node)
    graph.add_edge(START, "tools")
    app = graph.compile()
    payload = {"messages": [AIMessage("", tool_calls=[tool_call("lookup", args)])]}
    config = {"configurable": {"thread_id": "t"}}
    try:
        state = (
            app.invoke(payload, config)
            if mode == "sync"
            else asyncio.run(app.ainvoke(payload, config))
        )
    except Exception as raised:
        return raised, _readings(raised)["message"]
    assert got == [True]
    messages = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert messages and all(m.status == "error" for m in messages)
    return None, repr(state)


_RUNS: dict[tuple[str, str, str], dict[str, Any]] = {}


def _run(shape: str, strategy: str, mode: str) -> dict[str, Any]:
    key = (shape, strategy, mode)
    if key not in _RUNS:
        run = _agent_run(shape, strategy, mode)
        run["handled"] = {
            name: _toolnode_run(shape, strategy, mode, handle)
            for name, handle in HANDLE_SETTINGS.items()
        }
        _RUNS[key] = run
    return _RUNS[key]


def _cells() -> Iterator[Any]:
    for shape in ERROR_SHAPES:
        for strategy in STRATEGIES:
            for mode in ("sync", "async"):
                slow = [] if (mode == "sync") == (strategy != "redact") else [pytest.mark.slow]
                yield pytest.param(
                    shape, strategy, mode, id=f"{shape}-{strategy}-{mode}", marks=slow
                )


@pytest.mark.parametrize(("shape", "strategy", "mode"), list(_cells()))
@pytest.mark.parametrize("reader", list(ERROR_READERS))
def test_cell(reader: str, shape: str, strategy: str, mode: str) -> None:
    coverage = error_reader(reader)
    if coverage.status != "covered":
        pytest.skip(f"{reader}: {coverage.how}")
    run = _run(shape, strategy, mode)
    assert run["got"] == [True]  # the tool itself had the value
    assert run["errors"] >= 1  # on_tool_error saw the error
    if reader == "live_frames":
        texts = run["live"]
    elif reader == "tool_message":
        texts = [text for _, text in run["handled"].values()]
    elif reader == "run_outcome":
        texts = _outcome(run, shape, strategy)
    else:
        texts = [reading[reader] for reading in run["readings"]]
    leaks = [t for t in texts if SEED in t]
    assert not leaks, f"{shape} reached {reader} raw: {leaks[0][:2000]}"
    mark = MARKS.get(strategy)
    if mark and shape in SHOWN and reader == "attributes":
        assert all(mark in t for t in texts), "the reader is blind"
    if mark and shape in {"chain", "group"} and reader == shape:
        assert all(mark in t for t in texts), "the reader is blind"


def _outcome(run: dict[str, Any], shape: str, strategy: str) -> list[str]:
    """The exception that ends the create_agent run: under ``block``, PIIDetectionError (a
    ToolNode that handles errors turns it into the tool's error message, as it turns any
    exception of a tool hook); else the tool's own type (the handled copy is one)."""
    error = run["error"]
    handled = run["handled"]
    if strategy == "block" and shape != "frames":
        assert type(error) is PIIDetectionError, repr(error)
        for name in ("True", "exception types"):
            assert handled[name][0] is None and "PIIDetectionError(" in handled[name][1]
    else:  # (frames: the exception holds nothing to refuse, it is the tool's own)
        assert isinstance(error, type(SHAPES[shape]("x@example.org"))), repr(error)
        assert all(e is None for e, _ in handled.values()), handled
    return [_readings(error)["message"]]


def test_every_shape_and_reader_is_tested() -> None:
    """A row of the inventory this module cannot raise or read fails here."""
    assert set(ERROR_SHAPES) == set(SHAPES)
    assert set(ERROR_READERS) == READERS


def test_the_tool_messages_carry_the_handled_error(mode: str) -> None:
    """handle_tool_errors=True and a tuple of types: ToolNode puts ``repr(exc)`` in the
    message, the handled one."""
    run = _run("message", "pseudonymize", mode)
    for name in ("True", "exception types"):
        error, text = run["handled"][name]
        assert error is None and "no account for <EMAIL_1>" in text, (name, text)
    assert "failed: " in run["handled"]["a callable"][1]


def _raised_by_restored_tool(make: Callable[[str], BaseException], mode: str) -> BaseException:
    pii, args = _pii("pseudonymize")

    @tool
    def lookup(email: str) -> str:
        """Look an account up."""
        raise make(email)

    @tool("lookup")
    async def alookup(email: str) -> str:
        """Look an account up."""
        raise make(email)

    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=[tool_call("lookup", args)])])
    agent = create_agent(model, tools=[lookup if mode == "sync" else alookup], middleware=[pii])
    payload = {"messages": [("user", "Find that account.")]}
    config = {"configurable": {"thread_id": "t"}}
    try:
        if mode == "sync":
            agent.invoke(payload, config)
        else:
            asyncio.run(agent.ainvoke(payload, config))
    except Exception as raised:
        return raised
    raise AssertionError("the tool's error did not end the run")


def test_the_handled_copy_keeps_its_type_and_its_members(mode: str) -> None:
    """The members a type keeps outside ``args`` are set back handled (bytes stay bytes; a
    member the bare instance already holds is not set again: OSError would show
    ``filename2``), so the exception is of the tool's exact type, not the fallback."""
    error = _raised_by_restored_tool(
        lambda v: FileNotFoundError(2, "No such file", f"/d/{v}"), mode
    )
    assert type(error) is FileNotFoundError, type(error).__mro__
    assert error.filename == "/d/<EMAIL_1>" and str(error).endswith("'/d/<EMAIL_1>'")
    error = _raised_by_restored_tool(
        lambda v: subprocess.CalledProcessError(1, ["mail"], output=v.encode()), mode
    )
    assert type(error) is subprocess.CalledProcessError
    assert error.output == b"<EMAIL_1>"
    error = _raised_by_restored_tool(lambda v: ImportError("no", name="m", path=f"/{v}"), mode)
    assert type(error) is ImportError and (error.name, error.path) == ("m", "/<EMAIL_1>")


def test_the_sealed_arguments_are_emptied_once_opened(mode: str) -> None:
    """BaseTool.run keeps the sealed arguments in its frame (on the traceback); once the
    tool has them, the seal holds nothing (a walker that reads past a repr finds nothing)."""
    error = _raised_by_restored_tool(lambda v: RuntimeError("failed"), mode)
    sealed = []
    tb = error.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, dict):
                sealed += [v for v in value.values() if type(v).__name__ == "_Sealed"]
        tb = tb.tb_next
    assert sealed, "no sealed arguments on the way"
    assert all(s.take() == ((), {}) for s in sealed)


def test_a_schema_error_holds_no_value_in_its_validators_frames(mode: str) -> None:
    """A validator that rejects a restored argument without quoting it, on a schema that hides
    its input: the ValidationError quotes nothing, but its own traceback (pydantic's frames
    hold the input) and the validator's exception in its context (its frame holds the value)
    would; both are cut."""
    from pydantic import BaseModel, ConfigDict, field_validator

    class Args(BaseModel):
        # (pydantic quotes no input: nothing in the error's text tells it holds a value)
        model_config = ConfigDict(hide_input_in_errors=True)
        email: str

        @field_validator("email")
        @classmethod
        def known(cls, value: str) -> str:
            raise ValueError("not a known account")

    @tool(args_schema=Args)
    def lookup(email: str) -> str:
        """Look an account up."""
        return "found"

    pii, args = _pii("pseudonymize")
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", args)]), "Ok."]
    )
    agent = create_agent(model, tools=[lookup], middleware=[pii])
    seen = Errors()
    config = {"configurable": {"thread_id": "t"}, "callbacks": [seen]}
    payload = {"messages": [("user", "Find that account.")]}
    if mode == "sync":
        agent.invoke(payload, config)
    else:
        asyncio.run(agent.ainvoke(payload, config))
    assert seen.errors
    for error in seen.errors:
        inner = [d["ctx"]["error"] for d in error.errors() if "error" in (d.get("ctx") or {})]
        assert inner, error.errors()
        shown = [_locals(error), *(_locals(e) + _whole(e) for e in inner)]
        assert all(SEED not in text for text in shown)
    assert "not a known account" in repr(model.requests[-1]["messages"][-1])


def test_groups_nested_too_deep_are_withheld(mode: str) -> None:
    """Fail closed: exception groups nested past what the guardrail reads (four groups) are
    withheld, a PIIToolError naming the type, never passed raw; four are rebuilt."""

    def nested(levels: int) -> Callable[[str], BaseException]:
        def make(value: str) -> BaseException:
            error: BaseException = ValueError(f"no account for {value}")
            for depth in range(levels):
                error = _GROUP(f"level {depth}", [error])
            return error

        return make

    error = _raised_by_restored_tool(nested(5), mode)
    assert isinstance(error, PIIToolError) and error.error_type.endswith("ExceptionGroup")
    assert SEED not in "\n".join(_readings(error).values())
    deepest = _raised_by_restored_tool(nested(4), mode)
    assert type(deepest) is _GROUP and SEED not in "\n".join(_readings(deepest).values())
    assert "<EMAIL_1>" in _readings(deepest)["group"]


def test_a_chain_keeps_its_causes_and_ends_where_it_was_read(mode: str) -> None:
    """A cause stays a cause (``raise ... from``), a context a context; past the 16 links the
    guardrail reads, the chain is cut, never left pointing at exceptions it did not read."""

    def long_chain(value: str) -> BaseException:
        error: BaseException = ValueError(f"no account for {value}")  # link 20: not read
        for depth in range(20):
            outer = RuntimeError(f"step {depth} failed")
            outer.__context__ = error
            error = outer
        return error

    error = _raised_by_restored_tool(long_chain, mode)
    assert type(error) is RuntimeError
    links = _linked(error)
    assert 1 <= len(links) <= 16 and SEED not in _readings(error)["chain"]
    caused = _raised_by_restored_tool(_chain, mode)
    assert type(caused.__cause__) is subprocess.CalledProcessError, caused.__cause__
    assert caused.__suppress_context__ and caused.__context__ is None
    assert caused.__cause__.cmd == ["mail", "<EMAIL_1>"]
