"""LangChain's PIIMiddleware and ours, side by side in real agents: the same text comes out.

LangChain's own unit tests check strategies by calling ``before_model`` by hand, which ours does
not implement (docs/migration.md#hooks-and-state); this checks the same public behaviour the way
an agent sees it: what the model receives, what is stored, what tool results look like.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import PIIMiddleware as LCPIIMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

import guardrails
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

TEXTS = {
    "email": "Write to user@example.com or ops.team@corp.io today",
    "credit_card": "Card 4532015112830366 expires soon",
    "ip": "Server 192.168.1.100 and 10.0.0.7 are up",
    "mac_address": "NIC 00:1A:2B:3C:4D:5E is down",
    "url": "See https://example.com/path?q=1 and www.example.org for details",
}
STRATEGIES = ["redact", "mask", "hash"]


def _cases() -> list[Any]:
    return [
        pytest.param(pii, strategy, id=f"{pii}-{strategy}")
        for pii in TEXTS
        for strategy in STRATEGIES
    ]  # fmt: skip


def _both(pii: str, **kwargs: Any) -> list[Any]:
    with pytest.warns(UserWarning) if kwargs.get("strategy") == "hash" else _no_warning():
        ours = guardrails.PIIMiddleware(pii, **kwargs)
    return [LCPIIMiddleware(pii, **kwargs), ours]


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize(("pii", "strategy"), _cases())
def test_the_model_receives_the_same_text(pii: str, strategy: str, mode: str) -> None:
    seen: list[str] = []
    for middleware in _both(pii, strategy=strategy):
        model = ScriptedChatModel(responses=["ok"])
        agent = create_agent(model, middleware=[middleware])
        invoke(agent, {"messages": [HumanMessage(TEXTS[pii])]}, mode)
        human = [m for m in model.requests[0]["messages"] if isinstance(m, HumanMessage)]
        seen.append(str(human[-1].content))
    theirs, ours = seen
    assert theirs != TEXTS[pii], "LangChain's middleware did not act: the case proves nothing"
    assert ours == theirs


@pytest.mark.sweep
@pytest.mark.parametrize(("pii", "strategy"), _cases())
def test_the_stored_answer_is_the_same(pii: str, strategy: str, mode: str) -> None:
    seen: list[str] = []
    for middleware in _both(pii, strategy=strategy, apply_to_input=False, apply_to_output=True):
        model = ScriptedChatModel(responses=[AIMessage(TEXTS[pii])])
        agent = create_agent(model, middleware=[middleware])
        out = invoke(agent, {"messages": [HumanMessage("hi")]}, mode)
        seen.append(str(out["messages"][-1].content))
    theirs, ours = seen
    assert theirs != TEXTS[pii]
    assert ours == theirs


@pytest.mark.sweep
@pytest.mark.parametrize(("pii", "strategy"), _cases())
def test_tool_results_reach_the_model_the_same(pii: str, strategy: str, mode: str) -> None:
    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        return TEXTS[pii]

    seen: list[str] = []
    for middleware in _both(
        pii, strategy=strategy, apply_to_input=False, apply_to_tool_results=True
    ):
        model = ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("lookup", {"q": "x"}, id="c1")]), "ok"]
        )
        agent = create_agent(model, tools=[lookup], middleware=[middleware])
        invoke(agent, {"messages": [HumanMessage("hi")]}, mode)
        results = [m for m in model.requests[1]["messages"] if isinstance(m, ToolMessage)]
        seen.append(str(results[-1].content))
    theirs, ours = seen
    assert theirs != TEXTS[pii]
    assert ours == theirs


@pytest.mark.parametrize("pii", list(TEXTS))
def test_block_raises_langchains_error_in_both(pii: str, mode: str) -> None:
    for middleware in _both(pii, strategy="block"):
        model = ScriptedChatModel(responses=["ok"])
        agent = create_agent(model, middleware=[middleware])
        with pytest.raises(LCPIIMiddleware.__init__.__globals__["PIIDetectionError"]):
            invoke(agent, {"messages": [HumanMessage(TEXTS[pii])]}, mode)
        assert model.calls == 0


@pytest.mark.parametrize("word", ["Server", "driver", "over", "nav", "Discover", "Dev", "fever:"])
def test_an_address_after_a_word_ending_like_version_is_still_redacted(word: str) -> None:
    """Only ``version`` / ``ver.`` / ``release`` / ``build`` / ``v`` as whole words mark a
    version number; "Server 192.168.1.100" is an address (it leaked: "Ser-ver")."""
    text = f"{word} 192.168.1.100 is up"
    seen = []
    for middleware in _both("ip"):
        model = ScriptedChatModel(responses=["ok"])
        create_agent(model, middleware=[middleware]).invoke({"messages": [HumanMessage(text)]})
        seen.append(str(model.requests[0]["messages"][-1].content))
    assert seen[1] == seen[0] == f"{word} [REDACTED_IP] is up"


class CountingModel(ScriptedChatModel):
    """A model that keeps its state in a field, like LangChain's own test fakes: a tool call on
    its first call, an answer after."""

    turn: int = 0

    def _next(self, messages: list[Any], kwargs: dict[str, Any]) -> AIMessage:
        turn = self.turn
        self.turn += 1
        if turn == 0:
            return AIMessage("", tool_calls=[tool_call("echo", {"text": "a@b.com"}, id="c1")])
        return AIMessage(f"done after {turn} calls")


@tool
def echo(text: str) -> str:
    """Echo."""
    return f"echo: {text}"


@pytest.mark.parametrize("how", ["invoke", "ainvoke", "v3-stream"])
def test_a_model_with_state_in_its_fields_keeps_it(how: str) -> None:
    """PIIMiddleware guards the model through a view of it; writes to the model's own fields
    (a turn counter) must reach the model, or every call is its first (an endless agent)."""
    answers = []
    for cls in (LCPIIMiddleware, guardrails.PIIMiddleware):
        model = CountingModel()
        agent = create_agent(model, [echo], middleware=[cls("email", apply_to_output=True)])
        answers.append(_run(agent, how))
        assert model.turn == 2, f"{cls.__module__}: {model.turn} model calls"
    assert answers[1] == answers[0] == "done after 1 calls"


def _run(agent: Any, how: str) -> str:
    import asyncio

    payload = {"messages": [HumanMessage("hi")]}
    config: Any = {"recursion_limit": 12}
    if how == "invoke":
        return str(agent.invoke(payload, config)["messages"][-1].content)
    if how == "ainvoke":
        return str(asyncio.run(agent.ainvoke(payload, config))["messages"][-1].content)

    async def drain() -> str:
        run = await agent.astream_events(payload, config, version="v3")
        texts = [str(event) async for event in run]
        return "done after 1 calls" if any("done after 1 calls" in t for t in texts) else ""

    return asyncio.run(drain())
