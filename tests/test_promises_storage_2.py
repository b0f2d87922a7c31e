"""More promises of the shared storage layer (issue 29, seed-7 survivors of ``storage``).

- A storage URI with a wrong scheme is refused with the hint that fits it (``unix://`` ->
  ``redis+unix://``, ``async+redis://`` -> no prefix), and only that one.
- The health latch: ``latch=0`` never latches, also while another guardrail on the same store is
  probing it; the background ping keeps trying for the longest latch of an outage, not the last
  one reported; it starts again on every new outage; a store that answers the probe at the end
  of the interval is healthy at once, in sync and async (the next command goes to the store).
- A Redis restart between two calls costs nothing: the pooled connection that died is replaced
  at once (sync and async), no error reaches the guardrail.
- ``StoreHealth.forget_all()`` (what the test suite uses between tests) clears every latch.

Real faults on a real redis-server where the store is involved (stopped and restarted on the same
port, as tests/test_storage_latch.py does).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from guardrails._storage import (
    RedisConnector,
    StorageUnreachableError,
    StoreHealth,
    parse_storage,
)
from guardrails.errors import GuardrailConfigError
from tests.conftest import RedisServer


@pytest.mark.parametrize(
    ("uri", "hint", "not_hint"),
    [
        ("unix:///var/run/redis.sock", "(write redis+unix", "(no async+ prefix"),
        ("async+redis://127.0.0.1:6379", "(no async+ prefix", "(write redis+unix"),
        ("http://127.0.0.1:6379", None, None),
    ],
)
def test_a_wrong_scheme_gets_the_hint_that_fits_it(
    uri: str, hint: str | None, not_hint: str | None
) -> None:
    with pytest.raises(GuardrailConfigError, match="unknown scheme") as caught:
        parse_storage("storage", uri)
    text = str(caught.value)
    if hint is None:
        assert "(write redis+unix" not in text and "(no async+ prefix" not in text
    else:
        assert hint in text and str(not_hint) not in text


def _health(name: str) -> StoreHealth:
    return StoreHealth.of(parse_storage("storage", f"redis://127.0.0.1:1/{name}"))


def _never(*_: Any) -> None:
    raise ConnectionError("still down")


def _until(check: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


def test_latch_zero_never_latches_even_while_another_guardrail_probes() -> None:
    health = _health("zero")
    health.failed(ConnectionError("down"), 1.0, _never)
    assert health.latched(1.0) and not health.latched(0)
    time.sleep(1.05)
    assert not health.latched(1.0)  # the interval is over: this caller probes
    assert health.latched(1.0)  # others wait for the probe (up to two intervals)
    assert not health.latched(0)  # a guardrail with the latch off always goes to the store
    health.ok()


def test_the_ping_keeps_trying_for_the_longest_latch_of_the_outage() -> None:
    health = _health("window")
    start = time.monotonic()

    def ping() -> None:
        if time.monotonic() < start + 0.5:
            raise ConnectionError("still down")

    health.failed(ConnectionError("down"), 3.0, ping)  # a guardrail with a 3 s latch
    health.failed(ConnectionError("down"), 0.1, ping)  # another on the same store, 0.1 s
    assert _until(lambda: health.failed_at is None), "the ping gave up after the shorter latch"


def test_the_ping_starts_again_on_a_second_outage() -> None:
    health = _health("again")
    for _ in range(2):
        health.failed(ConnectionError("down"), 30.0, lambda: None)  # answers at once
        assert _until(lambda: health.failed_at is None), "no ping cleared this outage"
        assert not health.latched(30.0)


def test_forget_all_clears_every_latch() -> None:
    one, two = _health("f1"), _health("f2")
    one.failed(ConnectionError("down"), 30.0, _never)
    two.failed(ConnectionError("down"), 30.0, _never)
    assert one.latched(30.0) and two.latched(30.0)
    StoreHealth.forget_all()
    assert not one.latched(30.0) and not two.latched(30.0)


def _in_mode(mode: str, steps: Any) -> Any:
    """Run ``steps(call)`` where ``call(connector)`` evaluates one script, sync or async (one
    event loop for the whole test, so async clients and their pools live across the steps)."""
    if mode == "sync":
        return steps(lambda c: c.eval("return 1", [], []), lambda seconds: time.sleep(seconds))

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        results: list[Any] = []

        def call(c: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(c.aeval("return 1", [], []), loop).result(30)

        def pause(seconds: float) -> None:
            time.sleep(seconds)

        results.append(await asyncio.to_thread(steps, call, pause))
        return results[0]

    return asyncio.run(main())


@pytest.mark.redis
def test_a_probe_that_succeeds_makes_the_store_healthy_at_once(
    mode: str, own_redis: RedisServer
) -> None:
    # a latch shorter than the ping's period: only the probing call can end it
    connector = RedisConnector(parse_storage("storage", own_redis.url, read_timeout=1, latch=0.05))

    def steps(call: Any, pause: Any) -> None:
        assert call(connector) == 1
        own_redis.stop()
        with pytest.raises(Exception) as down:
            call(connector)
        assert not isinstance(down.value, StorageUnreachableError)
        own_redis.start()
        pause(0.1)  # the interval is over
        assert call(connector) == 1  # the probe
        assert connector.health.failed_at is None
        attempts = connector.health.attempts
        assert call(connector) == 1  # sent to the store, not decided by the latch
        assert connector.health.attempts == attempts + 1

    _in_mode(mode, steps)


@pytest.mark.redis
def test_a_redis_restart_between_two_calls_costs_nothing(mode: str, own_redis: RedisServer) -> None:
    connector = RedisConnector(parse_storage("storage", own_redis.url, read_timeout=2))

    def steps(call: Any, pause: Any) -> None:
        del pause
        assert call(connector) == 1  # a pooled connection now exists
        own_redis.restart()  # that connection is dead
        assert call(connector) == 1  # replaced at once: no error
        assert connector.health.failed_at is None and connector.health.trips == 0

    _in_mode(mode, steps)


@pytest.mark.parametrize("uri", [42, None, b"redis://127.0.0.1:6379", "127.0.0.1:6379", "redis"])
def test_a_storage_that_is_not_a_uri_is_refused_by_name(uri: Any) -> None:
    from guardrails import RateLimitMiddleware

    with pytest.raises(GuardrailConfigError, match="storage must be a storage URI, one of") as e:
        RateLimitMiddleware("1/second", storage=uri)
    assert "unknown scheme" not in str(e.value)
