"""Promises of the store health's counters (issue 29, round 7).

``StoreHealth`` counts, per store and process, the commands sent (``attempts``), the commands
decided at once by the latch (``skipped``) and the times the latch was set (``trips``): the
figures an operator exports to see what an outage cost. Each starts at zero for a store this
process has never used and counts exactly its events, not one more or less: a guardrail on a
store that refuses connections sends one command, trips once, and decides every later call at
once while the latch holds. A real socket nobody listens on, a real agent, sync and async.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent

from guardrails import RateLimitMiddleware
from guardrails._storage import StoreHealth, parse_storage
from guardrails.testing import ScriptedChatModel
from tests.conftest import _free_port
from tests.support import invoke

CALLS = 6


def test_a_new_stores_counters_start_at_zero_and_count_each_event_once(mode: str) -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there: refused at once
    health = StoreHealth.of(parse_storage("storage", url))
    assert (health.attempts, health.skipped, health.trips) == (0, 0, 0)
    guard = RateLimitMiddleware("1000/minute", key="global", storage=url, fail_open=True)
    agent = create_agent(ScriptedChatModel(responses=[], default="ok"), middleware=[guard])
    answers: list[Any] = []
    for _ in range(CALLS):
        answers.append(invoke(agent, {"messages": [("user", "x")]}, mode)["messages"][-1].content)
    assert answers == ["ok"] * CALLS  # failed open, as configured
    assert (health.attempts, health.trips) == (1, 1)
    assert health.skipped == CALLS - 1
