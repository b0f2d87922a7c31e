"""compose(): one hook pair, the same behaviour as listing the middleware separately."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, AgentState, ModelResponse
from langchain.agents.middleware.types import ExtendedModelResponse, PrivateStateAttr
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.types import Command
from typing_extensions import NotRequired

from guardrails import audit as audit_mod
from guardrails._core import Call, Flow, ModelHook, ToolHook
from guardrails.compose import ComposedMiddleware, compose
from guardrails.errors import GuardrailConfigError
from guardrails.testing import tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool


def _add(a: int | None, b: int | None) -> int:
    return (a or 0) + (b or 0)


class CountState(AgentState[Any]):
    counted: NotRequired[Annotated[int, PrivateStateAttr, _add]]  # reducer last


class Counter(ModelHook, AgentMiddleware):  # type: ignore[type-arg]
    """Counts model calls in state through ExtendedModelResponse commands."""

    state_schema = CountState

    def model_flow(self, request: Any) -> Flow[Any]:
        response = yield Call(request)
        audit_mod.emit("test.counted", self.name, runtime=request.runtime)
        return ExtendedModelResponse(
            model_response=response, command=Command(update={"counted": 1})
        )


class Tagger(ModelHook, ToolHook, AgentMiddleware):  # type: ignore[type-arg]
    def __init__(self, tag: str) -> None:
        self.tag = tag

    @property
    def name(self) -> str:
        return f"Tagger-{self.tag}"

    def model_flow(self, request: Any) -> Flow[Any]:
        system = (request.system_prompt or "") + f"[{self.tag}]"
        response = yield Call(request.override(system_message=SystemMessage(system)))
        message = response.result[0]
        audit_mod.emit("test.tagged", self.name, runtime=request.runtime)
        return ModelResponse(
            result=[message.model_copy(update={"content": f"{message.content}<{self.tag}>"})]
        )

    def tool_flow(self, request: Any) -> Flow[Any]:
        result = yield Call(request)
        return result.model_copy(update={"content": f"{result.content}<{self.tag}>"})


class RetryOnce(ModelHook, AgentMiddleware):  # type: ignore[type-arg]
    def model_flow(self, request: Any) -> Flow[Any]:
        try:
            return (yield Call(request))
        except RuntimeError:
            audit_mod.emit("test.retried", self.name, runtime=request.runtime)
            return (yield Call(request))


@tool
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


def _script() -> list[Any]:
    return [
        RuntimeError("flaky"),
        AIMessage("", tool_calls=[tool_call("shout", {"text": "hi"}, id="c1")]),
        "done",
    ]


def _run(mode: str, scripted: Any, saver: Any, stack: list[Any]) -> tuple[Any, Any]:
    model = scripted(*_script())
    agent = create_agent(model, tools=[shout], middleware=stack, checkpointer=saver)
    config = {"configurable": {"thread_id": "t"}}
    invoke(agent, {"messages": [("user", "go")]}, mode, config)
    return agent.get_state(config).values, model


def _plain(message: Any) -> tuple[str, str]:
    return type(message).__name__, str(message.content)


def test_compose_equals_listing_separately(mode: str, scripted: Any, audit: AuditCapture) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    separate = [Tagger("a"), Counter(), RetryOnce(), Tagger("b")]
    state_a, model_a = _run(mode, scripted, InMemorySaver(), separate)
    events_a = [(e["event"], e["guardrail"]) for e in audit.events]
    audit.events.clear()
    composed = [compose(Tagger("a"), Counter(), RetryOnce(), Tagger("b"))]
    state_b, model_b = _run(mode, scripted, InMemorySaver(), composed)
    events_b = [(e["event"], e["guardrail"]) for e in audit.events]

    assert [_plain(m) for m in state_a["messages"]] == [_plain(m) for m in state_b["messages"]]
    assert state_a["counted"] == state_b["counted"] == 2
    assert events_a == events_b
    assert ("test.retried", "RetryOnce") in events_a
    sent_a = [r["messages"][0].content for r in model_a.requests]
    sent_b = [r["messages"][0].content for r in model_b.requests]
    assert sent_a == sent_b == ["[a][b]"] * 3
    tool_msg = next(m for m in state_b["messages"] if isinstance(m, ToolMessage))
    assert tool_msg.content == "HI<b><a>"
    assert state_b["messages"][-1].content == "done<b><a>"
    assert isinstance(state_b["messages"][0], HumanMessage)


def test_compose_only_defines_needed_hooks() -> None:
    model_only = compose(Counter(), RetryOnce())
    assert type(model_only).wrap_tool_call is AgentMiddleware.wrap_tool_call
    assert type(model_only).wrap_model_call is not AgentMiddleware.wrap_model_call
    both = compose(Counter(), Tagger("x"))
    assert type(both).wrap_tool_call is not AgentMiddleware.wrap_tool_call
    assert both.name == "compose(Counter,Tagger-x)"
    assert "counted" in both.state_schema.__annotations__


def test_compose_flattens_nested() -> None:
    inner = compose(Tagger("a"), Counter())
    outer = compose(inner, RetryOnce())
    assert isinstance(outer, ComposedMiddleware)
    assert [m.name for m in outer.members] == ["Tagger-a", "Counter", "RetryOnce"]


class NodeHooked(AgentMiddleware):  # type: ignore[type-arg]
    def before_model(self, state: Any, runtime: Any) -> None:
        return None


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((), "at least one"),
        (("not middleware",), "AgentMiddleware instances"),
        ((NodeHooked(),), "node hooks"),
        ((Tagger("a"), Tagger("a")), "several middleware named"),
    ],
)
def test_compose_rejects_bad_input(members: tuple[Any, ...], message: str) -> None:
    with pytest.raises(GuardrailConfigError, match=message):
        compose(*members)


def test_compose_and_policy_do_not_import_each_other() -> None:
    import ast
    from pathlib import Path

    import guardrails

    def imports(module: str) -> set[str]:
        path = Path(guardrails.__file__).parent / f"{module}.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        return found

    assert "guardrails.policy" not in imports("compose")  # the cycle is gone (both use order)
    assert "guardrails.order" in imports("compose") and "guardrails.compose" in imports("policy")
    assert not {"guardrails.compose", "guardrails.policy"} & imports("order")
