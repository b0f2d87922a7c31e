"""Promises of ``guardrails.deep.create_deep_agent`` (issue 29, the deep survivors of the seed-7
sample and the careless edits around them): it is deepagents' ``create_deep_agent`` with the
guardrails in every subagent, so what the model sees (the subagent list, the general-purpose
subagent's description and prompt from the harness profile) is what deepagents would show; the
tools of the main agent and of every declarative subagent are checked against the guardrails at
construction; each guardrail is asked once to hold the setup; a setup it cannot build is refused
with a clear error, never run open.

Real deep agents with scripted models, sync and async where an agent runs.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, SystemMessage

from guardrails.errors import GuardrailConfigError
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import FilesystemBackend  # noqa: E402
from deepagents.profiles import (  # noqa: E402
    GeneralPurposeSubagentProfile,
    HarnessProfile,
    register_harness_profile,
)

from guardrails.deep import GENERAL_PURPOSE, create_deep_agent  # noqa: E402
from guardrails.filesystem import FilesystemPermission as P  # noqa: E402
from guardrails.filesystem import FilesystemPermissionMiddleware  # noqa: E402


class Counter(AgentMiddleware):  # type: ignore[type-arg]
    """A guardrail with the ``guard_deep_agent`` hook that counts how often it is asked."""

    def __init__(self, name: str = "counter") -> None:
        super().__init__()
        self._name = name
        self.asked = 0

    @property
    def name(self) -> str:
        return self._name

    def guard_deep_agent(self, setup: Any) -> None:
        self.asked += 1


def _task_description(model: ScriptedChatModel) -> str:
    for spec in model.requests[0].get("tools", []):
        if spec["function"]["name"] == "task":
            return str(spec["function"]["description"])
    raise AssertionError("the main model was not given the task tool")


def _system(request: dict[str, Any]) -> str:
    return " ".join(str(m.content) for m in request["messages"] if isinstance(m, SystemMessage))


SPECS = [
    {"name": "researcher", "description": "Looks things up.", "system_prompt": "Research."},
    {"name": "writer", "description": "Writes the report.", "system_prompt": "Write."},
]


# -- what the model sees is what deepagents shows ----------------------------------------------


def test_the_subagent_list_the_model_sees_is_deepagents_own(mode: str) -> None:
    """Same subagents, same order (general-purpose first), same descriptions as deepagents'
    ``create_deep_agent`` without guardrails: a drop-in, not a different menu."""
    ours = ScriptedChatModel(responses=["done"])
    theirs = ScriptedChatModel(responses=["done"])
    invoke(create_deep_agent(ours, guardrails=[Counter()], subagents=SPECS),
           {"messages": [("user", "hi")]}, mode)  # fmt: skip
    invoke(deepagents.create_deep_agent(model=theirs, subagents=SPECS),
           {"messages": [("user", "hi")]}, mode)  # fmt: skip
    mine = _task_description(ours)
    assert mine == _task_description(theirs)
    assert (
        mine.index(f"- {GENERAL_PURPOSE}:") < mine.index("- researcher:") < mine.index("- writer:")
    )


def _profile(**gp: Any) -> str:
    key = f"guardtest:deep-{uuid.uuid4().hex[:8]}"
    register_harness_profile(
        key, HarnessProfile(general_purpose_subagent=GeneralPurposeSubagentProfile(**gp))
    )
    return key


def test_the_general_purpose_subagent_keeps_the_harness_profiles_description_and_prompt(
    mode: str,
) -> None:
    key = _profile(description="GP-DESC-7731 for chores.", system_prompt="GP-PROMPT-7731.")
    task = AIMessage("", tool_calls=[tool_call(
        "task", {"description": "do it", "subagent_type": GENERAL_PURPOSE})])  # fmt: skip
    # the general-purpose subagent runs on the main model: request 0 is the main agent's,
    # request 1 the subagent's
    model = ScriptedChatModel(responses=[task, "gp done", "done"], model_name=key)
    counter = Counter()
    agent = create_deep_agent(model, guardrails=[counter], subagents=SPECS)
    invoke(agent, {"messages": [("user", "go")]}, mode)
    assert "GP-DESC-7731 for chores." in _task_description(model)
    assert "GP-PROMPT-7731." in _system(model.requests[1])
    theirs = ScriptedChatModel(responses=["done"], model_name=key)
    invoke(deepagents.create_deep_agent(model=theirs, subagents=SPECS),
           {"messages": [("user", "hi")]}, mode)  # fmt: skip
    assert _task_description(model) == _task_description(theirs)


def test_a_profile_that_turns_the_general_purpose_subagent_off_is_honoured(mode: str) -> None:
    key = _profile(enabled=False)
    model = ScriptedChatModel(responses=["done"], model_name=key)
    invoke(create_deep_agent(model, guardrails=[Counter()], subagents=SPECS),
           {"messages": [("user", "hi")]}, mode)  # fmt: skip
    description = _task_description(model)
    assert f"- {GENERAL_PURPOSE}:" not in description and "- researcher:" in description
    theirs = ScriptedChatModel(responses=["done"], model_name=key)
    invoke(deepagents.create_deep_agent(model=theirs, subagents=SPECS),
           {"messages": [("user", "hi")]}, mode)  # fmt: skip
    assert description == _task_description(theirs)


# -- every agent's tools are checked at construction -------------------------------------------


@tool
def copy_file(source: str, target: str) -> str:
    """Copy a file (its arguments are not the ones the jail's tool_paths names)."""
    return "copied"


def _jail_for_copy() -> FilesystemPermissionMiddleware:
    return FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/**"])],
        default="deny",
        tool_paths={"copy_file": {"src": "read", "dst": "write"}},
    )


def test_a_main_agent_tool_lacking_a_declared_path_argument_is_refused() -> None:
    with pytest.raises(GuardrailConfigError, match=r"src|dst"):
        create_deep_agent(
            ScriptedChatModel(default="x"), [copy_file], guardrails=[_jail_for_copy()]
        )


def test_a_subagent_tool_lacking_a_declared_path_argument_is_refused() -> None:
    spec = {"name": "copier", "description": "c", "system_prompt": "c", "tools": [copy_file]}
    with pytest.raises(GuardrailConfigError, match=r"src|dst"):
        create_deep_agent(
            ScriptedChatModel(default="x"), guardrails=[_jail_for_copy()], subagents=[spec]
        )


def test_a_tool_path_naming_a_tool_no_agent_has_is_warned_about() -> None:
    @tool
    def lookup(query: str) -> str:
        """Search."""
        return "none"

    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace/**"])], default="deny", tool_paths={"copy_fiel": {"src": "read"}}
    )
    with pytest.warns(UserWarning, match="copy_fiel"):
        create_deep_agent(ScriptedChatModel(default="x"), [lookup], guardrails=[jail])


# -- each guardrail is asked once; setups it cannot hold are refused ----------------------------


def test_each_guardrail_is_asked_once_to_hold_the_setup() -> None:
    from guardrails import compose

    counter, other = Counter(), Counter("other")
    create_deep_agent(
        ScriptedChatModel(default="x"), guardrails=[counter, compose(other, counter), other]
    )
    assert (counter.asked, other.asked) == (1, 1)


def test_a_single_guardrail_not_in_a_list_is_refused() -> None:
    jail = _jail_for_copy()
    with pytest.raises(GuardrailConfigError, match="guardrails must be a list"):
        create_deep_agent(ScriptedChatModel(default="x"), guardrails=jail)


def test_without_deepagents_the_setup_is_refused_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "deepagents" or m.startswith("deepagents.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(GuardrailConfigError, match="needs deepagents installed"):
        create_deep_agent(ScriptedChatModel(default="x"), guardrails=[Counter()])


def test_the_jail_holds_the_general_purpose_subagent_next_to_declarative_ones(
    tmp_path: Path, mode: str
) -> None:
    """With declarative specs, the supplied general-purpose subagent still carries the jail."""
    root = tmp_path / "root"
    (root / "workspace").mkdir(parents=True)
    (root / "secret.txt").write_text("s3cr3t-gp-4417\n")
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/**"])], default="deny", name="jail"
    )
    task = AIMessage("", tool_calls=[tool_call(
        "task", {"description": "read it", "subagent_type": GENERAL_PURPOSE})])  # fmt: skip
    read = AIMessage("", tool_calls=[tool_call("read_file", {"file_path": "/secret.txt"})])
    model = ScriptedChatModel(responses=[task, read, "gp done", "done"])
    agent = create_deep_agent(
        model,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        subagents=SPECS,
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    seen = str(out["messages"]) + " ".join(str(r["messages"]) for r in model.requests)
    assert "s3cr3t-gp-4417" not in seen
    assert "permission denied for read on /secret.txt" in seen


class Spy(AgentMiddleware):  # type: ignore[type-arg]
    """A middleware of the user's own (``middleware=``): records what the model is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        self.seen.append(str(request.messages))
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        self.seen.append(str(request.messages))
        return await handler(request)


def test_the_guardrails_run_ahead_of_the_agents_own_middleware(mode: str) -> None:
    """``middleware=`` comes after the guardrails: a logging middleware of the user's own sees
    the conversation as the PII guardrail handled it, never the raw address."""
    from guardrails import PIIMiddleware

    spy = Spy()
    agent = create_deep_agent(
        ScriptedChatModel(responses=["done"]),
        guardrails=[PIIMiddleware("email", strategy="redact")],
        middleware=[spy],
    )
    invoke(agent, {"messages": [("user", "Write to jane.doe@example.com today.")]}, mode)
    assert spy.seen and all("jane.doe@example.com" not in s for s in spy.seen), spy.seen
    assert any("[REDACTED_EMAIL]" in s for s in spy.seen), spy.seen


def test_without_a_profile_the_general_purpose_subagent_has_deepagents_own_prompt(
    mode: str,
) -> None:
    from deepagents.middleware.subagents import GENERAL_PURPOSE_SUBAGENT

    task = AIMessage("", tool_calls=[tool_call(
        "task", {"description": "do it", "subagent_type": GENERAL_PURPOSE})])  # fmt: skip
    model = ScriptedChatModel(responses=[task, "gp done", "done"])
    invoke(create_deep_agent(model, guardrails=[Counter()], subagents=SPECS),
           {"messages": [("user", "go")]}, mode)  # fmt: skip
    own = str(GENERAL_PURPOSE_SUBAGENT["system_prompt"])
    assert own[:80] in _system(model.requests[1])


class _OnlyMiddleware:
    """Looks a little like a policy (a ``middleware()`` method) but is not one."""

    def middleware(self, name: str | None = None) -> list[Any]:
        return []


class _OnlyNames:
    subagent_names = ("researcher",)


@pytest.mark.parametrize("guardrails", [_OnlyMiddleware(), _OnlyNames()], ids=["method", "names"])
def test_what_is_neither_a_list_nor_a_policy_is_refused(guardrails: Any) -> None:
    with pytest.raises(GuardrailConfigError, match="guardrails must be a list"):
        create_deep_agent(ScriptedChatModel(default="x"), guardrails=guardrails, subagents=SPECS)
