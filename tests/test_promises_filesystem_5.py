"""Promises of the filesystem guardrail a fresh mutation sample (seed 31, issue 29) found open.

* A rule written through a **linked folder** follows the link as it is now: once the link is
  re-pointed, the rule covers the new real folder after ``ALIAS_TTL`` seconds (the resolution is
  cached that long, never for ever), in a long-lived agent, sync and async.
* The table of **offloads deepagents may write** (one per tool call whose result is too large) is
  bounded: past ``_EXPECT_MAX`` names the oldest go, expired or not; a fresh name is honoured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware, links
from tests.test_promises_filesystem import SECRET, _answers

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import FilesystemBackend  # noqa: E402

P = FilesystemPermission


# --------------------------------------------------------------------------- re-pointed link


def _releases(root: Path) -> Path:
    for version in ("v41", "v42"):
        folder = root / "app" / "releases" / version
        folder.mkdir(parents=True)
        (folder / "secret.txt").write_text(f"{SECRET}-{version}")
    current = root / "app" / "current"
    current.symlink_to("releases/v41")
    return current


@pytest.mark.parametrize("virtual", [True, False])
def test_a_rule_through_a_link_follows_the_link_once_it_is_re_pointed(
    tmp_path: Path, mode: str, virtual: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``deny /app/current/**`` with ``/app/current -> releases/v41``: v41 is denied, v42 is
    not. Re-point the link to v42: once the cached resolution is older than ``ALIAS_TTL``, the
    same agent (same middleware, same backend) denies v42 and reads v41."""
    monkeypatch.setattr(links, "ALIAS_TTL", 0.0)  # every call resolves the anchor afresh
    root = (tmp_path / "root").resolve()
    current = _releases(root)
    backend = FilesystemBackend(root_dir=root, virtual_mode=virtual)
    head = "" if virtual else str(root)
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], [f"{head}/app/current/**"], "deny")]
    )
    v41, v42 = f"{head}/app/releases/v41/secret.txt", f"{head}/app/releases/v42/secret.txt"
    calls = [("read_file", {"file_path": v41}), ("read_file", {"file_path": v42})]
    before = _answers(calls, mode, guardrails=[jail], backend=backend)
    assert f"{SECRET}-v41" not in before[0] and "permission denied" in before[0], before
    assert f"{SECRET}-v42" in before[1], before
    current.unlink()
    current.symlink_to("releases/v42")
    after = _answers(calls, mode, guardrails=[jail], backend=backend)
    assert f"{SECRET}-v41" in after[0], after
    assert f"{SECRET}-v42" not in after[1] and "permission denied" in after[1], after


# --------------------------------------------------------------------------- offload table


def test_the_table_of_expected_offloads_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tool calls whose results deepagents may offload are remembered for a while; a long run
    with more of them than the table holds (none expired yet) drops the oldest, never grows
    without bound, and the newest is still honoured (once)."""
    monkeypatch.setattr(links, "_EXPECTED", {})
    for i in range(links._EXPECT_MAX + 600):
        links.expect_offload(f"call_{i}")
        assert len(links._EXPECTED) <= links._EXPECT_MAX
    newest = links.sanitize_id(f"call_{links._EXPECT_MAX + 599}")
    assert links._take_expected(newest) is True
    assert links._take_expected(newest) is False  # once
    assert links._take_expected(links.sanitize_id("call_0")) is False  # the oldest went first


# --------------------------------------------------------------------------- rule order


_DEEP = "/".join(f"d{i}" for i in range(30))  # 30 folders: past the regular expression's depth


@pytest.mark.parametrize(
    "path",
    [f"/secrets/{_DEEP}/key.pem", "/secrets/" + "k" * 600 + ".pem", "/secrets/key.pem"],
    ids=["deep", "long", "short"],
)
def test_the_first_matching_rule_decides_whatever_the_length_of_the_path(path: str) -> None:
    """deepagents' reading: the first rule that matches decides. A deny listed before an allow of
    everything denies a long or deep path as it denies a short one, and an allow listed before a
    deny of everything allows it: one answer whichever matcher the path's length picks."""
    deny_first = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/secrets/**"], "deny"), P(["read", "write"], ["/**"])]
    )
    allow_first = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/secrets/**"]), P(["read", "write"], ["/**"], "deny")]
    )
    for op in ("read", "write"):
        assert deny_first.decide(op, path) == "deny"
        assert allow_first.decide(op, path) == "allow"
        assert allow_first.decide(op, "/other" + path) == "deny"


def test_a_deny_before_an_allow_refuses_a_deep_file_in_a_deep_agent(
    tmp_path: Path, mode: str
) -> None:
    root = tmp_path / "root"
    deep = root / "secrets" / _DEEP
    deep.mkdir(parents=True)
    (deep / "key.pem").write_text(SECRET)
    (root / "workspace" / _DEEP).mkdir(parents=True)
    (root / "workspace" / _DEEP / "ok.txt").write_text("ok-content")
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/secrets/**"], "deny"), P(["read", "write"], ["/**"])]
    )
    answers = _answers(
        [("read_file", {"file_path": f"/secrets/{_DEEP}/key.pem"}),
         ("read_file", {"file_path": f"/workspace/{_DEEP}/ok.txt"}),
         ("write_file", {"file_path": f"/secrets/{_DEEP}/new.pem", "content": "x"})],
        mode, guardrails=[jail], backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )  # fmt: skip
    assert SECRET not in answers[0] and "permission denied" in answers[0], answers
    assert "ok-content" in answers[1], answers
    assert "permission denied" in answers[2], answers
    assert not (deep / "new.pem").exists()


# --------------------------------------------------------------------------- tool_paths


class _Opaque:
    """A tool-like object whose arguments cannot be read: a name, no schema, no ``args``."""

    name = "archive"

    def invoke(self, args: dict[str, str]) -> str:
        return f"archived {args}"


@pytest.mark.parametrize("args", [None, {}, "src dest", ["src"]])
def test_a_tool_paths_tool_whose_arguments_cannot_be_read_is_refused_clearly(args: object) -> None:
    """``tool_paths`` names a tool whose arguments cannot be read (no schema; ``args`` missing,
    empty or not a mapping): ``GuardrailConfigError`` asking for a schema, never a crash and
    never a tool taken as having no path to check."""
    from guardrails.errors import GuardrailConfigError

    tool = _Opaque()
    if args is not None:
        tool.args = args  # type: ignore[attr-defined]
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/workspace/**"])], default="deny", tool_paths={"archive": {"src": "read"}}
    )
    with pytest.raises(GuardrailConfigError, match=r"tool_paths\['archive'\].*cannot be read"):
        jail.check_tools([tool])


# --------------------------------------------------------------------------- malformed classes


@pytest.mark.parametrize("rule_mode", ["allow", "deny", "interrupt"])
@pytest.mark.parametrize(
    "pattern", ["/a/[]", "/a/[!]", "/a/[^]", "/a/x[]y", "/a/**/[]", "/a/[b/c]"]
)
def test_a_character_class_that_never_closes_is_a_config_error(
    pattern: str, rule_mode: str
) -> None:
    """A class with no character before its end (``[]``, ``[!]``) or cut by a ``/`` is refused
    with ``GuardrailConfigError`` naming the pattern, whatever the mode: never a crash, never a
    rule that matches something else."""
    from guardrails.errors import GuardrailConfigError

    with pytest.raises(GuardrailConfigError, match=r"unclosed \[ \]"):
        P(["read"], [pattern], rule_mode)
    with pytest.raises(GuardrailConfigError, match=r"unclosed \[ \]"):
        FilesystemPermissionMiddleware(
            [{"operations": ["read"], "paths": [pattern], "mode": rule_mode}]
        )


def test_a_closing_bracket_first_in_a_class_is_a_member() -> None:
    """``[]]`` is the class of ``]`` and ``[!]]`` everything but ``]`` (as in deepagents' glob)."""
    jail = FilesystemPermissionMiddleware(
        [P(["read"], ["/a/[]]"], "deny"), P(["read"], ["/b/[!]]"], "deny")]
    )
    assert jail.decide("read", "/a/]") == "deny"
    assert jail.decide("read", "/a/x") == "allow"
    assert jail.decide("read", "/b/x") == "deny"
    assert jail.decide("read", "/b/]") == "allow"


# --------------------------------------------------------------------------- composite aliases


@pytest.mark.parametrize("inner_first", [True, False])
@pytest.mark.parametrize("inner_is_default", [True, False])
def test_two_routes_of_one_host_folder_are_refused_in_either_order(
    tmp_path: Path, inner_first: bool, inner_is_default: bool
) -> None:
    """A composite whose routes serve a folder and a folder inside it (one file, two virtual
    paths: a rule naming one would not cover the other) is refused whichever comes first: the
    nested one as the default or as a route, listed before or after the outer one."""
    from deepagents.backends import CompositeBackend, StateBackend

    from guardrails.errors import GuardrailConfigError

    root = (tmp_path / "root").resolve()
    (root / "secrets").mkdir(parents=True)
    outer = FilesystemBackend(root_dir=root, virtual_mode=True)
    inner = FilesystemBackend(root_dir=root / "secrets", virtual_mode=True)
    if inner_is_default:
        backend = CompositeBackend(default=inner if inner_first else outer,
                                   routes={"/x/": outer if inner_first else inner})  # fmt: skip
    else:
        pair = [("/in/", inner), ("/out/", outer)]
        routes = dict(pair if inner_first else reversed(pair))
        backend = CompositeBackend(default=StateBackend(), routes=routes)
    rules = [P(["read", "write"], ["/secrets/**"], "deny")]
    with pytest.raises(GuardrailConfigError, match="same or nested host folders"):
        FilesystemPermissionMiddleware(rules, backend=backend)


# --------------------------------------------------------------------------- delete


@pytest.mark.parametrize("path", ["~/notes.txt", "/data/../../etc/passwd", "/data\\old.txt", ""])
def test_a_delete_of_a_path_that_cannot_be_checked_is_refused_and_the_run_goes_on(
    tmp_path: Path, mode: str, path: str
) -> None:
    """``delete`` on a path that cannot be checked safely (a home folder, escaping the root, a
    backslash, empty) is refused like any other tool's call on it, and the next call runs."""
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "old.txt").write_text("old")
    jail = FilesystemPermissionMiddleware(
        [P(["write"], ["/data/keep/**"], "deny"), P(["read", "write"], ["/**"])]
    )
    answers = _answers(
        [("delete", {"file_path": path}), ("read_file", {"file_path": "/data/old.txt"})],
        mode,
        guardrails=[jail],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )
    assert "permission denied" in answers[0], answers
    assert "old" in answers[1], answers
    assert (root / "data" / "old.txt").exists()


# --------------------------------------------------------------------------- case folding


_FOLDS = [  # (rule path, a spelling a case-insensitive match folds to it)
    ("/secrets/**", "/\u017fecrets/key.pem"),  # LATIN SMALL LETTER LONG S folds to s
    ("/secrets/**", "/SECRETS/key.pem"),
    ("/keys/**", "/\u212aeys/id.pem"),  # KELVIN SIGN folds to k
    ("/wiki/**", "/W\u0130K\u0130/page.md"),  # dotted capital I
    ("/app/**/[a-z]*.txt", "/app/x/\u212a.txt"),  # a class range, folded
    ("/app/**/[!0-9]*.txt", "/app/x/\u017f.txt"),  # a negated class, folded
]


@pytest.mark.parametrize(("rule", "spelling"), _FOLDS)
@pytest.mark.parametrize("shape", ["short", "deep", "long"])
def test_a_case_insensitive_rule_folds_the_same_whatever_the_length_of_the_path(
    rule: str, spelling: str, shape: str
) -> None:
    """With ``case_insensitive=True`` a deny rule covers every spelling that folds to its path
    (``ſ`` is ``s``, the Kelvin sign is ``k``...) for a short path and equally for a deep or long
    one, which another matcher decides (a bug: a deep ``/ſecrets/...`` was allowed)."""
    folder, name = spelling.rsplit("/", 1)
    if shape == "deep":
        spelling = f"{folder}/{_DEEP}/{name}"
    elif shape == "long":
        spelling = f"{folder}/{'n' * 520}/{name}"
    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], [rule], "deny")], case_insensitive=True
    )
    assert jail.decide("read", spelling) == "deny", spelling
    assert jail.decide("write", spelling) == "deny", spelling


def test_a_case_insensitive_deny_holds_for_a_deep_folded_path_in_a_deep_agent(mode: str) -> None:
    from deepagents.backends import StateBackend

    jail = FilesystemPermissionMiddleware(
        [P(["read", "write"], ["/secrets/**"], "deny")], case_insensitive=True
    )
    deep = f"/\u017fecrets/{_DEEP}/key.pem"
    answers = _answers(
        [("write_file", {"file_path": deep, "content": SECRET}),
         ("read_file", {"file_path": deep}),
         ("write_file", {"file_path": f"/notes/{_DEEP}/a.md", "content": "ok"})],
        mode, guardrails=[jail], backend=StateBackend(),
    )  # fmt: skip
    assert "permission denied" in answers[0] and "permission denied" in answers[1], answers
    assert "permission denied" not in answers[2], answers


class _FoldingBackend(FilesystemBackend):
    """A case-insensitive disk (APFS, NTFS): ``/DATA`` is ``/data``."""

    def _resolve_path(self, key: str) -> Path:
        return super()._resolve_path(key.lower())


@pytest.mark.parametrize("spelling", ["/DATA", "/Data", "/DATA/KEEP", "/data/KEEP"])
def test_a_folder_delete_in_another_case_never_removes_what_a_deny_rule_protects(
    tmp_path: Path, mode: str, spelling: str
) -> None:
    """On a case-insensitive backend (``case_insensitive=True``) a delete of ``/DATA`` is a delete
    of ``/data``: refused while a deny rule protects ``/data/keep/**`` below it, as ``/data`` is
    (a bug: the folder's spelling was compared case by case, and ``/DATA`` was deleted whole)."""
    root = tmp_path / "root"
    (root / "data" / "keep").mkdir(parents=True)
    (root / "data" / "keep" / "a.txt").write_text("keep")
    (root / "data" / "old.txt").write_text("old")
    jail = FilesystemPermissionMiddleware(
        [P(["write"], ["/data/keep/**"], "deny"), P(["read", "write"], ["/**"])],
        case_insensitive=True,
    )
    answers = _answers(
        [("delete", {"file_path": spelling}), ("delete", {"file_path": "/data/old.txt"})],
        mode,
        guardrails=[jail],
        backend=_FoldingBackend(root_dir=root, virtual_mode=True),
    )
    assert "permission denied" in answers[0] and "/data/keep/**" in answers[0], answers
    assert (root / "data" / "keep" / "a.txt").read_text() == "keep"
    assert "permission denied" not in answers[1], answers  # a file with nothing below: deleted
    assert not (root / "data" / "old.txt").exists()
