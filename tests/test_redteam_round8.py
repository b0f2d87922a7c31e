"""Red-team round 8: attacks on changes of this session, kept as promise tests.

**Only what ToolNode itself injects passes unhandled** (commits ed95e9f / a663642): a tool not
in ``restore_tools`` never receives a raw value of a configured type in an argument a model or
a layer wrote. ToolNode injects by the *call's* name (``_injected_args[call["name"]]``), so a
tool a layer hands it with ``request.override(tool=...)`` under the name of a tool that takes
nothing injected gets nothing injected: a dict a layer puts under that tool's ``state``,
``store``, ``runtime`` or ``InjectedToolArg`` parameter is the layer's writing, not graph
state, and was passed raw. ToolNode's own objects (the state, a state field, the store, the
runtime) still reach the tool as they are.

**A reviewer's answer with more than one decision is no answer** (commit e3451c2): also when
the answer carries a top-level ``type`` beside its ``decisions`` list.

**A restored tool's exception carries placeholders** (commit 0930a48): also a ``ToolException``
whose type takes more than a message, and objects the walker does not enter (an attribute
holding httpx's ``Request`` or a record: replaced by its handled text; an exception group's
exceptions, rebuilt one by one).

**Every plausible reading of a payload is scanned** (commit 1792afb): also a quoted-printable
MIME body whose soft line break falls inside a value.
"""

from __future__ import annotations

import builtins
import json
import random
import string
import sys
from typing import Annotated, Any

import httpx
import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain.tools import InjectedState, InjectedStore, ToolRuntime
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import InjectedToolArg, ToolException
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from typing_extensions import NotRequired

from guardrails.pii import PIIMiddleware
from guardrails.pii.observers import PIISpanProcessor, redactor
from guardrails.pii.vault import MemoryVault
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool
from tests.test_promises_pii_tool_errors import Errors, _shows

JANE = "jane@example.com"
CAROL = "carol.white@example.net"

PIIS = {
    "pseudonymize": lambda: PIIMiddleware("email", strategy="pseudonymize", restore_tools=[]),
    "redact": lambda: PIIMiddleware("email", strategy="redact", apply_to_tool_args=True),
}


class SwapKeepingName(AgentMiddleware):  # type: ignore[type-arg]
    """A layer that hands ToolNode another implementation of the called tool (a v2 of it)
    under the call's own name, and fills one of the new tool's parameters itself."""

    def __init__(self, target: Any, key: str) -> None:
        super().__init__()
        self.target = target
        self.key = key

    def _moved(self, request: Any) -> Any:
        call = request.tool_call
        args = {**call["args"], self.key: {"cc": [CAROL], "urgent": True}}
        return request.override(tool=self.target, tool_call={**call, "args": args})

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._moved(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._moved(request))


def _v2(key: str, seen: list[Any]) -> Any:
    """The v2 tool (named ``crm`` like the agent's own) whose parameter ``key`` ToolNode would
    inject, were it the tool the agent was built with."""
    if key == "state":

        @tool("crm")
        def crm_state(note: str, state: Annotated[dict[str, Any], InjectedState]) -> str:
            """Write to the CRM."""
            seen.append(state)
            return "ok"

        return crm_state
    if key == "store":

        @tool("crm")
        def crm_store(note: str, store: Annotated[Any, InjectedStore()]) -> str:
            """Write to the CRM."""
            seen.append(store)
            return "ok"

        return crm_store
    if key == "runtime":

        @tool("crm")
        def crm_runtime(note: str, runtime: Any = None) -> str:
            """Write to the CRM."""
            seen.append(runtime)
            return "ok"

        return crm_runtime

    @tool("crm")
    def crm_hidden(note: str, hidden: Annotated[Any, InjectedToolArg] = None) -> str:
        """Write to the CRM."""
        seen.append(hidden)
        return "ok"

    return crm_hidden


@pytest.mark.parametrize("key", ["state", "store", "runtime", "hidden"])
@pytest.mark.parametrize("strategy", list(PIIS))
def test_a_dict_a_layer_puts_where_toolnode_injects_nothing_reaches_the_tool_handled(
    key: str, strategy: str, mode: str, memory_saver: Any
) -> None:
    seen: list[Any] = []

    @tool("crm")
    def crm(note: str) -> str:
        """Write to the CRM."""
        seen.append(note)
        return "ok"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("crm", {"note": "hi"})]), "Ok."]
    )
    agent = create_agent(
        model,
        tools=[crm],
        checkpointer=memory_saver,
        store=InMemoryStore(),
        middleware=[PIIS[strategy](), SwapKeepingName(_v2(key, seen), key)],
    )
    invoke(agent, {"messages": [("user", "note hi")]}, mode, {"configurable": {"thread_id": "s"}})
    assert len(seen) == 1, seen  # the v2 ran, with the layer's dict
    assert isinstance(seen[0], dict) and seen[0]["urgent"] is True, seen
    assert CAROL not in repr(seen), seen


class Profile(AgentState):  # type: ignore[type-arg]
    profile: NotRequired[dict[str, Any]]


@pytest.mark.parametrize("strategy", list(PIIS))
def test_toolnodes_own_state_field_store_and_runtime_reach_the_tool_as_they_are(
    strategy: str, mode: str, memory_saver: Any
) -> None:
    """The other side of the rule above: what ToolNode itself injects is not the model's
    writing (a state field the application set keeps its real value)."""
    seen: dict[str, Any] = {}

    @tool("crm")
    def crm(
        note: str,
        profile: Annotated[dict[str, Any], InjectedState("profile")],
        store: Annotated[Any, InjectedStore()],
        runtime: ToolRuntime,
    ) -> str:
        """Write to the CRM."""
        seen.update(profile=profile, store=store, runtime=runtime)
        return "ok"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("crm", {"note": "hi"})]), "Ok."]
    )
    agent = create_agent(
        model,
        tools=[crm],
        checkpointer=memory_saver,
        store=InMemoryStore(),
        state_schema=Profile,
        middleware=[PIIS[strategy]()],
    )
    invoke(
        agent,
        {"messages": [("user", "note hi")], "profile": {"owner": JANE}},
        mode,
        {"configurable": {"thread_id": "o"}},
    )
    assert seen["profile"] == {"owner": JANE}, seen
    assert isinstance(seen["store"], BaseStore)
    assert isinstance(seen["runtime"], ToolRuntime)


class Contact(AgentState):  # type: ignore[type-arg]
    contact: NotRequired[str]


@pytest.mark.parametrize("strategy", list(PIIS))
def test_a_text_state_field_toolnode_injects_reaches_the_tool_as_the_whole_state_does(
    strategy: str, mode: str, memory_saver: Any
) -> None:
    """``InjectedState("contact")`` is the application's state like ``InjectedState()``: the
    whole state reached the tool with the real address while the field alone, a plain text,
    was taken for the model's words and handled (``<EMAIL_1>``)."""
    seen: dict[str, Any] = {}

    @tool("crm")
    def crm(
        note: str,
        contact: Annotated[str, InjectedState("contact")],
        state: Annotated[dict[str, Any], InjectedState],
    ) -> str:
        """Write to the CRM."""
        seen.update(contact=contact, whole=state["contact"])
        return "ok"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("crm", {"note": "hi"})]), "Ok."]
    )
    agent = create_agent(
        model,
        tools=[crm],
        checkpointer=memory_saver,
        state_schema=Contact,
        middleware=[PIIS[strategy]()],
    )
    invoke(
        agent,
        {"messages": [("user", "note hi")], "contact": JANE},
        mode,
        {"configurable": {"thread_id": "f"}},
    )
    assert seen == {"contact": JANE, "whole": JANE}, seen


# ------------------------------------------------------------------ the reviewer's answer


@pytest.mark.parametrize(
    "answer",
    [
        {"type": "approve", "decisions": [{"type": "reject"}, {"type": "reject"}]},
        {"type": "approve", "decisions": []},
        {"type": "approve", "decisions": "reject"},
    ],
    ids=["two rejections", "none", "not a list"],
)
def test_a_top_level_type_beside_a_decisions_list_is_no_answer(
    answer: Any, mode: str, audit: AuditCapture
) -> None:
    from langgraph.types import Command

    from tests.test_promises_injection import ATTACKER_IBAN, _last_tool_message, _ran
    from tests.test_promises_injection_2 import _paused

    label = "top-level-" + str(answer["decisions"])[:12]
    log, agent, config = _paused(mode, label)
    result = invoke(agent, Command(resume=answer), mode, config=config)
    assert not _ran(log, "send_money"), log
    assert ATTACKER_IBAN not in repr([args for _, args in log])
    assert _last_tool_message(result).status == "error"
    [blocked] = audit.of("injection.blocked")
    assert blocked["decision"] == "invalid_decision"


# ------------------------------------------------------------------ a restored tool's exception
# (commit 0930a48): a tool in ``restore_tools`` gets real values; what it raises reaches the
# run's caller and ``on_tool_error`` with placeholders.

ANN = "ann.lee@example.com"


class CodedToolError(ToolException):
    """A ``ToolException`` whose ``__init__`` takes more than the message."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Delivery:
    """An object the tool keeps on its exception (as httpx keeps the request)."""

    def __init__(self, to: str) -> None:
        self.to = to

    def __repr__(self) -> str:
        return f"Delivery(to={self.to!r})"


class Envelope:
    """An object whose repr says nothing of what it holds."""

    def __init__(self, to: str) -> None:
        self.headers = {"to": to}

    def __repr__(self) -> str:
        return "<Envelope>"


class SendFailed(Exception):
    def __init__(self, message: str, delivery: Delivery) -> None:
        super().__init__(message)
        self.delivery = delivery


def _http_error(email: str) -> Exception:
    request = httpx.Request("GET", f"https://crm.test/contacts/{email}")
    return httpx.HTTPStatusError("Client error '404 Not Found'", request=request,
                                 response=httpx.Response(404, request=request))  # fmt: skip


def _restored_tool_raising(
    make: Any, mode: str, *, handle_tool_error: bool = False
) -> tuple[Any, Errors]:
    @tool
    def lookup(email: str) -> str:
        """Look an account up."""
        raise make(email)

    lookup.handle_tool_error = handle_tool_error
    pii = PIIMiddleware(
        "email", strategy="pseudonymize", vault=MemoryVault(), restore_tools=["lookup"]
    )
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", {"email": "<EMAIL_1>"})]), "Ok."]
    )
    agent = create_agent(model, tools=[lookup], middleware=[pii])
    seen = Errors()
    config = {"configurable": {"thread_id": "e"}, "callbacks": [seen]}
    payload = {"messages": [("user", f"Find {ANN}.")]}
    if handle_tool_error:
        return invoke(agent, payload, mode, config), seen
    with pytest.raises(BaseException) as raised:
        invoke(agent, payload, mode, config)
    return raised.value, seen


def test_a_tool_exception_whose_type_takes_more_than_a_message_carries_placeholders(
    mode: str,
) -> None:
    """Rebuilding it with the handled message alone raised the guardrail's own TypeError,
    chained (sync) to the raw exception: the run ended on a TypeError quoting the address."""
    error, seen = _restored_tool_raising(lambda e: CodedToolError(f"no account for {e}", 7), mode)
    assert isinstance(error, CodedToolError), type(error)
    assert ANN not in _shows(error) and "<EMAIL_1>" in str(error)
    assert seen.errors and all(ANN not in _shows(e) for e in seen.errors)


def test_a_tool_exception_turned_into_the_tools_output_carries_placeholders(mode: str) -> None:
    result, _ = _restored_tool_raising(
        lambda e: CodedToolError(f"no account for {e}", 7), mode, handle_tool_error=True
    )
    answer = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert ANN not in str(answer.content) and "<EMAIL_1>" in str(answer.content)


OPAQUE = {
    "an httpx error (request object)": _http_error,
    "an object attribute": lambda e: SendFailed("delivery failed", Delivery(e)),
}
_GROUP: Any = getattr(builtins, "ExceptionGroup", None)  # (Python 3.11+)
if _GROUP is not None:
    OPAQUE["an exception group"] = lambda e: _GROUP("delivery failed", [ValueError(f"no {e}")])


@pytest.mark.parametrize("kind", list(OPAQUE))
def test_a_restored_tools_exception_holds_no_real_value_in_its_objects(
    kind: str, mode: str
) -> None:
    """An object the walk does not enter whose text holds a value is replaced by its handled
    text (an exception group's exceptions are rebuilt one by one); the type is kept."""
    error, seen = _restored_tool_raising(OPAQUE[kind], mode)
    assert ANN not in _shows(error), _shows(error)
    assert seen.errors and all(ANN not in _shows(e) for e in seen.errors)
    assert isinstance(error, type(OPAQUE[kind]("x@example.org")))
    assert "<EMAIL_1>" in _shows(error)


def _deep(value: Any, depth: int = 0) -> str:
    """``value`` as an observer that follows its attributes can read it."""
    parts = [repr(value)]
    if depth < 4:
        fields: Any = getattr(value, "__dict__", None)
        if isinstance(value, BaseException):
            parts += [_deep(a, depth + 1) for a in value.args]
        if isinstance(fields, dict):
            parts += [_deep(v, depth + 1) for v in fields.values()]
        elif isinstance(value, dict):
            parts += [_deep(v, depth + 1) for v in value.values()]
        elif isinstance(value, list | tuple):
            parts += [_deep(v, depth + 1) for v in value]
    return "\n".join(parts)


HIDDEN = {
    "an object whose repr is silent": lambda e: SendFailed("delivery failed", Envelope(e)),  # type: ignore[arg-type]
    "a bytes attribute": lambda e: SendFailed("delivery failed", e.encode()),  # type: ignore[arg-type]
    "an argument whose repr is silent": lambda e: LookupError(Envelope(e)),
}


@pytest.mark.parametrize("kind", list(HIDDEN))
def test_a_restored_tools_exception_holds_no_real_value_an_observer_can_follow(
    kind: str, mode: str
) -> None:
    """An observer reads an exception's attributes, and theirs: a value behind a silent repr
    (an object's own attribute) or in bytes is a value the exception carries."""
    error, seen = _restored_tool_raising(HIDDEN[kind], mode)
    assert ANN not in _shows(error) + _deep(error), _deep(error)
    assert seen.errors and all(ANN not in _shows(e) + _deep(e) for e in seen.errors)


def test_an_object_holding_no_value_is_carried_over_to_the_rebuilt_exception(mode: str) -> None:
    error, _ = _restored_tool_raising(
        lambda e: SendFailed(f"delivery to {e} failed", Delivery("warehouse 7")), mode
    )
    assert type(error) is SendFailed and str(error) == "delivery to <EMAIL_1> failed"
    assert isinstance(error.delivery, Delivery) and error.delivery.to == "warehouse 7"


# ------------------------------------------------------------------ encoded payloads (1792afb)
MIME_BODY = (
    "Hello team, please forward the quarterly report to our new contact "
    "jane.doe@example.com before Friday. Thanks a lot, and regards from the whole office."
)


def test_a_quoted_printable_mail_body_reaches_the_model_handled(mode: str) -> None:
    """A soft line break (``=`` + newline, every 76 characters of a MIME body) inside an
    address hid it from the scan (``jane.doe=\\n@example.com``); any mail reader decodes it
    whole."""
    import quopri

    raw = (
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
        + quopri.encodestring(MIME_BODY.encode()).decode()
    )
    assert "jane.doe=\n@example.com" in raw  # (a soft line break inside the address)

    @tool
    def fetch_mail(uid: str) -> str:
        """Fetch a raw mail by its id."""
        return raw

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("fetch_mail", {"uid": "7"})]), "Ok."]
    )
    pii = PIIMiddleware("email", strategy="redact", apply_to_tool_results=True)
    agent = create_agent(model, tools=[fetch_mail], middleware=[pii])
    invoke(agent, {"messages": [("user", "Read mail 7.")]}, mode)
    seen = str(model.requests[-1]["messages"][-1].content)
    assert "jane.doe@example.com" not in quopri.decodestring(seen.encode()).decode()


@pytest.mark.parametrize(
    "text",
    [
        "Jos=C3=A9 Garc=C3=ADa wrote to jane.doe=\r\n@example.com",
        "sign=3D jane.doe=\n@example.com",
    ],
    ids=["crlf and utf-8 bytes", "encoded equals sign"],
)
def test_a_quoted_printable_value_is_found_under_its_escapes(text: str) -> None:
    out = redactor(PIIMiddleware("email"))(text)
    assert "[REDACTED_EMAIL]" in out and "jane.doe" not in out, out


@pytest.mark.parametrize("text", ["limit=20&offset=10", "x=1F y=AB"], ids=["query", "hex"])
def test_a_text_with_no_quoted_printable_layer_is_left_as_it_is(text: str) -> None:
    """``=`` and two hex digits is a query string as often as an escape: only a soft line
    break, a byte above ASCII or ``=3D`` read a text as quoted-printable (else a value beside
    ``limit=20`` would send the whole text decoded)."""
    scrub = redactor(PIIMiddleware("email"))
    assert scrub(text) == text
    assert scrub(f"{text} {JANE}") == f"{text} [REDACTED_EMAIL]"


QP_UNITS = {"soft breaks": "=\n", "crlf breaks": "a=\r\n", "equals": "=3D", "bytes": "=C3",
            "nested": "=3D3D", "near": "=4", "mixed": "j@x=\n."}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("unit", list(QP_UNITS))
def test_quoted_printable_reading_of_1mb_adversarial_input_is_bounded(unit: str) -> None:
    import time

    from tests.test_pii_detect_linear import BOUND_S, _slowdown

    text = (QP_UNITS[unit] * (1_000_000 // len(QP_UNITS[unit]) + 1))[:1_000_000]
    scrub = redactor(PIIMiddleware("email"))
    start = time.perf_counter()
    scrub(text)
    took = time.perf_counter() - start
    if took > BOUND_S * 6:  # a layer reads the text once more per depth (at most 4)
        bound = BOUND_S * 6 * _slowdown()
        assert took <= bound, f"{unit!r}: {took:.2f} s, bound {bound:.2f} s"


# ------------------------------------------------------------------ exporters (context words)
# (commits 613c668 / 8cb8dc9): a field's name is the context of its value everywhere the
# guardrail handles a value, the traces it exports included.

PHONE_DIGITS = "6502530000"  # a number that needs a context word (no +, no separators)


def test_a_traced_field_named_phone_reaches_langsmith_handled(mode: str) -> None:
    """``pii_anonymizer`` (LangSmith's ``Client(anonymizer=...)``) walked a mapping itself and
    handed each value to the scan without its key: ``{"phone": "6502530000"}`` in the run's
    metadata and in the caller's input was uploaded raw, while the agent's own request reads
    the key as the value's context."""
    from tests.test_pii_sinks import LangSmithRecorder, Seen

    class Contact(AgentState):  # type: ignore[type-arg]
        contact: NotRequired[dict[str, Any]]

    pii = PIIMiddleware("phone", apply_to_input=True)
    seen = Seen()
    model = ScriptedChatModel(responses=["Ok."])
    agent = create_agent(model, tools=[], middleware=[pii], state_schema=Contact)
    config = {
        "metadata": {"customer": {"phone": {"primary": PHONE_DIGITS}}},
        "callbacks": [LangSmithRecorder(seen, pii)],
    }
    payload = {"messages": [("user", "hi")], "contact": {"mobileNumber": PHONE_DIGITS}}
    invoke(agent, payload, mode, config)
    assert seen.texts("langsmith"), "nothing traced"
    assert not [t for t, _ in seen.sinks["langsmith"] if PHONE_DIGITS in t], seen.sinks


def test_a_span_attribute_named_phone_reaches_the_exporter_handled() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from tests.test_promises_pii_3 import _Inner

    inner = _Inner()
    provider = TracerProvider()
    provider.add_span_processor(PIISpanProcessor(inner, PIIMiddleware("phone")))
    span = provider.get_tracer("r8").start_span("lookup")
    span.set_attribute("user.phone", PHONE_DIGITS)
    span.add_event("called", {"phone_number": PHONE_DIGITS})
    span.end()
    (exported,) = inner.ended
    assert dict(exported.attributes) == {"user.phone": "[REDACTED_PHONE]"}
    assert dict(exported.events[0].attributes) == {"phone_number": "[REDACTED_PHONE]"}


SSN_DIGITS = "536221234"  # nine bare digits: an SSN only with a context word


# decided (lead, round 8): `ssn id` is an SSN phrase, as `tax id` is
@pytest.mark.parametrize("key", ["ssn_id", "ssnId", "SSNID", "SSN ID"])
def test_an_ssn_under_a_key_naming_it_an_ssn_id_reaches_the_model_handled(
    key: str, mode: str
) -> None:
    """``id`` after another word rules a number out (``order_id``), but after an SSN word it
    says what the number is, as ``tax id`` does (commit 613c668 kept ``ssn_id`` ruled out)."""

    @tool
    def employee(name: str) -> str:
        """Look an employee up."""
        return json.dumps({"employee": {"name": name, key: SSN_DIGITS}})

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("employee", {"name": "Ann"})]), "Ok."]
    )
    pii = PIIMiddleware("us_ssn", strategy="redact", apply_to_tool_results=True)
    agent = create_agent(model, tools=[employee], middleware=[pii])
    invoke(agent, {"messages": [("user", "Look Ann up.")]}, mode)
    seen = str(model.requests[-1]["messages"][-1].content)
    assert SSN_DIGITS not in seen and "[REDACTED_US_SSN]" in seen, seen


@pytest.mark.parametrize("key", ["order_id", "contact_id", "employee_id"])
def test_a_number_under_another_id_key_is_no_ssn(key: str) -> None:
    scrub = redactor(PIIMiddleware("us_ssn"))
    assert scrub({key: SSN_DIGITS}) == {key: SSN_DIGITS}


# ------------------------------------------------------------------ secrets cut short (0639cd5)
PASSWORDS = ["BlueSky2024", "Summer2024!", "S3cr3tP@ss", "hunter2hunter"]


def _secret_reaches_the_model(text: str, mode: str) -> str:
    model = ScriptedChatModel(responses=["Ok."])
    pii = PIIMiddleware("secret", strategy="redact", apply_to_input=True)
    agent = create_agent(model, tools=[], middleware=[pii])
    invoke(agent, {"messages": [("user", text)]}, mode)
    return str(model.requests[-1]["messages"][-1].content)


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_password_stated_with_a_full_stop_is_handled(password: str, mode: str) -> None:
    seen = _secret_reaches_the_model(f"The wifi password is {password}. Store it.", mode)
    assert password not in seen, seen


# decided (lead, round 8): under a password name the part before the dots is the password
@pytest.mark.parametrize("password", PASSWORDS)
def test_a_password_stated_with_an_ellipsis_is_handled(password: str, mode: str) -> None:
    seen = _secret_reaches_the_model(f"The wifi password is {password}... Store it.", mode)
    assert password not in seen, seen


# ------------------------------------------------------------------ nothing keeps a scanned text
# (commit 6be9ad8): after a scan returns nothing of the package refers to a text longer than
# 256 characters. A dictionary's key is scanned text too (a tool's result keyed by a question,
# a note, a message).


def _long_key(seed: int) -> str:
    rng = random.Random(seed)
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(40))
    return f"what did {seed} say about api_key={token}? " + "and then more prose. " * 14


def test_a_long_dictionary_key_is_not_kept_after_its_scan() -> None:
    keys = [_long_key(i) for i in range(5)]
    assert min(map(len, keys)) > 256
    before = [sys.getrefcount(k) for k in keys]
    scrub = redactor(PIIMiddleware(["email", "secret"]))
    out = scrub({k: {"answer": "ok"} for k in keys})
    assert all(k not in out for k in keys)  # (their secrets were found and handled)
    del out
    assert [sys.getrefcount(k) for k in keys] == before, "a scanned key is still referenced"


@pytest.mark.slow
def test_an_agent_keeps_no_long_key_of_a_tools_result(mode: str) -> None:
    import gc

    keys = [_long_key(100 + i + (50 if mode == "async" else 0)) for i in range(3)]

    @tool
    def faq(topic: str) -> dict[str, str]:
        """The questions asked about a topic."""
        return {k: "answered" for k in keys}

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("faq", {"topic": "keys"})]), "Ok."]
    )
    agent = create_agent(
        model, tools=[faq], middleware=[PIIMiddleware("secret", apply_to_tool_results=True)]
    )
    before = [sys.getrefcount(k) for k in keys]
    invoke(agent, {"messages": [("user", "What was asked?")]}, mode)
    del agent, model, faq
    gc.collect()
    assert [sys.getrefcount(k) for k in keys] == before, "a scanned key is still referenced"


# ------------------------------------------------------------------ the v3 stream (8b333c8)
# "every event of any kind, field by field (fail closed)": also the fields beside a delta's
# text, a block's arguments sent as an object, and an event whose data is a list (the shape it
# has once serialized, as a remote graph's client reads it) or of a shape this version does not
# know.


def _stream_transformer() -> Any:
    (factory,) = PIIMiddleware("email", apply_to_output=True).transformers
    return factory(())


@pytest.mark.parametrize(
    "data",
    [
        ({"event": "content-block-delta", "index": 0, "delta": {"type": "block-delta",
          "fields": {"type": "tool_call_chunk", "name": "send", "args": {"to": JANE}}}},
         {"run_id": "r"}),
        ({"event": "content-block-delta", "index": 1, "delta": {"type": "text-delta",
          "text": "see", "extras": {"cite": JANE}}}, {"run_id": "r"}),
        ({"event": "content-block-delta", "index": 2, "delta": {"type": "reasoning-delta",
          "reasoning": "hm", "signature": f"by {JANE}"}}, {"run_id": "r"}),
        ({"event": "content-block-delta", "index": 3, "delta": {"type": "block-delta",
          "fields": [f"to {JANE}"]}}, {"run_id": "r"}),
        [{"event": "message-start", "role": "ai", "metadata": {"owner": JANE}}, {"run_id": "r"}],
        {"message": f"to {JANE}"},
    ],
    ids=["block args as an object", "text delta extras", "reasoning delta field",
         "block fields as a list", "a list", "another shape"],
)  # fmt: skip
def test_a_messages_event_releases_no_value_in_any_field(data: Any) -> None:
    event = {"type": "event", "method": "messages", "params": {"data": data}}
    _stream_transformer().process(event)
    assert JANE not in repr(event) and "[REDACTED_EMAIL]" in repr(event), event


def test_a_tools_event_of_another_shape_releases_no_value() -> None:
    event = {"type": "event", "method": "tools", "params": {"data": ["tool-output", f"{JANE}"]}}
    _stream_transformer().process(event)
    assert JANE not in repr(event) and "[REDACTED_EMAIL]" in repr(event), event
