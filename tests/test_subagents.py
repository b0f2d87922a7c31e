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


def test_stricter_subagent_policy_is_audited_under_the_subagent_name(
    mode: str, audit: AuditCapture
) -> None:
    deepagents = pytest.importorskip("deepagents")
    from langchain_core.tools import tool

    from guardrails.policy import Policy

    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return "nothing new"

    policy = Policy.from_dict(
        {
            "compose": True,
            "agent": {
                "middleware": [
                    {"use": "ModelCallLimitMiddleware", "run_limit": 10},
                    {"use": "PIIMiddleware", "pii_type": "phone", "name": "main-pii"},
                ]
            },
            "subagents": {
                "researcher": {
                    "override": {"ModelCallLimitMiddleware": {"run_limit": 2}},
                    "middleware": [
                        {"use": "PIIMiddleware", "pii_type": "email", "name": "researcher-pii"}
                    ],
                }
            },
        }
    )
    main_model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "task",
                        {
                            "description": "Find jane.doe@example.com",
                            "subagent_type": "researcher",
                        },
                    )
                ],
            ),
            "done",
        ]
    )
    looping = ScriptedChatModel(
        default=AIMessage("", tool_calls=[tool_call("lookup", {"query": "again"})])
    )
    agent: Any = deepagents.create_deep_agent(
        model=main_model,
        name="main",
        middleware=policy.middleware(),
        subagents=policy.subagents(
            [
                {
                    "name": "researcher",
                    "description": "Researches.",
                    "system_prompt": "You research.",
                    "model": looping,
                    "tools": [lookup],
                }
            ]
        ),
    )
    result = invoke(agent, {"messages": [("user", "call +1 212 555 0143")]}, mode)
    assert result["messages"][-1].content == "done"
    assert looping.calls == 2  # the subagent's stricter limit, not the main agent's 10
    (limit,) = audit.of("limit.exceeded")
    assert (limit["agent"], limit["subagent"], limit["limit"]) == ("researcher", "researcher", 2)
    by_guardrail = {e["guardrail"]: e for e in audit.of("pii.detected")}
    assert by_guardrail["researcher-pii"]["subagent"] == "researcher"
    assert by_guardrail["main-pii"]["agent"] == "main"
    assert "subagent" not in by_guardrail["main-pii"]
