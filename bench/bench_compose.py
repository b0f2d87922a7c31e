"""compose(): cost of N pass-through guardrails listed separately vs composed, per agent run;
then issue 24's figures, each agent measured in every round: what PII adds alone and inside a
composed stack, what the six real guardrails (call limits, retries, fallback, PII) composed
add vs LangChain's six listed, and the floor of one pass-through hook pair; short (3
messages) and 40-turn (161 messages) histories, sync and async.

``python -m bench.bench_compose [--quick] [--rounds N] [--number N] [--turns 0 40] [--modes
sync async]`` runs the issue 24 rows alone."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents import middleware as lc
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

import guardrails as ours
from bench.common import Rounds, Row, compare_agents, interleaved_rounds
from guardrails._core import Call, Flow, ModelHook, ToolHook
from guardrails.compose import compose
from guardrails.testing import ScriptedChatModel, tool_call


@tool
def noop(x: int) -> int:
    """Return x."""
    return x


def _layer(i: int) -> AgentMiddleware[Any, Any, Any]:
    class PassThrough(ModelHook, ToolHook, AgentMiddleware):  # type: ignore[type-arg]
        @property
        def name(self) -> str:
            return f"pass{i}"

        def model_flow(self, request: Any) -> Flow[Any]:
            return (yield Call(request))

        def tool_flow(self, request: Any) -> Flow[Any]:
            return (yield Call(request))

    return PassThrough()


def _model() -> ScriptedChatModel:
    """Two model calls and one tool call per run, for as many runs as asked."""

    def answer(messages: list[Any]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            return AIMessage("done")
        return AIMessage("", tool_calls=[tool_call("noop", {"x": 1})])

    return ScriptedChatModel(default=answer, record=False)


def _six(mod: Any, pii: bool) -> list[Any]:
    """The six built-in middleware (five without PII) of ``mod`` (LangChain's or ours), in the
    order our order rules ask for."""
    stack = [
        mod.ModelCallLimitMiddleware(run_limit=1000),
        mod.ToolCallLimitMiddleware(run_limit=1000),
        mod.ModelRetryMiddleware(),
        mod.ToolRetryMiddleware(),
        mod.ModelFallbackMiddleware(_model()),
    ]
    if pii:
        stack.append(mod.PIIMiddleware("email"))
    return stack


def _history(turns: int) -> list[Any]:
    out: list[Any] = []
    for i in range(turns):
        out.append(HumanMessage(f"turn {i}: please look up the order of customer number {i}"))
        call = {"name": "noop", "args": {"x": i}, "id": f"c{i}", "type": "tool_call"}
        out.append(AIMessage("", tool_calls=[call]))
        out.append(ToolMessage(f"order {i}: shipped, 3 items", tool_call_id=f"c{i}"))
        out.append(AIMessage(f"Order {i} has shipped."))
    return out


def _fmt(share: tuple[float, float, float]) -> str:
    mid, lo, hi = share
    return f"{mid:.2f}x ({lo:.2f}-{hi:.2f})"


def ratio_of_medians(
    ours: Sequence[float], theirs: Sequence[float], *, resamples: int = 400
) -> tuple[float, float, float]:
    """median(ours) / median(theirs) of per-round figures, with the 25th-75th percentiles of
    that ratio over rounds resampled with replacement (a bootstrap, fixed seed).

    Each figure is already a difference measured within one round (an agent minus the bare
    agent, a stack minus the same stack without PII): a per-round *ratio* of two such
    differences explodes whenever the denominator's round was disturbed, a ratio of the
    medians does not."""
    if not ours or statistics.median(theirs) <= 0:
        return float("nan"), float("nan"), float("nan")
    mid = statistics.median(ours) / statistics.median(theirs)
    rng = random.Random(24)
    n = len(ours)
    boot = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        den = statistics.median([theirs[i] for i in picks])
        if den > 0:
            boot.append(statistics.median([ours[i] for i in picks]) / den)
    if len(boot) < 4:
        return mid, mid, mid
    q = statistics.quantiles(boot, n=4)
    return mid, q[0], q[2]


def _stack_builds() -> dict[str, Any]:
    """The agents of :func:`_stacks`, measured interleaved in every round."""

    def agent(middleware: list[Any]) -> Any:
        return create_agent(_model(), tools=[noop], middleware=middleware)

    return {
        "bare": lambda: agent([]),
        "floor": lambda: agent([compose(_layer(0))]),
        "ours_pii": lambda: agent([ours.PIIMiddleware("email")]),
        "lc_pii": lambda: agent([lc.PIIMiddleware("email")]),
        "ours5": lambda: agent([compose(*_six(ours, False))]),
        "ours6": lambda: agent([compose(*_six(ours, True))]),
        "lc5": lambda: agent(_six(lc, False)),
        "lc6": lambda: agent(_six(lc, True)),
    }


def _stack_rows(r: Rounds, mode: str, history: str) -> list[Row]:
    """The four figures of issue 24, each per round (an agent minus the bare agent, or a
    stack minus the same stack without PII, in the same round): the median over rounds of
    ours and of theirs, and their ratio with its bootstrap spread (:func:`ratio_of_medians`)."""
    bare = r.added
    pii_in = [a - b for a, b in zip(bare("ours6"), bare("ours5"), strict=True)]
    lc_pii_in = [a - b for a, b in zip(bare("lc6"), bare("lc5"), strict=True)]
    floor, lc6 = bare("floor"), bare("lc6")

    def thread(label: str) -> list[float]:
        return r.added(label, clock="thread")

    figures = [
        ("PII (email) alone", bare("ours_pii"), bare("lc_pii"), "each listed alone"),
        ("PII (email) inside the stack", pii_in, lc_pii_in, "six minus five, each stack"),
        ("six guardrails with PII", bare("ours6"), lc6, "ours composed, LangChain's listed"),
        ("floor: one pass-through hook pair", floor, lc6, "vs LangChain's six"),
    ]
    load = f"load {r.load[0]:.1f}-{r.load[1]:.1f}"
    rows = []
    for what, ours_us, theirs_us, how in figures:
        share = ratio_of_medians(ours_us, theirs_us)
        main_thread: tuple[float, float, float] | None = None
        if what.startswith("PII (email) alone") and mode == "sync":
            main_thread = ratio_of_medians(
                r.added("ours_pii", clock="thread"), r.added("lc_pii", clock="thread")
            )
        elif what.startswith("PII (email) inside"):  # (what bench.instructions counts)
            main_thread = ratio_of_medians(
                [a - b for a, b in zip(thread("ours6"), thread("ours5"), strict=True)],
                [a - b for a, b in zip(thread("lc6"), thread("lc5"), strict=True)],
            )
        floor_share = ratio_of_medians(floor, lc6)[0]
        note = (
            f"{how}; ours/theirs {_fmt(share)} over {len(ours_us)} rounds"
            f"{'' if main_thread is None else f', main thread {_fmt(main_thread)}'}; "
            f"floor {statistics.median(floor):,.0f} us = {floor_share:.2f}x; {load}"
        )
        rows.append(
            Row(
                "compose",
                f"{what}, added us/run ({mode}, {history})",
                statistics.median(ours_us),
                statistics.median(theirs_us),
                "us/run",
                note=note,
                share=share[0],
            )
        )
    return rows


def _stacks(
    quick: bool,
    *,
    rounds: int = 0,
    number: int = 0,
    turns: tuple[int, ...] = (0, 40),
    modes: tuple[str, ...] = ("sync", "async"),
) -> list[Row]:
    """Issue 24's figures (items 1 and 4): what PII adds alone and inside a composed stack,
    what six guardrails composed add, beside LangChain's, and the one-hook-pair floor; short
    and 40-turn histories, sync and async. CPU time of the process, every agent measured in
    every round (:func:`~bench.common.interleaved_rounds`), one run per agent per round so
    that the agents compared are measured milliseconds apart; a ratio is the ratio of the
    medians of per-round figures, with its bootstrap 25th-75th percentiles."""
    rounds = rounds or (12 if quick else 120)
    number = number or 1
    rows: list[Row] = []
    for n in turns:
        payload = {"messages": [*_history(n), HumanMessage("mail jane@example.com: go")]}
        history = f"{n}-turn history" if n else "short history"
        for mode in modes:
            r = interleaved_rounds(
                _stack_builds(), payload, mode=mode, rounds=rounds, number=number
            )
            rows += _stack_rows(r, mode, history)
    return rows


def run(quick: bool = False) -> list[Row]:
    n = 6
    number, repeat = (10, 3) if quick else (40, 9)
    payload = {"messages": [("user", "go")]}
    rows: list[Row] = []
    for mode in ("sync", "async"):
        t = compare_agents(
            {
                "bare": lambda: create_agent(_model(), tools=[noop]),
                "separate": lambda: create_agent(
                    _model(), tools=[noop], middleware=[_layer(i) for i in range(n)]
                ),
                "composed": lambda: create_agent(
                    _model(), tools=[noop], middleware=[compose(*[_layer(i) for i in range(n)])]
                ),
            },
            payload,
            mode=mode,
            number=number,
            repeat=repeat,
        )
        rows.append(
            Row(
                "compose",
                f"{n} guardrails, added us/run ({mode})",
                t["composed"] - t["bare"],
                t["separate"] - t["bare"],
                "us/run",
                note="run = 2 model + 1 tool call; theirs = the same listed separately",
            )
        )
    rows.extend(_stacks(quick))
    return rows


if __name__ == "__main__":
    import argparse

    from bench.common import print_table

    parser = argparse.ArgumentParser(prog="python -m bench.bench_compose")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=0, help="rounds per row")
    parser.add_argument("--number", type=int, default=0, help="runs per agent per round")
    parser.add_argument("--turns", type=int, nargs="*", default=[0, 40])
    parser.add_argument("--modes", nargs="*", default=["sync", "async"])
    args = parser.parse_args()
    rows = _stacks(
        args.quick,
        rounds=args.rounds,
        number=args.number,
        turns=tuple(args.turns),
        modes=tuple(args.modes),
    )
    print_table(rows)
