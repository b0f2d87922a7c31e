"""The promises of PII detection, part 8 (issue 29, the seed-13 sample of ``pii_detect``).

* **A field's name is context** (docs/pii.md): a value under a key named for its type
  (``phoneNumber``, ``customer_phone``, ``ssn``, ``cardNumber``, in any case style), in a JSON
  text or a tool call's arguments, is found like one written after that word, also for a name
  the scan has not met before; the same value under a neutral name is not (the name decides).
* **Overlaps are resolved among neighbours**: a value found inside another (an email in a URL's
  path) after an earlier, unrelated value is one match with the value around it; the words
  between the earlier value and it are never part of a match.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

from guardrails import PIIMiddleware
from guardrails.pii import detect
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke
from tests.test_promises_detect_3 import (
    CARD_ONLY_WITH_CONTEXT,
    PHONE_ONLY_WITH_CONTEXT,
    SSN_ONLY_WITH_CONTEXT,
)

TYPES = ["phone", "us_ssn", "credit_card"]
# (field name, value, type): names of every case style, some met by no other test
NAMED = [
    ("phoneNumber", PHONE_ONLY_WITH_CONTEXT, "PHONE"),
    ("customer_mobile_phone", PHONE_ONLY_WITH_CONTEXT, "PHONE"),
    ("Fallback-Phone", PHONE_ONLY_WITH_CONTEXT, "PHONE"),
    ("ssn", SSN_ONLY_WITH_CONTEXT, "US_SSN"),
    ("spouseSocialSecurityNumber", SSN_ONLY_WITH_CONTEXT, "US_SSN"),
    ("cardNumber", CARD_ONLY_WITH_CONTEXT, "CREDIT_CARD"),
    ("backup_credit_card", CARD_ONLY_WITH_CONTEXT, "CREDIT_CARD"),
]


def _sent(content: str, mode: str) -> str:
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware(TYPES)])
    invoke(agent, {"messages": [HumanMessage(content)]}, mode)
    return str(model.requests[0]["messages"][-1].content)


@pytest.mark.parametrize(("name", "value", "tag"), NAMED)
def test_a_value_under_a_field_named_for_its_type_is_found(
    name: str, value: str, tag: str, mode: str
) -> None:
    sent = json.loads(_sent(json.dumps({name: value, "notes": "call me"}), mode))
    assert sent == {name: f"[REDACTED_{tag}]", "notes": "call me"}


@pytest.mark.parametrize(("name", "value", "tag"), NAMED)
def test_the_same_value_under_a_neutral_name_is_not_found(
    name: str, value: str, tag: str, mode: str
) -> None:
    content = json.dumps({"remarks": value})
    assert _sent(content, mode) == content


@pytest.mark.parametrize(("name", "value", "tag"), NAMED[:4])
def test_a_tool_argument_named_for_its_type_is_found(
    name: str, value: str, tag: str, mode: str
) -> None:
    received: list[dict[str, Any]] = []

    @tool
    def save(record: dict[str, Any]) -> str:
        """Save a record."""
        received.append(record)
        return "saved"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("save", {"record": {name: value}})]), "ok"]
    )
    agent = create_agent(
        model, tools=[save], middleware=[PIIMiddleware(TYPES, apply_to_tool_args=True)]
    )
    invoke(agent, {"messages": [HumanMessage("save it")]}, mode)
    assert received == [{name: f"[REDACTED_{tag}]"}]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        (
            "mail jane@example.com or see https://example.com/u/jane.doe@example.com today",
            ["jane@example.com", "https://example.com/u/jane.doe@example.com"],
        ),
        (
            "mail jane@example.com, see www.example.com/jane@example.com",
            ["jane@example.com", "www.example.com/jane@example.com"],
        ),
        (
            "a@example.com b@example.com then https://example.com/?to=c@example.com end",
            ["a@example.com", "b@example.com", "https://example.com/?to=c@example.com"],
        ),
    ],
)
def test_a_value_inside_another_after_an_earlier_value_keeps_the_words_between(
    text: str, values: list[str]
) -> None:
    assert [m["value"] for m in detect(text, ["email", "url"])] == values
