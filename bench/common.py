"""Shared benchmark helpers: timing, agent overhead, and the one table of ratios."""

from __future__ import annotations

import asyncio
import gc
import os
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
    #: ours / theirs as the median of per-round ratios (:func:`interleaved_rounds`), when the
    #: row has one: the ratio column then shows its inverse instead of theirs / ours of the
    #: two medians.
    share: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.share is not None:
            return 1 / self.share if self.share > 0 else None
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


@dataclass
class Rounds:
    """Per-round CPU microseconds per ``invoke`` of interleaved agents.

    ``process[label][i]`` is round ``i``'s figure on the process's CPU time (every thread:
    the async model and tool calls run in worker threads), ``thread[label][i]`` on the main
    thread's; ``load`` the 1-minute load average before and after.
    """

    process: dict[str, list[float]]
    thread: dict[str, list[float]]
    load: tuple[float, float]

    def added(self, label: str, base: str = "bare", *, clock: str = "process") -> list[float]:
        """Per round: ``label`` minus ``base`` (what ``label`` adds, measured in that round)."""
        table = self.process if clock == "process" else self.thread
        return [a - b for a, b in zip(table[label], table[base], strict=True)]


def interleaved_rounds(
    builds: dict[str, Callable[[], Any]],
    payload: Any,
    *,
    mode: str = "sync",
    rounds: int = 30,
    number: int = 10,
    warmup: int = 5,
) -> Rounds:
    """CPU microseconds per ``invoke`` of each agent in each of ``rounds`` rounds.

    Every round runs every agent ``number`` times, in an order rotated each round (no agent
    always follows the same one), after a ``gc.collect()``; a figure is compared only with
    figures of the same round (:func:`median_share`), so drift and load hit both sides of a
    ratio alike. Async: one event loop for the warm-up and every round (its executor threads
    started by the warm-up). Each agent is built once and warmed up ``warmup`` times; what the
    warm-up leaves is frozen out of the collector (``gc.freeze``), so a full collection
    costs the same in every round.
    """
    agents = {label: build() for label, build in builds.items()}
    labels = list(agents)
    process: dict[str, list[float]] = {label: [] for label in labels}
    thread: dict[str, list[float]] = {label: [] for label in labels}
    load_before = os.getloadavg()[0]

    def order(i: int) -> list[str]:
        k = i % len(labels)
        return labels[k:] + labels[:k]

    def record(label: str, p: float, t: float) -> None:
        process[label].append(p / number * 1e6)
        thread[label].append(t / number * 1e6)

    if mode == "async":

        async def amain() -> None:
            for agent in agents.values():
                for _ in range(warmup):
                    await agent.ainvoke(payload)
            gc.collect()
            gc.freeze()  # what the warm-up built is never collected again: no full collection
            # walks it in the middle of a round
            for i in range(rounds):
                for label in order(i):
                    agent = agents[label]
                    gc.collect()
                    p0, t0 = time.process_time(), time.thread_time()
                    for _ in range(number):
                        await agent.ainvoke(payload)
                    record(label, time.process_time() - p0, time.thread_time() - t0)

        asyncio.run(amain())
    else:
        for agent in agents.values():
            for _ in range(warmup):
                agent.invoke(payload)
        gc.collect()
        gc.freeze()
        for i in range(rounds):
            for label in order(i):
                agent = agents[label]
                gc.collect()
                p0, t0 = time.process_time(), time.thread_time()
                for _ in range(number):
                    agent.invoke(payload)
                record(label, time.process_time() - p0, time.thread_time() - t0)
    gc.unfreeze()
    return Rounds(process, thread, (load_before, os.getloadavg()[0]))


def median_share(ours: Sequence[float], theirs: Sequence[float]) -> tuple[float, float, float]:
    """The median of per-round ratios ``ours[i] / theirs[i]`` and its spread (the 25th and
    75th percentiles); rounds where theirs is not above zero are left out."""
    shares = sorted(o / t for o, t in zip(ours, theirs, strict=True) if t > 0)
    if not shares:
        return float("nan"), float("nan"), float("nan")
    if len(shares) < 4:
        return statistics.median(shares), shares[0], shares[-1]
    q = statistics.quantiles(shares, n=4)
    return statistics.median(shares), q[0], q[2]


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
