"""The circuit breaker against a real Redis that is stopped, paused, slowed and restarted.

Promise: the breaker's own storage never takes a healthy model down (the circuit is treated as
closed, ``fallback.storage_error`` is audited once per call, the provider's answer is kept), every
Redis command is bounded by the storage timeouts, one async client per event loop, and half-open
lets exactly one probe through.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
import respx
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError

from guardrails.fallback import ModelFallbackMiddleware, _RedisBreaker
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture, RedisServer
from tests.support import error, invoke, ok, wait_recovered

pytestmark = pytest.mark.redis

PRIMARY = "http://primary.test/v1"
BACKUP = "http://backup.test/v1"


def _agent(primary: Any, backup: Any, storage: str, **kwargs: Any) -> Any:
    kwargs.setdefault("storage_connect_timeout", 0.3)
    kwargs.setdefault("storage_read_timeout", 0.3)
    mw = ModelFallbackMiddleware(backup, storage=storage, **kwargs)
    return create_agent(primary, middleware=[mw])


def _healthy() -> tuple[ScriptedChatModel, ScriptedChatModel]:
    return (
        ScriptedChatModel(responses=[], default="primary answer", model_name="p"),
        ScriptedChatModel(responses=[], default="backup answer", model_name="b"),
    )


# ----------------------------------------------------------------------------- row 1: identity


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_same_model_name_on_two_endpoints_gets_two_breakers(
    mode: str, chat_openai: Any, storage: str, redis_url: str
) -> None:
    uri = "memory://" if storage == "memory" else redis_url
    with respx.mock(assert_all_called=False) as router:
        a = router.post(f"{PRIMARY}/chat/completions").mock(return_value=error(503))
        b = router.post(f"{BACKUP}/chat/completions").mock(return_value=ok("from backup"))
        primary = chat_openai("gpt-same", base_url=PRIMARY)
        backup = chat_openai("gpt-same", base_url=BACKUP)
        agent = _agent(primary, backup, uri, failure_threshold=2, cooldown=60)
        for _ in range(6):
            result = invoke(agent, {"messages": [("user", "hi")]}, mode)
            assert result["messages"][-1].content == "from backup"
    # the backup's successes do not reset the primary's failures: its circuit opens after 2
    assert a.call_count == 2
    assert b.call_count == 6


def test_breaker_key_option_and_azure_like_deployments() -> None:
    from guardrails.fallback import _model_key

    class Deployed(ScriptedChatModel):
        deployment_name: str = ""
        azure_endpoint: str = ""

    one = Deployed(responses=[], model_name="gpt", deployment_name="eu", azure_endpoint="https://x")
    two = Deployed(responses=[], model_name="gpt", deployment_name="us", azure_endpoint="https://x")
    assert _model_key(one) != _model_key(two)
    secret = ScriptedChatModel(responses=[], model_name="gpt")
    object.__setattr__(secret, "base_url", "https://user:hunter2@proxy.test/v1?key=abc")
    assert "hunter2" not in _model_key(secret) and "abc" not in _model_key(secret)
    assert "proxy.test/v1" in _model_key(secret)
    mw = ModelFallbackMiddleware(two, breaker_key=lambda m: "region-a")
    assert mw._key(one) == "region-a"


# ----------------------------------------------------------------------------- row 2: outage


def test_redis_down_never_takes_a_healthy_model_down(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    primary, backup = _healthy()
    agent = _agent(primary, backup, own_redis.url)
    own_redis.stop()
    for _ in range(2):
        result = invoke(agent, {"messages": [("user", "hi")]}, mode)
        assert result["messages"][-1].content == "primary answer"
    assert backup.calls == 0
    events = audit.of("fallback.storage_error")
    assert len(events) == 2  # one per call, not one per Redis command
    assert {e["decision"] for e in events} == {"closed"}
    assert {e["storage"] for e in events} == {"redis"}


def test_redis_dying_during_the_provider_call_keeps_the_answer(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    def answer(_: Any) -> str:
        own_redis.stop()
        return "answer kept"

    # one failure on record, so the success has a count to reset (a clean breaker writes nothing)
    primary = ScriptedChatModel(responses=[ModelAPIError("503")], default=answer, model_name="p")
    backup = ScriptedChatModel(responses=[], default="backup", model_name="b")
    agent = _agent(primary, backup, own_redis.url)
    assert invoke(agent, {"messages": [("user", "x")]}, mode)["messages"][-1].content == "backup"
    audit.events.clear()
    primary_calls = primary.calls
    result = invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert result["messages"][-1].content == "answer kept"
    assert primary.calls == primary_calls + 1
    (event,) = audit.of("fallback.storage_error")
    assert event["operation"] == "success"


def test_paused_redis_is_bounded_by_the_read_timeout(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    primary, backup = _healthy()
    agent = _agent(primary, backup, own_redis.url, storage_read_timeout=0.5)
    invoke(agent, {"messages": [("user", "warm up")]}, mode)  # connections in the pool
    own_redis.pause()
    try:
        started = time.monotonic()
        result = invoke(agent, {"messages": [("user", "hi")]}, mode)
        elapsed = time.monotonic() - started
    finally:
        own_redis.resume()
    assert result["messages"][-1].content == "primary answer"
    # allow + success, each at most connect + read timeout; generous bound for slow CI
    assert elapsed < 5.0, elapsed
    assert audit.of("fallback.storage_error")[0]["error"] in ("TimeoutError",)


# slow: waits out a slowed real redis-server on the clock
@pytest.mark.slow
def test_slow_redis_debug_sleep_is_bounded(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    primary, backup = _healthy()
    agent = _agent(primary, backup, own_redis.url, storage_read_timeout=0.3)
    invoke(agent, {"messages": [("user", "warm up")]}, mode)
    sleeper = own_redis.slow(4)
    started = time.monotonic()
    result = invoke(agent, {"messages": [("user", "hi")]}, mode)
    elapsed = time.monotonic() - started
    sleeper.join()
    assert result["messages"][-1].content == "primary answer"
    assert elapsed < 3.0, elapsed
    assert audit.of("fallback.storage_error")


def test_redis_coming_back_restores_the_shared_breaker(
    mode: str, own_redis: RedisServer, audit: AuditCapture
) -> None:
    primary = ScriptedChatModel(
        responses=[], default=lambda _: (_ for _ in ()).throw(ModelAPIError("503")), model_name="p"
    )
    backup = ScriptedChatModel(responses=[], default="backup", model_name="b")
    agent = _agent(primary, backup, own_redis.url, failure_threshold=2, cooldown=60)
    own_redis.stop()
    invoke(agent, {"messages": [("user", "x")]}, mode)  # no storage: circuit closed, primary tried
    assert primary.calls == 1
    own_redis.start()  # same port, empty state
    wait_recovered(own_redis.url)  # the background ping clears the store's latch
    for _ in range(4):
        assert invoke(agent, {"messages": [("user", "x")]}, mode)["messages"][-1].content == (
            "backup"
        )
    assert primary.calls == 3  # 1 while down + 2 to open the circuit again, then skipped
    assert audit.of("fallback.circuit_open")


# ----------------------------------------------------------------------------- row 3: loops


def test_asyncio_run_many_times_with_a_redis_breaker(redis_url: str, audit: AuditCapture) -> None:
    primary, backup = _healthy()
    mw = ModelFallbackMiddleware(backup, storage=redis_url)
    agent = create_agent(primary, middleware=[mw])
    for _ in range(4):
        result = asyncio.run(agent.ainvoke({"messages": [("user", "hi")]}))
        assert result["messages"][-1].content == "primary answer"
    assert audit.of("fallback.storage_error") == []
    assert isinstance(mw._breaker, _RedisBreaker)
    assert mw._breaker._connector.loop_count() == 0  # each loop's client went with its loop


def test_event_loops_in_threads_get_their_own_clients(redis_url: str, audit: AuditCapture) -> None:
    primary, backup = _healthy()
    agent = _agent(primary, backup, redis_url)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(3):
                asyncio.run(agent.ainvoke({"messages": [("user", "hi")]}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert audit.of("fallback.storage_error") == []
    assert primary.calls == 12


# ----------------------------------------------------------------------------- row 6: probe


def test_half_open_lets_exactly_one_probe_through(redis_url: str) -> None:
    from guardrails._core import run_sync
    from guardrails._storage import parse_storage

    breaker = _RedisBreaker(parse_storage("storage", redis_url))

    def op(io: Any) -> Any:
        def flow() -> Any:
            return (yield io)

        return run_sync(flow(), lambda r: r)

    for burst in range(30):
        key = f"model-{burst}"
        for _ in range(3):
            op(breaker.failure(key, 3, 0.0, False))  # open, no cooldown: half-open at once
        barrier = threading.Barrier(8)
        verdicts: list[str] = []

        def ask(
            key: str = key, barrier: threading.Barrier = barrier, out: list[str] = verdicts
        ) -> None:
            barrier.wait()
            out.append(op(breaker.allow(key, 3, 0.0)))

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert verdicts.count("probe") == 1, (burst, verdicts)


PROBE_WORKER = textwrap.dedent("""
    import sys, time
    from guardrails._core import run_sync
    from guardrails._storage import parse_storage
    from guardrails.fallback import _RedisBreaker
    breaker = _RedisBreaker(parse_storage("storage", sys.argv[1]))
    def op(io):
        def flow():
            return (yield io)
        return run_sync(flow(), lambda r: r)
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.001)
    print(op(breaker.allow("shared-model", 3, 5.0)))
""")


@pytest.mark.slow  # other processes (pyproject: the slow group)
def test_half_open_one_probe_across_processes(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set("guardrails:breaker:{shared-model}:failures", 3)
    start = time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE_WORKER, redis_url, str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(outputs) == ["open", "open", "open", "probe"]


# ----------------------------------------------------------------------------- row 11: build


def test_unbuildable_fallback_keeps_the_primary_error_visible(
    mode: str, monkeypatch: pytest.MonkeyPatch, audit: AuditCapture
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    primary = ScriptedChatModel(responses=[ModelAPIError("primary is down")], model_name="p")
    agent = create_agent(primary, middleware=[ModelFallbackMiddleware("openai:gpt-4o-mini")])
    with pytest.raises(ModelAPIError, match="primary is down") as info:
        invoke(agent, {"messages": [("user", "hi")]}, mode)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "'openai:gpt-4o-mini' could not be built" in notes
    assert info.value.__context__ is not None  # the build error is chained
    (event,) = audit.of("fallback.unavailable")
    assert event["model"] == "openai:gpt-4o-mini" and event["decision"] == "skip"
    assert audit.of("fallback.exhausted")[0]["unavailable"] == 1
