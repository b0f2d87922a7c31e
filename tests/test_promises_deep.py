"""Promises of ``guardrails.deep.create_deep_agent``: every subagent carries the guardrails.

A careless edit of the subagent wiring (a spec left out, the ``general-purpose`` subagent built
without the stack, a spec's own middleware dropping the inherited one, a composed stack whose
members are not asked to hold compiled subagents, a policy's unnamed subagent left bare, a bad
setting accepted) lets a model do out of sight what the main agent may not. Each test runs a real
deep agent with scripted models, sync and async, and asserts on what the tools answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, ToolMessage

from guardrails import PIIMiddleware
from guardrails.errors import GuardrailConfigError
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import FilesystemBackend  # noqa: E402

from guardrails.deep import GENERAL_PURPOSE, create_deep_agent, subagent_stacks  # noqa: E402
from guardrails.filesystem import FilesystemPermission as P  # noqa: E402
from guardrails.filesystem import FilesystemPermissionMiddleware  # noqa: E402

SECRET = "s3cr3t-deep-7731"
EMAIL = "jane.doe@example.com"


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "workspace").mkdir(parents=True)
    (root / "workspace" / "notes.txt").write_text(f"notes; contact {EMAIL}\n")
    (root / "secret.txt").write_text(f"{SECRET}\n")
    return root


def _jail() -> FilesystemPermissionMiddleware:
    return FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/**"])], default="deny", name="jail"
    )


def _task(subagent: str) -> AIMessage:
    args = {"description": "do it", "subagent_type": subagent}
    return AIMessage("", tool_calls=[tool_call("task", args)])


def _read(path: str) -> AIMessage:
    return AIMessage("", tool_calls=[tool_call("read_file", {"file_path": path})])


def _texts(out: Any, *models: ScriptedChatModel) -> list[str]:
    """Every tool answer the main agent and the subagents' models saw."""
    texts = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    for model in models:
        for request in model.requests:
            texts += [str(m.content) for m in request["messages"] if isinstance(m, ToolMessage)]
    return texts


class Marker(AgentMiddleware):  # type: ignore[type-arg]
    """A spec's own middleware of another name: it must run in addition to the inherited ones."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        self.calls += 1
        return handler(request)

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        self.calls += 1
        return await handler(request)


@pytest.mark.parametrize("kind", ["declarative", "with-own-middleware", "general-purpose"])
def test_every_subagent_is_held_to_the_main_agents_jail(
    tmp_path: Path, mode: str, kind: str
) -> None:
    root = _root(tmp_path)
    sub = ScriptedChatModel(
        responses=[_read("/secret.txt"), _read("/workspace/notes.txt"), "sub done"]
    )
    marker = Marker()
    specs: list[dict[str, Any]] = []
    name = GENERAL_PURPOSE
    if kind != "general-purpose":
        name = "helper"
        spec: dict[str, Any] = {"name": name, "description": "helps", "system_prompt": "help",
                                "model": sub}  # fmt: skip
        if kind == "with-own-middleware":
            spec["middleware"] = [marker]
        specs.append(spec)
    main = ScriptedChatModel(responses=[_task(name), "done"])
    model: Any = main
    if kind == "general-purpose":  # the general-purpose subagent runs on the main model
        model = ScriptedChatModel(responses=[_task(name), *sub.responses, "done"])
    agent = create_deep_agent(
        model,
        guardrails=[_jail()],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        subagents=specs,
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _texts(out, sub, model)
    assert not any(SECRET in t for t in texts), texts
    assert any("permission denied for read on /secret.txt" in t for t in texts), texts
    assert any("notes; contact" in t for t in texts), texts
    if kind == "with-own-middleware":
        # the spec's own middleware runs too, after the inherited jail: it sees only the call
        # the jail let through
        assert marker.calls == 1


def test_a_spec_restriction_with_the_jails_name_replaces_it_and_keeps_its_rules(
    tmp_path: Path, mode: str
) -> None:
    """``jail.restrict(...)`` in a spec replaces the inherited jail (same name) and is never
    looser: the parent's denials hold, the spec's own are added."""
    root = _root(tmp_path)
    jail = _jail()
    reader = jail.restrict([P(["write"], ["/**"], "deny")])
    sub = ScriptedChatModel(
        responses=[
            _read("/secret.txt"),
            AIMessage("", tool_calls=[tool_call("write_file", {"file_path": "/workspace/x.txt",
                                                               "content": "x"})]),
            "sub done",
        ]
    )  # fmt: skip
    agent = create_deep_agent(
        ScriptedChatModel(responses=[_task("reader"), "done"]),
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        subagents=[{"name": "reader", "description": "reads", "system_prompt": "read",
                    "model": sub, "middleware": [reader]}],
    )  # fmt: skip
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _texts(out, sub)
    assert any("permission denied for read on /secret.txt" in t for t in texts), texts
    assert any("permission denied for write on /workspace/x.txt" in t for t in texts), texts
    assert not (root / "workspace" / "x.txt").exists()


def test_subagent_stacks_give_every_name_the_main_stack_or_its_own() -> None:
    """A list gives every subagent the main stack; a spec's own middleware of the same name
    replaces the inherited one in place, others come after it."""
    jail, pii = _jail(), PIIMiddleware("email", name="pii")
    main, per_name = subagent_stacks([jail, pii], ["a", GENERAL_PURPOSE])
    assert main == [jail, pii]
    assert per_name == {"a": [jail, pii], GENERAL_PURPOSE: [jail, pii]}
    with pytest.raises(GuardrailConfigError, match="guardrails must be a list"):
        subagent_stacks({"jail": jail}, ["a"])
    with pytest.raises(GuardrailConfigError, match="AgentMiddleware"):
        subagent_stacks([jail, "pii"], ["a"])


def test_a_composed_stack_still_holds_compiled_subagents(tmp_path: Path, mode: str) -> None:
    """A jail inside ``compose(...)`` is found and asked to hold a compiled subagent: the shared
    backend is guarded, so the compiled subagent (no middleware of ours) runs and cannot read
    the secret (not refused as unheld, which is what a jail the hook never reached does)."""
    from guardrails import compose

    root = _root(tmp_path)
    sub = ScriptedChatModel(
        responses=[_read("/secret.txt"), _read("/workspace/notes.txt"), "sub done"]
    )
    compiled = deepagents.create_deep_agent(
        model=sub, backend=FilesystemBackend(root_dir=root, virtual_mode=True), name="compiled"
    )
    agent = create_deep_agent(
        ScriptedChatModel(responses=[_task("compiled"), "done"]),
        guardrails=[compose(Marker(), _jail())],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        subagents=[{"name": "compiled", "description": "c", "runnable": compiled}],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _texts(out, sub)
    assert not any(SECRET in t for t in texts), texts
    assert any("notes; contact" in t for t in texts), texts  # it ran, held (not refused)


def test_a_subagent_spec_must_name_itself() -> None:
    with pytest.raises(GuardrailConfigError, match=r"subagents\[1\] needs a 'name'"):
        create_deep_agent(
            ScriptedChatModel(default="x"),
            guardrails=[_jail()],
            subagents=[
                {"name": "a", "description": "a", "system_prompt": "a"},
                {"description": "b", "system_prompt": "b"},
            ],
        )


def test_the_pii_guardrail_holds_in_a_declarative_subagent_and_the_general_purpose_one(
    mode: str,
) -> None:
    """The main agent's PII guardrail is in every subagent: a subagent's model never sees the
    e-mail address its task carries."""
    for name in ("helper", GENERAL_PURPOSE):
        sub = ScriptedChatModel(responses=["sub done"])
        task = AIMessage("", tool_calls=[tool_call(
            "task", {"description": f"Write to {EMAIL}", "subagent_type": name})])  # fmt: skip
        main = ScriptedChatModel(responses=[task, "done"])
        specs = [{"name": "helper", "description": "h", "system_prompt": "h", "model": sub}]
        model: Any = main
        if name == GENERAL_PURPOSE:
            model = ScriptedChatModel(responses=[task, "sub done", "done"])
            sub = model
        agent = create_deep_agent(
            model,
            guardrails=[PIIMiddleware("email", strategy="redact")],
            subagents=specs if name == "helper" else [],
        )
        invoke(agent, {"messages": [("user", "go")]}, mode)
        seen = " ".join(str(r["messages"]) for r in sub.requests[-1:])
        assert EMAIL not in seen and "[REDACTED_EMAIL]" in seen, (name, seen)


def test_a_policy_gives_a_named_subagent_its_section_and_any_other_the_main_stack(
    mode: str,
) -> None:
    """With a policy, a subagent it names gets its own section's stack; a subagent it does not
    name gets the main agent's stack (never an empty one): both models see the e-mail redacted,
    and the named one also the phone number its section adds."""
    from guardrails.policy import Policy

    policy = Policy.from_dict(
        {
            "agent": {
                "middleware": [
                    {"use": "PIIMiddleware", "pii_type": ["email"], "strategy": "redact"}
                ]
            },
            "subagents": {
                "named": {
                    "middleware": [
                        {"use": "PIIMiddleware", "pii_type": ["phone"], "strategy": "redact",
                         "name": "phone-pii"}
                    ]
                }
            },
        }
    )  # fmt: skip
    phone = "+1 212 555 0143"
    for name in ("named", "unnamed"):
        sub = ScriptedChatModel(responses=["sub done"])
        args = {"description": f"Write to {EMAIL}, call {phone}", "subagent_type": name}
        task = AIMessage("", tool_calls=[tool_call("task", args)])
        agent = create_deep_agent(
            ScriptedChatModel(responses=[task, "done"]),
            guardrails=policy,
            subagents=[{"name": name, "description": "s", "system_prompt": "s", "model": sub}],
        )
        invoke(agent, {"messages": [("user", "go")]}, mode)
        seen = str(sub.requests[0]["messages"])
        assert EMAIL not in seen and "[REDACTED_EMAIL]" in seen, (name, seen)
        assert (phone not in seen) is (name == "named"), (name, seen)
