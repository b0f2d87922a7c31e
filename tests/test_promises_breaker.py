"""Promises of the fallback's circuit breaker at its edges (issue 29: careless edits must fail).

The threshold is a count of consecutive failures (a success starts it again), the cooldown ends at
exactly ``cooldown`` seconds after the opening, a failed probe reopens for a whole cooldown, a
circuit that is open is never called, and with every circuit open nothing is called at all. Time
is the in-memory breaker's clock (``_breaker.clock``), so the edges are exact.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError

from guardrails.errors import GuardrailError
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture
from tests.support import invoke


class Plan:
    """A primary that fails (False) or answers (True) as planned, then answers."""

    def __init__(self, *plan: bool) -> None:
        self.plan = list(plan)

    def __call__(self, _: Any) -> Any:
        if self.plan and not self.plan.pop(0):
            raise ModelAPIError("503 from primary")
        return "from primary"


def _setup(
    *plan: bool, threshold: int | None = 3, cooldown: float = 30.0, backup: Any = "from backup"
) -> tuple[Any, ScriptedChatModel, ScriptedChatModel, list[float]]:
    primary = ScriptedChatModel(responses=[], default=Plan(*plan), model_name="primary")
    second = ScriptedChatModel(responses=[], default=backup, model_name="backup")
    mw = ModelFallbackMiddleware(second, failure_threshold=threshold, cooldown=cooldown)
    now = [1000.0]
    mw._breaker.clock = lambda: now[0]  # type: ignore[union-attr]
    return create_agent(primary, middleware=[mw]), primary, second, now


def _ask(agent: Any, mode: str) -> str:
    return str(invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content)


def test_the_circuit_opens_at_exactly_the_threshold(mode: str, audit: AuditCapture) -> None:
    agent, primary, _, _ = _setup(False, False, False, threshold=3)
    assert [_ask(agent, mode) for _ in range(2)] == ["from backup"] * 2
    assert primary.calls == 2 and audit.of("fallback.circuit_open") == []
    assert _ask(agent, mode) == "from backup"  # the third failure opens it
    (opened,) = audit.of("fallback.circuit_open")
    assert opened["failures"] == 3 and opened["cooldown_s"] == 30.0
    assert _ask(agent, mode) == "from backup"
    assert primary.calls == 3  # open: the primary is not called
    (switched, *_) = audit.of("fallback.switched")
    assert switched["reason"] == "ModelAPIError"


def test_a_success_starts_the_count_of_failures_again(mode: str, audit: AuditCapture) -> None:
    agent, primary, _, _ = _setup(False, False, True, False, False, True, threshold=3)
    answers = [_ask(agent, mode) for _ in range(6)]
    assert answers == ["from backup", "from backup", "from primary"] * 2
    assert primary.calls == 6 and audit.of("fallback.circuit_open") == []


def test_a_threshold_of_one_opens_on_the_first_failure(mode: str, audit: AuditCapture) -> None:
    agent, primary, _, _ = _setup(False, threshold=1)
    assert _ask(agent, mode) == "from backup"
    assert len(audit.of("fallback.circuit_open")) == 1
    assert _ask(agent, mode) == "from backup" and primary.calls == 1


def test_the_cooldown_ends_exactly_cooldown_seconds_after_the_opening(
    mode: str, audit: AuditCapture
) -> None:
    agent, primary, _, now = _setup(False, True, threshold=1, cooldown=30.0)
    assert _ask(agent, mode) == "from backup"  # opened at 1000
    now[0] = 1029.999
    assert _ask(agent, mode) == "from backup" and primary.calls == 1
    now[0] = 1030.0  # the probe
    assert _ask(agent, mode) == "from primary" and primary.calls == 2
    (closed,) = audit.of("fallback.circuit_closed")
    assert closed["model"].startswith("scripted:primary")
    assert _ask(agent, mode) == "from primary" and primary.calls == 3  # closed for good


def test_a_failed_probe_reopens_for_a_whole_cooldown(mode: str, audit: AuditCapture) -> None:
    agent, primary, _, now = _setup(False, False, True, threshold=1, cooldown=10.0)
    assert _ask(agent, mode) == "from backup"  # opened at 1000 until 1010
    now[0] = 1010.0
    assert _ask(agent, mode) == "from backup"  # the probe failed at 1010: open until 1020
    assert primary.calls == 2 and len(audit.of("fallback.circuit_open")) == 2
    now[0] = 1019.999
    assert _ask(agent, mode) == "from backup" and primary.calls == 2
    now[0] = 1020.0
    assert _ask(agent, mode) == "from primary" and primary.calls == 3


def test_with_every_circuit_open_nothing_is_called(mode: str, audit: AuditCapture) -> None:
    agent, primary, backup, _ = _setup(False, threshold=1, backup=ModelAPIError("backup down"))
    with pytest.raises(ModelAPIError, match="backup down"):
        _ask(agent, mode)
    assert (primary.calls, backup.calls) == (1, 1)
    with pytest.raises(GuardrailError, match="every model's circuit is open"):
        _ask(agent, mode)
    assert (primary.calls, backup.calls) == (1, 1)
    first, second = audit.of("fallback.exhausted")
    assert first["skipped"] == 0 and len(first["tried"]) == 2
    assert second["skipped"] == 2 and second["tried"] == [] and second["error"] is None


def test_without_a_threshold_the_primary_is_always_tried(mode: str, audit: AuditCapture) -> None:
    agent, primary, _, _ = _setup(*([False] * 6), threshold=None)
    assert [_ask(agent, mode) for _ in range(6)] == ["from backup"] * 6
    assert primary.calls == 6 and audit.of("fallback.circuit_open") == []


def test_the_backups_circuit_counts_on_its_own(mode: str, audit: AuditCapture) -> None:
    """A failing backup opens its own circuit; the primary's state is its own too."""
    primary = ScriptedChatModel(responses=[], default=ModelAPIError("primary down"), model_name="p")
    backup = ScriptedChatModel(responses=[], default=ModelAPIError("backup down"), model_name="b")
    third = ScriptedChatModel(responses=[], default="from third", model_name="t")
    mw = ModelFallbackMiddleware(backup, third, failure_threshold=2, cooldown=60)
    agent = create_agent(primary, middleware=[mw])
    assert [_ask(agent, mode) for _ in range(3)] == ["from third"] * 3
    assert (primary.calls, backup.calls, third.calls) == (2, 2, 3)
    assert sorted(e["model"].split("@")[0] for e in audit.of("fallback.circuit_open")) == [
        "scripted:b",
        "scripted:p",
    ]
