"""The examples run as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_policy_file_is_valid() -> None:
    from guardrails.cli import main

    assert main(["check", str(ROOT / "examples" / "guardrails.toml")]) == 0


# slow: another Python process running the example
@pytest.mark.slow
def test_deep_agent_example_runs_offline() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "deep_agent_with_policy.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Both tasks are done."
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    agents = {
        (e["guardrail"], e.get("agent"), e.get("subagent"))
        for e in events
        if e["event"] == "pii.detected"
    }
    assert ("PIIMiddleware[email,phone,credit_card]", "assistant", None) in agents
    assert ("accountant-iban", "accountant", "accountant") in agents
    assert "jane.doe@example.com" not in proc.stderr


def test_demo_tour_under_the_example_policy() -> None:
    import io

    from guardrails.demo import run_demo

    out = io.StringIO()
    events = run_demo(out, io.StringIO(), policy=ROOT / "examples" / "guardrails.toml")
    (limit,) = [e for e in events if e["event"] == "limit.exceeded"]
    # the example file gives the researcher run_limit = 4 (the main agent has 12)
    assert (limit["subagent"], limit["count"], limit["limit"]) == ("researcher", 4, 4)
    # the example redacts emails for every agent: no model, and no tool, got the address
    assert "jane.doe@example.com" not in out.getvalue().split("[user]")[1].split("\n", 1)[1]
    assert "send_email ran with to='[REDACTED_EMAIL]'" in out.getvalue()
