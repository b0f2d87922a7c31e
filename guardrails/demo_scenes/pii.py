"""Scene: PII redacted before the model sees it, and a blocked SSN."""

from __future__ import annotations

from typing import IO

from langchain.agents import create_agent
from langchain_core.messages import HumanMessage

from guardrails.errors import PIIDetectionError
from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel

TITLE = "PII: redaction before the provider, and a block"


def run(out: IO[str]) -> None:
    model = ScriptedChatModel(default="Noted, I will follow up.")
    agent = create_agent(
        model,
        middleware=[
            PIIMiddleware(["email", "credit_card", "phone"], strategy="redact"),
            PIIMiddleware("us_ssn", strategy="block"),
        ],
    )
    text = "I'm jane.doe@example.com, card 4111 1111 1111 1111, call +1 212 555 0143"
    agent.invoke({"messages": [HumanMessage(text)]})
    print(f"  the model saw: {model.requests[0]['messages'][-1].content}", file=out)
    try:
        agent.invoke({"messages": [HumanMessage("my SSN is 536-22-1234")]})
    except PIIDetectionError as exc:
        print(f"  blocked: {exc}", file=out)
