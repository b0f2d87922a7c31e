"""Where one model call's PII microseconds go, part by part, on the request and the model
node's own handler captured from a real ``create_agent`` run (``PIIMiddleware("email")``
innermost, the bench's history).

``python -m bench.call_parts [--turns 40] [--number 2000]``

Each part is timed alone in a loop (CPU time of the thread, best of 7 repeats): the parts are
small enough that a whole-agent figure cannot show them, and the loop keeps them hot in the
CPU's caches, so inside an agent run (where LangGraph walks other memory between two of them)
each costs more than here; the last lines give the whole call with and without the guardrail
(its in-situ cost) beside the sum.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import HumanMessage

import guardrails.pii.lasthop as lh
from bench.bench_compose import _history, _model, noop
from guardrails._core import _ENCLOSING, _enter
from guardrails.pii.middleware import PIIMiddleware
from guardrails.pii.writeback import write_back


def _capture(turns: int) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    class Capture(PIIMiddleware):
        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            seen["request"], seen["handler"] = request, handler
            return super().wrap_model_call(request, handler)

    params, first = lh.LastHop.params, lh.LastHop.first_request

    def record_params(self: Any, p: dict[str, Any]) -> Any:
        seen["params"], seen["hop"] = p, self
        return params(self, p)

    def record_first(self: Any, *args: Any) -> Any:
        seen["first"] = args
        return first(self, *args)

    lh.LastHop.params = record_params  # type: ignore[method-assign]
    lh.LastHop.first_request = record_first  # type: ignore[method-assign]
    try:
        pii = Capture("email")
        agent = create_agent(_model(), tools=[noop], middleware=[pii])
        payload = {"messages": [*_history(turns), HumanMessage("mail jane@example.com: go")]}
        agent.invoke(payload)
        agent.invoke(payload)  # the second run's second call: every message seen before
    finally:
        lh.LastHop.params, lh.LastHop.first_request = params, first  # type: ignore[method-assign]
    seen["pii"] = pii
    return seen


def _time(fn: Callable[[], Any], number: int) -> float:
    for _ in range(min(number, 100)):
        fn()
    gc.collect()
    best = float("inf")
    for _ in range(7):
        start = time.thread_time_ns()
        for _ in range(number):
            fn()
        best = min(best, (time.thread_time_ns() - start) / number / 1e3)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.call_parts")
    parser.add_argument("--turns", type=int, default=0)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()
    seen = _capture(args.turns)
    request, handler, hop, pii = seen["request"], seen["handler"], seen["hop"], seen["pii"]
    messages, kwargs, model, _, run_manager = seen["first"]
    guard = hop.guards[0]  # the call's own guard (the write-back reuses its pass)
    original = list(request.messages)

    def first_request_proven() -> Any:
        hop.proven = list(messages)
        return hop.first_request(messages, kwargs, model, None, run_manager)

    def handed() -> Any:
        guard.handed = original
        hop.guards[:] = [guard]
        hop.bound = True
        return hop.observed(original, True)

    def enter() -> None:
        _ENCLOSING.reset(_enter(pii, "model", request))

    view = lh.guarded(request.model, lh.LastHop())
    parts: list[tuple[str, Callable[[], Any]]] = [
        (
            "own pass: scan.messages(request.messages)",
            lambda: guard.scan("input").messages(original),
        ),
        ("a Scan object (guard.scan)", lambda: guard.scan("input")),
        ("report of a clean scan", lambda: guard.scan("input").report()),
        ("the guard (pii._guard)", lambda: pii._guard(request.runtime, [])),
        ("the guarded view (guarded)", lambda: lh.guarded(request.model, lh.LastHop())),
        ("request.override(model=...)", lambda: request.override(model=view)),
        (
            "write_back, nothing changed",
            lambda: write_back(request.state, original, hop, guard, list(original), None),
        ),
        ("_enter / reset (nesting check)", enter),
        ("callbacks' view, handed over (observed)", handed),
        ("invocation parameters (params)", lambda: hop.params(seen["params"])),
        ("provider-side pass, proven (first_request)", first_request_proven),
        (
            "provider-side pass, a full walk",
            lambda: hop.first_request(messages, kwargs, model, None, None),
        ),
    ]
    print(
        f"{args.turns} turns ({len(original)} messages), CPU us of the thread, "
        f"best of 7 x {args.number}:"
    )
    for name, fn in parts:
        print(f"  {name:<48} {_time(fn, args.number):8.2f}")
    whole = max(args.number // 10, 50)
    node = _time(lambda: handler(request), whole)
    guarded_call = _time(lambda: PIIMiddleware.wrap_model_call(pii, request, handler), whole)
    print(
        f"  the call: model node alone {node:,.0f}, with the guardrail {guarded_call:,.0f}: "
        f"adds {guarded_call - node:,.0f}"
    )


if __name__ == "__main__":
    main()
