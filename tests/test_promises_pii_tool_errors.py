"""A tool's exception carries placeholders, not the real values it was given.

Under ``pseudonymize`` a tool named in ``restore_tools`` receives real values; when it raises,
its exception's message and attributes quote them. The model never saw those values, and
neither do the observers of the error: ``on_tool_error`` callbacks (LangSmith's tracer among
them), ``astream_events``, and the exception that ends the run are rebuilt inside the tool's
run with the values pseudonymized (an exception of the tool's own type, so ``except`` clauses
keep working; not chained to the raw one). The same holds for any tool whose results the
guardrail handles (``apply_to_tool_results=True``). Real ``create_agent`` graphs, a scripted
model, sync and async.
"""

from __future__ import annotations

import asyncio
import traceback
from types import SimpleNamespace
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage

from guardrails.errors import PIIToolError
from guardrails.pii import PIIMiddleware
from guardrails.pii.vault import MemoryVault
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

JANE = "jane.doe@example.com"


class AccountError(Exception):
    """A type whose ``__init__`` takes keywords and keeps the value as an attribute."""

    def __init__(self, email: str, *, code: int) -> None:
        super().__init__(f"no account for {email} (code {code})")
        self.email = email
        self.code = code


class OpaqueError(LookupError):
    """A type whose message is read from an object the guardrail does not walk."""

    def __init__(self, record: Any) -> None:
        super().__init__("lookup failed")
        self.record = record

    def __str__(self) -> str:
        return f"lookup failed for {self.record.email}"


class Unreadable(Exception):
    """A type whose arguments cannot be read back (its message still quotes the value)."""

    @property
    def args(self) -> Any:  # type: ignore[override]
        raise RuntimeError("no")


RAISERS = {
    "ValueError": lambda email: ValueError(f"no account for {email}"),
    "AccountError": lambda email: AccountError(email, code=7),
    "KeyError": lambda email: KeyError(email),
    "OpaqueError": lambda email: OpaqueError(SimpleNamespace(email=email)),
    "chained": lambda email: _chained(email),
}


def _chained(email: str) -> Exception:
    try:
        raise KeyError(email)
    except KeyError as inner:
        try:
            raise RuntimeError("lookup failed") from inner
        except RuntimeError as outer:
            return outer


class Errors(BaseCallbackHandler):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def on_tool_error(self, error: BaseException, **kw: Any) -> None:
        self.errors.append(error)


def _shows(error: BaseException) -> str:
    """Everything an observer can read of ``error``: message, repr, arguments, attributes,
    the formatted traceback with its chain."""
    parts = [str(error), repr(error), repr(error.args), repr(vars(error))]
    parts += traceback.format_exception(error)
    link = error.__cause__ or error.__context__
    while link is not None:
        parts.append(repr(link))
        link = link.__cause__ or link.__context__
    return "\n".join(parts)


def _run(kind: str, strategy: str, mode: str) -> tuple[BaseException, Errors, list[Any]]:
    got: list[str] = []

    @tool
    def lookup(email: str) -> str:
        """Look an account up."""
        got.append(email)
        raise RAISERS[kind](email)

    if strategy == "pseudonymize":
        pii = PIIMiddleware(
            "email", strategy="pseudonymize", vault=MemoryVault(), restore_tools=["lookup"]
        )
        args = {"email": "<EMAIL_1>"}
    else:
        pii = PIIMiddleware("email", apply_to_tool_results=True)
        args = {"email": JANE}
    agent = create_agent(
        ScriptedChatModel(responses=[AIMessage("", tool_calls=[tool_call("lookup", args)]), "Ok."]),
        tools=[lookup],
        middleware=[pii],
    )
    seen = Errors()
    config = {"configurable": {"thread_id": f"t-{kind}"}, "callbacks": [seen]}
    with pytest.raises(Exception) as raised:
        invoke(agent, {"messages": [("user", f"Find {JANE}.")]}, mode, config)
    if strategy == "pseudonymize":
        assert got == [JANE]  # the tool itself got the real value
    return raised.value, seen, got


@pytest.mark.parametrize("kind", list(RAISERS))
def test_the_exception_that_ends_the_run_carries_placeholders(kind: str, mode: str) -> None:
    error, seen, _ = _run(kind, "pseudonymize", mode)
    assert JANE not in _shows(error)
    assert seen.errors and all(JANE not in _shows(e) for e in seen.errors)
    assert "<EMAIL_1>" in str(error) or kind == "chained"


@pytest.mark.parametrize("kind", ["ValueError", "AccountError", "KeyError", "OpaqueError"])
def test_the_exception_keeps_its_type(kind: str, mode: str) -> None:
    error, _, _ = _run(kind, "pseudonymize", mode)
    expected = RAISERS[kind](JANE)
    assert isinstance(error, type(expected))
    if kind == "AccountError":
        assert type(error) is AccountError
        assert (error.email, error.code) == ("<EMAIL_1>", 7)  # type: ignore[attr-defined]
    if kind == "OpaqueError":  # its own message cannot be rebuilt: ours, and still its type
        assert isinstance(error, PIIToolError)
        assert error.error_type.endswith("OpaqueError")
        assert str(error) == "lookup failed for <EMAIL_1>"


def test_a_redacting_guardrail_handles_a_tools_exception_too(mode: str) -> None:
    error, seen, _ = _run("ValueError", "redact", mode)
    assert type(error) is ValueError and "[REDACTED_EMAIL]" in str(error)
    assert JANE not in _shows(error)
    assert seen.errors and all(JANE not in _shows(e) for e in seen.errors)


def test_an_exception_with_no_value_is_the_tools_own(mode: str) -> None:
    boom = RuntimeError("disk full")

    @tool
    def lookup(email: str) -> str:
        """Look an account up."""
        raise boom

    pii = PIIMiddleware(
        "email", strategy="pseudonymize", vault=MemoryVault(), restore_tools=["lookup"]
    )
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("lookup", {"email": "x"})]), "Ok."]
        ),
        tools=[lookup],
        middleware=[pii],
    )
    with pytest.raises(RuntimeError) as raised:
        invoke(agent, {"messages": [("user", "hi")]}, mode, {"configurable": {"thread_id": "n"}})
    assert raised.value is boom


def test_astream_events_show_the_handled_error() -> None:
    @tool
    def lookup(email: str) -> str:
        """Look an account up."""
        raise ValueError(f"no account for {email}")

    pii = PIIMiddleware(
        "email", strategy="pseudonymize", vault=MemoryVault(), restore_tools=["lookup"]
    )
    agent = create_agent(
        ScriptedChatModel(
            responses=[
                AIMessage("", tool_calls=[tool_call("lookup", {"email": "<EMAIL_1>"})]),
                "Ok.",
            ]
        ),
        tools=[lookup],
        middleware=[pii],
    )

    async def run() -> list[Any]:
        events = []
        with pytest.raises(ValueError):
            async for event in agent.astream_events(
                {"messages": [("user", f"Find {JANE}.")]},
                {"configurable": {"thread_id": "e"}},
                version="v2",
            ):
                events.append(event)
        return events

    events = asyncio.run(run())
    errors = [e for e in events if e["event"] == "on_tool_error"]
    assert errors and JANE not in repr(errors)
    assert "<EMAIL_1>" in repr(errors)


def test_debug_and_task_streams_show_the_handled_error() -> None:
    @tool
    def lookup(email: str) -> str:
        """Look an account up."""
        raise ValueError(f"no account for {email}")

    pii = PIIMiddleware(
        "email", strategy="pseudonymize", vault=MemoryVault(), restore_tools=["lookup"]
    )
    agent = create_agent(
        ScriptedChatModel(
            responses=[
                AIMessage("", tool_calls=[tool_call("lookup", {"email": "<EMAIL_1>"})]),
                "Ok.",
            ]
        ),
        tools=[lookup],
        middleware=[pii],
    )
    chunks: list[Any] = []
    with pytest.raises(ValueError):
        for chunk in agent.stream(
            {"messages": [("user", f"Find {JANE}.")]},
            {"configurable": {"thread_id": "d"}},
            stream_mode=["debug", "tasks"],
        ):
            chunks.append(chunk)
    shown = repr(chunks)
    # (the input's own echo holds the value: "Find jane..."; the error never)
    assert "no account for <EMAIL_1>" in shown and f"no account for {JANE}" not in shown


def test_a_schema_error_on_restored_arguments_carries_placeholders(mode: str) -> None:
    """The arguments are restored before the tool's schema validates them: pydantic's error
    quotes the input. It reaches ``on_tool_error`` and ToolNode (which turns it into a message
    for the model) with the placeholders back, still a ``ValidationError``."""
    from pydantic import BaseModel, ValidationError, field_validator

    class Args(BaseModel):
        email: str

        @field_validator("email")
        @classmethod
        def known(cls, value: str) -> str:
            raise ValueError(f"no account for {value}")

    @tool(args_schema=Args)
    def lookup(email: str) -> str:
        """Look an account up."""
        return "found"

    pii = PIIMiddleware(
        "email", strategy="pseudonymize", vault=MemoryVault(), restore_tools=["lookup"]
    )
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("lookup", {"email": "<EMAIL_1>"})]),
            "Ok.",
        ]
    )
    agent = create_agent(model, tools=[lookup], middleware=[pii])
    seen = Errors()
    config = {"configurable": {"thread_id": "v"}, "callbacks": [seen]}
    invoke(agent, {"messages": [("user", f"Find {JANE}.")]}, mode, config)
    assert seen.errors and all(isinstance(e, ValidationError) for e in seen.errors)
    assert all(JANE not in _shows(e) for e in seen.errors)
    assert "no account for <EMAIL_1>" in str(seen.errors[0])
    assert "no account for <EMAIL_1>" in repr(model.requests[-1]["messages"][-1])


def test_an_exception_the_guardrail_cannot_read_is_withheld(mode: str) -> None:
    """Fail closed: when the exception cannot be read to be handled, what is raised is a
    ``PIIToolError`` naming its type, never the raw one nor one chained to it."""
    got: list[str] = []

    @tool
    def lookup(email: str) -> str:
        """Look an account up."""
        got.append(email)
        raise Unreadable(f"no account for {email}")

    pii = PIIMiddleware(
        "email", strategy="pseudonymize", vault=MemoryVault(), restore_tools=["lookup"]
    )
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("lookup", {"email": "<EMAIL_1>"})]),
            "Ok.",
        ]
    )
    agent = create_agent(model, tools=[lookup], middleware=[pii])
    with pytest.raises(PIIToolError) as raised:
        invoke(
            agent,
            {"messages": [("user", f"Find {JANE}.")]},
            mode,
            {"configurable": {"thread_id": "w"}},
        )
    assert got == [JANE]
    assert JANE not in "".join(traceback.format_exception(raised.value))
    assert raised.value.__context__ is None and raised.value.error_type.endswith("Unreadable")
