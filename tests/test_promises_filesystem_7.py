"""Promises of the grouped approvals of ``FilesystemPermissionMiddleware`` (issue 29, round 8,
seed-71 sample): the calls of one model turn that need approval are asked about once, by the
first call of the group; the others take their decision from the one it received.

The others may reach their wait before the first call has published anything (LangGraph runs
the tasks of one step together, in any order): such a call keeps waiting and gets the decision
when it is published, promptly, in sync (threads) and async (one loop) alike.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from guardrails.filesystem import approvals


def _key(name: str) -> tuple[str, ...]:
    return (f"{name}-{time.monotonic_ns()}", "call-2")


def _publish_later(key: tuple[str, ...], decisions: list[Any], delay: float) -> threading.Thread:
    def later() -> None:
        time.sleep(delay)
        approvals.publish(key, decisions)

    t = threading.Thread(target=later)
    t.start()
    return t


def test_a_call_waiting_before_anything_is_published_gets_the_decision_sync() -> None:
    key = _key("sync")
    publisher = _publish_later(key, [{"type": "approve"}], 0.05)
    got = approvals.wait_for(key).sync()
    publisher.join()
    assert got == [{"type": "approve"}]


def test_a_call_waiting_before_anything_is_published_gets_the_decision_async() -> None:
    key = _key("async")

    async def main() -> Any:
        async def later() -> None:
            await asyncio.sleep(0.05)
            approvals.publish(key, [{"type": "reject"}])

        waiter = asyncio.ensure_future(approvals.wait_for(key).async_())
        await later()
        return await waiter

    assert asyncio.run(main()) == [{"type": "reject"}]


def test_the_resuming_marker_is_not_a_decision() -> None:
    """The first call marks its group as resuming (``None``) before it has the answer: a waiter
    that sees the marker keeps waiting for the decision."""
    key = _key("marker")
    approvals.publish(key, None)
    publisher = _publish_later(key, [{"type": "approve"}], 0.05)
    got = approvals.wait_for(key).sync()
    publisher.join()
    assert got == [{"type": "approve"}]


@pytest.mark.slow  # a wait on the real clock
@pytest.mark.parametrize("side", ["sync", "async"])
def test_a_waiting_call_resumes_promptly_once_the_decision_is_published(side: str) -> None:
    """A call of the group waits for the first one's answer, not for a long poll: every wait
    ends within a quarter of a second of the publish (the poll is every 5 ms)."""
    lags = []
    for _ in range(5):
        key = _key(side)
        published: list[float] = []

        def later(key: tuple[str, ...] = key, published: list[float] = published) -> None:
            time.sleep(0.05)
            published.append(time.monotonic())
            approvals.publish(key, [{"type": "approve"}])

        t = threading.Thread(target=later)
        t.start()
        op = approvals.wait_for(key)
        got = op.sync() if side == "sync" else asyncio.run(op.async_())
        done = time.monotonic()
        t.join()
        assert got == [{"type": "approve"}]
        lags.append(done - published[0])
    assert min(lags) < 0.25, lags


def test_a_decision_outlives_the_publishing_of_other_groups() -> None:
    """Decisions of other groups published meanwhile (other turns, other threads) do not push
    out a group's fresh decision: only ones older than ten minutes are dropped."""
    key = _key("kept")
    approvals.publish(key, [{"type": "approve"}])
    for i in range(3):
        approvals.publish(_key(f"other{i}"), [{"type": "reject"}])
    assert approvals.wait_for(key).sync() == [{"type": "approve"}]


@pytest.mark.slow  # a wait on the real clock
@pytest.mark.parametrize("side", ["sync", "async"])
def test_a_waiting_call_does_not_spin(side: str) -> None:
    """While it waits (here half a second), a call of the group sleeps between looks: a few per
    cent of a core (sync about 1 ms of CPU, async 10 to 25 ms: the event loop's own work per
    look), where a loop that never sleeps burns all the CPU it is given (the other calls of the
    step run on the same interpreter). The bound is a quarter of the wait: a spinning loop on an
    idle machine uses nearly all of it."""
    key = _key(f"idle-{side}")
    publisher = _publish_later(key, [{"type": "approve"}], 0.5)
    op = approvals.wait_for(key)
    wall, cpu = time.monotonic(), time.thread_time()
    got = op.sync() if side == "sync" else asyncio.run(op.async_())
    wall, cpu = time.monotonic() - wall, time.thread_time() - cpu
    publisher.join()
    assert got == [{"type": "approve"}]
    assert cpu < 0.25 * wall, (cpu, wall)
