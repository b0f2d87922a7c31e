"""Filesystem permissions, pass 2 (issue 22): one test group per kind, through real deep agents.

Kinds: paths in another coordinate system, aliases, free text parsed as structure, configuration
that silently checks something else, rules that do not mean what users read, "held" subagents
that are not, and two over-blocking cases. Backends: ``FilesystemBackend`` (virtual and not),
``CompositeBackend``, and ``LocalSandbox``: deepagents' own ``BaseSandbox`` running a local shell
(the base of every deepagents sandbox integration), sync and async through ``mode``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from guardrails.errors import GuardrailConfigError
from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import CompositeBackend, FilesystemBackend, StateBackend  # noqa: E402
from deepagents.backends.protocol import (  # noqa: E402
    ExecuteResponse,
    FileDownloadResponse,
    FileUploadResponse,
)
from deepagents.backends.sandbox import BaseSandbox  # noqa: E402

from guardrails.deep import create_deep_agent  # noqa: E402

P = FilesystemPermission
SECRET = "hunter2-s3cr3t"
Call = tuple[str, dict[str, Any]]


class LocalSandbox(BaseSandbox):
    """A sandbox whose shell is a local one, started in ``cwd`` (paths are host paths)."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    @property
    def id(self) -> str:
        return "local-sandbox"

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout or 60,
            check=False,
        )
        return ExecuteResponse(output=done.stdout + done.stderr, exit_code=done.returncode)

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        out = []
        for path, content in files:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(content)
            out.append(FileUploadResponse(path=path, error=None))
        return out

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        out = []
        for path in paths:
            try:
                out.append(FileDownloadResponse(path=path, content=Path(path).read_bytes()))
            except OSError:
                out.append(FileDownloadResponse(path=path, content=None, error="file_not_found"))
        return out


def _answers(
    calls: Sequence[Call],
    mode: str,
    *,
    deep: bool = True,
    guardrails: Sequence[Any] = (),
    **kwargs: Any,
) -> list[str]:
    script: list[Any] = [AIMessage("", tool_calls=[tool_call(n, a)]) for n, a in calls]
    model = ScriptedChatModel(responses=[*script, "done"])
    if deep:
        agent = create_deep_agent(model, guardrails=list(guardrails), **kwargs)
    else:
        agent = deepagents.create_deep_agent(model=model, middleware=list(guardrails), **kwargs)
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    return [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]


def _no_secret(answers: Sequence[str], *names: str) -> None:
    for answer in answers:
        assert SECRET not in answer, answers
        for name in names:
            assert name not in answer, answers


# --------------------------------------------------------------------------- coordinate systems


def _sandbox_tree(tmp_path: Path) -> Path:
    work = tmp_path / "box" / "work"
    (work / "secrets").mkdir(parents=True)
    (work / "secrets" / "key.pem").write_text(f"password={SECRET}\n")
    (work / "notes.txt").write_text("password=public\n")
    return work


# slow: real shell processes in a local sandbox, eight runs
@pytest.mark.slow
@pytest.mark.parametrize("glob", [None, "*.pem"])
@pytest.mark.parametrize("wrap", ["sandbox", "composite"])
def test_sandbox_grep_without_a_path_is_judged_where_it_searched(
    tmp_path: Path, mode: str, glob: str | None, wrap: str
) -> None:
    """grep with no path answers ``./secrets/key.pem``: placed in the working folder, not at /."""
    work = _sandbox_tree(tmp_path)
    sandbox = LocalSandbox(work)
    backend: Any = sandbox
    if wrap == "composite":
        backend = CompositeBackend(default=sandbox, routes={"/mem/": StateBackend()})
    jail = FilesystemPermissionMiddleware([P(["read", "write"], [f"{work}/secrets/**"], "deny")])
    args: dict[str, Any] = {"pattern": "password", "output_mode": "content"}
    if glob:
        args["glob"] = glob
    for deep in (True, False):
        answers = _answers([("grep", args)], mode, deep=deep, guardrails=[jail], backend=backend)
        _no_secret(answers, "key.pem")
        if glob is None:
            assert "password=public" in answers[0], answers


def test_a_result_path_with_no_place_is_withheld(tmp_path: Path, mode: str) -> None:
    """A backend without a working folder of its own that answers a relative path: withheld."""

    class Relative(FilesystemBackend):
        def grep(self, pattern: str, path: str | None = None, glob: str | None = None) -> Any:
            result = super().grep(pattern, path, glob)
            for m in result.matches or []:
                m["path"] = "." + m["path"]
            return result

        async def agrep(
            self, pattern: str, path: str | None = None, glob: str | None = None
        ) -> Any:
            return self.grep(pattern, path, glob)

    root = tmp_path / "root"
    (root / "secrets").mkdir(parents=True)
    (root / "secrets" / "key.pem").write_text(f"password={SECRET}\n")
    jail = FilesystemPermissionMiddleware([P(["read"], ["/elsewhere/secrets/**"], "deny")])
    answers = _answers(
        [("grep", {"pattern": "password", "output_mode": "content"})],
        mode,
        guardrails=[jail],
        backend=Relative(root_dir=root, virtual_mode=True),
    )
    _no_secret(answers)


# --------------------------------------------------------------------------- aliases


def _release_tree(root: Path) -> None:
    v42 = root / "app" / "releases" / "v42"
    v42.mkdir(parents=True)
    (v42 / "secret.txt").write_text(SECRET)
    (v42 / "readme.txt").write_text("release notes")
    (root / "app" / "current").symlink_to("releases/v42")


@pytest.mark.parametrize("kind", ["virtual", "host", "composite", "sandbox"])
def test_a_deny_rule_written_through_a_symlinked_folder_covers_the_real_path(
    tmp_path: Path, mode: str, kind: str
) -> None:
    root = tmp_path / "root"
    _release_tree(root)
    head = "" if kind in ("virtual", "composite") else str(root)
    backend: Any = {
        "virtual": lambda: FilesystemBackend(root_dir=root, virtual_mode=True),
        "host": lambda: FilesystemBackend(root_dir=root, virtual_mode=False),
        "composite": lambda: CompositeBackend(
            default=StateBackend(), routes={"/app/": FilesystemBackend(root / "app", True)}
        ),
        "sandbox": lambda: LocalSandbox(root),
    }[kind]()
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], [f"{head}/app/current/secret.txt"], "deny")]
    )
    real = f"{head}/app/releases/v42"
    answers = _answers(
        [
            ("read_file", {"file_path": f"{real}/secret.txt"}),
            ("grep", {"pattern": "hunter2", "path": real, "output_mode": "content"}),
            ("read_file", {"file_path": f"{real}/readme.txt"}),
        ],
        mode,
        guardrails=[jail],
        backend=backend,
    )
    _no_secret(answers[:2])
    assert "release notes" in answers[2]


def test_a_system_alias_is_covered_like_etc_and_private_etc(tmp_path: Path, mode: str) -> None:
    """macOS: ``/etc`` -> ``/private/etc``; ``deny /etc/**`` must cover the real path too."""
    root = tmp_path / "root"
    (root / "private" / "etc").mkdir(parents=True)
    (root / "private" / "etc" / "passwd").write_text(SECRET)
    (root / "etc").symlink_to("private/etc")
    jail = FilesystemPermissionMiddleware([P(["read", "write"], [f"{root}/etc/**"], "deny")])
    answers = _answers(
        [
            ("read_file", {"file_path": f"{root}/private/etc/passwd"}),
            ("ls", {"path": f"{root}/private/etc"}),
            ("glob", {"pattern": "**", "path": f"{root}/private"}),
        ],
        mode,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=False),
    )
    _no_secret(answers)
    assert "permission denied" in answers[0] and "permission denied" in answers[1], answers
    assert "passwd" not in answers[2], answers


def test_a_link_in_an_allowed_sandbox_folder_does_not_reach_a_denied_file(
    tmp_path: Path, mode: str
) -> None:
    work = _sandbox_tree(tmp_path)
    (work / "public").mkdir()
    (work / "public" / "key").symlink_to(work / "secrets" / "key.pem")
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], [f"{work}/secrets/**"], "deny"), P(["read", "write"], ["/**"])]
    )
    answers = _answers(
        [
            ("read_file", {"file_path": f"{work}/public/key"}),
            ("grep", {"pattern": "password", "path": f"{work}/public", "output_mode": "content"}),
        ],
        mode,
        guardrails=[jail],
        backend=LocalSandbox(work),
    )
    _no_secret(answers)


def test_a_jail_whose_root_sits_under_a_symlinked_folder_reads_allowed_files(
    tmp_path: Path, mode: str
) -> None:
    """Over-blocking: every allowed file answered "not found" (its real path matched no rule)."""
    (tmp_path / "real" / "proj" / "workspace").mkdir(parents=True)
    (tmp_path / "real" / "proj" / "workspace" / "a.txt").write_text("allowed text")
    (tmp_path / "real" / "proj" / "secret.txt").write_text(SECRET)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    root = tmp_path / "link" / "proj"
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], [f"{root}/workspace/**"])], default="deny"
    )
    answers = _answers(
        [
            ("read_file", {"file_path": f"{root}/workspace/a.txt"}),
            ("read_file", {"file_path": f"{root}/secret.txt"}),
            ("read_file", {"file_path": f"{tmp_path}/real/proj/workspace/a.txt"}),
            ("ls", {"path": f"{root}/workspace"}),
        ],
        mode,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=False),
    )
    assert "allowed text" in answers[0] and "allowed text" in answers[2], answers
    assert "a.txt" in answers[3], answers
    _no_secret(answers)


# --------------------------------------------------------------------------- free text


@pytest.mark.sweep
@pytest.mark.parametrize("name", ["prod passwords (old).csv", "a, b; c.csv", 'it\'s "x".csv'])
@pytest.mark.parametrize("kind", ["virtual", "composite"])
def test_error_texts_never_carry_a_denied_name(
    tmp_path: Path, mode: str, name: str, kind: str
) -> None:
    disk = tmp_path / "disk"
    secret = disk / "workspace" / "secrets" / name
    secret.parent.mkdir(parents=True)
    secret.write_bytes(f"password={SECRET}\n".encode() + b"x" * 9000 + b"\n\xff\xfe\xfa bad\n")
    (disk / "workspace" / "notes.txt").write_text("password=public\n")
    head = "" if kind == "virtual" else "/data"
    backend: Any = FilesystemBackend(root_dir=disk, virtual_mode=True)
    if kind == "composite":
        backend = CompositeBackend(default=StateBackend(), routes={"/data/": backend})
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], [f"{head}/workspace/secrets/**"], "deny")]
    )
    answers = _answers(
        [
            (
                "grep",
                {"pattern": "password", "path": f"{head}/workspace", "output_mode": "content"},
            ),
            ("grep", {"pattern": "password", "output_mode": "content"}),
        ],
        mode,
        guardrails=[jail],
        backend=backend,
    )
    _no_secret(answers, name, name.split(" ")[0], "(old)")
    assert "password=public" in answers[0], answers


# --------------------------------------------------------------------------- configuration


def _copy_tool(seen: list[str]) -> Any:
    @tool
    def copy_file(src: str, dst: str) -> str:
        """Copy a file."""
        seen.append(src)
        return Path(src).read_text() if Path(src).exists() else "copied"

    return copy_file


def test_tool_paths_naming_a_missing_argument_is_refused_when_built(tmp_path: Path) -> None:
    copy_file = _copy_tool([])
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace/**"])],
        default="deny",
        tool_paths={"copy_file": {"source": "read"}},
    )
    with pytest.raises(GuardrailConfigError) as info:
        create_deep_agent(ScriptedChatModel(responses=["done"]), [copy_file], guardrails=[jail])
    text = str(info.value)
    assert "copy_file" in text and "'source'" in text and "src" in text and "dst" in text


def test_tool_paths_naming_a_missing_argument_fails_the_call_in_a_plain_agent(
    tmp_path: Path, mode: str
) -> None:
    seen: list[str] = []
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace/**"])],
        default="deny",
        tool_paths={"copy_file": {"source": "read"}},
    )
    with pytest.raises(GuardrailConfigError, match="copy_file"):
        _answers(
            [("copy_file", {"src": str(secret), "dst": "/workspace/x"})],
            mode,
            deep=False,
            guardrails=[jail],
            tools=[_copy_tool(seen)],
        )
    assert seen == []


class _AliasArgs(BaseModel):
    source: str = Field(alias="from")
    target: str = Field(alias="to")


def _alias_tool(seen: list[str]) -> Any:
    def move(**kwargs: Any) -> str:
        seen.append(str(kwargs))
        return f"moved {SECRET}"

    return StructuredTool.from_function(
        func=move, name="move_file", description="Move a file.", args_schema=_AliasArgs
    )


@pytest.mark.parametrize("written", ["source", "from"])
def test_tool_paths_argument_sent_under_its_alias_is_checked(mode: str, written: str) -> None:
    seen: list[str] = []
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/**"])],
        default="deny",
        tool_paths={"move_file": {written: "read", "target": "write"}},
    )
    answers = _answers(
        [("move_file", {"from": "/secrets/key.pem", "to": "/workspace/k"})],
        mode,
        guardrails=[jail],
        tools=[_alias_tool(seen)],
    )
    assert seen == [] and "permission denied for read on /secrets/key.pem" in answers[0], answers


def test_an_omitted_path_argument_is_never_judged_as_root(mode: str) -> None:
    seen: list[str] = []

    @tool
    def list_dir(path: str | None = None) -> str:
        """List a folder (the tool's own default folder when omitted)."""
        seen.append(str(path))
        return f"listing: {SECRET}"

    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/**"]), P(["read"], ["/secrets/**"], "deny")],
        tool_paths={"list_dir": {"path": "read"}},
    )
    # rule order: the allow on /** wins for "/", so judging "/" would let the call through
    answers = _answers([("list_dir", {})], mode, guardrails=[jail], tools=[list_dir])
    assert seen == [] and "give 'path' explicitly" in answers[0], answers


@pytest.mark.parametrize("rule", ["/secrets", "/secrets/"])
@pytest.mark.parametrize("ours", [True, False])
def test_a_deny_rule_naming_a_folder_covers_what_is_in_it(
    tmp_path: Path, mode: str, rule: str, ours: bool
) -> None:
    root = tmp_path / "root"
    (root / "secrets" / "deep").mkdir(parents=True)
    (root / "secrets" / "deep" / "key.pem").write_text(SECRET)
    da_rule = deepagents.middleware.filesystem.FilesystemPermission
    made = (P if ours else da_rule)(["read", "write"], [rule], "deny")
    answers = _answers(
        [
            ("read_file", {"file_path": "/secrets/deep/key.pem"}),
            ("grep", {"pattern": "hunter", "path": "/", "output_mode": "content"}),
            ("write_file", {"file_path": "/secrets/new.txt", "content": "x"}),
        ],
        mode,
        guardrails=[FilesystemPermissionMiddleware([made])],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )
    _no_secret(answers)
    assert "key.pem" not in answers[1], answers
    assert not (root / "secrets" / "new.txt").exists()


# --------------------------------------------------------------------------- held subagents


def _task(name: str) -> AIMessage:
    return AIMessage(
        "", tool_calls=[tool_call("task", {"description": "do it", "subagent_type": name})]
    )


def test_plain_setup_refuses_a_general_purpose_subagent_with_a_path_tool(
    tmp_path: Path, mode: str
) -> None:
    seen: list[str] = []
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/**"])],
        default="deny",
        tool_paths={"copy_file": {"src": "read", "dst": "write"}},
    )
    model = ScriptedChatModel(
        responses=[
            _task("general-purpose"),
            AIMessage("", tool_calls=[tool_call("copy_file", {"src": str(secret), "dst": "/x"})]),
            "gp done",
            "done",
        ]
    )
    agent: Any = deepagents.create_deep_agent(
        model=model,
        tools=[_copy_tool(seen)],
        middleware=[jail],
        backend=jail.guard(FilesystemBackend(root_dir=tmp_path, virtual_mode=True)),
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert seen == [], seen
    assert "not held to the filesystem rules" in texts[0], texts


def test_deep_refuses_a_compiled_subagent_with_a_path_tool(tmp_path: Path) -> None:
    compiled = deepagents.create_deep_agent(
        model=ScriptedChatModel(responses=["x"]), tools=[_copy_tool([])], name="copier"
    )
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace/**"])], default="deny", tool_paths={"copy_file": {"src": "read"}}
    )
    with pytest.raises(GuardrailConfigError, match="copy_file"):
        create_deep_agent(
            ScriptedChatModel(responses=["done"]),
            guardrails=[jail],
            subagents=[{"name": "copier", "description": "copies", "runnable": compiled}],
        )


def test_deep_subagent_with_its_own_empty_jail_still_checks_the_callers_path_tools(
    tmp_path: Path, mode: str
) -> None:
    seen: list[str] = []
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/**"])],
        default="deny",
        tool_paths={"copy_file": {"src": "read", "dst": "write"}},
    )
    own = FilesystemPermissionMiddleware([])  # same name: replaces the inherited jail
    model = ScriptedChatModel(
        responses=[
            _task("copier"),
            AIMessage("", tool_calls=[tool_call("copy_file", {"src": str(secret), "dst": "/x"})]),
            "sub done",
            "done",
        ]
    )
    agent = create_deep_agent(
        model,
        guardrails=[jail],
        subagents=[
            {
                "name": "copier",
                "description": "copies",
                "system_prompt": "copy",
                "tools": [_copy_tool(seen)],
                "middleware": [own],
            }
        ],
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    assert seen == [], seen


@pytest.mark.parametrize(
    "target", ["/large_tool_results/call_x", "/conversation_history/session_" + "a" * 32 + ".md"]
)
def test_a_backend_held_subagent_cannot_write_into_the_offload_folders(
    tmp_path: Path, mode: str, target: str
) -> None:
    root = tmp_path / "root"
    (root / "workspace").mkdir(parents=True)
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    sub_model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("write_file", {"file_path": target,
                                                               "content": "planted"})]),
            "sub done",
        ]
    )  # fmt: skip
    compiled = deepagents.create_deep_agent(
        model=sub_model, backend=FilesystemBackend(root_dir=root, virtual_mode=True), name="w"
    )
    model = ScriptedChatModel(responses=[_task("w"), "done"])
    agent = create_deep_agent(
        model,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        subagents=[{"name": "w", "description": "writes", "runnable": compiled}],
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    assert not (root / target.lstrip("/")).exists()


def test_an_unsupported_backend_is_refused_when_guarded() -> None:
    from deepagents.backends.protocol import BackendProtocol

    class Opaque(BackendProtocol):
        pass

    jail = FilesystemPermissionMiddleware([P(["read"], ["/secrets/**"], "deny")])
    with pytest.raises(GuardrailConfigError, match="Opaque"):
        jail.guard(Opaque())


class _BothArgs(BaseModel):
    model_config = {"populate_by_name": True}
    source: str = Field(alias="from")


def test_a_call_sending_a_path_under_both_name_and_alias_is_checked_on_both(mode: str) -> None:
    seen: list[str] = []

    def read_it(**kwargs: Any) -> str:
        seen.append(str(kwargs))
        return SECRET

    reader = StructuredTool.from_function(
        func=read_it, name="read_it", description="Read.", args_schema=_BothArgs
    )
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace/**"])], default="deny", tool_paths={"read_it": {"source": "read"}}
    )
    answers = _answers(
        [("read_it", {"source": "/workspace/ok.txt", "from": "/secrets/key.pem"})],
        mode,
        guardrails=[jail],
        tools=[reader],
    )
    assert seen == [] and "permission denied for read on /secrets/key.pem" in answers[0], answers


def test_plain_setup_refuses_a_subagent_whose_path_tool_is_a_plain_function(
    tmp_path: Path, mode: str
) -> None:
    seen: list[str] = []

    def copy_file(src: str, dst: str) -> str:
        """Copy a file."""
        seen.append(src)
        return Path(src).read_text()

    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/**"])],
        default="deny",
        tool_paths={"copy_file": {"src": "read", "dst": "write"}},
    )
    model = ScriptedChatModel(
        responses=[
            _task("general-purpose"),
            AIMessage("", tool_calls=[tool_call("copy_file", {"src": str(secret), "dst": "/x"})]),
            "gp done",
            "done",
        ]
    )
    agent: Any = deepagents.create_deep_agent(
        model=model,
        tools=[copy_file],
        middleware=[jail],
        backend=jail.guard(FilesystemBackend(root_dir=tmp_path, virtual_mode=True)),
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    texts = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert seen == [] and "not held to the filesystem rules" in texts[0], texts


def test_tool_paths_naming_a_tool_the_agent_lacks_warns_when_built() -> None:
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace/**"])], default="deny", tool_paths={"copyfile": {"src": "read"}}
    )
    with pytest.warns(UserWarning, match="copyfile"):
        create_deep_agent(
            ScriptedChatModel(responses=["done"]), [_copy_tool([])], guardrails=[jail]
        )


# --------------------------------------------------------------------------- interrupts


def test_parallel_calls_needing_approval_resume_with_one_value(tmp_path: Path, mode: str) -> None:
    """Two calls of one turn both need approval: one request, the documented resume works."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    root = tmp_path / "root"
    (root / "public").mkdir(parents=True)
    jail = FilesystemPermissionMiddleware([P(["write"], ["/public/**"], "interrupt")])
    calls = [
        tool_call("write_file", {"file_path": "/public/a.txt", "content": "A"}),
        tool_call("write_file", {"file_path": "/public/b.txt", "content": "B"}),
        tool_call("write_file", {"file_path": "/other.txt", "content": "C"}),
    ]
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=calls), "done"])
    agent = create_deep_agent(
        model,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": f"t-{mode}"}}
    out = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    (pending,) = out["__interrupt__"]
    asked = [r["args"]["file_path"] for r in pending.value["action_requests"]]
    assert asked == ["/public/a.txt", "/public/b.txt"]
    assert not (root / "public" / "a.txt").exists()
    decisions = [{"type": "approve"}, {"type": "reject", "message": "not b"}]
    out = invoke(agent, Command(resume={"decisions": decisions}), mode, config)
    assert (root / "public" / "a.txt").read_text() == "A"
    assert not (root / "public" / "b.txt").exists()
    assert (root / "other.txt").read_text() == "C"
    texts = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert any("rejected by a reviewer: not b" in t for t in texts), texts


@pytest.mark.parametrize("deep", [True, False])
def test_a_file_tool_error_never_shows_the_host_path_behind_a_virtual_one(
    tmp_path: Path, mode: str, deep: bool
) -> None:
    root = tmp_path / "root"
    (root / "workspace" / "d").mkdir(parents=True)
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    answers = _answers(
        [("write_file", {"file_path": "/workspace/d", "content": "x"})],
        mode,
        deep=deep,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )
    assert str(tmp_path) not in answers[0] and "/workspace/d" in answers[0], answers


def test_a_route_that_takes_host_paths_is_refused(tmp_path: Path, mode: str) -> None:
    """A routed non-virtual FilesystemBackend gets '/etc/hostname' for '/data/etc/hostname'."""
    (tmp_path / "data").mkdir()
    backend = CompositeBackend(
        default=StateBackend(),
        routes={"/data/": FilesystemBackend(root_dir=tmp_path / "data", virtual_mode=False)},
    )
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/data/**"])], default="deny")
    with pytest.raises(GuardrailConfigError, match="route '/data/'"):
        jail.guard(backend)
    answers = _answers(
        [("read_file", {"file_path": "/data/etc/hostname"})],
        mode,
        deep=False,
        guardrails=[jail],
        backend=backend,
    )
    assert answers[0].startswith("Error: permission denied"), answers
