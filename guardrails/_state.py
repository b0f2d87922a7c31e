"""Graph-state building blocks shared by the guardrails that keep counters in state.

* :func:`merge_counts` — reducer for ``dict[str, int]`` channels: each middleware instance writes
  only its own key, so several instances never clobber each other, and parallel tool calls that
  write the same absolute value for a key are idempotent.
* :class:`RunScoped` — a channel like LangGraph's ``UntrackedValue`` (never checkpointed, so it
  starts empty on every invocation: that is what makes a "run" count reset), but merging several
  updates per step with :func:`merge_counts` instead of refusing them.
* "End the run": a tool-side guardrail cannot stop the agent loop by itself; it leaves a final
  message under :data:`END_KEY` (:func:`end_run`) and its model hook answers the next model call
  with it (:func:`end_or_call`).
* :func:`tool_batch` — the tool calls of the AI message a tool call belongs to, and its place.
* :func:`with_update` — the same ``Command`` with a changed state update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from langchain.agents.middleware import AgentState
from langchain.agents.middleware.types import PrivateStateAttr
from langchain_core.messages import AIMessage
from langgraph.channels.untracked_value import UntrackedValue
from langgraph.types import Command
from typing_extensions import NotRequired

from guardrails._core import Call, Flow

__all__ = [
    "END_KEY",
    "EndState",
    "RunScoped",
    "counts",
    "end_or_call",
    "end_run",
    "ended",
    "merge_counts",
    "state_get",
    "tool_batch",
    "with_update",
]

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


def end_run(name: str, text: str) -> dict[str, dict[str, str]]:
    """The state update with which a tool-side guardrail ``name`` asks to end the run with ``text``.

    Its state schema must include :class:`EndState`; its model hook calls :func:`end_or_call`.
    """
    return {END_KEY: {name: text}}


def end_or_call(request: Any, name: str) -> Flow[Any]:
    """Model-hook flow: answer with the final message ``name`` left, else call the model."""
    final = ended(request.state, name)
    if final:
        return AIMessage(content=final)
    return (yield Call(request))


def counts(state: Any, key: str) -> Mapping[str, int]:
    """The counter dict under ``key`` (each guardrail instance writes only its own key)."""
    return state_get(state, key) or {}


def tool_batch(request: Any) -> tuple[int, list[Mapping[str, Any]]]:
    """``(index, calls)``: the tool calls of the AI message ``request.tool_call`` belongs to.

    Found by the call's id in the latest AI message that has tool calls; a call that is not
    there (a tool run outside the agent loop) is a batch of one.
    """
    call = request.tool_call
    call_id = call.get("id")
    for message in reversed(state_get(request.state, "messages") or []):
        if isinstance(message, AIMessage) and message.tool_calls:
            ids = [c.get("id") for c in message.tool_calls]
            if call_id in ids:
                return ids.index(call_id), list(message.tool_calls)
            break
    return 0, [call]


def with_update(
    command: Command[Any], change: Callable[[dict[str, Any]], dict[str, Any]]
) -> Command[Any]:
    """``command`` with its (mapping) update replaced by ``change(dict(update))``.

    Keeps ``graph``, ``goto`` and ``resume``. A command whose update is not a mapping is returned
    as it is.
    """
    if not isinstance(command.update, Mapping):
        return command
    return Command(
        graph=command.graph,
        goto=command.goto,
        resume=command.resume,
        update=change(dict(command.update)),
    )
