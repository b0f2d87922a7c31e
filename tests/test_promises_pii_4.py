"""PII promises of the tool side and of the subagents a ``task`` tool starts (issue 29, area
``pii_flow``).

Through real ``create_agent`` / ``create_deep_agent`` runs, sync and async:

* a tool named in ``restore_tools`` receives real values while every callback (and so every
  tracer) records the call and its output with placeholders; a tool not named there never
  receives a real value;
* a tool's ``Command`` is handled in every state key it writes, messages given as dicts
  included; a tool's object output is handled in the text LangChain makes of it;
* under ``block`` a value in a tool's output stops the run, and no callback sees it;
* a subagent is accepted only when its own stack carries the guardrail (the same instance, or a
  ``PIIMiddleware`` of its own that handles input, inside a ``compose()`` too); every other
  subagent, and a compiled one, is refused before any model call.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from langchain.agents import AgentState, create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import InjectedToolCallId
from langgraph.types import Command
from pydantic import BaseModel
from typing_extensions import NotRequired

from guardrails import (
    GuardrailConfigError,
    ModelCallLimitMiddleware,
    PIIDetectionError,
    PIIMiddleware,
    compose,
)
from guardrails.pii import MemoryVault
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

JANE = "jane.doe@example.com"
BOB = "bob@example.org"


class _Tools(BaseCallbackHandler):
    """Records what the tool callbacks see (what LangSmith and every tracer record)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        self.seen.append(f"{input_str} {kw.get('inputs')}")

    def on_tool_end(self, output: Any, **kw: Any) -> None:
        self.seen.append(repr(output))

    def on_tool_error(self, error: BaseException, **kw: Any) -> None:
        self.seen.append(repr(error))


def _cfg(handler: Any, thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}, "callbacks": [handler]}


# ------------------------------------------------------------------ restore and callbacks


@pytest.mark.parametrize("vault", [False, True])
def test_a_restored_tool_gets_real_values_while_callbacks_record_placeholders(
    vault: bool, mode: str
) -> None:
    sent: list[str] = []

    @tool
    def send_email(to: str) -> str:
        """Send an email."""
        sent.append(to)
        return f"sent to {to}"

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>"})]),
            "done",
        ]
    )
    mw = PIIMiddleware(
        "email",
        strategy="pseudonymize",
        restore_tools=["send_email"],
        vault=MemoryVault() if vault else None,
    )
    agent = create_agent(model, tools=[send_email], middleware=[mw])
    handler = _Tools()
    invoke(agent, {"messages": [HumanMessage(f"mail {JANE}")]}, mode, _cfg(handler))
    assert sent == [JANE]
    seen = " ".join(handler.seen)
    assert "<EMAIL_1>" in seen and JANE not in seen, handler.seen
    # what the model reads back is the placeholder too
    assert model.requests[1]["messages"][-1].content == "sent to <EMAIL_1>"


def test_a_tool_not_named_for_restore_gets_no_real_value_it_was_given(mode: str) -> None:
    """The model writes a real value into the call of a tool outside ``restore_tools``: the tool
    receives the handled text, and the callbacks never see the value."""
    got: list[str] = []

    @tool
    def log_note(note: str) -> str:
        """Write a note."""
        got.append(note)
        return "logged"

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("log_note", {"note": f"write to {BOB}"})]),
            "done",
        ]
    )
    mw = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"])
    handler = _Tools()
    agent = create_agent(model, tools=[log_note], middleware=[mw])
    invoke(agent, {"messages": [HumanMessage("note it")]}, mode, _cfg(handler))
    assert len(got) == 1 and BOB not in got[0] and "<EMAIL_" in got[0]
    assert BOB not in " ".join(handler.seen)


# ------------------------------------------------------------------ what a tool hands back


class _Notes(AgentState):  # type: ignore[type-arg]
    notes: NotRequired[str]
    contacts: NotRequired[list[dict[str, Any]]]


@tool
def save_contact(name: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Save a contact."""
    return Command(
        update={
            "messages": [
                {"role": "tool", "content": f"saved {JANE}", "tool_call_id": tool_call_id}
            ],
            "notes": f"owner {JANE}",
            "contacts": [{"email": JANE, JANE: "key"}],
        }
    )


def test_every_state_key_a_tool_command_writes_is_handled(mode: str) -> None:
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("save_contact", {"name": "x"})]), "done"]
    )
    handler = _Tools()
    agent = create_agent(
        model,
        tools=[save_contact],
        state_schema=_Notes,
        middleware=[PIIMiddleware("email", apply_to_tool_results=True)],
    )
    out = invoke(agent, {"messages": [HumanMessage("save it")]}, mode, _cfg(handler))
    assert out["notes"] == "owner [REDACTED_EMAIL]"
    assert out["contacts"] == [{"email": "[REDACTED_EMAIL]", "[REDACTED_EMAIL]": "key"}]
    tool_message = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert tool_message.content == "saved [REDACTED_EMAIL]"
    assert JANE not in json.dumps(
        [m.model_dump() for m in out["messages"]] + [out["notes"]], default=str
    )
    assert JANE not in " ".join(handler.seen)
    assert JANE not in str(model.requests[1]["messages"])


class Contact(BaseModel):
    name: str
    email: str


@tool
def find_contact(name: str) -> Contact:
    """Find a contact."""
    return Contact(name=name, email=JANE)


def test_an_object_a_tool_returns_is_handled_in_its_text(mode: str) -> None:
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("find_contact", {"name": "Jane"})]), "ok"]
    )
    handler = _Tools()
    agent = create_agent(
        model,
        tools=[find_contact],
        middleware=[PIIMiddleware("email", apply_to_tool_results=True)],
    )
    out = invoke(agent, {"messages": [HumanMessage("find Jane")]}, mode, _cfg(handler))
    tool_message = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert JANE not in str(tool_message.content)
    assert "[REDACTED_EMAIL]" in str(tool_message.content)
    assert JANE not in " ".join(handler.seen)
    assert JANE not in str(model.requests[1]["messages"])


def test_block_stops_the_run_on_a_tool_output_no_callback_sees(mode: str) -> None:
    @tool
    def lookup(q: str) -> str:
        """Look it up."""
        return f"owner is {JANE}"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", {"q": "x"})]), "done"]
    )
    handler = _Tools()
    agent = create_agent(
        model,
        tools=[lookup],
        middleware=[PIIMiddleware("email", strategy="block", apply_to_tool_results=True)],
    )
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [HumanMessage("look")]}, mode, _cfg(handler))
    assert model.calls == 1
    assert handler.seen and JANE not in " ".join(handler.seen)


# ------------------------------------------------------------------ subagents


def _deep(mw: PIIMiddleware, *subagents: dict[str, Any]) -> tuple[Any, ScriptedChatModel]:
    deepagents = pytest.importorskip("deepagents")
    model = ScriptedChatModel(default="ok")
    agent = deepagents.create_deep_agent(model=model, middleware=[mw], subagents=list(subagents))
    return agent, model


def _sub(name: str, middleware: list[Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "description": name, "system_prompt": "help"}
    if middleware is not None:
        spec["middleware"] = middleware
    return spec


@pytest.mark.parametrize("how", ["same", "own", "composed"])
def test_a_subagent_carrying_the_guardrail_is_accepted(how: str, mode: str) -> None:
    mw = PIIMiddleware("email")
    carried = {
        "same": [mw],
        "own": [PIIMiddleware("email")],
        "composed": [compose(ModelCallLimitMiddleware(run_limit=9), PIIMiddleware("email"))],
    }[how]
    agent, model = _deep(mw, _sub("general-purpose", carried), _sub("reader", [mw]))
    invoke(agent, {"messages": [HumanMessage("hi")]}, mode)
    assert model.calls == 1


@pytest.mark.parametrize("how", ["none", "other", "input_off", "second"])
def test_a_subagent_without_the_guardrail_is_refused(how: str, mode: str) -> None:
    mw = PIIMiddleware("email")
    general = {
        "none": None,
        "other": [ModelCallLimitMiddleware(run_limit=9)],
        "input_off": [PIIMiddleware("email", apply_to_input=False)],
        "second": [mw],
    }[how]
    reader = [mw] if how != "second" else [ModelCallLimitMiddleware(run_limit=9)]
    agent, model = _deep(mw, _sub("general-purpose", general), _sub("reader", reader))
    who = "reader" if how == "second" else "general-purpose"
    with pytest.raises(GuardrailConfigError, match=f"subagent '{who}'"):
        invoke(agent, {"messages": [HumanMessage("hi")]}, mode)
    assert model.calls == 0


def test_a_compiled_subagent_is_refused(mode: str) -> None:
    deepagents = pytest.importorskip("deepagents")
    mw = PIIMiddleware("email")
    compiled = create_agent(ScriptedChatModel(default="x"), middleware=[PIIMiddleware("email")])
    agent, model = _deep(
        mw,
        _sub("general-purpose", [mw]),
        {"name": "compiled", "description": "c", "runnable": compiled},
    )
    assert deepagents is not None
    with pytest.raises(GuardrailConfigError, match="compiled graph"):
        invoke(agent, {"messages": [HumanMessage("hi")]}, mode)
    assert model.calls == 0
