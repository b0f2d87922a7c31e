"""Request keywords and invocation parameters settled without a pass (issue 24): when every
value a pass would read is ``None``, a ``bool`` or an exact ``str`` already in the detector's
clean set, ``PIIMiddleware``'s last hop makes no pass over them (``lasthop._settled``).

Each test attacks that shortcut the way a red team would, through a real ``create_agent``
(the guardrail innermost, so the provider-side pass takes the hand-over), sync and async: a
``str`` subclass that claims to equal every clean key (``__eq__`` / ``__hash__``) and hides
its value from ``in``, a same-length edit of the settings between two calls, a number, a
nested dict, a dict key. Each fails when the shortcut settles what it must not: the value
then reaches the model or a callback raw.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage

from guardrails import compose
from guardrails.pii import PIIMiddleware
from guardrails.pii.lasthop import Guard, _settled
from guardrails.testing import ScriptedChatModel
from tests.test_pii_wire import dumps

EMAIL = "jane.doe@example.com"
CARD = 4111111111111111


class Hostile(str):
    """A text that claims to be every key it is compared with (so every clean-set look-up
    answers yes) and hides what it holds from ``in`` (a detector's cheap gate)."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return hash("scripted")  # the model's name: in the clean set after the first call

    def __contains__(self, item: object) -> bool:
        return False


class Settings(AgentMiddleware):
    """Puts ``settings`` into the request's model settings (keywords of the provider call),
    outside the guardrail: the provider-side pass is the one that reads them."""

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__()
        self.settings = settings

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return handler(request.override(model_settings={**self.settings}))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return await handler(request.override(model_settings={**self.settings}))


class Params(BaseCallbackHandler):
    """Records the invocation parameters a callback is handed."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append(dumps(kwargs.get("invocation_params")))


def _agent(settings: dict[str, Any], stacked: bool, types: Any = "email") -> Any:
    model = ScriptedChatModel(default="done")
    pii = PIIMiddleware(types)
    middleware = [Settings(settings), pii]
    agent = create_agent(model, middleware=[compose(*middleware)] if stacked else middleware)
    return agent, model


def _run(agent: Any, mode: str, text: str = "hello", handler: Any = None) -> None:
    payload = {"messages": [HumanMessage(text)]}
    config = {"callbacks": [handler]} if handler is not None else None
    if mode == "sync":
        agent.invoke(payload, config=config)
    else:
        asyncio.run(agent.ainvoke(payload, config=config))


def _sent(model: ScriptedChatModel) -> dict[str, Any]:
    """The keywords of the last provider call."""
    return {k: v for k, v in model.requests[-1].items() if k != "messages"}


@pytest.mark.parametrize("stacked", [False, True], ids=["listed", "composed"])
def test_a_str_subclass_never_settles_a_keyword(stacked: bool, mode: str) -> None:
    agent, model = _agent({"user": Hostile(EMAIL)}, stacked)
    _run(agent, mode)  # the first call puts the model's name in the clean set
    _run(agent, mode)
    sent = _sent(model)
    assert EMAIL not in dumps(sent), "a str subclass was taken as settled"
    assert "REDACTED_EMAIL" in dumps(sent)
    assert type(sent["user"]) is str  # what the provider gets is the exact, handled text


def test_a_str_subclass_never_settles_an_invocation_parameter(mode: str) -> None:
    agent, _ = _agent({"user": Hostile(EMAIL)}, stacked=False)
    params = Params()
    _run(agent, mode, handler=params)
    _run(agent, mode, handler=params)
    assert params.seen, "the handler saw no model call"
    assert all(EMAIL not in seen for seen in params.seen), "a callback saw the value"


def test_a_str_subclass_in_a_message_is_read_as_its_text(mode: str) -> None:
    """The same attack on a message's content: the pass reads the exact text it holds."""
    model = ScriptedChatModel(default="done")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    message = HumanMessage("x")
    message.content = Hostile(f"mail {EMAIL}")
    payload = {"messages": [HumanMessage("scripted"), message]}
    for _ in range(2):
        if mode == "sync":
            agent.invoke(payload)
        else:
            asyncio.run(agent.ainvoke(payload))
    sent = dumps(model.requests)
    assert EMAIL not in sent
    assert "REDACTED_EMAIL" in sent


@pytest.mark.parametrize("stacked", [False, True], ids=["listed", "composed"])
def test_a_same_length_edit_between_calls_is_read_again(stacked: bool, mode: str) -> None:
    """Nothing is remembered by identity: a settings dict edited in place between two runs
    (a clean value replaced by an address of the same length) is read again."""
    clean = "customer-000000042"
    value = "a.bc@example.com"
    value = value.replace("@", "x" * (len(clean) - len(value)) + "@")
    assert len(value) == len(clean)
    settings = {"user": clean}
    agent, model = _agent(settings, stacked)
    _run(agent, mode)
    assert _sent(model)["user"] == clean  # settled: the clean value goes as it is
    settings["user"] = value
    _run(agent, mode)
    assert value not in dumps(_sent(model))
    assert "REDACTED_EMAIL" in dumps(_sent(model))


@pytest.mark.parametrize(
    ("settings", "raw"),
    [
        ({"user": CARD}, str(CARD)),  # a number is read as text
        ({"extra": {"note": f"card {CARD}"}}, str(CARD)),  # a nested dict
        ({"extra": {Hostile(f"{CARD}"): "x"}}, str(CARD)),  # a dict key, a subclass
        ({"extra": {f"{CARD}": "x"}}, str(CARD)),  # a dict key
        ({"stop_words": [f"card {CARD}"]}, str(CARD)),  # a list
        ({"user": "x" * 300 + f" {EMAIL} " + "y" * 300}, EMAIL),  # a long text
    ],
    ids=["number", "nested", "subclass key", "key", "list", "long"],
)
def test_only_short_exact_clean_texts_settle(settings: Any, raw: str, mode: str) -> None:
    agent, model = _agent(settings, stacked=True, types=["email", "credit_card"])
    params = Params()
    _run(agent, mode)
    _run(agent, mode, handler=params)
    assert raw not in dumps(_sent(model)), "an unsettled value reached the model raw"
    assert all(raw not in seen for seen in params.seen), "a callback saw the value raw"


def test_settled_reads_what_a_pass_looks_up_first() -> None:
    """The shortcut's own decisions: only what :meth:`Scan.text` would hand back from its
    first look-up is settled."""
    pii = PIIMiddleware("email")
    guard = Guard(scan=pii.scan, detector=pii._detector)
    pii.scan("request").value({"a": "known words"})  # now in the clean set
    assert _settled({"a": "known words", "b": None, "c": True, "d": "", "tools": [1]}, guard)
    assert not _settled({"a": "unknown words"}, guard)
    assert not _settled({"a": Hostile("known words")}, guard)
    assert not _settled({"a": 1}, guard)
    assert not _settled({"a": 1.5}, guard)
    assert not _settled({"a": ["known words"]}, guard)
    assert not _settled({"a": {"b": "known words"}}, guard)
    assert not _settled({"a": "known words"}, Guard(scan=pii.scan))  # no detector: a pass
