"""Promises of the filesystem guardrail found by the seed-81 mutation sample (issue 29, round 8)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from deepagents.backends import FilesystemBackend
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.errors import GuardrailConfigError
from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import tool

RULES = [FilesystemPermission(operations=["read", "write"], paths=["/workspace/**"])]


@pytest.mark.parametrize("value", ["false", "no", "", "detect", 2, 0.5, [], "True"])
def test_a_case_insensitive_that_is_not_a_bool_or_none_is_refused_at_construction(
    value: Any,
) -> None:
    """``case_insensitive="false"`` would read as true (case-insensitive matching, where a
    deny rule written for ``/Secrets`` would also hold ``/secrets``, and an allow rule would
    open both): a value other than True, False or None is refused, naming the setting and the
    values it takes."""
    with pytest.raises(GuardrailConfigError, match="case_insensitive") as raised:
        FilesystemPermissionMiddleware(rules=RULES, default="deny", case_insensitive=value)
    assert "True, False or None" in str(raised.value)


@pytest.mark.parametrize("value", [None, True, False])
def test_a_case_insensitive_of_true_false_or_none_is_taken(value: bool | None) -> None:
    jail = FilesystemPermissionMiddleware(rules=RULES, default="deny", case_insensitive=value)
    assert jail.decide("read", "/workspace/a.txt") == "allow"
    assert jail.decide("read", "/etc/passwd") == "deny"


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("with_backend", [False, True], ids=["no-backend", "backend"])
@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/workspace/a.txt", "Error: read_file is not a valid tool"),
        ("/etc/passwd", "Error: permission denied for read on /etc/passwd"),
    ],
    ids=["allowed", "denied"],
)
def test_a_file_tool_the_agent_was_not_given_is_answered_not_crashed(
    tmp_path: Path, asynchronous: bool, with_backend: bool, path: str, answer: str
) -> None:
    """A model that calls ``read_file`` in an agent without file tools gets ToolNode's answer
    (not a valid tool) or, for a path the rules deny, the refusal; the run goes on to the
    model's answer, it does not end in a configuration error."""
    backend = FilesystemBackend(root_dir=str(tmp_path), virtual_mode=True) if with_backend else None
    jail = FilesystemPermissionMiddleware(RULES, default="deny", backend=backend)
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("read_file", {"file_path": path})]),
            "done",
        ]
    )
    agent = create_agent(model, tools=[weather], middleware=[jail])
    state = {"messages": [("user", "read it")]}
    out = asyncio.run(agent.ainvoke(state)) if asynchronous else agent.invoke(state)
    said = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert len(said) == 1 and str(said[0]).startswith(answer)
    assert out["messages"][-1].content == "done"
