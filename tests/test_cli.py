"""The ``guardrails`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails.cli import main


def test_demo_runs_offline_and_prints_json_events() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "guardrails.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert events, proc.stdout
    assert all("event" in e and "guardrail" in e and "timestamp" in e for e in events)
    assert "Summary" in proc.stdout
    kinds = {e["event"] for e in events}
    assert kinds >= {
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
    good.write_text("version = 1\n")
    assert main(["check", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[agent]\nmiddleware = [{ use = "Nope" }]\n')
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "agent.middleware[0].use: unknown middleware 'Nope'" in err
