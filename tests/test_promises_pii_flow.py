"""PII promises of the model and tool flow a careless edit would break unnoticed (issue 29).

Through real ``create_agent`` runs, sync and async: the last hop refuses before any callback
sees a value and handles request fields, never tool schemas; ``guard_model`` refuses what it
cannot guard; each ``apply_to_*`` flag handles its channel and only it; exporters redact what
``block`` and ``pseudonymize`` would refuse or map; a vault that always conflicts refuses the
call after a bounded number of attempts; pseudonymization's read-back covers content blocks and
texts seen clean before; ``restore_output`` restores the final answer only; every kind of
structured response is handled.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelResponse
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import BaseModel, Field

from guardrails import GuardrailConfigError, PIIDetectionError, PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool
from tests.test_promises_pii import EMAIL, SSN, _dumps

# --------------------------------------------------------------------------- the last hop


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append((messages, kwargs.get("invocation_params"), kwargs.get("metadata")))


class _Settings(AgentMiddleware):
    """Listed after the guardrail: puts a request field (``user``) into the model call."""

    def __init__(self, user: str) -> None:
        super().__init__()
        self.user = user

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return handler(request.override(model_settings={"user": self.user}))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return await handler(request.override(model_settings={"user": self.user}))


@pytest.mark.parametrize("where", ["model_settings", "message"])
def test_block_refuses_before_any_callback_sees_the_value(
    where: str, mode: str, audit: AuditCapture
) -> None:
    recorder = _Recorder()
    model = ScriptedChatModel(responses=["ok"], callbacks=[recorder])
    text, user = ("hello", f"ssn {SSN}") if where == "model_settings" else (f"ssn {SSN}", "u1")
    agent = create_agent(
        model, middleware=[PIIMiddleware("us_ssn", strategy="block"), _Settings(user)]
    )
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [HumanMessage(text)]}, mode)
    assert model.calls == 0
    assert SSN not in _dumps(recorder.seen), "a callback saw the refused value"
    assert audit.of("pii.blocked")


def test_a_request_field_is_handled_before_callbacks_and_provider(mode: str) -> None:
    recorder = _Recorder()
    model = ScriptedChatModel(responses=["ok"], callbacks=[recorder])
    agent = create_agent(model, middleware=[PIIMiddleware("email"), _Settings(f"u {EMAIL}")])
    invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    assert model.requests[0]["user"] == "u [REDACTED_EMAIL]"
    assert recorder.seen and EMAIL not in _dumps(recorder.seen)


def test_text_a_later_middleware_adds_is_refused_at_the_last_hop(mode: str) -> None:
    class AddContext(AgentMiddleware):
        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            return handler(request.override(messages=[*request.messages, HumanMessage(SSN)]))

        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            return await handler(request.override(messages=[*request.messages, HumanMessage(SSN)]))

    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(
        model, middleware=[PIIMiddleware("us_ssn", strategy="block"), AddContext()]
    )
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    assert model.calls == 0


def test_tool_schemas_and_switches_are_sent_as_they_are(mode: str) -> None:
    @tool
    def contact(q: str) -> str:
        """Reach support at jane.doe@example.com."""
        return "ok"

    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(
        model, tools=[contact], middleware=[PIIMiddleware("email", strategy="block")]
    )
    invoke(agent, {"messages": [HumanMessage("hello")]}, mode)  # not refused: a schema
    (schema,) = model.requests[0]["tools"]
    assert schema["function"]["description"] == "Reach support at jane.doe@example.com."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("not a model",), "needs a chat model"),
        ((ScriptedChatModel(),), "at least one PIIMiddleware"),
        ((ScriptedChatModel(), object()), "takes PIIMiddleware instances"),
        (
            (ScriptedChatModel(), PIIMiddleware("email", strategy="pseudonymize")),
            "cannot use strategy='pseudonymize'",
        ),
    ],
)
def test_guard_model_refuses_what_it_cannot_guard(args: tuple[Any, ...], message: str) -> None:
    from guardrails.pii import guard_model

    with pytest.raises(GuardrailConfigError, match=message):
        guard_model(*args)


@pytest.mark.parametrize("strategy", ["redact", "block"])
def test_a_guarded_model_handles_every_call(strategy: str, mode: str) -> None:
    import asyncio

    from guardrails.pii import guard_model

    inner = ScriptedChatModel(default="fine")
    guarded_model = guard_model(inner, PIIMiddleware("email", strategy=strategy))
    assert isinstance(guarded_model, ScriptedChatModel)
    for _ in range(2):  # every call, not only the first
        call = [HumanMessage(f"summarize: mail {EMAIL}")]
        if strategy == "block":
            with pytest.raises(PIIDetectionError):
                if mode == "sync":
                    guarded_model.invoke(call)
                else:
                    asyncio.run(guarded_model.ainvoke(call))
            continue
        if mode == "sync":
            guarded_model.invoke(call)
        else:
            asyncio.run(guarded_model.ainvoke(call))
    if strategy == "block":
        assert inner.calls == 0
    else:
        assert inner.calls == 2
        assert EMAIL not in _dumps(inner.requests)


# --------------------------------------------------------------------------- what each flag handles


def _flag_run(mode: str, **flags: Any) -> tuple[ScriptedChatModel, list[str], list[Any]]:
    received: list[str] = []

    @tool
    def send(to: str) -> str:
        """Send a message."""
        received.append(to)
        return f"sent to {to}"

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("send", {"to": EMAIL}, "c1")]),
            f"done, {EMAIL} notified",
        ]
    )
    mw = PIIMiddleware("email", **flags)
    out = invoke(
        create_agent(model, tools=[send], middleware=[mw]),
        {"messages": [HumanMessage(f"notify {EMAIL}")]},
        mode,
    )
    return model, received, out["messages"]


FLAGS: dict[str, dict[str, bool]] = {
    # flag under test -> settings (apply_to_input off unless it is the one under test)
    "apply_to_input": {"apply_to_input": True},
    "apply_to_output": {"apply_to_input": False, "apply_to_output": True},
    "apply_to_tool_args": {"apply_to_input": False, "apply_to_tool_args": True},
    "apply_to_tool_results": {"apply_to_input": False, "apply_to_tool_results": True},
    "none": {"apply_to_input": False},
}


@pytest.mark.parametrize("flag", list(FLAGS))
def test_each_apply_to_flag_handles_its_channel_and_only_it(flag: str, mode: str) -> None:
    model, received, stored = _flag_run(mode, **FLAGS[flag])
    first_request = model.requests[0]["messages"][-1].content
    _human, call, result, final = stored
    # the user's message as the provider gets it
    assert (EMAIL not in first_request) == (flag == "apply_to_input"), first_request
    # the tool's argument (the model's tool call is output)
    handled_args = flag in {"apply_to_output", "apply_to_tool_args"}
    assert received == (["[REDACTED_EMAIL]"] if handled_args else [EMAIL])
    assert (EMAIL not in _dumps(call.tool_calls)) == (handled_args or flag == "apply_to_input")
    # the tool's result entering state
    assert isinstance(result, ToolMessage)
    handled_result = flag in {"apply_to_tool_results", "apply_to_input"} or handled_args
    assert (EMAIL not in result.content) == handled_result, result.content
    # the final answer
    assert (EMAIL not in final.content) == (flag == "apply_to_output"), final.content


def test_the_model_sees_no_tool_result_value_with_tool_results_on(mode: str) -> None:
    model, _, _ = _flag_run(mode, apply_to_input=False, apply_to_tool_results=True)
    tool_message = model.requests[1]["messages"][-1]
    assert isinstance(tool_message, ToolMessage)
    assert tool_message.content == "sent to [REDACTED_EMAIL]"


# --------------------------------------------------------------------------- exporters, vaults


def test_exporters_redact_what_block_and_pseudonymize_would_refuse_or_map() -> None:
    from guardrails.pii.observers import pii_anonymizer

    run = {"inputs": {"q": f"ssn {SSN}", "to": EMAIL}}
    for strategy in ("block", "pseudonymize"):
        anonymize = pii_anonymizer(PIIMiddleware(["us_ssn", "email"], strategy=strategy))
        out = anonymize(run)
        assert out == {"inputs": {"q": "ssn [REDACTED_US_SSN]", "to": "[REDACTED_EMAIL]"}}
    masked = pii_anonymizer(PIIMiddleware("email", strategy="mask"))(run)
    assert masked["inputs"]["to"] == "jane.doe@****.com"  # other strategies are kept


def test_a_vault_that_always_conflicts_refuses_the_call(mode: str, audit: AuditCapture) -> None:
    from collections.abc import Mapping

    from guardrails.pii import MemoryVault

    class AlwaysTaken(MemoryVault):
        """Every placeholder minted is taken by a concurrent writer first."""

        def __init__(self) -> None:
            super().__init__()
            self.adds = 0

        def add(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
            self.adds += 1
            taken = {k: f"other{self.adds}@example.net" for k in entries}
            super().add(thread_id, namespace, taken)
            return super().add(thread_id, namespace, entries)

        async def aadd(
            self, thread_id: str, namespace: str, entries: Mapping[str, str]
        ) -> list[str]:
            return self.add(thread_id, namespace, entries)

    vault = AlwaysTaken()
    model = ScriptedChatModel(default="ok")
    agent = create_agent(
        model, middleware=[PIIMiddleware("email", strategy="pseudonymize", vault=vault)]
    )
    with pytest.raises(PIIDetectionError, match="pseudonym_conflict"):
        invoke(
            agent,
            {"messages": [HumanMessage(f"mail {EMAIL}")]},
            mode,
            {"configurable": {"thread_id": "t"}},
        )
    assert model.calls == 0
    assert vault.adds == 5, "a bounded number of attempts"
    assert EMAIL not in _dumps(audit.events)


# --------------------------------------------------------------------------- pseudonymization


def _first_placeholder_call(tool_name: str) -> Any:
    def first(messages: list[Any]) -> AIMessage:  # the model writes the placeholder it was shown
        sent = str(messages[-1].content)
        placeholder = sent[sent.index("<") : sent.index(">") + 1]
        return AIMessage("", tool_calls=[tool_call(tool_name, {"text": placeholder})])

    return first


@pytest.mark.parametrize("shape", ["text block", "string block", "nested block"])
def test_read_back_covers_content_blocks_of_a_tool_result(shape: str, mode: str) -> None:
    """A restored tool hands the value back reversed inside content blocks: found there too."""
    reverse = EMAIL[::-1]
    content: Any = {
        "text block": [{"type": "text", "text": f"done: {reverse}"}],
        "string block": [f"done: {reverse}"],
        "nested block": [{"type": "json", "json": {"result": [reverse]}}],
    }[shape]

    @tool
    def echo(text: str) -> Any:
        """Echo a text."""
        return content

    model = ScriptedChatModel(responses=[_first_placeholder_call("echo"), "done"])
    mw = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["echo"])
    invoke(create_agent(model, tools=[echo], middleware=[mw]), {"messages": [f"x {EMAIL}"]}, mode)
    second = _dumps([m.model_dump() for m in model.requests[1]["messages"]])
    assert reverse not in second and EMAIL not in second, "the value came back to the model"


def test_read_back_is_not_skipped_for_a_text_seen_clean_before(mode: str) -> None:
    """A text the detector found nothing in (a reversed address in the user's message) is
    still searched for the thread's real values when a restored tool returns it."""
    reverse = EMAIL[::-1]

    @tool
    def echo(text: str) -> str:
        """Echo a text."""
        return reverse

    model = ScriptedChatModel(responses=[_first_placeholder_call("echo"), "done"])
    mw = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["echo"])
    agent = create_agent(model, tools=[echo], middleware=[mw])
    invoke(agent, {"messages": [HumanMessage(reverse), HumanMessage(f"x {EMAIL}")]}, mode)
    result = model.requests[1]["messages"][-1]
    assert isinstance(result, ToolMessage)
    assert reverse not in str(result.content), "the tool handed the value back reversed"


def test_restore_output_restores_text_blocks_of_the_final_answer(mode: str) -> None:
    answer = AIMessage(
        [{"type": "text", "text": "written to <EMAIL_1>"}, "and <EMAIL_1>", "<EMAIL_9> unknown"]
    )
    model = ScriptedChatModel(responses=[answer])
    mw = PIIMiddleware("email", strategy="pseudonymize", restore_output=True)
    out = invoke(create_agent(model, middleware=[mw]), {"messages": [f"x {EMAIL}"]}, mode)
    final = out["messages"][-1].content
    assert final == [
        {"type": "text", "text": f"written to {EMAIL}"},
        f"and {EMAIL}",
        "<EMAIL_9> unknown",
    ]


def test_restore_output_leaves_an_answer_that_calls_tools(mode: str) -> None:
    @tool
    def note(text: str) -> str:
        """Take a note."""
        return "noted"

    calls = AIMessage("noting <EMAIL_1>", tool_calls=[tool_call("note", {"text": "<EMAIL_1>"})])
    model = ScriptedChatModel(responses=[calls, "finished with <EMAIL_1>"])
    mw = PIIMiddleware("email", strategy="pseudonymize", restore_output=True)
    out = invoke(
        create_agent(model, tools=[note], middleware=[mw]), {"messages": [f"x {EMAIL}"]}, mode
    )
    call = next(m for m in out["messages"] if isinstance(m, AIMessage) and m.tool_calls)
    assert call.content == "noting <EMAIL_1>", "a tool-calling step was restored"
    assert out["messages"][-1].content == f"finished with {EMAIL}"


class _Strict(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


@dataclasses.dataclass
class _Card:
    holder: str
    contact: dict[str, Any]


class _Cache(AgentMiddleware):
    """Listed after the guardrail: answers from a cache, without calling the model."""

    def __init__(self, structured: Any) -> None:
        super().__init__()
        self.structured = structured

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return ModelResponse(result=[AIMessage("cached")], structured_response=self.structured)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return self.wrap_model_call(request, handler)


@pytest.mark.parametrize("kind", ["model that no longer validates", "dataclass", "dict"])
def test_every_kind_of_structured_response_is_handled(kind: str, mode: str) -> None:
    from langchain.agents.structured_output import ToolStrategy

    structured: Any = {
        "model that no longer validates": _Strict(email=EMAIL),
        "dataclass": _Card(holder=EMAIL, contact={"mail": [EMAIL]}),
        "dict": {"to": EMAIL, "n": 3},
    }[kind]
    schema = {"dataclass": _Card, "dict": _Strict}.get(kind, _Strict)
    agent = create_agent(
        ScriptedChatModel(responses=[]),
        response_format=ToolStrategy(schema),
        middleware=[PIIMiddleware("email", apply_to_output=True), _Cache(structured)],
    )
    out = invoke(agent, {"messages": ["who?"]}, mode)
    got = out["structured_response"]
    assert type(got) is type(structured)
    assert EMAIL not in _dumps(dataclasses.asdict(got) if kind == "dataclass" else got)
    if kind == "model that no longer validates":
        assert got.email == "[REDACTED_EMAIL]"
    elif kind == "dataclass":
        assert got == _Card(holder="[REDACTED_EMAIL]", contact={"mail": ["[REDACTED_EMAIL]"]})
    else:
        assert got == {"to": "[REDACTED_EMAIL]", "n": 3}


# ------------------------------------------------------------------- more than one guardrail


def test_every_guard_handles_request_fields_whatever_the_order(mode: str) -> None:
    """A guardrail with input off listed first does not stop the next one from handling the
    request fields a later middleware adds."""
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(
        model,
        middleware=[
            PIIMiddleware("us_ssn", apply_to_input=False, apply_to_output=True),
            PIIMiddleware("email"),
            _Settings(f"u {EMAIL}"),
        ],
    )
    invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    assert model.requests[0]["user"] == "u [REDACTED_EMAIL]"


@pytest.mark.parametrize("strategy", ["redact", "block"])
def test_an_answer_made_without_the_model_is_output_too(
    strategy: str, mode: str, audit: AuditCapture
) -> None:
    class Answer(AgentMiddleware):
        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            return ModelResponse(result=[AIMessage(f"the ssn is {SSN}")])

        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            return self.wrap_model_call(request, handler)

    model = ScriptedChatModel(responses=[])
    mw = PIIMiddleware("us_ssn", strategy=strategy, apply_to_output=True)
    agent = create_agent(model, middleware=[mw, Answer()])
    if strategy == "block":
        with pytest.raises(PIIDetectionError):
            invoke(agent, {"messages": ["hi"]}, mode)
        assert audit.of("pii.blocked")
        return
    out = invoke(agent, {"messages": ["hi"]}, mode)
    assert out["messages"][-1].content == "the ssn is [REDACTED_US_SSN]"
    (event,) = [e for e in audit.of("pii.detected") if e.get("where") == "output"]
    assert event["entities"] == {"us_ssn": 1}


def test_a_model_that_keeps_state_in_its_fields_continues_across_calls(mode: str) -> None:
    """The guarded view writes a model's own fields through to it (a call counter): a
    scripted fake model answers its second response on the second call, not the first again."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    model = FakeListChatModel(responses=["first", "second", "third"])
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    answers = [
        invoke(agent, {"messages": [HumanMessage(f"q{i}")]}, mode)["messages"][-1].content
        for i in range(3)
    ]
    assert answers == ["first", "second", "third"]


# --------------------------------------------------------------------------- numbering, read-back


@pytest.mark.parametrize("where", ["content", "tool call"])
def test_a_placeholder_visible_in_the_conversation_is_never_reused(where: str, mode: str) -> None:
    """Without its mapping (a new thread, an expired vault), a placeholder the conversation
    already shows keeps its meaning: a new value is numbered above it."""
    model = ScriptedChatModel(responses=["ok"])
    mw = PIIMiddleware("email", strategy="pseudonymize")
    if where == "content":
        history: list[Any] = [HumanMessage("earlier you wrote to <EMAIL_3>")]
    else:
        history = [
            AIMessage("", tool_calls=[tool_call("send", {"to": "<EMAIL_3>"}, "c1")]),
            ToolMessage("sent", tool_call_id="c1"),
        ]
    history.append(HumanMessage(f"now write to {EMAIL}"))
    invoke(create_agent(model, middleware=[mw]), {"messages": history}, mode)
    assert model.requests[0]["messages"][-1].content == "now write to <EMAIL_4>"


@pytest.mark.parametrize(
    "returned",
    [f"İ {EMAIL[::-1]}", f"İstanbul: {EMAIL.upper()}", f"İ {' '.join(EMAIL)}"],
    ids=["reversed", "upper case", "spaced"],
)
def test_read_back_in_a_text_whose_case_folding_changes_its_length(
    returned: str, mode: str
) -> None:
    """``İ`` lowers to two characters: the value handed back is still found (and only it is
    replaced)."""

    @tool
    def echo(text: str) -> str:
        """Echo a text."""
        return returned

    model = ScriptedChatModel(responses=[_first_placeholder_call("echo"), "done"])
    mw = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["echo"])
    invoke(create_agent(model, tools=[echo], middleware=[mw]), {"messages": [f"x {EMAIL}"]}, mode)
    result = model.requests[1]["messages"][-1]
    assert isinstance(result, ToolMessage)
    handled = str(result.content)
    assert re.fullmatch(r"İ(stanbul:)? <EMAIL_\d+>", handled), handled
    assert "jane" not in handled.lower() and "enaj" not in handled.lower()


def test_read_back_of_a_value_right_after_another_match(mode: str) -> None:
    """The value handed back reversed, glued to another value the detector finds: both are
    handled inside the tool's run, before its callbacks see the output."""

    class ToolEnd(BaseCallbackHandler):
        def __init__(self) -> None:
            self.outputs: list[str] = []

        def on_tool_end(self, output: Any, **kwargs: Any) -> None:
            self.outputs.append(str(getattr(output, "content", output)))

    @tool
    def echo(text: str) -> str:
        """Echo a text."""
        return "CODE-9999" + "CODE-1234"[::-1]

    model = ScriptedChatModel(responses=[_first_placeholder_call("echo"), "done"])
    mw = PIIMiddleware(
        "code", detector=r"CODE-\d{4}", strategy="pseudonymize", restore_tools=["echo"]
    )
    agent = create_agent(model, tools=[echo], middleware=[mw])
    recorder = ToolEnd()
    invoke(agent, {"messages": ["check CODE-1234"]}, mode, {"callbacks": [recorder]})
    result = str(model.requests[1]["messages"][-1].content)
    assert "4321-EDOC" not in result and "CODE-9999" not in result, result
    assert recorder.outputs and "4321-EDOC" not in str(recorder.outputs), recorder.outputs


def test_read_back_of_a_value_whose_end_is_spaced_out(mode: str) -> None:
    """A value handed back with only its end spaced out (``...example.com . au``): the
    detector sees a shorter address, the read-back the whole value; the whole value goes."""
    value = "jane.doe@example.com.au"

    @tool
    def echo(text: str) -> str:
        """Echo a text."""
        return "jane.doe@example.com . au"

    model = ScriptedChatModel(responses=[_first_placeholder_call("echo"), "done"])
    mw = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["echo"])
    invoke(create_agent(model, tools=[echo], middleware=[mw]), {"messages": [f"x {value}"]}, mode)
    result = str(model.requests[1]["messages"][-1].content)
    assert "au" not in result and "example" not in result, result


# --------------------------------------------------------------------------- fail closed


def _crashing(text: str) -> list[Any]:
    if "trigger" in text:
        raise RuntimeError("detector down")
    return []


@pytest.mark.parametrize("channel", ["input", "output", "tool_args", "tool_results"])
def test_a_detector_crash_on_any_channel_blocks(
    channel: str, mode: str, audit: AuditCapture
) -> None:
    """Fail closed: wherever the scan runs, a crashing detector refuses the call; the text it
    could not scan goes nowhere."""
    received: list[str] = []

    @tool
    def send(to: str) -> str:
        """Send a message."""
        received.append(to)
        return "sent trigger" if channel == "tool_results" else "sent"

    text = "trigger" if channel == "input" else "hello"
    answer = AIMessage(
        "trigger" if channel == "output" else "",
        tool_calls=[tool_call("send", {"to": "trigger" if channel == "tool_args" else "x"})],
    )
    model = ScriptedChatModel(responses=[answer, "done"])
    flags = {
        "input": {},
        "output": {"apply_to_input": False, "apply_to_output": True},
        "tool_args": {"apply_to_input": False, "apply_to_tool_args": True},
        "tool_results": {"apply_to_input": False, "apply_to_tool_results": True},
    }[channel]
    mw = PIIMiddleware("thing", detector=_crashing, **flags)
    agent = create_agent(model, tools=[send], middleware=[mw])
    # a clean message first: texts scanned ahead (async) are known, the crashing one is not
    with pytest.raises(PIIDetectionError, match="detector_error"):
        invoke(agent, {"messages": [HumanMessage("good morning"), HumanMessage(text)]}, mode)
    assert audit.of("pii.detector_error")
    if channel == "input":
        assert model.calls == 0
    if channel in {"output", "tool_args"}:
        assert received == [], "the tool ran on an answer that could not be scanned"
    if channel == "tool_results":
        assert model.calls == 1, "the unscanned result reached the model"


def test_a_detector_crash_in_the_stream_transformer_blocks() -> None:
    mw = PIIMiddleware("thing", detector=_crashing, apply_to_tool_results=True)
    (factory,) = mw.transformers
    event = {"type": "event", "method": "values", "params": {"data": {"x": "trigger"}}}
    with pytest.raises(PIIDetectionError):
        factory(()).process(event)


def test_an_unscannable_payload_added_after_the_guardrail_is_refused(mode: str) -> None:
    import base64
    import os

    blob = base64.b64encode(os.urandom(200)).decode()

    class AddImage(AgentMiddleware):
        def _add(self, request: Any) -> Any:
            image = HumanMessage(
                [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{blob}"}}]
            )
            return request.override(messages=[*request.messages, image])

        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            return handler(self._add(request))

        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            return await handler(self._add(request))

    model = ScriptedChatModel(responses=["ok"])
    mw = PIIMiddleware("email", refuse_unscannable=True)
    agent = create_agent(model, middleware=[mw, AddImage()])
    with pytest.raises(PIIDetectionError, match="unscannable"):
        invoke(agent, {"messages": ["hello"]}, mode)
    assert model.calls == 0
    # without the setting it is sent (documented: binary payloads are counted, not refused)
    model = ScriptedChatModel(responses=["ok"])
    invoke(
        create_agent(model, middleware=[PIIMiddleware("email"), AddImage()]),
        {"messages": ["hello"]},
        mode,
    )
    assert model.calls == 1


# --------------------------------------------------------------------------- seed-2 sample promises


def test_a_request_field_handled_at_the_last_hop_is_audited(mode: str, audit: AuditCapture) -> None:
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email"), _Settings(f"u {EMAIL}")])
    invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    events = [e for e in audit.of("pii.detected") if e.get("where") == "request"]
    assert [e["entities"] for e in events] == [{"email": 1}]


def test_a_placeholder_minted_at_the_last_hop_that_conflicts_is_refused(mode: str) -> None:
    """Text added after the guardrail gets its placeholder at the last hop; when the vault
    says another writer took that number, the call is refused (a tool would otherwise get
    the other writer's value for it)."""
    from collections.abc import Mapping

    from guardrails.pii import MemoryVault

    class AlwaysTaken(MemoryVault):
        def add(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
            super().add(thread_id, namespace, {k: "other@example.net" for k in entries})
            return super().add(thread_id, namespace, entries)

        async def aadd(
            self, thread_id: str, namespace: str, entries: Mapping[str, str]
        ) -> list[str]:
            return self.add(thread_id, namespace, entries)

    class AddValue(AgentMiddleware):
        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            return handler(request.override(messages=[*request.messages, HumanMessage(EMAIL)]))

        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            return await handler(
                request.override(messages=[*request.messages, HumanMessage(EMAIL)])
            )

    model = ScriptedChatModel(default="ok")
    mw = PIIMiddleware("email", strategy="pseudonymize", vault=AlwaysTaken())
    agent = create_agent(model, middleware=[mw, AddValue()])
    with pytest.raises(PIIDetectionError, match="pseudonym_conflict"):
        invoke(agent, {"messages": ["hello"]}, mode, {"configurable": {"thread_id": "t"}})


def test_read_back_of_a_value_of_exactly_six_letters_and_digits(mode: str) -> None:
    """Values of 6 letters and digits and more are looked for (docs: Read-back)."""

    @tool
    def echo(text: str) -> str:
        """Echo a text."""
        return "AB1234"[::-1]

    model = ScriptedChatModel(responses=[_first_placeholder_call("echo"), "done"])
    mw = PIIMiddleware("code", detector=r"AB\d{4}", strategy="pseudonymize", restore_tools=["echo"])
    invoke(create_agent(model, tools=[echo], middleware=[mw]), {"messages": ["see AB1234"]}, mode)
    result = str(model.requests[1]["messages"][-1].content)
    assert "4321BA" not in result, result


def test_an_unguarded_subagent_is_refused_and_audited(mode: str, audit: AuditCapture) -> None:
    deepagents = pytest.importorskip("deepagents")
    model = ScriptedChatModel(default="ok")
    agent = deepagents.create_deep_agent(model=model, middleware=[PIIMiddleware("email")])
    with pytest.raises(GuardrailConfigError, match="general-purpose"):
        invoke(agent, {"messages": [HumanMessage("hi")]}, mode)
    assert model.calls == 0
    (event,) = audit.of("pii.blocked")
    assert event["where"] == "subagent"
