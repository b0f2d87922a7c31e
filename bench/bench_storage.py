"""Shared state on Redis: the health latch on a paused Redis, round trips per model call, and
the latency of a guarded stack on Redis against ``memory://`` and the bare agent.

* **Paused Redis**: rate limit + thread budget + breaker on one SIGSTOPped redis-server, all
  failing open, 10 model calls: seconds in all with the latch (default) and without
  (``storage_latch=0``: one read timeout per command, the old behaviour).
* **Round trips per model call**: storage commands the guardrails send per model call on the
  success path, counted on the client (the store's attempts) and on the server
  (``INFO commandstats``: ``evalsha`` + ``eval`` calls, the only commands they send).
* **Latency**: the same stack, composed, on loopback Redis vs ``memory://`` vs no guardrails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from langchain.agents import create_agent
from langgraph.checkpoint.memory import InMemorySaver

from bench.common import Row, compare_agents
from guardrails import (
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    RateLimitMiddleware,
    compose,
)
from guardrails._storage import StoreHealth, parse_storage
from guardrails.testing import ScriptedChatModel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]] | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}", proc
        finally:
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            proc.wait()


def stack(url: str, **storage: Any) -> list[Any]:
    """Rate limit, shared thread budget and breaker on one store, every one failing open."""
    return [
        RateLimitMiddleware("1000000/minute", key="global", storage=url, fail_open=True, **storage),
        ModelCallLimitMiddleware(
            thread_limit=10**9,
            thread_storage=url,
            thread_storage_fail_open=True,
            **{f"thread_{k}": v for k, v in storage.items()},
        ),
        ModelFallbackMiddleware(
            ScriptedChatModel(responses=[], default="backup", model_name="b", record=False),
            storage=url,
            **storage,
        ),
    ]


def _agent(middleware: list[Any]) -> Any:
    model = ScriptedChatModel(responses=[], default="hi", model_name="p", record=False)
    return create_agent(model, middleware=middleware, checkpointer=InMemorySaver())


def _config(i: int) -> dict[str, Any]:
    return {"configurable": {"thread_id": f"t-{i % 50}"}}


PAYLOAD = {"messages": [("user", "x")]}


def paused_run_s(
    url: str, proc: subprocess.Popen[bytes], mode: str, calls: int, **kw: Any
) -> float:
    """Seconds for ``calls`` model calls with the stack on a SIGSTOPped Redis."""
    StoreHealth.forget_all()
    agent = _agent(stack(url, **kw))
    config = _config(0)
    agent.invoke(PAYLOAD, config)  # pooled connections exist
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        started = time.perf_counter()
        if mode == "sync":
            for _ in range(calls):
                agent.invoke(PAYLOAD, config)
        else:

            async def run() -> None:
                for _ in range(calls):
                    await agent.ainvoke(PAYLOAD, config)

            asyncio.run(run())
        return time.perf_counter() - started
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        health = StoreHealth.of(parse_storage("s", url))
        deadline = time.monotonic() + 10
        while health.failed_at is not None and time.monotonic() < deadline:
            time.sleep(0.05)


def _server_scripts(url: str) -> int:
    import redis

    stats = redis.Redis.from_url(url).info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )


def round_trips(url: str, middleware: list[Any], mode: str, calls: int = 20) -> tuple[float, float]:
    """(client, server) storage round trips per model call on the success path."""
    agent = _agent(middleware)
    health = StoreHealth.of(parse_storage("s", url))
    agent.invoke(PAYLOAD, _config(0))  # scripts loaded, connections pooled
    attempts, scripts = health.attempts, _server_scripts(url)
    if mode == "sync":
        for i in range(calls):
            agent.invoke(PAYLOAD, _config(i))
    else:

        async def run() -> None:
            for i in range(calls):
                await agent.ainvoke(PAYLOAD, _config(i))

        asyncio.run(run())
    return (health.attempts - attempts) / calls, (_server_scripts(url) - scripts) / calls


def storage_us(url: str, number: int) -> tuple[float, float]:
    """Microseconds of the storage work of one model call (sync, loopback): the composed
    stack's one script vs the three scripts of the same guardrails listed separately."""
    from bench.common import timeit_us
    from guardrails._storage import end_batch, run_batch

    class Runtime:
        context = None
        execution_info = None
        server_info = None

    class Req:
        state: ClassVar[dict[str, Any]] = {}
        model = ScriptedChatModel(responses=[], model_name="p")

    Req.runtime = Runtime()  # type: ignore[attr-defined]
    rl, limit, fb = stack(url)
    budget = limit._budget  # keyed by a fixed thread id below (no graph runtime here)
    assert budget is not None

    def batched() -> None:
        steps = [rl.storage_step(Req), fb.storage_step(Req), budget._engine.step("b|t", 10**9)]
        end_batch(run_batch(steps))  # type: ignore[arg-type]

    def separate() -> None:
        rl._windows.io("|".join((rl.name, rl._key_of(Req)))).sync()
        fb._breaker.allow(fb._key(Req.model), 3, 30.0).sync()
        budget._engine.io("b|t", 10**9).sync()

    return timeit_us(batched, number=number), timeit_us(separate, number=number)


def run(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    number, repeat = (10, 3) if quick else (40, 7)
    with redis_server() as server:
        if server is None:
            return rows
        url, proc = server
        one, three = storage_us(url, 100 if quick else 1000)
        rows.append(
            Row(
                "storage",
                "storage work of one model call: 1 script (composed) vs 3 (separate)",
                one,
                three,
                "us",
                note="rate limit + thread budget + breaker allow, sync, loopback",
            )
        )
        for mode in ("sync", "async"):
            client, on_server = round_trips(url, [compose(*stack(url))], mode)
            rows.append(
                Row(
                    "storage",
                    f"Redis round trips per model call, composed stack ({mode})",
                    client,
                    None,
                    "round trips",
                    note=f"server counted {on_server:.2f} scripts/call; "
                    "rate limit + thread budget + breaker, success path",
                )
            )
            client, _ = round_trips(url, stack(url), mode)
            rows.append(
                Row(
                    "storage",
                    f"Redis round trips per model call, listed separately ({mode})",
                    client,
                    None,
                    "round trips",
                )
            )
            t = compare_agents(
                {
                    "bare": lambda: _agent([]),
                    "memory": lambda: _agent([compose(*stack("memory://"))]),
                    "redis": lambda: _agent([compose(*stack(url))]),
                },
                PAYLOAD,
                mode=mode,
                number=number,
                repeat=repeat,
                config=_config,
            )
            rows.append(
                Row(
                    "storage",
                    f"composed stack per call, redis:// vs memory:// ({mode})",
                    t["redis"],
                    t["memory"],
                    "us/call",
                    note=f"bare agent {t['bare']:.0f} us; redis/bare "
                    f"{t['redis'] / t['bare']:.2f}x, memory/bare {t['memory'] / t['bare']:.2f}x",
                )
            )
        calls = 3 if quick else 10
        for mode in ("sync", "async"):
            latched = paused_run_s(url, proc, mode, calls)
            unlatched = (
                paused_run_s(url, proc, mode, calls, storage_latch=0)
                if not quick or mode == "sync"
                else None
            )
            rows.append(
                Row(
                    "storage",
                    f"{calls} model calls on a paused Redis, latch on (off) ({mode})",
                    latched,
                    unlatched,
                    "s",
                    note="rate limit + budget + breaker failing open; read timeout 1 s",
                )
            )
    return rows
