"""Promises of ``PIIMiddleware(strategy="pseudonymize")`` on the tool side (issue 29, round 7).

**One audit event per decision.** A tool named in ``restore_tools`` receives real values: its
arguments are *restored* (placeholders turned back into the values they stand for), never
pseudonymized on the way. The audit trail says exactly that: one ``pii.restored`` event counting
the placeholders restored, and no ``pii.pseudonymized`` event for arguments the tool receives as
they are (a value the model wrote itself, raw); the thread's mapping gains no entry for them.
A tool not in ``restore_tools`` gets the other decision, and its own one event.
Real ``create_agent`` graphs, a scripted model, a real checkpointer, sync and async.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from guardrails.pii import PIIMiddleware
from guardrails.pii.middleware import VAULT_KEY
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool

JANE = "jane.doe@example.com"
BOB = "bob@example.org"


class Outbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []

        @tool
        def send_email(to: str, cc: str) -> str:
            """Send an email."""
            self.got.append(("send_email", f"{to} {cc}"))
            return "sent"

        @tool
        def log_note(note: str) -> str:
            """Write a note to the CRM log."""
            self.got.append(("log_note", note))
            return "logged"

        self.tools = [send_email, log_note]


def _run(calls: list[tuple[str, dict[str, Any]]], mode: str, saver: Any) -> tuple[Outbox, Any]:
    box = Outbox()
    model = ScriptedChatModel(
        responses=[*(AIMessage("", tool_calls=[tool_call(n, a)]) for n, a in calls), "Done."]
    )
    agent = create_agent(
        model,
        tools=box.tools,
        checkpointer=saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"])],
    )
    config = {"configurable": {"thread_id": "t"}}
    invoke(agent, {"messages": [("user", f"Write to {JANE}.")]}, mode, config)
    return box, agent.get_state(config).values.get(VAULT_KEY)


def _on_tool_args(audit: AuditCapture, name: str) -> list[dict[str, Any]]:
    return [e for e in audit.of(name) if e.get("where") == "tool_args"]


def test_a_restored_tools_arguments_get_one_event_the_restore(
    mode: str, memory_saver: Any, audit: AuditCapture
) -> None:
    # the model wrote the address itself in cc (raw), and its placeholder in to
    box, vault = _run([("send_email", {"to": "<EMAIL_1>", "cc": JANE})], mode, memory_saver)
    assert box.got == [("send_email", f"{JANE} {JANE}")]
    assert _on_tool_args(audit, "pii.pseudonymized") == []  # nothing on the way to send_email
    (restored,) = audit.of("pii.restored")  # one event: one placeholder turned back
    assert (restored["where"], restored["tool"], restored["entities"]) == (
        "tool_args",
        "send_email",
        {"email": 1},
    )
    assert list(vault.values()) == [{"<EMAIL_1>": JANE}]


def test_a_tool_not_restored_gets_its_arguments_pseudonymized_with_one_event(
    mode: str, memory_saver: Any, audit: AuditCapture
) -> None:
    box, vault = _run([("log_note", {"note": f"<EMAIL_1> and {BOB}"})], mode, memory_saver)
    assert box.got == [("log_note", "<EMAIL_1> and <EMAIL_2>")]
    (event,) = _on_tool_args(audit, "pii.pseudonymized")
    assert (event["tool"], event["entities"]) == ("log_note", {"email": 1})
    assert audit.of("pii.restored") == []
    assert list(vault.values()) == [{"<EMAIL_1>": JANE, "<EMAIL_2>": BOB}]
