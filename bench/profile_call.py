"""Where a guardrail stack's added cost goes per run: cProfile of many runs of one agent of
:mod:`bench.bench_compose`, beside the bare agent.

``python -m bench.profile_call ours6 --turns 40 --mode async --runs 200 [--top 30]``

Prints the Python function calls per run (load-independent) of the agent and of the bare agent,
the CPU us per run of each under the profiler, and the top entries by own time (``tottime``)
and by cumulative time, per run. Labels: those of :func:`bench.bench_compose._stack_builds`
(``bare``, ``floor``, ``ours_pii``, ``lc_pii``, ``ours5``, ``ours6``, ``lc5``, ``lc6``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import time
from typing import Any

from langchain_core.messages import HumanMessage

from bench.bench_compose import _history, _stack_builds


def profile(label: str, turns: int, mode: str, runs: int) -> tuple[pstats.Stats, float]:
    agent = _stack_builds()[label]()
    payload = {"messages": [*_history(turns), HumanMessage("mail jane@example.com: go")]}
    prof = cProfile.Profile()

    async def amain() -> float:
        for _ in range(5):
            await agent.ainvoke(payload)
        gc.collect()
        start = time.process_time()
        prof.enable()
        for _ in range(runs):
            await agent.ainvoke(payload)
        prof.disable()
        return time.process_time() - start

    if mode == "async":
        cpu = asyncio.run(amain())
    else:
        for _ in range(5):
            agent.invoke(payload)
        gc.collect()
        start = time.process_time()
        prof.enable()
        for _ in range(runs):
            agent.invoke(payload)
        prof.disable()
        cpu = time.process_time() - start
    return pstats.Stats(prof), cpu / runs * 1e6


def _calls(stats: Any) -> int:
    return sum(v[1] for v in stats.stats.values())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_call")
    parser.add_argument("label")
    parser.add_argument("--turns", type=int, default=0)
    parser.add_argument("--mode", default="sync")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    base, base_us = profile("bare", args.turns, args.mode, args.runs)
    stats, us = profile(args.label, args.turns, args.mode, args.runs)
    n = args.runs
    print(
        f"{args.label} ({args.mode}, {args.turns} turns): {_calls(stats) / n:,.0f} calls/run "
        f"(bare {_calls(base) / n:,.0f}: adds {(_calls(stats) - _calls(base)) / n:,.0f}); "
        f"{us:,.0f} us/run CPU under the profiler (bare {base_us:,.0f})"
    )
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    ours = {f: v for f, v in table.items() if "/guardrails/" in f[0]}
    print(
        f"functions of guardrails/: {sum(v[1] for v in ours.values()) / n:,.0f} calls/run, "
        f"own time {sum(v[2] for v in ours.values()) / n * 1e6:,.0f} us/run under the profiler"
    )
    views = [
        ("own time, guardrails/ only", ours, 2),
        ("cumulative, guardrails/ only", ours, 3),
        ("own time, everything", table, 2),
    ]
    for title, entries, col in views:
        print(f"\n-- top by {title} (per run) --")
        top = sorted(entries.items(), key=lambda kv: kv[1][col], reverse=True)[: args.top]
        for func, (_, nc, tt, ct, _) in top:
            name = f"{func[0].rsplit('/', 2)[-1]}:{func[1]}({func[2]})"
            print(
                f"{name[-70:]:<70} calls {nc / n:7.1f}  own {tt / n * 1e6:7.1f} us"
                f"  cum {ct / n * 1e6:8.1f} us"
            )


if __name__ == "__main__":
    main()
