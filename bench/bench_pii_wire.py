"""PII coverage costs: one model call on a 40-turn history (every string scanned on every
call, keyed by content), and how long a 1 MB message or 150 messages of 7.8 KB block the event
loop in async.

Run: ``python -m bench pii_wire``. Uses only public API, so the same file measures an older
checkout (``PYTHONPATH=<old checkout> python -m bench pii_wire``) for a before/after figure.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import PIIMiddleware as LCPIIMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from bench.common import Row
from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel

TYPES = ["email", "credit_card"]
WIDE = ["email", "phone", "credit_card", "us_ssn"]


def _history(turns: int) -> list[Any]:
    out: list[Any] = []
    for i in range(turns):
        out.append(HumanMessage(f"turn {i}: please look up the order of customer number {i}"))
        call = {"name": "lookup", "args": {"q": f"order {i}", "n": i}, "id": f"c{i}"}
        out.append(AIMessage("", tool_calls=[{**call, "type": "tool_call"}]))
        out.append(
            ToolMessage(f"order {i}: shipped, 3 items, tracking ZX{i:06d}", tool_call_id=f"c{i}")
        )
        out.append(AIMessage(f"Order {i} has shipped; tracking number ZX{i:06d}."))
    return out


def _per_call_us(stacks: dict[str, list[Any]], turns: int, number: int) -> dict[str, float]:
    """Microseconds per agent call for each stack: the best of 5 interleaved rounds (the
    machine is shared; the minimum is the least disturbed figure)."""
    history = _history(turns)
    agents = {
        name: create_agent(ScriptedChatModel(default="ok", record=False), middleware=mw)
        for name, mw in stacks.items()
    }
    for agent in agents.values():
        agent.invoke({"messages": [*history, HumanMessage("warm up")]})
    best = dict.fromkeys(stacks, float("inf"))
    for _ in range(5):
        for name, agent in agents.items():
            start = time.perf_counter()
            for n in range(number):
                agent.invoke({"messages": [*history, HumanMessage(f"new question {n}")]})
            best[name] = min(best[name], (time.perf_counter() - start) / number * 1e6)
    return best


def _many_texts(count: int, size: int) -> list[Any]:
    """``count`` distinct chat messages of ``size`` characters with numbers throughout."""
    import random

    rng = random.Random(23)
    words = [
        "the",
        "report",
        "shows",
        "that",
        "our",
        "team",
        "met",
        "on",
        "site",
        "with",
        "client",
        "about",
        "the",
        "order",
    ]
    out: list[Any] = []
    for i in range(count):
        parts: list[str] = []
        length = 0
        while length < size - 40:
            piece = rng.choice(words) if rng.random() < 0.85 else str(rng.randint(0, 10**8))
            parts.append(piece)
            length += len(piece) + 1
        text = f"{' '.join(parts)} mail u{i}@example.com"
        out.append(HumanMessage(text) if i % 2 == 0 else AIMessage(text))
    return out


def _loop_block_ms(messages: list[Any], middleware: list[Any]) -> float:
    """The longest the event loop went without a turn during one ``ainvoke``, in ms of CPU
    time (wall time on a shared machine adds whatever other processes ran)."""
    agent = create_agent(ScriptedChatModel(default="ok", record=False), middleware=middleware)

    async def main() -> float:
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.process_time()
            while not done.is_set():
                await asyncio.sleep(0.001)
                now = time.process_time()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        try:
            await agent.ainvoke({"messages": messages})
        finally:
            done.set()
            await task
        return max(gaps) * 1000

    return round(asyncio.run(main()), 1)


def run(quick: bool = False) -> list[Row]:
    number = 2 if quick else 10
    turns = 40
    cost = _per_call_us(
        {
            "bare": [],
            "ours": [PIIMiddleware(TYPES)],
            "theirs": [LCPIIMiddleware("email"), LCPIIMiddleware("credit_card")],
        },
        turns,
        number,
    )
    one = ("lorem ipsum dolor sit amet, 4111 " * 32_000)[:1_000_000] + " jane@example.com"
    many = _many_texts(150, 7_800)
    return [
        Row(
            "pii",
            f"one model call, {turns}-turn history ({turns * 4} messages), every string scanned",
            max(cost["ours"] - cost["bare"], 0.0),
            max(cost["theirs"] - cost["bare"], 0.0),
            "us",
            note="LangChain scans only the last user message",
        ),
        Row(
            "pii",
            "event loop blocked by a 1 MB message (async, CPU ms); without the middleware: "
            f"{_loop_block_ms([HumanMessage(one)], [])}",
            _loop_block_ms([HumanMessage(one)], [PIIMiddleware(TYPES)]),
            None,
            "ms",
        ),
        Row(
            "pii",
            "event loop blocked by 150 messages of 7.8 KB (async, CPU ms); without the "
            f"middleware: {_loop_block_ms(many, [])}",
            _loop_block_ms(many, [PIIMiddleware(WIDE)]),
            None,
            "ms",
            note=f"types: {', '.join(WIDE)}",
        ),
    ]
