"""Where agents meet secrets: a deep agent reading a repository with ``.env`` files and running
``execute`` under the filesystem guardrail and the PII guardrail together (the model never sees
a key), a policy file naming the secret types, and ``guardrails scan --types secret`` as a
pre-commit check (findings by file and line, never the value, exit 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deepagents.backends import LocalShellBackend
from langchain_core.messages import AIMessage, ToolMessage

from guardrails import PIIMiddleware
from guardrails.cli import main
from guardrails.deep import create_deep_agent
from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.policy import Policy
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke

GHP = "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"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dcQx"
DB_PASSWORD = "Tr0ub4dor&3-horse"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7aB3xY9" * 4
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"
VALUES = (GHP, STRIPE, DB_PASSWORD, PEM_BODY[:40])


def _repo(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "deploy").mkdir()
    (root / "app" / ".env").write_text(
        f"NODE_ENV=production\nGITHUB_TOKEN={GHP}\n"
        f"DATABASE_URL=postgres://app:{DB_PASSWORD}@db.internal:5432/orders\n"
    )
    (root / "app" / "settings.py").write_text(f'STRIPE_SECRET_KEY = "{STRIPE}"\nDEBUG = False\n')
    (root / "deploy" / "key.pem").write_text(PEM)
    (root / "README.md").write_text("Run `make dev`; secrets live in app/.env.\n")
    return root


def test_a_deep_agent_reading_a_repository_never_shows_the_model_a_key(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    root = _repo(tmp_path / "repo")
    backend = LocalShellBackend(root_dir=root, virtual_mode=True)
    jail = FilesystemPermissionMiddleware(
        [
            FilesystemPermission(["write"], ["/**"], mode="deny"),
            FilesystemPermission(["read", "execute"], ["/**"]),
        ],
        default="deny",
    )
    pii = PIIMiddleware("secret", apply_to_tool_results=True)
    calls = [
        ("read_file", {"file_path": "/app/.env"}),
        ("execute", {"command": "cat app/settings.py deploy/key.pem"}),
        ("grep", {"pattern": "GITHUB", "path": "/", "output_mode": "content"}),
    ]
    model = ScriptedChatModel(
        responses=[*(AIMessage("", tool_calls=[tool_call(n, a)]) for n, a in calls), "done"]
    )
    agent = create_deep_agent(model, guardrails=[jail, pii], backend=backend)
    out = invoke(agent, {"messages": [("user", "why does the deploy fail?")]}, mode)
    results = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert len(results) == 3 and all("[REDACTED_SECRET]" in r for r in results), results
    assert "NODE_ENV=production" in results[0]  # the rest of the file is left alone
    seen = json.dumps(
        [[m.model_dump() for m in r["messages"]] for r in model.requests], default=str
    )
    stored = json.dumps([m.model_dump() for m in out["messages"]], default=str)
    for value in VALUES:
        assert value not in seen, value
        assert value not in stored, value
        assert value not in json.dumps(audit.events, default=str)
    assert (root / "app" / ".env").read_text().count(GHP) == 1  # files are untouched


POLICY = """
version = 1

[[agent.middleware]]
use = "PIIMiddleware"
pii_type = ["secret", "email"]
strategy = "mask"
apply_to_tool_results = true
"""


def test_a_policy_file_names_the_secret_types(tmp_path: Path) -> None:
    path = tmp_path / "guardrails.toml"
    path.write_text(POLICY)
    (mw,) = Policy.load(path).middleware()
    assert isinstance(mw, PIIMiddleware)
    found = mw._detector(f"token {GHP} mail a@example.com")
    assert [m["type"] for m in found] == ["secret", "email"]
    assert main(["check", str(path)]) == 0


def _write_tree(tmp_path: Path) -> Path:
    root = _repo(tmp_path / "repo")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0" + GHP.encode())
    return root


def test_scan_is_a_pre_commit_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _write_tree(tmp_path)
    files = [str(root / p) for p in ("app/.env", "app/settings.py", "deploy/key.pem")]
    assert main(["scan", "--types", "secret", *files, str(root / "README.md")]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{files[0]}:2:14: secret",
        f"{files[0]}:3:29: secret",
        f"{files[1]}:1:22: secret",
        f"{files[2]}:1:1: secret",
    ]
    for value in VALUES:
        assert value not in out.out and value not in out.err
    assert main(["scan", "--types", "secret", str(root / "README.md")]) == 0
    assert capsys.readouterr().out == ""
    # a binary file is skipped, an unreadable one is an error (exit 2)
    assert main(["scan", "--types", "secret", str(root / "logo.png")]) == 0
    assert main(["scan", "--types", "secret", str(root / "missing.env")]) == 2


def test_scan_print_handles_a_key_over_several_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _write_tree(tmp_path)
    key = str(root / "deploy" / "key.pem")
    assert main(["scan", "--types", "secret", "--print", key]) == 0
    printed = capsys.readouterr().out
    assert printed == "[REDACTED_SECRET]\n" and PEM_BODY[:40] not in printed
    assert main(["scan", "--types", "secret", "--print", "--check", "--strategy", "mask", key]) == 1
    assert "-----BEGIN PRIVATE KEY-----****" in capsys.readouterr().out
    assert main(["scan", "--types", "private_key", "--jsonl", key]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["found"] == {"private_key": 1} and len(rows) == 3
    assert all(PEM_BODY[:40] not in r["text"] for r in rows)


def test_scan_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(f"export GITHUB_TOKEN={GHP}\n"))
    assert main(["scan", "--types", "secret", "-"]) == 1
    assert capsys.readouterr().out == "-:1:21: secret\n"
