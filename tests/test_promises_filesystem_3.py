"""Promises of the filesystem guardrail a careless edit would break unnoticed (issue 29, the
``filesystem`` survivors left open by the last round and the kinds behind them).

* A rule anchor that cannot be placed right now (its link is being swapped: a loop for an
  instant) is asked again on the next call, not remembered as "no link" for the cache's time:
  once ``/app/current`` points at a release again, a deny written through it covers the
  release's real path at once.
* A listing (``ls``, ``glob``, ``grep``) runs on the folder the decision was made on: its root
  normalized (``/docs/../docs``, ``/docs/./``, ``//docs``), so it lists what was judged, on
  every backend.

Through real deep agents, sync and async (``mode``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from tests.support import invoke
from tests.test_promises_filesystem import SECRET, LocalSandbox, _answers

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import FilesystemBackend, StateBackend  # noqa: E402

P = FilesystemPermission


# --------------------------------------------------------------------------- link being swapped


def _loop_then_release(root: Path) -> Path:
    v42 = root / "app" / "releases" / "v42"
    v42.mkdir(parents=True)
    (v42 / "secret.txt").write_text(SECRET)
    (v42 / "readme.txt").write_text("release notes")
    current = root / "app" / "current"
    current.symlink_to("current")  # mid-swap: a loop, the anchor cannot be placed
    return current


def test_an_anchor_that_failed_to_resolve_is_asked_again_on_the_next_call(
    tmp_path: Path, mode: str
) -> None:
    # a virtual-mode backend cannot place a looping link (the loop is an error there); on the
    # host the loop places as itself (no link), an answer reused for ALIAS_TTL like any other.
    # Mid-swap no path is judged without the anchor (the secret may be below its real folder):
    # refused as missing, the run goes on; the next call asks again (nothing was remembered).
    root = tmp_path / "root"
    current = _loop_then_release(root)
    head = ""
    backend = FilesystemBackend(root_dir=root, virtual_mode=True)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], [f"{head}/app/current/secret.txt"], "deny")]
    )
    real = f"{head}/app/releases/v42"
    first = _answers(
        [("read_file", {"file_path": f"{real}/readme.txt"}),
         ("read_file", {"file_path": f"{real}/secret.txt"})],
        mode, guardrails=[jail], backend=backend,
    )  # fmt: skip
    assert first == [f"Error: File '{real}/readme.txt' not found",
                     f"Error: File '{real}/secret.txt' not found"], first  # fmt: skip
    current.unlink()
    current.symlink_to("releases/v42")  # the swap is done: current -> v42
    second = _answers(
        [("read_file", {"file_path": f"{real}/secret.txt"}),
         ("read_file", {"file_path": f"{real}/readme.txt"})],
        mode, guardrails=[jail], backend=backend,
    )  # fmt: skip
    assert SECRET not in second[0], second
    assert second[0] == f"Error: permission denied for read on {real}/secret.txt", second
    assert "release notes" in second[1], second


# --------------------------------------------------------------------------- listing roots


def _docs(root: Path) -> None:
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "guide.md").write_text("read me\n")
    (root / "secrets").mkdir()
    (root / "secrets" / "key.txt").write_text(f"read me {SECRET}\n")


def _backend(kind: str, root: Path) -> tuple[Any, str]:
    if kind == "virtual":
        return FilesystemBackend(root_dir=root, virtual_mode=True), ""
    if kind == "host":
        return FilesystemBackend(root_dir=root, virtual_mode=False), str(root)
    return LocalSandbox(root), str(root)


# the sandbox's spellings are slow: every listing is a shell and a python3 in the sandbox; the
# sandbox's working-folder placement stays in `make test` (test_promises_filesystem*.py)
@pytest.mark.parametrize("spelling", ["{h}/docs/../docs", "{h}/docs/./", "{h}//docs/"])
@pytest.mark.parametrize(
    "kind", ["virtual", "host", pytest.param("sandbox", marks=pytest.mark.slow)]
)
def test_a_listing_runs_on_the_folder_it_was_judged_on(
    tmp_path: Path, mode: str, kind: str, spelling: str
) -> None:
    root = (tmp_path / "root").resolve()
    _docs(root)
    backend, head = _backend(kind, root)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], [f"{head}/secrets/**"], "deny"), P(["read"], [f"{head}/**"])],
        default="deny",
    )
    path = spelling.format(h=head)
    answers = _answers(
        [("ls", {"path": path}),
         ("glob", {"pattern": "*.md", "path": path}),
         ("grep", {"pattern": "read me", "path": path, "output_mode": "files_with_matches"})],
        mode, guardrails=[jail], backend=backend,
    )  # fmt: skip
    for answer in answers:
        assert "guide.md" in answer, answers  # listed, not refused as traversal or not found
        assert SECRET not in answer and "key.txt" not in answer, answers


def test_a_listing_root_on_state_is_normalized_too(mode: str) -> None:
    """StateBackend matches files by prefix: an unnormalized root would list nothing."""
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/**"])])
    answers = _answers(
        [("write_file", {"file_path": "/docs/guide.md", "content": "read me"}),
         ("ls", {"path": "/docs/../docs"}),
         ("glob", {"pattern": "*.md", "path": "/docs/./"})],
        mode, guardrails=[jail], backend=StateBackend(),
    )  # fmt: skip
    assert all("/docs/guide.md" in a for a in answers[1:]), answers


# --------------------------------------------------------------------------- sandbox placement


@pytest.mark.parametrize(
    "python",
    [
        "true",  # an interpreter that answers nothing, successfully
        "trap 'exit 3' EXIT; python3",  # the placement printed, then the command failed
    ],
)
def test_a_sandbox_placement_that_did_not_succeed_is_not_trusted(
    tmp_path: Path, mode: str, python: str
) -> None:
    """Paths are placed in a sandbox by one command of ours; an answer without its result
    line, or with a failing exit code, places nothing: what depends on it is refused (as
    ``unresolvable``), the run goes on."""
    work = tmp_path / "box" / "work"
    (work / "secrets").mkdir(parents=True)
    (work / "secrets" / "key.pem").write_text(SECRET)
    here = work.as_posix()
    carved = FilesystemPermissionMiddleware(
        [P(["execute", "read"], [f"{here}/secrets/**"], "deny"), P(["execute", "read"], ["/**"])]
    )
    answers = _answers(
        [("execute", {"command": "touch ran"}),
         ("read_file", {"file_path": f"{here}/secrets/key.pem"})],
        mode, guardrails=[carved], backend=LocalSandbox(work, python=python),
    )  # fmt: skip
    assert answers[0].startswith("Error: permission denied for execute"), answers
    assert not (work / "ran").exists(), "the command ran"
    assert SECRET not in answers[1], answers


# --------------------------------------------------------------------------- guarded backend


def test_a_guarded_backend_answers_each_transfer_in_its_own_type(tmp_path: Path, mode: str) -> None:
    """``upload_files`` answers ``FileUploadResponse`` per file and ``download_files``
    ``FileDownloadResponse``, refused ones included (callers match on the type)."""
    import asyncio

    from deepagents.backends.protocol import FileDownloadResponse, FileUploadResponse

    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.pem").write_text(SECRET)
    (tmp_path / "public").mkdir()
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/secrets/**"], "deny")])
    guarded = jail.guard(FilesystemBackend(root_dir=tmp_path, virtual_mode=True))
    uploads = [("/secrets/new.pem", b"x"), ("/public/ok.txt", b"y")]
    downloads = ["/secrets/key.pem", "/public/ok.txt"]
    if mode == "sync":
        up = guarded.upload_files(uploads)
        down = guarded.download_files(downloads)
    else:

        async def both() -> tuple[Any, Any]:
            return await guarded.aupload_files(uploads), await guarded.adownload_files(downloads)

        up, down = asyncio.run(both())
    assert [type(r) for r in up] == [FileUploadResponse, FileUploadResponse], up
    assert up[0].error is not None and up[1].error is None
    assert not (tmp_path / "secrets" / "new.pem").exists()
    assert [type(r) for r in down] == [FileDownloadResponse, FileDownloadResponse], down
    assert down[0].content is None and down[1].content == b"y"


# --------------------------------------------------------------------------- nested subagent graphs


def _nested_run(tmp_path: Path, mode: str) -> list[str]:
    """A compiled subagent whose graph runs a whole deep agent as one of its nodes; that inner
    agent has a backend of its own (not the parent's)."""
    from langgraph.graph import START, MessagesState, StateGraph

    from guardrails.deep import create_deep_agent
    from tests.test_promises_filesystem_2 import _script

    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.pem").write_text(SECRET)
    (tmp_path / "notes.txt").write_text("notes\n")
    sub = _script(
        [("read_file", {"file_path": "/secrets/key.pem"}),
         ("read_file", {"file_path": "/notes.txt"})]
    )  # fmt: skip
    inner = deepagents.create_deep_agent(
        model=sub, backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True), name="inner"
    )
    builder = StateGraph(MessagesState)
    builder.add_node("inner", inner)
    builder.add_edge(START, "inner")
    wrapper = builder.compile(name="wrapper")
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/secrets/**"], "deny")])
    task = ("task", {"description": "read it", "subagent_type": "wrapped"})
    agent = create_deep_agent(
        _script([task]),
        guardrails=[jail],
        backend=StateBackend(),
        subagents=[{"name": "wrapped", "description": "w", "runnable": wrapper}],
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    from langchain_core.messages import ToolMessage

    return [str(m.content) for m in sub.requests[-1]["messages"] if isinstance(m, ToolMessage)]


def test_a_deep_agent_nested_in_a_compiled_subagent_is_held_to_the_rules(
    tmp_path: Path, mode: str
) -> None:
    seen = _nested_run(tmp_path, mode)
    assert seen and SECRET not in " ".join(seen), seen
    assert "notes" in seen[1], seen  # held, not broken: what the rules allow still reads
