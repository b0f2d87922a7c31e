"""Promises the hand-made mutations of scripts/hand_mutations.toml found unguarded (issue 29).

Each test states one promise a user relies on, through the public API and a real agent where
that is how users meet it (sync and async), so that it fails whichever line breaks the promise,
not only the edit that showed the gap. The entry ids the test kills are named in its docstring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from guardrails import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke

SECRET = "hunter2-s3cr3t"

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import FilesystemBackend  # noqa: E402


def _deep_calls(calls: list[tuple[str, dict[str, Any]]], mode: str, **kwargs: Any) -> list[str]:
    """The tool answers a deep agent gets for ``calls`` (one model turn each)."""
    script: list[Any] = [AIMessage("", tool_calls=[tool_call(n, a)]) for n, a in calls]
    agent = deepagents.create_deep_agent(
        model=ScriptedChatModel(responses=[*script, "done"]), **kwargs
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    return [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]


# --------------------------------------------------------------------------- filesystem


@pytest.mark.parametrize("folder", ["large_tool_results", "conversation_history"])
def test_only_the_offload_folder_itself_is_readable_under_default_deny(
    tmp_path: Path, mode: str, folder: str, audit: AuditCapture
) -> None:
    """deepagents may read its own offload folders under a jail; a sibling folder whose name
    merely starts the same (``/large_tool_results_old``) gets the jail's default.
    Kills: fs-within-prefix."""
    sibling = tmp_path / f"{folder}_old"
    sibling.mkdir()
    (sibling / "notes.txt").write_text(f"kept {SECRET}\n")
    (tmp_path / "workspace").mkdir()
    jail = FilesystemPermissionMiddleware(
        [FilesystemPermission(["read", "write"], ["/workspace/**"])], default="deny"
    )
    answers = _deep_calls(
        [("read_file", {"file_path": f"/{folder}_old/notes.txt"})],
        mode,
        middleware=[jail],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
    )
    assert answers and SECRET not in answers[0]
    assert "permission denied" in answers[0].lower()
    assert [e["reason"] for e in audit.of("fs.denied")] == ["default"]


def _interrupting_agent(root: Path, rules: list[FilesystemPermission], calls: list[Any]) -> Any:
    from langgraph.checkpoint.memory import InMemorySaver

    model = ScriptedChatModel(responses=[*[AIMessage("", tool_calls=[c]) for c in calls], "done"])
    return deepagents.create_deep_agent(
        model=model,
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        middleware=[FilesystemPermissionMiddleware(rules)],
        checkpointer=InMemorySaver(),
    )


def test_an_interrupt_rule_naming_a_folder_asks_before_writing_inside_it(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    """``/memories`` in an interrupt rule reads as the folder and what is in it (as a deny rule
    does): a write to /memories/notes.md waits for a human.
    Kills: fs-interrupt-folder-not-covered."""
    (tmp_path / "memories").mkdir()
    agent = _interrupting_agent(
        tmp_path,
        [FilesystemPermission(["write"], ["/memories"], "interrupt")],
        [tool_call("write_file", {"file_path": "/memories/notes.md", "content": "remember"})],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode, {"configurable": {"thread_id": mode}})
    assert out.get("__interrupt__"), "the write ran without asking"
    assert not (tmp_path / "memories" / "notes.md").exists()
    assert audit.of("fs.interrupted")


@pytest.mark.parametrize(
    "resume",
    [{"decisions": []}, {"decisions": [{"type": "edit"}]}, {"decisions": ["yes"]}, "approve"],
)
def test_a_resume_without_a_valid_decision_refuses_the_call(
    tmp_path: Path, mode: str, resume: Any, audit: AuditCapture
) -> None:
    """Only an explicit ``{"type": "approve"}`` lets an interrupted call run: a missing, unknown
    or malformed decision refuses it. Kills: fs-invalid-decision-approves."""
    from langgraph.types import Command

    (tmp_path / "public").mkdir()
    agent = _interrupting_agent(
        tmp_path,
        [FilesystemPermission(["write"], ["/public/**"], "interrupt")],
        [tool_call("write_file", {"file_path": "/public/x.txt", "content": "x"})],
    )
    config = {"configurable": {"thread_id": f"t-{mode}"}}
    out = invoke(agent, {"messages": [("user", "go")]}, mode, config)
    assert out.get("__interrupt__")
    out = invoke(agent, Command(resume=resume), mode, config)
    assert not (tmp_path / "public" / "x.txt").exists(), "an invalid decision approved the write"
    answer = [m for m in out["messages"] if isinstance(m, ToolMessage)][-1]
    assert "permission denied" in str(answer.content).lower()
    assert [e["reason"] for e in audit.of("fs.denied")] == ["invalid_decision"]
    assert not audit.of("fs.approved")


def test_a_hard_link_out_of_the_jail_is_refused_under_default_deny(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    """A jail of allow rules only (default="deny") still restricts reads: a hard link inside the
    allowed folder to a file outside it is not read. Kills: fs-restrictive-ignores-default."""
    import os

    (tmp_path / "workspace").mkdir()
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.pem").write_text(f"{SECRET}\n")
    os.link(tmp_path / "private" / "key.pem", tmp_path / "workspace" / "notes.txt")
    jail = FilesystemPermissionMiddleware(
        [FilesystemPermission(["read", "write"], ["/workspace/**"])], default="deny"
    )
    answers = _deep_calls(
        [("read_file", {"file_path": "/workspace/notes.txt"})],
        mode,
        middleware=[jail],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
    )
    assert answers and SECRET not in answers[0]
    assert [e["reason"] for e in audit.of("fs.denied")] == ["hardlink"]


def _subagent_answers(root: Path, mode: str, parent: Any, child: Any, path: str) -> list[str]:
    """The parent asks subagent 'reader' (with ``child``) to read ``path``; its tool answers."""
    sub_model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("read_file", {"file_path": path})]), "ok"]
    )
    task = tool_call("task", {"description": "read it", "subagent_type": "reader"})
    agent = deepagents.create_deep_agent(
        model=ScriptedChatModel(responses=[AIMessage("", tool_calls=[task]), "done"]),
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        middleware=[parent],
        subagents=[
            {
                "name": "reader",
                "description": "Reads files.",
                "system_prompt": "You read.",
                "model": sub_model,
                "middleware": [child],
            }
        ],
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    return [
        str(m.content)
        for request in sub_model.requests
        for m in request["messages"]
        if isinstance(m, ToolMessage)
    ]


def test_a_subagents_own_allow_rule_never_loosens_its_parents_deny(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    """``parent.restrict(rules)`` adds rules on top of the parent's, never looser: an allow rule
    of the subagent's own does not lift the parent's deny (only ``widen=`` does, audited).
    Kills: fs-inner-layer-wins."""
    (tmp_path / "secret.txt").write_text(f"{SECRET}\n")
    parent = FilesystemPermissionMiddleware(
        [FilesystemPermission(["read"], ["/secret.txt"], "deny")]
    )
    child = parent.restrict([FilesystemPermission(["read"], ["/**"])], name="reader-fs")
    assert child.decide("read", "/secret.txt") == "deny"
    answers = _subagent_answers(tmp_path, mode, parent, child, "/secret.txt")
    assert answers and not any(SECRET in a for a in answers), answers
    assert audit.of("fs.denied") and not audit.of("fs.widened")


def test_deleting_a_folder_that_holds_a_path_needing_approval_is_refused(
    tmp_path: Path, mode: str
) -> None:
    """A recursive delete never removes, unasked, a file an interrupt rule protects: deleting the
    folder above it is refused. Kills: fs-delete-overlaps-skip-interrupt."""
    keep = tmp_path / "project" / "memories"
    keep.mkdir(parents=True)
    (keep / "notes.md").write_text("remember\n")
    (tmp_path / "project" / "tmp.txt").write_text("scratch\n")
    jail = FilesystemPermissionMiddleware(
        [FilesystemPermission(["write"], ["/project/memories/**"], "interrupt")]
    )
    answers = _deep_calls(
        [("delete", {"file_path": "/project"})],
        mode,
        middleware=[jail],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
    )
    assert answers and "permission denied" in answers[0].lower(), answers
    assert "/project/memories/**" in answers[0]
    assert (keep / "notes.md").exists()


def test_a_link_to_a_denied_file_is_refused_before_any_reviewer_is_asked(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    """Writing through a link under an interrupt rule whose target a rule denies is refused at
    once: the reviewer never sees (and cannot approve) a write that lands on a denied file.
    Kills: fs-link-check-skips-interrupt."""
    import os

    (tmp_path / "public").mkdir()
    (tmp_path / "secret.txt").write_text(f"{SECRET}\n")
    os.symlink(tmp_path / "secret.txt", tmp_path / "public" / "link.txt")
    agent = _interrupting_agent(
        tmp_path,
        [
            FilesystemPermission(["read", "write"], ["/secret.txt"], "deny"),
            FilesystemPermission(["write"], ["/public/**"], "interrupt"),
        ],
        [tool_call("write_file", {"file_path": "/public/link.txt", "content": "overwritten"})],
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode, {"configurable": {"thread_id": mode}})
    assert not out.get("__interrupt__"), "a reviewer was asked about a write to a denied file"
    assert (tmp_path / "secret.txt").read_text() == f"{SECRET}\n"
    assert not audit.of("fs.interrupted")
    assert audit.of("fs.denied")


# --------------------------------------------------------------------------- PII detection

UNSIGNED_JWT = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0NTY3ODkwIiwiYWRtaW4iOnRydWV9"
#: (types, text, the value that must not reach the provider, the entry ids it kills)
DETECTED = [
    (["us_ssn"], "soc_sec_no: 536221234", "536221234", "det-snake-case-context"),
    (["us_ssn"], "see 536 22 1234 on file", "536 22 1234", "det-ssn-dash-only"),
    (["us_ssn"], "see 536.22.1234 on file", "536.22.1234", "det-ssn-dash-only"),
    (["password"], "DATABASE_URL=postgres://app:hunter2@db.internal/app", "hunter2",
     "det-url-password-min-8"),
    (["jwt"], f"Authorization: Bearer {UNSIGNED_JWT}", UNSIGNED_JWT, "det-jwt-unsigned"),
    (["generic_secret"], "Cookie: PHPSESSID=k3l8qhv2m9d0c1r7u5t4a6e2b8; path=/",
     "k3l8qhv2m9d0c1r7u5t4a6e2b8", "det-session-id-min-32"),
    (["generic_secret"], 'api_key = "k3yk3yb0ard9"', "k3yk3yb0ard9",
     "det-entropy-threshold-raised"),
]  # fmt: skip


@pytest.mark.parametrize(("types", "text", "value", "kills"), DETECTED)
def test_the_provider_never_gets_a_value_of_a_guarded_type(
    mode: str, types: list[str], text: str, value: str, kills: str
) -> None:
    """Each shape is one a user's data really has (a snake_case form field, an SSN with spaces,
    a short password in a connection URL, an unsigned JWT, a PHP session cookie, an assigned key
    of moderate randomness): the request the model gets has the value redacted."""
    from langchain.agents import create_agent

    from guardrails import PIIMiddleware
    from guardrails.pii import detect

    assert [m["value"] for m in detect(text, types)] == [value]
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware(types, strategy="redact")])
    invoke(agent, {"messages": [("user", text)]}, mode)
    sent = " ".join(str(m.content) for m in model.requests[0]["messages"])
    assert value not in sent and "[REDACTED_" in sent, sent


# --------------------------------------------------------------------------- rate limits


def test_max_wait_bounds_the_total_wait_of_one_call(mode: str, audit: AuditCapture) -> None:
    """``on_limit="wait", max_wait=1.5`` on "1/second": of three calls at once, one runs now,
    one after a second, and the third, which would wait a second and then another (2 s in
    all), gives up instead of waiting past max_wait. Kills: lim-wait-not-cumulative."""
    import asyncio
    import threading

    from langchain.agents import create_agent

    from guardrails import RateLimitMiddleware
    from guardrails.errors import RateLimitExceededError

    mw = RateLimitMiddleware("1/second", key="global", on_limit="wait", max_wait=1.5)
    agent = create_agent(ScriptedChatModel(responses=[], default="ok"), middleware=[mw])
    payload = {"messages": [("user", "hi")]}
    outcomes: list[str] = []

    def record(call: Any) -> None:
        try:
            call()
            outcomes.append("ran")
        except RateLimitExceededError:
            outcomes.append("refused")

    if mode == "sync":
        threads = [
            threading.Thread(target=record, args=(lambda: agent.invoke(payload),)) for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    else:

        async def one() -> None:
            try:
                await agent.ainvoke(payload)
                outcomes.append("ran")
            except RateLimitExceededError:
                outcomes.append("refused")

        async def three() -> None:
            await asyncio.gather(one(), one(), one())

        asyncio.run(three())
    assert sorted(outcomes) == ["ran", "ran", "refused"], outcomes
    assert len(audit.of("rate_limit.exceeded")) == 1


def test_a_negated_class_decides_a_deep_path_as_it_decides_a_short_one(
    tmp_path: Path, mode: str
) -> None:
    """``**/[!_]*.pem`` denies key files whose name does not start with ``_``, however deep the
    file sits (past 24 folders the matcher changes, not the decision).
    Kills: fs-negated-class-deep."""
    deep = tmp_path.joinpath(*["d"] * 30)
    deep.mkdir(parents=True)
    (deep / "server.pem").write_text(f"{SECRET}\n")
    (tmp_path / "server.pem").write_text(f"{SECRET}\n")
    jail = FilesystemPermissionMiddleware(
        [FilesystemPermission(["read"], ["**/[!_]*.pem"], "deny")]
    )
    virtual = "/" + "/".join(["d"] * 30) + "/server.pem"
    assert jail.decide("read", "/server.pem") == "deny"
    assert jail.decide("read", virtual) == "deny"
    assert jail.decide("read", virtual.replace("server", "_public")) == "allow"
    answers = _deep_calls(
        [("read_file", {"file_path": virtual})],
        mode,
        middleware=[jail],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
    )
    assert answers and SECRET not in answers[0] and "permission denied" in answers[0].lower()


# --------------------------------------------------------------------------- compose


def test_composed_guardrails_on_two_stores_each_keep_their_state_in_their_own(
    mode: str, redis_url: str, own_redis: Any
) -> None:
    """``compose`` batches the storage work of guardrails on one store into one round trip;
    guardrails on two different stores each still write their own store.
    Kills: cmp-batch-across-stores."""
    import redis
    from langchain.agents import create_agent
    from langgraph.checkpoint.memory import InMemorySaver

    from guardrails import ModelCallLimitMiddleware, RateLimitMiddleware, compose

    first, second = redis.Redis.from_url(redis_url), redis.Redis.from_url(own_redis.url)
    first.flushall()
    composed = compose(
        RateLimitMiddleware("1000/minute", key="global", storage=redis_url),
        ModelCallLimitMiddleware(thread_limit=1000, thread_storage=own_redis.url),
    )
    agent = create_agent(
        ScriptedChatModel(responses=[], default="ok"),
        middleware=[composed],
        checkpointer=InMemorySaver(),
    )
    invoke(agent, {"messages": [("user", "hi")]}, mode, {"configurable": {"thread_id": "t-1"}})
    invoke(agent, {"messages": [("user", "hi")]}, mode, {"configurable": {"thread_id": "t-1"}})
    budget = [k for k in second.keys("guardrails:budget*")]
    assert budget, "the thread budget was not kept in its own store"
    assert not first.keys("guardrails:budget*"), "the thread budget landed in the other store"
    assert first.keys("*") and int(second.get(budget[0]) or 0) == 2


def test_edit_file_needs_write_as_well_as_read(tmp_path: Path, mode: str) -> None:
    """A file the agent may read but not write cannot be changed through ``edit_file`` (which
    reads, then writes). Kills: fs-edit-checks-read-only."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "policy.md").write_text("refunds: 30 days\n")
    jail = FilesystemPermissionMiddleware(
        [
            FilesystemPermission(["write"], ["/docs/**"], "deny"),
            FilesystemPermission(["read", "write"], ["/**"]),
        ]
    )
    answers = _deep_calls(
        [
            ("read_file", {"file_path": "/docs/policy.md"}),
            (
                "edit_file",
                {"file_path": "/docs/policy.md", "old_string": "30", "new_string": "365"},
            ),
        ],
        mode,
        middleware=[jail],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
    )
    assert "30 days" in answers[0]
    assert "permission denied for write" in answers[1].lower(), answers
    assert (tmp_path / "docs" / "policy.md").read_text() == "refunds: 30 days\n"


# --------------------------------------------------------------------------- deep agents


def test_a_subagent_a_policy_does_not_name_runs_with_the_main_guardrails(
    tmp_path: Path, mode: str
) -> None:
    """With a policy, a subagent the policy has no section for gets the main agent's stack
    (never an empty one): its file reads are held to the main rules.
    Kills: deep-policy-unnamed-subagent-bare."""
    from guardrails.deep import create_deep_agent, subagent_stacks
    from guardrails.policy import Policy

    policy = Policy.from_dict(
        {
            "agent": {
                "middleware": [
                    {
                        "use": "FilesystemPermissionMiddleware",
                        "rules": [
                            {"operations": ["read"], "paths": ["/secret.txt"], "mode": "deny"}
                        ],
                    }
                ]
            },
            "subagents": {"writer": {}},
        }
    )
    main, stacks = subagent_stacks(policy, ["reader", "writer"])
    assert [m.name for m in stacks["reader"]] == [m.name for m in main] != []
    (tmp_path / "secret.txt").write_text(f"{SECRET}\n")
    sub_model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("read_file", {"file_path": "/secret.txt"})]),
            "ok",
        ]
    )
    task = tool_call("task", {"description": "read it", "subagent_type": "reader"})
    agent = create_deep_agent(
        ScriptedChatModel(responses=[AIMessage("", tool_calls=[task]), "done"]),
        guardrails=policy,
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
        subagents=[
            {
                "name": "reader",
                "description": "Reads.",
                "system_prompt": "Read.",
                "model": sub_model,
            }
        ],
    )
    invoke(agent, {"messages": [("user", "go")]}, mode)
    seen = [
        str(m.content)
        for request in sub_model.requests
        for m in request["messages"]
        if isinstance(m, ToolMessage)
    ]
    assert seen and not any(SECRET in s for s in seen), seen
