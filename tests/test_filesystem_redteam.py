"""The red-team pass on filesystem permissions, one test per finding, through real deep agents.

Each test names the finding it covers (issue 14). Backends: FilesystemBackend on disk (virtual mode
on and off), StateBackend, CompositeBackend with a route; sync and async through ``mode``.
"""

from __future__ import annotations

import os
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import (  # noqa: E402
    CompositeBackend,
    FilesystemBackend,
    LocalShellBackend,
    StateBackend,
)

from guardrails.deep import create_deep_agent  # noqa: E402

P = FilesystemPermission
SECRET = "hunter2-s3cr3t"
Call = tuple[str, dict[str, Any]]


def _agent_answers(
    calls: Sequence[Call],
    mode: str,
    *,
    deep: bool = False,
    guardrails: Sequence[Any] = (),
    payload: dict[str, Any] | None = None,
    **kwargs: Any,
) -> list[str]:
    script: list[Any] = [AIMessage("", tool_calls=[tool_call(n, a)]) for n, a in calls]
    model = ScriptedChatModel(responses=[*script, "done"])
    if deep:
        agent = create_deep_agent(model, guardrails=list(guardrails), **kwargs)
    else:
        agent = deepagents.create_deep_agent(model=model, middleware=list(guardrails), **kwargs)
    out = invoke(agent, payload or {"messages": [("user", "go")]}, mode)
    return [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]


def _undecodable(path: Path, secret: str = SECRET) -> None:
    """A file grep matches in its first lines and then fails to decode (a partial error)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"password={secret}\n".encode() + b"x" * 9000 + b"\n\xff\xfe\xfa bad\n")


# --------------------------------------------------------------------------- 1 and 5


@pytest.mark.parametrize("search_root", ["/data", "/"])
def test_1_composite_route_grep_with_a_partial_error_leaks_nothing(
    tmp_path: Path, mode: str, audit: AuditCapture, search_root: str
) -> None:
    disk = tmp_path / "disk"
    _undecodable(disk / "secrets" / "prod-passwords.csv")
    (disk / "public.txt").write_text(f"nothing to see, not {SECRET[:3]}\n")
    backend = CompositeBackend(
        default=StateBackend(),
        routes={"/data/": FilesystemBackend(root_dir=disk, virtual_mode=True)},
    )
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/data/secrets/**"], "deny")])
    answers = _agent_answers(
        [("grep", {"pattern": "password", "path": search_root, "output_mode": "content"})],
        mode,
        guardrails=[jail],
        backend=backend,
    )
    assert not any(SECRET in a for a in answers), answers
    assert not any("prod-passwords" in a for a in answers), answers
    assert audit.of("fs.filtered"), "the withheld lines are audited"


def test_5_grep_and_ls_error_texts_pass_the_same_filter(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    root = tmp_path / "root"
    _undecodable(root / "workspace" / "secrets" / "prod-passwords.csv")
    (root / "workspace" / "notes.txt").write_text("password=public\n")
    (root / "workspace" / "loop").symlink_to(root / "workspace" / "loop")  # a symlink loop
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/secrets/**"], "deny"), P(["read"], ["/workspace/**"])],
        default="deny",
    )
    answers = _agent_answers(
        [
            ("grep", {"pattern": "password", "path": "/workspace", "output_mode": "content"}),
            ("ls", {"path": "/workspace"}),
        ],
        mode,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )
    assert "password=public" in answers[0]
    assert "prod-passwords" not in answers[0] and SECRET not in answers[0], answers[0]
    assert str(root) not in answers[1] and str(tmp_path) not in answers[1], answers[1]
    assert "/workspace/notes.txt" in answers[1]


# --------------------------------------------------------------------------- 6, 7 and list args


def test_6_a_path_argument_with_a_default_is_checked_when_omitted(
    mode: str, audit: AuditCapture
) -> None:
    seen: list[str] = []

    @tool
    def list_dir(path: str = "/") -> str:
        """List a folder."""
        seen.append(path)
        return f"listing of {path}: secret.txt"

    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace/**"])], default="deny", tool_paths={"list_dir": {"path": "read"}}
    )
    answers = _agent_answers(
        [("list_dir", {}), ("list_dir", {"path": "/workspace"})],
        mode,
        guardrails=[jail],
        tools=[list_dir],
    )
    assert answers[0] == "Error: permission denied for read on /"
    assert seen == ["/workspace"]


def test_list_and_dict_path_arguments_in_tool_paths(mode: str) -> None:
    copied: list[Any] = []

    @tool
    def copy_many(sources: list[str], targets: dict[str, str]) -> str:
        """Copy files."""
        copied.append((sources, targets))
        return "copied"

    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/**"])],
        default="deny",
        tool_paths={"copy_many": {"sources": "read", "targets": "write"}},
    )
    answers = _agent_answers(
        [
            ("copy_many", {"sources": ["/workspace/a", "/workspace/./b"],
                           "targets": {"a": "/workspace/out/a"}}),
            ("copy_many", {"sources": ["/workspace/a", "/etc/passwd"], "targets": {}}),
            ("copy_many", {"sources": [], "targets": {"x": "/workspace/../etc/x"}}),
        ],
        mode,
        guardrails=[jail],
        tools=[copy_many],
    )  # fmt: skip
    assert answers[0] == "copied"
    assert copied == [(["/workspace/a", "/workspace/b"], {"a": "/workspace/out/a"})]
    assert answers[1] == "Error: permission denied for read on /etc/passwd"
    assert answers[2] == "Error: permission denied for write on /etc/x"


class _CountingBackend(FilesystemBackend):
    listings: list[str]

    def ls(self, path: str) -> Any:
        self.listings.append(path)
        return super().ls(path)

    async def als(self, path: str) -> Any:
        self.listings.append(path)
        return await super().als(path)


def test_7_delete_is_decided_before_anything_is_listed(tmp_path: Path, mode: str) -> None:
    root = tmp_path / "root"
    (root / "secrets" / "big").mkdir(parents=True)
    (root / "secrets" / "big" / "k.pem").write_text(SECRET)
    (root / "workspace").mkdir()
    backend = _CountingBackend(root_dir=root, virtual_mode=True)
    backend.listings = []
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/secrets/**"], "deny"), P(["read", "write"], ["/**"])]
    )
    answers = _agent_answers(
        [("delete", {"file_path": "/secrets"}), ("delete", {"file_path": "/secrets/big"})],
        mode,
        guardrails=[jail],
        backend=backend,
    )
    assert all(a.startswith("Error: permission denied for write on /secrets") for a in answers)
    assert "(matches deny rule(s): /secrets/**)" in answers[0]
    assert backend.listings == []  # no timing oracle: the backend was never asked
    assert (root / "secrets" / "big" / "k.pem").exists()


# --------------------------------------------------------------------------- 8


def test_8_matching_is_linear_in_the_path_length(mode: str) -> None:
    rule = "/**/a/**/b/**/c/**/d/**/*.key"
    jail = FilesystemPermissionMiddleware([P(["read"], [rule], "deny")])
    adversarial = "/" + "/".join(["a", "b", "c", "d"] * 500) + "/x.ke"  # 4 KB, 2,000 names
    assert len(adversarial) < 4096
    result: list[Any] = []

    def run() -> None:
        result.append(
            _agent_answers([("read_file", {"file_path": adversarial})], mode, guardrails=[jail])
        )

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)  # generous: it takes milliseconds; a backtracking matcher never ends
    assert not worker.is_alive(), "matching a 4 KB path did not finish"
    assert "permission denied" not in result[0][0]
    assert jail.decide("read", adversarial[:-3] + ".key") == "deny"
    assert jail.decide("read", "/x" * 600_000) == "deny"  # 1.2 MB: refused (past PATH_MAX)


# --------------------------------------------------------------------------- 10 and 11


def test_10_case_folding_is_per_route(tmp_path: Path, mode: str) -> None:
    from guardrails.filesystem import links

    sensitive, folded = tmp_path / "sensitive", tmp_path / "folded"
    (sensitive / "WORKSPACE").mkdir(parents=True)
    (sensitive / "WORKSPACE" / "secret.txt").write_text(SECRET)
    (sensitive / "workspace").mkdir()
    (sensitive / "workspace" / "ok.txt").write_text("fine")
    folded.mkdir()
    (folded / "notes.txt").write_text("mac notes")
    mac = FilesystemBackend(root_dir=folded, virtual_mode=True)
    links._CI_CACHE[str(mac.cwd)] = True  # this route sits on a case-insensitive volume
    try:
        backend = CompositeBackend(
            default=FilesystemBackend(root_dir=sensitive, virtual_mode=True), routes={"/mac/": mac}
        )
        jail = FilesystemPermissionMiddleware(
            [P(["read"], ["/workspace/**", "/mac/**"])], default="deny"
        )
        answers = _agent_answers(
            [
                ("read_file", {"file_path": "/WORKSPACE/secret.txt"}),
                ("read_file", {"file_path": "/workspace/ok.txt"}),
                ("read_file", {"file_path": "/MAC/notes.txt"}),
            ],
            mode,
            guardrails=[jail],
            backend=backend,
        )
    finally:
        links._CI_CACHE.pop(str(mac.cwd), None)
    assert answers[0] == "Error: permission denied for read on /WORKSPACE/secret.txt"
    assert "fine" in answers[1]
    assert SECRET not in "".join(answers)


def test_11_denials_in_the_general_purpose_subagent_name_it(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "secret.txt").write_text(SECRET)
    jail = FilesystemPermissionMiddleware([P(["read"], ["/secret.txt"], "deny")])
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("task", {"description": "read it",
                                                         "subagent_type": "general-purpose"})]),
            AIMessage("", tool_calls=[tool_call("read_file", {"file_path": "/secret.txt"})]),
            "gp done",
            "done",
        ]
    )  # fmt: skip
    agent = deepagents.create_deep_agent(
        model=model,
        middleware=[jail],
        backend=jail.guard(FilesystemBackend(root_dir=root, virtual_mode=True)),
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    (event,) = audit.of("fs.denied")
    assert event["subagent"] == "general-purpose" and event["path"] == "/secret.txt"


# --------------------------------------------------------------------------- over-blocking


def test_nfd_names_are_readable_and_writable(tmp_path: Path, mode: str) -> None:
    root = tmp_path / "root"
    (root / "workspace").mkdir(parents=True)
    nfd = unicodedata.normalize("NFD", "café.txt")
    (root / "workspace" / nfd).write_text("du lait")
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/workspace/secret-café.txt"], "deny"),
         P(["read", "write"], ["/workspace/**"])],
        default="deny",
    )  # fmt: skip
    answers = _agent_answers(
        [
            ("ls", {"path": "/workspace"}),
            ("read_file", {"file_path": f"/workspace/{nfd}"}),
            ("edit_file", {"file_path": f"/workspace/{nfd}", "old_string": "lait",
                           "new_string": "the"}),
            ("write_file", {"file_path": "/workspace/" + unicodedata.normalize(
                "NFD", "secret-café.txt"), "content": "x"}),
        ],
        mode,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )  # fmt: skip
    assert nfd in answers[0]
    assert "du lait" in answers[1], answers[1]
    assert (root / "workspace" / nfd).read_text() == "du the", answers[2]
    assert "permission denied" in answers[3]  # the NFD spelling of a denied name is denied


def test_execute_is_judged_by_its_working_directory(tmp_path: Path, mode: str) -> None:
    work = tmp_path / "workspace"
    work.mkdir()
    shell = LocalShellBackend(root_dir=work, virtual_mode=False)
    allowed = FilesystemPermissionMiddleware(
        [P(["read", "write", "execute"], [f"{work.as_posix()}/**"])], default="deny"
    )
    elsewhere = FilesystemPermissionMiddleware(
        [P(["read", "write", "execute"], ["/somewhere-else/**"])], default="deny"
    )
    ran = _agent_answers(
        [("execute", {"command": "echo ran-here"})], mode, guardrails=[allowed], backend=shell
    )
    refused = _agent_answers(
        [("execute", {"command": "echo ran-here"})], mode, guardrails=[elsewhere], backend=shell
    )
    assert "ran-here" in ran[0], ran
    assert "permission denied for execute" in refused[0]


def test_large_result_eviction_works_under_a_jail(tmp_path: Path, mode: str) -> None:
    root = tmp_path / "root"
    (root / "workspace").mkdir(parents=True)
    (root / "workspace" / "big.log").write_text("line of log output\n" * 26_000)  # ~480 KB

    @tool
    def fetch_log() -> str:
        """Fetch the build log."""
        return (root / "workspace" / "big.log").read_text()

    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("fetch_log", {})]), "done"]
    )
    agent = create_deep_agent(
        model,
        [fetch_log],
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    seen = [m for m in model.requests[-1]["messages"] if isinstance(m, ToolMessage)]
    assert len(str(seen[0].content)) < 100_000, "the result was not evicted"
    assert "/large_tool_results/" in str(seen[0].content)
    evicted = list((root / "large_tool_results").iterdir())
    assert len(evicted) == 1
    # and the model may read it back, in pages
    answers = _agent_answers(
        [("read_file", {"file_path": f"/large_tool_results/{evicted[0].name}", "limit": 5}),
         ("ls", {"path": "/large_tool_results"})],
        mode,
        deep=True,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )  # fmt: skip
    assert "line of log output" in answers[0]
    assert "permission denied" in answers[1]  # the folder itself is not listed


def test_memory_file_outside_the_jail_is_denied_cleanly(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    root = tmp_path / "root"
    (root / "workspace").mkdir(parents=True)
    (root / "AGENTS.md").write_text(f"remember {SECRET}")
    (root / "workspace" / "AGENTS.md").write_text("be kind")
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    model = ScriptedChatModel(responses=["done"])
    agent = create_deep_agent(
        model,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        memory=["/AGENTS.md", "/workspace/AGENTS.md"],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    assert out["messages"][-1].content == "done"
    prompt = str(model.requests[0]["messages"])
    assert SECRET not in prompt and "be kind" in prompt
    assert any(e.get("path") == "/AGENTS.md" for e in audit.of("fs.denied"))


# --------------------------------------------------------------------------- deepagents' rules


_DA_PATTERNS = ["/secrets/", "/data/", "/workspace\\sub\\**", "/a//b", "/x/y**", "/~/secrets",
                "/home/~", "relative/**", "/a/../b", "/a\\..\\b", "~/x"]  # fmt: skip


@pytest.mark.parametrize("pattern", _DA_PATTERNS)
def test_deepagents_rule_objects_are_accepted_and_refused_as_deepagents_does(pattern: str) -> None:
    from deepagents.middleware.filesystem import FilesystemPermission as Theirs

    try:
        theirs: Any = Theirs(["read"], [pattern], "deny")
        their_error: BaseException | None = None
    except (ValueError, NotImplementedError) as exc:
        theirs, their_error = None, exc
    if their_error is None:
        ours = FilesystemPermissionMiddleware([theirs])  # their object, accepted as it is
        assert ours.rules[0].paths == (pattern,)
        return
    with pytest.raises(type(their_error)) as ours_error:
        P(["read"], [pattern], "deny")
    assert str(ours_error.value).startswith(str(their_error))


def test_trailing_slash_and_backslash_patterns_through_an_agent(tmp_path: Path, mode: str) -> None:
    from deepagents.middleware.filesystem import FilesystemPermission as Theirs

    root = tmp_path / "root"
    (root / "secrets").mkdir(parents=True)
    (root / "secrets" / "k.pem").write_text(SECRET)
    (root / "workspace" / "sub").mkdir(parents=True)
    (root / "workspace" / "sub" / "s.txt").write_text(SECRET)
    (root / "workspace" / "ok.txt").write_text("fine")
    jail = FilesystemPermissionMiddleware(
        [Theirs(["read"], ["/secrets/"], "deny"), Theirs(["read"], ["/workspace\\sub\\**"], "deny")]
    )
    answers = _agent_answers(
        [
            ("read_file", {"file_path": "/secrets/k.pem"}),
            ("read_file", {"file_path": "/workspace/sub/s.txt"}),
            ("read_file", {"file_path": "/workspace/ok.txt"}),
        ],
        mode,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )
    assert "permission denied" in answers[0] and "permission denied" in answers[1], answers
    assert "fine" in answers[2]
    assert os.path.exists(root / "secrets" / "k.pem")


def test_1_composite_route_listing_with_an_error_is_judged_on_full_paths(
    tmp_path: Path, mode: str
) -> None:
    """The same kind as finding 1 for ls: a route's result with an error comes back unprefixed."""
    disk = tmp_path / "disk"
    (disk / "secrets").mkdir(parents=True)
    (disk / "secrets" / "k.pem").write_text(SECRET)
    (disk / "open.txt").write_text("fine")
    (disk / "loop").symlink_to(disk / "loop")  # makes ls report an error next to its entries
    backend = CompositeBackend(
        default=StateBackend(),
        routes={"/data/": FilesystemBackend(root_dir=disk, virtual_mode=True)},
    )
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/data/secrets/**"], "deny"), P(["read"], ["/data/**"])],
        default="deny",
    )
    answers = _agent_answers(
        [("ls", {"path": "/data"}), ("glob", {"pattern": "**", "path": "/data"})],
        mode,
        guardrails=[jail],
        backend=backend,
    )
    assert "secrets" not in answers[0] and str(disk) not in answers[0], answers[0]
    assert "/data/open.txt" in answers[0], answers[0]
    assert "secrets" not in answers[1] and "k.pem" not in answers[1], answers[1]


def test_large_result_eviction_works_inside_a_subagent(tmp_path: Path, mode: str) -> None:
    root = tmp_path / "root"
    (root / "workspace").mkdir(parents=True)

    @tool
    def fetch_log() -> str:
        """Fetch the build log."""
        return "line of log output\n" * 26_000  # ~480 KB

    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("task", {"description": "get the log",
                                                         "subagent_type": "general-purpose"})]),
            AIMessage("", tool_calls=[tool_call("fetch_log", {})]),
            "gp done",
            "done",
        ]
    )  # fmt: skip
    agent = create_deep_agent(
        model,
        [fetch_log],
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    gp_request = model.requests[2]["messages"]
    seen = [m for m in gp_request if isinstance(m, ToolMessage)]
    assert len(str(seen[-1].content)) < 100_000, "the subagent's result was not evicted"
    assert len(list((root / "large_tool_results").iterdir())) == 1
