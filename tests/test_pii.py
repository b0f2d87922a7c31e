"""PII: detection accuracy on the labeled set, strategies, custom detectors, the middleware
through a real ChatOpenAI over respx (no PII in any request body), offline by construction."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from bench.pii_eval import evaluate
from guardrails.errors import GuardrailConfigError, PIIDetectionError
from guardrails.pii import PIIMiddleware, apply_strategy, detect
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, ok, request_bodies, tool

DATA = Path(__file__).parent / "data" / "pii_eval.jsonl"
SIX = ["email", "credit_card", "iban", "us_ssn", "ip", "phone", "url"]


def test_accuracy_on_the_labeled_set() -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    scores = evaluate(rows, lambda text: detect(text, SIX), SIX)
    for kind in ("email", "credit_card", "iban", "us_ssn", "ip"):
        assert scores[kind].recall >= 0.98, (kind, scores[kind])
    assert scores["phone"].recall >= 0.95, scores["phone"]
    for kind in SIX:
        assert scores[kind].precision >= 0.95, (kind, scores[kind])


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("pay with 2223 0000 4840 0011 now", "credit_card", "2223 0000 4840 0011"),  # MC 2-series
        ("amex 378282246310005", "credit_card", "378282246310005"),
        ("diners 30569309025904", "credit_card", "30569309025904"),
        ("ring +49 30 901820", "phone", "+49 30 901820"),
        ("mail to a.b+c@sub.example.co.uk.", "email", "a.b+c@sub.example.co.uk"),
        ("host fe80::1ff:fe23:4567:890a up", "ip", "fe80::1ff:fe23:4567:890a"),
    ],
)
def test_international_formats(text: str, kind: str, value: str) -> None:
    assert [(m["type"], m["value"]) for m in detect(text, SIX)] == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",
        "iban DE89 3704 0044 0532 0130 01",
        "ssn 000-12-3456",
        "ssn 666-12-3456",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "upgraded to version 1.2.3.4",
        "at 2024-03-01 12:30:45",
        "write to jane@example.com",
    ],
)
def test_hard_negatives(text: str) -> None:
    found = [m["type"] for m in detect(text, SIX)]
    assert found in ([], ["email"]) and ("url" not in found)


def test_email_domain_is_not_a_url() -> None:
    assert [m["type"] for m in detect("jane@docs.example.com", ["email", "url"])] == ["email"]


def test_detection_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from guardrails.pii.detect import build_detector

    found = build_detector(SIX)("x@brand-new-domain.museum and +1 212 555 0143 on 10.0.0.1")
    assert {m["type"] for m in found} == {"email", "phone", "ip"}


# ------------------------------------------------------------------ strategies


def test_strategies_exact_output() -> None:
    text = "card 4111-1111-1111-1111 mail jane@example.com"
    matches = detect(text, ["credit_card", "email"])
    assert apply_strategy(text, matches, "redact") == (
        "card [REDACTED_CREDIT_CARD] mail [REDACTED_EMAIL]"
    )
    assert apply_strategy(text, matches, "mask") == (
        "card ****-****-****-1111 mail jane@****.com"
    )  # LangChain's format
    assert apply_strategy(text, matches, "mask", mask_style="shape") == (
        "card ****-****-****-1111 mail ****@*******.com"
    )  # the shape kept, the last quarter of letters/digits (at most four)
    keyed = apply_strategy(text, matches, "hash", b"secret")
    assert re.fullmatch(r"card <credit_card_hash:[0-9a-f]{8}> mail <email_hash:[0-9a-f]{8}>", keyed)
    assert keyed == apply_strategy(text, matches, "hash", b"secret")  # deterministic
    assert keyed != apply_strategy(text, matches, "hash", b"other")  # keyed


@pytest.mark.parametrize(
    "detector",
    [
        r"EMP-\d{6}",
        re.compile(r"emp-\d{6}", re.I),
        lambda text: [
            {"type": "employee", "value": m.group(0), "start": m.start(), "end": m.end()}
            for m in re.finditer(r"EMP-\d{6}", text)
        ],
        ["EMP-123456"],
    ],
)
def test_custom_detectors(mode: str, detector: Any) -> None:
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("employee", detector=detector)])
    invoke(agent, {"messages": [("user", "badge EMP-123456 please")]}, mode)
    assert model.requests[0]["messages"][-1].content == "badge [REDACTED_EMPLOYEE] please"


def test_presidio_recognizer_as_detector() -> None:
    from presidio_analyzer import Pattern, PatternRecognizer

    recognizer = PatternRecognizer(
        supported_entity="TICKET", patterns=[Pattern("ticket", r"TCK-\d{4}", 0.9)]
    )
    mw = PIIMiddleware("ticket", detector=recognizer)
    assert [m["value"] for m in mw._detector("see TCK-1234")] == ["TCK-1234"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pii_type": "email", "strategy": "scramble"}, "strategy must be one of"),
        ({"pii_type": "nonsense_type"}, "not a built-in type"),
        ({"pii_type": "x", "detector": "("}, "not a valid regex"),
        ({"pii_type": "x", "detector": 42}, "detector for 'x' must be"),
        ({"pii_type": "x", "detector": []}, "deny-list"),
        ({"pii_type": ["a", "b"], "detector": "a"}, "exactly one"),
        ({"pii_type": "person"}, "needs an NLP model"),
        ({"pii_type": "person", "nlp_model": "xx_no_such_model"}, "python -m spacy download"),
    ],
)
def test_construction_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GuardrailConfigError, match=message):
        PIIMiddleware(**kwargs)


# ------------------------------------------------------------------ the middleware

SECRET_EMAIL = "jane.doe@example.com"
SECRET_CARD = "4111 1111 1111 1111"


@tool
def lookup_customer(email: str) -> str:
    """Find a customer by email."""
    return f"customer {email} card {SECRET_CARD} phone +1 212 555 0143"


def test_nothing_reaches_the_provider(
    mode: str,
    openai_mock: respx.MockRouter,
    chat_openai: Any,
    audit: AuditCapture,
    memory_saver: Any,
) -> None:
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[
            ok(None, tool_calls=[("lookup_customer", {"email": SECRET_EMAIL})]),
            ok("all done"),
        ]
    )
    agent = create_agent(
        chat_openai(),
        tools=[lookup_customer],
        checkpointer=memory_saver,
        system_prompt=f"Support for {SECRET_EMAIL}",
        middleware=[
            PIIMiddleware(
                ["email", "credit_card", "phone"],
                apply_to_tool_results=True,
                apply_to_tool_args=True,
                apply_to_output=True,
            )
        ],
    )
    config = {"configurable": {"thread_id": "t"}}
    invoke(
        agent, {"messages": [("user", f"I am {SECRET_EMAIL}, card {SECRET_CARD}")]}, mode, config
    )
    sent = "\n".join(json.dumps(b) for b in request_bodies(route))
    assert route.call_count == 2
    for secret in (SECRET_EMAIL, SECRET_CARD, "555 0143"):
        assert secret not in sent
    assert "[REDACTED_EMAIL]" in sent
    stored = json.dumps([m.model_dump() for m in agent.get_state(config).values["messages"]])
    assert SECRET_EMAIL not in stored and SECRET_CARD not in stored
    events = audit.of("pii.detected")
    assert {e["where"] for e in events} >= {"input", "tool_result", "output"}
    assert SECRET_EMAIL not in json.dumps(audit.events)


def test_block_on_input_sends_nothing(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    route = openai_mock.post("/chat/completions").mock(return_value=ok("never"))
    agent = create_agent(chat_openai(), middleware=[PIIMiddleware("us_ssn", strategy="block")])
    with pytest.raises(PIIDetectionError) as info:
        invoke(agent, {"messages": [("user", "my ssn is 536-22-1234")]}, mode)
    assert route.call_count == 0
    assert info.value.counts == {"us_ssn": 1} and "536-22-1234" not in str(info.value)
    (event,) = audit.of("pii.blocked")
    assert event["entities"] == {"us_ssn": 1}


def test_detector_crash_fails_closed(mode: str, audit: AuditCapture) -> None:
    def broken(text: str) -> list[Any]:
        raise RuntimeError("boom")

    model = ScriptedChatModel(default="never")
    agent = create_agent(model, middleware=[PIIMiddleware("custom", detector=broken)])
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [("user", "hello")]}, mode)
    assert model.calls == 0
    assert audit.of("pii.detector_error")[0]["decision"] == "block"


def test_images_untouched_text_blocks_redacted(mode: str) -> None:
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    content = [{"type": "text", "text": f"mail {SECRET_EMAIL}"}, image]
    invoke(agent, {"messages": [HumanMessage(content=content)]}, mode)
    sent = model.requests[0]["messages"][-1].content
    assert sent == [{"type": "text", "text": "mail [REDACTED_EMAIL]"}, image]


def test_tool_args_redacted_before_the_tool_runs(mode: str) -> None:
    seen: list[str] = []

    @tool
    def notify(address: str) -> str:
        """Notify someone."""
        seen.append(address)
        return "sent"

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("notify", {"address": SECRET_EMAIL})]),
            "done",
        ]
    )
    agent = create_agent(
        model,
        tools=[notify],
        middleware=[PIIMiddleware("email", apply_to_input=False, apply_to_tool_args=True)],
    )
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    assert seen == ["[REDACTED_EMAIL]"]
    stored_call = next(m for m in result["messages"] if isinstance(m, AIMessage) and m.tool_calls)
    assert stored_call.tool_calls[0]["args"] == {"address": "[REDACTED_EMAIL]"}


MESSAGE = st.sampled_from(
    [
        lambda s: HumanMessage(s),
        lambda s: HumanMessage([{"type": "text", "text": s}]),
        lambda s: SystemMessage(s),
        lambda s: AIMessage(s),
    ]
)
FILLER = st.text(alphabet=st.characters(whitelist_categories=("L", "Zs")), max_size=30)
PII = st.sampled_from(
    [
        SECRET_EMAIL,
        SECRET_CARD,
        "DE89 3704 0044 0532 0130 00",
        "536-22-1234",
        "+44 20 7946 0958",
        "192.168.10.20",
    ]
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(shapes=st.lists(st.tuples(MESSAGE, FILLER, PII, FILLER), min_size=1, max_size=4))
def test_generated_message_shapes_never_reach_the_provider(
    chat_openai: Any, shapes: list[Any]
) -> None:
    messages = [make(f"{a} {pii} {b}") for make, a, pii, b in shapes]
    planted = [pii for _, _, pii, _ in shapes]
    system = next((m for m in messages if isinstance(m, SystemMessage)), None)
    rest = [m for m in messages if not isinstance(m, SystemMessage)]
    if not rest or not isinstance(rest[-1], HumanMessage):
        rest.append(HumanMessage("and?"))
    with respx.mock(base_url="http://openai.test/v1", assert_all_called=False) as router:
        route = router.post("/chat/completions").mock(return_value=ok("fine"))
        agent = create_agent(
            chat_openai(),
            system_prompt=system.content if system else None,
            middleware=[PIIMiddleware(SIX[:-1])],
        )
        agent.invoke({"messages": rest})
        sent = "\n".join(json.dumps(b) for b in request_bodies(route))
    assert route.call_count == 1
    for pii in planted:
        assert pii not in sent


def test_langchain_except_clauses_still_catch_blocks(mode: str) -> None:
    from langchain.agents.middleware._redaction import PIIDetectionError as LCPIIDetectionError

    agent = create_agent(
        ScriptedChatModel(default="x"), middleware=[PIIMiddleware("email", strategy="block")]
    )
    with pytest.raises(LCPIIDetectionError) as info:
        invoke(agent, {"messages": [("user", SECRET_EMAIL)]}, mode)
    assert info.value.pii_type == "email" and SECRET_EMAIL not in str(info.value)


def test_large_input_is_scanned_off_the_loop(mode: str) -> None:
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    big = ("lorem ipsum dolor sit amet " * 1500) + SECRET_EMAIL
    invoke(agent, {"messages": [("user", big)]}, mode)
    sent = model.requests[0]["messages"][-1].content
    assert sent.endswith("[REDACTED_EMAIL]") and SECRET_EMAIL not in sent


def test_each_distinct_text_is_scanned_once(mode: str, memory_saver: Any) -> None:
    scanned: list[str] = []

    def spy(text: str) -> list[Any]:
        scanned.append(text)
        return [
            {"type": "secret", "value": m.group(0), "start": m.start(), "end": m.end()}
            for m in re.finditer(r"SECRET-\d+", text)
        ]

    model = ScriptedChatModel(default="noted")
    agent = create_agent(
        model, checkpointer=memory_saver, middleware=[PIIMiddleware("secret", detector=spy)]
    )
    config = {"configurable": {"thread_id": "t"}}
    for turn in range(5):
        invoke(agent, {"messages": [("user", f"turn {turn} SECRET-{turn}")]}, mode, config)
    # every model call scans the whole history, keyed by content: a text already seen costs a
    # cache lookup, so each distinct text reaches the detector once
    assert len(scanned) == len(set(scanned))
    assert [t for t in scanned if "SECRET-" in t] == [f"turn {t} SECRET-{t}" for t in range(5)]
    sent = [m.content for m in model.requests[-1]["messages"]]
    assert all("SECRET-" not in str(c) for c in sent)
    stored = agent.get_state(config).values["messages"]
    assert [m.content for m in stored if isinstance(m, HumanMessage)] == [
        f"turn {t} [REDACTED_SECRET]" for t in range(5)
    ]


def test_unkeyed_hash_warns() -> None:
    with pytest.warns(UserWarning, match="hash_key"):
        PIIMiddleware("us_ssn", strategy="hash")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PIIMiddleware("us_ssn", strategy="hash", hash_key="k")
