"""Promise of ``tool_paths`` tools that take several paths (issue 29, round 9: a survivor of the
filesystem split's sample, ``_rewrite``'s counter left at its first path).

Each path a ``tool_paths`` argument holds (a list, a tuple, a dict of paths, nested) is judged
on its own and handed to the tool in its canonical form, **in its own place**: the tool runs on
exactly the files that were judged, in the order it was given them, never on one judged path
repeated. Through a real ``create_agent`` graph with a scripted model, sync and async.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.filesystem import FilesystemPermission as P
from guardrails.filesystem import FilesystemPermissionMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

received: list[Any] = []


@tool
def bundle(paths: list[str]) -> str:
    """Bundle several files."""
    received.append(paths)
    return "bundled"


@tool
def sync_pairs(pairs: dict[str, str]) -> str:
    """Copy each key's file to its value's place."""
    received.append(pairs)
    return "synced"


def _run(mode: str, name: str, args: dict[str, Any], tool_paths: dict[str, Any]) -> str:
    received.clear()
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/**"])], default="deny", tool_paths=tool_paths
    )
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=[tool_call(name, args)]), "done"])
    agent = create_agent(model, tools=[bundle, sync_pairs], middleware=[jail])
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    return next(str(m.content) for m in out["messages"] if isinstance(m, ToolMessage))


def test_each_path_of_a_list_reaches_the_tool_canonical_and_in_its_place(mode: str) -> None:
    given = ["/workspace/a.txt", "/workspace/sub/../b.txt", "//workspace/./c.txt"]
    answer = _run(mode, "bundle", {"paths": given}, {"bundle": {"paths": "read"}})
    assert answer == "bundled"
    assert received == [["/workspace/a.txt", "/workspace/b.txt", "/workspace/c.txt"]]


def test_each_path_of_a_dict_reaches_the_tool_canonical_and_in_its_place(mode: str) -> None:
    given = {"one": "/workspace/x/../one.txt", "two": "/workspace//two.txt"}
    answer = _run(mode, "sync_pairs", {"pairs": given}, {"sync_pairs": {"pairs": "write"}})
    assert answer == "synced"
    assert received == [{"one": "/workspace/one.txt", "two": "/workspace/two.txt"}]


def test_one_path_outside_refuses_the_whole_call(mode: str) -> None:
    given = ["/workspace/a.txt", "/workspace/../etc/passwd"]
    answer = _run(mode, "bundle", {"paths": given}, {"bundle": {"paths": "read"}})
    assert "permission denied for read on /etc/passwd" in answer
    assert received == []
