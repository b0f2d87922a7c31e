"""Secrets cut short with ``...`` (docs/secrets.md, "Values cut short").

* **A long prefix of a real secret is a leak**: a value ending in ``...`` / ``…`` whose part
  before the dots has 12 characters or more and is random-looking is reported, assigned to a
  secret name or carrying a provider's prefix (``sk-proj-abc123def456...``), and never reaches
  the model (sync and async).
* **A placeholder cut short stays a placeholder**: ``sk-...``, ``xxx...``, ``<your key>...``,
  ``YOUR_API_KEY...``, a head shorter than 12 characters, a loose prefix without a provider's
  format and fewer than 20 random characters (``sk-Xk9mQ2vL7pRtZ8...``).
"""

from __future__ import annotations

from typing import Any

import pytest
import respx
from langchain.agents import create_agent

from guardrails import PIIMiddleware
from guardrails.pii import detect
from guardrails.pii.finders.secrets import SECRET_TYPES
from tests.support import invoke, ok, request_bodies
from tests.test_pii_wire import HOWS, answer, drive

#: provider-prefixed tokens cut short, with the type they are reported as
PREFIXED = [
    ("sk-proj-abc123def456", "openai_api_key"),
    ("sk-proj-Xk9mQ2vL7pRtZ8wN", "openai_api_key"),
    ("sk-ant-api03-Xk9mQ2vL7pRtZ8aB", "anthropic_api_key"),
    ("ghp_aB3dE5fG7hJ9kL1mN3pQ", "github_token"),
    ("AKIAXK9MQ2VL7PRT", "aws_key"),
    ("xoxb-4821-Zq8Wm3Kd9RtY", "slack_token"),
    ("sk_live_Xk9mQ2vL7pRtZ8", "stripe_key"),
    ("glpat-Xk9mQ2vL7pRtZ8", "api_key"),
]
#: random heads cut short, each assigned to a secret name
HEADS = ["Xk9mQ2vL7pRtZ8", "MyS3cretPassw0rd", "sk-Xk9mQ2vL7pRtZ8", "a8f3c91e7b2d4f60"]
#: values that stand for a secret, cut short: never reported
#: placeholders cut short, except under a password name (a password is any value there)
PASSWORD_LIKE = {"hunter2...", "Xk9mQ2vL7p..."}
PLACEHOLDERS = [
    "...",
    "sk-...",
    "sk-proj-...",
    "sk-abc...",
    "ghp_...",
    "ghp_abc123...",
    "xxx...",
    "xxxxxxxxxxxxxxxx...",
    "<your key>...",
    "YOUR_API_KEY...",
    "your-api-key-here...",
    "hunter2...",
    "Xk9mQ2vL7p...",
    "AKIA...",
    "sk-proj-abcdefghijklmnop...",
    "ghp_FAKEFAKEFAKEFAKE1234...",
    "${OPENAI_API_KEY}...",
]


def _found(text: str, types: Any = None) -> list[tuple[str, str]]:
    return [(m["type"], m["value"]) for m in detect(text, types or list(SECRET_TYPES))]


@pytest.mark.parametrize("dots", ["...", "\u2026"])
@pytest.mark.parametrize(("head", "kind"), PREFIXED)
def test_a_prefixed_token_cut_short_is_reported_up_to_the_dots(
    head: str, kind: str, dots: str
) -> None:
    for text in (f"my key is {head}{dots} keep it", f"`{head}{dots}`", f"{head}{dots}"):
        assert _found(text, ["secret"]) == [("secret", head)], text
        assert _found(text, [kind]) == [(kind, head)], text


def test_a_prefixed_head_too_short_for_its_format_and_not_cut_is_no_token() -> None:
    for head, _ in PREFIXED:
        if head.startswith("sk_live_"):
            continue  # a whole Stripe key already (10 characters or more)
        for text in (f"my key is {head} keep it", f"{head}.", f"{head}"):
            assert _found(text, ["secret"]) == [], text


@pytest.mark.parametrize("head", HEADS)
def test_a_random_head_cut_short_under_a_secret_name_is_reported(head: str) -> None:
    for text in (
        f'api_key="{head}..."',
        f"API_KEY={head}...",
        f"client_secret: '{head}\u2026'",
        f'{{"password": "{head}..."}}',
        f"DB_PASSWORD={head}...",
        f"Authorization: Bearer {head}...",
    ):
        found = _found(text, ["secret"])
        assert len(found) == 1 and found[0][1].startswith(head), text


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_a_placeholder_cut_short_is_not_reported(value: str) -> None:
    for text in (
        f"export OPENAI_API_KEY={value}",
        f'api_key="{value}"',
        f"password: '{value}'",
        f"Authorization: Bearer {value}",
        f"use {value} here",
    ):
        if value in PASSWORD_LIKE and text.startswith("password"):
            # a password name takes any value: what stands before the dots is the password
            assert [t for t, _ in _found(text)] == ["secret"], text
            continue
        assert _found(text) == [], text


def test_a_loose_prefix_cut_short_needs_a_format_or_a_longer_random_part() -> None:
    # sk- and s. also begin ordinary values: in prose, cut short after 12 to 19 characters, they
    # are no token; with the provider's format after them, or 20 random characters, they are
    for text in ("see sk-Xk9mQ2vL7pRtZ8... above", "see s.Xk9mQ2vL7pRtZ8wN... above"):
        assert _found(text) == [], text
    assert _found("see sk-proj-Xk9mQ2vL7pRtZ8... above") == [("secret", "sk-proj-Xk9mQ2vL7pRtZ8")]
    assert _found("see sk-Xi8tcNiHV9awbCcvilTeT... above") == [
        ("secret", "sk-Xi8tcNiHV9awbCcvilTeT")
    ]


def test_a_prefixed_token_cut_short_needs_one_part_of_twelve_characters() -> None:
    # the random part of a token is its longest part between - _ . (the rest: ids, versions)
    assert _found("try xoxb-1234-5678-abcd... in the docs") == []
    assert _found("try xoxb-1234-Zq8Wm3Kd9RtY... in the docs") == [
        ("secret", "xoxb-1234-Zq8Wm3Kd9RtY")
    ]
    # "_" belongs to a base64url body: it does not part it (gitleaks' Heroku sample, cut)
    assert _found("use HRKU-AAy9Ppr_HD2pPuTyIiT... here") == [
        ("secret", "HRKU-AAy9Ppr_HD2pPuTyIiT")
    ]


def test_a_truncated_secret_never_reaches_the_model(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(return_value=ok("noted"))
    agent = create_agent(chat_openai(), middleware=[PIIMiddleware(["secret"])])
    text = 'the key starts sk-proj-abc123def456... and api_key="Xk9mQ2vL7pRtZ8..." (sk-... elided)'
    invoke(agent, {"messages": [("user", text)]}, mode)
    sent = str(request_bodies(route)[-1]["messages"][-1]["content"])
    assert "abc123def456" not in sent and "Xk9mQ2vL7pRtZ8" not in sent
    assert "(sk-... elided)" in sent  # the placeholder is left as written


@pytest.mark.parametrize("how", HOWS)
def test_a_truncated_secret_streamed_by_the_model_is_not_released(
    how: str, mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    head = "sk-proj-Xk9mQ2vL7pRtZ8wN"
    route = openai_mock.post("/chat/completions").mock(
        side_effect=answer((f"Here it is: {head}... and api_key=Xk9mQ2vL7pRtZ8... ok", []))
    )
    agent = create_agent(chat_openai(), middleware=[PIIMiddleware("secret", apply_to_output=True)])
    _, seen = drive(agent, {"messages": [("user", "print the key")]}, mode, how)
    assert "Xk9mQ2vL7pRtZ8" not in seen and "[REDACTED_SECRET]" in seen
    assert route.call_count == 1
