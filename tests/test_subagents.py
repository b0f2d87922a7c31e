"""Guardrails in deepagents subagents: each subagent's own stack, named in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage

from guardrails import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke


def test_subagent_events_carry_the_subagent_name(mode: str, audit: AuditCapture) -> None:
    deepagents = pytest.importorskip("deepagents")
    main_model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "task",
                        {
                            "description": "Look up jane.doe@example.com in the CRM",
                            "subagent_type": "researcher",
                        },
                    )
                ],
            ),
            "done",
        ]
    )
    sub_model = ScriptedChatModel(default="found her")
    agent: Any = deepagents.create_deep_agent(
        model=main_model,
        name="main",
        middleware=[PIIMiddleware("phone", name="main-pii")],
        subagents=[
            {
                "name": "researcher",
                "description": "Researches customers.",
                "system_prompt": "You research.",
                "model": sub_model,
                "middleware": [PIIMiddleware("email", name="researcher-pii")],
            }
        ],
    )
    invoke(agent, {"messages": [("user", "call me at +1 212 555 0143")]}, mode)
    by_guardrail = {e["guardrail"]: e for e in audit.of("pii.detected")}
    assert by_guardrail["researcher-pii"]["agent"] == "researcher"
    assert by_guardrail["researcher-pii"]["subagent"] == "researcher"
    assert by_guardrail["main-pii"]["agent"] == "main"
    assert "subagent" not in by_guardrail["main-pii"]
    sent_to_sub = str(sub_model.requests[0]["messages"])
    assert "jane.doe@example.com" not in sent_to_sub and "[REDACTED_EMAIL]" in sent_to_sub
