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
    # host the loop places as itself (no link), an answer reused for ALIAS_TTL like any other
    root = tmp_path / "root"
    current = _loop_then_release(root)
    head = ""
    backend = FilesystemBackend(root_dir=root, virtual_mode=True)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], [f"{head}/app/current/secret.txt"], "deny")]
    )
    real = f"{head}/app/releases/v42"
    first = _answers(
        [("read_file", {"file_path": f"{real}/readme.txt"})],
        mode, guardrails=[jail], backend=backend,
    )  # fmt: skip
    assert "release notes" in first[0], first
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


@pytest.mark.parametrize("spelling", ["{h}/docs/../docs", "{h}/docs/./", "{h}//docs/"])
@pytest.mark.parametrize("kind", ["virtual", "host", "sandbox"])
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
