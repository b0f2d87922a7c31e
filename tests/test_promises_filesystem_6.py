"""Promises of ``FilesystemPermissionMiddleware`` from a fresh mutation sample (issue 29, round 7,
seed 61): every kind of backend that takes absolute host paths is refused as a route.

A ``CompositeBackend`` strips a route's prefix before the routed backend sees the path, so a
route served by a backend that opens host paths turns the ``/data/etc/passwd`` the rules allow
into ``/etc/passwd``. Every such kind is refused by name of the route, wherever it sits among
the routes: a ``FilesystemBackend`` without ``virtual_mode``, deepagents' ``LocalShellBackend``,
and any ``BaseSandbox`` (its shell and file API take host paths); the controls (a virtual
``FilesystemBackend``, a ``StateBackend``) are accepted. A refused route also refuses the
call through a real agent, sync and async.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("deepagents")

from deepagents.backends import (
    CompositeBackend,
    FilesystemBackend,
    LocalShellBackend,
    StateBackend,
)

from guardrails import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.errors import GuardrailConfigError
from tests.test_filesystem_pass2 import LocalSandbox, _answers

P = FilesystemPermission


def _host(kind: str, root: Path) -> Any:
    if kind == "filesystem":
        return FilesystemBackend(root_dir=root, virtual_mode=False)
    if kind == "local shell":
        return LocalShellBackend(root_dir=root, virtual_mode=False)
    if kind == "sandbox":
        return LocalSandbox(root)
    raise AssertionError(kind)


def _jail() -> FilesystemPermissionMiddleware:
    return FilesystemPermissionMiddleware([P(["read", "write"], ["/data/**"])], default="deny")


@pytest.mark.parametrize("first", [True, False], ids=["first route", "second route"])
@pytest.mark.parametrize("kind", ["filesystem", "local shell", "sandbox"])
def test_a_route_served_by_any_backend_of_host_paths_is_refused(
    kind: str, first: bool, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    other = ("/notes/", StateBackend())
    host = ("/data/", _host(kind, tmp_path / "data"))
    routes = dict([host, other] if first else [other, host])
    with pytest.raises(GuardrailConfigError, match="route '/data/'"):
        _jail().guard(CompositeBackend(default=StateBackend(), routes=routes))


@pytest.mark.parametrize("kind", ["virtual filesystem", "state"])
def test_routes_of_backends_that_place_paths_themselves_are_accepted(
    kind: str, tmp_path: Path
) -> None:
    routed = (
        FilesystemBackend(root_dir=tmp_path, virtual_mode=True)
        if kind == "virtual filesystem"
        else StateBackend()
    )
    _jail().guard(CompositeBackend(default=StateBackend(), routes={"/data/": routed}))


def test_a_sandbox_route_refuses_the_call_through_an_agent(tmp_path: Path, mode: str) -> None:
    (tmp_path / "data").mkdir()
    backend = CompositeBackend(
        default=StateBackend(), routes={"/data/": LocalSandbox(tmp_path / "data")}
    )
    answers = _answers(
        [("read_file", {"file_path": "/data/etc/hostname"})],
        mode,
        deep=False,
        guardrails=[_jail()],
        backend=backend,
    )
    assert answers[0].startswith("Error: permission denied"), answers


# --------------------------------------------------------------------------- bindings
# A compiled subagent is inspected through every binding around it (``with_config``,
# ``with_retry``...), however many: no depth is "too deep to look at". Twenty bindings are held
# to the rules like the bare graph, and the tools inside them count as the agent's tools (a
# ``tool_paths`` entry naming one is not reported as misspelt).


def test_a_compiled_subagent_inside_many_bindings_is_held_to_the_rules(
    tmp_path: Path, mode: str
) -> None:
    import deepagents
    from langchain_core.messages import ToolMessage

    from guardrails.deep import create_deep_agent
    from tests.support import invoke
    from tests.test_promises_filesystem_4 import SECRET, _script

    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.pem").write_text(SECRET)
    (tmp_path / "notes.txt").write_text("notes\n")
    sub = _script(
        [("read_file", {"file_path": "/secrets/key.pem"}),
         ("read_file", {"file_path": "/notes.txt"})]
    )  # fmt: skip
    backend = FilesystemBackend(root_dir=tmp_path, virtual_mode=True)

    bound: Any = deepagents.create_deep_agent(model=sub, backend=backend, name="compiled")
    for _ in range(20):
        bound = bound.with_retry(stop_after_attempt=1)  # each one a binding around the last
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


# --------------------------------------------------------------------------- artifacts_root
# deepagents writes its offloads under the backend's ``artifacts_root`` (a ``CompositeBackend``
# setting: ``<root>/large_tool_results/<id>``, ``<root>/conversation_history/...``). The
# guardrail's exemption for deepagents' own folders follows that root: under default deny the
# model may read an offload there, deepagents may write its history file there (outside a tool
# call), and nothing else under the root is exempt. A root of "/" behaves as before.


@pytest.mark.parametrize("root", ["/scratch", "/scratch/", "/runs/artifacts"])
def test_deepagents_offload_folders_follow_the_artifacts_root(
    root: str, tmp_path: Path, mode: str
) -> None:
    import asyncio

    backend = CompositeBackend(
        default=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        routes={},
        artifacts_root=root,
    )
    jail = FilesystemPermissionMiddleware([P(["read", "write"], ["/workspace/**"])], default="deny")
    head = root.rstrip("/")
    assert jail.decide("read", f"{head}/large_tool_results/call_1", backend=backend) == "allow"
    assert jail.decide("read", f"{head}/conversation_history/s.md", backend=backend) == "allow"
    assert jail.decide("read", f"{head}/notes.md", backend=backend) == "deny"
    assert jail.decide("read", f"{head}/large_tool_results", backend=backend) == "deny"
    guarded = jail.guard(backend)
    named = f"{head}/conversation_history/session_{'a1' * 16}.md"

    def write(path: str) -> Any:
        if mode == "sync":
            return guarded.write(path, "summary")
        return asyncio.run(guarded.awrite(path, "summary"))

    assert write(named).error is None
    assert "permission denied" in str(write(f"{head}/notes.md").error)
    assert (tmp_path / named.lstrip("/")).exists()


# --------------------------------------------------------------------------- relative results
# A backend of your own that places its paths with ``guardrails_resolve_paths`` and answers a
# search with paths relative to its working folder (as a shell's ``grep -r`` does) gets the
# same judgement as a sandbox: each relative path is placed in that folder, the ones the rules
# allow are shown, the others withheld. A backend that cannot place a relative path has it
# withheld (never re-anchored at "/").


def test_a_backend_of_your_own_shows_the_allowed_relative_results_of_a_search(mode: str) -> None:
    from deepagents.backends.protocol import GrepResult

    from tests.test_promises_filesystem_4 import SECRET, LinkedStore, _store_run

    class RelativeStore(LinkedStore):
        def grep(self, pattern: str, path: str | None = None, glob: str | None = None,
                 **kwargs: Any) -> Any:  # fmt: skip
            found = super().grep(pattern, path, glob, **kwargs)
            rel = {"/workspace/ok.txt": "./ok.txt", "/secrets/key.pem": "../secrets/key.pem"}
            matches = [{**m, "path": rel.get(m["path"], m["path"])} for m in found.matches or []]
            return GrepResult(matches=matches)

    # the search of "/" is allowed; what it finds is judged file by file
    jail = FilesystemPermissionMiddleware([P(["read"], ["/", "/workspace/**"])], default="deny")
    files = {"/workspace/ok.txt": "needle in ok\n", "/secrets/key.pem": f"needle {SECRET}\n"}
    (answer,) = _store_run(
        RelativeStore({}, cwd="/workspace"),
        jail,
        [[("grep", {"pattern": "needle", "path": "/"})]],
        mode,
        files,
    )
    assert "ok.txt" in answer and SECRET not in answer and "key.pem" not in answer, answer


# --------------------------------------------------------------------------- nested braces
# A rule path with nested braces stands for exactly the paths a shell's brace expansion gives
# (bash is the oracle here, not our own reading): every one is decided by the rule, and a path
# made of a piece of a group (a comma of an inner group taken as one of the outer) is not.

BRACES = [
    "/d/{a,{b,c}}/f",
    "/d/{a,b{c,d}e}/f",
    "/d/{x{1,2},y}/f.txt",
    "/d/{{a,b},{c,d}}/{e,f{g,h}}",
    "/d/{a,{b,{c,d}}}/f",
]


def _bash_expansion(pattern: str) -> list[str]:
    import shutil
    import subprocess

    bash = shutil.which("bash")
    if bash is None:  # pragma: no cover
        pytest.skip("no bash to compare with")
    done = subprocess.run(
        [bash, "-c", f"printf '%s\\n' {pattern}"], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


@pytest.mark.parametrize("pattern", BRACES)
def test_nested_braces_stand_for_what_a_shell_expands_them_to(pattern: str) -> None:
    expanded = _bash_expansion(pattern)
    assert len(expanded) >= 3 and not any("{" in p or "," in p for p in expanded)
    jail = FilesystemPermissionMiddleware([P(["read"], [pattern], "deny")])
    for path in expanded:
        assert jail.decide("read", path) == "deny", path
    head = pattern[: pattern.index("{")]
    for other in (f"{head}b/f", f"{head}q/f", f"{head}a,b/f", f"{head}{{b/f", f"{head}c}}/f"):
        if other not in expanded:
            assert jail.decide("read", other) == "allow", other
