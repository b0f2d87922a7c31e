"""The ``guardrails`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails.cli import main


def _demo(*args: str) -> tuple[list[dict[str, object]], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "guardrails.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert events, proc.stdout
    assert all("event" in e and "guardrail" in e and "timestamp" in e for e in events)
    assert "Summary" in proc.stdout
    return events, proc.stdout


@pytest.mark.slow  # a CLI process playing the whole tour
def test_demo_plays_the_tour_offline() -> None:
    from guardrails.demo_scenes.tour import EXPECTED_EVENTS

    events, stdout = _demo()
    assert {e["event"] for e in events} >= set(EXPECTED_EVENTS)
    assert "researcher (subagent)" in stdout


@pytest.mark.slow  # a CLI process playing every scene
def test_demo_classic_scenes() -> None:
    from guardrails.cli import _SCENES
    from guardrails.demo import ALL_SCENES

    assert ALL_SCENES == _SCENES
    scenes = [arg for name in ALL_SCENES if name != "tour" for arg in ("--scene", name)]
    events, _ = _demo(*scenes)
    kinds = {e["event"] for e in events}
    assert kinds >= {
        "pii.pseudonymized",
        "pii.restored",
        "retry.attempt",
        "fallback.switched",
        "fallback.circuit_open",
        "limit.exceeded",
        "rate_limit.exceeded",
        "pii.detected",
        "pii.blocked",
    }


def test_check_valid_and_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text('version = 1\n[[agent.middleware]]\nuse = "ModelRetryMiddleware"\n')
    assert main(["check", str(good)]) == 0
    assert "OK (1 middleware" in capsys.readouterr().out
    empty = tmp_path / "empty.toml"
    empty.write_text("version = 1\n")  # configures nothing: the agent would run unguarded
    assert main(["check", str(empty)]) == 1
    assert "configures no middleware" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[agent]\nmiddleware = [{ use = "Nope" }]\n')
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "agent.middleware[0].use: unknown middleware 'Nope'" in err


def test_scan_redacts_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("mail jane@example.com\nnothing here\ncard 4111 1111 1111 1111\n")
    assert main(["scan", str(notes)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "mail [REDACTED_EMAIL]",
        "nothing here",
        "card [REDACTED_CREDIT_CARD]",
    ]
    assert main(["scan", str(notes), "--types", "email", "--strategy", "mask", "--check"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == "mail jane@****.com"
    assert main(["scan", str(notes), "--jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["found"] == {"email": 1} and "jane" not in rows[0]["text"]
    clean = tmp_path / "clean.txt"
    clean.write_text("nothing to see\n")
    assert main(["scan", str(clean), "--check"]) == 0
    assert main(["scan", str(clean), "--types", "bogus_type"]) == 2


def test_check_reports_order_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        "[[agent.middleware]]\nuse = 'ModelRetryMiddleware'\n\n"
        "[[agent.middleware]]\nuse = 'RateLimitMiddleware'\nlimit = '5/minute'\nkey = 'global'\n\n"
        "[subagents.researcher]\n\n"
        "[[subagents.researcher.middleware]]\nuse = 'ToolRetryMiddleware'\n\n"
        "[[subagents.researcher.middleware]]\nuse = 'ToolCallLimitMiddleware'\nrun_limit = 2\n"
        "exit_behavior = 'end'\n"
    )
    assert main(["check", str(policy)]) == 1
    err = capsys.readouterr().err
    assert f"{policy}: agent.middleware: RateLimitMiddleware should be listed before" in err
    assert (
        f"{policy}: subagents.researcher.middleware: ToolCallLimitMiddleware should be listed "
        "before ToolRetryMiddleware" in err
    )
    assert "RateLimitMiddleware should be listed before ModelRetryMiddleware" in err
