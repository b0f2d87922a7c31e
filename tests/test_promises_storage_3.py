"""Promises of the storage settings a fresh mutation sample (seed 31, issue 29) found open: a
storage URI whose host list has a hole (``host:7000,:7001``, ``:6379``) is refused when the
guardrail is built, naming the setting, on every guardrail that takes one; it never becomes a
client that fails on the first call (and then decides by ``fail_open``)."""

from __future__ import annotations

import time as _time
from typing import Any

import pytest

from guardrails import ModelCallLimitMiddleware, ModelFallbackMiddleware, RateLimitMiddleware
from guardrails.errors import GuardrailConfigError
from guardrails.testing import ScriptedChatModel

_HOLES = [
    "redis://:6379/0",
    "redis://user:secret@:6379/0",
    "rediss://:6380",
    "redis+cluster://127.0.0.1:7000,:7001",
    "redis+cluster://:7000",
    "redis+sentinel://127.0.0.1:26379,:26380/mymaster",
]


def _build(kind: str, uri: str) -> Any:
    if kind == "rate":
        return RateLimitMiddleware("5/minute", key="global", storage=uri)
    if kind == "fallback":
        return ModelFallbackMiddleware(ScriptedChatModel(responses=[]), storage=uri)
    return ModelCallLimitMiddleware(thread_limit=5, thread_storage=uri)


@pytest.mark.parametrize("uri", _HOLES)
@pytest.mark.parametrize(
    ("kind", "setting"),
    [("rate", "storage"), ("fallback", "storage"), ("limits", "thread_storage")],
)
def test_a_storage_uri_with_a_missing_host_is_refused_at_construction(
    kind: str, setting: str, uri: str
) -> None:
    with pytest.raises(GuardrailConfigError, match="missing host") as caught:
        _build(kind, uri)
    text = str(caught.value)
    assert text.startswith(f"{setting}:"), text
    assert "secret" not in text, text  # the password is never echoed


class _Clock:
    """``time`` as the store's health sees it: a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def sleep(seconds: float) -> None:
        _time.sleep(min(seconds, 0.01))


def test_a_hung_probe_holds_the_latch_for_two_intervals_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a failure the store is latched for ``latch`` seconds; then one caller probes and the
    others keep deciding at once while its lease (two intervals) runs: when the lease is over,
    exactly then, the next caller probes again (a hung probe never keeps the store out)."""
    from guardrails import _storage

    clock = _Clock()
    monkeypatch.setattr(_storage, "time", clock)
    health = _storage.StoreHealth()

    def ping() -> None:
        raise OSError("still down")

    health.failed(OSError("down"), 1.0, ping)
    seen = []
    for at in (0.5, 1.0, 2.0, 2.999, 3.0, 3.5, 5.0):
        clock.now = 1000.0 + at
        seen.append((at, health.latched(1.0)))
    assert seen == [
        (0.5, True),  # inside the interval
        (1.0, False),  # the interval is over: this caller probes
        (2.0, True),  # its lease runs: the others decide at once
        (2.999, True),
        (3.0, False),  # the lease is over, exactly: the next caller probes again
        (3.5, True),
        (5.0, False),
    ], seen
    health.ok()
    clock.now += 100.0  # the background ping sees the recovery and ends
