"""Per-call cost without lost coverage (issue 24, item 1): the async passes scan short texts
inline and leave long ones to be computed a slice at a time (:attr:`Scan.defer`), and the
passes of one model call share no trust that an edit in place could abuse.

Each test breaks if a shortcut drops coverage: a deferred text that is never scanned, a pass
that left texts out but is kept (or reported twice), a message remembered as clean while a
text in it was left out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatResult

from guardrails.pii import PIIMiddleware
from guardrails.pii.scan import INLINE, INLINE_BUDGET, _memo_of, fingerprint
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke
from tests.test_pii_wire import dumps

EMAIL = "jane.doe@example.com"


def _long(size: int, tail: str = EMAIL) -> str:
    filler = "the order shipped on time and the client was pleased with it "
    return (filler * (size // len(filler) + 1))[: size - len(tail) - 1] + " " + tail


class NativeAsync(ScriptedChatModel):
    """A scripted model with its own ``_agenerate``: the last hop runs on the event loop
    (``ScriptedChatModel`` alone runs ``_generate`` in a worker thread)."""

    async def _agenerate(
        self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        # the scripted answer itself, not ``self._generate``: on the guarded view that is the
        # guarded sync path, a second last hop that would hide a gap in the async one
        return ScriptedChatModel._generate(self, messages, stop, run_manager, **kwargs)


class AddsText(AgentMiddleware):  # type: ignore[type-arg]
    """Listed after the guardrail: adds a message only the last hop sees."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return handler(request.override(messages=[*request.messages, HumanMessage(self.text)]))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return await handler(
            request.override(messages=[*request.messages, HumanMessage(self.text)])
        )


# ---------------------------------------------------------------------- the deferring pass
def test_a_deferring_pass_lists_long_texts_and_remembers_nothing_it_left_out() -> None:
    pii = PIIMiddleware("email")
    long = _long(INLINE + 500)
    call = AIMessage("", tool_calls=[tool_call("send", {"body": long})], id="a1")
    messages = [HumanMessage("short and clean", id="h1"), call]
    first = pii.scan("input")
    first.defer = []
    assert first.messages(messages) == messages
    assert first.defer == [long]
    assert not first.found
    assert first.unproven == 1
    # the message holding the text left out is not remembered as clean ...
    assert fingerprint(call) not in _memo_of(pii._detector)
    full = pii.scan("input")
    handled = full.messages(messages)
    # ... so the full pass that follows scans it
    assert full.found == {"email": 1}
    assert EMAIL not in dumps(handled)


def test_a_deferring_pass_scans_at_most_its_budget_inline() -> None:
    pii = PIIMiddleware("email")
    texts = [_long(INLINE - 100, f"u{i}@example.com") for i in range(2 * INLINE_BUDGET // INLINE)]
    messages = [HumanMessage(t) for t in texts]
    first = pii.scan("input")
    first.defer = []
    first.messages(messages)
    assert first.inline <= INLINE_BUDGET
    assert first.defer, "a pass over more than its budget left nothing for later"
    assert first.found["email"] + len(first.defer) == len(texts)
    full = pii.scan("input")
    handled = full.messages(messages)
    assert full.found == {"email": len(texts)}
    assert "@example.com" not in dumps(handled)


def test_short_texts_are_never_deferred() -> None:
    pii = PIIMiddleware("email")
    first = pii.scan("input")
    first.defer = []
    handled = first.messages([HumanMessage(f"mail {EMAIL} now")])
    assert first.defer == []
    assert first.found == {"email": 1}
    assert EMAIL not in dumps(handled)


# ---------------------------------------------------------------------- through an agent
@pytest.mark.parametrize("size", [200, INLINE + 1, 3 * INLINE_BUDGET])
def test_long_input_is_handled_once_and_reported_once(
    mode: str, size: int, audit: AuditCapture
) -> None:
    """The guardrail's own pass: a text left out by the first async pass is computed ahead
    and handled by the full pass; the thrown-away pass reports nothing."""
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    text = _long(size)
    result = invoke(agent, {"messages": [HumanMessage(text)]}, mode)
    assert EMAIL not in dumps(model.requests[0]["messages"])
    assert EMAIL not in dumps(result["messages"])
    detected = audit.of("pii.detected")
    assert len(detected) == 1, detected
    assert detected[0]["entities"] == {"email": 1}


@pytest.mark.parametrize("size", [200, INLINE + 1, 3 * INLINE_BUDGET])
def test_long_text_added_after_the_guardrail_never_reaches_a_native_async_model(
    mode: str, size: int, audit: AuditCapture
) -> None:
    """The last hop on the event loop (a model with its own ``_agenerate``): a long text a
    later middleware adds is left out by the first pass, computed ahead, then handled."""
    model = NativeAsync(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email"), AddsText(_long(size))])
    invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    assert EMAIL not in dumps(model.requests[0]["messages"])
    assert "[REDACTED_EMAIL]" in dumps(model.requests[0]["messages"])


def test_a_blocked_long_text_is_refused_before_a_native_async_model_runs() -> None:
    from guardrails.errors import PIIDetectionError

    model = NativeAsync(default="ok")
    agent = create_agent(
        model,
        middleware=[PIIMiddleware("email", strategy="block"), AddsText(_long(3 * INLINE))],
    )
    with pytest.raises(PIIDetectionError):
        asyncio.run(agent.ainvoke({"messages": [HumanMessage("hello")]}))
    assert model.calls == 0


def test_a_40_turn_history_edited_in_place_between_calls_is_scanned_again(mode: str) -> None:
    """The history's messages are the same objects on every call and pass; one of them,
    already proven clean on an earlier call, is edited in place by a later middleware: the
    provider never gets the value."""
    history: list[Any] = []
    for i in range(40):
        history += [
            HumanMessage(f"turn {i}", id=f"h{i}"),
            AIMessage("", tool_calls=[tool_call("noop", {"x": i}, id=f"c{i}")], id=f"a{i}"),
            ToolMessage(f"result {i}", tool_call_id=f"c{i}", id=f"t{i}"),
        ]

    class EditsOnSecondCall(AgentMiddleware):  # type: ignore[type-arg]
        calls = 0

        def _edit(self, request: Any) -> None:
            EditsOnSecondCall.calls += 1
            if EditsOnSecondCall.calls == 2:
                target = next(m for m in request.messages if m.id == "a7")
                target.tool_calls[0]["args"]["x"] = EMAIL

        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            self._edit(request)
            return handler(request)

        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            self._edit(request)
            return await handler(request)

    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email"), EditsOnSecondCall()])
    for _ in range(2):
        invoke(agent, {"messages": [*history, HumanMessage("go")]}, mode)
    assert EditsOnSecondCall.calls == 2
    assert EMAIL not in dumps(model.requests[1]["messages"])


class AddsSetting(AgentMiddleware):  # type: ignore[type-arg]
    """Listed after the guardrail: a request keyword only the provider-side pass handles."""

    def __init__(self, value: str) -> None:
        super().__init__()
        self.value = value

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return handler(request.override(model_settings={"user": self.value}))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return await handler(request.override(model_settings={"user": self.value}))


@pytest.mark.parametrize("size", [200, INLINE + 1, 3 * INLINE_BUDGET])
def test_a_request_keyword_is_handled_and_reported_once_by_the_last_hop(
    mode: str, size: int, audit: AuditCapture
) -> None:
    """Keywords are what only the provider-side pass handles: a long one is left out by the
    first async pass and handled by the full one, a short one handled by the first; either
    way exactly one event reports it."""
    model = NativeAsync(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email"), AddsSetting(_long(size))])
    invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    sent = model.requests[0]
    assert EMAIL not in dumps(sent.get("user")) and "[REDACTED_EMAIL]" in sent["user"]
    request_events = [e for e in audit.of("pii.detected") if e.get("where") == "request"]
    assert len(request_events) == 1, audit.events
    assert request_events[0]["entities"] == {"email": 1}


def test_only_a_pseudonymizing_guardrail_keeps_a_state_channel_for_its_mapping(
    mode: str,
) -> None:
    """A state channel costs every step of every run: redact/mask/hash/block keep no mapping
    and add none; pseudonymize keeps its mapping in the thread's state, across turns."""
    from langgraph.checkpoint.memory import InMemorySaver

    from guardrails.pii.tool_side import VAULT_KEY

    for strategy in ("redact", "mask", "hash", "block"):
        kwargs: dict[str, Any] = {"hash_key": b"k" * 16} if strategy == "hash" else {}
        agent = create_agent(
            ScriptedChatModel(default="ok"),
            middleware=[PIIMiddleware("email", strategy=strategy, **kwargs)],
        )
        assert VAULT_KEY not in agent.channels, strategy
    model = ScriptedChatModel(default="ok")
    agent = create_agent(
        model,
        middleware=[PIIMiddleware("email", strategy="pseudonymize")],
        checkpointer=InMemorySaver(),
    )
    assert VAULT_KEY in agent.channels
    config = {"configurable": {"thread_id": "t"}}
    invoke(agent, {"messages": [HumanMessage(f"mail {EMAIL}")]}, mode, config)
    invoke(agent, {"messages": [HumanMessage(f"again {EMAIL}")]}, mode, config)
    sent = dumps(model.requests[1]["messages"])
    assert EMAIL not in sent and sent.count("<EMAIL_1>") == 2  # one mapping across turns


def test_the_breaker_reads_a_model_endpoint_as_getattr_does() -> None:
    """``ModelFallbackMiddleware`` names a model's breaker by its endpoint on every call; the
    attributes a model lacks are found missing without pydantic's ``__getattr__`` (it raises a
    formatted error each time), with the same result as ``getattr``: fields, properties,
    extras, a guarded view."""
    from langchain_openai import ChatOpenAI
    from pydantic import ConfigDict

    from guardrails.fallback import _ENDPOINT_ATTRS, _attr, _model_key
    from guardrails.pii.lasthop import LastHop, guarded

    class Regional(ScriptedChatModel):
        model_config = ConfigDict(extra="allow")
        region_name: str = "eu-west-1"

        @property
        def endpoint(self) -> str:
            return "https://regional.example/v1"

    models: list[Any] = [
        ChatOpenAI(model="gpt-4o-mini", api_key="k", base_url="http://one.test/v1"),
        Regional(default="ok", deployment_name="blue"),
        ScriptedChatModel(default="ok"),
    ]
    models.append(guarded(models[1], LastHop()))
    for model in models:
        for attr in _ENDPOINT_ATTRS:
            assert _attr(model, attr) == getattr(model, attr, None), (type(model), attr)
    assert _model_key(models[0]).endswith("@http://one.test/v1")
    key = _model_key(models[1])
    assert "regional.example" in key and "eu-west-1" in key and "blue" in key
    assert _model_key(models[3]) == key


@pytest.mark.slow  # the collector in DEBUG_SAVEALL over a whole heap (2-3 s per case)
@pytest.mark.parametrize("composed", [False, True])
def test_a_model_call_leaves_no_reference_cycle(composed: bool, mode: str) -> None:
    """A handled call's objects (its guard, scans, the request's runtime they hold) are freed
    when the call ends, not left to the cycle collector: a cycle per model call kept the run's
    runtime alive until the next collection and made the collector run 7x as often."""
    import gc

    from guardrails.compose import compose
    from tests.support import tool

    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        return "found it"

    pii = PIIMiddleware("email")
    model = ScriptedChatModel(
        default=lambda m: (
            AIMessage("done")
            if isinstance(m[-1], ToolMessage)
            else AIMessage("", tool_calls=[tool_call("lookup", {"q": "x"})])
        )
    )
    agent = create_agent(model, tools=[lookup], middleware=[compose(pii) if composed else pii])
    payload = {"messages": [HumanMessage("mail jane@example.com: go")]}
    invoke(agent, payload, mode)  # warm up (first-use caches)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            invoke(agent, payload, mode)
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("guardrails")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert not ours, f"left to the collector: {sorted({type(o).__qualname__ for o in ours})}"
