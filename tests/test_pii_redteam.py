"""Red team of issue 21's inventory: sources and sinks the matrix (tests/test_pii_sinks.py)
did not exercise, each through a real ``create_agent`` run with a scripted model."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
from langchain.agents import AgentState, create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import InjectedToolCallId
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from pydantic import BaseModel, field_validator

from guardrails import PIIMiddleware
from guardrails.errors import PIIDetectionError
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import tool

EMAIL = "jane.doe@example.com"
MODES = ["debug", "tasks", "checkpoints", "updates", "values"]


class CustomerState(AgentState[Any]):
    customer: str


@tool
def find_customer(q: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command[Any]:
    """Find a customer; writes the customer into its own state key."""
    return Command(
        update={
            "messages": [ToolMessage("found one", tool_call_id=tool_call_id)],
            "customer": EMAIL,
        }
    )


def _run(agent: Any, mode: str) -> tuple[list[str], Any, list[Any]]:
    cfg: Any = {"configurable": {"thread_id": "t"}}
    inputs = {"messages": [("user", "find the customer")]}
    if mode == "sync":
        chunks = [repr(c) for c in agent.stream(inputs, cfg, stream_mode=MODES)]
        return chunks, agent.get_state(cfg), list(agent.get_state_history(cfg))

    async def go() -> tuple[list[str], Any, list[Any]]:
        chunks = [repr(c) async for c in agent.astream(inputs, cfg, stream_mode=MODES)]
        history = [h async for h in agent.aget_state_history(cfg)]
        return chunks, await agent.aget_state(cfg), history

    return asyncio.run(go())


@pytest.mark.parametrize("strategy", ["redact", "mask", "block"])
def test_command_update_state_keys_are_handled(mode: str, strategy: str) -> None:
    """A tool's Command(update=...) writes keys besides ``messages``: the value must not reach
    state, checkpoints (history) or any stream mode (debug, tasks, checkpoints, updates, values)."""
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("find_customer", {"q": "x"})]), "done"]
    )
    pii = PIIMiddleware("email", strategy=strategy, apply_to_tool_results=True)
    agent = create_agent(
        model,
        tools=[find_customer],
        state_schema=CustomerState,
        middleware=[pii],
        checkpointer=InMemorySaver(),
    )
    if strategy == "block":
        with pytest.raises(PIIDetectionError) as info:
            _run(agent, mode)
        assert EMAIL not in str(info.value)
        return
    chunks, state, history = _run(agent, mode)
    assert state.values["customer"] != EMAIL
    assert "customer" in state.values
    assert [c[:200] for c in chunks if EMAIL in c] == []
    assert [h.config for h in history if EMAIL in repr(h.values)] == []


@tool
def lookup_owner(q: str) -> str:
    """Look up the owner of an account."""
    return f"the owner is {EMAIL}"


@pytest.mark.parametrize("vault", [False, True])
def test_pseudonymize_mapping_in_state_is_declared(mode: str, vault: bool) -> None:
    """The matrix runs pseudonymize with a vault; without one (the default) the mapping, real
    values included, is checkpointed in state: the inventory must say so (declared), and a vault
    must keep it out of every state sink."""
    from guardrails.pii.inventory import cell
    from guardrails.pii.vault import MemoryVault

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup_owner", {"q": "x"})]), "done"]
    )
    pii = PIIMiddleware(
        "email",
        strategy="pseudonymize",
        apply_to_tool_results=True,
        vault=MemoryVault() if vault else None,
    )
    agent = create_agent(
        model, tools=[lookup_owner], middleware=[pii], checkpointer=InMemorySaver()
    )
    chunks, state, history = _run(agent, mode)
    leaked = EMAIL in repr(state.values) or any(EMAIL in repr(h.values) for h in history)
    leaked = leaked or any(EMAIL in c for c in chunks)
    assert leaked is not vault
    expected = "covered" if vault else "declared"
    strategy = "pseudonymize" if vault else "pseudonymize (no vault)"
    for sink in ("state", "checkpoints", "stream_debug", "stream_values"):
        assert cell("tool_result", sink, strategy).status == expected


class OwnerModel(BaseModel):
    email: str


@dataclass
class OwnerRecord:
    email: str


@tool
def owner_model(q: str) -> OwnerModel:
    """Return the owner as a pydantic model."""
    return OwnerModel(email=EMAIL)


@tool
def owner_record(q: str) -> Any:
    """Return the owner as a dataclass."""
    return OwnerRecord(email=EMAIL)


class ToolEnd(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_tool_end(self, output: Any, **kw: Any) -> None:
        self.seen.append(repr(output))

    def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        self.seen.append(repr(outputs))


@pytest.mark.parametrize("name", ["owner_model", "owner_record"])
def test_object_tool_output_is_handled_before_callbacks(mode: str, name: str) -> None:
    """A tool returning an object (LangChain stringifies it into the ToolMessage): on_tool_end,
    the tools node's outputs and astream_events v2 must not carry the raw value."""
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call(name, {"q": "x"})]), "done"]
    )
    pii = PIIMiddleware("email", strategy="redact", apply_to_tool_results=True)
    agent = create_agent(model, tools=[owner_model, owner_record], middleware=[pii])
    recorder = ToolEnd()
    cfg: Any = {"callbacks": [recorder]}
    inputs = {"messages": [("user", "who owns it")]}
    if mode == "sync":
        result = agent.invoke(inputs, cfg)
        events: list[str] = []
    else:

        async def go() -> list[str]:
            return [repr(e) async for e in agent.astream_events(inputs, cfg, version="v2")]

        events = asyncio.run(go())
        result = {}
    assert [s[:200] for s in recorder.seen if EMAIL in s] == []
    assert [e[:200] for e in events if EMAIL in e] == []
    assert EMAIL not in repr(result)
    assert any("REDACTED" in s for s in recorder.seen)


@tool(response_format="content_and_artifact")
def owner_artifact(q: str) -> tuple[str, OwnerModel]:
    """Return the owner as the artifact, a pydantic model."""
    return ("found the owner", OwnerModel(email=EMAIL))


def test_object_artifact_is_handled(mode: str) -> None:
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("owner_artifact", {"q": "x"})]), "done"]
    )
    pii = PIIMiddleware("email", strategy="redact", apply_to_tool_results=True)
    agent = create_agent(
        model, tools=[owner_artifact], middleware=[pii], checkpointer=InMemorySaver()
    )
    chunks, state, _history = _run(agent, mode)
    assert EMAIL not in repr(state.values)
    assert [c[:200] for c in chunks if EMAIL in c] == []
    (artifact,) = [m.artifact for m in state.values["messages"] if isinstance(m, ToolMessage)]
    assert "[REDACTED_EMAIL]" in repr(artifact)  # handled, not dropped


class StrictOwner(BaseModel):
    """A model whose validation refuses a handled value (no "@" in a redacted email)."""

    email: str

    @field_validator("email")
    @classmethod
    def _has_at(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("not an email")
        return value


@dataclass(frozen=True)
class SealedOwner:
    """A dataclass ``dataclasses.replace`` cannot rebuild (a field its __init__ does not take)."""

    email: str
    seen: int = field(default=0, init=False)


@tool(response_format="content_and_artifact")
def sealed_owners(q: str) -> tuple[str, dict[str, Any]]:
    """Return owners as objects that refuse to be rebuilt with a handled value."""
    return ("found", {"strict": StrictOwner(email=EMAIL), "sealed": [SealedOwner(EMAIL)]})


@pytest.mark.parametrize("strategy", ["redact", "hash"])
def test_an_artifact_object_that_refuses_its_handled_value_is_never_kept_raw(
    mode: str, strategy: str
) -> None:
    """A model's validator or a dataclass's __init__ that refuses the handled value: the
    handled fields are kept (model_construct, or the fields as a dict), never the raw object."""
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("sealed_owners", {"q": "x"})]), "done"]
    )
    pii = PIIMiddleware("email", strategy=strategy, apply_to_tool_results=True)
    agent = create_agent(
        model, tools=[sealed_owners], middleware=[pii], checkpointer=InMemorySaver()
    )
    chunks, state, history = _run(agent, mode)
    assert EMAIL not in repr(state.values)
    assert EMAIL not in repr([h.values for h in history])
    assert [c[:200] for c in chunks if EMAIL in c] == []
    (artifact,) = [m.artifact for m in state.values["messages"] if isinstance(m, ToolMessage)]
    assert "@" not in repr(artifact)


@tool
def note_customer(q: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command[Any]:
    """Answer, and add a note as a dict message (add_messages coerces it)."""
    note = {"role": "user", "content": f"note: {EMAIL}"}
    return Command(update={"messages": [ToolMessage("ok", tool_call_id=tool_call_id), note]})


def test_command_dict_messages_are_handled(mode: str) -> None:
    """Messages a tool's Command adds as dicts: the tools node's update (stream updates,
    debug, checkpoints) must not carry them raw."""
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("note_customer", {"q": "x"})]), "done"]
    )
    pii = PIIMiddleware("email", strategy="redact", apply_to_tool_results=True)
    agent = create_agent(
        model, tools=[note_customer], middleware=[pii], checkpointer=InMemorySaver()
    )
    chunks, state, history = _run(agent, mode)
    assert [c[:200] for c in chunks if EMAIL in c] == []
    assert [h.config for h in history if EMAIL in repr(h.values)] == []
    assert "[REDACTED_EMAIL]" in repr(state.values)
