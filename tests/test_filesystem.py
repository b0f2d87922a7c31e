"""Filesystem permissions through real deep agents: rules, bypasses, bulk filtering, oracles."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.errors import GuardrailConfigError
from guardrails.filesystem import (
    FilesystemPermission,
    FilesystemPermissionMiddleware,
    PathRejectedError,
    normalize_path,
)
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import (  # noqa: E402
    CompositeBackend,
    FilesystemBackend,
    StateBackend,
)

P = FilesystemPermission
SECRET = "hunter2-s3cr3t"
Call = tuple[str, dict[str, Any]]


def _tree(root: Path, secret: str = SECRET) -> Path:
    root.mkdir(parents=True)
    (root / "public").mkdir()
    (root / "secrets").mkdir()
    (root / "workspace").mkdir()
    (root / "public" / "a.txt").write_text("hello public\n")
    (root / "workspace" / "notes.txt").write_text("workspace notes\n")
    (root / "workspace" / "todo.txt").write_text("todo\n")
    (root / "secrets" / ".env").write_text(f"TOKEN={secret}\n")
    (root / "secrets" / "key.pem").write_text(f"KEY {secret}\n")
    (root / "secret.txt").write_text(f"{secret} topsecret\n")
    (root / ".ssh").mkdir()
    (root / ".ssh" / "id_rsa").write_text(f"RSA {secret}\n")
    return root


def run_calls(
    calls: Sequence[Call],
    mode: str,
    *,
    middleware: Sequence[Any] = (),
    backend: Any = None,
    files: dict[str, str] | None = None,
    **kwargs: Any,
) -> list[str]:
    """Run a deep agent whose scripted model makes ``calls`` one by one; the tool answers."""
    script: list[Any] = [AIMessage("", tool_calls=[tool_call(n, a)]) for n, a in calls]
    model = ScriptedChatModel(responses=[*script, "done"])
    agent = deepagents.create_deep_agent(
        model=model, backend=backend, middleware=list(middleware), **kwargs
    )
    payload: dict[str, Any] = {"messages": [("user", "go")]}
    if files:
        payload["files"] = {
            path: {"content": text, "encoding": "utf-8"} for path, text in files.items()
        }
    out = invoke(agent, payload, mode)
    return [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]


SECRETS_DENIED = [P(["read", "write"], ["/secrets/**", "/secret.txt", "**/.ssh/**"], "deny")]
JAIL = [P(["read", "write"], ["/workspace/**"])]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return _tree(tmp_path / "root")


def fs_backend(root: Path) -> FilesystemBackend:
    return FilesystemBackend(root_dir=root, virtual_mode=True)


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operations": ["edit"], "paths": ["/x"]}, "operations"),
        ({"operations": [], "paths": ["/x"]}, "operations"),
        ({"operations": ["read"], "paths": ["/x"], "mode": "Deny"}, "mode"),
        ({"operations": ["read"], "paths": []}, "paths must not be empty"),
        ({"operations": ["read"], "paths": ["secrets/**"]}, "Permission path must start with '/'"),
        ({"operations": ["read"], "paths": ["/a/[bc"]}, "unbalanced"),
        ({"operations": ["read"], "paths": ["/a/{b,c"]}, "unbalanced"),
        ({"operations": ["read"], "paths": ["/a/../b"]}, "Permission path must not contain '..'"),
        ({"operations": ["read"], "paths": ["/a\\..\\b"]}, "must not contain '..'"),
        ({"operations": ["read"], "paths": ["/a/\x85b"]}, "control character"),
    ],
)
def test_bad_rules_fail_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GuardrailConfigError, match=message):
        P(**kwargs)


def test_bad_middleware_settings_fail_at_construction() -> None:
    with pytest.raises(GuardrailConfigError, match="default must be 'allow' or 'deny'"):
        FilesystemPermissionMiddleware([], default="interrupt")
    with pytest.raises(GuardrailConfigError, match=r"tool_paths\['copy'\]\['src'\]"):
        FilesystemPermissionMiddleware([], tool_paths={"copy": {"src": "edit"}})
    with pytest.raises(GuardrailConfigError, match="widen"):
        FilesystemPermissionMiddleware([], widen=[P(["read"], ["/x"], "deny")])
    with pytest.raises(GuardrailConfigError, match="unknown keys"):
        FilesystemPermissionMiddleware([{"operations": ["read"], "paths": ["/x"], "moed": "deny"}])
    with pytest.warns(UserWarning, match="no allow rule"):
        FilesystemPermissionMiddleware([P(["read"], ["/x/**"], "deny")], default="deny")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FilesystemPermissionMiddleware(JAIL, default="deny")


def test_deepagents_rules_are_accepted() -> None:
    theirs = deepagents.middleware.filesystem.FilesystemPermission(
        operations=["read"], paths=["/secrets/**"], mode="deny"
    )
    mw = FilesystemPermissionMiddleware([theirs])
    assert mw.rules == [P(["read"], ["/secrets/**"], "deny")]
    assert mw.decide("read", "/secrets/.env") == "deny"
    assert mw.decide("write", "/secrets/.env") == "allow"


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/secrets/.env", "deny"),  # dot-names are covered by **
        ("/secrets", "deny"),  # /x/** covers /x
        ("/secrets/a/.b/c", "deny"),
        ("/secret.txt", "deny"),
        ("/.ssh/id_rsa", "deny"),  # **/.ssh/** from the root
        ("/home/u/.ssh/id_rsa", "deny"),
        ("/public/a.txt", "allow"),
        ("/secretsX/a", "allow"),
    ],
)
def test_matching(path: str, expected: str) -> None:
    assert FilesystemPermissionMiddleware(SECRETS_DENIED).decide("read", path) == expected


def test_jail_covers_dotfiles_and_first_match_wins() -> None:
    mw = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["**/.env"], "deny"), *JAIL], default="deny"
    )
    assert mw.decide("read", "/workspace/notes.txt") == "allow"
    assert mw.decide("read", "/workspace") == "allow"
    assert mw.decide("read", "/workspace/.env") == "deny"
    assert mw.decide("read", "/.ssh/id_rsa") == "deny"
    assert mw.decide("read", "/") == "deny"
    assert mw.decide("execute", "/") == "deny"
    allow_exec = FilesystemPermissionMiddleware([P(["execute"], ["/**"])])
    assert allow_exec.decide("execute", "/") == "allow"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/public/../secret.txt", "/secret.txt"),
        ("/public/./a.txt", "/public/a.txt"),
        ("//secrets//.env", "/secrets/.env"),
        ("/secrets/", "/secrets"),
        ("secrets/.env", "/secrets/.env"),
        ("/public/%2e%2e/secret.txt", "/public/%2e%2e/secret.txt"),  # literal name, not decoded
        ("/cafe\u0301", "/caf\u00e9"),  # NFC
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert normalize_path(raw) == normalized


@pytest.mark.parametrize(
    "raw", ["/../etc/passwd", "/a/../../b", "/a\\b", "/a\x00b", "/a\nb", "~/x", "C:/x", ""]
)
def test_normalize_rejects(raw: str) -> None:
    with pytest.raises(PathRejectedError):
        normalize_path(raw)
    assert FilesystemPermissionMiddleware([]).decide("read", raw) == "deny"


def test_case_folding_when_the_volume_is_case_insensitive() -> None:
    sensitive = FilesystemPermissionMiddleware(SECRETS_DENIED, case_insensitive=False)
    folded = FilesystemPermissionMiddleware(SECRETS_DENIED, case_insensitive=True)
    assert sensitive.decide("read", "/SECRETS/.ENV") == "allow"  # another file on Linux
    assert folded.decide("read", "/SECRETS/.ENV") == "deny"
    assert folded.decide("read", "/Secret.TXT") == "deny"


_SEGMENT = st.sampled_from(
    ["secrets", "public", "workspace", ".env", ".ssh", "id_rsa", "a", ".", "..", "", "x.txt"]
)


# slow: a property sweep
@pytest.mark.slow
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SEGMENT, min_size=0, max_size=7), st.booleans())
def test_property_raw_and_normalized_paths_get_the_same_decision(
    segments: list[str], trailing: bool
) -> None:
    mw = FilesystemPermissionMiddleware(
        [*SECRETS_DENIED, P(["read"], ["**/.env"], "deny")], default="allow"
    )
    raw = "/" + "/".join(segments) + ("/" if trailing else "")
    try:
        normalized = normalize_path(raw)
    except PathRejectedError:
        assert mw.decide("read", raw) == "deny"
        return
    assert mw.decide("read", raw) == mw.decide("read", normalized)
    parts = normalized.split("/")
    inside_denied = (
        normalized == "/secret.txt"
        or normalized == "/secrets"
        or normalized.startswith("/secrets/")
        or ".ssh" in parts[:-1]
        or parts[-1] == ".env"
    )
    if inside_denied:
        assert mw.decide("read", raw) == "deny", raw


# --------------------------------------------------------------------------- real deep agents


def test_filesystem_backend_bypass_suite(root: Path, mode: str, audit: AuditCapture) -> None:
    os.symlink(root / "secret.txt", root / "public" / "link.txt")
    os.link(root / "secrets" / "key.pem", root / "public" / "hard.pem")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    calls: list[Call] = [
        ("read_file", {"file_path": "/public/../secret.txt"}),
        ("read_file", {"file_path": "/public/%2e%2e/secret.txt"}),
        ("read_file", {"file_path": "/public/....//secret.txt"}),
        ("read_file", {"file_path": "//secrets//.env"}),
        ("read_file", {"file_path": "/./secrets/./key.pem"}),
        ("read_file", {"file_path": "/secrets/.env/"}),
        ("read_file", {"file_path": "/SECRETS/.env"}),
        ("read_file", {"file_path": "/secrets/\uff0eenv"}),  # fullwidth full stop look-alike
        ("read_file", {"file_path": "/public/link.txt"}),  # symlink to a denied file
        ("read_file", {"file_path": "/public/hard.pem"}),  # hard link to a denied file
        ("read_file", {"file_path": "/.ssh/id_rsa"}),
        ("read_file", {"file_path": "/secrets\\.env"}),
        ("ls", {"path": "/"}),
        ("ls", {"path": "/secrets"}),
        ("glob", {"pattern": "**/*"}),
        ("glob", {"pattern": "**/.env"}),
        ("grep", {"pattern": SECRET}),
        ("grep", {"pattern": SECRET, "path": "/", "output_mode": "content"}),
        ("grep", {"pattern": SECRET, "output_mode": "count"}),
        ("edit_file", {"file_path": "/secrets/.env", "old_string": "TOKEN", "new_string": "X"}),
        ("write_file", {"file_path": "/secrets/new.txt", "content": "x"}),
        ("write_file", {"file_path": "/public/../secret.txt", "content": "overwritten"}),
        ("delete", {"file_path": "/secrets/.env"}),
        ("delete", {"file_path": "/secrets"}),
        ("execute", {"command": "cat /secrets/.env"}),
        ("read_file", {"file_path": "/public/missing.txt"}),  # a name that does not exist
        ("read_file", {"file_path": "/public/a\u2028.txt"}),  # line separator
        ("read_file", {"file_path": "/public/a\x85.txt"}),  # C1 control (NEL)
    ]
    mw = FilesystemPermissionMiddleware(SECRETS_DENIED)
    answers = run_calls(calls, mode, middleware=[mw], backend=fs_backend(root))
    assert len(answers) == len(calls)
    for (name, args), answer in zip(calls, answers, strict=True):
        assert SECRET not in answer, (name, args, answer)
        if name in ("ls", "glob", "grep"):  # no denied name leaks through a listing or search
            for denied_name in (".env", "key.pem", "id_rsa", "secret.txt", "link.txt", "hard.pem"):
                assert denied_name not in answer, (name, args, answer)
    # every file is as it was, nothing added under the denied folders
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before
    # a name withheld for what it links to answers exactly like a missing one (no oracle)
    assert answers[8] == answers[-3].replace("missing.txt", "link.txt")
    assert answers[9] == answers[-3].replace("missing.txt", "hard.pem")
    assert answers[-2] == answers[-1] == "Error: permission denied for read: invalid path"
    denied = audit.of("fs.denied")
    assert {e["reason"] for e in denied} >= {"rule", "symlink", "hardlink", "invalid_path"}
    assert all(SECRET not in str(e) for e in audit.events)
    filtered = audit.of("fs.filtered")
    assert filtered and all(e["withheld"] >= 1 for e in filtered)
    assert all("withheld" not in a for a in answers)


def test_allowed_calls_work_and_use_the_normalized_path(root: Path, mode: str) -> None:
    mw = FilesystemPermissionMiddleware(SECRETS_DENIED)
    answers = run_calls(
        [
            ("read_file", {"file_path": "/public/./../public/a.txt"}),
            ("write_file", {"file_path": "//public//b.txt", "content": "new"}),
            ("ls", {"path": "/public/"}),
            ("glob", {"pattern": "*.txt", "path": "/public"}),
        ],
        mode,
        middleware=[mw],
        backend=fs_backend(root),
    )
    assert "hello public" in answers[0]
    assert (root / "public" / "b.txt").read_text() == "new"
    assert "/public/a.txt" in answers[2] and "/public/b.txt" in answers[2]
    assert "/public/a.txt" in answers[3]


def test_workspace_jail_on_the_filesystem(root: Path, mode: str) -> None:
    mw = FilesystemPermissionMiddleware(JAIL, default="deny")
    answers = run_calls(
        [
            ("glob", {"pattern": "/workspace/*.txt"}),  # judged by /workspace, not /
            ("glob", {"pattern": "**/*"}),  # searches / : denied
            ("grep", {"pattern": "notes"}),  # searches / : denied
            ("grep", {"pattern": "notes", "path": "/workspace"}),
            ("read_file", {"file_path": "/public/a.txt"}),
            ("write_file", {"file_path": "/workspace/out.txt", "content": "ok"}),
            ("read_file", {"file_path": "/workspace/../secret.txt"}),
        ],
        mode,
        middleware=[mw],
        backend=fs_backend(root),
    )
    assert "/workspace/notes.txt" in answers[0] and "/workspace/todo.txt" in answers[0]
    assert answers[1].startswith("Error: permission denied for read on /")
    assert answers[2].startswith("Error: permission denied for read on /")
    assert "/workspace/notes.txt" in answers[3]
    assert answers[4] == "Error: permission denied for read on /public/a.txt"
    assert (root / "workspace" / "out.txt").read_text() == "ok"
    assert answers[6] == "Error: permission denied for read on /secret.txt"


def test_state_backend(mode: str) -> None:
    files = {"/public/a.txt": "hello\n", "/secrets/.env": f"TOKEN={SECRET}\n"}
    mw = FilesystemPermissionMiddleware(SECRETS_DENIED)
    answers = run_calls(
        [
            ("read_file", {"file_path": "/secrets/.env"}),
            ("ls", {"path": "/"}),
            ("glob", {"pattern": "**/*"}),
            ("grep", {"pattern": SECRET}),
            ("read_file", {"file_path": "/public/a.txt"}),
        ],
        mode,
        middleware=[mw],
        backend=StateBackend(),
        files=files,
    )
    assert answers[0] == "Error: permission denied for read on /secrets/.env"
    assert "/secrets" not in answers[1] and "/public" in answers[1]
    assert ".env" not in answers[2] and "/public/a.txt" in answers[2]
    assert SECRET not in answers[3] and ".env" not in answers[3]
    assert "hello" in answers[4]


def test_composite_backend_memories_read_only(root: Path, mode: str, tmp_path: Path) -> None:
    memories = tmp_path / "memories"
    memories.mkdir()
    (memories / "prefs.md").write_text("likes tea\n")
    backend = CompositeBackend(
        default=fs_backend(root),
        routes={"/memories/": FilesystemBackend(root_dir=memories, virtual_mode=True)},
    )
    mw = FilesystemPermissionMiddleware([P(["write"], ["/memories/**"], "deny"), *SECRETS_DENIED])
    answers = run_calls(
        [
            ("read_file", {"file_path": "/memories/prefs.md"}),
            ("write_file", {"file_path": "/memories/new.md", "content": "x"}),
            (
                "edit_file",
                {"file_path": "/memories/prefs.md", "old_string": "tea", "new_string": "x"},
            ),
            ("ls", {"path": "/memories"}),
            ("read_file", {"file_path": "/secrets/.env"}),
        ],
        mode,
        middleware=[mw],
        backend=backend,
    )
    assert "likes tea" in answers[0]
    assert answers[1] == "Error: permission denied for write on /memories/new.md"
    assert answers[2] == "Error: permission denied for write on /memories/prefs.md"
    assert (memories / "prefs.md").read_text() == "likes tea\n"
    assert not (memories / "new.md").exists()
    assert "/memories/prefs.md" in answers[3]
    assert answers[4] == "Error: permission denied for read on /secrets/.env"


def test_custom_tool_paths(mode: str, audit: AuditCapture) -> None:
    copied: list[tuple[str, str]] = []

    from tests.support import tool

    @tool
    def copy_file(src: str, dst: str) -> str:
        """Copy a file."""
        copied.append((src, dst))
        return "copied"

    mw = FilesystemPermissionMiddleware(
        SECRETS_DENIED, tool_paths={"copy_file": {"src": "read", "dst": "write"}}
    )
    answers = run_calls(
        [
            ("copy_file", {"src": "/secrets/.env", "dst": "/public/x"}),
            ("copy_file", {"src": "/public//a.txt", "dst": "/public/./b"}),
        ],
        mode,
        middleware=[mw],
        tools=[copy_file],
    )
    assert answers[0] == "Error: permission denied for read on /secrets/.env"
    assert copied == [("/public/a.txt", "/public/b")]
    assert audit.of("fs.denied")[0]["tool"] == "copy_file"


# --------------------------------------------------------------------------- oracles


def _adaptive_transcript(root: Path, mode: str) -> list[str]:
    """An adaptive model probing a denied secret with grep(max_count) and no-op edits."""
    probes: list[Call] = []
    for prefix in ("h", "x", "hunter", "zzz"):
        probes.append(("grep", {"pattern": f"TOKEN={prefix}", "max_count": 1}))
        probes.append(("grep", {"pattern": prefix, "output_mode": "count", "max_count": 1}))
        probes.append(
            ("edit_file", {"file_path": "/secrets/.env", "old_string": f"TOKEN={prefix}",
                           "new_string": f"TOKEN={prefix}"})
        )  # fmt: skip
        probes.append(("glob", {"pattern": f"**/*{prefix}*"}))
    mw = FilesystemPermissionMiddleware(SECRETS_DENIED)
    return run_calls(probes, mode, middleware=[mw], backend=fs_backend(root))


def test_oracles_learn_nothing_about_a_denied_secret(tmp_path: Path, mode: str) -> None:
    one = _adaptive_transcript(_tree(tmp_path / "one", secret="hunter2-aaaa"), mode)
    two = _adaptive_transcript(_tree(tmp_path / "two", secret="xylophone-bb"), mode)
    assert one == two  # the answers do not depend on the secret
    assert any("permission denied" in a for a in one)


def test_grep_max_count_is_applied_after_filtering(root: Path, mode: str) -> None:
    (root / "public" / "many.txt").write_text("needle\n" * 3)
    (root / "secrets" / "many.txt").write_text("needle\n" * 50)
    mw = FilesystemPermissionMiddleware(SECRETS_DENIED)
    answers = run_calls(
        [
            ("grep", {"pattern": "needle", "output_mode": "content", "max_count": 5}),
            ("grep", {"pattern": "needle", "output_mode": "content", "max_count": 2}),
        ],
        mode,
        middleware=[mw],
        backend=fs_backend(root),
    )
    assert "/secrets" not in answers[0]
    note = deepagents.middleware.filesystem.GREP_TRUNCATION_NOTE
    assert note not in answers[0]  # 3 visible hits fit under 5: no note from the 50 denied ones
    assert answers[0].count("needle") == 3
    assert note in answers[1] and answers[1].count("needle") == 2


# --------------------------------------------------------------------------- subagents


def _task(description: str, subagent: str) -> AIMessage:
    return AIMessage(
        "", tool_calls=[tool_call("task", {"description": description, "subagent_type": subagent})]
    )


def _subagent_run(
    root: Path, mode: str, sub_middleware: list[Any], sub_extra: dict[str, Any] | None = None,
    *, guard: bool = False, parent_rules: list[Any] | None = None,
) -> tuple[list[str], list[str]]:  # fmt: skip
    """Parent reads /public/a.txt and /secret.txt, then asks 'reader' to read both."""
    parent = FilesystemPermissionMiddleware(parent_rules or [P(["read"], ["/secret.txt"], "deny")])
    parent_model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("read_file", {"file_path": "/public/a.txt"})]),
            _task("read the files", "reader"),
            "done",
        ]
    )
    sub_model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("read_file", {"file_path": "/secret.txt"})]),
            AIMessage("", tool_calls=[tool_call("read_file", {"file_path": "/public/a.txt"})]),
            AIMessage("", tool_calls=[tool_call("grep", {"pattern": SECRET})]),
            "sub done",
        ]
    )
    base = fs_backend(root)
    spec: dict[str, Any] = {
        "name": "reader",
        "description": "Reads files.",
        "system_prompt": "You read.",
        "model": sub_model,
        "middleware": sub_middleware,
        **(sub_extra or {}),
    }
    agent = deepagents.create_deep_agent(
        model=parent_model,
        backend=parent.guard(base) if guard else base,
        middleware=[parent],
        subagents=[spec],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    parent_answers = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    sub_answers = [
        str(m.content)
        for request in sub_model.requests
        for m in request["messages"]
        if isinstance(m, ToolMessage)
    ]
    return parent_answers, sub_answers


def test_subagent_stricter_than_its_parent(root: Path, mode: str, audit: AuditCapture) -> None:
    parent = FilesystemPermissionMiddleware([P(["read"], ["/secret.txt"], "deny")])
    stricter = parent.restrict([P(["read"], ["/public/**"], "deny")], name="reader-fs")
    parent_answers, sub_answers = _subagent_run(root, mode, [stricter])
    assert "hello public" in parent_answers[0]  # the parent reads it
    assert "Error: permission denied for read on /public/a.txt" in sub_answers
    assert "Error: permission denied for read on /secret.txt" in sub_answers
    assert not any(SECRET in a for a in sub_answers + parent_answers)
    sub_events = [e for e in audit.of("fs.denied") if e.get("subagent") == "reader"]
    assert {e["path"] for e in sub_events} >= {"/public/a.txt", "/secret.txt"}


@pytest.mark.parametrize(
    "variant", ["own_allow_rule", "empty_rule_list", "deepagents_empty_permissions"]
)
def test_subagent_never_reads_what_its_parent_is_denied(
    root: Path, mode: str, variant: str
) -> None:
    if variant == "own_allow_rule":
        sub_mw: list[Any] = [
            FilesystemPermissionMiddleware([P(["read"], ["/**"])], name="reader-fs")
        ]
        extra: dict[str, Any] = {}
    elif variant == "empty_rule_list":
        sub_mw, extra = [FilesystemPermissionMiddleware([], name="reader-fs")], {}
    else:  # no middleware of ours at all: the guarded backend holds the line
        sub_mw, extra = [], {"permissions": []}
    guard = variant == "deepagents_empty_permissions"  # the others inherit through middleware
    _, sub_answers = _subagent_run(root, mode, sub_mw, extra, guard=guard)
    assert not any(SECRET in a for a in sub_answers), sub_answers
    assert any("permission denied" in a and "/secret.txt" in a for a in sub_answers)
    assert any("hello public" in a for a in sub_answers)


def test_widening_is_explicit_and_audited(root: Path, mode: str, audit: AuditCapture) -> None:
    parent = FilesystemPermissionMiddleware([P(["read"], ["/secret.txt"], "deny")])
    widened = parent.restrict([], widen=[P(["read"], ["/secret.txt"])], name="reader-fs")
    _, sub_answers = _subagent_run(root, mode, [widened])
    assert any(SECRET in a for a in sub_answers)
    assert audit.of("fs.widened")


# --------------------------------------------------------------------------- interrupt


def test_interrupt_approve_and_reject(root: Path, mode: str, audit: AuditCapture) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    mw = FilesystemPermissionMiddleware([P(["write"], ["/public/**"], "interrupt")])
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("write_file", {"file_path": "/public/ok.txt",
                                                               "content": "yes"})]),
            AIMessage("", tool_calls=[tool_call("write_file", {"file_path": "/public/no.txt",
                                                               "content": "no"})]),
            "done",
        ]
    )  # fmt: skip
    agent = deepagents.create_deep_agent(
        model=model, backend=fs_backend(root), middleware=[mw], checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": f"t-{mode}"}}
    out = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    request = out["__interrupt__"][0].value
    assert request["action_requests"][0]["name"] == "write_file"
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "reject"]
    assert not (root / "public" / "ok.txt").exists()
    out = invoke(agent, Command(resume={"decisions": [{"type": "approve"}]}), mode, config)
    assert (root / "public" / "ok.txt").read_text() == "yes"
    out = invoke(
        agent, Command(resume={"decisions": [{"type": "reject", "message": "no"}]}), mode, config
    )
    assert not (root / "public" / "no.txt").exists()
    last_tool = [m for m in out["messages"] if isinstance(m, ToolMessage)][-1]
    assert "rejected by a reviewer: no" in str(last_tool.content)
    assert len(audit.of("fs.interrupted")) == 2
    assert [e["reason"] for e in audit.of("fs.denied")] == ["rejected"]


def test_decide_answers_without_touching_the_backend(root: Path) -> None:
    calls: list[str] = []

    class Spy(FilesystemBackend):
        def read(self, *a: Any, **k: Any) -> Any:
            calls.append("read")
            return super().read(*a, **k)

    spy = Spy(root_dir=root, virtual_mode=True)
    mw = FilesystemPermissionMiddleware(SECRETS_DENIED)
    answers_exist = run_calls([("read_file", {"file_path": "/secrets/.env"})], "sync",
                              middleware=[mw], backend=spy)  # fmt: skip
    answers_missing = run_calls([("read_file", {"file_path": "/secrets/nope"})], "sync",
                                middleware=[mw], backend=spy)  # fmt: skip
    assert calls == []
    assert answers_exist[0].replace(".env", "X") == answers_missing[0].replace("nope", "X")


def test_brace_and_class_patterns() -> None:
    mw = FilesystemPermissionMiddleware(
        [P(["read"], ["/a/{b,c/{d,e}}/*.md", "/logs/[!x]?.log"], "deny")]
    )
    for path in ("/a/b/x.md", "/a/c/d/.y.md", "/a/c/e/z.md", "/logs/ab.log"):
        assert mw.decide("read", path) == "deny", path
    for path in ("/a/c/x.md", "/a/b/x.txt", "/logs/xb.log", "/logs/abc.log"):
        assert mw.decide("read", path) == "allow", path


def _guarded_calls(guarded: Any, mode: str) -> dict[str, Any]:
    import asyncio

    async def run_async() -> dict[str, Any]:
        return {
            "read": await guarded.aread("/secrets/.env"),
            "ls": await guarded.als("/"),
            "grep": await guarded.agrep(SECRET, path="/"),
            "download": await guarded.adownload_files(["/public/a.txt", "/secret.txt"]),
            "upload": await guarded.aupload_files([("/secrets/x", b"x"), ("/public/y", b"y")]),
            "edit": await guarded.aedit("/secret.txt", SECRET, "gone"),
        }

    if mode == "async":
        return asyncio.run(run_async())
    return {
        "read": guarded.read("/secrets/.env"),
        "ls": guarded.ls("/"),
        "grep": guarded.grep(SECRET, path="/"),
        "download": guarded.download_files(["/public/a.txt", "/secret.txt"]),
        "upload": guarded.upload_files([("/secrets/x", b"x"), ("/public/y", b"y")]),
        "edit": guarded.edit("/secret.txt", SECRET, "gone"),
    }


def test_guarded_backend_on_its_own(root: Path, mode: str, audit: AuditCapture) -> None:
    mw = FilesystemPermissionMiddleware(SECRETS_DENIED)
    guarded = mw.guard(fs_backend(root))
    assert isinstance(guarded, FilesystemBackend)
    got = _guarded_calls(guarded, mode)
    assert got["read"].error == "Error: permission denied for read on /secrets/.env"
    assert {e["path"].rstrip("/") for e in got["ls"].entries} == {"/public", "/workspace"}
    assert got["grep"].matches == []
    assert got["download"][0].content == b"hello public\n"
    # outside a tool call (deepagents loading memory= files): a denied file reads as missing
    assert got["download"][1].error == "file_not_found" and got["download"][1].content is None
    assert got["upload"][0].error == "permission_denied" and got["upload"][1].error is None
    assert not (root / "secrets" / "x").exists() and (root / "public" / "y").read_bytes() == b"y"
    assert got["edit"].error and SECRET in (root / "secret.txt").read_text()
    filtered = audit.of("fs.filtered")
    assert len(filtered) == 2  # ls and grep, each filtered once (no double pass in async)


def test_recursive_delete_cannot_remove_a_denied_descendant(root: Path, mode: str) -> None:
    (root / "workspace" / ".env").write_text(f"TOKEN={SECRET}\n")
    (root / "workspace" / "keep").mkdir()
    (root / "workspace" / "keep" / "k.txt").write_text("keep\n")
    mw = FilesystemPermissionMiddleware(
        [
            P(["read", "write"], ["**/.env"], "deny"),
            P(["write"], ["/workspace/keep/**"], "deny"),
        ]
    )
    answers = run_calls(
        [
            ("delete", {"file_path": "/workspace"}),  # would take .env and keep/ with it
            ("delete", {"file_path": "/workspace/todo.txt"}),  # a plain file: fine
        ],
        mode,
        middleware=[mw],
        backend=fs_backend(root),
    )
    assert answers[0] == (
        "Error: permission denied for write on /workspace"
        " (matches deny rule(s): **/.env, /workspace/keep/**)"
    )
    assert (root / "workspace" / ".env").exists() and (root / "workspace" / "keep").exists()
    assert not (root / "workspace" / "todo.txt").exists(), answers[1]


def test_a_listing_tool_it_cannot_filter_is_denied(mode: str, audit: AuditCapture) -> None:
    from langchain.agents import create_agent

    from tests.support import tool

    @tool
    def ls(path: str) -> str:
        """List a folder (not deepagents' tool: its results cannot be filtered)."""
        return "/secrets/.env"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("ls", {"path": "/"})]), "done"]
    )
    agent = create_agent(
        model, tools=[ls], middleware=[FilesystemPermissionMiddleware(SECRETS_DENIED)]
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    answer = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert answer.content == "Error: permission denied for read on /"
    assert audit.of("fs.denied")[0]["reason"] == "unfilterable"


def test_class_docstring_example_denies_env_in_the_workspace() -> None:
    doc = FilesystemPermissionMiddleware.__doc__ or ""
    start = doc.index("jail = FilesystemPermissionMiddleware(")
    end = doc.index('default="deny",\n', start)
    source = doc[start:end] + 'default="deny")'
    scope: dict[str, Any] = {
        "FilesystemPermission": FilesystemPermission,
        "FilesystemPermissionMiddleware": FilesystemPermissionMiddleware,
    }
    exec(source.replace("\n        ", "\n"), scope)
    jail = scope["jail"]
    assert jail.decide("read", "/workspace/.env") == "deny"
    assert jail.decide("read", "/workspace/notes.txt") == "allow"


_SEGMENTS = st.sampled_from(
    ["a", "b", "ab", "*", "?", "**", "[ab]", "a*", "*b", "*a*b", ".x", "[!a]"]
)
_NAMES = st.sampled_from(["a", "b", "ab", "ba", "aab", ".x", "A", "abab"])


# slow: a property sweep
@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_SEGMENTS, min_size=1, max_size=6),
    st.lists(_NAMES, min_size=0, max_size=8),
    st.booleans(),
)
def test_property_linear_matcher_agrees_with_the_regex(
    segments: list[str], names: list[str], ci: bool
) -> None:
    import re

    from guardrails.filesystem.rules import Pattern

    pattern = Pattern.compile("/" + "/".join(segments), "test")
    path = "/" + "/".join(names)
    expected = re.fullmatch(pattern.regex, path, re.IGNORECASE if ci else 0) is not None
    assert pattern.matches(names, ci) == expected, (pattern.source, path, ci)
