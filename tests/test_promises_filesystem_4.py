"""Promises of the filesystem guardrail for the kinds a fresh mutation sample found open (issue 29).

Through real deep agents run by a scripted model, sync and async (``mode``):

* **your own backend** (the fourth coordinate system of docs/filesystem.md): a backend that places
  its paths with ``guardrails_resolve_paths`` gets the same judgement as a sandbox: its links are
  followed, a rule written through a linked folder covers the real one, ``execute`` is judged in
  its working folder, and a path it cannot place now (a store that is down) is refused, never
  judged as written and never remembered as "no link";
* **grouped approvals** hold exactly the calls of the turn that will ask, whatever the tool (a
  ``glob`` that names its folder in the pattern asks too; a ``grep`` whose regex looks like a
  path does not), with the arguments they will run with;
* a **compiled subagent** wrapped in a binding (``with_config``, ``with_retry``) is held to the
  rules like the bare graph;
* a **composite's search** says "stopped early" only when a route did;
* a rule path ending in a **backslash** names nothing but itself.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke
from tests.test_promises_filesystem_2 import _answers, _script

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import CompositeBackend, FilesystemBackend, StateBackend  # noqa: E402
from deepagents.backends.protocol import ExecuteResponse, SandboxBackendProtocol  # noqa: E402
from deepagents.backends.utils import create_file_data  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.types import Command  # noqa: E402

from guardrails.deep import create_deep_agent  # noqa: E402

P = FilesystemPermission
SECRET = "s3cr3t-4-hunter2"


class LinkedStore(StateBackend, SandboxBackendProtocol):
    """A backend of our own: files in the graph's state, folder links of its own (a release
    folder re-pointed by a ``current`` link, as in a content store), a working folder and a
    shell. It places its paths through ``guardrails_resolve_paths``, as docs/filesystem.md asks
    of such a backend; ``down`` makes the next placements fail (the store is unreachable)."""

    def __init__(self, links: dict[str, str], cwd: str = "/") -> None:
        super().__init__()
        self.links = links
        self.cwd = cwd
        self.down = 0
        self.ran: list[str] = []

    @property
    def id(self) -> str:
        return "linked-store"

    def _follow(self, path: str) -> str:
        full = posixpath.normpath(posixpath.join(self.cwd, path))
        for link, target in self.links.items():
            if full == link or full.startswith(link + "/"):
                full = target + full[len(link) :]
        return full

    def guardrails_resolve_paths(self, paths: list[str]) -> list[str]:
        if self.down:
            self.down -= 1
            raise OSError("the store is unreachable")
        return [self._follow(path) for path in paths]

    def read(self, file_path: str, *args: Any, **kwargs: Any) -> Any:
        return super().read(self._follow(file_path), *args, **kwargs)  # links are followed

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        self.ran.append(command)
        return ExecuteResponse(output=f"ran {command}", exit_code=0)


def _store_run(
    backend: Any,
    jail: FilesystemPermissionMiddleware,
    turns: list[list[tuple[str, dict[str, Any]]]],
    mode: str,
    files: dict[str, str],
) -> list[str]:
    model = ScriptedChatModel(
        responses=[
            *(AIMessage("", tool_calls=[tool_call(n, a) for n, a in turn]) for turn in turns),
            "done",
        ]
    )
    agent = create_deep_agent(model, guardrails=[jail], backend=backend)
    state = {
        "messages": [("user", "go")],
        "files": {path: create_file_data(text) for path, text in files.items()},
    }
    out = invoke(agent, state, mode)
    return [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]


_FILES = {
    "/app/releases/v42/secret.txt": f"{SECRET}-release\n",
    "/app/releases/v42/readme.txt": "release notes\n",
    "/workspace/ok.txt": "ok-content\n",
    "/secrets/key.pem": f"{SECRET}-pem\n",
}


def test_a_rule_through_a_linked_folder_of_your_own_backend_covers_the_real_folder(
    mode: str,
) -> None:
    """``deny /app/current/**`` where the backend links ``/app/current`` to
    ``/app/releases/v42``: the real path is denied (the first rule matching the file under any
    of its names decides, even when a later rule allows its real path), the allow written
    through the link works on the real path, and a link out of the workspace is refused."""
    backend = LinkedStore(
        {"/app/current": "/app/releases/v42", "/workspace/key-link": "/secrets/key.pem"}
    )
    jail = FilesystemPermissionMiddleware(
        [
            P(["read", "write"], ["/app/current/secret.txt"], "deny"),
            P(["read"], ["/app/current/**", "/workspace/**"]),
            P(["read"], ["/app/releases/**"]),  # later: the deny through the link comes first
        ],
        default="deny",
    )
    answers = _store_run(
        backend,
        jail,
        [
            [("read_file", {"file_path": "/app/releases/v42/secret.txt"})],
            [("read_file", {"file_path": "/app/releases/v42/readme.txt"})],
            [("read_file", {"file_path": "/workspace/key-link"})],
            [("read_file", {"file_path": "/workspace/ok.txt"})],
        ],
        mode,
        _FILES,
    )
    assert answers[0] == "Error: permission denied for read on /app/releases/v42/secret.txt"
    assert "release notes" in answers[1], answers
    assert SECRET not in answers[2], answers
    assert "ok-content" in answers[3], answers


def test_a_deny_through_a_linked_folder_holds_under_default_allow(mode: str) -> None:
    """Under ``default="allow"`` the real path matches no rule at all: the deny written through
    the linked folder still decides it (a rule on any of the file's names beats the default)."""
    backend = LinkedStore({"/app/current": "/app/releases/v42"})
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/app/current/**"], "deny")])
    answers = _store_run(
        backend,
        jail,
        [[("read_file", {"file_path": "/app/releases/v42/secret.txt"})],
         [("read_file", {"file_path": "/workspace/ok.txt"})]],
        mode,
        _FILES,
    )  # fmt: skip
    assert answers[0] == "Error: permission denied for read on /app/releases/v42/secret.txt"
    assert "ok-content" in answers[1], answers


def test_a_link_your_backend_cannot_place_now_is_refused_and_not_remembered(mode: str) -> None:
    """While the backend cannot place a rule's linked folder (the store is down), no path on it
    is judged without that link: the call is refused (as for a name that does not exist), and
    once the store answers again the link is seen at once, not after a cache of "no link"
    expires."""
    backend = LinkedStore({"/app/current": "/app/releases/v42"})
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/app/current/**"], "deny"), P(["read"], ["/**"])],
        default="deny",
    )
    backend.down = 1  # the first placement of the run (the rule's folder) fails
    answers = _store_run(
        backend,
        jail,
        [
            [("read_file", {"file_path": "/app/releases/v42/secret.txt"})],
            [("read_file", {"file_path": "/app/releases/v42/secret.txt"})],
            [("read_file", {"file_path": "/workspace/ok.txt"})],
        ],
        mode,
        _FILES,
    )
    assert not any(SECRET in a for a in answers), answers
    assert "not found" in answers[0], answers  # unplaceable: answered as a missing name
    assert answers[1] == "Error: permission denied for read on /app/releases/v42/secret.txt"
    assert "ok-content" in answers[2], answers  # back up: what the rules allow reads again


@pytest.mark.parametrize(("cwd", "runs"), [("/srv/work", True), ("/srv/other", False)])
def test_execute_on_your_own_backend_is_judged_in_the_folder_it_runs_in(
    mode: str, cwd: str, runs: bool
) -> None:
    """``execute`` needs a rule allowing it on the folder the backend runs commands in, as its
    resolve hook reports it (``.``), not on ``/``."""
    backend = LinkedStore({}, cwd=cwd)
    jail = FilesystemPermissionMiddleware(
        [P(["execute"], ["/srv/work/**"]), P(["read", "write"], ["/**"])]
    )
    answers = _store_run(backend, jail, [[("execute", {"command": "make test"})]], mode, {})
    assert (backend.ran == ["make test"]) is runs, (backend.ran, answers)
    if not runs:
        assert "permission denied for execute" in answers[0], answers


@pytest.mark.parametrize("hook", [True, False])
def test_a_backend_whose_paths_are_keys_is_judged_as_written(mode: str, hook: bool) -> None:
    """A state backend (paths are keys, no links) is judged on the path as written: the rules
    decide, nothing is resolved, and a custom backend's hook is used only when it has one."""
    backend: Any = LinkedStore({}) if hook else StateBackend()
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/secrets/**"], "deny"), P(["read"], ["/**"])], default="deny"
    )
    answers = _store_run(
        backend,
        jail,
        [[("read_file", {"file_path": "/secrets/key.pem"})],
         [("read_file", {"file_path": "/workspace/ok.txt"})]],
        mode,
        _FILES,
    )  # fmt: skip
    assert answers[0] == "Error: permission denied for read on /secrets/key.pem", answers
    assert "ok-content" in answers[1], answers


class StateShell(StateBackend, SandboxBackendProtocol):
    """A state backend with a shell and no working folder it can report (no resolve hook)."""

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[str] = []

    @property
    def id(self) -> str:
        return "state-shell"

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        self.ran.append(command)
        return ExecuteResponse(output=f"ran {command}", exit_code=0)


@pytest.mark.parametrize(("rule", "runs"), [("/**", True), ("/srv/work/**", False)])
def test_execute_on_a_backend_without_a_working_folder_is_judged_at_the_root(
    mode: str, rule: str, runs: bool
) -> None:
    """A backend whose paths are keys (a state backend with a shell) has no working folder of
    its own: its commands are judged as run in ``/``, so only a rule allowing ``/`` lets them
    run."""
    backend = StateShell()
    jail = FilesystemPermissionMiddleware([P(["execute"], [rule]), P(["read", "write"], ["/**"])])
    model = _script([("execute", {"command": "make test"})])
    agent = create_deep_agent(model, guardrails=[jail], backend=backend)
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    answers = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert (backend.ran == ["make test"]) is runs, (backend.ran, answers)


def _turn_approval(
    tmp_path: Path, mode: str, rules: list[FilesystemPermission], calls: list[tuple[str, Any]]
) -> tuple[list[dict[str, Any]], Any, dict[str, Any]]:
    """The action requests of the one interrupt a turn of ``calls`` raises (and the agent)."""
    (tmp_path / "memories").mkdir()
    (tmp_path / "memories" / "a.md").write_text("note a\n")
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call(n, a) for n, a in calls]), "done"]
    )
    agent = create_deep_agent(
        model,
        guardrails=[FilesystemPermissionMiddleware(rules)],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "group"}}
    out = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    (pending,) = out["__interrupt__"]  # one interrupt for the turn, whatever asks
    return list(pending.value["action_requests"]), agent, config


_MEMORIES_ASK = [P(["read"], ["/memories"], "interrupt"), P(["read", "write"], ["/**"])]


@pytest.mark.parametrize(
    "glob", [{"pattern": "/memories/*.md"}, {"pattern": "/*.md", "path": "/memories"}]
)
def test_a_glob_into_an_asking_folder_joins_the_turns_approval(
    tmp_path: Path, mode: str, glob: dict[str, str]
) -> None:
    """Two calls of one turn that need a human are asked about together (one interrupt, one
    decision each), also when one is a ``glob`` whose folder is in its pattern
    (``/memories/*.md``) or in ``path`` with an absolute-looking pattern: the reviewer sees it
    with the folder it searches, and the two approvals let both run."""
    calls = [("read_file", {"file_path": "/memories/a.md"}), ("glob", glob)]
    requests, agent, config = _turn_approval(tmp_path, mode, _MEMORIES_ASK, calls)
    assert [r["name"] for r in requests] == ["read_file", "glob"], requests
    assert requests[1]["args"]["path"] == "/memories", requests
    resume = {"decisions": [{"type": "approve"}, {"type": "approve"}]}
    out = invoke(agent, Command(resume=resume), mode, config)
    answers = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert "note a" in answers[0], answers
    # approved, the search ran; its entries under the interrupt rule are withheld (approval is
    # per file, docs/filesystem.md), so it finds nothing to show
    assert answers[1] == "No files found", answers


def test_a_search_that_needs_no_approval_is_not_in_the_turns_request(
    tmp_path: Path, mode: str
) -> None:
    """A ``grep`` without a path searches the root (its matches under ``/memories`` withheld):
    it needs no approval even when its regex starts like a folder an interrupt rule covers, so
    the reviewer is asked about the read alone."""
    calls = [("read_file", {"file_path": "/memories/a.md"}), ("grep", {"pattern": "/memories/"})]
    requests, _, _ = _turn_approval(tmp_path, mode, _MEMORIES_ASK, calls)
    assert [r["name"] for r in requests] == ["read_file"], requests


def test_a_call_refused_before_asking_is_not_in_the_turns_request(
    tmp_path: Path, mode: str
) -> None:
    """Under a rule that asks before any read, an ``ls`` without a path (no path to judge: it
    is refused at once) is not put before the reviewer with the read of its turn."""
    rules = [P(["read"], ["/**"], "interrupt"), P(["write"], ["/**"])]
    calls = [("read_file", {"file_path": "/memories/a.md"}), ("ls", {})]
    requests, _, _ = _turn_approval(tmp_path, mode, rules, calls)
    assert [r["name"] for r in requests] == ["read_file"], requests


def test_a_grouped_request_shows_a_relative_glob_as_it_will_run(tmp_path: Path, mode: str) -> None:
    """Under a rule that asks before any read, a ``glob("*.md")`` without a path is shown to the
    reviewer with the arguments it will run with, unchanged (no folder invented for it)."""
    rules = [P(["read"], ["/**"], "interrupt"), P(["write"], ["/**"])]
    calls = [("read_file", {"file_path": "/memories/a.md"}), ("glob", {"pattern": "*.md"})]
    requests, _, _ = _turn_approval(tmp_path, mode, rules, calls)
    assert [r["name"] for r in requests] == ["read_file", "glob"], requests
    assert requests[1]["args"] == {"pattern": "*.md"}, requests


@pytest.mark.parametrize("wrap", ["with_config", "with_retry"])
def test_a_compiled_subagent_wrapped_in_a_binding_is_held_to_the_rules(
    tmp_path: Path, mode: str, wrap: str, audit: AuditCapture
) -> None:
    """A compiled subagent passed as ``graph.with_config(...)`` or ``graph.with_retry()`` (a
    binding around the graph; the second does not forward attributes to it) is inspected and
    held like the bare graph: it is accepted, cannot read what the rules deny, and reads what
    they allow."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.pem").write_text(SECRET)
    (tmp_path / "notes.txt").write_text("notes\n")
    sub = _script(
        [("read_file", {"file_path": "/secrets/key.pem"}),
         ("read_file", {"file_path": "/notes.txt"})]
    )  # fmt: skip
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    compiled = deepagents.create_deep_agent(model=sub, backend=backend, name="compiled")
    bound = (
        compiled.with_config({"recursion_limit": 40})
        if wrap == "with_config"
        else compiled.with_retry(stop_after_attempt=1)
    )
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/secrets/**"], "deny")])
    agent = create_deep_agent(
        _script([("task", {"description": "read", "subagent_type": "bound"})]),
        guardrails=[jail],
        backend=backend,
        subagents=[{"name": "bound", "description": "b", "runnable": bound}],
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    seen = [str(m.content) for m in sub.requests[-1]["messages"] if isinstance(m, ToolMessage)]
    assert len(seen) == 2 and SECRET not in " ".join(seen), seen
    assert "notes" in seen[1], seen
    # the backend's refusal is audited under the guarded call it ran in (the parent's task)
    [denied] = audit.of("fs.denied")
    assert (denied["tool"], denied["operation"], denied["path"]) == (
        "task",
        "read",
        "/secrets/key.pem",
    ), denied


def test_a_composite_search_says_it_stopped_early_only_when_it_did(
    tmp_path: Path, mode: str
) -> None:
    """A ``grep`` over a ``CompositeBackend`` (the guard routes it itself) shows every match of
    every route and no "the search stopped early" note when no route stopped early."""
    (tmp_path / "main").mkdir()
    (tmp_path / "mem").mkdir()
    (tmp_path / "main" / "a.txt").write_text("needle one\n")
    (tmp_path / "mem" / "b.txt").write_text("needle two\n")
    backend = CompositeBackend(
        default=FilesystemBackend(root_dir=tmp_path / "main", virtual_mode=True),
        routes={"/memories/": FilesystemBackend(root_dir=tmp_path / "mem", virtual_mode=True)},
    )
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/secrets/**"], "deny")])
    (answer,) = _answers([("grep", {"pattern": "needle"})], mode, jail, backend)
    assert "/a.txt" in answer and "/memories/b.txt" in answer, answer
    assert "stopped early" not in answer, answer


def test_a_rule_path_ending_in_a_backslash_names_nothing_but_itself(
    tmp_path: Path, mode: str
) -> None:
    """A backslash escapes the next character; one at the end of a rule path escapes nothing:
    the allow rule ``/workspace\\`` allows no real path, least of all the root."""
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "ok.txt").write_text("ok\n")
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace\\"]), P(["read"], ["/workspace/**"])], default="deny"
    )
    assert jail.decide("read", "/") == "deny"
    answers = _answers(
        [("ls", {"path": "/"}), ("read_file", {"file_path": "/workspace/ok.txt"})],
        mode,
        jail,
        FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
    )
    assert "permission denied" in answers[0], answers
    assert "ok" in answers[1], answers


# --------------------------------------------------------------------------- folder deletes


def _keep_tree(root: Path) -> None:
    (root / "data" / "keep").mkdir(parents=True)
    (root / "data" / "keep" / "a.txt").write_text("keep\n")
    (root / "data" / "old.txt").write_text("old\n")


def test_an_approved_folder_delete_never_removes_what_a_deny_rule_protects(
    tmp_path: Path, mode: str
) -> None:
    """A delete of ``/data`` that an interrupt rule sends to a human is refused before anyone is
    asked when a deny rule protects something below it (``/data/keep/**``): an approval of the
    folder cannot overrule the deny; a folder with nothing protected below still asks."""
    _keep_tree(tmp_path)
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "x.txt").write_text("x\n")
    rules = [
        P(["write"], ["/data/keep/**"], "deny"),
        P(["write"], ["/data", "/scratch"], "interrupt"),
    ]
    model = _script([("delete", {"file_path": "/data"}), ("delete", {"file_path": "/scratch"})])
    agent = create_deep_agent(
        model,
        guardrails=[FilesystemPermissionMiddleware(rules)],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "del"}}
    out = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    (pending,) = out["__interrupt__"]  # the first delete was refused without asking
    (request,) = pending.value["action_requests"]
    assert request["args"]["file_path"] == "/scratch", request
    answers = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert "permission denied" in answers[0] and "/data/keep/**" in answers[0], answers
    assert (tmp_path / "data" / "keep" / "a.txt").exists()
    invoke(agent, Command(resume={"decisions": [{"type": "approve"}]}), mode, config)
    assert not (tmp_path / "scratch").exists()  # approved: the folder delete ran
    assert (tmp_path / "data" / "keep" / "a.txt").exists()


def test_a_delete_tool_of_your_own_is_judged_on_every_path_it_names(
    tmp_path: Path, mode: str
) -> None:
    """A tool of your own named ``delete`` listed in ``tool_paths`` with a list of paths: a
    folder among them that holds a path a write-deny rule protects refuses the call, whichever
    place it has in the list."""
    import shutil

    from langchain.agents import create_agent

    from tests.support import tool

    _keep_tree(tmp_path)
    (tmp_path / "notes.txt").write_text("notes\n")

    @tool
    def delete(paths: list[str]) -> str:
        """Delete files and folders."""
        for path in paths:
            target = tmp_path / path.lstrip("/")
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        return "deleted"

    jail = FilesystemPermissionMiddleware(
        [P(["write"], ["/data/keep/**"], "deny")], tool_paths={"delete": {"paths": "write"}}
    )
    model = _script([("delete", {"paths": ["/data", "/notes.txt"]})])
    agent = create_agent(model, [delete], middleware=[jail])
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    answers = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert "permission denied" in answers[0] and "/data/keep/**" in answers[0], answers
    assert (tmp_path / "data" / "keep" / "a.txt").exists()
    assert (tmp_path / "notes.txt").exists()


def test_a_compiled_subagent_cannot_delete_a_folder_holding_a_protected_path(
    tmp_path: Path, mode: str
) -> None:
    """A compiled subagent (held only by the guarded backend) deleting ``/data`` would remove
    ``/data/keep`` that a write-deny rule protects: refused as through our middleware; deleting
    a plain file still works."""
    _keep_tree(tmp_path)
    sub = _script([("delete", {"file_path": "/data"}), ("delete", {"file_path": "/data/old.txt"})])
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    compiled = deepagents.create_deep_agent(model=sub, backend=backend, name="compiled")
    jail = FilesystemPermissionMiddleware([P(["write"], ["/data/keep/**"], "deny")])
    agent = create_deep_agent(
        _script([("task", {"description": "clean", "subagent_type": "compiled"})]),
        guardrails=[jail],
        backend=backend,
        subagents=[{"name": "compiled", "description": "c", "runnable": compiled}],
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    seen = [str(m.content) for m in sub.requests[-1]["messages"] if isinstance(m, ToolMessage)]
    assert (tmp_path / "data" / "keep" / "a.txt").exists(), seen
    assert "permission denied" in seen[0], seen
    assert not (tmp_path / "data" / "old.txt").exists(), seen


# --------------------------------------------------------------------------- errors kept


@pytest.mark.parametrize("guarded", [True, False])
def test_a_listing_error_about_the_callers_own_path_is_deepagents_own(
    tmp_path: Path, mode: str, guarded: bool
) -> None:
    """``ls`` of a missing path or of a file answers with deepagents' own error about that path
    (``path_not_found``, ``not_a_directory``: the caller named it, nothing leaks), and a file
    delete under a rule reaching below every folder (``**/.env``) still works: deepagents' probe
    of whether it is a folder reads that answer through the guard."""
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "ok.txt").write_text("ok\n")
    (tmp_path / "workspace" / "old.txt").write_text("old\n")
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["**/.env"], "deny")])
    answers = _answers(
        [
            ("ls", {"path": "/nope"}),
            ("ls", {"path": "/workspace/ok.txt"}),
            ("delete", {"file_path": "/workspace/old.txt"}),
        ],
        mode,
        jail,
        FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        guarded=guarded,
    )
    assert "Path '/nope': path_not_found" in answers[0], answers
    assert "Path '/workspace/ok.txt': not_a_directory" in answers[1], answers
    assert "permission denied" not in answers[2], answers
    assert not (tmp_path / "workspace" / "old.txt").exists(), answers


@pytest.mark.parametrize("guarded", [True, False])
def test_a_listing_error_is_rebuilt_naming_only_the_callers_path(
    tmp_path: Path, mode: str, guarded: bool
) -> None:
    """A backend's own error text names host paths (a symlink loop in a virtual-mode folder:
    ``cannot resolve '/tmp/.../loops/loop'``): what reaches the model names the folder the
    caller listed, and nothing else."""
    import os

    (tmp_path / "loops").mkdir()
    os.symlink("loop", tmp_path / "loops" / "loop")
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["**/.env"], "deny")])
    (answer,) = _answers(
        [("ls", {"path": "/loops"})],
        mode,
        jail,
        FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        guarded=guarded,
    )
    assert "some files under /loops could not be listed" in answer, answer
    assert str(tmp_path) not in answer, answer


_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5Er"
    "kJggg=="
)


@pytest.mark.parametrize("guarded", [True, False])
def test_an_image_the_rules_allow_reads_as_deepagents_image_block(
    tmp_path: Path, mode: str, guarded: bool
) -> None:
    """``read_file`` of an image answers with content blocks, not text: through the jail it
    reaches the model as deepagents gives it (the image block), and a denied image is refused."""
    import base64

    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "pic.png").write_bytes(base64.b64decode(_PNG))
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pic.png").write_bytes(base64.b64decode(_PNG))
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/secrets/**"], "deny")])
    answers = _answers(
        [("read_file", {"file_path": "/w/pic.png"}),
         ("read_file", {"file_path": "/secrets/pic.png"})],
        mode,
        jail,
        FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        guarded=guarded,
    )  # fmt: skip
    assert "'type': 'image'" in answers[0] and _PNG in answers[0], answers
    assert answers[1] == "Error: permission denied for read on /secrets/pic.png", answers


# --------------------------------------------------------------------------- hand-made survivors


def test_a_subagents_stacked_rules_never_allow_execute_without_a_rule(
    tmp_path: Path, mode: str
) -> None:
    """``execute`` needs a rule allowing it also when a subagent's stricter middleware
    (``restrict``) stacks on its parent's and neither names ``execute``."""
    from deepagents.backends import LocalShellBackend

    parent = FilesystemPermissionMiddleware([P(["read", "write"], ["/**"])])
    child = parent.restrict([P(["write"], ["/secrets/**"], "deny")])
    assert child.decide("execute", "/") == "deny"
    (answer,) = _answers(
        [("execute", {"command": "touch ran"})],
        mode,
        child,
        LocalShellBackend(root_dir=tmp_path, virtual_mode=True),
    )
    assert "permission denied for execute" in answer, answer
    assert not (tmp_path / "ran").exists()


def _plant_run(tmp_path: Path, mode: str, target: str) -> None:
    """A compiled subagent (held only by the guarded backend) writes ``target``."""
    sub = _script([("write_file", {"file_path": target, "content": "planted"})])
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    compiled = deepagents.create_deep_agent(model=sub, backend=backend, name="compiled")
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    agent = create_deep_agent(
        _script([("task", {"description": "write", "subagent_type": "compiled"})]),
        guardrails=[jail],
        backend=backend,
        subagents=[{"name": "compiled", "description": "c", "runnable": compiled}],
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)


def test_a_subagents_tool_call_cannot_write_a_history_file_under_default_deny(
    tmp_path: Path, mode: str
) -> None:
    """deepagents' summarization may write ``/conversation_history/session_<hex>.md``; a tool
    call (a compiled subagent's ``write_file``, in its tools node) may not, even under that
    exact name."""
    name = f"/conversation_history/session_{'ab' * 16}.md"
    _plant_run(tmp_path, mode, name)
    assert not (tmp_path / name.lstrip("/")).exists()


@pytest.mark.parametrize(
    "name", [f"session_{'ab' * 16}x.md", "session_evil.md", f"{'ab' * 16}.md", "media/x.png"]
)
def test_deepagents_own_history_writes_take_only_its_own_names(
    tmp_path: Path, mode: str, name: str
) -> None:
    """Outside any tool call (deepagents' own summarization), a guarded backend under default
    deny lets deepagents write a history file only under the names deepagents gives them
    (``session_<32 hex>.md``, ``<uuid4>.md``, ``media/<16 hex>.<ext>``)."""
    import asyncio

    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    guarded = jail.guard(FilesystemBackend(root_dir=tmp_path, virtual_mode=True))
    path = f"/conversation_history/{name}"
    if mode == "sync":
        result = guarded.write(path, "summary")
    else:
        result = asyncio.run(guarded.awrite(path, "summary"))
    assert "permission denied" in str(result.error), result
    assert not (tmp_path / path.lstrip("/")).exists()


def test_deepagents_may_write_a_calls_offload_file_once(tmp_path: Path, mode: str) -> None:
    """After a tool call ends under the jail, deepagents may write that call's offload file
    (``/large_tool_results/<call id>``) once, outside any tool call; a second write of the same
    name (an upload that would overwrite it) is judged by the rules: under default deny,
    refused."""
    import asyncio

    from tests.support import tool

    @tool
    def ping() -> str:
        """Answer pong."""
        return "pong"

    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    guarded = jail.guard(FilesystemBackend(root_dir=tmp_path, virtual_mode=True))
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("ping", {}, id="call_once1")]), "done"]
    )
    agent = create_deep_agent(model, [ping], guardrails=[jail], backend=guarded)
    invoke(agent, {"messages": [("user", "go")]}, mode)
    path = "/large_tool_results/call_once1"

    def upload(content: bytes) -> Any:
        if mode == "sync":
            return guarded.upload_files([(path, content)])[0]
        return asyncio.run(guarded.aupload_files([(path, content)]))[0]

    first, second = upload(b"offloaded result"), upload(b"planted")
    assert first.error is None, first
    assert second.error == "permission_denied", second
    assert (tmp_path / "large_tool_results" / "call_once1").read_bytes() == b"offloaded result"
