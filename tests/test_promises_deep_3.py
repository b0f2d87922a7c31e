"""Promises of ``guardrails.deep.create_deep_agent`` behind the seed-13 survivors (issue 29,
round 5): a drop-in for deepagents' own function. Without a PII guardrail the summarization sits
where deepagents puts it (the guardrails see the history as deepagents would hand it to any
middleware), and the general-purpose subagent gets the ``skills=`` deepagents would give it.

Real deep agents with scripted models, compared against deepagents' own ``create_deep_agent``
built the same way; sync and async.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import FilesystemBackend  # noqa: E402

from guardrails.deep import GENERAL_PURPOSE, create_deep_agent  # noqa: E402


class Spy(AgentMiddleware):  # type: ignore[type-arg]
    """A guardrail that records how many messages each model request it wraps holds."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    @property
    def name(self) -> str:
        return "spy"

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        self.sizes.append(len(request.messages))
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        self.sizes.append(len(request.messages))
        return await handler(request)


def _long_history() -> list[tuple[str, str]]:
    return [("user", f"note {i}: order {i} shipped. " + "lorem ipsum " * 120) for i in range(30)]


def test_without_a_pii_guardrail_the_summarization_sits_where_deepagents_puts_it(
    tmp_path: Path, mode: str
) -> None:
    """A long history is summarized before deepagents hands it on: a guardrail (no PII one in
    the list) sees the same, shorter, request through ``guardrails.deep`` as a middleware sees
    through deepagents' own function. Moving the summarization behind the guardrails is for a
    PII guardrail only (so the summarizer gets handled values)."""
    sizes: dict[str, list[int]] = {}
    for build in ("ours", "theirs"):
        spy = Spy()
        model = ScriptedChatModel(default="ok, noted", profile={"max_input_tokens": 16000})
        backend = FilesystemBackend(root_dir=tmp_path / build, virtual_mode=True)
        if build == "ours":
            agent = create_deep_agent(
                model, guardrails=[spy], backend=backend, checkpointer=InMemorySaver()
            )
        else:
            agent = deepagents.create_deep_agent(
                model, middleware=[spy], backend=backend, checkpointer=InMemorySaver()
            )
        config = {"configurable": {"thread_id": f"{build}-{mode}-{uuid.uuid4().hex}"}}
        invoke(agent, {"messages": _long_history()}, mode, config=config)
        sizes[build] = spy.sizes
    assert sizes["theirs"] and max(sizes["theirs"]) < 30  # deepagents did summarize first
    assert sizes["ours"] == sizes["theirs"]


def _system(request: dict[str, Any]) -> str:
    return " ".join(str(m.content) for m in request["messages"] if isinstance(m, SystemMessage))


def test_the_general_purpose_subagent_gets_the_skills_deepagents_gives_it(
    tmp_path: Path, mode: str
) -> None:
    """``skills=[...]``: deepagents lists the skills in its general-purpose subagent's prompt;
    the one ``guardrails.deep`` supplies (carrying the guardrails) lists them too."""
    skill = tmp_path / "skills" / "invoice-audit"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: invoice-audit\ndescription: Audits supplier invoices line by line.\n---\n\n"
        "# Invoice audit\n\nCheck every line.\n"
    )
    task = AIMessage("", tool_calls=[tool_call(
        "task", {"description": "audit it", "subagent_type": GENERAL_PURPOSE})])  # fmt: skip
    model = ScriptedChatModel(responses=[task, "gp done", "done"])
    agent = create_deep_agent(
        model,
        guardrails=[Spy()],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        skills=["/skills/"],
    )
    invoke(agent, {"messages": [("user", "Audit the invoice.")]}, mode)
    gp_prompt = _system(model.requests[1])
    assert "invoice-audit" in gp_prompt and "Audits supplier invoices" in gp_prompt
