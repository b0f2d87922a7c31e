"""Guardrails in deepagents subagents: each subagent's own stack, named in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage

from guardrails import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke


def test_subagent_events_carry_the_subagent_name(mode: str, audit: AuditCapture) -> None:
    pytest.importorskip("deepagents")
    import guardrails.deep as guardrails_deep

    main_model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "task",
                        {
                            "description": "Look up jane.doe@example.com in the CRM",
                            "subagent_type": "researcher",
                        },
                    )
                ],
            ),
            "done",
        ]
    )
    sub_model = ScriptedChatModel(default="found her")
    # guardrails.deep: a plain deepagents setup whose subagents lack main-pii is refused
    agent: Any = guardrails_deep.create_deep_agent(
        model=main_model,
        name="main",
        guardrails=[PIIMiddleware("phone", name="main-pii")],
        subagents=[
            {
                "name": "researcher",
                "description": "Researches customers.",
                "system_prompt": "You research.",
                "model": sub_model,
                "middleware": [PIIMiddleware("email", name="researcher-pii")],
            }
        ],
    )
    invoke(agent, {"messages": [("user", "call me at +1 212 555 0143")]}, mode)
    by_guardrail = {e["guardrail"]: e for e in audit.of("pii.detected")}
    assert by_guardrail["researcher-pii"]["agent"] == "researcher"
    assert by_guardrail["researcher-pii"]["subagent"] == "researcher"
    assert by_guardrail["main-pii"]["agent"] == "main"
    assert "subagent" not in by_guardrail["main-pii"]
    sent_to_sub = str(sub_model.requests[0]["messages"])
    assert "jane.doe@example.com" not in sent_to_sub and "[REDACTED_EMAIL]" in sent_to_sub


def test_stricter_subagent_policy_is_audited_under_the_subagent_name(
    mode: str, audit: AuditCapture
) -> None:
    pytest.importorskip("deepagents")
    from guardrails.policy import Policy
    from tests.support import tool

    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return "nothing new"

    policy = Policy.from_dict(
        {
            "compose": True,
            "agent": {
                "middleware": [
                    {"use": "ModelCallLimitMiddleware", "run_limit": 10},
                    {"use": "PIIMiddleware", "pii_type": "phone", "name": "main-pii"},
                ]
            },
            "subagents": {
                "researcher": {
                    "override": {"ModelCallLimitMiddleware": {"run_limit": 2}},
                    "middleware": [
                        {"use": "PIIMiddleware", "pii_type": "email", "name": "researcher-pii"}
                    ],
                }
            },
        }
    )
    main_model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "task",
                        {
                            "description": "Find jane.doe@example.com",
                            "subagent_type": "researcher",
                        },
                    )
                ],
            ),
            "done",
        ]
    )
    looping = ScriptedChatModel(
        default=AIMessage("", tool_calls=[tool_call("lookup", {"query": "again"})])
    )
    import guardrails.deep

    # guardrails.deep: a plain deepagents setup whose subagents lack the PII guardrail is refused
    agent: Any = guardrails.deep.create_deep_agent(
        model=main_model,
        name="main",
        guardrails=policy,
        subagents=policy.subagents(
            [
                {
                    "name": "researcher",
                    "description": "Researches.",
                    "system_prompt": "You research.",
                    "model": looping,
                    "tools": [lookup],
                }
            ]
        ),
    )
    result = invoke(agent, {"messages": [("user", "call +1 212 555 0143")]}, mode)
    assert result["messages"][-1].content == "done"
    assert looping.calls == 2  # the subagent's stricter limit, not the main agent's 10
    (limit,) = audit.of("limit.exceeded")
    assert (limit["agent"], limit["subagent"], limit["limit"]) == ("researcher", "researcher", 2)
    by_guardrail = {e["guardrail"]: e for e in audit.of("pii.detected")}
    assert by_guardrail["researcher-pii"]["subagent"] == "researcher"
    assert by_guardrail["main-pii"]["agent"] == "main"
    assert "subagent" not in by_guardrail["main-pii"]


# --------------------------------------------------------------------------- guardrails.deep

SECRET = "hunter2-s3cr3t"


def _root(tmp_path: Any) -> Any:
    root = tmp_path / "root"
    (root / "workspace").mkdir(parents=True)
    (root / "workspace" / "notes.txt").write_text("workspace notes\n")
    (root / "secret.txt").write_text(f"{SECRET} topsecret\n")
    return root


def _jail() -> Any:
    from guardrails.filesystem import FilesystemPermission as P
    from guardrails.filesystem import FilesystemPermissionMiddleware

    return FilesystemPermissionMiddleware(
        [P(["read", "write"], ["**/.env"], "deny"), P(["read", "write"], ["/workspace/**"])],
        default="deny",
    )


def _task(subagent: str, text: str = "do it") -> AIMessage:
    return AIMessage(
        "", tool_calls=[tool_call("task", {"description": text, "subagent_type": subagent})]
    )


def _read(path: str) -> AIMessage:
    return AIMessage("", tool_calls=[tool_call("read_file", {"file_path": path})])


def _tool_texts(out: Any, *models: ScriptedChatModel) -> list[str]:
    from langchain_core.messages import ToolMessage

    texts = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    for model in models:
        for request in model.requests:
            texts += [str(m.content) for m in request["messages"] if isinstance(m, ToolMessage)]
    return texts


def test_general_purpose_subagent_is_refused_when_not_held(
    tmp_path: Any, mode: str, audit: AuditCapture
) -> None:
    """The class docstring's setup (middleware only, plain backend): the GP would run open."""
    deepagents = pytest.importorskip("deepagents")
    from deepagents.backends import FilesystemBackend

    root = _root(tmp_path)
    model = ScriptedChatModel(
        responses=[_task("general-purpose"), _read("/secret.txt"), "gp done", "done"]
    )
    agent: Any = deepagents.create_deep_agent(
        model=model,
        middleware=[_jail()],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _tool_texts(out, model)
    assert not any(SECRET in t for t in texts), texts
    assert "not held to the filesystem rules" in texts[0]
    (event,) = [e for e in audit.of("fs.denied") if e["tool"] == "task"]
    assert event["reason"] == "unguarded_subagent"
    assert event["target_subagent"] == "general-purpose"


def test_general_purpose_shell_is_refused_when_not_held(tmp_path: Any, mode: str) -> None:
    deepagents = pytest.importorskip("deepagents")
    from deepagents.backends import LocalShellBackend

    root = _root(tmp_path)
    model = ScriptedChatModel(
        responses=[
            _task("general-purpose"),
            AIMessage("", tool_calls=[tool_call("execute", {"command": "cat secret.txt"})]),
            "gp done",
            "done",
        ]
    )
    agent: Any = deepagents.create_deep_agent(
        model=model,
        middleware=[_jail()],
        backend=LocalShellBackend(root_dir=root, virtual_mode=True),
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _tool_texts(out, model)
    assert not any(SECRET in t for t in texts), texts


@pytest.mark.parametrize("backend_kind", ["filesystem", "shell", "state"])
def test_deep_holds_the_general_purpose_subagent(
    tmp_path: Any, mode: str, audit: AuditCapture, backend_kind: str
) -> None:
    pytest.importorskip("deepagents")
    from deepagents.backends import FilesystemBackend, LocalShellBackend, StateBackend

    from guardrails.deep import create_deep_agent

    root = _root(tmp_path)
    backend: Any = {
        "filesystem": lambda: FilesystemBackend(root_dir=root, virtual_mode=True),
        "shell": lambda: LocalShellBackend(root_dir=root, virtual_mode=True),
        "state": StateBackend,
    }[backend_kind]()
    sub_calls: list[Any] = [_read("/secret.txt"), _read("/workspace/notes.txt")]
    if backend_kind == "shell":
        sub_calls.append(
            AIMessage("", tool_calls=[tool_call("execute", {"command": "cat secret.txt"})])
        )
    model = ScriptedChatModel(responses=[_task("general-purpose"), *sub_calls, "gp done", "done"])
    agent = create_deep_agent(model, guardrails=[_jail()], backend=backend)
    payload: dict[str, Any] = {"messages": [("user", "go")]}
    if backend_kind == "state":
        payload["files"] = {
            "/secret.txt": {"content": SECRET, "encoding": "utf-8"},
            "/workspace/notes.txt": {"content": "workspace notes", "encoding": "utf-8"},
        }
    out = invoke(agent, payload, mode)
    texts = _tool_texts(out, model)
    assert not any(SECRET in t for t in texts), texts
    assert any("workspace notes" in t for t in texts), texts
    assert any("permission denied for read on /secret.txt" in t for t in texts)
    denied = [e for e in audit.of("fs.denied") if e.get("path") == "/secret.txt"]
    assert denied and all(e.get("subagent") == "general-purpose" for e in denied), denied


def _compiled_subagent(model: ScriptedChatModel, backend: Any) -> Any:
    import deepagents

    return deepagents.create_deep_agent(model=model, backend=backend, name="compiled")


def test_deep_holds_a_compiled_subagent_built_on_its_own_backend(tmp_path: Any, mode: str) -> None:
    pytest.importorskip("deepagents")
    from deepagents.backends import FilesystemBackend

    from guardrails.deep import create_deep_agent

    root = _root(tmp_path)
    sub_model = ScriptedChatModel(
        responses=[_read("/secret.txt"), _read("/workspace/notes.txt"), "sub done"]
    )
    compiled = _compiled_subagent(sub_model, FilesystemBackend(root_dir=root, virtual_mode=True))
    model = ScriptedChatModel(responses=[_task("compiled"), "done"])
    agent = create_deep_agent(
        model,
        guardrails=[_jail()],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        subagents=[{"name": "compiled", "description": "compiled", "runnable": compiled}],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _tool_texts(out, sub_model)
    assert not any(SECRET in t for t in texts), texts
    assert any("workspace notes" in t for t in texts), texts


def test_subagent_of_a_compiled_subagent_is_held(tmp_path: Any, mode: str) -> None:
    """A compiled deep agent brings its own general-purpose subagent: held too."""
    pytest.importorskip("deepagents")
    from deepagents.backends import FilesystemBackend

    from guardrails.deep import create_deep_agent

    root = _root(tmp_path)
    inner_model = ScriptedChatModel(
        responses=[_task("general-purpose"), _read("/secret.txt"), "gp done", "inner done"]
    )
    compiled = _compiled_subagent(inner_model, FilesystemBackend(root_dir=root, virtual_mode=True))
    model = ScriptedChatModel(responses=[_task("compiled"), "done"])
    agent = create_deep_agent(
        model,
        guardrails=[_jail()],
        subagents=[{"name": "compiled", "description": "compiled", "runnable": compiled}],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _tool_texts(out, inner_model)
    assert not any(SECRET in t for t in texts), texts
    assert any("permission denied for read on /secret.txt" in t for t in texts), texts


def test_compiled_subagent_not_held_is_refused_at_run_time(
    tmp_path: Any, mode: str, audit: AuditCapture
) -> None:
    deepagents = pytest.importorskip("deepagents")
    from deepagents.backends import FilesystemBackend

    root = _root(tmp_path)
    jail = _jail()
    sub_model = ScriptedChatModel(responses=[_read("/secret.txt"), "sub done"])
    compiled = _compiled_subagent(sub_model, FilesystemBackend(root_dir=root, virtual_mode=True))
    model = ScriptedChatModel(responses=[_task("compiled"), "done"])
    agent: Any = deepagents.create_deep_agent(
        model=model,
        middleware=[jail],
        backend=jail.guard(FilesystemBackend(root_dir=root, virtual_mode=True)),
        subagents=[{"name": "compiled", "description": "compiled", "runnable": compiled}],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _tool_texts(out, sub_model)
    assert not any(SECRET in t for t in texts), texts
    assert sub_model.calls == 0
    assert [e["target_subagent"] for e in audit.of("fs.denied")] == ["compiled"]


def test_opaque_compiled_subagent_is_refused_at_construction() -> None:
    pytest.importorskip("deepagents")
    from langchain_core.runnables import RunnableLambda

    from guardrails.deep import create_deep_agent
    from guardrails.errors import GuardrailConfigError

    opaque = RunnableLambda(lambda state: {"messages": []})
    with pytest.raises(GuardrailConfigError, match=r"compiled subagent .opaque..*inspected"):
        create_deep_agent(
            ScriptedChatModel(default="x"),
            guardrails=[_jail()],
            subagents=[{"name": "opaque", "description": "d", "runnable": opaque}],
        )


def test_deep_from_a_policy_file(tmp_path: Any, mode: str, audit: AuditCapture) -> None:
    pytest.importorskip("deepagents")
    from deepagents.backends import FilesystemBackend

    from guardrails.deep import create_deep_agent
    from guardrails.policy import Policy

    root = _root(tmp_path)
    policy = Policy.from_dict(
        {
            "compose": True,
            "agent": {
                "middleware": [
                    {
                        "use": "FilesystemPermissionMiddleware",
                        "default": "deny",
                        "rules": [{"operations": ["read", "write"], "paths": ["/workspace/**"]}],
                    },
                    {"use": "PIIMiddleware", "pii_type": "email", "name": "pii"},
                ]
            },
        }
    )
    researcher = ScriptedChatModel(responses=[_read("/secret.txt"), "found nothing"])
    model = ScriptedChatModel(
        responses=[
            _task("general-purpose"),
            _read("/secret.txt"),
            "gp done",
            _task("researcher", "mail jane.doe@example.com"),
            "done",
        ]
    )
    agent = create_deep_agent(
        model,
        guardrails=policy,
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        subagents=[
            {"name": "researcher", "description": "r", "system_prompt": "r", "model": researcher}
        ],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _tool_texts(out, model, researcher)
    assert not any(SECRET in t for t in texts), texts
    assert "jane.doe@example.com" not in str(researcher.requests[0]["messages"])
    subagents = {e.get("subagent") for e in audit.of("fs.denied")}
    assert {"general-purpose", "researcher"} <= subagents


def test_deep_keeps_a_spec_own_restriction_and_an_explicit_general_purpose(
    tmp_path: Any, mode: str
) -> None:
    pytest.importorskip("deepagents")
    from deepagents.backends import FilesystemBackend

    from guardrails.deep import create_deep_agent
    from guardrails.filesystem import FilesystemPermission as P

    root = _root(tmp_path)
    jail = _jail()
    reader = jail.restrict([P(["write"], ["/**"], "deny")])  # same name as jail: replaces it
    gp_model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("write_file", {"file_path": "/workspace/x",
                                                               "content": "x"})]),
            "gp done",
        ]
    )  # fmt: skip
    model = ScriptedChatModel(responses=[_task("general-purpose"), "done"])
    agent = create_deep_agent(
        model,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        subagents=[
            {"name": "general-purpose", "description": "mine", "system_prompt": "p",
             "model": gp_model, "middleware": [reader]},
        ],
    )  # fmt: skip
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = _tool_texts(out, gp_model)
    assert any("permission denied for write on /workspace/x" in t for t in texts), texts
    assert not (root / "workspace" / "x").exists()


def test_deep_refuses_bad_guardrails() -> None:
    pytest.importorskip("deepagents")
    from guardrails.deep import create_deep_agent
    from guardrails.errors import GuardrailConfigError

    with pytest.raises(GuardrailConfigError, match="guardrails must be a list"):
        create_deep_agent(ScriptedChatModel(default="x"), guardrails="jail")
    with pytest.raises(GuardrailConfigError, match="AgentMiddleware"):
        create_deep_agent(ScriptedChatModel(default="x"), guardrails=[object()])
