"""One storage URI grammar for rate limits, breakers, thread budgets and vaults; each scheme
tested against a real server (Redis, Unix socket, Sentinel, Cluster) or refused clearly."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent

from guardrails._storage import RedisConnector, parse_storage
from guardrails.call_limits import ModelCallLimitMiddleware
from guardrails.errors import GuardrailConfigError, RateLimitExceededError
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.pii.vault import RedisVault
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture, RedisServer, _free_port


def _every_user(uri: str) -> list[Any]:
    return [
        lambda: RateLimitMiddleware("1/second", key="global", storage=uri),
        lambda: ModelFallbackMiddleware(ScriptedChatModel(responses=[]), storage=uri),
        lambda: ModelCallLimitMiddleware(thread_limit=1, thread_storage=uri),
        lambda: RedisVault(uri),
    ]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("unix:///tmp/redis.sock", "write redis\\+unix:///path"),
        ("async+redis://localhost:6379", "no async\\+ prefix"),
        ("memcached://localhost:11211", "unknown scheme 'memcached'"),
        ("mongodb://localhost", "unknown scheme 'mongodb'"),
        ("localhost:6379", "must be a storage URI"),
        ("memory://somewhere", "memory:// takes no host"),
        ("redis+unix://", "needs a socket path"),
        ("redis+sentinel://127.0.0.1:26379", "needs sentinel hosts and a service name"),
        ("redis+cluster://", "needs at least one startup node"),
        ("redis://a:1,b:2", "takes one host"),
    ],
)
def test_refused_uris_name_the_grammar(uri: str, message: str) -> None:
    for build in _every_user(uri):
        with pytest.raises(GuardrailConfigError, match=message):
            build()


def test_passwords_never_appear_in_errors() -> None:
    with pytest.raises(GuardrailConfigError) as info:
        parse_storage("storage", "memcached://user:hunter2@host:1")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "1", True])
def test_timeouts_are_finite_positive_numbers(value: Any) -> None:
    with pytest.raises(GuardrailConfigError, match="storage_read_timeout must be > 0"):
        RateLimitMiddleware("1/second", storage_read_timeout=value)
    with pytest.raises(GuardrailConfigError, match="storage_connect_timeout must be > 0"):
        ModelFallbackMiddleware(ScriptedChatModel(responses=[]), storage_connect_timeout=value)


def test_parsed_parts() -> None:
    spec = parse_storage("s", "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/mymaster/2")
    assert spec.locations == (("10.0.0.1", 26379), ("10.0.0.2", 26379))
    assert spec.password == "pw" and spec.path == "/mymaster/2" and spec.label == "redis+sentinel"
    spec = parse_storage("s", "redis+cluster://n1:7000,n2:7001")
    assert spec.locations == (("n1", 7000), ("n2", 7001))


def _limited(uri: str, n: int, mode: str) -> int:
    agent = create_agent(
        ScriptedChatModel(responses=[], default="hi"),
        middleware=[RateLimitMiddleware("3/minute", key="global", storage=uri)],
    )
    ok = 0
    for _ in range(n):
        try:
            if mode == "sync":
                agent.invoke({"messages": [("user", "x")]})
            else:
                asyncio.run(agent.ainvoke({"messages": [("user", "x")]}))
            ok += 1
        except RateLimitExceededError:
            pass
    return ok


# ----------------------------------------------------------------------------- live servers


@pytest.mark.redis
def test_redis_and_unix_socket(mode: str, tmp_path: Path, redis_url: str) -> None:
    assert _limited(redis_url, 5, mode) == 3
    binary = shutil.which("redis-server")
    assert binary is not None
    sock = tmp_path / "r.sock"
    server = RedisServer(binary, tmp_path, ("--unixsocket", str(sock), "--unixsocketperm", "700"))
    server.start()
    try:
        assert _limited(f"redis+unix://{sock}", 5, mode) == 3
    finally:
        server.stop()


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[RedisServer, int]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    master = RedisServer(binary, tmp_path)
    master.start()
    port = _free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
    )
    proc = subprocess.Popen(
        [binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        import redis

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                info = redis.Redis(port=port, socket_timeout=0.5).sentinel_master("mymaster")
                if info:
                    break
            except Exception:
                time.sleep(0.1)
        yield master, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        master.stop()


# slow: a Redis sentinel and its servers, started for the test
@pytest.mark.slow
@pytest.mark.redis
def test_redis_sentinel(mode: str, sentinel: tuple[RedisServer, int]) -> None:
    master, port = sentinel
    uri = f"redis+sentinel://127.0.0.1:{port}/mymaster"
    assert _limited(uri, 5, mode) == 3
    import redis

    keys = redis.Redis(port=master.port).keys("guardrails:rl:*")
    assert keys  # the state went to the master the sentinel named


def _cluster_port() -> int:
    import random
    import socket

    for _ in range(200):
        port = random.randint(20_000, 50_000)
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[RedisServer]]:
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        pytest.skip("redis-server / redis-cli are not installed")
    nodes = []
    for i in range(3):
        node_dir = tmp_path / f"n{i}"
        node_dir.mkdir()
        node = RedisServer(
            binary,
            node_dir,
            ("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{i}.conf"),
        )
        node.port = _cluster_port()  # the cluster bus listens on port + 10000
        node.url = f"redis://127.0.0.1:{node.port}"
        nodes.append(node)
        node.start()
    try:
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        import redis

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all(
                redis.Redis(port=n.port).cluster("info").get("cluster_state") == "ok" for n in nodes
            ):
                break
            time.sleep(0.2)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


# slow: a Redis cluster of six servers
@pytest.mark.slow
@pytest.mark.redis
def test_redis_cluster(mode: str, cluster: list[RedisServer]) -> None:
    uri = f"redis+cluster://127.0.0.1:{cluster[0].port},127.0.0.1:{cluster[1].port}"
    assert _limited(uri, 5, mode) == 3
    # several limits of one key share a hash slot: one script checks and charges them all
    agent = create_agent(
        ScriptedChatModel(responses=[], default="hi"),
        middleware=[RateLimitMiddleware("2/minute;100/day", key="global", storage=uri)],
    )
    agent.invoke({"messages": [("user", "x")]})
    # the breaker's Lua scripts run on the cluster too
    mw = ModelFallbackMiddleware(ScriptedChatModel(responses=[], default="b"), storage=uri)
    primary = ScriptedChatModel(responses=[], default="p")
    result = create_agent(primary, middleware=[mw]).invoke({"messages": [("user", "x")]})
    assert result["messages"][-1].content == "p"


# slow: a Redis cluster of six servers
@pytest.mark.slow
@pytest.mark.redis
def test_a_composed_stack_on_a_cluster_decides_as_its_members_do(
    mode: str, cluster: list[RedisServer], audit: AuditCapture
) -> None:
    """Several guardrails composed on one Cluster keep exact limits and never hit the store's
    own errors: their keys live in several hash slots, so their pre-call work is never sent as
    one script (CROSSSLOT) and no call is decided on a storage failure."""
    from langgraph.checkpoint.memory import InMemorySaver

    from guardrails import compose

    uri = f"redis+cluster://127.0.0.1:{cluster[0].port},127.0.0.1:{cluster[1].port}"
    stack = compose(
        RateLimitMiddleware("1000/minute", key="global", storage=uri),
        ModelCallLimitMiddleware(thread_limit=3, thread_storage=uri, exit_behavior="end"),
    )
    agent = create_agent(
        ScriptedChatModel(responses=[], default="hi"),
        middleware=[stack],
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "cluster-thread"}}
    answers = []
    for _ in range(4):
        if mode == "sync":
            out = agent.invoke({"messages": [("user", "x")]}, config)
        else:
            out = asyncio.run(agent.ainvoke({"messages": [("user", "x")]}, config))
        answers.append(out["messages"][-1].content)
    assert answers[:3] == ["hi"] * 3 and "thread limit" in answers[3], answers
    troubles = [e for e in audit.events if "storage" in str(e.get("event"))]
    assert troubles == [], troubles


# ----------------------------------------------------------------------------- the vault


@pytest.mark.redis
def test_vault_uses_one_client_per_loop_and_bounded_timeouts(own_redis: RedisServer) -> None:
    vault = RedisVault(own_redis.url, ttl=60, storage_read_timeout=0.3)

    async def roundtrip(i: int) -> dict[str, str]:
        await vault.aadd("t", "ns", {f"<EMAIL_{i}>": f"user{i}@example.com"})
        return await vault.aget("t", "ns")

    for i in range(3):
        assert len(asyncio.run(roundtrip(i))) == i + 1
    assert vault._connector is not None and vault._connector.loop_count() == 0
    own_redis.pause()
    try:
        started = time.monotonic()
        with pytest.raises(Exception) as info:
            vault.get("t", "ns")
        assert time.monotonic() - started < 4.0
    finally:
        own_redis.resume()
    assert "Timeout" in type(info.value).__name__


def test_connector_refuses_memory() -> None:
    with pytest.raises(GuardrailConfigError):
        RedisConnector(parse_storage("s", "memory://"))
