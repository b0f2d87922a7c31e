"""One approval request for every tool call of a model turn that needs one.

A model turn may ask for several tool calls at once; LangGraph runs each as its own task. If each
call that needs approval raised its own ``interrupt``, several would be pending and the documented
resume (``Command(resume={"decisions": [...]})``, one value) would make LangGraph raise
``RuntimeError`` ("multiple pending interrupts"). So the calls of one turn that need approval form
a group (the same for every call: computed from the turn's ``AIMessage`` and the same rules); the
first of them asks once for all, with one action request per call in the group, in order; the
others do not interrupt: on the first run they stop without a value of their own, and on the
resume they take their decision from the one the first call received (same process: the tasks
of one step run together).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Group", "publish", "resume_pending", "wait_for"]

#: How long a call waits for the decision the first call of its group receives.
WAIT_SECONDS = 30.0
_KEEP_SECONDS = 600.0
_LOCK = threading.Lock()
_DECISIONS: dict[tuple[str, ...], tuple[float, list[Any] | None]] = {}


class Group:
    """The tool calls of one model turn that need approval, in order (``ids``), and their asks."""

    def __init__(self, ids: Sequence[str], requests: Sequence[Mapping[str, Any]]) -> None:
        self.ids = tuple(ids)
        self.requests = list(requests)

    def key(self) -> tuple[str, ...]:
        return self.ids

    def payload(self) -> dict[str, Any]:
        return {
            "action_requests": self.requests,
            "review_configs": [
                {"action_name": r["name"], "allowed_decisions": ["approve", "reject"]}
                for r in self.requests
            ],
        }


def publish(key: tuple[str, ...], decisions: list[Any] | None) -> None:
    """The first call's answer (None: a marker that it is resuming and will publish)."""
    now = time.monotonic()
    with _LOCK:
        for stale in [k for k, (t, _) in _DECISIONS.items() if now - t > _KEEP_SECONDS]:
            del _DECISIONS[stale]
        _DECISIONS[key] = (now, decisions)


def _ready(key: tuple[str, ...]) -> list[Any] | None:
    with _LOCK:
        found = _DECISIONS.get(key)
    return None if found is None else found[1]


def resume_pending() -> bool:
    """Whether this task runs on a resume carrying a value (LangGraph's null resume)."""
    from guardrails._adapters.langgraph import null_resume_pending

    return null_resume_pending()


def wait_for(key: tuple[str, ...]) -> Any:
    """A ``SyncAsync`` op: wait until the first call of the group published its decisions."""
    from guardrails._core import SyncAsync

    def sync() -> list[Any] | None:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = _ready(key)
            if found is not None:
                return found
            time.sleep(0.005)
        return None

    async def async_() -> list[Any] | None:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = _ready(key)
            if found is not None:
                return found
            await asyncio.sleep(0.005)
        return None

    return SyncAsync(sync, async_)
