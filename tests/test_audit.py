"""Audit events: the emit helper, its no-raw-values enforcement, identity and the JSON formatter."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from guardrails import audit as audit_mod
from guardrails.audit import emit
from tests.conftest import AuditCapture


def test_emit_writes_one_record_with_fields(audit: AuditCapture) -> None:
    payload = emit("retry.attempt", "ModelRetryMiddleware", attempt=1, delay_s=2.0, status=429)
    assert payload is not None
    assert audit.events == [payload]
    assert payload["event"] == "retry.attempt"
    assert payload["guardrail"] == "ModelRetryMiddleware"
    assert payload["attempt"] == 1


@pytest.mark.parametrize("name", sorted(audit_mod.FORBIDDEN_FIELDS))
def test_forbidden_field_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        emit("pii.detected", "PIIMiddleware", **{name: "x"})


def test_field_values_must_be_plain() -> None:
    with pytest.raises(TypeError, match="audit field values"):
        emit("x.y", "G", thing=object())
    with pytest.raises(TypeError, match="nest"):
        emit("x.y", "G", deep={"a": {"b": [1]}})


def test_secrets_are_scrubbed_everywhere(audit: AuditCapture) -> None:
    secret = "jane.doe@example.com"
    audit.events.clear()
    emit(
        "pii.detected",
        "PIIMiddleware",
        secrets=[secret],
        reason=f"found {secret} in input",
        entities={"email": 1},
        where=[secret],
    )
    dumped = json.dumps(audit.events)
    assert secret not in dumped
    assert "[SCRUBBED]" in dumped


def test_long_strings_are_cut(audit: AuditCapture) -> None:
    payload = emit("x.y", "G", path="/" + "a" * 2000)
    assert payload is not None and len(payload["path"]) <= audit_max() + 3


def audit_max() -> int:
    return audit_mod.MAX_STRING


def test_emit_is_free_when_logger_is_off() -> None:
    logger = logging.getLogger(audit_mod.LOGGER_NAME)
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        assert emit("x.y", "G", count=1) is None
        with pytest.raises(ValueError):  # the rule still holds when nobody listens
            emit("x.y", "G", value="secret")
    finally:
        logger.setLevel(old)


def test_identity_precedence() -> None:
    runtime = SimpleNamespace(
        execution_info=SimpleNamespace(thread_id="t-exec", run_id="r-1"),
        server_info=SimpleNamespace(assistant_id="a-1", user=SimpleNamespace(identity="u-server")),
        context={"user_id": "u-context", "thread_id": "t-context"},
    )
    config = {
        "configurable": {"user_id": "u-config", "thread_id": "t-config"},
        "metadata": {"lc_agent_name": "researcher"},
    }
    ids = audit_mod.identity(runtime, config)
    assert ids == {
        "thread_id": "t-exec",
        "run_id": "r-1",
        "user_id": "u-server",
        "assistant_id": "a-1",
        "agent": "researcher",
    }
    bare = SimpleNamespace(execution_info=None, server_info=None, context=None)
    assert audit_mod.identity(bare, config) == {
        "thread_id": "t-config",
        "user_id": "u-config",
        "agent": "researcher",
    }
    ctx = SimpleNamespace(
        execution_info=None, server_info=None, context=SimpleNamespace(user_id="u-ctx")
    )
    assert audit_mod.identity(ctx, config)["user_id"] == "u-ctx"


def test_identity_from_a_real_agent_run(
    audit: AuditCapture, scripted: Any, memory_saver: Any
) -> None:
    from langchain.agents import create_agent
    from langchain.agents.middleware import AgentMiddleware

    class Probe(AgentMiddleware):  # type: ignore[type-arg]
        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            emit("probe.seen", "Probe", runtime=request.runtime)
            return handler(request)

    agent = create_agent(
        scripted("hi"), middleware=[Probe()], checkpointer=memory_saver, name="helper"
    )
    agent.invoke(
        {"messages": [("user", "x")]},
        config={
            "configurable": {"thread_id": "T1", "user_id": "U1"},
            "run_id": "0b6f6c1e-1111-4222-8333-444455556666",
        },
    )
    (event,) = audit.of("probe.seen")
    assert event["thread_id"] == "T1"
    assert event["user_id"] == "U1"
    assert event["agent"] == "helper"
    assert event["run_id"] == "0b6f6c1e-1111-4222-8333-444455556666"


def test_json_formatter_flattens_fields() -> None:
    stream = io.StringIO()
    handler = audit_mod.configure(stream)
    try:
        emit("limit.exceeded", "ToolCallLimitMiddleware", scope="run", count=3, limit=3)
        logging.getLogger(audit_mod.LOGGER_NAME).warning("plain message")
    finally:
        logging.getLogger(audit_mod.LOGGER_NAME).removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "limit.exceeded"
    assert first["scope"] == "run" and first["count"] == 3
    assert first["level"] == "INFO" and first["logger"] == "guardrails.audit"
    assert first["timestamp"].endswith("+00:00")
    assert second["message"] == "plain message"


def test_configure_twice_keeps_one_handler() -> None:
    logger = logging.getLogger(audit_mod.LOGGER_NAME)
    first = audit_mod.configure(io.StringIO())
    second = audit_mod.configure(io.StringIO())
    try:
        assert first not in logger.handlers and second in logger.handlers
    finally:
        logger.removeHandler(second)


# --- the one event registry ----------------------------------------------------------------


def _emitted(source: str) -> tuple[set[str], list[str]]:
    """Event names passed as literals to ``emit``/``audit`` calls, and calls with a non-literal."""
    import ast

    names: set[str] = set()
    dynamic: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called not in ("emit", "audit"):
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
        else:
            dynamic.append(f"line {node.lineno}: {ast.unparse(first)}")
    for node in ast.walk(ast.parse(source)):  # events=(...) in class statements
        if isinstance(node, ast.ClassDef):
            for keyword in node.keywords:
                if keyword.arg == "events":
                    names.update(
                        c.value
                        for c in ast.walk(keyword.value)
                        if isinstance(c, ast.Constant) and isinstance(c.value, str)
                    )
    return names, dynamic


def test_the_scan_finds_literal_and_dynamic_event_names() -> None:
    names, dynamic = _emitted(
        'emit("a.b", "G")\nself.audit("c.d")\nemit(name, "G")\n'
        'class X(Guardrail, events=("e.f",)): pass\n'
    )
    assert names == {"a.b", "c.d", "e.f"}
    assert dynamic == ["line 3: name"]


def test_every_emitted_event_kind_is_registered_and_documented() -> None:
    from pathlib import Path

    package = Path(audit_mod.__file__).parent
    found: set[str] = set()
    for source in sorted(package.rglob("*.py")):
        names, dynamic = _emitted(source.read_text(encoding="utf-8"))
        found |= names
        relative = source.relative_to(package).as_posix()
        if relative not in ("_core.py", "audit.py"):  # Guardrail.audit passes its argument on
            assert dynamic == [], f"{relative}: event names must be literals: {dynamic}"
    assert {"retry.attempt", "fs.denied", "pii.restored", "limit.exceeded"} <= found
    unregistered = sorted(found - set(audit_mod.EVENTS))
    assert unregistered == [], f"register these in guardrails.audit.EVENTS: {unregistered}"
    docs = (package.parent / "docs" / "audit.md").read_text(encoding="utf-8")
    table = docs.split("<!-- events:start -->\n", 1)[1].split("\n<!-- events:end -->", 1)[0]
    assert table == audit_mod.event_table(), (
        "docs/audit.md's event table is out of date; paste guardrails.audit.event_table():\n"
        + audit_mod.event_table()
    )


def test_every_guardrail_declares_a_unique_kind_and_registered_events() -> None:
    import importlib
    import pkgutil

    import guardrails
    from guardrails._core import Guardrail

    for info in pkgutil.walk_packages(guardrails.__path__, "guardrails."):
        if not info.name.startswith(("guardrails.demo", "guardrails.cli")):
            importlib.import_module(info.name)
    classes: list[type[Guardrail]] = []
    todo = list(Guardrail.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("guardrails.") and "_guardrail_class" not in vars(cls):
            classes.append(cls)
    assert {c.__name__ for c in classes} >= {
        "ModelRetryMiddleware",
        "ToolRetryMiddleware",
        "ModelFallbackMiddleware",
        "ModelCallLimitMiddleware",
        "ToolCallLimitMiddleware",
        "RateLimitMiddleware",
        "ComposedMiddleware",
    }
    kinds = [c.kind for c in classes if "kind" in vars(c)]
    assert all(kinds) and len(kinds) == len(set(kinds)), kinds
    for cls in classes:
        assert cls.kind, f"{cls.__name__} has no kind"
        assert cls.events <= set(audit_mod.EVENTS), cls.__name__


def test_register_event_refuses_a_clash() -> None:
    with pytest.raises(ValueError, match="already registered"):
        audit_mod.register_event("retry.attempt", "something else", page="retry.md")
    with pytest.raises(ValueError, match=r"area\.what"):
        audit_mod.register_event("nodot", "x", page="x.md")
    same = audit_mod.EVENTS["retry.attempt"]
    assert audit_mod.register_event(same.name, same.meaning, same.page) == same


# --- identity fields obey the no-raw-values rule ---------------------------------------------


@pytest.mark.parametrize(
    "user_id",
    ["jane.doe@example.com", "+1 415 555 0100", "4155550100", "Jane Doe", "4111111111111111"],
)
def test_a_personal_user_id_is_never_logged_raw_from_a_real_agent(
    mode: str, scripted: Any, memory_saver: Any, user_id: str
) -> None:
    from langchain.agents import create_agent

    from guardrails import ModelCallLimitMiddleware, RateLimitMiddleware
    from tests.support import invoke

    stream = io.StringIO()
    handler = audit_mod.configure(stream)
    try:
        agent = create_agent(
            scripted(default="ok"),
            middleware=[
                RateLimitMiddleware("1/minute", key="user", on_limit="end"),
                ModelCallLimitMiddleware(run_limit=5),
            ],
            checkpointer=memory_saver,
        )
        for thread in ("T1", user_id):
            config = {"configurable": {"thread_id": thread, "user_id": user_id}}
            invoke(agent, {"messages": [("user", "hi")]}, mode, config)
    finally:
        logging.getLogger(audit_mod.LOGGER_NAME).removeHandler(handler)
    lines = stream.getvalue()
    assert user_id not in lines
    assert user_id.replace(" ", "") not in lines.replace(" ", "")
    events = [json.loads(line) for line in lines.splitlines()]
    (refused,) = [e for e in events if e["event"] == "rate_limit.exceeded"]
    assert refused["user_id"].startswith("anon:") and refused["thread_id"] != user_id
    assert refused["thread_id"].startswith("anon:")


def test_identity_hashes_are_stable_per_key_and_opaque_ids_stay(audit: AuditCapture) -> None:
    def run(user: str, **extra: Any) -> dict[str, Any]:
        runtime = SimpleNamespace(
            execution_info=SimpleNamespace(
                thread_id="0b6f6c1e-1111-4222-8333-444455556666", run_id="r-1"
            ),
            server_info=None,
            context={"user_id": user},
        )
        payload = emit("limit.exceeded", "G", runtime=runtime, **extra)
        assert payload is not None
        return payload

    first, second = run("jane@example.com"), run("jane@example.com")
    assert first["user_id"] == second["user_id"] != run("john@example.com")["user_id"]
    assert first["thread_id"] == "0b6f6c1e-1111-4222-8333-444455556666"  # a UUID stays
    assert first["run_id"] == "r-1" and run("u-42")["user_id"] == "u-42"
    # a value the caller flagged as sensitive is hashed even when it looks opaque
    flagged = run("jdoe", secrets=["jdoe"])
    assert flagged["user_id"].startswith("anon:") and "jdoe" not in json.dumps(flagged)
    try:
        audit_mod.set_identity_key("k" * 16)
        a = run("jane@example.com")["user_id"]
        audit_mod.set_identity_key("k" * 16)
        assert run("jane@example.com")["user_id"] == a != first["user_id"]
        with pytest.raises(ValueError, match="16 bytes"):
            audit_mod.set_identity_key("short")
    finally:
        audit_mod.set_identity_key(None)


def _identity_of(user: str, **extra: Any) -> dict[str, Any]:
    runtime = SimpleNamespace(
        execution_info=SimpleNamespace(thread_id="t-1", run_id="r-1"),
        server_info=None,
        context={"user_id": user},
    )
    payload = emit("limit.exceeded", "G", runtime=runtime, **extra)
    assert payload is not None
    return payload


@pytest.mark.parametrize(
    "secrets",
    [["sk-live-4242", "sk-live-4242-SECRETTAIL"], ["sk-live-4242-SECRETTAIL", "sk-live-4242"]],
    ids=["short-first", "long-first"],
)
def test_a_secret_containing_another_is_scrubbed_whole(
    audit: AuditCapture, secrets: list[str]
) -> None:
    """Whatever order the caller lists them in, no part of a longer secret stays behind
    because a shorter one inside it was replaced first."""
    payload = _identity_of(
        "u-42", secrets=secrets, reason="key sk-live-4242-SECRETTAIL refused", where=[secrets[1]]
    )
    dumped = json.dumps(payload)
    assert "SECRETTAIL" not in dumped and "4242" not in dumped, dumped
    assert payload["reason"] == "key [SCRUBBED] refused"
    # an identity holding the longer secret is hashed whole too
    assert _identity_of("sk-live-4242-SECRETTAIL", secrets=secrets)["user_id"].startswith("anon:")


@pytest.mark.parametrize(
    ("user", "kept"),
    [
        ("u-123456", True),  # six digits: an opaque id
        ("u-1234567", False),  # seven: a phone number without separators, say
        ("acct5550123", False),
        ("a" * 512, True),  # at the string cap
        ("a" * 513, False),  # past it: could hold anything
        ("u" * 2000, False),
    ],
)
def test_identity_fields_with_seven_digits_or_past_the_cap_are_hashed(
    audit: AuditCapture, user: str, kept: bool
) -> None:
    """An identity value (user id, thread id, ...) is written as given only when it is short,
    has fewer than 7 digits, no @, no space and nothing a detector finds; otherwise a keyed hash."""
    payload = _identity_of(user)
    if kept:
        assert payload["user_id"] == user
    else:
        assert payload["user_id"].startswith("anon:") and user not in json.dumps(payload)
