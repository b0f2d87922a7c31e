"""Promises of ``PIIMiddleware(strategy="pseudonymize")`` on the tool side (issue 29, round 7).

**One audit event per decision.** A tool named in ``restore_tools`` receives real values: its
arguments are *restored* (placeholders turned back into the values they stand for), never
pseudonymized on the way. The audit trail says exactly that: one ``pii.restored`` event counting
the placeholders restored, and no ``pii.pseudonymized`` event for arguments the tool receives as
they are (a value the model wrote itself, raw); the thread's mapping gains no entry for them.
A tool not in ``restore_tools`` gets the other decision, and its own one event.
Real ``create_agent`` graphs, a scripted model, a real checkpointer, sync and async.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage
from langgraph.prebuilt import InjectedState

from guardrails.errors import PIIDetectionError
from guardrails.pii import PIIMiddleware
from guardrails.pii.middleware import VAULT_KEY
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool

JANE = "jane.doe@example.com"
BOB = "bob@example.org"


class Outbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []

        @tool
        def send_email(to: str, cc: str) -> str:
            """Send an email."""
            self.got.append(("send_email", f"{to} {cc}"))
            return "sent"

        @tool
        def log_note(note: str) -> str:
            """Write a note to the CRM log."""
            self.got.append(("log_note", note))
            return "logged"

        self.tools = [send_email, log_note]


def _run(calls: list[tuple[str, dict[str, Any]]], mode: str, saver: Any) -> tuple[Outbox, Any]:
    box = Outbox()
    model = ScriptedChatModel(
        responses=[*(AIMessage("", tool_calls=[tool_call(n, a)]) for n, a in calls), "Done."]
    )
    agent = create_agent(
        model,
        tools=box.tools,
        checkpointer=saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"])],
    )
    config = {"configurable": {"thread_id": "t"}}
    invoke(agent, {"messages": [("user", f"Write to {JANE}.")]}, mode, config)
    return box, agent.get_state(config).values.get(VAULT_KEY)


def _on_tool_args(audit: AuditCapture, name: str) -> list[dict[str, Any]]:
    return [e for e in audit.of(name) if e.get("where") == "tool_args"]


def test_a_restored_tools_arguments_get_one_event_the_restore(
    mode: str, memory_saver: Any, audit: AuditCapture
) -> None:
    # the model wrote the address itself in cc (raw), and its placeholder in to
    box, vault = _run([("send_email", {"to": "<EMAIL_1>", "cc": JANE})], mode, memory_saver)
    assert box.got == [("send_email", f"{JANE} {JANE}")]
    assert _on_tool_args(audit, "pii.pseudonymized") == []  # nothing on the way to send_email
    (restored,) = audit.of("pii.restored")  # one event: one placeholder turned back
    assert (restored["where"], restored["tool"], restored["entities"]) == (
        "tool_args",
        "send_email",
        {"email": 1},
    )
    assert list(vault.values()) == [{"<EMAIL_1>": JANE}]


def test_a_tool_not_restored_gets_its_arguments_pseudonymized_with_one_event(
    mode: str, memory_saver: Any, audit: AuditCapture
) -> None:
    box, vault = _run([("log_note", {"note": f"<EMAIL_1> and {BOB}"})], mode, memory_saver)
    assert box.got == [("log_note", "<EMAIL_1> and <EMAIL_2>")]
    (event,) = _on_tool_args(audit, "pii.pseudonymized")
    assert (event["tool"], event["entities"]) == ("log_note", {"email": 1})
    assert audit.of("pii.restored") == []
    assert list(vault.values()) == [{"<EMAIL_1>": JANE, "<EMAIL_2>": BOB}]


# --------------------------------------------------------------------------- reviewer edits
# **The order of the list does not change what a tool receives.** A tool not in
# ``restore_tools`` never receives a raw value of a configured type, whoever wrote it: the
# model, a reviewer's edit in LangChain's ``HumanInTheLoopMiddleware`` (batched after the model
# call, or per call inside the tool hook), another middleware's rewrite. Listed before
# ``PIIMiddleware``, the reviewer's edit is applied outside it and pseudonymized on the way in;
# listed after, the edit is applied inside it, and the tool still gets the placeholder. A
# reviewer may also point the call at another tool: the tool that runs decides (a restored tool
# gets real values, any other placeholders). Real graph, a real checkpointer, ``Command(resume=
# ...)``, both list orders, both interrupt modes, sync and async.

CAROL = "carol.white@example.net"


def _reviewed(
    order: str,
    interrupt_mode: str,
    call: tuple[str, dict[str, Any]],
    edit: dict[str, Any],
    mode: str,
    saver: Any,
) -> Outbox:
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from langgraph.types import Command

    box = Outbox()
    hitl = HumanInTheLoopMiddleware(
        interrupt_on={"log_note": True, "send_email": True}, interrupt_mode=interrupt_mode
    )
    pii = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"])
    agent = create_agent(
        ScriptedChatModel(responses=[AIMessage("", tool_calls=[tool_call(*call)]), "Done."]),
        tools=box.tools,
        checkpointer=saver,
        middleware=[hitl, pii] if order == "review first" else [pii, hitl],
    )
    config = {"configurable": {"thread_id": f"review-{order}-{interrupt_mode}"}}
    invoke(agent, {"messages": [("user", f"Write to {JANE}.")]}, mode, config)
    assert box.got == []  # waiting for the reviewer
    decision = {"type": "edit", "edited_action": edit}
    answer = {"decisions": [decision]} if interrupt_mode == "batched" else decision
    invoke(agent, Command(resume=answer), mode, config)
    return box


ORDERS = ["review first", "PII first"]
MODES = ["batched", "per_call"]


@pytest.mark.parametrize("interrupt_mode", MODES)
@pytest.mark.parametrize("order", ORDERS)
def test_a_reviewers_address_reaches_an_unrestored_tool_as_a_placeholder(
    order: str, interrupt_mode: str, mode: str, memory_saver: Any
) -> None:
    note = {"name": "log_note", "args": {"note": f"ask {CAROL}, cc <EMAIL_1>"}}
    box = _reviewed(
        order, interrupt_mode, ("log_note", {"note": "ask <EMAIL_1>"}), note, mode, memory_saver
    )
    ((tool, got),) = box.got
    assert tool == "log_note" and CAROL not in got and JANE not in got
    assert re.fullmatch(r"ask <EMAIL_\d+>, cc <EMAIL_1>", got) and "<EMAIL_1>," not in got


@pytest.mark.parametrize("order", ORDERS)
def test_a_reviewer_who_points_a_restored_call_at_another_tool_sends_it_no_real_value(
    order: str, mode: str, memory_saver: Any
) -> None:
    moved = {"name": "log_note", "args": {"note": f"<EMAIL_1> and {CAROL}"}}
    box = _reviewed(
        order, "batched", ("send_email", {"to": "<EMAIL_1>", "cc": "x"}), moved, mode, memory_saver
    )
    ((tool, got),) = box.got
    assert tool == "log_note" and CAROL not in got and JANE not in got
    assert got.startswith("<EMAIL_1> and <EMAIL_")


@pytest.mark.parametrize("order", ORDERS)
def test_a_reviewer_who_points_a_call_at_a_restored_tool_sends_it_real_values(
    order: str, mode: str, memory_saver: Any
) -> None:
    moved = {"name": "send_email", "args": {"to": "<EMAIL_1>", "cc": CAROL}}
    box = _reviewed(
        order, "batched", ("log_note", {"note": "hi <EMAIL_1>"}), moved, mode, memory_saver
    )
    assert box.got == [("send_email", f"{JANE} {CAROL}")]


class Rewrite(AgentMiddleware):  # type: ignore[type-arg]
    """Another layer that adds to a tool call's arguments (a signature, a default cc)."""

    def _edited(self, request: Any) -> Any:
        call = request.tool_call
        args = {**call["args"], "note": f"{call['args']['note']} (cc {CAROL})"}
        return request.override(tool_call={**call, "args": args})

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._edited(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._edited(request))


class InPlace(AgentMiddleware):  # type: ignore[type-arg]
    """A layer that appends to the call's arguments in place (same dict, same request)."""

    def _edit(self, request: Any) -> Any:
        request.tool_call["args"]["note"] += f" (cc {CAROL})"
        return request

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._edit(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._edit(request))


@pytest.mark.parametrize("layer", [Rewrite, InPlace], ids=["new request", "in place"])
@pytest.mark.parametrize("strategy", ["pseudonymize", "redact"])
@pytest.mark.parametrize("order", ["rewrite first", "PII first"])
def test_a_value_another_layer_adds_to_a_call_is_handled_in_either_order(
    order: str, strategy: str, layer: Any, mode: str, memory_saver: Any
) -> None:
    """Whether the layer hands on a new request or edits the arguments' dict in place."""
    box = Outbox()
    pii = PIIMiddleware(
        "email", strategy=strategy, apply_to_tool_args=True, apply_to_tool_results=False
    )
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("log_note", {"note": "hi"})]), "Ok."]
        ),
        tools=box.tools,
        checkpointer=memory_saver,
        middleware=[layer(), pii] if order == "rewrite first" else [pii, layer()],
    )
    invoke(agent, {"messages": [("user", "Note hi.")]}, mode, {"configurable": {"thread_id": "r"}})
    ((_, got),) = box.got
    assert CAROL not in got and got.startswith("hi (cc ")
    assert ("<EMAIL_1>" if strategy == "pseudonymize" else "[REDACTED_EMAIL]") in got


def test_a_tools_injected_arguments_reach_it_unchanged(mode: str, memory_saver: Any) -> None:
    seen: list[Any] = []

    @tool
    def lookup(
        who: str, state: Annotated[dict[str, Any], InjectedState], runtime: ToolRuntime
    ) -> str:
        """Look someone up."""
        seen.append((who, len(state["messages"]), runtime.tool_call_id))
        return "found"

    class Edit(Rewrite):
        def _edited(self, request: Any) -> Any:
            call = request.tool_call
            return request.override(tool_call={**call, "args": {"who": f"{CAROL}"}})

    agent = create_agent(
        ScriptedChatModel(
            responses=[
                AIMessage("", tool_calls=[tool_call("lookup", {"who": "x"}, id="c9")]),
                "Ok.",
            ]
        ),
        tools=[lookup],
        checkpointer=memory_saver,
        middleware=[PIIMiddleware("email", strategy="pseudonymize"), Edit()],
    )
    invoke(agent, {"messages": [("user", "Look.")]}, mode, {"configurable": {"thread_id": "i"}})
    assert seen == [("<EMAIL_1>", 2, "c9")]


@pytest.mark.parametrize("order", ["rewrite first", "PII first"])
def test_a_value_another_layer_adds_under_block_refuses_the_call_in_either_order(
    order: str, mode: str, memory_saver: Any
) -> None:
    box = Outbox()
    pii = PIIMiddleware("email", strategy="block", apply_to_tool_args=True, apply_to_input=False)
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("log_note", {"note": "hi"})]), "Ok."]
        ),
        tools=box.tools,
        checkpointer=memory_saver,
        middleware=[Rewrite(), pii] if order == "rewrite first" else [pii, Rewrite()],
    )
    with pytest.raises(PIIDetectionError):
        invoke(
            agent, {"messages": [("user", "Note hi.")]}, mode, {"configurable": {"thread_id": "b"}}
        )
    assert box.got == []


def test_a_block_on_the_way_in_holds_when_a_layer_inside_turns_errors_into_messages(
    mode: str, memory_saver: Any
) -> None:
    """A tool retry listed after the guardrail with ``on_failure="continue"`` answers a failed
    call with an error message: a refusal of the call's arguments is still the guardrail's, and
    the run stops with it (the tool never runs)."""
    from langchain.agents.middleware import ToolRetryMiddleware  # LangChain's own

    box = Outbox()
    pii = PIIMiddleware("email", strategy="block", apply_to_tool_args=True, apply_to_input=False)
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("log_note", {"note": "hi"})]), "Ok."]
        ),
        tools=box.tools,
        checkpointer=memory_saver,
        middleware=[pii, Rewrite(), ToolRetryMiddleware(max_retries=0, on_failure="continue")],
    )
    with pytest.raises(PIIDetectionError):
        invoke(
            agent, {"messages": [("user", "Note hi.")]}, mode, {"configurable": {"thread_id": "c"}}
        )
    assert box.got == []


def test_arguments_handled_leave_results_to_the_model_side_when_results_are_not_asked_for(
    mode: str, memory_saver: Any, audit: AuditCapture
) -> None:
    """``apply_to_tool_args=True, apply_to_tool_results=False``: the tool's result is not
    handled on the tool side (it is handled where the model reads it, as the model's input:
    the event is there, none on the tool side)."""

    @tool
    def whois(name: str) -> str:
        """Look a name up."""
        return f"{name} is {CAROL}"

    pii = PIIMiddleware("email", apply_to_tool_args=True, apply_to_tool_results=False)
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("whois", {"name": JANE})]), "Ok."]
        ),
        tools=[whois],
        checkpointer=memory_saver,
        middleware=[pii],
    )
    invoke(agent, {"messages": [("user", "Who?")]}, mode, {"configurable": {"thread_id": "w"}})
    where = [e["where"] for e in audit.of("pii.detected")]
    assert "input" in where and "tool_result" not in where, where


# --------------------------------------------------------------------------- data URLs
# A ``data:`` URL is one whatever the case of its scheme and of ``;base64`` (RFC 3986: schemes
# are case-insensitive; every browser and HTTP library reads ``DATA:``): its text is opened and
# handled, a binary one is refused under ``refuse_unscannable``, exactly as the lower-case
# form. ``open_data_url`` (public) says ``None`` for any text that is not a data URL.

SCHEMES = ["data:", "DATA:", "Data:", "dAtA:"]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("b64", [";base64", ";BASE64", ";Base64"])
def test_a_data_url_in_any_case_is_opened_and_handled(scheme: str, b64: str, mode: str) -> None:
    import base64

    from langchain_core.messages import HumanMessage

    inner = base64.b64encode(f"write to {JANE} today".encode()).decode()
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": [HumanMessage(f"{scheme}text/plain{b64},{inner}")]}, mode)
    sent = str(model.requests[0]["messages"][-1].content)
    header, _, body = sent.partition(",")
    assert header == f"{scheme}text/plain{b64}"
    assert base64.b64decode(body).decode() == "write to [REDACTED_EMAIL] today"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_binary_data_url_in_any_case_is_refused_when_unscannable_is_refused(
    scheme: str, mode: str
) -> None:
    import base64
    import random

    from langchain_core.messages import HumanMessage

    blob = bytes(random.Random(7).randrange(0x80, 0x100) for _ in range(27))  # 36 base64 chars
    url = f"{scheme}application/octet-stream;base64,{base64.b64encode(blob).decode()}"
    agent = create_agent(
        ScriptedChatModel(default="ok"),
        middleware=[PIIMiddleware("email", refuse_unscannable=True)],
    )
    with pytest.raises(PIIDetectionError, match="unscannable"):
        invoke(agent, {"messages": [HumanMessage(url)]}, mode)


@pytest.mark.parametrize(
    "text",
    ["hello, world", "x data:,a", " data:,a", "datum:,a", "data,:x", "dat:a,b", "", ","],
)
def test_open_data_url_says_none_for_what_is_not_a_data_url(text: str) -> None:
    from guardrails.pii.payloads import open_data_url

    assert open_data_url(text) is None
