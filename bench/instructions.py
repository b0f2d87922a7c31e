"""Instructions per agent run, counted by valgrind's callgrind: a figure the machine's load
cannot move (CPU time on a shared 2-core machine moves by 2x between two runs of the same code).

``python -m bench.instructions [--turns 0 40] [--runs 10] [--commit 289bb10]``

Each agent of :func:`bench.bench_compose._stack_builds` that issue 24 compares (``ours5``,
``ours6``, ``lc5``, ``lc6``; with ``--commit``, the older package's ``old5`` / ``old6`` too,
loaded as in :mod:`bench.ab_compose`) is built and warmed up, then run ``--runs`` times inside
its own C driver (``functools.reduce``, ``itertools.takewhile``, ...), and callgrind counts
only what runs inside each driver (``--toggle-collect``): the inclusive instruction count of a
driver divided by the runs is the agent's instructions per run. Printed: instructions per run
of each agent, PII inside the stack (six minus five) and the six composed (minus the five
and the pass-through floor are not needed for the ratio of the PII rows), ours / LangChain's.

Instructions are not time: a run that waits on memory costs more time per instruction (see
docs/performance.md). They are the figure to compare two versions of the code by on a loaded
machine; the time figures of :mod:`bench.bench_compose` are the figures of the issue.

Needs ``valgrind`` (Debian package) on the PATH; takes a few minutes per history (the
interpreter runs ~50x slower under callgrind; importing LangChain dominates).
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import operator
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

#: C functions of the interpreter that drive one agent each (none is used by LangChain,
#: LangGraph, pydantic or this package on a run's path: a nested call would toggle off;
#: ``iter(callable, sentinel)`` is, and was dropped for that).
_DRIVERS: list[tuple[str, Callable[[Callable[[], Any], int], Any]]] = [
    ("functools_reduce", lambda fn, n: functools.reduce(lambda a, _: (fn(), a)[1], range(n), 0)),
    (
        "takewhile_next",
        lambda fn, n: list(itertools.takewhile(lambda i: (fn(), True)[1], range(n))),
    ),
    (
        "dropwhile_next",
        lambda fn, n: list(itertools.dropwhile(lambda i: (fn(), True)[1], range(n))),
    ),
    (
        "filterfalse_next",
        lambda fn, n: list(itertools.filterfalse(lambda i: (fn(), True)[1], range(n))),
    ),
    (
        "starmap_next",
        lambda fn, n: list(itertools.starmap(lambda: fn(), itertools.repeat((), n))),
    ),
    (
        "methodcaller_call",
        lambda fn, n: list(map(operator.methodcaller("__call__"), itertools.repeat(fn, n))),
    ),
]


def _agents(turns: int, commit: str | None) -> dict[str, Callable[[], Any]]:
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage

    from bench.bench_compose import _history, _model, _six, _stack_builds, noop

    builds = _stack_builds()
    chosen = {label: builds[label] for label in ("ours5", "ours6", "lc5", "lc6")}
    if commit:
        import importlib

        from bench.ab_compose import load_old

        old = load_old(commit)
        compose_old = importlib.import_module("guardrails_old.compose").compose

        def agent(middleware: list[Any]) -> Any:
            return create_agent(_model(), tools=[noop], middleware=middleware)

        chosen["old5"] = lambda: agent([compose_old(*_six(old, False))])
        chosen["old6"] = lambda: agent([compose_old(*_six(old, True))])
    payload = {"messages": [*_history(turns), HumanMessage("mail jane@example.com: go")]}
    out: dict[str, Callable[[], Any]] = {}
    for label, build in chosen.items():
        built = build()
        out[label] = functools.partial(built.invoke, payload)
    return out


def _child(turns: int, runs: int, commit: str | None, mapping: str) -> None:
    """Inside valgrind: warm every agent up, then run each inside its driver."""
    agents = _agents(turns, commit)
    assert len(agents) <= len(_DRIVERS)
    for fn in agents.values():
        for _ in range(5):
            fn()
    gc.collect()
    with open(mapping, "w", encoding="utf-8") as f:
        for (driver, _), label in zip(_DRIVERS, agents, strict=False):
            f.write(f"{driver}\t{label}\n")
    for (_, drive), fn in zip(_DRIVERS, agents.values(), strict=False):
        drive(fn, runs)


def _count(turns: int, runs: int, commit: str | None) -> dict[str, float]:
    folder = tempfile.mkdtemp(prefix="bench_instructions_")
    out, mapping = os.path.join(folder, "callgrind.out"), os.path.join(folder, "drivers.tsv")
    toggles = [f"--toggle-collect={driver}" for driver, _ in _DRIVERS]
    child = [sys.executable, "-m", "bench.instructions", "--child", mapping]
    child += ["--turns", str(turns), "--runs", str(runs)]
    if commit:
        child += ["--commit", commit]
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--collect-atstart=no", *toggles,
         f"--callgrind-out-file={out}", *child],
        check=True,
        capture_output=True,
    )  # fmt: skip
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", out], check=True, capture_output=True, text=True
    ).stdout
    per_run: dict[str, float] = {}
    with open(mapping, encoding="utf-8") as f:
        for line in f:
            driver, label = line.rstrip("\n").split("\t")
            match = re.search(rf"^\s*([\d,]+).*[ :]{driver}\b", annotated, re.M)
            if match:
                per_run[label] = int(match.group(1).replace(",", "")) / runs
    return per_run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--turns", type=int, nargs="*", default=[0, 40])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--commit", default=None, help="an older commit to count beside")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.turns[0], args.runs, args.commit, args.child)
        return
    for turns in args.turns:
        n = _count(turns, args.runs, args.commit)
        history = f"{turns}-turn history" if turns else "short history (3 messages)"
        lc_pii = n["lc6"] - n["lc5"]
        print(f"{history}, sync, instructions per run (2 model calls, 1 tool call):")
        for label, value in n.items():
            print(f"  {label:<6} {value:>14,.0f}")
        sides = [("ours", "ours5", "ours6")]
        if "old6" in n:
            sides.insert(0, ("old", "old5", "old6"))
        for side, five, six in sides:
            pii = n[six] - n[five]
            print(
                f"  {side}: PII inside the stack {pii:,.0f} = {pii / lc_pii:.3f}x LangChain's "
                f"({lc_pii:,.0f}); six {n[six]:,.0f} vs LangChain's six {n['lc6']:,.0f}"
            )


if __name__ == "__main__":
    main()
