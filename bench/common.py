"""Shared benchmark helpers: timing, agent overhead, and the one table of ratios."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    """One line of the table: what was measured, our figure, theirs (same unit), and the unit.

    ``theirs`` is ``None`` when there is no counterpart. ``ratio`` is theirs / ours (above 1: we
    are faster or better); ``higher_is_better`` flips it for throughput-like units.
    """

    area: str
    what: str
    ours: float
    theirs: float | None
    unit: str
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.theirs is None or self.ours == 0 or self.theirs == 0:
            return None
        return self.ours / self.theirs if self.higher_is_better else self.theirs / self.ours


def timeit_us(fn: Callable[[], Any], *, number: int = 200, repeat: int = 5) -> float:
    """Median microseconds per call of ``fn`` over ``repeat`` rounds of ``number`` calls."""
    fn()  # warm up
    rounds = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        rounds.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(rounds)


def atimeit_us(fn: Callable[[], Awaitable[Any]], *, number: int = 200, repeat: int = 5) -> float:
    """Like :func:`timeit_us` for a coroutine function, on one event loop."""

    async def main() -> float:
        await fn()
        rounds = []
        for _ in range(repeat):
            gc.collect()
            start = time.perf_counter()
            for _ in range(number):
                await fn()
            rounds.append((time.perf_counter() - start) / number * 1e6)
        return statistics.median(rounds)

    return asyncio.run(main())


def agent_run_us(
    build: Callable[[], Any],
    payload: Any,
    *,
    mode: str = "sync",
    number: int = 50,
    repeat: int = 5,
    config: Callable[[int], dict[str, Any]] | None = None,
) -> float:
    """Median microseconds per ``invoke`` of the agent ``build()`` returns (built once).

    ``config(i)`` gives the config of call ``i`` (e.g. a fresh thread id per run).
    """
    agent = build()
    counter = iter(range(10**9))

    def cfg() -> dict[str, Any] | None:
        return config(next(counter)) if config else None

    if mode == "sync":
        return timeit_us(lambda: agent.invoke(payload, config=cfg()), number=number, repeat=repeat)
    return atimeit_us(lambda: agent.ainvoke(payload, config=cfg()), number=number, repeat=repeat)


def compare_agents(
    builds: dict[str, Callable[[], Any]],
    payload: Any,
    *,
    mode: str = "sync",
    number: int = 50,
    repeat: int = 7,
    config: Callable[[int], dict[str, Any]] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Microseconds per ``invoke`` of each agent, rounds interleaved so drift hits all alike.

    Each agent is built once; each round runs every agent ``number`` times; the figure per agent
    is the fastest round (the least disturbed by the machine). ``clock=time.process_time``
    measures CPU time (every thread of the process) instead of wall time: on a machine shared
    with other jobs, wall time adds whatever else ran.
    """
    agents = {label: build() for label, build in builds.items()}
    counter = iter(range(10**9))

    def cfg() -> dict[str, Any] | None:
        return config(next(counter)) if config else None

    best = {label: float("inf") for label in agents}

    async def around(agent: Any) -> float:
        start = clock()
        for _ in range(number):
            await agent.ainvoke(payload, config=cfg())
        return clock() - start

    def sround(agent: Any) -> float:
        start = clock()
        for _ in range(number):
            agent.invoke(payload, config=cfg())
        return clock() - start

    async def amain() -> None:
        for agent in agents.values():
            await agent.ainvoke(payload, config=cfg())
        for _ in range(repeat):
            for label, agent in agents.items():
                gc.collect()
                best[label] = min(best[label], await around(agent) / number * 1e6)

    if mode == "async":
        asyncio.run(amain())
    else:
        for agent in agents.values():
            agent.invoke(payload, config=cfg())
        for _ in range(repeat):
            for label, agent in agents.items():
                gc.collect()
                best[label] = min(best[label], sround(agent) / number * 1e6)
    return best


def print_table(rows: Sequence[Row]) -> None:
    """Print the rows as one table, with the ratio theirs/ours (x > 1: ours better)."""
    headers = ("area", "what", "ours", "theirs", "unit", "ratio", "note")
    body = [
        (
            r.area,
            r.what,
            f"{r.ours:,.2f}",
            "-" if r.theirs is None else f"{r.theirs:,.2f}",
            r.unit,
            "-" if r.ratio is None else f"{r.ratio:,.2f}x",
            r.note,
        )
        for r in rows
    ]
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)))
