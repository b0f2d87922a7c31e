"""deepagents' permission contract, run on deepagents' own ``permissions=`` and on our middleware.

deepagents' source distribution ships no tests (0.7.x), so this suite states its permission
contract as cases and checks them on both sides:

* ``theirs``: ``create_deep_agent(model, backend=backend, permissions=rules)``;
* ``ours``: the same deepagents ``FilesystemPermission`` objects given to our middleware, wired
  the way docs/filesystem.md shows:
  ``jail = FilesystemPermissionMiddleware(rules)``,
  ``create_deep_agent(model, backend=jail.guard(backend), middleware=[jail])``.

The expected answer of every case (the exact tool message the model receives, or whether a rule
is accepted) is what the installed deepagents does, recorded in ``deepagents_golden.json`` by
``python -m compat.deepagents_suite --regen`` and reviewed by hand. Test ids are
``test_x[theirs-CASE]`` / ``test_x[ours-CASE]``; the harness compares the two.
"""

from __future__ import annotations

import atexit
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "deepagents_golden.json"  # copied next to it

FILES: dict[str, str] = {
    "workspace/a.txt": "alpha\n",
    "workspace/sub/b.txt": "beta KEY\n",
    "workspace/.hidden": "hidden\n",
    "workspace/notes.log": "log line\n",
    "secrets/key.pem": "KEY material\n",
    "secrets/.env": "TOKEN=KEY\n",
    "secrets/public.txt": "public\n",
    "private/diary.txt": "dear diary\n",
    "notes.md": "top notes\n",
}

RW = ["read", "write"]
#: ruleset name -> [(operations, paths, mode)], deepagents' FilesystemPermission arguments
RULESETS: dict[str, list[tuple[list[str], list[str], str]]] = {
    "none": [],
    "deny-secrets": [(RW, ["/secrets/**"], "deny")],
    "jail": [(RW, ["/workspace/**"], "allow"), (RW, ["/**"], "deny")],
    "first-match": [(RW, ["/secrets/public.txt"], "allow"), (RW, ["/secrets/**"], "deny")],
    "readonly-workspace": [(["write"], ["/workspace/**"], "deny")],
    "brace": [(["read"], ["/{secrets,private}/**"], "deny")],
    "anywhere-env": [(RW, ["/**/.env"], "deny")],
    "star-one-level": [(["read"], ["/workspace/*"], "deny")],
    "deny-log-files": [(RW, ["/workspace/*.log"], "deny")],
    "deny-folder-named": [(RW, ["/secrets"], "deny")],
}

CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "read-workspace": ("read_file", {"file_path": "/workspace/a.txt"}),
    "read-nested": ("read_file", {"file_path": "/workspace/sub/b.txt"}),
    "read-secret": ("read_file", {"file_path": "/secrets/key.pem"}),
    "read-secret-public": ("read_file", {"file_path": "/secrets/public.txt"}),
    "read-secret-dotfile": ("read_file", {"file_path": "/secrets/.env"}),
    "read-root-file": ("read_file", {"file_path": "/notes.md"}),
    "read-private": ("read_file", {"file_path": "/private/diary.txt"}),
    "read-missing-secret": ("read_file", {"file_path": "/secrets/missing.pem"}),
    "read-log": ("read_file", {"file_path": "/workspace/notes.log"}),
    "write-workspace": ("write_file", {"file_path": "/workspace/new.txt", "content": "x"}),
    "write-secret": ("write_file", {"file_path": "/secrets/new.pem", "content": "x"}),
    "edit-workspace": (
        "edit_file",
        {"file_path": "/workspace/a.txt", "old_string": "alpha", "new_string": "ALPHA"},
    ),
    "edit-secret": (
        "edit_file",
        {"file_path": "/secrets/key.pem", "old_string": "KEY", "new_string": "k"},
    ),
    "ls-root": ("ls", {"path": "/"}),
    "ls-secrets": ("ls", {"path": "/secrets"}),
    "ls-workspace": ("ls", {"path": "/workspace"}),
    "glob-pem": ("glob", {"pattern": "**/*.pem"}),
    "glob-txt": ("glob", {"pattern": "**/*.txt"}),
    "grep-key": ("grep", {"pattern": "KEY"}),
    "delete-workspace-file": ("delete", {"file_path": "/workspace/a.txt"}),
    "delete-secret": ("delete", {"file_path": "/secrets/key.pem"}),
    "delete-secrets-folder": ("delete", {"file_path": "/secrets"}),
    "delete-log": ("delete", {"file_path": "/workspace/notes.log"}),
}

#: which calls each ruleset is checked with (all of them: a permission decision is per path)
TOOL_CASES = [f"{rules}:{call}" for rules in RULESETS for call in CALLS]

#: pattern -> a rule deepagents builds with it ("accepted") or refuses ("rejected")
PATTERNS: dict[str, str] = {
    "absolute-globstar": "/workspace/**",
    "trailing-slash": "/workspace/",
    "root": "/",
    "everything": "/**",
    "anywhere": "/**/.env",
    "braces": "/{a,b}/**",
    "character-class": "/data/[ab]*.csv",
    "question-mark": "/data/file?.txt",
    "backslash": "/data\\dir/**",
    "double-slash": "/a//b",
    "tilde-segment": "/home/~/x",
    "tilde-start": "~/x",
    "relative": "workspace/**",
    "dotdot": "/a/../b",
    "empty": "",
    "dot-segment": "/a/./b",
}
OPERATION_SETS: dict[str, list[str]] = {
    "read": ["read"],
    "write": ["write"],
    "read-write": ["read", "write"],
}
MODES = ["allow", "deny", "interrupt"]


# --------------------------------------------------------------------------- running a case


def _write_files(root: Path) -> None:
    for child in root.iterdir() if root.exists() else ():
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _scripted_model() -> Any:
    """A model that makes the tool call named in the user's message, then says ``done``."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from guardrails.testing import ScriptedChatModel, tool_call

    def answer(messages: list[Any]) -> AIMessage:
        if messages and isinstance(messages[-1], ToolMessage):
            return AIMessage("done")
        human = [m for m in messages if isinstance(m, HumanMessage)][-1]
        name, args = CALLS[str(human.content)]
        return AIMessage("", tool_calls=[tool_call(name, args, id="call-1")])

    return ScriptedChatModel(default=answer, record=False)


def _da_rules(ruleset: str) -> list[Any]:
    from deepagents import FilesystemPermission

    return [
        FilesystemPermission(list(ops), list(paths), mode)  # type: ignore[arg-type]
        for ops, paths, mode in RULESETS[ruleset]
    ]


_AGENTS: dict[tuple[str, str], tuple[Any, Path]] = {}
_TMP = Path(tempfile.mkdtemp(prefix="compat-deepagents-"))
atexit.register(shutil.rmtree, _TMP, True)


def _agent(side: str, ruleset: str) -> tuple[Any, Path]:
    """One agent per side and rule set (building a deep agent is the slow part)."""
    key = (side, ruleset)
    if key not in _AGENTS:
        import deepagents
        from deepagents.backends import FilesystemBackend

        root = _TMP / f"{side}-{ruleset}"
        root.mkdir(parents=True)
        backend = FilesystemBackend(root_dir=str(root), virtual_mode=True)
        rules = _da_rules(ruleset)
        if side == "theirs":
            agent = deepagents.create_deep_agent(
                model=_scripted_model(), backend=backend, permissions=rules
            )
        else:
            from guardrails.filesystem import FilesystemPermissionMiddleware

            jail = FilesystemPermissionMiddleware(rules)
            agent = deepagents.create_deep_agent(
                model=_scripted_model(), backend=jail.guard(backend), middleware=[jail]
            )
        _AGENTS[key] = (agent, root)
    return _AGENTS[key]


def run_tool_case(side: str, case: str) -> str:
    """The content of the tool message the model gets back for ``case`` on ``side``."""
    from langchain_core.messages import ToolMessage

    ruleset, call_name = case.split(":", 1)
    agent, root = _agent(side, ruleset)
    _write_files(root)  # every case starts from the same files
    out = agent.invoke({"messages": [("user", call_name)]})
    answers = [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    if len(answers) != 1:
        return f"<{len(answers)} tool messages: {answers!r}>"
    return answers[0].replace(str(root), "<root>")


def run_pattern_case(side: str, case: str) -> str:
    """``accepted`` or ``rejected`` for a rule built with one pattern, operations and mode."""
    pattern_name, ops_name, mode = case.split(":")
    pattern, ops = PATTERNS[pattern_name], OPERATION_SETS[ops_name]
    from deepagents import FilesystemPermission as DAPermission

    try:
        theirs_rule = DAPermission(list(ops), [pattern], mode)  # type: ignore[arg-type]
    except (ValueError, NotImplementedError, TypeError):
        theirs_rule = None
    if side == "theirs":
        return "accepted" if theirs_rule is not None else "rejected"
    from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware

    try:
        FilesystemPermissionMiddleware([FilesystemPermission(list(ops), [pattern], mode)])  # type: ignore[arg-type]
        if theirs_rule is not None:  # their object, given to ours unchanged
            FilesystemPermissionMiddleware([theirs_rule])
    except (ValueError, NotImplementedError, TypeError):
        return "rejected"
    return "accepted"


PATTERN_CASES = [
    f"{p}:{o}:{m}"
    for p in PATTERNS
    for o, m in [("read", "deny"), ("write", "allow"), ("read-write", "interrupt")]
]

RUNNERS: dict[str, Callable[[str, str], str]] = {"tool": run_tool_case, "pattern": run_pattern_case}


def _golden() -> dict[str, str]:
    if not GOLDEN.exists():
        return {}
    data: dict[str, str] = json.loads(GOLDEN.read_text())
    return data


# --------------------------------------------------------------------------- the tests

try:
    import pytest
except ModuleNotFoundError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

if pytest is not None and "--regen" not in sys.argv:
    _GOLD = _golden()

    import os

    _SIDES = [s for s in ("theirs", "ours") if os.environ.get("COMPAT_SIDE", s) == s]

    def _params(cases: list[str]) -> list[Any]:
        return [pytest.param(side, case, id=f"{side}-{case}") for case in cases for side in _SIDES]

    @pytest.mark.parametrize(("side", "case"), _params(TOOL_CASES))
    def test_tool_answer(side: str, case: str) -> None:
        """The model gets the same answer from a file tool (content or refusal, exact text)."""
        expected = _GOLD.get(f"tool:{case}")
        assert expected is not None, f"no golden answer for {case}; run --regen"
        assert run_tool_case(side, case) == expected

    @pytest.mark.parametrize(("side", "case"), _params(PATTERN_CASES))
    def test_rule_acceptance(side: str, case: str) -> None:
        """A rule deepagents accepts is accepted; one it refuses is refused."""
        expected = _GOLD.get(f"pattern:{case}")
        assert expected is not None, f"no golden answer for {case}; run --regen"
        assert run_pattern_case(side, case) == expected


def regen() -> None:
    """Record deepagents' own answers as the golden file."""
    data: dict[str, str] = {}
    for case in TOOL_CASES:
        data[f"tool:{case}"] = run_tool_case("theirs", case)
    for case in PATTERN_CASES:
        data[f"pattern:{case}"] = run_pattern_case("theirs", case)
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(data)} answers to {GOLDEN}")


if __name__ == "__main__" and "--regen" in sys.argv:
    regen()
