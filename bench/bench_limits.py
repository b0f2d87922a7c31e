"""Call limits vs LangChain's (which add graph nodes), and one rate-limit check (memory, Redis)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import ModelCallLimitMiddleware as LCModelLimit
from langchain.agents.middleware import ToolCallLimitMiddleware as LCToolLimit
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from bench.common import Row, compare_agents, timeit_us
from guardrails._core import run_sync
from guardrails.call_limits import ModelCallLimitMiddleware, ToolCallLimitMiddleware
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.testing import ScriptedChatModel, tool_call


@tool
def noop(x: int) -> int:
    """Return x."""
    return x


def _model() -> ScriptedChatModel:
    """Two model calls and one tool call per run, for as many runs as asked."""

    def answer(messages: list[Any]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            return AIMessage("done")
        return AIMessage("", tool_calls=[tool_call("noop", {"x": 1})])

    return ScriptedChatModel(default=answer, record=False)


def _check_us(mw: RateLimitMiddleware, number: int) -> float:
    class Req:
        runtime = None

    def once() -> None:
        run_sync(mw._admit(Req(), "model"), lambda r: r)

    return timeit_us(once, number=number, repeat=5)


def _memory_kb(ids: int) -> tuple[float, float, float, float]:
    """KB held after ``ids`` distinct keys hit a 10/minute moving window: ours, limits' memory
    storage; then ours after the keys went idle past the window (limits keeps them), and the
    time per hit (us) of ours with all keys present."""
    import gc
    import tracemalloc

    from limits import parse
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    from guardrails._windows import MemoryWindows

    item = parse("10/minute")
    now = [1_000_000.0]
    ours = MemoryWindows("moving-window", [item], clock=lambda: now[0])
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(ids):
        ours.hit(f"thread:{i}")
    ours_kb = (tracemalloc.get_traced_memory()[0] - before) / 1024
    now[0] += 120  # every key idle for longer than the window
    ours.hit("thread:new")
    idle_kb = (tracemalloc.get_traced_memory()[0] - before) / 1024
    tracemalloc.stop()
    storage = MemoryStorage()
    theirs = MovingWindowRateLimiter(storage)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(ids):
        theirs.hit(item, f"thread:{i}")
    theirs_kb = (tracemalloc.get_traced_memory()[0] - before) / 1024
    tracemalloc.stop()
    storage.timer.cancel()
    del ours, theirs, storage
    # time per hit with every key present (no tracing): the last 10% of the ids
    timed = MemoryWindows("moving-window", [item], clock=lambda: now[0])
    for i in range(ids):
        timed.hit(f"thread:{i}")
    started = time.perf_counter()
    for i in range(ids // 10):
        timed.hit(f"late:{i}")
    per_hit = (time.perf_counter() - started) / (ids // 10) * 1e6
    return ours_kb, theirs_kb, idle_kb, per_hit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(quick: bool = False) -> list[Row]:
    number, repeat = (10, 3) if quick else (40, 9)
    payload = {"messages": [("user", "go")]}
    rows: list[Row] = []
    for mode in ("sync", "async"):
        t = compare_agents(
            {
                "bare": lambda: create_agent(_model(), tools=[noop]),
                "ours": lambda: create_agent(
                    _model(),
                    tools=[noop],
                    middleware=[
                        ModelCallLimitMiddleware(run_limit=1000),
                        ToolCallLimitMiddleware(run_limit=1000),
                    ],
                ),
                "theirs": lambda: create_agent(
                    _model(),
                    tools=[noop],
                    middleware=[LCModelLimit(run_limit=1000), LCToolLimit(run_limit=1000)],
                ),
            },
            payload,
            mode=mode,
            number=number,
            repeat=repeat,
        )
        rows.append(
            Row(
                "call limits",
                f"model+tool limits, added us/run ({mode})",
                t["ours"] - t["bare"],
                t["theirs"] - t["bare"],
                "us/run",
                note="run = 2 model calls + 1 tool call",
            )
        )
    n = 300 if quick else 3000
    memory = RateLimitMiddleware("1000000/minute", key="global")
    rows.append(Row("rate limit", "one check, memory://", _check_us(memory, n), None, "us"))
    ids = 20_000 if quick else 200_000
    ours_kb, theirs_kb, idle_kb, per_hit = _memory_kb(ids)
    rows.append(
        Row(
            "rate limit",
            f"memory:// held by {ids:,} thread ids (limits' MemoryStorage)",
            ours_kb / 1024,
            theirs_kb / 1024,
            "MB",
            note="10/minute moving window, all ids inside the window",
        )
    )
    rows.append(
        Row(
            "rate limit",
            f"memory:// held once the {ids:,} ids went idle past the window",
            idle_kb / 1024,
            None,
            "MB",
            note="idle keys expire (least recently used first); limits keeps every key",
        )
    )
    rows.append(Row("rate limit", f"one hit with {ids:,} keys present", per_hit, None, "us"))
    binary = shutil.which("redis-server")
    if binary:
        port = _free_port()
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp],
                stdout=subprocess.DEVNULL,
            )
            try:
                time.sleep(0.3)
                redis = RateLimitMiddleware(
                    "1000000/minute", key="global", storage=f"redis://127.0.0.1:{port}"
                )
                rows.append(
                    Row(
                        "rate limit",
                        "one check, redis:// on loopback",
                        _check_us(redis, n // 3),
                        None,
                        "us",
                    )
                )
            finally:
                proc.terminate()
                proc.wait()
    return rows
