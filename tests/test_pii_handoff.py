"""The hand-over proof (issue 24): when ``PIIMiddleware`` is the innermost model hook, the
callbacks' view and the provider-side pass take its messages as proven, but only when nobody
else's code could touch them in between. Each test puts code on that path that edits the
messages in place (a model whose ``invoke`` edits, a binding whose ``invoke`` edits, a
callback handler that edits, another middleware between two guardrails) and checks that
neither the callbacks nor the model see the value; sync and async, a real ``create_agent``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableBinding

from guardrails import compose
from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel
from tests.test_pii_wire import dumps

EMAIL = "jane.doe@example.com"


class Seen(BaseCallbackHandler):
    """Records what ``on_chat_model_start`` is handed (a user's handler: not a known one)."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append(dumps(messages))


class Editing(Seen):
    """A user's handler that edits the messages it is handed, in place."""

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        super().on_chat_model_start(serialized, messages, **kwargs)
        messages[0][-1].content += f" {EMAIL}"


def _edit(messages: Any) -> None:
    last = messages[-1] if isinstance(messages, list) else None
    if last is not None:
        last.content += f" {EMAIL}"


class EditingModel(ScriptedChatModel):
    """A model whose own ``invoke`` edits the messages in place before LangChain's."""

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        _edit(input)
        return super().invoke(input, config, **kwargs)

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        _edit(input)
        return await super().ainvoke(input, config, **kwargs)


class EditingBinding(RunnableBinding):  # type: ignore[type-arg]
    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        _edit(input)
        return super().invoke(input, config, **kwargs)

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        _edit(input)
        return await super().ainvoke(input, config, **kwargs)


class EditingBinder(ScriptedChatModel):
    """A model whose ``bind`` (what the node calls without tools) wraps it in a binding that
    edits what it is invoked with."""

    def bind(self, **kwargs: Any) -> Any:
        return EditingBinding(bound=self, kwargs=kwargs, config={})


class InPlace(AgentMiddleware):
    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        request.messages[-1].content += f" {EMAIL}"
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        request.messages[-1].content += f" {EMAIL}"
        return await handler(request)


def _run(agent: Any, mode: str, handler: Any = None) -> None:
    payload = {"messages": [HumanMessage("hello")]}
    config = {"callbacks": [handler]} if handler is not None else None
    if mode == "sync":
        agent.invoke(payload, config=config)
    else:
        asyncio.run(agent.ainvoke(payload, config=config))


def _check(model: ScriptedChatModel, seen: Seen | None) -> None:
    sent = dumps(model.requests)
    assert EMAIL not in sent, "the edited value reached the model"
    assert "REDACTED_EMAIL" in sent
    if seen is not None:
        assert seen.seen, "the handler saw no model call"
        assert all(EMAIL not in s for s in seen.seen), "a callback saw the edited value"


@pytest.mark.parametrize("stacked", [False, True], ids=["listed", "composed"])
@pytest.mark.parametrize("cls", [EditingModel, EditingBinder], ids=["invoke", "binding"])
def test_code_between_the_guardrail_and_the_model_is_not_trusted(
    cls: type[ScriptedChatModel], stacked: bool, mode: str
) -> None:
    model = cls(default="done")
    pii = PIIMiddleware("email")
    agent = create_agent(model, middleware=[compose(pii) if stacked else pii])
    seen = Seen()
    _run(agent, mode, seen)
    _check(model, seen)


def test_a_callback_handler_that_edits_is_not_trusted(mode: str) -> None:
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    handler = Editing()
    _run(agent, mode, handler)
    sent = dumps(model.requests)
    assert EMAIL not in sent, "the handler's edit reached the model"


@pytest.mark.parametrize("handler", [False, True], ids=["no handler", "handler"])
def test_a_middleware_between_two_guardrails_is_not_trusted(handler: bool, mode: str) -> None:
    """The inner guardrail hands its messages to the node, but the outer one's types were
    proven before the middleware between them edited: the callbacks and the model are scanned
    for the outer guardrail's types again."""
    model = ScriptedChatModel(default="done")
    agent = create_agent(
        model, middleware=[PIIMiddleware("email"), InPlace(), PIIMiddleware("url")]
    )
    seen = Seen() if handler else None
    _run(agent, mode, seen)
    _check(model, seen)


def test_a_known_observer_still_sees_handled_messages(mode: str) -> None:
    """stream_mode="messages" (LangGraph's own handler) takes the hand-over as proven; what
    it and the model get is the handled text."""
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    payload = {"messages": [HumanMessage(f"mail {EMAIL}")]}
    if mode == "sync":
        chunks = list(agent.stream(payload, stream_mode="messages"))
    else:

        async def main() -> list[Any]:
            return [c async for c in agent.astream(payload, stream_mode="messages")]

        chunks = asyncio.run(main())
    assert chunks
    sent = dumps(model.requests)
    assert EMAIL not in sent
    assert "REDACTED_EMAIL" in sent
