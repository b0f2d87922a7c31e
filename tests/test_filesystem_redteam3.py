"""Red-team pass 3 on filesystem permissions (issue 22): other coordinate systems and aliases.

Each test is one probe through a real deep agent with a scripted model, sync and async. Probes that
held are kept as regressions; a leak not fixed in time is ``xfail(strict=True)`` and listed under
"Not covered" in docs/filesystem.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from guardrails.errors import GuardrailConfigError
from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from tests.test_filesystem import SECRET, SECRETS_DENIED, _tree, run_calls

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import (  # noqa: E402
    CompositeBackend,
    FilesystemBackend,
    StateBackend,
)

P = FilesystemPermission


def _leaks(answers: list[str]) -> bool:
    return any(SECRET in a for a in answers)


@pytest.mark.sweep
@pytest.mark.parametrize("virtual", [True, False])
@pytest.mark.parametrize(
    "path",
    ["/./secret.txt", "secret.txt", "//secret.txt", "/public/../secret.txt", "/secrets/./key.pem"],
)
def test_other_spellings_of_a_denied_path_are_denied(
    tmp_path: Path, mode: str, virtual: bool, path: str
) -> None:
    backend = FilesystemBackend(root_dir=_tree(tmp_path / "root"), virtual_mode=virtual)
    answers = run_calls(
        [("read_file", {"file_path": path})],
        mode,
        middleware=[FilesystemPermissionMiddleware(SECRETS_DENIED)],
        backend=backend,
    )
    assert len(answers) == 1 and "permission denied" in answers[0], answers
    assert not _leaks(answers)


@pytest.mark.parametrize("virtual", [True, False])
def test_a_symlink_chain_into_a_denied_folder_answers_like_a_missing_name(
    tmp_path: Path, mode: str, virtual: bool
) -> None:
    root = _tree(tmp_path / "root")
    os.symlink(root / "secrets", root / "public" / "l1")
    os.symlink(root / "public" / "l1", root / "public" / "l2")
    os.symlink("../secret.txt", root / "public" / "rel")
    backend = FilesystemBackend(root_dir=root, virtual_mode=virtual)
    answers = run_calls(
        [
            ("read_file", {"file_path": "/public/l2/key.pem"}),
            ("read_file", {"file_path": "/public/rel"}),
            ("grep", {"pattern": "hunter2", "path": "/public", "output_mode": "count"}),
            ("glob", {"pattern": "**", "path": "/public"}),
        ],
        mode,
        middleware=[FilesystemPermissionMiddleware(SECRETS_DENIED)],
        backend=backend,
    )
    assert len(answers) == 4 and not _leaks(answers), answers
    assert "key.pem" not in answers[2] and "l2" not in answers[3] and "rel" not in answers[3]


@pytest.mark.parametrize("prefix", ["/disk/", "/disk"])
def test_composite_route_with_and_without_trailing_slash(
    tmp_path: Path, mode: str, prefix: str
) -> None:
    routed = FilesystemBackend(root_dir=_tree(tmp_path / "root"), virtual_mode=True)
    backend = CompositeBackend(default=StateBackend(), routes={prefix: routed})
    rules = [P(["read", "write"], ["/disk/secrets/**", "/disk/secret.txt"], "deny")]
    answers = run_calls(
        [
            ("read_file", {"file_path": "/disk/public/../secret.txt"}),
            ("grep", {"pattern": "hunter2", "output_mode": "count"}),
            ("grep", {"pattern": "hunter2", "path": "/disk", "output_mode": "files_with_matches"}),
        ],
        mode,
        middleware=[FilesystemPermissionMiddleware(rules)],
        backend=backend,
    )
    assert "permission denied" in answers[0], answers
    for answer in answers[1:]:
        assert "secret.txt" not in answer and "key.pem" not in answer and ".env" not in answer


def _two_routes(root: Path) -> CompositeBackend:
    return CompositeBackend(
        default=StateBackend(),
        routes={
            "/a/": FilesystemBackend(root_dir=root, virtual_mode=True),
            "/b/": FilesystemBackend(root_dir=root, virtual_mode=True),
        },
    )


def _route_inside_default(root: Path) -> CompositeBackend:
    return CompositeBackend(
        default=FilesystemBackend(root_dir=root, virtual_mode=True),
        routes={"/b/": FilesystemBackend(root_dir=root, virtual_mode=True)},
    )


def _route_nested(root: Path) -> CompositeBackend:
    return CompositeBackend(
        default=StateBackend(),
        routes={
            "/a/": FilesystemBackend(root_dir=root, virtual_mode=True),
            "/b/secrets/": FilesystemBackend(root_dir=root / "secrets", virtual_mode=True),
        },
    )


@pytest.mark.sweep
@pytest.mark.parametrize("make", [_two_routes, _route_inside_default, _route_nested])
def test_two_routes_to_the_same_folder_are_refused(tmp_path: Path, mode: str, make: Any) -> None:
    """Aliases through two routes: rules name virtual paths, so such a composite is refused."""
    backend = make(_tree(tmp_path / "root"))
    rules = [P(["read", "write"], ["/a/secret.txt", "/a/secrets/**", "/secret.txt"], "deny")]
    with pytest.raises(GuardrailConfigError, match="same or nested host folders"):
        FilesystemPermissionMiddleware(rules, backend=backend)
    answers = run_calls(
        [
            ("read_file", {"file_path": "/b/secret.txt"}),
            ("read_file", {"file_path": "/b/secrets/key.pem"}),
            ("grep", {"pattern": "hunter2", "path": "/b"}),
        ],
        mode,
        middleware=[FilesystemPermissionMiddleware(rules)],
        backend=backend,
    )
    assert not _leaks(answers), answers
    assert all("secret.txt" not in a and "key.pem" not in a for a in answers[2:]), answers


@pytest.mark.parametrize("path", ["/disksecret.txt", "/disksecrets/key.pem", "/disk.secret.txt"])
def test_a_route_prefix_without_slash_does_not_strip_into_a_sibling_name(
    tmp_path: Path, mode: str, path: str
) -> None:
    routed = FilesystemBackend(root_dir=_tree(tmp_path / "root"), virtual_mode=True)
    backend = CompositeBackend(default=StateBackend(), routes={"/disk": routed})
    rules = [P(["read", "write"], ["/disk/secrets/**", "/disk/secret.txt"], "deny")]
    answers = run_calls(
        [
            ("read_file", {"file_path": path}),
            ("grep", {"pattern": "hunter2", "path": path.rsplit("/", 1)[0] or "/"}),
        ],
        mode,
        middleware=[FilesystemPermissionMiddleware(rules)],
        backend=backend,
    )
    assert not _leaks(answers), answers


def test_state_backend_nfd_key_under_an_nfc_rule(mode: str) -> None:
    nfd, nfc = "/se\u0301cret.txt", "/s\u00e9cret.txt"
    answers = run_calls(
        [
            ("read_file", {"file_path": nfd}),
            ("grep", {"pattern": "hunter2", "path": "/", "output_mode": "files_with_matches"}),
            ("glob", {"pattern": "**"}),
        ],
        mode,
        middleware=[FilesystemPermissionMiddleware([P(["read"], [nfc], "deny")])],
        backend=StateBackend(),
        files={nfd: SECRET, "/ok.txt": "fine"},
    )
    assert "permission denied" in answers[0], answers
    assert not _leaks(answers) and "cret" not in answers[1] and "cret" not in answers[2], answers
