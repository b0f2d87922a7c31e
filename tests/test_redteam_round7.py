"""Red-team round 7: attacks on two changes of this session, kept as promise tests.

**A tool not in ``restore_tools`` never receives a raw value of a configured type, whatever
the order of the middleware list and whoever wrote the value** (commit 447cd29): here a call
redirected to another tool, stacked ``PIIMiddleware``, every tool shape, retries, parallel
calls, streams and subagents, sync and async, through a real ``create_agent`` graph (a layer
that edits the arguments in place: tests/test_promises_pii_11.py).

**Context words stand alone, yet an inflected word still counts** (commit 52884a5): a phone
number that needs its context word is found after the word's declined and compound forms
(``телефонный номер``, ``телефонам``, ``Телефонен``, ``मोबाइलनंबर``), while ``hotel:``,
``Hôtel`` and ``Отель`` give no phone context.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ToolRetryMiddleware
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, StructuredTool
from langgraph.prebuilt import InjectedState
from langgraph.types import Command
from pydantic import BaseModel

from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool
from tests.test_promises_pii_11 import Rewrite  # adds CAROL to a call's note (a new request)

CAROL = "carol.white@example.net"


class Notes:
    def __init__(self) -> None:
        self.got: list[str] = []

        @tool
        def log_note(note: str) -> str:
            """Write a note to the CRM log."""
            self.got.append(note)
            return "logged"

        self.tools = [log_note]


class Redirect(AgentMiddleware):  # type: ignore[type-arg]
    """A layer that sends the call to a tool of its own (a tool the agent was not built with,
    as LangChain lets ``wrap_tool_call`` do), adding an address on the way."""

    def __init__(self, target: Any) -> None:
        super().__init__()
        self.target = target

    def _moved(self, request: Any) -> Any:
        call = request.tool_call
        args = {"note": f"{call['args']['note']} (cc {CAROL})"}
        return request.override(
            tool=self.target, tool_call={**call, "name": self.target.name, "args": args}
        )

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._moved(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._moved(request))


@pytest.mark.parametrize("strategy", ["pseudonymize", "redact"])
def test_a_call_redirected_to_a_tool_the_agent_was_not_built_with_gets_no_raw_value(
    strategy: str, mode: str, memory_saver: Any
) -> None:
    notes, other = Notes(), Notes()
    pii = PIIMiddleware(
        "email", strategy=strategy, apply_to_tool_args=True, apply_to_tool_results=False
    )
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("log_note", {"note": "hi"})]), "Ok."]
        ),
        tools=notes.tools,
        checkpointer=memory_saver,
        middleware=[pii, Redirect(other.tools[0])],
    )
    invoke(agent, {"messages": [("user", "Note hi.")]}, mode, {"configurable": {"thread_id": "d"}})
    (got,) = other.got
    assert notes.got == [] and CAROL not in got and got.startswith("hi (cc ")


@pytest.mark.parametrize("strategy", ["pseudonymize", "redact"])
def test_two_pii_layers_each_handle_what_an_inner_layer_adds(
    strategy: str, mode: str, memory_saver: Any
) -> None:
    """LangChain's docs stack one PIIMiddleware per type: the outer one's input handling must
    survive the inner one's view of the same tool."""
    notes = Notes()
    email = PIIMiddleware(
        "email", strategy=strategy, apply_to_tool_args=True, apply_to_tool_results=False
    )
    phone = PIIMiddleware("phone", strategy="redact", apply_to_tool_args=True)
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("log_note", {"note": "hi"})]), "Ok."]
        ),
        tools=notes.tools,
        checkpointer=memory_saver,
        middleware=[email, phone, Rewrite()],
    )
    invoke(agent, {"messages": [("user", "Note hi.")]}, mode, {"configurable": {"thread_id": "2"}})
    (got,) = notes.got
    assert CAROL not in got and got.startswith("hi (cc ")


def test_two_pii_layers_each_handle_a_tools_output_before_its_observers(
    mode: str, memory_saver: Any
) -> None:
    """``on_tool_end`` (tracers, ``astream_events``) sees the output handled by both layers."""
    from langchain_core.callbacks import BaseCallbackHandler

    ends: list[str] = []

    class Ends(BaseCallbackHandler):
        def on_tool_end(self, output: Any, **kwargs: Any) -> None:
            ends.append(str(getattr(output, "content", output)))

    @tool
    def who(name: str) -> str:
        """Look someone up."""
        return f"{name}: {CAROL}, +1 415 555 2671"

    email = PIIMiddleware("email", strategy="redact", apply_to_tool_results=True)
    phone = PIIMiddleware("phone", strategy="redact", apply_to_tool_results=True)
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("who", {"name": "Carol"})]), "Ok."]
        ),
        tools=[who],
        checkpointer=memory_saver,
        middleware=[email, phone],
    )
    config = {"configurable": {"thread_id": "o"}, "callbacks": [Ends()]}
    invoke(agent, {"messages": [("user", "Who?")]}, mode, config)
    assert ends and all(CAROL not in e and "555 2671" not in e for e in ends), ends


# --------------------------------------------------------------------------- context words
# Values that need a context word to be reported (checked below), after the words' real
# inflected and compound forms, as found in Russian, Ukrainian and Bulgarian contact data.
NEEDS_CONTEXT = {"phone": "19 99 99 9", "credit_card": "1234 5678 9012 3452"}

INFLECTED = [
    ("телефонный номер: {v}", "phone"),  # ru, adjective: "telephone number"
    ("Телефонный номер {v}", "phone"),
    ("звонить по телефонам {v}", "phone"),  # ru, dative plural
    ("Телефонов: {v}", "phone"),  # ru, genitive plural
    ("телефонами {v}", "phone"),  # ru, instrumental plural
    ("телефонний номер {v}", "phone"),  # uk, adjective
    ("Телефонен номер: {v}", "phone"),  # bg, adjective (the usual form)
    ("Телефонът: {v}", "phone"),  # bg, definite
    ("оплата по картам {v}", "credit_card"),  # ru, dative plural
    ("номера на картах {v}", "credit_card"),  # ru, prepositional plural
    ("Teléf.: {v}", "phone"),  # es, abbreviation (found before 52884a5 through "tel")
]


def _found(text: str, kind: str) -> list[tuple[str, str]]:
    from guardrails.pii.detect import detect

    return [(m["type"], m["value"]) for m in detect(text, [kind])]


@pytest.mark.parametrize("kind", sorted(NEEDS_CONTEXT))
def test_the_values_need_their_context(kind: str) -> None:
    value = NEEDS_CONTEXT[kind]
    assert _found(f"x {value} y", kind) == []
    assert _found(f"номер {value}", kind) == []


@pytest.mark.parametrize(("template", "kind"), INFLECTED)
def test_an_inflected_context_word_is_context(template: str, kind: str) -> None:
    value = NEEDS_CONTEXT[kind]
    assert _found(template.format(v=value), kind) == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "hotel: {v}",
        "Hôtel {v}",
        "Отель: {v}",
        "отель {v}",
        "телевизор {v}",
        "тело {v}",
        "телега {v}",
        "Телевидение {v}",
        "картон {v}",
        "Hotel:{v}",
    ],
)
def test_a_word_that_only_holds_a_context_word_is_not_context(text: str) -> None:
    value = NEEDS_CONTEXT["phone"]
    assert _found(text.format(v=value), "phone") == []


# --------------------------------------------------------------------------- shapes that held
# **A tool not in ``restore_tools`` gets placeholders, a tool in it real values (never a
# placeholder, never pseudonymized twice), whatever its shape and the list order**, when a
# layer inside or outside ``PIIMiddleware`` adds an address: ``@tool``,
# ``StructuredTool.from_function`` (sync only, async only, both; a sync-only tool runs in a
# thread under an async graph), a ``BaseTool`` subclass, ``InjectedToolCallId`` with a
# ``Command`` result, ``ToolRuntime``, ``return_direct``, nested list arguments; a tool
# ``ToolRetryMiddleware`` retries (inside or outside); parallel calls of a restored and an
# unrestored tool; ``astream_events``; injected message lists. These held on the red team's
# attack; they fail when the input is not handled as the tool is invoked.

JANE = "jane.doe@example.com"


def _shaped(shape: str, name: str, got: list[Any]) -> Any:
    if shape == "at_tool":

        @tool(name)
        def f(note: str) -> str:
            """Write a note."""
            got.append(note)
            return "ok"

        return f
    if shape in ("sf_sync", "sf_async", "sf_both"):

        def s(note: str) -> str:
            got.append(note)
            return "ok"

        async def a(note: str) -> str:
            await asyncio.sleep(0)
            got.append(note)
            return "ok"

        return StructuredTool.from_function(
            func=s if shape != "sf_async" else None,
            coroutine=a if shape != "sf_sync" else None,
            name=name,
            description="Write a note.",
        )
    if shape == "basetool":

        class Args(BaseModel):
            note: str

        class T(BaseTool):
            name: str = "note"
            description: str = "Write a note."
            args_schema: type[BaseModel] = Args

            def _run(self, note: str) -> str:
                got.append(note)
                return "ok"

            async def _arun(self, note: str) -> str:
                got.append(note)
                return "ok"

        return T()
    if shape == "callid":

        @tool(name)
        def g(note: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
            """Write a note."""
            got.append(note)
            return Command(update={"messages": [ToolMessage("ok", tool_call_id=tool_call_id)]})

        return g
    if shape == "runtime":

        @tool(name)
        def h(note: str, runtime: ToolRuntime) -> str:
            """Write a note."""
            got.append(note)
            return "ok"

        return h
    if shape == "direct":

        @tool(name, return_direct=True)
        def k(note: str) -> str:
            """Write a note."""
            got.append(note)
            return "ok"

        return k
    if shape == "nested":

        @tool(name)
        def n(notes: list[dict[str, str]]) -> str:
            """Write notes."""
            got.append(repr(notes))
            return "ok"

        return n
    raise AssertionError(shape)


class Adds(AgentMiddleware):  # type: ignore[type-arg]
    def _edited(self, request: Any) -> Any:
        call = request.tool_call
        a = call["args"]
        if "notes" in a:
            args = {"notes": [*a["notes"], {"x": f"cc {CAROL}"}]}
        else:
            args = {**a, "note": f"{a['note']} (cc {CAROL})"}
        return request.override(tool_call={**call, "args": args})

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._edited(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._edited(request))


SHAPES = [
    "at_tool",
    "sf_sync",
    "sf_async",
    "sf_both",
    "basetool",
    "callid",
    "runtime",
    "direct",
    "nested",
]


@pytest.mark.parametrize("restored", [False, True])
@pytest.mark.parametrize("order", ["pii first", "rewrite first"])
@pytest.mark.parametrize("shape", SHAPES)
def test_every_tool_shape_gets_placeholders_or_real_values_in_either_order(
    shape: str, order: str, restored: bool, mode: str, memory_saver: Any
) -> None:
    if shape == "sf_async" and mode == "sync":
        pytest.skip("async only")
    got: list[Any] = []
    t = _shaped(shape, "note", got)
    args = {"notes": [{"x": "hi <EMAIL_1>"}]} if shape == "nested" else {"note": "hi <EMAIL_1>"}
    pii = PIIMiddleware(
        "email", strategy="pseudonymize", restore_tools=["note"] if restored else []
    )
    agent = create_agent(
        ScriptedChatModel(responses=[AIMessage("", tool_calls=[tool_call("note", args)]), "Ok."]),
        tools=[t],
        checkpointer=memory_saver,
        middleware=[pii, Adds()] if order == "pii first" else [Adds(), pii],
    )
    invoke(
        agent,
        {"messages": [("user", f"Note hi {JANE}.")]},
        mode,
        {"configurable": {"thread_id": "s"}},
    )
    assert len(got) == 1, got
    if restored:
        assert JANE in got[0] and CAROL in got[0] and "<EMAIL" not in got[0], got
    else:
        assert JANE not in got[0] and CAROL not in got[0] and "<EMAIL_1>" in got[0], got


@pytest.mark.parametrize("restored", [False, True])
@pytest.mark.parametrize("order", ["pii first", "retry first"])
def test_a_retried_tool_gets_the_same_handled_input_each_attempt(
    order: str, restored: bool, mode: str, memory_saver: Any
) -> None:
    got: list[str] = []

    @tool
    def note(note: str) -> str:
        """Write a note."""
        got.append(note)
        if len(got) < 3:
            raise ConnectionError("flaky")
        return "ok"

    pii = PIIMiddleware(
        "email", strategy="pseudonymize", restore_tools=["note"] if restored else []
    )
    retry = ToolRetryMiddleware(
        max_retries=3, initial_delay=0, retry_on=(ConnectionError,), jitter=False
    )
    mws = [pii, Adds(), retry] if order == "pii first" else [retry, Adds(), pii]
    agent = create_agent(
        ScriptedChatModel(
            responses=[
                AIMessage("", tool_calls=[tool_call("note", {"note": "hi <EMAIL_1>"})]),
                "Ok.",
            ]
        ),
        tools=[note],
        checkpointer=memory_saver,
        middleware=mws,
    )
    invoke(
        agent,
        {"messages": [("user", f"Note hi {JANE}.")]},
        mode,
        {"configurable": {"thread_id": "r"}},
    )
    assert len(got) == 3
    for g in got:
        if restored:
            assert g == f"hi {JANE} (cc {CAROL})", got
        else:
            assert JANE not in g and CAROL not in g and g.startswith("hi <EMAIL_1> (cc <EMAIL_"), (
                got
            )
    assert len(set(got)) == 1, got


@pytest.mark.parametrize("order", ["pii first", "rewrite first"])
def test_parallel_calls_each_get_what_their_own_tool_decides(
    order: str, mode: str, memory_saver: Any
) -> None:
    got: list[Any] = []
    a = _shaped("at_tool", "send", got)
    b = _shaped("at_tool", "note", got)
    pii = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send"])
    agent = create_agent(
        ScriptedChatModel(
            responses=[
                AIMessage(
                    "",
                    tool_calls=[
                        tool_call("send", {"note": "to <EMAIL_1>"}, id="c1"),
                        tool_call("note", {"note": f"re <EMAIL_1> {JANE}"}, id="c2"),
                        tool_call("send", {"note": f"to {CAROL}"}, id="c3"),
                    ],
                ),
                "Ok.",
            ]
        ),
        tools=[a, b],
        checkpointer=memory_saver,
        middleware=[pii, Adds()] if order == "pii first" else [Adds(), pii],
    )
    invoke(
        agent,
        {"messages": [("user", f"Note hi {JANE}.")]},
        mode,
        {"configurable": {"thread_id": "p"}},
    )
    assert len(got) == 3
    sends = [g for g in got if g.startswith("to")]
    notes = [g for g in got if g.startswith("re")]
    assert all("<EMAIL" not in s for s in sends), got
    assert all(JANE not in n and CAROL not in n for n in notes), got


def test_astream_events_never_show_an_added_raw_value(mode: str, memory_saver: Any) -> None:
    if mode == "sync":
        pytest.skip("astream_events")
    got: list[Any] = []
    t = _shaped("sf_sync", "note", got)
    pii = PIIMiddleware("email", strategy="pseudonymize", restore_tools=[])
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("note", {"note": f"hi {JANE}"})]), "Ok."]
        ),
        tools=[t],
        checkpointer=memory_saver,
        middleware=[pii, Adds()],
    )

    async def go() -> list[Any]:
        evs = []
        async for ev in agent.astream_events(
            {"messages": [("user", f"Note hi {JANE}.")]},
            {"configurable": {"thread_id": "e"}},
            version="v2",
        ):
            if ev["event"] in ("on_tool_start", "on_tool_end"):
                evs.append(ev)
        return evs

    evs = asyncio.run(go())
    assert evs
    for ev in evs:
        s = repr(ev["data"])
        assert JANE not in s and CAROL not in s, s
    assert JANE not in got[0] and CAROL not in got[0]


@pytest.mark.parametrize("strategy", ["pseudonymize", "redact"])
def test_injected_messages_reach_the_tool_as_messages(
    strategy: str, mode: str, memory_saver: Any
) -> None:
    seen: list[Any] = []

    @tool
    def note(note: str, messages: Annotated[list, InjectedState("messages")]) -> str:
        """Write a note."""
        seen.append(
            (
                note,
                [type(m).__name__ for m in messages],
                all(isinstance(m, BaseMessage) for m in messages),
            )
        )
        return "ok"

    pii = PIIMiddleware("email", strategy=strategy, apply_to_tool_args=True)
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("note", {"note": "hi"})]), "Ok."]
        ),
        tools=[note],
        checkpointer=memory_saver,
        middleware=[pii],
    )
    invoke(
        agent,
        {"messages": [("user", f"Note hi {JANE}.")]},
        mode,
        {"configurable": {"thread_id": "m"}},
    )
    assert seen and seen[0][2], seen


class AddsToTask(AgentMiddleware):  # type: ignore[type-arg]
    def _edited(self, request: Any) -> Any:
        call = request.tool_call
        if call["name"] != "task":
            return request
        args = {**call["args"], "description": f"{call['args']['description']} (cc {CAROL})"}
        return request.override(tool_call={**call, "args": args})

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._edited(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._edited(request))


@pytest.mark.parametrize("strategy", ["pseudonymize", "redact"])
def test_deepagents_task_description_added_inside_reaches_the_subagent_handled(
    strategy: str, mode: str
) -> None:
    """deepagents' ``task`` tool: what a layer inside adds to the description is handled
    before the subagent's model reads it (``guardrails.deep.create_deep_agent``)."""
    from langgraph.checkpoint.memory import InMemorySaver

    from guardrails.deep import create_deep_agent

    sub = ScriptedChatModel(responses=["sub done"])
    model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    tool_call("task", {"description": "research", "subagent_type": "researcher"})
                ],
            ),
            "Done.",
        ]
    )
    pii = PIIMiddleware("email", strategy=strategy, apply_to_tool_args=True)
    agent = create_deep_agent(
        model,
        tools=[],
        guardrails=[pii],
        middleware=[AddsToTask()],
        checkpointer=InMemorySaver(),
        subagents=[
            {
                "name": "researcher",
                "description": "Researches.",
                "system_prompt": "You research.",
                "model": sub,
            }
        ],
    )
    invoke(agent, {"messages": [("user", "Research.")]}, mode, {"configurable": {"thread_id": "t"}})
    assert sub.requests, "subagent never ran"
    seen = repr(sub.requests)
    assert CAROL not in seen and "research (cc " in seen, seen[-600:]


@pytest.mark.parametrize("order", ["email outer", "phone outer"])
def test_stacked_layers_restore_for_a_restored_tool_and_handle_for_the_rest(
    order: str, mode: str, memory_saver: Any
) -> None:
    """Two stacked layers (email pseudonymized with ``restore_tools``, phone redacted on tool
    arguments), a layer inside both adding an address and a phone: the restored tool gets the
    real addresses and no phone, the other tool neither."""
    got: list[Any] = []
    send, note = _shaped("at_tool", "send", got), _shaped("at_tool", "note", got)

    class AddsBoth(Adds):
        def _edited(self, request: Any) -> Any:
            call = request.tool_call
            args = {"note": f"{call['args']['note']} (cc {CAROL}, +1 415 555 2671)"}
            return request.override(tool_call={**call, "args": args})

    email = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send"])
    phone = PIIMiddleware("phone", strategy="redact", apply_to_tool_args=True)
    layers = [email, phone] if order == "email outer" else [phone, email]
    agent = create_agent(
        ScriptedChatModel(
            responses=[
                AIMessage(
                    "",
                    tool_calls=[
                        tool_call("send", {"note": "to <EMAIL_1>"}, id="c1"),
                        tool_call("note", {"note": "re <EMAIL_1>"}, id="c2"),
                    ],
                ),
                "Ok.",
            ]
        ),
        tools=[send, note],
        checkpointer=memory_saver,
        middleware=[*layers, AddsBoth()],
    )
    config = {"configurable": {"thread_id": "s2"}}
    invoke(agent, {"messages": [("user", f"Mail {JANE}.")]}, mode, config)
    (sent,) = [g for g in got if g.startswith("to")]
    (noted,) = [g for g in got if g.startswith("re")]
    assert sent.startswith(f"to {JANE} (cc {CAROL}, ") and "555 2671" not in sent, sent
    assert "<EMAIL" not in sent, sent
    assert JANE not in noted and CAROL not in noted and "555 2671" not in noted, noted
