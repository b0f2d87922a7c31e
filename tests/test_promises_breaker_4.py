"""Breaker promises at their edges (issue 29, round 8, seed-81 survivors).

* a success after failures below the threshold closes nothing: no ``fallback.circuit_closed`` is
  reported for a circuit that never opened;
* a circuit's closing is reported once: when a probe outlasts its lease and a second caller
  probes (and closes the circuit) meanwhile, the first probe's late success reports nothing more.

The Redis breaker (Redis server time) is checked in the slow group: a probe lease lasts at least
1 s there. Time is the in-memory breaker's clock (``_breaker.clock``, as in
test_promises_breaker.py).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError

from guardrails.fallback import ModelFallbackMiddleware
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture
from tests.support import invoke


def test_a_circuit_closed_by_an_overlapping_probe_is_reported_closed_once(
    audit: AuditCapture,
) -> None:
    now = [1000.0]
    calls: list[str] = []
    answers: list[str] = []

    def primary_answer(_: Any) -> str:
        calls.append("primary")
        if len(calls) == 1:
            raise ModelAPIError("503 from primary")  # opens the circuit at 1000 until 1010
        if len(calls) == 2:  # the first probe, at 1010 (its lease ends at 1020) ...
            now[0] = 1020.0  # ... outlasts its lease: a second caller probes meanwhile
            answers.append(ask())
        return "from primary"

    primary = ScriptedChatModel(responses=[], default=primary_answer, model_name="primary")
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    mw = ModelFallbackMiddleware(backup, failure_threshold=1, cooldown=10.0)
    mw._breaker.clock = lambda: now[0]  # type: ignore[union-attr]
    agent = create_agent(primary, middleware=[mw])

    def ask() -> str:
        result = invoke(agent, {"messages": [("user", "hi")]}, "sync")
        return str(result["messages"][-1].content)

    assert ask() == "from backup"
    now[0] = 1010.0
    assert ask() == "from primary"
    assert answers == ["from primary"] and len(calls) == 3  # both probes reached the primary
    assert len(audit.of("fallback.circuit_open")) == 1
    assert len(audit.of("fallback.circuit_closed")) == 1


def test_a_success_after_failures_below_the_threshold_reports_no_closing(
    mode: str, audit: AuditCapture
) -> None:
    plan = [False, True]

    def primary_answer(_: Any) -> str:
        if plan.pop(0) is False:
            raise ModelAPIError("503 from primary")
        return "from primary"

    primary = ScriptedChatModel(responses=[], default=primary_answer, model_name="primary")
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    agent = create_agent(
        primary, middleware=[ModelFallbackMiddleware(backup, failure_threshold=3, cooldown=10.0)]
    )
    first = invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content
    second = invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content
    assert (first, second) == ("from backup", "from primary")  # one failure of 3, then a success
    assert audit.of("fallback.circuit_open") == []
    assert audit.of("fallback.circuit_closed") == []  # it never opened


@pytest.mark.slow  # waits out a 1 s cooldown and a 1 s probe lease on Redis server time
def test_on_redis_a_circuit_closed_by_an_overlapping_probe_is_reported_closed_once(
    redis_url: str, audit: AuditCapture
) -> None:
    calls: list[str] = []
    answers: list[str] = []

    def primary_answer(_: Any) -> str:
        calls.append("primary")
        if len(calls) == 1:
            raise ModelAPIError("503 from primary")  # opens the circuit for 1 s
        if len(calls) == 2:  # the first probe outlasts its 1 s lease: a second caller probes
            time.sleep(1.1)
            answers.append(ask())
        return "from primary"

    primary = ScriptedChatModel(responses=[], default=primary_answer, model_name="primary")
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    mw = ModelFallbackMiddleware(backup, failure_threshold=1, cooldown=1.0, storage=redis_url)
    agent = create_agent(primary, middleware=[mw])

    def ask() -> str:
        result = invoke(agent, {"messages": [("user", "hi")]}, "sync")
        return str(result["messages"][-1].content)

    assert ask() == "from backup"
    time.sleep(1.1)
    assert ask() == "from primary"
    assert answers == ["from primary"] and len(calls) == 3  # both probes reached the primary
    assert len(audit.of("fallback.circuit_open")) == 1
    assert len(audit.of("fallback.circuit_closed")) == 1
