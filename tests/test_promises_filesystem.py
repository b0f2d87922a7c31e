"""Promises of the filesystem guardrail, stated sharply enough that a careless edit fails a test.

Written from the mutation runs of issue 29 (``scripts/mutate.py filesystem``): each test names the
promise a user relies on (docs/filesystem.md), not the line that keeps it. Through real deep agents
(sync and async via ``mode``) where that is how users meet the decision; backends: a
``BaseSandbox`` whose shell is a local one, ``LocalShellBackend``, ``FilesystemBackend`` (virtual
and not), ``CompositeBackend``, ``StateBackend``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import (  # noqa: E402
    CompositeBackend,
    FilesystemBackend,
    LocalShellBackend,
    StateBackend,
)
from deepagents.backends.protocol import (  # noqa: E402
    ExecuteResponse,
    FileDownloadResponse,
    FileUploadResponse,
)
from deepagents.backends.sandbox import BaseSandbox  # noqa: E402

P = FilesystemPermission
SECRET = "hunter2-s3cr3t"
Call = tuple[str, dict[str, Any]]
EXEC_REFUSED = "Error: permission denied for execute (no rule allows running commands here)"


class LocalSandbox(BaseSandbox):
    """deepagents' ``BaseSandbox`` with a local shell started in ``cwd`` (paths are host paths)."""

    def __init__(self, cwd: Path, *, python: str = "python3") -> None:
        self.cwd = cwd
        self.python = python  # the interpreter name the sandbox image has

    @property
    def id(self) -> str:
        return "local-sandbox"

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        if self.python != "python3" and command.startswith("python3 "):
            command = f"{self.python} {command[len('python3 ') :]}"
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
    calls: Sequence[Call] | Sequence[Sequence[Call]],
    mode: str,
    *,
    guardrails: Sequence[Any] = (),
    **kwargs: Any,
) -> list[str]:
    """Tool answers of a deepagents agent (``middleware=[...]``) running the scripted calls.

    Each item is one model turn: a call, or a list of calls made together.
    """
    script: list[Any] = []
    for turn in calls:
        group = [turn] if isinstance(turn[0], str) else list(turn)
        script.append(AIMessage("", tool_calls=[tool_call(n, a) for n, a in group]))  # type: ignore[misc]
    model = ScriptedChatModel(responses=[*script, "done"])
    agent = deepagents.create_deep_agent(model=model, middleware=list(guardrails), **kwargs)
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    return [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]


# --------------------------------------------------------------------------- execute


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "box" / "work"
    work.mkdir(parents=True)
    return work


@pytest.mark.parametrize("wrap", ["sandbox", "composite"])
def test_execute_in_a_sandbox_is_judged_in_the_sandbox_working_folder(
    tmp_path: Path, mode: str, wrap: str, audit: AuditCapture
) -> None:
    """A sandbox's commands run in its working folder: rules on that folder decide ``execute``.

    An allow on the folder lets a command run; a deny carved out of an allow on ``/**`` stops
    it (judging at ``/`` instead would let it run).
    """
    work = _work(tmp_path)
    sandbox = LocalSandbox(work)
    backend: Any = sandbox
    if wrap == "composite":
        backend = CompositeBackend(default=sandbox, routes={"/mem/": StateBackend()})
    here = work.as_posix()
    allowed = FilesystemPermissionMiddleware([P(["execute"], [f"{here}/**"])], default="deny")
    carved = FilesystemPermissionMiddleware(
        [P(["execute"], [f"{here}/**"], "deny"), P(["execute"], ["/**"])]
    )
    ran = _answers([("execute", {"command": "touch ran-1 && echo ran-here"})], mode,
                   guardrails=[allowed], backend=backend)  # fmt: skip
    assert "ran-here" in ran[0], ran
    assert (work / "ran-1").exists()
    refused = _answers([("execute", {"command": "touch ran-2"})], mode,
                       guardrails=[carved], backend=backend)  # fmt: skip
    assert refused[0] == EXEC_REFUSED, refused
    assert not (work / "ran-2").exists(), "the command ran"
    denied = audit.of("fs.denied")
    assert [(e["operation"], e["path"], e["rule"], e["reason"]) for e in denied] == [
        ("execute", here, 0, "rule")
    ]


def test_a_sandbox_that_cannot_place_paths_refuses_and_the_run_goes_on(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    """A sandbox without ``python3`` cannot report its working folder nor place a path.

    The folder ``execute`` would run in is unknown, so no rule can be shown not to cover it: the
    command is refused (judging it at ``/`` would let a deny on the folder be skipped), and so is
    a read the sandbox cannot place; the run goes on (a refusal, not a crash).
    """
    work = _work(tmp_path)
    (work / "secrets").mkdir()
    (work / "secrets" / "key.pem").write_text(SECRET)
    sandbox = LocalSandbox(work, python="no-such-python3")
    here = work.as_posix()
    carved = FilesystemPermissionMiddleware(
        [P(["execute", "read"], [f"{here}/secrets/**"], "deny"), P(["execute", "read"], ["/**"])]
    )
    answers = _answers(
        [("execute", {"command": "touch ran"}),
         ("read_file", {"file_path": f"{here}/secrets/key.pem"})],
        mode, guardrails=[carved], backend=sandbox,
    )  # fmt: skip
    assert answers[0] == EXEC_REFUSED, answers
    assert not (work / "ran").exists(), "the command ran"
    assert SECRET not in answers[1], answers
    assert [(e["operation"], e["reason"]) for e in audit.of("fs.denied")] == [
        ("execute", "unresolvable"),
        ("read", "rule"),
    ]


def test_execute_on_a_host_shell_is_judged_in_its_root(tmp_path: Path, mode: str) -> None:
    """A ``LocalShellBackend`` outside virtual mode runs in ``root_dir``; in virtual mode, ``/``."""
    work = _work(tmp_path)
    here = work.as_posix()
    carved = FilesystemPermissionMiddleware(
        [P(["execute"], [f"{here}/**"], "deny"), P(["execute"], ["/**"])]
    )
    host = LocalShellBackend(root_dir=work, virtual_mode=False)
    refused = _answers([("execute", {"command": "touch ran"})], mode,
                       guardrails=[carved], backend=host)  # fmt: skip
    assert refused[0] == EXEC_REFUSED, refused
    assert not (work / "ran").exists()
    virtual = LocalShellBackend(root_dir=work, virtual_mode=True)
    root_only = FilesystemPermissionMiddleware([P(["execute"], ["/"])], default="deny")
    ran = _answers([("execute", {"command": "echo at-root"})], mode,
                   guardrails=[root_only], backend=virtual)  # fmt: skip
    assert "at-root" in ran[0], ran


# --------------------------------------------------------------------------- case-folding volumes


class FoldingBackend(FilesystemBackend):
    """A virtual-mode ``FilesystemBackend`` on a case-insensitive volume, simulated.

    No case-insensitive volume can be mounted here (no vfat/tmpfs loop mount), so two halves of
    one are simulated: the backend's file operations find a name in any case (``/SECRETS/key``
    opens ``secrets/key``), while resolving a path keeps the case it was given, as ``realpath``
    does on macOS; and the volume's root folds the guardrail's probe name: the upper-case
    spelling of the probe file is a link to the lower-case one, dangling until the probe file
    is created, so the probe sees what it would see on such a volume (and nothing if it never
    creates the file).
    """

    def __init__(self, root: Path) -> None:
        super().__init__(root_dir=root, virtual_mode=True)
        (self.cwd / ".GUARDRAILS-CASE-PROBE").symlink_to(".guardrails-case-Probe")

    def _fold(self, key: str) -> str:
        folder, out = self.cwd, []
        for part in (p for p in key.split("/") if p):
            name = part
            if folder.is_dir() and not (folder / part).exists():
                name = next((e.name for e in folder.iterdir() if e.name.lower() == part.lower()),
                            part)  # fmt: skip
            out.append(name)
            folder = folder / name
        return "/" + "/".join(out)

    def read(self, file_path: str, *args: Any, **kwargs: Any) -> Any:
        return super().read(self._fold(file_path), *args, **kwargs)

    def ls(self, path: str) -> Any:
        return super().ls(self._fold(path))


def _secrets_tree(root: Path) -> None:
    (root / "secrets").mkdir(parents=True)
    (root / "secrets" / "key.pem").write_text(f"password={SECRET}\n")
    (root / "workspace").mkdir()
    (root / "workspace" / "ok.txt").write_text("fine\n")


@pytest.mark.parametrize("leftover", [False, True])
def test_a_case_insensitive_volume_is_detected_and_folded(
    tmp_path: Path, mode: str, audit: AuditCapture, leftover: bool
) -> None:
    """On a case-insensitive volume ``deny /secrets/**`` also covers ``/SECRETS/key.pem``.

    The volume is detected by probing the backend's root (also when an earlier probe, killed
    half-way, left its file there), and the probe leaves nothing behind.
    """
    root = tmp_path / "vol"
    _secrets_tree(root)
    backend = FoldingBackend(root)
    if leftover:
        (root / ".guardrails-case-Probe").touch()
    assert "fine" in backend.read("/WORKSPACE/OK.TXT").file_data["content"]  # the simulation
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/secrets/**"], "deny")])
    answers = _answers(
        [("read_file", {"file_path": "/SECRETS/key.pem"}), ("ls", {"path": "/Secrets"}),
         ("read_file", {"file_path": "/Workspace/ok.txt"})],
        mode, guardrails=[jail], backend=backend,
    )  # fmt: skip
    assert answers[0] == "Error: permission denied for read on /SECRETS/key.pem", answers
    assert answers[1] == "Error: permission denied for read on /Secrets", answers
    assert "fine" in answers[2], answers
    assert SECRET not in "".join(answers)
    assert [e["path"] for e in audit.of("fs.denied")] == ["/SECRETS/key.pem", "/Secrets"]
    assert sorted(p.name for p in root.iterdir()) == [
        ".GUARDRAILS-CASE-PROBE",
        "secrets",
        "workspace",
    ], "the probe file was left in the user's folder"


def test_a_case_insensitive_route_is_folded_and_a_sensitive_one_is_not(
    tmp_path: Path, mode: str
) -> None:
    """Per route of a ``CompositeBackend``: only the route on the folding volume folds case."""
    sensitive, folded = tmp_path / "sensitive", tmp_path / "folded"
    _secrets_tree(sensitive)
    (sensitive / "WORKSPACE").mkdir()
    (sensitive / "WORKSPACE" / "other.txt").write_text(f"not in the jail {SECRET}\n")
    _secrets_tree(folded)
    backend = CompositeBackend(
        default=FilesystemBackend(root_dir=sensitive, virtual_mode=True),
        routes={"/mac/": FoldingBackend(folded)},
    )
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/mac/secrets/**"], "deny"), P(["read"], ["/workspace/**", "/mac/**"])],
        default="deny",
    )
    answers = _answers(
        [("read_file", {"file_path": "/WORKSPACE/other.txt"}),
         ("read_file", {"file_path": "/workspace/ok.txt"}),
         ("read_file", {"file_path": "/mac/SECRETS/key.pem"}),
         ("read_file", {"file_path": "/mac/WorkSpace/ok.txt"})],
        mode, guardrails=[jail], backend=backend,
    )  # fmt: skip
    assert answers[0] == "Error: permission denied for read on /WORKSPACE/other.txt", answers
    assert "fine" in answers[1], answers
    assert answers[2] == "Error: permission denied for read on /mac/SECRETS/key.pem", answers
    assert "fine" in answers[3], answers
    assert SECRET not in "".join(answers)


@pytest.mark.parametrize("probe", ["writable", "unwritable"])
def test_a_case_sensitive_volume_is_not_folded(tmp_path: Path, mode: str, probe: str) -> None:
    """On a case-sensitive volume ``/WORKSPACE`` is another folder: an allow on ``/workspace/**``
    does not reach it, also when the probe file cannot be created in the root."""
    root = tmp_path / "vol"
    _secrets_tree(root)
    (root / "WORKSPACE").mkdir()
    (root / "WORKSPACE" / "other.txt").write_text(f"not in the jail {SECRET}\n")
    if probe == "unwritable":  # creating the probe file fails: a link into a missing folder
        (root / ".guardrails-case-Probe").symlink_to(tmp_path / "missing" / "probe")
    jail = FilesystemPermissionMiddleware([P(["read"], ["/workspace/**"])], default="deny")
    answers = _answers(
        [("read_file", {"file_path": "/WORKSPACE/other.txt"}),
         ("read_file", {"file_path": "/workspace/ok.txt"})],
        mode, guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )  # fmt: skip
    assert answers[0] == "Error: permission denied for read on /WORKSPACE/other.txt", answers
    assert "fine" in answers[1], answers


def test_state_backend_keys_are_case_sensitive(mode: str) -> None:
    """A ``StateBackend`` holds keys, not a volume: ``/WORKSPACE/x`` is not under ``/workspace``."""
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    answers = _answers(
        [("write_file", {"file_path": "/workspace/ok.txt", "content": "fine"}),
         ("write_file", {"file_path": "/WORKSPACE/other.txt", "content": SECRET}),
         ("read_file", {"file_path": "/workspace/ok.txt"})],
        mode, guardrails=[jail], backend=StateBackend(),
    )  # fmt: skip
    assert answers[1] == "Error: permission denied for write on /WORKSPACE/other.txt", answers
    assert "fine" in answers[2], answers


# --------------------------------------------------------------------------- listings and searches


def _listing_tree(root: Path) -> None:
    (root / "workspace" / "secrets").mkdir(parents=True)
    (root / "workspace" / "secrets" / "key.pem").write_text(f"password={SECRET}\n")
    (root / "workspace" / ".env").write_text(f"password={SECRET}\n")
    (root / "workspace" / "notes.txt").write_text("password=public\n")


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (("ls", {"path": "/workspace"}), "/workspace/notes.txt"),
        (("glob", {"pattern": "**/*", "path": "/workspace"}), "/workspace/notes.txt"),
        (("grep", {"pattern": "password", "path": "/workspace", "output_mode": "content"}),
         "password=public"),
    ],
)  # fmt: skip
def test_listings_drop_denied_entries_and_audit_how_many(
    tmp_path: Path, mode: str, audit: AuditCapture, call: Call, shown: str
) -> None:
    """``ls``, ``glob`` and ``grep`` drop what the rules deny for read; ``fs.filtered`` says
    which tool, which folder and how many entries were withheld (never which ones)."""
    _listing_tree(tmp_path)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["**/.env", "/workspace/secrets/**"], "deny")]
    )
    answers = _answers([call], mode, guardrails=[jail],
                       backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True))  # fmt: skip
    assert shown in answers[0], answers
    assert SECRET not in answers[0] and ".env" not in answers[0] and "key.pem" not in answers[0]
    filtered = audit.of("fs.filtered")
    assert filtered, audit.names()
    event = filtered[-1]
    assert (event["tool"], event["operation"], event["path"]) == (call[0], "read", "/workspace")
    assert event["withheld"] >= 1
    assert not audit.of("fs.denied")


# --------------------------------------------------------------------------- links


@pytest.mark.parametrize("where", ["host", "sandbox"])
def test_a_hard_link_is_refused_only_for_an_operation_a_rule_restricts(
    tmp_path: Path, mode: str, audit: AuditCapture, where: str
) -> None:
    """A file with two names escapes rules that name paths: while a rule restricts an operation,
    a file with more than one link is refused for it; an operation nothing restricts is not
    affected, and a file with one name is not either."""
    root = tmp_path / "root"
    (root / "secrets").mkdir(parents=True)
    (root / "public").mkdir()
    (root / "secrets" / "key.pem").write_text(f"password={SECRET}\n")
    (root / "public" / "hard.pem").hardlink_to(root / "secrets" / "key.pem")
    (root / "public" / "single.txt").write_text("single\n")
    if where == "host":
        backend: Any = FilesystemBackend(root_dir=root, virtual_mode=True)
        top = ""
    else:
        backend = LocalSandbox(root)
        top = root.as_posix()
    jail = FilesystemPermissionMiddleware([P(["write"], [f"{top}/secrets/**"], "deny")])
    answers = _answers(
        [("read_file", {"file_path": f"{top}/public/hard.pem"}),
         ("write_file", {"file_path": f"{top}/public/hard.pem", "content": "overwritten"}),
         ("edit_file", {"file_path": f"{top}/public/single.txt", "old_string": "single",
                        "new_string": "edited"})],
        mode, guardrails=[jail], backend=backend,
    )  # fmt: skip
    assert SECRET in answers[0], answers  # read: no rule restricts it
    assert answers[1] == f"Error: permission denied for write on {top}/public/hard.pem", answers
    assert (root / "secrets" / "key.pem").read_text() == f"password={SECRET}\n"
    assert (root / "public" / "single.txt").read_text() == "edited\n", answers
    assert [(e["operation"], e["reason"]) for e in audit.of("fs.denied")] == [("write", "hardlink")]


def _release_tree(root: Path) -> None:
    v42 = root / "app" / "releases" / "v42"
    v42.mkdir(parents=True)
    (v42 / "secret.txt").write_text(SECRET)
    (v42 / "readme.txt").write_text("release notes")
    (root / "app" / "current").symlink_to("releases/v42")


@pytest.mark.parametrize("default", ["allow", "deny"])
def test_the_first_rule_matching_any_spelling_of_a_file_decides(
    tmp_path: Path, mode: str, default: str
) -> None:
    """A file under a symlinked rule anchor has two spellings (``/app/releases/v42/x`` and
    ``/app/current/x``): the decision is the first rule, in order, matching either of them; a
    rule on one spelling is not undone by the other matching nothing or a later rule."""
    _release_tree(tmp_path)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/app/releases/**/secret.txt"], "deny"),
         P(["read", "write"], ["/app/current/**"])],
        default=default,
    )  # fmt: skip
    answers = _answers(
        [("read_file", {"file_path": "/app/releases/v42/secret.txt"}),
         ("read_file", {"file_path": "/app/current/secret.txt"}),
         ("read_file", {"file_path": "/app/releases/v42/readme.txt"})],
        mode, guardrails=[jail],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
    )  # fmt: skip
    assert answers[0] == "Error: permission denied for read on /app/releases/v42/secret.txt"
    assert SECRET not in answers[1], answers
    assert "release notes" in answers[2], answers  # the allow written through the link


# --------------------------------------------------------------------------- offload folders


@pytest.mark.parametrize("folder", ["large_tool_results", "conversation_history"])
def test_an_explicit_deny_on_an_offload_folder_holds_through_stacked_layers(
    tmp_path: Path, mode: str, audit: AuditCapture, folder: str
) -> None:
    """deepagents may read back its offload files when no rule decides them, but an explicit
    deny in the parent's rules still holds in a subagent's stricter middleware (``restrict``),
    whose own default denies the rest: the refusal names the parent's rule, not a default."""
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "call_abc").write_text(f"offloaded {SECRET}\n")
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "ok.txt").write_text("fine\n")
    parent = FilesystemPermissionMiddleware(
        [P(["read", "write"], [f"/{folder}/**"], "deny"), P(["read", "write"], ["/workspace/**"])],
        default="deny",
    )
    child = parent.restrict([P(["read"], ["/workspace/**"])], default="deny")
    open_parent = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])],
                                                 default="deny")  # fmt: skip
    open_child = open_parent.restrict([P(["read"], ["/workspace/**"])], default="deny")
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    denied = _answers([("read_file", {"file_path": f"/{folder}/call_abc"})], mode,
                      guardrails=[child], backend=backend)  # fmt: skip
    assert denied == [f"Error: permission denied for read on /{folder}/call_abc"], denied
    assert [(e["rule"], e["reason"]) for e in audit.of("fs.denied")] == [(0, "rule")]
    read_back = _answers([("read_file", {"file_path": f"/{folder}/call_abc"})], mode,
                         guardrails=[open_child], backend=backend)  # fmt: skip
    assert "offloaded" in read_back[0], read_back  # no rule decides it: deepagents reads it back


# --------------------------------------------------------------------------- rule objects


def test_a_rule_cannot_be_changed_after_it_is_compiled() -> None:
    """A rule's patterns compile at construction: changing its paths or mode afterwards would
    leave the matcher judging the old ones, so a rule is immutable (and a value: equal rules
    are equal, hash alike, and show only what was written)."""
    import dataclasses

    rule = P(["read"], ["/secrets/**"], "deny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.paths = ["/other/**"]  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.mode = "allow"  # type: ignore[misc]
    same = P(["read"], ["/secrets/**"], "deny")
    assert rule == same and hash(rule) == hash(same) and len({rule, same}) == 1
    assert (
        repr(rule)
        == "FilesystemPermission(operations=('read',), paths=('/secrets/**',), mode='deny')"
    )
    jail = FilesystemPermissionMiddleware([rule])
    assert jail.decide("read", "/secrets/key.pem") == "deny"


@pytest.mark.parametrize("where", ["conversation_history", "elsewhere"])
def test_deepagents_own_writes_reach_only_its_offload_files(
    tmp_path: Path, mode: str, where: str
) -> None:
    """Outside any tool call (deepagents' own machinery: summarization), a guarded backend lets
    deepagents write a history file named as deepagents names them, and nothing else the rules
    deny: not another name in that folder, not a path elsewhere."""
    import asyncio

    (tmp_path / "workspace").mkdir()
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    guarded = jail.guard(FilesystemBackend(root_dir=tmp_path, virtual_mode=True))
    top = "/conversation_history" if where == "conversation_history" else "/etc"
    named = f"{top}/session_{'a1' * 16}.md"
    other = f"{top}/notes.md"

    def write(path: str) -> Any:
        if mode == "sync":
            return guarded.write(path, "summary")
        return asyncio.run(guarded.awrite(path, "summary"))

    results = [write(named), write(other)]
    written = [p for p in (named, other) if (tmp_path / p.lstrip("/")).exists()]
    if where == "conversation_history":
        assert written == [named], results
    else:
        assert written == [], results
    assert "permission denied" in str(results[1].error), results


def test_restrict_keeps_the_parent_name_unless_given_one() -> None:
    """``restrict`` keeps the parent's name (it then replaces the inherited jail in a subagent);
    an explicit ``name`` is used as given; either way it is never looser than the parent."""
    parent = FilesystemPermissionMiddleware([P(["read"], ["/secrets/**"], "deny")], name="jail")
    kept = parent.restrict([P(["write"], ["/**"], "deny")])
    named = parent.restrict([], name="reader-fs")
    assert (kept.name, named.name) == ("jail", "reader-fs")
    for child in (kept, named):
        assert child.decide("read", "/secrets/key.pem") == "deny"
    assert kept.decide("write", "/notes.txt") == "deny"
    assert named.decide("write", "/notes.txt") == "allow"


def test_every_use_of_a_widening_grant_is_audited_and_only_those(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    """``widen=`` may overrule the parent's denial, and every use says so (``fs.widened`` with
    the tool, operation, path and layer); a call the grant does not touch emits nothing."""
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "notes.txt").write_text("notes\n")
    parent = FilesystemPermissionMiddleware([P(["read"], ["/secret.txt"], "deny")], name="jail")
    child = parent.restrict([], widen=[P(["read"], ["/secret.txt"])], name="reader-fs")
    answers = _answers(
        [("read_file", {"file_path": "/secret.txt"}), ("read_file", {"file_path": "/notes.txt"})],
        mode, guardrails=[child],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
    )  # fmt: skip
    assert SECRET in answers[0] and "notes" in answers[1], answers
    widened = [(e["tool"], e["operation"], e["path"], e["layer"]) for e in audit.of("fs.widened")]
    assert widened == [("read_file", "read", "/secret.txt", "reader-fs")]


# --------------------------------------------------------------------------- approvals


def test_a_turn_asks_once_for_every_call_needing_approval_listings_included(
    tmp_path: Path, mode: str
) -> None:
    """A ``glob`` given a ``path`` is judged on that path, also when its pattern is absolute:
    with another call of the same turn needing approval, both are in one request, in order."""
    from langgraph.checkpoint.memory import InMemorySaver

    (tmp_path / "asked").mkdir()
    (tmp_path / "asked" / "a.txt").write_text("asked\n")
    (tmp_path / "public").mkdir()
    jail = FilesystemPermissionMiddleware([P(["read"], ["/asked/**"], "interrupt")])
    calls = [
        tool_call("glob", {"pattern": "/public/*.txt", "path": "/asked"}),
        tool_call("read_file", {"file_path": "/asked/a.txt"}),
    ]
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=calls), "done"])
    agent = deepagents.create_deep_agent(
        model=model,
        middleware=[jail],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        checkpointer=InMemorySaver(),
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode, {"configurable": {"thread_id": "t"}})
    (pending,) = out["__interrupt__"]
    assert [r["name"] for r in pending.value["action_requests"]] == ["glob", "read_file"]


@pytest.mark.parametrize("args", [{}, "src", ["src"], None])
def test_a_tool_paths_entry_that_names_no_argument_is_refused(args: Any) -> None:
    """A tool listed in ``tool_paths`` with no argument (or not a mapping) would be checked on
    nothing: refused at construction, naming the tool."""
    from guardrails.errors import GuardrailConfigError

    with pytest.raises(GuardrailConfigError, match=r"tool_paths\['copy_file'\] must map"):
        FilesystemPermissionMiddleware([], tool_paths={"copy_file": args})
