"""Promises of the filesystem guardrail against the kinds of careless edit a review tries.

Each test states one promise a user relies on (docs/filesystem.md) through public APIs and a real
deep agent run by a scripted model, sync and async (``mode``): a deny branch that carves out of an
allow, a prefix (``/a`` is not ``/ab``), links out of a jail, paths in another coordinate system,
approvals, ``execute``, wildcards that must not widen, the documented defaults, and ``tool_paths``
arguments that must name something. Written for issue 29 (mutation testing); the kinds come from
the outside check's description, not from our own operator list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.errors import GuardrailConfigError
from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import (  # noqa: E402
    CompositeBackend,
    FilesystemBackend,
    LocalShellBackend,
    StateBackend,
)
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.types import Command  # noqa: E402

from guardrails.deep import create_deep_agent  # noqa: E402

P = FilesystemPermission
SECRET = "s3cr3t-hunter2"
Call = tuple[str, dict[str, Any]]


def _script(calls: Sequence[Call] | Sequence[Sequence[Call]]) -> ScriptedChatModel:
    turns: list[Any] = []
    for turn in calls:
        group = [turn] if isinstance(turn[0], str) else list(turn)
        turns.append(AIMessage("", tool_calls=[tool_call(n, a) for n, a in group]))  # type: ignore[misc]
    return ScriptedChatModel(responses=[*turns, "done"])


def _answers(
    calls: Sequence[Call] | Sequence[Sequence[Call]],
    mode: str,
    jail: FilesystemPermissionMiddleware,
    backend: Any,
    *,
    guarded: bool = True,
    tools: Sequence[Any] = (),
) -> list[str]:
    """The tool answers of a deep agent running the scripted calls, in order.

    ``guarded``: built with ``guardrails.deep.create_deep_agent`` (the shared backend guarded);
    else deepagents' own ``create_deep_agent(middleware=[jail])``.
    """
    model = _script(calls)
    if guarded:
        agent = create_deep_agent(model, list(tools), guardrails=[jail], backend=backend)
    else:
        agent = deepagents.create_deep_agent(
            model=model, tools=list(tools), middleware=[jail], backend=backend
        )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    return [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]


def _tree(root: Path) -> None:
    """``/workspace/{ok.txt,private/key.txt}``, ``/secret.txt``, ``/secrets/key.pem``."""
    (root / "workspace" / "private").mkdir(parents=True)
    (root / "workspace" / "ok.txt").write_text("ok-content\n")
    (root / "workspace" / "private" / "key.txt").write_text(f"{SECRET}-private\n")
    (root / "secret.txt").write_text(f"{SECRET}-root\n")
    (root / "secrets").mkdir()
    (root / "secrets" / "key.pem").write_text(f"{SECRET}-pem\n")


def _jail(**kwargs: Any) -> FilesystemPermissionMiddleware:
    """deny /workspace/private, allow /workspace/** (read, write), default deny."""
    return FilesystemPermissionMiddleware(
        [
            P(["read", "write"], ["/workspace/private"], "deny"),
            P(["read", "write"], ["/workspace/**"]),
        ],
        default="deny",
        **kwargs,
    )


# --------------------------------------------------------------------------- deny branches


@pytest.mark.parametrize("guarded", [True, False])
def test_a_deny_rule_carves_a_folder_out_of_an_allow_for_every_tool(
    tmp_path: Path, mode: str, guarded: bool
) -> None:
    """A deny rule listed before the allow rule it carves out of holds for reads, writes, edits,
    deletes, listings and searches; the allowed rest of the folder still works."""
    _tree(tmp_path)
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    key = "/workspace/private/key.txt"
    answers = _answers(
        [
            ("read_file", {"file_path": key}),
            ("write_file", {"file_path": "/workspace/private/new.txt", "content": "x"}),
            ("edit_file", {"file_path": key, "old_string": SECRET, "new_string": "gone"}),
            ("delete", {"file_path": key}),
            ("ls", {"path": "/workspace/private"}),
            ("ls", {"path": "/workspace"}),
            ("grep", {"pattern": SECRET, "path": "/workspace"}),
            ("glob", {"pattern": "**/*.txt", "path": "/workspace"}),
            ("read_file", {"file_path": "/workspace/ok.txt"}),
        ],
        mode,
        _jail(),
        backend,
        guarded=guarded,
    )
    assert len(answers) == 9, answers
    for answer in answers[:5]:
        assert "permission denied" in answer, answers
    assert "private" not in answers[5] and "ok.txt" in answers[5], answers
    assert "No matches found" in answers[6], answers
    assert "private" not in answers[7] and "ok.txt" in answers[7], answers
    assert "ok-content" in answers[8], answers
    assert not any(SECRET in a for a in answers), answers
    assert (tmp_path / "workspace" / "private" / "key.txt").read_text() == f"{SECRET}-private\n"
    assert not (tmp_path / "workspace" / "private" / "new.txt").exists()


def test_decisions_of_the_public_api_follow_rule_order_and_the_default() -> None:
    """``decide`` answers as the agent does: first matching rule, else the default."""
    jail = _jail()
    assert jail.decide("read", "/workspace/private/key.txt") == "deny"
    assert jail.decide("write", "/workspace/private") == "deny"
    assert jail.decide("read", "/workspace/ok.txt") == "allow"
    assert jail.decide("read", "/etc/passwd") == "deny"
    assert jail.decide("execute", "/workspace") == "deny"
    loose = FilesystemPermissionMiddleware([P(["read"], ["/secrets/**"], "deny")])
    assert loose.decide("read", "/etc/hosts") == "allow"  # the documented default is "allow"
    assert loose.decide("write", "/secrets/key.pem") == "allow"  # the rule names read only
    assert loose.decide("read", "/secrets/key.pem") == "deny"
    with pytest.raises(GuardrailConfigError, match="operation"):
        jail.decide("delete", "/workspace/ok.txt")


# --------------------------------------------------------------------------- prefixes


@pytest.mark.parametrize(
    "path",
    ["/workspace2/secret.txt", "/workspacex", "/workspace.bak/secret.txt", "/workspac/secret.txt"],
)
def test_an_allowed_folder_does_not_allow_a_sibling_whose_name_starts_the_same(
    path: str,
) -> None:
    """``/workspace/**`` allows what is in ``/workspace``, never ``/workspace2``."""
    jail = _jail()
    assert jail.decide("read", path) == "deny"
    assert jail.decide("write", path) == "deny"


def test_a_sibling_of_an_allowed_folder_is_refused_in_a_run(tmp_path: Path, mode: str) -> None:
    _tree(tmp_path)
    (tmp_path / "workspace2").mkdir()
    (tmp_path / "workspace2" / "secret.txt").write_text(f"{SECRET}-sibling\n")
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [
            ("read_file", {"file_path": "/workspace2/secret.txt"}),
            ("ls", {"path": "/workspace2"}),
            ("write_file", {"file_path": "/workspace2/planted.txt", "content": "x"}),
        ],
        mode,
        _jail(),
        backend,
    )
    assert all("permission denied" in a for a in answers), answers
    assert not (tmp_path / "workspace2" / "planted.txt").exists()


def test_a_denied_folder_does_not_deny_a_sibling_whose_name_starts_the_same() -> None:
    """``deny /secrets`` covers ``/secrets`` and what is in it, not ``/secrets2``."""
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/secrets"], "deny")])
    assert jail.decide("read", "/secrets") == "deny"
    assert jail.decide("read", "/secrets/key.pem") == "deny"
    assert jail.decide("read", "/secrets/a/b/c") == "deny"
    assert jail.decide("read", "/secrets2/notes.txt") == "allow"
    assert jail.decide("read", "/secret") == "allow"


def test_deleting_a_name_that_prefixes_a_protected_folder_is_not_a_folder_delete(
    tmp_path: Path, mode: str
) -> None:
    """A delete is refused for what it could remove below it, judged folder by folder: the
    folder ``/work`` is not above ``/workspace/keep``."""
    (tmp_path / "workspace" / "keep").mkdir(parents=True)
    (tmp_path / "workspace" / "keep" / "a.txt").write_text("keep\n")
    (tmp_path / "work").mkdir()  # a folder: its delete is judged for what is below it
    (tmp_path / "work" / "tmp.txt").write_text("scratch\n")
    jail = FilesystemPermissionMiddleware([P(["write"], ["/workspace/keep/**"], "deny")])
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [("delete", {"file_path": "/work"}), ("delete", {"file_path": "/workspace"})],
        mode,
        jail,
        backend,
    )
    assert "permission denied" not in answers[0], answers
    assert not (tmp_path / "work").exists()
    assert "permission denied" in answers[1] and "/workspace/keep/**" in answers[1], answers
    assert (tmp_path / "workspace" / "keep" / "a.txt").exists()


@pytest.mark.parametrize(
    "path",
    ["/large_tool_results_old/secret", "/large_tool_resultsx", "/conversation_history2/a.md",
     "/large_tool_results", "/conversation_history"],
)  # fmt: skip
def test_only_deepagents_own_offload_folders_are_readable_under_default_deny(
    tmp_path: Path, path: str
) -> None:
    """The model may read a file under ``/large_tool_results/`` when no rule decides it; a
    sibling whose name starts the same, or the folder itself (a listing), is judged by the
    default like any path."""
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    jail = _jail(backend=backend)
    assert jail.decide("read", "/large_tool_results/call_1") == "allow"
    assert jail.decide("read", "/conversation_history/session.md") == "allow"
    assert jail.decide("read", path) == "deny"


# --------------------------------------------------------------------------- links


def _links(root: Path, outside: Path) -> None:
    _tree(root)
    outside.mkdir()
    (outside / "host.txt").write_text(f"{SECRET}-host\n")
    ws = root / "workspace"
    os.symlink("../secret.txt", ws / "rel-link.txt")
    os.symlink(root / "secrets" / "key.pem", ws / "abs-link.txt")
    os.symlink(outside / "host.txt", ws / "host-link.txt")
    os.symlink("../secrets", ws / "dir-link")
    os.symlink(root / "workspace" / "private", ws / "private-link")
    os.link(root / "secret.txt", ws / "hard.txt")


@pytest.mark.parametrize("guarded", [True, False])
def test_no_link_leads_out_of_the_jail(tmp_path: Path, mode: str, guarded: bool) -> None:
    """Symlinks (relative, absolute, to a folder, out of the root) and hard links inside an
    allowed folder do not give access to what they point at: read, edit, write, list, search."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    _links(root, outside)
    backend = FilesystemBackend(root_dir=root, virtual_mode=True)
    names = ["rel-link.txt", "abs-link.txt", "host-link.txt", "hard.txt"]
    calls: list[Call] = [("read_file", {"file_path": f"/workspace/{n}"}) for n in names]
    calls += [
        ("read_file", {"file_path": "/workspace/dir-link/key.pem"}),
        ("read_file", {"file_path": "/workspace/private-link/key.txt"}),
        ("edit_file", {"file_path": "/workspace/rel-link.txt", "old_string": SECRET,
                       "new_string": "x"}),
        ("write_file", {"file_path": "/workspace/dir-link/planted.txt", "content": "x"}),
        ("ls", {"path": "/workspace/dir-link"}),
        ("grep", {"pattern": SECRET, "path": "/workspace"}),
        ("glob", {"pattern": "**/*", "path": "/workspace"}),
        ("ls", {"path": "/workspace"}),
    ]  # fmt: skip
    answers = _answers(calls, mode, _jail(), backend, guarded=guarded)
    assert len(answers) == len(calls), answers
    assert not any(SECRET in a for a in answers), answers
    for answer in answers[:8]:
        assert "permission denied" in answer or "not found" in answer, answers
    for answer in answers[-2:]:
        for name in ["rel-link", "abs-link", "host-link", "dir-link", "hard.txt", "private"]:
            assert name not in answer, (name, answers)
        assert "ok.txt" in answer, answers
    assert (root / "secret.txt").read_text() == f"{SECRET}-root\n"
    assert not (root / "secrets" / "planted.txt").exists()


def test_a_link_and_its_target_must_both_be_allowed(tmp_path: Path, mode: str) -> None:
    """A link in a denied folder to an allowed file is refused too (the path as written)."""
    _tree(tmp_path)
    os.symlink(tmp_path / "workspace" / "ok.txt", tmp_path / "workspace" / "private" / "to-ok")
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [("read_file", {"file_path": "/workspace/private/to-ok"})], mode, _jail(), backend
    )
    assert "permission denied" in answers[0] and "ok-content" not in answers[0], answers


def test_a_hard_link_is_refused_under_a_deny_rule_of_default_allow(
    tmp_path: Path, mode: str
) -> None:
    """Under ``default="allow"`` with a deny rule, a file with a second name is refused: the rule
    names a path, the second name reaches the same data."""
    _tree(tmp_path)
    (tmp_path / "notes").mkdir()
    os.link(tmp_path / "secrets" / "key.pem", tmp_path / "notes" / "copy.txt")
    jail = FilesystemPermissionMiddleware([P(["read"], ["/secrets"], "deny")])
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [
            ("read_file", {"file_path": "/notes/copy.txt"}),
            ("read_file", {"file_path": "/workspace/ok.txt"}),
        ],
        mode,
        jail,
        backend,
    )
    assert SECRET not in answers[0] and "ok-content" in answers[1], answers


def test_links_are_followed_through_a_composite_route(tmp_path: Path, mode: str) -> None:
    """A route of a ``CompositeBackend`` places its paths on its own disk: a link there is
    judged at its target's virtual path."""
    root = tmp_path / "root"
    root.mkdir()
    _tree(root)
    os.symlink("../secrets/key.pem", root / "workspace" / "link.pem")
    backend = CompositeBackend(
        default=StateBackend(),
        routes={"/disk/": FilesystemBackend(root_dir=root, virtual_mode=True)},
    )
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/disk/workspace/**"])], default="deny"
    )
    answers = _answers(
        [
            ("read_file", {"file_path": "/disk/workspace/link.pem"}),
            ("read_file", {"file_path": "/disk/workspace/ok.txt"}),
        ],
        mode,
        jail,
        backend,
    )
    assert SECRET not in answers[0] and "ok-content" in answers[1], answers


# --------------------------------------------------------------------------- coordinates


_ESCAPES = [
    "secret.txt",  # relative: taken from /
    "workspace/../secret.txt",
    "/workspace/../secret.txt",
    "/workspace/./../secret.txt",
    "/workspace/ok.txt/../../secret.txt",
    "/workspace/private/../../secret.txt",
    "//secret.txt",
    "/workspace/../../secret.txt",
    "~/secret.txt",
    "~root/secret.txt",
    "/workspace\\..\\secret.txt",
    "\\secret.txt",
    "C:\\secret.txt",
    "c:/secret.txt",
    "/workspace/\x00/../../secret.txt",
    "/workspace/\u2028/../../secret.txt",
    "/workspace/private/./key.txt",
    "/workspace//private/key.txt",
    "/workspace/private/",
    "/WORKSPACE/../secret.txt",
]
#: percent-encoding is decoded by nobody: these are literal names inside /workspace
_LITERAL = [
    "/workspace/%2e%2e/secret.txt",
    "/workspace/%2E%2E%2Fsecret.txt",
    "/workspace/..%2fsecret.txt",
    "/%73ecrets/key.pem",
]


@pytest.mark.parametrize("raw", _ESCAPES)
def test_a_path_in_another_spelling_is_judged_where_it_lands(raw: str) -> None:
    """Relative paths, ``..``, ``~``, drive letters, backslashes, percent-encoding, control
    characters and repeated slashes never turn a denied file into an allowed one."""
    jail = _jail()
    assert jail.decide("read", raw) == "deny", raw
    assert jail.decide("write", raw) == "deny", raw


def test_no_spelling_of_a_path_reads_a_denied_file(tmp_path: Path, mode: str) -> None:
    _tree(tmp_path)
    (tmp_path / "workspace" / "%2e%2e").mkdir()
    (tmp_path / "workspace" / "%2e%2e" / "secret.txt").write_text("literal-name\n")
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    calls: list[Call] = [("read_file", {"file_path": raw}) for raw in _ESCAPES + _LITERAL]
    answers = _answers(calls, mode, _jail(), backend)
    assert len(answers) == len(_ESCAPES) + len(_LITERAL)
    for raw, answer in zip(_ESCAPES + _LITERAL, answers, strict=True):
        assert SECRET not in answer, (raw, answer)
    for raw, answer in zip(_ESCAPES, answers, strict=False):
        assert "permission denied" in answer or "not found" in answer, (raw, answer)


@pytest.mark.sweep
@pytest.mark.parametrize(
    "raw",
    ["~/notes.txt", "~root/.ssh/id_rsa", "~", "C:\\notes.txt", "c:/notes.txt", "Z:notes.txt",
     "/notes\\x", "\\\\server\\share\\notes.txt", "/notes/\x00x", "/notes/\x1bx",
     "/notes/\x85x", "/notes/\u2028x", "/notes/\u2029x", "", "/" + "a" * 5000, "/..",
     "/notes/../../x"],
)  # fmt: skip
def test_a_path_the_rules_cannot_place_is_refused_even_under_default_allow(
    raw: str, mode: str
) -> None:
    """``~``, drive letters, backslashes, control characters, an empty or overlong path and a
    path escaping the root are refused, not read as odd names: another backend (a shell, a
    sandbox, Windows) may read them as another place."""
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/secrets"], "deny")])
    assert jail.decide("read", raw) == "deny"
    assert jail.decide("write", raw) == "deny"
    answers = _answers(
        [("read_file", {"file_path": raw}), ("write_file", {"file_path": raw, "content": "x"})],
        mode, jail, StateBackend(),
    )  # fmt: skip
    assert all("permission denied" in a and "invalid path" in a for a in answers), answers


def test_a_percent_encoded_name_is_a_literal_name_for_the_rules_and_the_backend(
    tmp_path: Path, mode: str
) -> None:
    """Nothing decodes ``%2e%2e``: an allowed folder's literal ``%2e%2e`` child is read as such."""
    _tree(tmp_path)
    (tmp_path / "workspace" / "%2e%2e").mkdir()
    (tmp_path / "workspace" / "%2e%2e" / "secret.txt").write_text("literal-name\n")
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [("read_file", {"file_path": "/workspace/%2e%2e/secret.txt"})], mode, _jail(), backend
    )
    assert "literal-name" in answers[0] and SECRET not in answers[0], answers
    jail = _jail()
    assert jail.decide("read", "/%73ecrets/key.pem") == "deny"  # not under /workspace
    assert [jail.decide("read", raw) for raw in _LITERAL[:3]] == ["allow"] * 3


def test_a_relative_write_lands_under_the_root_and_is_judged_there(
    tmp_path: Path, mode: str
) -> None:
    _tree(tmp_path)
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [
            ("write_file", {"file_path": "planted.txt", "content": "x"}),
            ("write_file", {"file_path": "workspace/new.txt", "content": "fine"}),
        ],
        mode,
        _jail(),
        backend,
    )
    assert "permission denied" in answers[0], answers
    assert not (tmp_path / "planted.txt").exists()
    assert "permission denied" not in answers[1], answers
    assert (tmp_path / "workspace" / "new.txt").read_text() == "fine"


@pytest.mark.parametrize("spelling", ["/SECRETS/key.pem", "/Secrets/Key.pem", "/SeCrEtS"])
def test_case_insensitive_matching_denies_every_case_of_a_denied_name(
    spelling: str, mode: str
) -> None:
    """With ``case_insensitive=True`` (a case-insensitive volume) a deny rule holds for every
    case; without it, another case is another name."""
    rules = [P(["read", "write"], ["/secrets"], "deny")]
    folded = FilesystemPermissionMiddleware(rules, case_insensitive=True)
    assert folded.decide("read", spelling) == "deny"
    deep = "/SECRETS/" + "/".join(["d"] * 30) + "/key.pem"
    assert folded.decide("read", deep) == "deny"  # the segment matcher folds case too
    assert FilesystemPermissionMiddleware(rules).decide("read", spelling) == "allow"
    classes = FilesystemPermissionMiddleware(
        [P(["read"], ["/**/id_[r]sa", "/**/[!x]ey.pem"], "deny")], case_insensitive=True
    )  # character classes fold case too, on short and on deep paths
    for base in ("", "/" + "/".join(["d"] * 30)):
        assert classes.decide("read", f"{base}/home/ID_RSA") == "deny"
        assert classes.decide("read", f"{base}/home/KEY.PEM") == "deny"
        assert classes.decide("read", f"{base}/home/XEY.PEM") == "allow"
    backend = StateBackend()
    answers = _answers(
        [("read_file", {"file_path": spelling}),
         ("write_file", {"file_path": spelling, "content": "x"})],
        mode, folded, backend,
    )  # fmt: skip
    assert all("permission denied" in a for a in answers), answers


def test_a_decomposed_unicode_name_is_denied_like_the_composed_one() -> None:
    jail = FilesystemPermissionMiddleware([P(["read"], ["/secrets/café"], "deny")])
    assert jail.decide("read", "/secrets/cafe\u0301/x") == "deny"
    assert jail.decide("read", "/secrets/caf\u00e9") == "deny"


# --------------------------------------------------------------------------- wildcards


@pytest.mark.parametrize(
    ("rule", "allowed", "denied"),
    [
        ("/workspace/*.txt", ["/workspace/a.txt", "/workspace/.a.txt"],
         ["/workspace/sub/a.txt", "/workspace/a.txt.bak", "/workspace/a.txtx", "/workspace"]),
        ("/workspace/?.md", ["/workspace/a.md"], ["/workspace/ab.md", "/workspace/.md"]),
        ("/workspace/[ab].md", ["/workspace/a.md", "/workspace/b.md"],
         ["/workspace/c.md", "/workspace/ab.md"]),
        ("/workspace/[!s]*", ["/workspace/notes"], ["/workspace/secret", "/workspace/a/b"]),
        ("/workspace/{a,b}/*", ["/workspace/a/x", "/workspace/b/y"],
         ["/workspace/c/x", "/workspace/a/x/y", "/workspace/ab/x"]),
        ("/workspace/**/public/*", ["/workspace/public/x", "/workspace/a/b/public/x"],
         ["/workspace/a/private/x", "/workspace/public/x/y", "/workspace/publicx/x"]),
        ("/workspace/x**", ["/workspace/xa"], ["/workspace/xa/b", "/workspace/y"]),
        ("/workspace", ["/workspace"], ["/workspace/a.txt"]),
    ],
)  # fmt: skip
def test_an_allow_wildcard_never_allows_more_than_it_says(
    rule: str, allowed: list[str], denied: list[str]
) -> None:
    """``*`` is one name, ``?`` one character, ``[...]`` a class, ``**`` any depth only where it
    stands; an allow rule without a wildcard is that path alone. For short paths and for long,
    deep ones (another matcher): the same answers."""
    jail = FilesystemPermissionMiddleware([P(["read"], [rule])], default="deny")
    for path in allowed:
        assert jail.decide("read", path) == "allow", (rule, path)
    for path in denied:
        assert jail.decide("read", path) == "deny", (rule, path)
    pad = "/".join(["p"] * 30)
    deep_rule = rule.replace("/workspace", "/workspace/" + pad, 1)
    deep = FilesystemPermissionMiddleware([P(["read"], [deep_rule])], default="deny")
    for path in allowed:
        assert deep.decide("read", path.replace("/workspace", "/workspace/" + pad, 1)) == "allow"
    for path in denied:
        deep_path = path.replace("/workspace", "/workspace/" + pad, 1)
        assert deep.decide("read", deep_path) == "deny", (deep_rule, deep_path)


def test_a_star_allow_does_not_reach_into_subfolders_in_a_run(tmp_path: Path, mode: str) -> None:
    _tree(tmp_path)
    jail = FilesystemPermissionMiddleware([P(["read"], ["/workspace/*"])], default="deny")
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [
            ("read_file", {"file_path": "/workspace/private/key.txt"}),
            ("read_file", {"file_path": "/workspace/ok.txt"}),
        ],
        mode,
        jail,
        backend,
    )
    assert "permission denied" in answers[0] and SECRET not in answers[0], answers
    assert "ok-content" in answers[1], answers


def test_a_glob_tool_lists_only_what_may_be_read(tmp_path: Path, mode: str) -> None:
    """``glob`` with a wide pattern, from the root or an allowed folder, returns no denied name;
    an absolute pattern without ``path`` is judged by the folder it names."""
    _tree(tmp_path)
    jail = FilesystemPermissionMiddleware([P(["read"], ["/secrets", "/workspace/private"], "deny")])
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [
            ("glob", {"pattern": "**/*", "path": "/"}),
            ("glob", {"pattern": "/secrets/*"}),
            ("glob", {"pattern": "**"}),
            ("grep", {"pattern": SECRET}),
        ],
        mode,
        jail,
        backend,
    )
    for answer in (answers[0], answers[2]):
        assert "key.pem" not in answer and "key.txt" not in answer, answers
        assert "ok.txt" in answer, answers
    assert "key.pem" not in answers[1], answers
    assert "secret.txt" in answers[3] and "key.pem" not in answers[3], answers
    assert "key.txt" not in answers[3], answers


# --------------------------------------------------------------------------- execute


@pytest.mark.parametrize(
    "rules,default",
    [
        ([], "allow"),
        ([P(["read", "write"], ["/**"])], "allow"),
        ([P(["read", "write"], ["/**"])], "deny"),
        ([P(["execute"], ["/workspace/**"])], "allow"),  # not where commands run (/)
        ([P(["execute"], ["/**"], "deny"), P(["execute"], ["/**"])], "allow"),
        ([P(["execute"], ["/**"], "interrupt")], "deny"),
    ],
)
def test_execute_runs_only_where_a_rule_allows_it(
    tmp_path: Path, mode: str, rules: list[Any], default: str
) -> None:
    """``execute`` needs an allow rule on the folder commands run in, under either default; an
    interrupt rule asks (the command does not run before an answer)."""
    backend = LocalShellBackend(root_dir=tmp_path, virtual_mode=True)
    with (
        pytest.warns(UserWarning)
        if default == "deny" and not any(r.mode == "allow" for r in rules)
        else _nothing()
    ):
        jail = FilesystemPermissionMiddleware(rules, default=default)
    model = _script([("execute", {"command": "touch ran.txt"})])
    agent = deepagents.create_deep_agent(
        model=model, middleware=[jail], backend=backend, checkpointer=InMemorySaver()
    )
    invoke(agent, {"messages": [("user", "go")]}, mode, {"configurable": {"thread_id": "x"}})
    assert not (tmp_path / "ran.txt").exists()


def test_execute_runs_where_a_rule_allows_it(tmp_path: Path, mode: str) -> None:
    backend = LocalShellBackend(root_dir=tmp_path, virtual_mode=True)
    jail = FilesystemPermissionMiddleware([P(["execute"], ["/**"])], default="deny")
    answers = _answers(
        [("execute", {"command": "touch ran.txt && echo done"})], mode, jail, backend
    )
    assert (tmp_path / "ran.txt").exists(), answers


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


# --------------------------------------------------------------------------- approvals


def _approval_agent(tmp_path: Path, rules: list[Any], calls: Any) -> Any:
    jail = FilesystemPermissionMiddleware(rules)
    return deepagents.create_deep_agent(
        model=_script(calls),
        middleware=[jail],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        checkpointer=InMemorySaver(),
    )


@pytest.mark.parametrize("decision", ["approve", "reject"])
@pytest.mark.parametrize("rule_path", ["/memories/**", "/memories", "/memories/"])
def test_an_interrupt_rule_asks_before_the_write_and_the_answer_decides(
    tmp_path: Path, mode: str, decision: str, rule_path: str
) -> None:
    """Nothing is written before the human answers; ``approve`` writes, ``reject`` does not."""
    (tmp_path / "memories").mkdir()
    rules = [P(["write"], [rule_path], "interrupt"), P(["read", "write"], ["/**"])]
    calls = [("write_file", {"file_path": "/memories/./a.md", "content": "remember"})]
    agent = _approval_agent(tmp_path, rules, calls)
    config = {"configurable": {"thread_id": "t"}}
    out = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    (pending,) = out["__interrupt__"]
    (request,) = pending.value["action_requests"]
    assert request["name"] == "write_file"
    assert request["args"]["file_path"] == "/memories/a.md"
    assert "/memories/a.md" in request["description"]
    assert not (tmp_path / "memories" / "a.md").exists()
    out = invoke(agent, Command(resume={"decisions": [{"type": decision}]}), mode, config)
    written = (tmp_path / "memories" / "a.md").exists()
    assert written is (decision == "approve")
    answers = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    if decision == "reject":
        assert "rejected by a reviewer" in answers[-1], answers


def test_an_interrupt_rule_outranks_an_allow_of_a_subagent_layer(tmp_path: Path) -> None:
    parent = FilesystemPermissionMiddleware([P(["write"], ["/memories"], "interrupt")])
    child = parent.restrict([P(["write"], ["/**"])])
    assert child.decide("write", "/memories/a.md") == "interrupt"
    assert child.decide("write", "/notes/a.md") == "allow"
    stricter = parent.restrict([P(["write"], ["/memories/**"], "deny")])
    assert stricter.decide("write", "/memories/a.md") == "deny"


def test_grouped_and_single_approvals_show_the_path_the_rule_matched(
    tmp_path: Path, mode: str
) -> None:
    """Each action request carries the arguments as they will run (the normalized path), whether
    one call asks or several calls of a turn ask together; rejecting one call refuses it only."""
    (tmp_path / "memories").mkdir()
    rules = [P(["write"], ["/memories"], "interrupt"), P(["read", "write"], ["/**"])]
    calls = [
        [
            ("write_file", {"file_path": "/memories/./a.md", "content": "a"}),
            ("write_file", {"file_path": "/memories//sub/../b.md", "content": "b"}),
            ("ls", {"path": "/memories/"}),
        ]
    ]
    agent = _approval_agent(tmp_path, rules, calls)
    config = {"configurable": {"thread_id": "g"}}
    out = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    (pending,) = out["__interrupt__"]
    requests = pending.value["action_requests"]
    assert [r["name"] for r in requests] == ["write_file", "write_file"]
    assert [r["args"]["file_path"] for r in requests] == ["/memories/a.md", "/memories/b.md"]
    assert ["/memories/a.md" in r["description"] for r in requests] == [True, False]
    assert "/memories/b.md" in requests[1]["description"]
    resume = {"decisions": [{"type": "approve"}, {"type": "reject", "message": "no"}]}
    out = invoke(agent, Command(resume=resume), mode, config)
    assert (tmp_path / "memories" / "a.md").read_text() == "a"
    assert not (tmp_path / "memories" / "b.md").exists()


def test_an_approved_write_does_not_approve_another_path(tmp_path: Path, mode: str) -> None:
    """An approval covers the call it was asked for; a later call to another file asks again."""
    (tmp_path / "memories").mkdir()
    rules = [P(["write"], ["/memories"], "interrupt"), P(["read", "write"], ["/**"])]
    calls = [
        ("write_file", {"file_path": "/memories/a.md", "content": "a"}),
        ("write_file", {"file_path": "/memories/b.md", "content": "b"}),
    ]
    agent = _approval_agent(tmp_path, rules, calls)
    config = {"configurable": {"thread_id": "s"}}
    invoke(agent, {"messages": [("user", "go")]}, mode, config)
    out = invoke(agent, Command(resume={"decisions": [{"type": "approve"}]}), mode, config)
    (pending,) = out["__interrupt__"]
    assert pending.value["action_requests"][0]["args"]["file_path"] == "/memories/b.md"
    assert (tmp_path / "memories" / "a.md").exists()
    assert not (tmp_path / "memories" / "b.md").exists()


# --------------------------------------------------------------------------- tool_paths


@tool
def archive(src: str, dest: str | None = None) -> str:
    """Copy ``src`` into the archive folder ``dest``."""
    return f"archived {src} to {dest}"


@tool
def report(path: str = "/secrets/key.pem") -> str:
    """Summarize the file at ``path``."""
    return f"reported {path}"


@tool
def bundle(paths: list[str]) -> str:
    """Bundle several files."""
    return f"bundled {paths}"


def test_an_omitted_path_argument_is_judged_at_its_default_or_refused(
    tmp_path: Path, mode: str
) -> None:
    """A ``tool_paths`` argument the call leaves out is judged at the tool's schema default, and
    refused (never judged as ``/``) when that default is ``None``."""
    _tree(tmp_path)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/secrets"], "deny"), P(["read", "write"], ["/workspace/**"])],
        default="deny",
        tool_paths={
            "archive": {"src": "read", "dest": "write"},
            "report": {"path": "read"},
            "bundle": {"paths": "read"},
        },
    )
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [
            ("archive", {"src": "/workspace/ok.txt"}),
            ("report", {}),
            ("bundle", {"paths": ["/workspace/ok.txt", "/secrets/key.pem"]}),
            ("archive", {"src": "/workspace/ok.txt", "dest": "/workspace/old"}),
            ("archive", {"src": "/secrets/key.pem", "dest": "/workspace/old"}),
            ("archive", {"src": "/workspace/ok.txt", "dest": "/"}),
        ],
        mode,
        jail,
        backend,
        tools=[archive, report, bundle],
    )
    assert "give 'dest' explicitly" in answers[0], answers
    assert "permission denied for read on /secrets/key.pem" in answers[1], answers
    assert "permission denied for read on /secrets/key.pem" in answers[2], answers
    assert answers[3] == "archived /workspace/ok.txt to /workspace/old", answers
    assert "permission denied for read on /secrets/key.pem" in answers[4], answers
    assert "permission denied for write on /" in answers[5], answers


def test_a_tool_paths_argument_the_tool_does_not_take_is_refused_not_judged_as_root(
    mode: str,
) -> None:
    """A misspelt argument in ``tool_paths`` raises ``GuardrailConfigError`` when the deep agent
    is built, and on the tool's first call in a plain ``create_agent`` graph: never a silent
    check of ``/`` or of nothing."""
    from langchain.agents import create_agent

    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace/**"])],
        default="deny",
        tool_paths={"archive": {"source": "read"}},
    )
    with pytest.raises(GuardrailConfigError, match=r"'source'.*'archive'"):
        create_deep_agent(ScriptedChatModel(responses=["done"]), [archive], guardrails=[jail])
    agent = create_agent(
        _script([("archive", {"src": "/secrets/key.pem"})]), tools=[archive], middleware=[jail]
    )
    with pytest.raises(GuardrailConfigError, match="'source'"):
        invoke(agent, {"messages": [("user", "go")]}, mode)


def test_a_subagent_without_our_middleware_cannot_write_where_a_human_must_approve(
    tmp_path: Path, mode: str
) -> None:
    """A compiled subagent (no middleware of ours) reaches files only through the guarded
    backend, which cannot ask anyone: a write an interrupt rule covers is refused, never run
    unasked; its other writes run."""
    (tmp_path / "memories").mkdir()
    jail = FilesystemPermissionMiddleware(
        [P(["write"], ["/memories"], "interrupt"), P(["read", "write"], ["/**"])]
    )
    sub = _script(
        [
            ("write_file", {"file_path": "/memories/a.md", "content": "planted"}),
            ("write_file", {"file_path": "/notes.md", "content": "fine"}),
        ]
    )
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    compiled = deepagents.create_deep_agent(model=sub, backend=backend, name="compiled")
    task = ("task", {"description": "remember this", "subagent_type": "compiled"})
    agent = create_deep_agent(
        _script([task]),
        guardrails=[jail],
        backend=backend,
        subagents=[{"name": "compiled", "description": "c", "runnable": compiled}],
        checkpointer=InMemorySaver(),
    )
    invoke(agent, {"messages": [("user", "go")]}, mode, {"configurable": {"thread_id": "c"}})
    assert not (tmp_path / "memories" / "a.md").exists()
    assert (tmp_path / "notes.md").read_text() == "fine"


# --------------------------------------------------------------------------- survivors (seed 7)


def _compiled_run(
    tmp_path: Path, mode: str, jail: FilesystemPermissionMiddleware, calls: list[Call]
) -> list[str]:
    """What a compiled subagent (no middleware of ours, held by the guarded backend) saw."""
    sub = _script(calls)
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    compiled = deepagents.create_deep_agent(model=sub, backend=backend, name="compiled")
    task = ("task", {"description": "do it", "subagent_type": "compiled"})
    agent = create_deep_agent(
        _script([task]),
        guardrails=[jail],
        backend=backend,
        subagents=[{"name": "compiled", "description": "c", "runnable": compiled}],
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    return [str(m.content) for m in sub.requests[-1]["messages"] if isinstance(m, ToolMessage)]


def test_the_guarded_backend_refuses_a_subagents_write_through_a_link_and_a_denied_glob(
    tmp_path: Path, mode: str
) -> None:
    """A compiled subagent's write through a link to a denied file is refused (not a crash, the
    target untouched); a search in a folder a rule denies is refused as such, not answered as
    an empty result."""
    _tree(tmp_path)
    os.symlink("../secret.txt", tmp_path / "workspace" / "link.txt")
    answers = _compiled_run(
        tmp_path,
        mode,
        _jail(),
        [
            ("write_file", {"file_path": "/workspace/link.txt", "content": "overwritten"}),
            ("glob", {"pattern": "*", "path": "/workspace/private"}),
            ("read_file", {"file_path": "/workspace/ok.txt"}),
            ("read_file", {"file_path": "/workspace/private/key.txt"}),
        ],
    )
    assert len(answers) == 4, answers
    assert "permission denied for write" in answers[0], answers
    assert (tmp_path / "secret.txt").read_text() == f"{SECRET}-root\n"
    assert "permission denied for read on /workspace/private" in answers[1], answers
    assert "ok-content" in answers[2], answers
    # a rule's denial says so (only a name refused for what it links to reads as missing)
    assert "permission denied for read on /workspace/private/key.txt" in answers[3], answers


def test_a_listing_that_withholds_entries_is_audited_with_how_many(
    tmp_path: Path, mode: str
) -> None:
    """``fs.filtered`` says how many entries a listing or search withheld (never which)."""
    from tests.conftest import AuditCapture

    _tree(tmp_path)
    (tmp_path / "workspace" / "private" / "b.txt").write_text("b\n")
    capture = AuditCapture()
    import logging

    logger = logging.getLogger("guardrails.audit")
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    try:
        jail = FilesystemPermissionMiddleware([P(["read"], ["/workspace/private"], "deny")])
        backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
        _answers(
            [("glob", {"pattern": "**/*.txt", "path": "/workspace"}),
             ("grep", {"pattern": "-", "path": "/workspace"})],
            mode, jail, backend,
        )  # fmt: skip
    finally:
        logger.removeHandler(capture)
    events = capture.of("fs.filtered")
    assert [(e["backend_method"], e["withheld"], e["path"]) for e in events] == [
        ("glob", 2, "/workspace"),
        ("grep", 1, "/workspace"),
    ], events
    assert all("private" not in str(e) for e in events)


def test_a_search_without_a_path_on_a_sandbox_is_judged_in_its_working_folder(
    tmp_path: Path, mode: str
) -> None:
    """A sandbox's ``grep`` without ``path`` searches its working folder: a jail allowing that
    folder lets it run (judged at ``/`` it would be refused), and denied files stay out."""
    from tests.test_promises_filesystem import LocalSandbox

    work = tmp_path / "box" / "work"
    (work / "secrets").mkdir(parents=True)
    (work / "notes.txt").write_text("needle in notes\n")
    (work / "secrets" / "key.txt").write_text("needle secret\n")
    here = work.as_posix()
    jail = FilesystemPermissionMiddleware(
        [P(["read"], [f"{here}/secrets"], "deny"), P(["read"], [f"{here}/**"])], default="deny"
    )
    answers = _answers(
        [("grep", {"pattern": "needle"})], mode, jail, LocalSandbox(work), guarded=False
    )
    assert "permission denied" not in answers[0], answers
    assert "notes.txt" in answers[0] and "key.txt" not in answers[0], answers


def test_a_listing_given_a_relative_or_unclean_path_lists_the_folder_it_names(
    tmp_path: Path, mode: str
) -> None:
    """The backend receives the normalized path the rules judged (``workspace/./`` is
    ``/workspace``), not the raw text."""
    _tree(tmp_path)
    jail = FilesystemPermissionMiddleware([P(["read"], ["/secrets"], "deny")])
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
    answers = _answers(
        [("ls", {"path": "workspace/./"}), ("glob", {"pattern": "*.txt", "path": "workspace//"})],
        mode,
        jail,
        backend,
        guarded=False,
    )
    assert "/workspace/ok.txt" in answers[0], answers
    assert "/workspace/ok.txt" in answers[1], answers


@tool
def grep(pattern: str) -> str:
    """A search tool of the user's own, named like deepagents' (not a deepagents file tool)."""
    return f"own grep: {pattern}"


def test_a_listing_tool_we_cannot_filter_runs_only_while_no_rule_restricts_reads(
    mode: str,
) -> None:
    """A tool named ``grep`` that is not deepagents' cannot be filtered: refused while a rule
    restricts reads, run as usual when the rules restrict only writes."""
    from langchain.agents import create_agent

    for rules, runs in (
        ([P(["write"], ["/**"], "deny")], True),
        ([P(["read"], ["/secrets"], "deny")], False),
    ):
        agent = create_agent(
            _script([("grep", {"pattern": "x"})]),
            tools=[grep],
            middleware=[FilesystemPermissionMiddleware(rules)],
        )
        out = invoke(agent, {"messages": [("user", "go")]}, mode)
        answer = next(str(m.content) for m in out["messages"] if isinstance(m, ToolMessage))
        assert (answer == "own grep: x") is runs, (rules, answer)


class _Opaque:
    """A backend whose paths the guardrail cannot place (no resolve hook, unknown class)."""

    def read(self, *a: Any, **k: Any) -> Any:  # pragma: no cover - never reached
        raise AssertionError("the backend was called")


def test_a_backend_the_guardrail_cannot_place_is_refused_with_the_reason(mode: str) -> None:
    """``FilesystemPermissionMiddleware(backend=...)`` refuses it at construction; deepagents'
    file tools on such a backend are denied, naming why (not a bare permission text)."""
    with pytest.raises(GuardrailConfigError, match="not a backend whose paths"):
        FilesystemPermissionMiddleware([], backend=_Opaque())
    from deepagents.backends.protocol import BackendProtocol

    class Opaque(BackendProtocol):  # type: ignore[misc]
        pass

    jail = FilesystemPermissionMiddleware([P(["read"], ["/secrets"], "deny")])
    model = _script([("read_file", {"file_path": "/notes.txt"})])
    agent = deepagents.create_deep_agent(model=model, middleware=[jail], backend=Opaque())
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    answer = next(str(m.content) for m in out["messages"] if isinstance(m, ToolMessage))
    assert answer.startswith("Error: permission denied: Opaque is not a backend"), answer


def test_a_compiled_subagent_with_file_tools_on_an_unguarded_backend_is_not_run(
    tmp_path: Path, mode: str
) -> None:
    """With deepagents' own ``create_deep_agent(middleware=[jail])``, a compiled subagent (a
    ``create_agent`` graph with deepagents' file tools on a backend of its own) is not held to
    the rules: its ``task`` call is refused and it never reads the secret."""
    from deepagents.middleware.filesystem import FilesystemMiddleware
    from langchain.agents import create_agent

    _tree(tmp_path)
    sub = _script([("read_file", {"file_path": "/secret.txt"})])
    compiled = create_agent(
        sub,
        middleware=[
            FilesystemMiddleware(backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True))
        ],
    )
    model = _script([("task", {"description": "read", "subagent_type": "compiled"})])
    agent = deepagents.create_deep_agent(
        model=model,
        middleware=[_jail()],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        subagents=[{"name": "compiled", "description": "c", "runnable": compiled}],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    answers = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert "is not held to the filesystem rules" in answers[0], answers
    assert sub.requests == [], "the subagent ran"


def test_tool_paths_of_a_tool_without_a_pydantic_schema_are_checked() -> None:
    """A ``BaseTool`` without ``args_schema`` is checked by the arguments it takes: a misspelt
    argument is refused, a right one accepted."""
    from langchain_core.tools import BaseTool

    class Copy(BaseTool):  # type: ignore[misc]
        name: str = "copy"
        description: str = "copy a file"

        def _run(self, src: str, dst: str) -> str:
            return "copied"

    jail = FilesystemPermissionMiddleware([], tool_paths={"copy": {"src": "read"}})
    jail.check_tools([Copy()])
    wrong = FilesystemPermissionMiddleware([], tool_paths={"copy": {"source": "read"}})
    with pytest.raises(GuardrailConfigError, match="its arguments are: dst, src"):
        wrong.check_tools([Copy()])


@tool
def copy_out(src: str) -> str:
    """Copy a file somewhere else (a tool of the user's own that opens ``src`` itself)."""
    return f"copied {src}"


def test_a_subagent_given_a_path_tool_by_its_middleware_is_not_held_by_the_backend_alone(
    tmp_path: Path, mode: str
) -> None:
    """A guarded backend cannot check a ``tool_paths`` tool (it opens files itself): a subagent
    whose own middleware brings such a tool, with no middleware of ours, is not run."""
    from langchain.agents.middleware import AgentMiddleware

    class Provider(AgentMiddleware):  # type: ignore[type-arg]
        def __init__(self) -> None:
            super().__init__()
            self.tools = [copy_out]

    _tree(tmp_path)
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/secret.txt"], "deny")], tool_paths={"copy_out": {"src": "read"}}
    )
    sub = _script([("copy_out", {"src": "/secret.txt"})])
    model = _script([("task", {"description": "copy", "subagent_type": "helper"})])
    agent = deepagents.create_deep_agent(
        model=model,
        middleware=[jail],
        backend=jail.guard(FilesystemBackend(root_dir=tmp_path, virtual_mode=True)),
        subagents=[{"name": "helper", "description": "h", "system_prompt": "h", "model": sub,
                    "middleware": [Provider()]}],
    )  # fmt: skip
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    answers = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert "is not held to the filesystem rules" in answers[0], answers
    assert sub.requests == [], "the subagent ran"
