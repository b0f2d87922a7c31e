"""``guardrails demo``: the tour of a deep agent and two subagents, offline, under a policy."""

from __future__ import annotations

import io
import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from guardrails.call_limits import ModelCallLimitMiddleware
from guardrails.cli import main
from guardrails.compose import ComposedMiddleware, compose
from guardrails.demo import run_demo, summary_rows
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.pii import PIIMiddleware
from guardrails.policy import Policy, check_order
from guardrails.retry import ModelRetryMiddleware
from guardrails.testing import ScriptedChatModel

pytest.importorskip("deepagents")

from guardrails.demo_scenes.tour import DEFAULT_POLICY, EXPECTED_EVENTS, with_fallback

#: What issue 8 asks the tour to show; EXPECTED_EVENTS may only grow beyond it.
TOUR_KINDS = {
    "retry.attempt",
    "fallback.switched",
    "limit.exceeded",
    "pii.detected",
    "pii.pseudonymized",
    "pii.restored",
    "fs.denied",
}


def _tour(**kwargs: Any) -> tuple[list[dict[str, Any]], str, str]:
    out, events_out = io.StringIO(), io.StringIO()
    events = run_demo(out, events_out, **kwargs)
    return events, out.getvalue(), events_out.getvalue()


@pytest.fixture(scope="module")
def tour() -> tuple[list[dict[str, Any]], str, str]:
    """One run of the tour under the packaged policy: (events, story, JSON lines)."""
    return _tour()


def test_tour_emits_every_event_kind(tour: tuple[list[dict[str, Any]], str, str]) -> None:
    events, _, _ = tour
    kinds = {e["event"] for e in events}
    assert set(EXPECTED_EVENTS) >= TOUR_KINDS
    assert set(EXPECTED_EVENTS) <= kinds, sorted(kinds)


def test_tour_prints_each_event_as_one_json_line(
    tour: tuple[list[dict[str, Any]], str, str],
) -> None:
    events, story, json_lines = tour
    parsed = [json.loads(line) for line in json_lines.splitlines()]
    assert [p["event"] for p in parsed] == [e["event"] for e in events]
    assert all(p["logger"] == "guardrails.audit" and "timestamp" in p for p in parsed)
    assert not any(line.startswith("{") for line in story.splitlines())


def test_subagent_events_name_the_subagent(tour: tuple[list[dict[str, Any]], str, str]) -> None:
    events, _, _ = tour
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_kind.setdefault(event["event"], []).append(event)
    (limit,) = by_kind["limit.exceeded"]
    assert (limit["agent"], limit["subagent"]) == ("researcher", "researcher")
    assert (limit["count"], limit["limit"]) == (3, 3)  # the researcher's stricter override
    researcher_pii = [e for e in by_kind["pii.detected"] if e.get("subagent") == "researcher"]
    assert researcher_pii and all(e["where"] == "tool_result" for e in researcher_pii)
    assert researcher_pii[0]["entities"] == {"email": 1, "phone": 1}
    (denied,) = by_kind["fs.denied"]
    assert (denied["subagent"], denied["tool"], denied["path"]) == (
        "researcher",
        "read_file",
        "/secrets/api_keys.txt",
    )
    for kind in ("pii.pseudonymized", "pii.restored"):
        assert [(e["subagent"], e["guardrail"]) for e in by_kind[kind]] == [
            ("mailer", "mailer-pseudonymize")
        ]
    assert by_kind["pii.restored"][0]["tool"] == "send_email"
    main_events = by_kind["retry.attempt"] + by_kind["fallback.switched"]
    assert all(e["agent"] == "assistant" and "subagent" not in e for e in main_events)
    (switch,) = by_kind["fallback.switched"]
    assert switch["to_model"] == "scripted:backup-model"


def test_no_raw_pii_or_secret_in_the_audit_lines(
    tour: tuple[list[dict[str, Any]], str, str],
) -> None:
    _, story, json_lines = tour
    for raw in ("jane.doe@example.com", "4111 1111 1111 1111", "refunds@acme.com", "sk-demo"):
        assert raw not in json_lines
    # the story shows what each model saw: redacted
    assert "card [REDACTED_CREDIT_CARD]" in story
    assert "Questions: [REDACTED_EMAIL] or [REDACTED_PHONE]" in story
    # the secret file was refused before the backend was read
    assert "sk-demo" not in story
    assert "permission denied for read on /secrets/api_keys.txt" in story
    # the mailer's model worked with a pseudonym; only send_email got the address
    (mailer_saw,) = [line for line in story.splitlines() if "[mailer] the model saw" in line]
    assert "@" not in mailer_saw and "refund policy to " in mailer_saw
    assert "send_email ran with to='jane.doe@example.com'" in story


def test_summary_table(tour: tuple[list[dict[str, Any]], str, str]) -> None:
    events, story, _ = tour
    summary = story[story.index(f"Summary: {len(events)} audit events") :]
    rows = [line for line in summary.splitlines() if "│" in line]
    assert any("researcher (subagent)" in r and "limit.exceeded" in r for r in rows)
    assert any("assistant" in r and "fallback.switched" in r for r in rows)
    assert "not triggered" not in summary
    assert max(len(line) for line in summary.splitlines()) <= 100  # a pipe gets 100 columns


def test_summary_rows_group_by_agent_then_kind() -> None:
    events = [
        {"event": "retry.attempt", "agent": "a", "error": "Timeout"},
        {
            "event": "limit.exceeded",
            "agent": "r",
            "subagent": "r",
            "limit_kind": "model_calls",
            "count": 2,
            "limit": 2,
            "decision": "end",
        },
        {"event": "retry.attempt", "agent": "a", "error": "RateLimit"},
        {
            "event": "pii.detected",
            "agent": "a",
            "strategy": "mask",
            "where": "input",
            "entities": {"email": 2},
        },
        {"event": "custom.thing", "guardrail": "Mine"},
    ]
    assert summary_rows(events) == [
        ("a", "retry.attempt", 2, "retried after RateLimit, Timeout"),
        ("a", "pii.detected", 1, "masked email in input"),
        ("r (subagent)", "limit.exceeded", 1, "model_calls 2/2: run ended"),
        ("-", "custom.thing", 1, "Mine"),
    ]


def test_plain_table_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)
    out = io.StringIO()
    run_demo(out, io.StringIO(), ["limits"])
    summary = out.getvalue().split("== Summary")[1].splitlines()
    assert summary[1].split() == ["agent", "event", "count", "what", "happened"]
    assert any(line.split()[1:3] == ["limit.exceeded", "2"] for line in summary[2:] if line)


def test_tour_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    events, story, _ = _tour()
    assert set(EXPECTED_EVENTS) <= {e["event"] for e in events}
    assert "answers: Done" in story


CUSTOM = """
version = 1

[[agent.middleware]]
use = "ModelCallLimitMiddleware"
run_limit = 10

[[agent.middleware]]
use = "PIIMiddleware"
pii_type = ["credit_card", "email"]
strategy = "mask"

[subagents.researcher.override]
ModelCallLimitMiddleware = { run_limit = 2 }
"""


def test_demo_with_a_custom_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "mine.toml"
    policy.write_text(CUSTOM)
    assert main(["demo", "--policy", str(policy), "--events-to", "stderr"]) == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.err.splitlines()]
    kinds = {e["event"] for e in events}
    assert "retry.attempt" not in kinds  # no retry in this policy: the fallback takes the 429
    switched = [e for e in events if e["event"] == "fallback.switched"]
    assert switched and switched[0]["reason"] == "ModelRateLimitError"
    (limit,) = [e for e in events if e["event"] == "limit.exceeded"]
    assert (limit["subagent"], limit["count"], limit["limit"]) == ("researcher", 2, 2)
    masked = [e for e in events if e["event"] == "pii.detected" and e.get("agent") == "assistant"]
    assert masked[0]["strategy"] == "mask"
    assert masked[0]["entities"] == {"credit_card": 1, "email": 1}
    assert f"policy: {policy}" in captured.out
    assert "not triggered under this policy: retry.attempt" in captured.out


def test_demo_with_a_bad_policy_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[agent.middleware]]\nuse = "ModelRetryMiddleware"\nmax_retrys = 2\n')
    assert main(["demo", "--policy", str(bad)]) == 1
    captured = capsys.readouterr()
    assert f"{bad}: agent.middleware[0].max_retrys: ModelRetryMiddleware has no parameter" in (
        captured.err
    )
    assert captured.out == ""  # nothing ran
    assert main(["demo", "--policy", str(tmp_path / "missing.toml")]) == 1
    assert "cannot read the file" in capsys.readouterr().err
    assert main(["demo", "--scene", "nope"]) == 2
    assert "unknown scene 'nope'" in capsys.readouterr().err


def test_packaged_policy_is_valid_and_ships_in_the_package() -> None:
    assert DEFAULT_POLICY.parent == Path(__import__("guardrails").__file__).parent
    policy = Policy.load(DEFAULT_POLICY)
    assert set(policy.subagent_names) == {"researcher", "mailer"}
    assert main(["check", str(DEFAULT_POLICY)]) == 0


def test_with_fallback_goes_before_retries_and_pii() -> None:
    def stack() -> list[Any]:
        return [
            ModelCallLimitMiddleware(run_limit=3),
            ModelRetryMiddleware(on_failure="error"),
            PIIMiddleware("email"),
        ]

    fallback = ModelFallbackMiddleware(ScriptedChatModel(default="hi"))
    plain = with_fallback(stack(), fallback)
    assert [type(m).__name__ for m in plain] == [
        "ModelCallLimitMiddleware",
        "ModelFallbackMiddleware",
        "ModelRetryMiddleware",
        "PIIMiddleware",
    ]
    assert check_order(plain, warn=False) == []
    (composed,) = with_fallback([compose(*stack())], fallback)
    assert isinstance(composed, ComposedMiddleware)
    assert [type(m).__name__ for m in composed.members] == [type(m).__name__ for m in plain]
    assert with_fallback([], fallback) == [fallback]
    theirs = ModelFallbackMiddleware("openai:gpt-5-mini")
    replaced = with_fallback([ModelRetryMiddleware(), theirs, PIIMiddleware("email")], fallback)
    assert [type(m).__name__ for m in replaced] == [
        "ModelRetryMiddleware",
        "ModelFallbackMiddleware",
        "PIIMiddleware",
    ]
    assert replaced[1] is fallback


def test_tour_stays_offline_when_the_policy_names_real_fallback_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    policy = tmp_path / "real.toml"
    policy.write_text(
        '[[agent.middleware]]\nuse = "ModelFallbackMiddleware"\nmodels = ["openai:gpt-5-mini"]\n'
    )
    events, story, _ = _tour(policy=policy)
    assert "swapped for a scripted one" in story
    switched = [e for e in events if e["event"] == "fallback.switched"]
    assert switched and all(e["to_model"] == "scripted:backup-model" for e in switched)
    assert "answers: Done" in story


def test_every_event_kind_has_a_what_happened_line() -> None:
    from guardrails.audit import EVENTS, register_event
    from guardrails.demo import WHAT_HAPPENED, summary_rows

    assert set(WHAT_HAPPENED) == set(EVENTS)  # the demo reads the one registry
    assert all(WHAT_HAPPENED[name] == kind.meaning for name, kind in EVENTS.items())
    register_event("demo_test.later", "an event registered after import", page="x.md")
    try:
        ((_, kind, count, what),) = summary_rows([{"event": "demo_test.later", "agent": "a"}])
        assert (kind, count, what) == ("demo_test.later", 1, "an event registered after import")
    finally:
        EVENTS.pop("demo_test.later")


def test_tour_without_deepagents_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "deepagents", None)  # import deepagents -> ImportError
    assert main(["demo"]) == 1
    assert "pip install 'guardrails-middleware[deepagents]'" in capsys.readouterr().err


@pytest.mark.slow  # another process
def test_rich_is_optional() -> None:
    import subprocess

    code = (
        "import sys; sys.modules['rich'] = None\n"
        "import guardrails, guardrails.cli\n"
        "sys.exit(guardrails.cli.main(['demo', '--scene', 'limits', '--events-to', 'stderr']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "== Summary" in done.stdout and "limit.exceeded" in done.stdout
    package = Path(__import__("guardrails").__file__).parent
    users = sorted(
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if "import rich" in p.read_text("utf-8") or "from rich" in p.read_text("utf-8")
    )
    assert users == ["demo.py"]


def test_the_tour_expects_only_registered_events() -> None:
    from guardrails.audit import EVENTS

    assert set(EXPECTED_EVENTS) <= set(EVENTS)
