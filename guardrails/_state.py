"""Graph-state building blocks shared by the guardrails that keep counters in state.

* :func:`merge_counts` — reducer for ``dict[str, int]`` channels: each middleware instance writes
  only its own key, so several instances never clobber each other, and parallel tool calls that
  write the same absolute value for a key are idempotent.
* :class:`RunScoped` — a channel like LangGraph's ``UntrackedValue`` (never checkpointed, so it
  starts empty on every invocation: that is what makes a "run" count reset), but merging several
  updates per step with :func:`merge_counts` instead of refusing them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from langchain.agents.middleware import AgentState
from langchain.agents.middleware.types import PrivateStateAttr
from langgraph.channels.untracked_value import UntrackedValue
from typing_extensions import NotRequired

__all__ = ["END_KEY", "EndState", "RunScoped", "ended", "merge_counts", "state_get"]

#: Run-scoped state key where a tool-side guardrail asks the next model call to end the run.
END_KEY = "guardrails_end"


def merge_counts(left: Mapping[str, Any] | None, right: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge two dicts, the right side winning per key."""
    merged = dict(left or {})
    merged.update(right or {})
    return merged


class RunScoped(UntrackedValue[dict[str, Any]]):
    """A dict channel that lives for one invocation and merges updates key by key."""

    def __init__(self, typ: Any = dict, guard: bool = False) -> None:
        super().__init__(typ, guard=False)

    def __eq__(self, value: object) -> bool:
        return isinstance(value, RunScoped)

    __hash__ = UntrackedValue.__hash__

    def update(self, values: Sequence[dict[str, Any]]) -> bool:
        if not values:
            return False
        current: dict[str, Any] = {} if not self.is_available() else dict(self.value)
        for value in values:
            current = merge_counts(current, value)
        self.value = current
        return True


class EndState(AgentState[Any]):
    """State with the run-scoped "end requested" channel (name -> final message)."""

    guardrails_end: NotRequired[Annotated[dict[str, str], PrivateStateAttr, RunScoped()]]


def state_get(state: Any, key: str) -> Any:
    """``state[key]`` for dict or object states, ``None`` when absent."""
    if isinstance(state, Mapping):
        return state.get(key)
    return getattr(state, key, None)


def ended(state: Any, name: str) -> str | None:
    """The final message a tool-side guardrail named ``name`` left for this run, if any."""
    value = (state_get(state, END_KEY) or {}).get(name)
    return str(value) if value else None
