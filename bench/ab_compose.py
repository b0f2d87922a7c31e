"""Before / after in one process: the PII-in-the-stack and six-guardrail figures of
:mod:`bench.bench_compose` for this package and for an older commit of it, loaded side by
side, every agent (both stacks, LangChain's, the bare agent) measured in every round.

``python -m bench.ab_compose --commit 660db66 [--rounds 60] [--turns 0 40] [--modes sync
async]``

The older ``guardrails/`` is exported with ``git archive`` into a temporary folder and renamed
``guardrails_old`` (its imports rewritten), so both import in one interpreter. Figures are CPU
us per run (two model calls and one tool call) added over the bare agent in the same round;
a ratio is the ratio of the medians (:func:`bench.bench_compose.ratio_of_medians`).
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from typing import Any

from langchain.agents import create_agent
from langchain.agents import middleware as lc
from langchain_core.messages import HumanMessage

from bench.bench_compose import _fmt, _history, _model, _six, noop, ratio_of_medians
from bench.common import interleaved_rounds


def load_old(commit: str) -> Any:
    """``guardrails`` as of ``commit``, importable as ``guardrails_old``."""
    root = tempfile.mkdtemp(prefix="guardrails_old_")
    raw = subprocess.run(
        ["git", "archive", commit, "guardrails"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        tar.extractall(root, filter="data")
    pkg = os.path.join(root, "guardrails_old")
    os.rename(os.path.join(root, "guardrails"), pkg)
    pattern = re.compile(r'(\bfrom guardrails(?=[. ])|\bimport guardrails\b|"guardrails\.)')
    for folder, _, files in os.walk(pkg):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                text = pattern.sub(
                    lambda m: m.group(0).replace("guardrails", "guardrails_old"), text
                )
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    sys.path.insert(0, root)
    return importlib.import_module("guardrails_old")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_compose")
    parser.add_argument("--commit", required=True)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--turns", type=int, nargs="*", default=[0, 40])
    parser.add_argument("--modes", nargs="*", default=["sync", "async"])
    args = parser.parse_args()
    import guardrails as new

    old = load_old(args.commit)
    compose_old = importlib.import_module("guardrails_old.compose").compose
    compose_new = importlib.import_module("guardrails.compose").compose

    def agent(middleware: list[Any]) -> Any:
        return create_agent(_model(), tools=[noop], middleware=middleware)

    builds = {
        "bare": lambda: agent([]),
        "old5": lambda: agent([compose_old(*_six(old, False))]),
        "old6": lambda: agent([compose_old(*_six(old, True))]),
        "new5": lambda: agent([compose_new(*_six(new, False))]),
        "new6": lambda: agent([compose_new(*_six(new, True))]),
        "lc5": lambda: agent(_six(lc, False)),
        "lc6": lambda: agent(_six(lc, True)),
    }
    for n in args.turns:
        payload = {"messages": [*_history(n), HumanMessage("mail jane@example.com: go")]}
        for mode in args.modes:
            r = interleaved_rounds(builds, payload, mode=mode, rounds=args.rounds, number=1)
            added = r.added

            def inside(six: str, five: str, added: Any = added) -> list[float]:
                return [a - b for a, b in zip(added(six), added(five), strict=True)]

            lc_in = inside("lc6", "lc5")
            print(
                f"{n} turns, {mode}, {args.rounds} rounds, load {r.load[0]:.1f}-{r.load[1]:.1f}: "
                f"PII inside the stack old {_fmt(ratio_of_medians(inside('old6', 'old5'), lc_in))}"
                f" new {_fmt(ratio_of_medians(inside('new6', 'new5'), lc_in))}; six composed "
                f"old {_fmt(ratio_of_medians(added('old6'), added('lc6')))}"
                f" new {_fmt(ratio_of_medians(added('new6'), added('lc6')))}",
                flush=True,
            )


if __name__ == "__main__":
    main()
