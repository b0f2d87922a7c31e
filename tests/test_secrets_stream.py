"""A long secret the model writes, streamed a few characters at a time: no part of it is
released on any stream (invoke, updates, messages, v3), whatever its length."""

from __future__ import annotations

from typing import Any

import pytest
import respx
from langchain.agents import create_agent

from guardrails import PIIMiddleware
from tests.conftest import AuditCapture
from tests.test_pii_wire import HOWS, answer, drive, dumps, wire

OPENAI = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 2 + "T3BlbkFJ" + "Zz9yX8wV7uT6sR5q" * 5
BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7aB3xY9Qz\n" * 6
PEM = f"-----BEGIN PRIVATE KEY-----\n{BODY}-----END PRIVATE KEY-----"


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("secret", [OPENAI, PEM], ids=["sk-proj", "pem"])
def test_no_part_of_a_long_streamed_secret_is_released(
    how: str,
    secret: str,
    mode: str,
    openai_mock: respx.MockRouter,
    chat_openai: Any,
    audit: AuditCapture,
) -> None:
    route = openai_mock.post("/chat/completions").mock(
        side_effect=answer((f"Here it is: {secret} - keep it safe.", []))
    )
    agent = create_agent(chat_openai(), middleware=[PIIMiddleware("secret", apply_to_output=True)])
    _, seen = drive(agent, {"messages": [("user", "print the key")]}, mode, how)
    pieces = [secret[i : i + 24] for i in range(0, len(secret) - 24, 12)]
    pieces = [p for p in pieces if "-----" not in p and "PRIVATE" not in p]
    leaked = [p for p in pieces if p in seen]
    assert not leaked, f"{len(leaked)} pieces of the secret released, e.g. {leaked[:2]}"
    assert "[REDACTED_SECRET]" in seen
    assert route.call_count == 1 and secret not in dumps(audit.events) and wire(route)
