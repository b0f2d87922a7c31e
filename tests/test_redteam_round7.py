"""Red-team round 7: attacks on two changes of this session, kept as promise tests.

**A tool not in ``restore_tools`` never receives a raw value of a configured type, whatever
the order of the middleware list and whoever wrote the value** (commit 447cd29): here a layer
inside ``PIIMiddleware`` that edits the call's arguments *in place* (the same dict, not a new
request), sync and async, pseudonymize and redact, through a real ``create_agent`` graph.

**Context words stand alone, yet an inflected word still counts** (commit 52884a5): a phone
number that needs its context word is found after the word's declined and compound forms
(``телефонный номер``, ``телефонам``, ``Телефонен``, ``मोबाइलनंबर``), while ``hotel:``,
``Hôtel`` and ``Отель`` give no phone context.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage

from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

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


class InPlace(AgentMiddleware):  # type: ignore[type-arg]
    """A layer that appends to the call's arguments in place (same dict, same request)."""

    def _edit(self, request: Any) -> Any:
        request.tool_call["args"]["note"] += f" (cc {CAROL})"
        return request

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._edit(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._edit(request))


@pytest.mark.parametrize("strategy", ["pseudonymize", "redact"])
@pytest.mark.parametrize("order", ["edit first", "PII first"])
def test_an_address_added_in_place_by_an_inner_layer_never_reaches_the_tool(
    order: str, strategy: str, mode: str, memory_saver: Any
) -> None:
    notes = Notes()
    pii = PIIMiddleware(
        "email", strategy=strategy, apply_to_tool_args=True, apply_to_tool_results=False
    )
    agent = create_agent(
        ScriptedChatModel(
            responses=[AIMessage("", tool_calls=[tool_call("log_note", {"note": "hi"})]), "Ok."]
        ),
        tools=notes.tools,
        checkpointer=memory_saver,
        middleware=[InPlace(), pii] if order == "edit first" else [pii, InPlace()],
    )
    invoke(agent, {"messages": [("user", "Note hi.")]}, mode, {"configurable": {"thread_id": "p"}})
    (got,) = notes.got
    assert CAROL not in got and got.startswith("hi (cc ")


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


@pytest.mark.xfail(
    strict=True,
    reason="NOT covered: a tool object handed in by an inner layer (not one of the agent's "
    "tools) is never seen through the guardrail's view; see docs/pii.md",
)
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


class Rewrite(AgentMiddleware):  # type: ignore[type-arg]
    """A layer that adds an address to a call's arguments (a new request, not in place)."""

    def _edited(self, request: Any) -> Any:
        call = request.tool_call
        args = {**call["args"], "note": f"{call['args']['note']} (cc {CAROL})"}
        return request.override(tool_call={**call, "args": args})

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._edited(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._edited(request))


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
