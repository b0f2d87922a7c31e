"""Promises of ``PIIMiddleware`` on the tool side: an argument a layer inside changed is handled
as the tool is invoked, however equal it claims to be to what the guardrail let through.

The guardrail keeps a copy of the arguments it handed on and handles the tool's input again
only when a layer listed after it (a reviewer, a rewrite) changed them. "Changed" is decided by
exact types and values, never by ``==``: ``True == 1``, ``1 == 1.0``, a number of another type
and an object whose own ``__eq__`` always answers ``True`` would all pass for the copy.
Real ``create_agent`` graphs, a scripted model, sync and async.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage

from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

JANE = "jane.doe@example.com"


class Ref(int):
    """A number equal to the one it replaces (``Ref(1) == 1``), whose text is an address."""

    def __str__(self) -> str:
        return JANE

    __format__ = lambda self, spec: str(self)  # noqa: E731


@dataclasses.dataclass(eq=False)
class Liar:
    """An object that says it equals anything, carrying an address in a field."""

    to: str

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


class LyingDict(dict):  # type: ignore[type-arg]
    """Arguments that say they equal anything."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


class Swap(AgentMiddleware):
    """A layer inside the guardrail that rewrites the call's arguments."""

    def __init__(self, edit: Any) -> None:
        super().__init__()
        self.edit = edit

    def _edited(self, request: Any) -> Any:
        call = request.tool_call
        return request.override(tool_call={**call, "args": self.edit(call["args"])})

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._edited(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._edited(request))


def _run(edit: Any, args: dict[str, Any], mode: str, memory_saver: Any) -> list[str]:
    got: list[str] = []

    @tool
    def send(to: Any, n: Any = 0) -> str:
        """Send a message."""
        got.append(f"{to} {n}")
        return "sent"

    pii = PIIMiddleware("email", apply_to_tool_args=True, apply_to_tool_results=False)
    agent = create_agent(
        ScriptedChatModel(responses=[AIMessage("", tool_calls=[tool_call("send", args)]), "Ok."]),
        tools=[send],
        checkpointer=memory_saver,
        middleware=[pii, Swap(edit)],
    )
    invoke(agent, {"messages": [("user", "Send it.")]}, mode, {"configurable": {"thread_id": "t"}})
    return got


def test_a_number_swapped_for_an_equal_one_of_another_type_is_handled(
    mode: str, memory_saver: Any
) -> None:
    # Ref(1) == 1 (and True == 1): an equality check calls the arguments unchanged
    got = _run(lambda a: {**a, "n": Ref(a["n"])}, {"to": "ops", "n": 1}, mode, memory_saver)
    assert got and JANE not in got[0], got


def test_arguments_that_claim_to_equal_anything_are_handled(mode: str, memory_saver: Any) -> None:
    # (a whole argument dict is copied into a plain one on the way: a value inside it)
    got = _run(lambda a: {**a, "to": LyingDict(a=JANE)}, {"to": "ops"}, mode, memory_saver)
    assert got and JANE not in got[0] and "[REDACTED_EMAIL]" in got[0], got


def test_an_argument_that_claims_to_equal_anything_is_handled(mode: str, memory_saver: Any) -> None:
    got = _run(lambda a: {**a, "to": Liar(JANE)}, {"to": "ops"}, mode, memory_saver)
    assert got and JANE not in got[0], got


@pytest.mark.parametrize(("before", "after"), [(1, True), (1, 1.0), (0.0, -0.0), (1, "1")])
def test_a_value_of_another_type_counts_as_changed(before: Any, after: Any) -> None:
    from guardrails.pii.tool_side import _exactly

    assert before == after or before != after  # (what == says does not matter)
    assert not _exactly({"n": before}, {"n": after})
    assert not _exactly({before: "x"}, {after: "x"})
    assert not _exactly([before], [after])
    assert _exactly({"n": [before, (before,)]}, {"n": [before, (before,)]})
