"""PII pseudonymization: the provider sees ``<EMAIL_1>``, the tools get the real value.

Through a real ChatOpenAI over respx (what went over the wire), scripted models, a real
checkpointer (InMemorySaver, SqliteSaver across a restart) and a real Redis (vault TTL).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from guardrails.errors import GuardrailConfigError
from guardrails.pii import PIIMiddleware
from guardrails.pii.middleware import VAULT_KEY
from guardrails.pii.pseudonym import Pseudonymizer, merge_vault, restore_text, type_tag
from guardrails.pii.vault import MemoryVault, RedisVault
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import completion, invoke, request_bodies, tool

JANE = "jane.doe@example.com"
BOB = "bob@example.org"
CAROL = "carol@example.net"
PLACEHOLDER = re.compile(r"<EMAIL_\d+>")


class Outbox:
    """Tools that record what they received."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.notes: list[str] = []

        @tool
        def send_email(to: str, body: str) -> str:
            """Send an email."""
            self.sent.append(to)
            return f"sent to {to}"

        @tool
        def log_note(note: str) -> str:
            """Write a note to the CRM log."""
            self.notes.append(note)
            return "logged"

        self.send_email = send_email
        self.log_note = log_note


def stored(agent: Any, config: dict[str, Any]) -> list[BaseMessage]:
    messages: list[BaseMessage] = agent.get_state(config).values["messages"]
    return messages


def dump(messages: list[BaseMessage]) -> str:
    return json.dumps([m.model_dump() for m in messages], default=str)


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


# ------------------------------------------------------------------ through a real ChatOpenAI


def test_provider_sees_placeholders_tool_gets_the_real_address(
    mode: str,
    openai_mock: respx.MockRouter,
    chat_openai: Any,
    audit: AuditCapture,
    memory_saver: Any,
) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        last = body["messages"][-1]
        if last["role"] == "user":  # echo the placeholder the model was given into a tool call
            (placeholder,) = PLACEHOLDER.findall(last["content"])
            calls = [("send_email", {"to": placeholder, "body": "your invoice"})]
            return httpx.Response(200, json=completion(None, tool_calls=calls))
        return httpx.Response(200, json=completion(f"Done: {last['content']}"))

    route = openai_mock.post("/chat/completions").mock(side_effect=reply)
    box = Outbox()
    agent = create_agent(
        chat_openai(),
        tools=[box.send_email],
        checkpointer=memory_saver,
        middleware=[
            PIIMiddleware(["email", "phone"], strategy="pseudonymize", restore_tools=["send_email"])
        ],
    )
    config = cfg("t1")
    result = invoke(agent, {"messages": [("user", f"email the invoice to {JANE}")]}, mode, config)

    assert box.sent == [JANE]  # the tool acted on the real address
    bodies = request_bodies(route)
    assert route.call_count == 2
    wire = "\n".join(json.dumps(b) for b in bodies)
    assert JANE not in wire
    assert bodies[0]["messages"][-1]["content"] == "email the invoice to <EMAIL_1>"
    assert json.loads(bodies[1]["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {
        "to": "<EMAIL_1>",
        "body": "your invoice",
    }
    assert bodies[1]["messages"][-1]["content"] == "sent to <EMAIL_1>"

    history = stored(agent, config)
    assert JANE not in dump(history)
    human, call, tool_msg, final = history
    assert human.content == "email the invoice to <EMAIL_1>"
    assert isinstance(call, AIMessage) and call.tool_calls[0]["args"]["to"] == "<EMAIL_1>"
    assert isinstance(tool_msg, ToolMessage) and tool_msg.content == "sent to <EMAIL_1>"
    assert final.content == "Done: sent to <EMAIL_1>"  # restore_output is off by default
    # the mapping is checkpointed with the thread, never part of the agent's output
    assert agent.get_state(config).values[VAULT_KEY] == {
        "PIIMiddleware[email,phone]": {"<EMAIL_1>": JANE}
    }
    assert set(result) == {"messages"} and VAULT_KEY not in result

    (pseudonymized_input, pseudonymized_result) = audit.of("pii.pseudonymized")
    assert pseudonymized_input["where"] == "input"
    assert pseudonymized_input["entities"] == {"email": 1}
    assert pseudonymized_result["where"] == "tool_result"
    assert pseudonymized_result["tool"] == "send_email"
    (restored,) = audit.of("pii.restored")
    assert restored["tool"] == "send_email" and restored["entities"] == {"email": 1}
    assert restored["where"] == "tool_args"
    text = json.dumps(audit.events)
    assert JANE not in text and "mapping" not in text


# ------------------------------------------------------------------ stability and isolation


def test_same_value_same_placeholder_threads_independent(mode: str, memory_saver: Any) -> None:
    model = ScriptedChatModel(default="noted")
    agent = create_agent(
        model,
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize")],
    )
    invoke(agent, {"messages": [("user", f"{JANE} and {BOB}")]}, mode, cfg("a"))
    invoke(agent, {"messages": [("user", f"again {BOB}, {CAROL}, {JANE}")]}, mode, cfg("a"))
    invoke(agent, {"messages": [("user", f"hello {CAROL}")]}, mode, cfg("b"))

    seen = [r["messages"][-1].content for r in model.requests]
    assert seen == [
        "<EMAIL_1> and <EMAIL_2>",
        "again <EMAIL_2>, <EMAIL_3>, <EMAIL_1>",  # stable across turns, new value numbered next
        "hello <EMAIL_1>",  # another thread: its own mapping, numbering from 1
    ]
    mapping_a = agent.get_state(cfg("a")).values[VAULT_KEY]["PIIMiddleware[email]"]
    mapping_b = agent.get_state(cfg("b")).values[VAULT_KEY]["PIIMiddleware[email]"]
    assert mapping_a == {"<EMAIL_1>": JANE, "<EMAIL_2>": BOB, "<EMAIL_3>": CAROL}
    assert mapping_b == {"<EMAIL_1>": CAROL}


def test_system_prompt_and_types_numbered_per_type(mode: str, memory_saver: Any) -> None:
    model = ScriptedChatModel(default="ok")
    agent = create_agent(
        model,
        checkpointer=memory_saver,
        system_prompt=f"You assist {JANE}.",
        middleware=[
            PIIMiddleware(["email", "phone"], strategy="pseudonymize", restore_tools=["send_email"])
        ],
    )
    invoke(agent, {"messages": [("user", f"call +1 212 555 0143 or {BOB}")]}, mode, cfg("t"))
    invoke(agent, {"messages": [("user", "and +44 20 7946 0958")]}, mode, cfg("t"))
    first, second = model.requests
    assert first["messages"][0].content == "You assist <EMAIL_1>."
    assert first["messages"][-1].content == "call <PHONE_1> or <EMAIL_2>"
    assert second["messages"][0].content == "You assist <EMAIL_1>."
    assert second["messages"][-1].content == "and <PHONE_2>"


# ------------------------------------------------------------------ tools


def test_tools_outside_restore_tools_never_receive_real_values(
    mode: str, memory_saver: Any, audit: AuditCapture
) -> None:
    box = Outbox()
    model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    tool_call("send_email", {"to": "<EMAIL_1>", "body": "hi"}),
                    tool_call("log_note", {"note": "mailed <EMAIL_1>"}),
                    # the model writes a real value itself: still not for this tool
                    tool_call("log_note", {"note": f"cc {BOB}"}),
                ],
            ),
            "done",
        ]
    )
    agent = create_agent(
        model,
        tools=[box.send_email, box.log_note],
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"])],
    )
    invoke(agent, {"messages": [("user", f"mail {JANE}")]}, mode, cfg("t"))
    assert box.sent == [JANE]
    assert sorted(box.notes) == ["cc <EMAIL_4>", "mailed <EMAIL_1>"]  # slot 2 of 3: 1 + 1 + 2
    assert all(JANE not in n and BOB not in n for n in box.notes)
    assert [e["tool"] for e in audit.of("pii.restored")] == ["send_email"]
    mapping = agent.get_state(cfg("t")).values[VAULT_KEY]["PIIMiddleware[email]"]
    assert mapping == {"<EMAIL_1>": JANE, "<EMAIL_4>": BOB}


def test_parallel_tool_results_never_share_a_number(mode: str, memory_saver: Any) -> None:
    contacts = {"a": BOB, "b": CAROL, "c": BOB}

    @tool
    def lookup(key: str) -> str:
        """Look a contact up."""
        return f"contact {contacts[key]}"

    box = Outbox()
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("lookup", {"key": k}) for k in "abc"]),
            lambda msgs: AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "send_email", {"to": PLACEHOLDER.findall(str(m.content))[0], "body": "x"}
                    )
                    for m in msgs
                    if isinstance(m, ToolMessage)
                ],
            ),
            "done",
        ]
    )
    agent = create_agent(
        model,
        tools=[lookup, box.send_email],
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"])],
    )
    invoke(agent, {"messages": [("user", f"I am {JANE}")]}, mode, cfg("t"))
    results = [m.content for m in model.requests[1]["messages"] if isinstance(m, ToolMessage)]
    # three calls of one step, each numbering from the same snapshot: slots 2, 3 and 4
    assert results == ["contact <EMAIL_2>", "contact <EMAIL_3>", "contact <EMAIL_4>"]
    mapping = agent.get_state(cfg("t")).values[VAULT_KEY]["PIIMiddleware[email]"]
    assert mapping == {"<EMAIL_1>": JANE, "<EMAIL_2>": BOB, "<EMAIL_3>": CAROL, "<EMAIL_4>": BOB}
    # each placeholder goes back to the value it was minted for
    assert sorted(box.sent) == sorted([BOB, CAROL, BOB])


def test_restore_output(mode: str, memory_saver: Any) -> None:
    model = ScriptedChatModel(responses=["I will write to <EMAIL_1>.", "ok"])
    agent = create_agent(
        model,
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize", restore_output=True)],
    )
    result = invoke(agent, {"messages": [("user", f"write {JANE}")]}, mode, cfg("t"))
    assert result["messages"][-1].content == f"I will write to {JANE}."
    invoke(agent, {"messages": [("user", "thanks")]}, mode, cfg("t"))
    # the restored answer is pseudonymized again before the provider sees it
    assert [m.content for m in model.requests[1]["messages"]] == [
        "write <EMAIL_1>",
        "I will write to <EMAIL_1>.",
        "thanks",
    ]


# ------------------------------------------------------------------ persistence


@pytest.mark.slow  # other processes (pyproject: the slow group)
def test_mapping_survives_a_restart_with_sqlite(mode: str, sqlite_path: Path) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    config = cfg("t")
    # the first turn runs in another process, which then exits
    first_turn = f"""
import sys
from langchain.agents import create_agent
from langgraph.checkpoint.sqlite import SqliteSaver
from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel
model = ScriptedChatModel(default="noted")
with SqliteSaver.from_conn_string({str(sqlite_path)!r}) as saver:
    agent = create_agent(model, checkpointer=saver,
                         middleware=[PIIMiddleware("email", strategy="pseudonymize")])
    agent.invoke({{"messages": [("user", "mail {JANE} and {BOB}")]}}, {config!r})
print(model.requests[0]["messages"][-1].content)
"""
    done = subprocess.run(
        [sys.executable, "-c", first_turn], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "mail <EMAIL_1> and <EMAIL_2>"

    # this process: new model, new middleware instance, new connection to the same file
    box = Outbox()
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_2>", "body": "x"})]),
            "sent",
        ]
    )
    message = {"messages": [("user", f"now mail {BOB}, not {CAROL}")]}

    def build(saver: Any) -> Any:
        return create_agent(
            model,
            tools=[box.send_email],
            checkpointer=saver,
            middleware=[
                PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"])
            ],
        )

    if mode == "sync":
        with SqliteSaver.from_conn_string(str(sqlite_path)) as saver:
            build(saver).invoke(message, config)
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async def run() -> None:
            async with AsyncSqliteSaver.from_conn_string(str(sqlite_path)) as saver:
                await build(saver).ainvoke(message, config)

        asyncio.run(run())
    assert model.requests[0]["messages"][-1].content == "now mail <EMAIL_2>, not <EMAIL_3>"
    assert box.sent == [BOB]


def test_redis_vault_keeps_mapping_out_of_state_and_expires(
    mode: str, redis_url: str, memory_saver: Any
) -> None:
    import redis

    vault = RedisVault(redis_url, ttl=0.6)
    box = Outbox()
    model = ScriptedChatModel(
        responses=[
            "noted",
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>", "body": "x"})]),
            "sent",
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>", "body": "x"})]),
            "sent",
        ]
    )
    mw = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"], vault=vault)
    agent = create_agent(model, tools=[box.send_email], checkpointer=memory_saver, middleware=[mw])
    config = cfg("t")
    invoke(agent, {"messages": [("user", f"mail {JANE}")]}, mode, config)
    assert model.requests[0]["messages"][-1].content == "mail <EMAIL_1>"
    values = agent.get_state(config).values
    assert not values.get(VAULT_KEY)  # the checkpoint holds no mapping
    assert JANE not in dump(values["messages"])
    client = redis.Redis.from_url(redis_url)
    key = "guardrails:pii:PIIMiddleware[email]:t"
    assert client.hgetall(key) == {b"<EMAIL_1>": JANE.encode()}
    assert 0 < client.pttl(key) <= 600

    invoke(agent, {"messages": [("user", "send it")]}, mode, config)  # within the TTL
    assert box.sent == [JANE]

    time.sleep(0.8)  # idle past the TTL: the mapping is gone
    assert client.exists(key) == 0
    invoke(agent, {"messages": [("user", f"send it again, and cc {BOB}")]}, mode, config)
    assert box.sent == [JANE, "<EMAIL_1>"]  # fails closed: the placeholder, never a wrong value
    # the new value is not given <EMAIL_1> again: that number is still in the conversation
    assert model.requests[3]["messages"][-1].content == "send it again, and cc <EMAIL_2>"


def test_redis_vault_shared_by_two_agents(mode: str, redis_url: str) -> None:
    """Two workers (separate agents and middleware instances) share one thread's mapping."""
    box = Outbox()
    first = ScriptedChatModel(default="noted")
    second = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>", "body": "x"})]),
            "sent",
        ]
    )
    for model, text in ((first, f"mail {JANE}"), (second, "send it")):
        mw = PIIMiddleware(
            "email",
            strategy="pseudonymize",
            restore_tools=["send_email"],
            vault=RedisVault(redis_url, ttl=60),
        )
        agent = create_agent(model, tools=[box.send_email], middleware=[mw])
        invoke(agent, {"messages": [("user", text)]}, mode, cfg("shared"))
    assert box.sent == [JANE]


def test_vault_conflict_renumbers(mode: str, audit: AuditCapture) -> None:
    class Racing(MemoryVault):
        """A concurrent writer takes <EMAIL_1> for another value just before our first add."""

        raced = False

        def add(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
            if not self.raced:
                self.raced = True
                super().add(thread_id, namespace, {"<EMAIL_1>": CAROL})
            return super().add(thread_id, namespace, entries)

    vault = Racing()
    model = ScriptedChatModel(default="ok")
    agent = create_agent(
        model, middleware=[PIIMiddleware("email", strategy="pseudonymize", vault=vault)]
    )
    invoke(agent, {"messages": [("user", f"mail {JANE}")]}, mode, cfg("t"))
    assert model.requests[0]["messages"][-1].content == "mail <EMAIL_2>"
    assert vault.get("t", "PIIMiddleware[email]") == {"<EMAIL_1>": CAROL, "<EMAIL_2>": JANE}
    (event,) = audit.of("pii.pseudonymized")  # the second numbering is reported, once
    assert event["entities"] == {"email": 1}


def test_vault_needs_a_thread_id(mode: str) -> None:
    agent = create_agent(
        ScriptedChatModel(default="ok"),
        middleware=[PIIMiddleware("email", strategy="pseudonymize", vault=MemoryVault())],
    )
    with pytest.raises(GuardrailConfigError, match="thread_id"):
        invoke(agent, {"messages": [("user", "hi")]}, mode)


# ------------------------------------------------------------------ configuration, units


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"restore_tools": ["x"]}, r"restore_tools= needs strategy='pseudonymize'"),
        ({"restore_output": True}, r"restore_output= needs strategy='pseudonymize'"),
        ({"vault": MemoryVault()}, r"vault= needs strategy='pseudonymize'"),
        (
            {"strategy": "pseudonymize", "restore_tools": "send_email"},
            "restore_tools must be None",
        ),
        ({"strategy": "pseudonymize", "restore_output": "yes"}, "restore_output must be True"),
        ({"strategy": "pseudonymize", "vault": {}}, "vault must be None"),
    ],
)
def test_construction_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GuardrailConfigError, match=message):
        PIIMiddleware("email", **kwargs)


def test_redis_vault_construction_errors() -> None:
    with pytest.raises(GuardrailConfigError, match="url="):
        RedisVault()
    with pytest.raises(GuardrailConfigError, match="ttl"):
        RedisVault("redis://127.0.0.1:1", ttl=0)


def test_pseudonymizer_units() -> None:
    assert type_tag("credit_card") == type_tag("credit-card") == "CREDIT_CARD"
    assert type_tag("2fa") == "PII_2FA"
    p = Pseudonymizer({"<EMAIL_1>": JANE}, slot=(1, 3))
    assert p.placeholder("email", JANE) == "<EMAIL_1>"
    assert p.placeholder("email", BOB) == "<EMAIL_3>"  # base 1 + 1 + index 1
    assert p.placeholder("email", CAROL) == "<EMAIL_6>"  # + count 3
    assert p.placeholder("email", BOB) == "<EMAIL_3>"
    assert p.placeholder("phone", "+1 212 555 0143") == "<PHONE_2>"
    assert p.new == {"<EMAIL_3>": BOB, "<EMAIL_6>": CAROL, "<PHONE_2>": "+1 212 555 0143"}
    visible = Pseudonymizer({}, texts=lambda: ["see <EMAIL_7> and <CREDIT_CARD_2>"])
    assert visible.placeholder("email", JANE) == "<EMAIL_8>"
    assert visible.placeholder("credit_card", "4111") == "<CREDIT_CARD_3>"
    counts: dict[str, int] = {}
    secrets: list[str] = []
    text = restore_text("<EMAIL_3>, <EMAIL_9>, <PHONE_2>", p.mapping, counts, secrets)
    assert text == f"{BOB}, <EMAIL_9>, +1 212 555 0143"
    assert counts == {"email": 1, "phone": 1}
    assert merge_vault({"m": {"<EMAIL_1>": JANE}}, {"m": {"<EMAIL_1>": BOB, "<EMAIL_2>": BOB}}) == {
        "m": {"<EMAIL_1>": JANE, "<EMAIL_2>": BOB}
    }


# ------------------------------------------------------------------ deep agents, streaming


def test_deep_agent_subagent_gets_placeholders_its_tool_the_value(
    mode: str, memory_saver: Any, audit: AuditCapture
) -> None:
    pytest.importorskip("deepagents")

    box = Outbox()
    vault = MemoryVault()  # shared by the main agent and the subagent (same thread)
    pii = PIIMiddleware(
        "email", strategy="pseudonymize", restore_tools=["send_email"], vault=vault, name="pii"
    )

    def delegate(messages: list[BaseMessage]) -> AIMessage:
        (placeholder,) = PLACEHOLDER.findall(str(messages[-1].content))
        description = f"Email the invoice to {placeholder}"
        args = {"description": description, "subagent_type": "mailer"}
        return AIMessage("", tool_calls=[tool_call("task", args)])

    main_model = ScriptedChatModel(responses=[delegate, "the mailer is done"])
    mailer = ScriptedChatModel(
        responses=[
            lambda msgs: AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "send_email",
                        {"to": PLACEHOLDER.findall(str(msgs[-1].content))[0], "body": "x"},
                    )
                ],
            ),
            "sent it to <EMAIL_1>",
        ]
    )
    import guardrails.deep

    # guardrails.deep: a plain deepagents setup whose subagents lack the PII guardrail is refused
    agent: Any = guardrails.deep.create_deep_agent(
        model=main_model,
        name="main",
        checkpointer=memory_saver,
        guardrails=[pii],
        subagents=[
            {
                "name": "mailer",
                "description": "Sends emails.",
                "system_prompt": "You send emails.",
                "model": mailer,
                "tools": [box.send_email],
                "middleware": [pii],
            }
        ],
    )
    invoke(agent, {"messages": [("user", f"invoice {JANE} please")]}, mode, cfg("t"))
    assert box.sent == [JANE]
    # the subagent's prompt (the task description) carries the placeholder, not the value
    assert mailer.requests[0]["messages"][-1].content == "Email the invoice to <EMAIL_1>"
    for model in (main_model, mailer):
        assert JANE not in dump([m for r in model.requests for m in r["messages"]])
    restored = audit.of("pii.restored")
    assert [(e["tool"], e.get("subagent")) for e in restored] == [("send_email", "mailer")]


def test_stream_carries_no_real_value_with_a_vault(mode: str, memory_saver: Any) -> None:
    """stream_mode="messages" carries what the provider returned (placeholders); with a vault,
    "updates" carry no mapping either: nothing in the stream but the user's own input."""
    box = Outbox()
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>", "body": "x"})]),
            "Done: sent to <EMAIL_1>.",
        ]
    )
    agent = create_agent(
        model,
        tools=[box.send_email],
        checkpointer=memory_saver,
        middleware=[
            PIIMiddleware(
                "email", strategy="pseudonymize", restore_tools=["send_email"], vault=MemoryVault()
            )
        ],
    )
    payload = {"messages": [("user", f"email {JANE}")]}
    modes = ["messages", "updates"]
    if mode == "sync":
        chunks = list(agent.stream(payload, cfg("t"), stream_mode=modes))
    else:

        async def collect() -> list[Any]:
            return [c async for c in agent.astream(payload, cfg("t"), stream_mode=modes)]

        chunks = asyncio.run(collect())
    assert box.sent == [JANE]
    tokens = [c for kind, c in chunks if kind == "messages"]
    assert tokens and "<EMAIL_1>" in str(tokens)
    assert JANE not in str(chunks)


def test_demo_scene() -> None:
    import io

    from guardrails.demo_scenes import pseudonymize

    out = io.StringIO()
    pseudonymize.run(out)
    lines = dict(
        line.strip().split(":", 1)
        for line in out.getvalue().splitlines()
        if line.strip().startswith("the ")
    )
    assert lines["the model saw"].strip() == "Email the invoice to <EMAIL_1>"
    assert lines["the model called"].strip() == "send_email(to='<EMAIL_1>')"
    assert lines["the tool sent to"].strip() == JANE
    assert pseudonymize.TITLE


NAMES = st.sampled_from(["jane", "bob", "carol", "dan", "eve"])
DOMAINS = st.sampled_from(["example.com", "example.org", "mail.example.net"])
EMAIL = st.builds(lambda n, d: f"{n}@{d}", NAMES, DOMAINS)
TURN = st.lists(st.tuples(st.text(alphabet="abc xyz,.", max_size=8), EMAIL), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None)
@given(turns=st.lists(TURN, min_size=1, max_size=4), slot=st.sampled_from([(0, 1), (1, 3)]))
def test_pseudonymization_is_a_reversible_bijection(
    turns: list[Any], slot: tuple[int, int]
) -> None:
    mw = PIIMiddleware("email", strategy="pseudonymize")
    mapping: dict[str, str] = {}
    for turn in turns:
        text = " ".join(f"{filler} {email} " for filler, email in turn)
        pseudo = Pseudonymizer(mapping, slot=slot)
        handled = mw.scan("input", None, pseudo).text(text)
        mapping = merge_vault({"m": mapping}, {"m": pseudo.new})["m"]
        assert "@" not in handled
        assert restore_text(handled, mapping, {}, []) == text
    # one placeholder per value, one value per placeholder
    assert len(set(mapping.values())) == len(mapping)
    assert all(re.fullmatch(r"<EMAIL_\d+>", p) for p in mapping)


def test_messages_stream_keeps_placeholders_even_with_restore_output(
    mode: str, memory_saver: Any
) -> None:
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>", "body": "x"})]),
            "Done: sent to <EMAIL_1>.",
        ]
    )
    box = Outbox()
    agent = create_agent(
        model,
        tools=[box.send_email],
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize", restore_output=True)],
    )
    payload = {"messages": [("user", f"email {JANE}")]}
    if mode == "sync":
        chunks = list(agent.stream(payload, cfg("t"), stream_mode="messages"))
    else:

        async def collect() -> list[Any]:
            return [c async for c in agent.astream(payload, cfg("t"), stream_mode="messages")]

        chunks = asyncio.run(collect())
    assert [m.content for m, _ in chunks] == ["", "sent to <EMAIL_1>", "Done: sent to <EMAIL_1>."]
    assert stored(agent, cfg("t"))[-1].content == f"Done: sent to {JANE}."  # restored in state


def test_inside_compose_and_with_a_failing_tool(mode: str, memory_saver: Any) -> None:
    from guardrails import ToolRetryMiddleware, compose

    received: list[str] = []

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        received.append(to)
        raise ValueError(f"no mailbox for {to}")

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>", "body": "x"})]),
            "sorry",
        ]
    )
    agent = create_agent(
        model,
        tools=[send_email],
        checkpointer=memory_saver,
        middleware=[
            compose(
                PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"]),
                ToolRetryMiddleware(max_retries=0, on_failure="continue"),
            )
        ],
    )
    invoke(agent, {"messages": [("user", f"email {JANE}")]}, mode, cfg("t"))
    assert received == [JANE]
    error = model.requests[1]["messages"][-1]
    assert isinstance(error, ToolMessage) and "no mailbox for <EMAIL_1>" in str(error.content)
    assert JANE not in dump(stored(agent, cfg("t")))
