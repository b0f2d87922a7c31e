"""A tool's input is handled whatever its schema says: arguments outside the tool's schema.

**Promise**: a tool not in ``restore_tools`` never receives a raw value of a configured type in
an argument a model or a layer wrote, whether or not that argument is in the tool's schema.
Only what ToolNode itself injects (graph state, a store, the ``ToolRuntime``, an
``InjectedToolArg``) is passed as it is. A tool whose schema is a JSON-schema dict (the shape
MCP adapters build) passes every key it is given to its server, so a key a layer adds outside
the schema, holding a nested dict, is the tool's input like any other.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain.tools import InjectedState, ToolRuntime
from langchain_core.messages import AIMessage
from langchain_core.tools import StructuredTool
from typing_extensions import NotRequired

from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

JANE = "jane@example.com"
CAROL = "carol.white@example.net"


class AddsMeta(AgentMiddleware):  # type: ignore[type-arg]
    """A layer inside that adds a key the tool's schema does not name, holding a dict."""

    def _edited(self, request: Any) -> Any:
        call = request.tool_call
        args = {**call["args"], "meta": {"cc": [CAROL], "flags": {"urgent": True}}}
        return request.override(tool_call={**call, "args": args})

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._edited(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._edited(request))


def _mcp_style(got: list[dict[str, Any]]) -> StructuredTool:
    schema = {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]}

    def run(**kwargs: Any) -> str:
        got.append(kwargs)
        return "ok"

    async def arun(**kwargs: Any) -> str:
        got.append(kwargs)
        return "ok"

    return StructuredTool(
        name="crm", description="Write to the CRM.", args_schema=schema, func=run, coroutine=arun
    )


def _dict_param(got: list[dict[str, Any]]) -> Any:
    @tool("crm")
    def crm(note: str, meta: dict[str, Any] | None = None) -> str:
        """Write to the CRM."""
        got.append({"note": note, "meta": meta})
        return "ok"

    return crm


SHAPES = {"json-schema": _mcp_style, "dict-parameter": _dict_param}


def _agent(t: Any, pii: PIIMiddleware, order: str, saver: Any) -> Any:
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call(t.name, {"note": "hi"})]), "Ok."]
    )
    layers = [pii, AddsMeta()] if order == "pii first" else [AddsMeta(), pii]
    return create_agent(model, tools=[t], checkpointer=saver, middleware=layers)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("order", ["pii first", "layer first"])
@pytest.mark.parametrize(
    "pii",
    [
        lambda: PIIMiddleware("email", strategy="pseudonymize", restore_tools=[]),
        lambda: PIIMiddleware("email", strategy="redact", apply_to_tool_args=True),
    ],
    ids=["pseudonymize", "redact"],
)
def test_a_dict_a_layer_adds_reaches_the_tool_handled(
    pii: Any, order: str, shape: str, mode: str, memory_saver: Any
) -> None:
    """In or outside the tool's schema, a dict argument is the tool's input."""
    got: list[dict[str, Any]] = []
    agent = _agent(SHAPES[shape](got), pii(), order, memory_saver)
    invoke(agent, {"messages": [("user", "note hi")]}, mode, {"configurable": {"thread_id": "m"}})
    assert len(got) == 1, got
    assert "meta" in got[0], got  # the key itself reaches the tool
    assert CAROL not in repr(got[0]), got
    assert got[0]["meta"]["flags"] == {"urgent": True}  # what holds no value is kept


def test_a_restored_json_schema_tool_gets_the_real_value_in_an_extra_key(
    mode: str, memory_saver: Any
) -> None:
    got: list[dict[str, Any]] = []
    pii = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["crm"])
    agent = _agent(_mcp_style(got), pii, "pii first", memory_saver)
    invoke(agent, {"messages": [("user", "note hi")]}, mode, {"configurable": {"thread_id": "r"}})
    assert len(got) == 1 and got[0]["meta"]["cc"] == [CAROL], got


class ContactState(AgentState):  # type: ignore[type-arg]
    contact: NotRequired[str]


@pytest.mark.parametrize("order", ["pii first", "layer first"])
def test_what_toolnode_injects_is_passed_as_it_is_beside_a_handled_extra_key(
    order: str, mode: str, memory_saver: Any
) -> None:
    """Graph state and the runtime are not the model's words: ToolNode's own values are
    passed as they are (a state key the application set keeps its real value, and the runtime
    sees the same state); a key the layer wrote beside them is handled."""
    seen: dict[str, Any] = {}

    @tool("crm")
    def crm(
        note: str,
        state: Annotated[dict[str, Any], InjectedState],
        runtime: ToolRuntime,
        **meta: Any,
    ) -> str:
        """Write to the CRM."""
        seen.update(note=note, state=state, runtime=runtime, meta=meta)
        return "ok"

    pii = PIIMiddleware("email", strategy="pseudonymize", restore_tools=[])
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("crm", {"note": "hi"})]), "Ok."]
    )
    layers = [pii, AddsMeta()] if order == "pii first" else [AddsMeta(), pii]
    agent = create_agent(
        model, tools=[crm], checkpointer=memory_saver, middleware=layers, state_schema=ContactState
    )
    invoke(
        agent,
        {"messages": [("user", "note hi")], "contact": JANE},
        mode,
        {"configurable": {"thread_id": "i"}},
    )
    assert isinstance(seen["runtime"], ToolRuntime)
    assert seen["state"]["contact"] == JANE, seen["state"]
    assert seen["runtime"].state["contact"] == JANE
    assert CAROL not in repr(seen["meta"]), seen["meta"]


def test_a_runtime_injected_by_its_name_alone_is_passed_as_it_is(
    mode: str, memory_saver: Any
) -> None:
    """ToolNode injects the runtime into a parameter named ``runtime`` whatever its annotation
    (the model-facing schema then names it too): still ToolNode's object, not the model's."""
    seen: dict[str, Any] = {}

    @tool("crm")
    def crm(note: str, runtime: Any = None, meta: dict[str, Any] | None = None) -> str:
        """Write to the CRM."""
        seen.update(runtime=runtime, meta=meta)
        return "ok"

    pii = PIIMiddleware("email", strategy="pseudonymize", restore_tools=[])
    agent = _agent(crm, pii, "pii first", memory_saver)
    invoke(agent, {"messages": [("user", "note hi")]}, mode, {"configurable": {"thread_id": "n"}})
    assert isinstance(seen["runtime"], ToolRuntime), seen
    assert CAROL not in repr(seen["meta"]), seen["meta"]
