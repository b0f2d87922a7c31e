"""Filesystem permissions vs deepagents' own ``permissions=`` on the same eight rules: one
decision, filtering 1,000 grep hits, one file tool call (hook + deepagents' tool), and the added
cost per file tool call in a whole deep agent.

Timings are CPU time of this process (see :func:`_cpu_us`): the machine is shared, and wall-clock
figures of a few hundred microseconds drown in other jobs' time slices."""

from __future__ import annotations

import asyncio
import gc
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from deepagents import create_deep_agent
from deepagents.backends import FilesystemBackend, StateBackend
from deepagents.middleware import filesystem as da_fs
from langchain.agents.middleware.types import ToolCallRequest
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from bench.common import Row
from guardrails.audit import LOGGER_NAME
from guardrails.filesystem import FilesystemPermissionMiddleware, normalize_path
from guardrails.filesystem.backends import _Filter
from guardrails.filesystem.layers import Context
from guardrails.testing import ScriptedChatModel, tool_call

DP = da_fs.FilesystemPermission
#: A workspace jail with dotfile denies and read-only memories, in deepagents' own rule type (ours
#: accepts it as is), so both sides run exactly the same eight rules, first match wins. Folders
#: are named beside their ``/**`` because deepagents' ``/x/**`` does not cover ``/x`` (ours
#: does): without them theirs would refuse ``ls /workspace`` and do less work than ours.
RULES = [
    DP(["read", "write"], ["/**/.env"], "deny"),
    DP(["read", "write"], ["/**/.ssh/**"], "deny"),
    DP(["read", "write"], ["/**/.git/**"], "deny"),
    DP(["read", "write"], ["/workspace/secrets", "/workspace/secrets/**"], "deny"),
    DP(["read", "write"], ["/workspace", "/workspace/**"], "allow"),
    DP(["write"], ["/memories", "/memories/**"], "deny"),
    DP(["read"], ["/memories", "/memories/**"], "allow"),
    DP(["read", "write"], ["/**"], "deny"),
]
#: Paths decided by every rule in turn (allowed, denied early, denied by the jail at the end).
PATHS = [
    "/workspace/src/app/main.py",
    "/workspace/README.md",
    "/workspace/secrets/api.key",
    "/workspace/.env",
    "/memories/notes.md",
    "/etc/passwd",
    "/home/user/.ssh/id_rsa",
    "/workspace/pkg/.git/config",
]
#: One agent run: three file tool calls, one per model turn, then "done".
CALLS = [
    ("read_file", {"file_path": "/workspace/a.txt"}),
    ("ls", {"path": "/workspace"}),
    ("grep", {"pattern": "needle", "path": "/workspace"}),
]
FILES = {
    "/workspace/a.txt": "needle one\nhay\n",
    "/workspace/b.py": "needle = 2\n",
    "/workspace/secrets/api.key": "needle secret\n",
    "/memories/notes.md": "needle memo\n",
}


def _quiet_audit() -> Callable[[], None]:
    """Silence the audit logger; returns a function that restores it."""
    # The audit logger stays at INFO, so every fs.filtered event is built and logged and its real
    # cost is in our figures, but it goes to a NullHandler and does not propagate: nothing prints.
    audit = logging.getLogger(LOGGER_NAME)
    saved = (audit.level, audit.handlers[:], audit.propagate)
    audit.setLevel(logging.INFO)
    audit.handlers[:] = [logging.NullHandler()]
    audit.propagate = False

    def restore() -> None:
        audit.setLevel(saved[0])
        audit.handlers[:] = saved[1]
        audit.propagate = saved[2]

    return restore


def _cpu_us(
    fns: Mapping[str, Callable[[], Any]], *, number: int, repeat: int, mode: str = "sync"
) -> dict[str, float]:
    """CPU microseconds per call of each ``fn``: rounds interleaved, the fastest round counts.

    Like :func:`bench.common.compare_agents`, but on this process's CPU time
    (``time.process_time``, all its threads) rather than the wall clock: the machine is shared
    and other jobs' time slices would otherwise swamp differences of a few hundred microseconds.
    In async mode each ``fn`` returns an awaitable; all rounds run on one event loop.
    """
    best = dict.fromkeys(fns, float("inf"))

    def record(label: str, cpu: float) -> None:
        best[label] = min(best[label], cpu / number * 1e6)

    if mode == "async":

        async def main() -> None:
            for fn in fns.values():
                await fn()
            for _ in range(repeat):
                for label, fn in fns.items():
                    gc.collect()
                    start = time.process_time()
                    for _ in range(number):
                        await fn()
                    record(label, time.process_time() - start)

        asyncio.run(main())
        return best
    for fn in fns.values():
        fn()
    for _ in range(repeat):
        for label, fn in fns.items():
            gc.collect()
            start = time.process_time()
            for _ in range(number):
                fn()
            record(label, time.process_time() - start)
    return best


def _decision_rows(number: int) -> list[Row]:
    mw = FilesystemPermissionMiddleware(RULES)
    policy = mw._policy
    for path in PATHS:  # the same answers on both sides
        assert mw.decide("read", path) == da_fs._check_fs_permission(RULES, "read", path), path
    t = _cpu_us(
        {
            "decide": lambda: [mw.decide("read", p) for p in PATHS],
            "policy": lambda: [policy.decide("read", normalize_path(p), False) for p in PATHS],
            "theirs": lambda: [da_fs._check_fs_permission(RULES, "read", p) for p in PATHS],
        },
        number=number,
        repeat=5,
    )
    per = {k: v / len(PATHS) for k, v in t.items()}
    return [
        Row(
            "filesystem",
            "one decision, 8 rules: decide()",
            per["decide"],
            per["theirs"],
            "us",
            note="vs deepagents _check_fs_permission",
        ),
        Row(
            "filesystem",
            "one decision, 8 rules: normalize + policy",
            per["policy"],
            per["theirs"],
            "us",
            note="the tool-call hot path",
        ),
    ]


#: The red-team pattern: several ``**`` and a model-chosen 8 KB path that almost matches it.
ADVERSARIAL_RULE = "/**/node_modules/**/.cache/**/*.key"
ADVERSARIAL_PATH = "/" + "/".join(["node_modules", ".cache"] * 405) + "/x.ke"  # 8,105 chars


def _adversarial_rows(number: int) -> list[Row]:
    """One decision on a path built to make a backtracking matcher explode.

    8 KB is past PATH_MAX (4,096): refused in time linear in its length. The 4 KB cut goes
    through the segment matcher (no regex, no backtracking).
    """
    rule = da_fs.FilesystemPermission(["read"], [ADVERSARIAL_RULE], "deny")
    mw = FilesystemPermissionMiddleware([rule])
    cut = ADVERSARIAL_PATH[:4000].rsplit("/", 1)[0] + "/x.ke"
    assert mw.decide("read", ADVERSARIAL_PATH) == "deny"  # too long: refused
    assert mw.decide("read", cut) == "allow"  # no match, decided in full
    t = _cpu_us(
        {"8k": lambda: mw.decide("read", ADVERSARIAL_PATH), "4k": lambda: mw.decide("read", cut)},
        number=number,
        repeat=3,
    )
    start = time.process_time()  # deepagents' matcher, once, on 1 KB: longer takes seconds
    da_fs._check_fs_permission([rule], "read", cut[:1000].rsplit("/", 1)[0] + "/x.ke")
    theirs = (time.process_time() - start) * 1e3
    return [
        Row(
            "filesystem",
            f"8 KB adversarial path vs {ADVERSARIAL_RULE}",
            t["8k"] / 1000,
            None,
            "ms",
            note="past PATH_MAX: refused, linear",
        ),
        Row(
            "filesystem",
            "4 KB adversarial path, same rule",
            t["4k"] / 1000,
            theirs,
            "ms",
            note="linear segment matcher; theirs on the first 1 KB only",
        ),
    ]


def _grep_hits(files: int, per_file: int) -> list[dict[str, Any]]:
    """``files * per_file`` grep matches; over half are in denied files (jail, secrets, .env)."""
    folders = ["/workspace/src", "/workspace/secrets", "/workspace/docs", "/etc/app"]
    hits = []
    for i in range(files):
        folder = folders[i % len(folders)]
        name = f"{folder}/d{i}/.env" if i % 7 == 0 else f"{folder}/f{i}.py"
        hits.extend({"path": name, "line": n + 1, "text": "needle"} for n in range(per_file))
    return hits


def _grep_rows(mw: FilesystemPermissionMiddleware, number: int) -> list[Row]:
    rows = []
    for files, per_file in ((1000, 1), (100, 10)):
        hits = _grep_hits(files, per_file)

        def ours(hits: list[dict[str, Any]] = hits) -> list[dict[str, Any]]:
            # What the guarded backend's grep does (guardrails.filesystem._filter_grep),
            # fs.filtered audit event included.
            keep = _Filter(Context(mw._policy, "grep", None, mw.name), None)
            kept = [m for m in hits if keep.allowed(str(m.get("path", "")))]
            keep.done("grep", "/")
            return kept

        def theirs(hits: list[dict[str, Any]] = hits) -> list[dict[str, Any]]:
            return da_fs._filter_grep_matches_by_permission(
                RULES, hits, operation="read", backend=None
            )

        assert ours() == theirs() and 0 < len(ours()) < len(hits)
        t = _cpu_us({"ours": ours, "theirs": theirs}, number=number, repeat=3)
        rows.append(
            Row(
                "filesystem",
                f"filter 1,000 grep hits in {files:,} files",
                t["ours"] / 1000,
                t["theirs"] / 1000,
                "ms",
                note="8 rules; both memoize per path",
            )
        )
    return rows


def _model() -> ScriptedChatModel:
    def answer(messages: list[BaseMessage]) -> AIMessage:
        done = 0
        for message in reversed(messages):
            if isinstance(message, HumanMessage):
                break
            done += isinstance(message, ToolMessage)
        if done < len(CALLS):
            name, args = CALLS[done]
            return AIMessage("", tool_calls=[tool_call(name, args)])
        return AIMessage("done")

    return ScriptedChatModel(default=answer, record=False)


def _content(message: Any) -> str:
    return str(message.content)


def _tool_rows(root: str, quick: bool) -> list[Row]:
    """One file tool call: deepagents' tool run the way ToolNode runs it, wrapped by our hook
    (ours), with deepagents' ``permissions=`` (theirs), or neither (bare); no model, no graph.

    FilesystemBackend only: StateBackend needs a running graph (see the deep-agent rows).
    """
    number, repeat = (5, 2) if quick else (40, 7)
    mw = FilesystemPermissionMiddleware(RULES)
    bare_tools = {t.name: t for t in da_fs.FilesystemMiddleware(backend=_fs(root)).tools}
    their_tools = {
        t.name: t for t in da_fs.FilesystemMiddleware(backend=_fs(root), permissions=RULES).tools
    }

    def request(tools: dict[str, Any], name: str, args: dict[str, Any]) -> ToolCallRequest:
        call = tool_call(name, args)
        runtime: ToolRuntime[Any, Any] = ToolRuntime(
            state={"messages": []}, context=None, config={}, stream_writer=lambda _: None,
            tool_call_id=call["id"], store=None,
        )  # fmt: skip
        return ToolCallRequest(
            tool_call=call, tool=tools[name], state=runtime.state, runtime=runtime
        )

    def execute(req: ToolCallRequest) -> Any:
        assert req.tool is not None
        return req.tool.invoke(
            {**req.tool_call, "args": {**req.tool_call["args"], "runtime": req.runtime}}
        )

    async def aexecute(req: ToolCallRequest) -> Any:
        assert req.tool is not None
        return await req.tool.ainvoke(
            {**req.tool_call, "args": {**req.tool_call["args"], "runtime": req.runtime}}
        )

    rows = []
    for name, args in CALLS:
        bare, theirs = request(bare_tools, name, args), request(their_tools, name, args)
        answers = [execute(bare), mw.wrap_tool_call(bare, execute), execute(theirs)]
        assert _content(answers[1]) == _content(answers[2]), answers  # secrets withheld by both
        assert "api.key" not in _content(answers[1]), answers
        for mode in ("sync", "async"):
            if mode == "sync":
                fns = {
                    "bare": partial(execute, bare),
                    "ours": partial(mw.wrap_tool_call, bare, execute),
                    "theirs": partial(execute, theirs),
                }
            else:
                fns = {
                    "bare": partial(aexecute, bare),
                    "ours": partial(mw.awrap_tool_call, bare, aexecute),
                    "theirs": partial(aexecute, theirs),
                }
            t = _cpu_us(fns, number=number, repeat=repeat, mode=mode)
            rows.append(
                Row(
                    "filesystem",
                    f"one {name} call, FilesystemBackend, added ({mode})",
                    t["ours"] - t["bare"],
                    t["theirs"] - t["bare"],
                    "us/call",
                    note=f"hook + tool, no graph; bare {t['bare']:,.0f} us",
                )
            )
    return rows


def _agent_rows(root: str, quick: bool) -> list[Row]:
    # One run per round and many rounds: the figure per agent is its fastest run, the least
    # disturbed by other jobs (a run's CPU time still varies by +-20% on a shared machine).
    number, repeat = (1, 2) if quick else (1, 30)
    state_files = {p: {"content": t, "encoding": "utf-8"} for p, t in FILES.items()}
    rows = []
    for label, backend, extra in (
        ("StateBackend", StateBackend, {"files": state_files}),
        ("FilesystemBackend", partial(_fs, root), {}),
    ):
        agents = {
            "bare": create_deep_agent(_model(), backend=backend()),
            "ours": create_deep_agent(
                _model(), backend=backend(), middleware=[FilesystemPermissionMiddleware(RULES)]
            ),
            "theirs": create_deep_agent(_model(), backend=backend(), permissions=RULES),
        }
        payload = {"messages": [("user", "go")], **extra}
        # Same work on both sides: both withhold /workspace/secrets from ls and grep.
        answers = {
            k: [_content(m) for m in a.invoke(payload)["messages"] if isinstance(m, ToolMessage)]
            for k, a in agents.items()
        }
        assert answers["ours"] == answers["theirs"] != answers["bare"], answers
        for mode in ("sync", "async"):
            method = "invoke" if mode == "sync" else "ainvoke"
            calls = {k: partial(getattr(a, method), payload) for k, a in agents.items()}
            t = _cpu_us(calls, number=number, repeat=repeat, mode=mode)
            rows.append(
                Row(
                    "filesystem",
                    f"deep agent, {label}, added per file tool call ({mode})",
                    (t["ours"] - t["bare"]) / len(CALLS),
                    (t["theirs"] - t["bare"]) / len(CALLS),
                    "us/call",
                    note=f"run = read_file+ls+grep; bare {t['bare'] / 1000:,.1f} ms/run",
                )
            )
    return rows


def _fs(root: str) -> FilesystemBackend:
    return FilesystemBackend(root_dir=root, virtual_mode=True)


def run(quick: bool = False) -> list[Row]:
    restore_audit = _quiet_audit()
    # Everything imported so far is moved out of the collector's sight: the gc.collect() before
    # each round then takes a millisecond instead of ~75 ms (deepagents' and LangChain's heap).
    gc.collect()
    gc.freeze()
    try:
        rows = _decision_rows(30 if quick else 400)
        rows.extend(_adversarial_rows(3 if quick else 20))
        rows.extend(_grep_rows(FilesystemPermissionMiddleware(RULES), 2 if quick else 10))
        with tempfile.TemporaryDirectory() as root:
            for path, text in FILES.items():
                host = Path(root) / path.lstrip("/")
                host.parent.mkdir(parents=True, exist_ok=True)
                host.write_text(text)
            rows.extend(_tool_rows(root, quick))
            rows.extend(_agent_rows(root, quick))
    finally:
        gc.unfreeze()
        restore_audit()
    return rows
