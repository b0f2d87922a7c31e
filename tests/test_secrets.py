"""Secret types: recognition measured on tests/data/secrets_eval.jsonl (held-out goals asserted),
the structure checks (GitHub's checksum, JWT headers, PEM pairing), hard negatives, every
strategy, and the middleware end to end through a real agent and a respx-served provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import respx
from langchain.agents import create_agent

from bench.pii_eval import evaluate
from guardrails import PIIMiddleware
from guardrails.errors import GuardrailConfigError, PIIDetectionError
from guardrails.pii import apply_strategy, build_detector, detect
from guardrails.pii.detect import BUILTIN_TYPES
from guardrails.pii.finders.secrets import (
    SECRET_CATEGORIES,
    SECRET_TYPES,
    find_secrets,
    github_checksum_ok,
    jwt_ok,
    secret_prefix,
)
from tests.conftest import AuditCapture
from tests.support import invoke, ok, request_bodies, tool

DATA = Path(__file__).parent / "data" / "secrets_eval.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]

GHP = "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"  # a public example with a valid checksum
OPENAI = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 2 + "T3BlbkFJ" + "Zz9yX8wV7uT6sR5q" * 3
AKIA = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiw"
    "iaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_recall_and_precision_per_category_meet_the_goals(split: str) -> None:
    """The issue's goals on text the detector was not tuned on: recall >= 0.90 and precision
    >= 0.95 per category (and on dev, which it was tuned on)."""
    rows = [r for r in ROWS if r["split"] == split]
    scores = evaluate(rows, build_detector(list(SECRET_CATEGORIES)), SECRET_CATEGORIES)
    low = {
        kind: (round(s.recall, 3), round(s.precision, 3))
        for kind, s in scores.items()
        if s.recall < 0.90 or s.precision < 0.95
    }
    assert not low, f"{split}: (recall, precision) under the goals: {low}"
    assert all(s.tp >= 30 for s in scores.values())  # every category measured on enough rows


def test_the_evaluation_set_has_both_splits_hard_negatives_and_public_examples() -> None:
    for split in ("dev", "heldout"):
        rows = [r for r in ROWS if r["split"] == split]
        assert sum(not r["entities"] for r in rows) >= 300
        assert sum(r["source"] == "public" for r in rows) >= 30
        assert sum(r["source"].startswith("negative:public") for r in rows) >= 10
    dev = {r["text"] for r in ROWS if r["split"] == "dev" and r["source"] == "public"}
    held = {r["text"] for r in ROWS if r["split"] == "heldout" and r["source"] == "public"}
    assert not dev & held


def test_every_secret_type_is_a_builtin_type() -> None:
    assert set(SECRET_TYPES) <= set(BUILTIN_TYPES)
    text = f"GITHUB_TOKEN={GHP}\nAWS_ACCESS_KEY_ID={AKIA}\ntoken: {JWT}\npassword: 'hunter2!x'"
    assert {m["value"] for m in detect(text, "secret")} == {GHP, AKIA, JWT, "hunter2!x"}
    assert {m["type"] for m in detect(text, "secret")} == {"secret"}
    assert [m["value"] for m in detect(text, "github_token")] == [GHP]
    assert [m["value"] for m in detect(text, "aws_key")] == [AKIA]
    assert [m["value"] for m in detect(text, "jwt")] == [JWT]
    assert [m["value"] for m in detect(text, "password")] == ["hunter2!x"]
    assert {m["type"] for m in detect(text, list(SECRET_CATEGORIES))} == {
        "api_key",
        "jwt",
        "password",
    }


def test_github_checksum() -> None:
    assert github_checksum_ok(GHP)
    assert not github_checksum_ok(GHP[:-1] + ("A" if GHP[-1] != "A" else "B"))
    # a token whose random part is low in variety is still reported when its checksum holds
    body = "a" * 29 + "b"
    import zlib

    from guardrails.pii.finders.secrets import _B62

    crc, out = zlib.crc32(body.encode()), ""
    while crc:
        crc, r = divmod(crc, 62)
        out = _B62[r] + out
    token = f"ghp_{body}{out.rjust(6, '0')}"
    assert github_checksum_ok(token)
    assert [m["value"] for m in detect(f"use {token}", "secret")] == [token]


def test_jwt_needs_a_header_with_alg() -> None:
    assert jwt_ok(JWT)
    no_alg = "eyJ0eXAiOiAiVENWMiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.OGY1OWRkNGMtYTUxYS04ZDYwLWFiZGYtZWE5"
    assert not jwt_ok(no_alg)
    assert detect(f"id {no_alg}", "jwt") == []


def test_a_pem_block_is_reported_whole_and_a_truncated_one_up_to_its_body() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" * 3
    block = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
    text = f"cat key.pem\n{block}\n$ echo done"
    (m,) = detect(text, "private_key")
    assert m["value"] == block
    cut = f"head -c 120 key.pem\n-----BEGIN RSA PRIVATE KEY-----\n{body[:90]}\n$ "
    (m,) = detect(cut, "private_key")
    assert m["value"].startswith("-----BEGIN RSA PRIVATE KEY-----") and body[:90] in m["value"]
    public = "-----BEGIN PUBLIC KEY-----\n" + body + "\n-----END PUBLIC KEY-----"
    assert detect(public, "secret") == []


def test_a_key_cut_at_its_start_is_reported_back_to_its_body() -> None:
    """A long text scanned in chunks (or a key shown from its middle): the END line and the body
    before it are reported, not the sentence in front of the body."""
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7aB3xY9\n" * 4
    text = f"the tail of the key file:\n{body}-----END PRIVATE KEY-----\nok"
    (m,) = detect(text, "private_key")
    assert m["value"] == body + "-----END PRIVATE KEY-----"


HARD_NEGATIVES = [
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "request 123e4567-e89b-12d3-a456-426614174000 took 12 ms",
    "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
    "OPENAI_API_KEY=${OPENAI_API_KEY}",
    "API_KEY=<your-api-key>",
    "API_KEY=xxxxxxxxxxxxxxxxxxxxxxxx",
    "password: changeme",
    'api_key = os.environ["OPENAI_API_KEY"]',
    "password: str",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3fT7bJ8K2u9pH1kR7yZk5mW4pQdX0nNc2v8sLw3rT a@b",
    "STRIPE_PUBLISHABLE_KEY=pk_live_51HxYzAbCdEfGhIjKlMnOpQr",
    "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "export AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX",
    'headers = {"Authorization": f"Bearer {token}"}',
    "the token expires after one hour; reset your password in settings",
    "Token usage: prompt_tokens=1200 completion_tokens=300",
    "mysql://user:password@localhost:3306/db",
    '{"nextPageToken": "CAESBggDEAEYAQxyzA9", "kind": "drive#fileList"}',
    "docker run -p 8080:8080 -e PORT=8080 app:latest",
    "<password></password>",
    '{"Key": "uploads/2024/01/report.png", "Size": 1024}',
    '{"key": "user:1234:profile", "ttl": 60}',
    "pass_rate: 0.93, tests_passed: 1204",
    "secret: src/main/resources/app.yml",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_are_not_secrets(text: str) -> None:
    assert detect(text, "secret") == []


SHAPES = [
    (f"curl https://api.openai.com/v1/models -H 'Authorization: Bearer {OPENAI}'", OPENAI),
    (f'{{"tool": "http", "args": {{"headers": {{"x-api-key": "{OPENAI}"}}}}}}', OPENAI),
    (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    ("DATABASE_URL=postgres://app:S3cr3t-Pa55@db.internal:5432/orders", "S3cr3t-Pa55"),
    ("curl -u admin:Zq8!wLm2 https://ci.example.com", "Zq8!wLm2"),
    ('{"name": "DB_PASSWORD", "value": "Tr0ub4dor&3"}', "Tr0ub4dor&3"),
    ("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
    ('{"content": "OPENAI_KEY=Zx81kQ0pLmNb27VcAa\\nPORT=3000"}', "Zx81kQ0pLmNb27VcAa"),
    ("GET /api/x?access_token=Zx81kQ0pLmNb27VcAa&channel=C1", "Zx81kQ0pLmNb27VcAa"),
    ("<password>Tr0ub4dor&amp;3</password>", "Tr0ub4dor&amp;3"),
    ("machine api.heroku.com login me@x.com password 01234abcdXyz", "01234abcdXyz"),
    ("docker login -u bot -p Zk81qLm0pQ registry.example.com", "Zk81qLm0pQ"),
    ("redis-cli -h cache -a R3d1sPass ping", "R3d1sPass"),
]


@pytest.mark.parametrize(("text", "value"), SHAPES)
def test_shapes_agents_see(text: str, value: str) -> None:
    assert [m["value"] for m in detect(text, "secret")] == [value]


def test_offsets_map_back_through_normalization() -> None:
    text = f"token\u00a0=\u00a0{GHP}\u200b and more"  # NBSP around '=', a zero-width space after
    (m,) = detect(text, "secret")
    assert text[m["start"] : m["end"]].replace("\u200b", "") == GHP


def test_mask_keeps_only_the_recognisable_prefix() -> None:
    text = f"key {OPENAI} and {GHP} and pw password='hunter2!x'"
    for style in ("langchain", "shape"):
        masked = apply_strategy(text, detect(text, "secret"), "mask", mask_style=style)
        assert "sk-proj-****" in masked and "ghp_****" in masked
        assert OPENAI[-4:] not in masked and GHP[-4:] not in masked and "x'" not in masked
    assert secret_prefix(AKIA) == "AKIA"
    assert secret_prefix("hunter2!x") == ""


def test_redact_per_type_and_umbrella() -> None:
    text = f"{GHP} {JWT}"
    assert apply_strategy(text, detect(text, "secret"), "redact") == (
        "[REDACTED_SECRET] [REDACTED_SECRET]"
    )
    assert apply_strategy(text, detect(text, ["api_key", "jwt"]), "redact") == (
        "[REDACTED_API_KEY] [REDACTED_JWT]"
    )


def test_hash_of_a_secret_needs_a_key() -> None:
    with pytest.raises(GuardrailConfigError, match="hash_key"):
        PIIMiddleware("secret", strategy="hash")
    mw = PIIMiddleware("secret", strategy="hash", hash_key=b"k")
    assert mw._hash_key == b"k"
    PIIMiddleware("email", strategy="hash", hash_key=b"k")  # other types: unchanged


def test_pseudonymize_restores_a_secret_into_declared_tools_only() -> None:
    assert PIIMiddleware("secret", strategy="pseudonymize").restore_tools == frozenset()
    mw = PIIMiddleware("secret", strategy="pseudonymize", restore_tools=["deploy"])
    assert mw.restore_tools == frozenset({"deploy"})
    assert PIIMiddleware("email", strategy="pseudonymize").restore_tools is None


def test_find_secrets_reports_a_structured_secret_over_its_context() -> None:
    found = find_secrets(f'"api_key": "{GHP}"')
    assert [(s.category, s.family) for s in found] == [("api_key", "github")]


@tool
def read_config(path: str) -> str:
    """Read a configuration file."""
    return f"# {path}\nGITHUB_TOKEN={GHP}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\nPORT=8080\n"


def test_no_secret_reaches_the_provider(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[
            ok(None, tool_calls=[("read_config", {"path": ".env"})]),
            ok("The token is set."),
        ]
    )
    agent = create_agent(
        chat_openai(),
        tools=[read_config],
        middleware=[PIIMiddleware("secret", apply_to_tool_results=True)],
    )
    invoke(agent, {"messages": [("user", f"why does {OPENAI} fail?")]}, mode)
    sent = "\n".join(json.dumps(b) for b in request_bodies(route))
    assert route.call_count == 2
    for value in (GHP, AWS_SECRET, OPENAI):
        assert value not in sent
    assert "[REDACTED_SECRET]" in sent
    events = json.dumps(audit.events)
    for value in (GHP, AWS_SECRET, OPENAI):
        assert value not in events
    assert {e["where"] for e in audit.of("pii.detected")} >= {"input", "tool_result"}


def test_block_refuses_before_the_provider(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    route = openai_mock.post("/chat/completions").mock(return_value=ok("never"))
    agent = create_agent(chat_openai(), middleware=[PIIMiddleware("secret", strategy="block")])
    with pytest.raises(PIIDetectionError) as info:
        invoke(agent, {"messages": [("user", f"deploy with {GHP}")]}, mode)
    assert route.call_count == 0
    assert GHP not in str(info.value) and GHP not in json.dumps(audit.events)
    assert audit.of("pii.blocked")[0]["entities"] == {"secret": 1}
