"""The promises of PII handling, round 9 (issue 29, seed 91).

* **A model guarded again keeps its guards**: ``guard_model(guard_model(model, a), b)``
  hands the provider a request handled by ``a`` and by ``b``, sync and async (the second
  guard used to replace the first: ``a``'s values reached the provider raw), and the request
  is read as often as under the same guards given at once (the model is not guarded twice
  over); a guarded fallback model swapped in around or inside a ``PIIMiddleware`` keeps its
  own guards too.
* **A model ``guard_model`` returned serves every agent call with its own guards**: as an
  agent's model under a ``PIIMiddleware``, each call gets the model's guards and the
  middleware's, and the work of a call does not grow with the calls before it (each call's
  guard used to be added to the model's own hop, for good: one more guard per call, run on
  every later call).
* **A history edited while a pass walks it proves nothing the pass did not read**: a message
  edited in place (content blocks, extra fields) after the pass read it, or replaced before
  the pass reached it, is handled on the next call (the edit is made from inside the walk by
  the detector: what another thread does to the same objects, made deterministic).
* **What a model writes on itself during a guarded call lands once**: a field reaches the
  model, a property setter of its own runs once per assignment.
* **``restore_output`` restores the final answer only**: also when a layer inside adds a
  message after it; never an answer that calls tools (seen in the model node's update); an
  empty answer is passed on; a restored answer is audited, one with nothing to restore is not.
* **A stream that ends keeps nothing it held back** (finished or failed).
* **A value in a quoted-printable body is handled** (a soft line break inside it, ``=40``).
* **A history holding a value is handled on every call**, the same objects or equal ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from guardrails import PIIMiddleware
from guardrails.pii import guard_model
from guardrails.testing import ScriptedChatModel

EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"


class _Counted:
    """A detector of ``EMP-`` ids that counts the texts it reads."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str) -> list[dict[str, Any]]:
        self.texts.append(text)
        at = text.find("EMP-")
        return [] if at < 0 else [{"start": at, "end": at + 10, "score": 1.0}]


def _call(model: Any, text: str, mode: str) -> Any:
    if mode == "sync":
        return model.invoke([HumanMessage(text)])
    return asyncio.run(model.ainvoke([HumanMessage(text)]))


def test_a_model_guarded_again_keeps_its_guards(mode: str) -> None:
    text = f"mail {EMAIL}, call {PHONE}, id EMP-123456"
    # the same guards given at once, for comparison: what the detector reads in one call
    once_model = ScriptedChatModel(default=AIMessage("ok"))
    once_ids = _Counted()
    once = guard_model(
        once_model,
        PIIMiddleware(["email"]),
        PIIMiddleware("employee_id", detector=once_ids),
        PIIMiddleware(["phone"]),
    )
    _call(once, text, mode)
    model = ScriptedChatModel(default=AIMessage("ok"))
    ids = _Counted()
    inner = guard_model(model, PIIMiddleware(["email"]), PIIMiddleware("employee_id", detector=ids))
    outer = guard_model(inner, PIIMiddleware(["phone"]))
    _call(outer, text, mode)
    sent = str(model.requests[-1]["messages"][0].content)
    assert EMAIL not in sent and PHONE not in sent and "EMP-123456" not in sent, sent
    assert sent == str(once_model.requests[-1]["messages"][0].content)
    # the request is read as often as under the guards given at once (not twice over)
    assert ids.texts == once_ids.texts
    # and the model guarded first still has its own guards alone
    ids.texts.clear()
    _call(inner, f"mail {EMAIL}, call {PHONE}, id EMP-654321", mode)
    sent = str(model.requests[-1]["messages"][0].content)
    assert EMAIL not in sent and "EMP-654321" not in sent and PHONE in sent, sent
    assert sum("EMP-654321" in t for t in ids.texts) == 1, ids.texts


def test_a_guarded_model_serves_each_agent_call_with_its_own_guards(mode: str) -> None:
    model = ScriptedChatModel(default=AIMessage("ok"))
    ids = _Counted()
    standing = guard_model(model, PIIMiddleware(["email"]))
    agent = create_agent(
        standing, middleware=[PIIMiddleware("employee_id", detector=ids), PIIMiddleware(["phone"])]
    )
    per_call: list[int] = []
    for i in range(4):
        ids.texts.clear()
        state = {"messages": [HumanMessage(f"mail {EMAIL}, call {PHONE}, id EMP-12345{i}")]}
        if mode == "sync":
            agent.invoke(state)
        else:
            asyncio.run(agent.ainvoke(state))
        sent = str(model.requests[-1]["messages"][0].content)
        assert EMAIL not in sent and PHONE not in sent and "EMP-" not in sent, sent
        per_call.append(len(ids.texts))
    assert len(set(per_call[1:])) == 1, per_call  # no call's guards stay for the next
    # the model alone still handles its own types only
    _call(standing, f"mail {EMAIL}, call {PHONE}, id EMP-999999", mode)
    sent = str(model.requests[-1]["messages"][0].content)
    assert EMAIL not in sent and PHONE in sent and "EMP-999999" in sent, sent


@pytest.mark.filterwarnings("ignore::guardrails.order.GuardrailOrderWarning")
@pytest.mark.parametrize("pii_first", [True, False])
def test_a_guarded_model_a_fallback_turns_to_keeps_its_guards(mode: str, pii_first: bool) -> None:
    """A fallback model that ``guard_model`` returned, swapped in around or inside a
    ``PIIMiddleware``, gets that call's guards and keeps its own."""
    from guardrails import ModelFallbackMiddleware

    failing = ScriptedChatModel(default=RuntimeError("provider down"))
    backup = ScriptedChatModel(default=AIMessage("ok"))
    pii = PIIMiddleware(["phone"])
    fallback = ModelFallbackMiddleware(guard_model(backup, PIIMiddleware(["email"])))
    agent = create_agent(failing, middleware=[pii, fallback] if pii_first else [fallback, pii])
    state = {"messages": [HumanMessage(f"mail {EMAIL}, call {PHONE}")]}
    if mode == "sync":
        agent.invoke(state)
    else:
        asyncio.run(agent.ainvoke(state))
    sent = str(backup.requests[-1]["messages"][0].content)
    assert EMAIL not in sent and PHONE not in sent, sent


# ------------------------------------------------------------- a history edited mid-walk


def _edits_mid_walk(trigger: str, edit: Any) -> Any:
    """A detector of ``EMP-`` ids that, the first time it reads ``trigger``, makes ``edit``:
    what another thread editing the same message objects does while a pass walks them."""
    done: list[bool] = []

    def detector(text: str) -> list[dict[str, Any]]:
        if trigger in text and not done:
            done.append(True)
            edit()
        at = text.find("EMP-")
        return [] if at < 0 else [{"start": at, "end": at + 10, "score": 1.0}]

    return detector


def _run(agent: Any, history: list[Any], mode: str) -> None:
    state = {"messages": history}
    if mode == "sync":
        agent.invoke(state)
    else:
        asyncio.run(agent.ainvoke(state))


@pytest.mark.parametrize("where", ["content", "additional_kwargs"])
def test_a_message_edited_in_place_while_the_history_is_scanned_is_scanned_again(
    mode: str, where: str
) -> None:
    """A message the pass had read clean, edited in place (its content blocks, its extra
    fields) while the pass reads a later message, is not remembered as clean: the next call
    with the same message objects reads the edit and handles it."""
    earlier = AIMessage(
        content=[{"type": "text", "text": "fine, thanks"}], additional_kwargs={"note": "none"}
    )

    def edit() -> None:
        if where == "content":
            earlier.content[0]["text"] = "fine, my id is EMP-654321"  # type: ignore[index]
        else:
            earlier.additional_kwargs["note"] = "my id is EMP-654321"

    history = [
        HumanMessage("hello there"),
        earlier,
        HumanMessage("what is the weather like"),
        HumanMessage("and my id is EMP-123456"),  # handled: the history's clean part ends here
    ]
    model = ScriptedChatModel(default=AIMessage("ok"))
    detector = _edits_mid_walk("what is the weather like", edit)
    agent = create_agent(model, middleware=[PIIMiddleware("employee_id", detector=detector)])
    # (a warm-up with the same classes: the history's key is made once they are known)
    _run(agent, [HumanMessage("warm-up"), AIMessage("a"), HumanMessage("b"), AIMessage("c")], mode)
    for _ in range(2):
        _run(agent, history, mode)
    assert "EMP-654321" in str(earlier.content) + str(earlier.additional_kwargs)  # (edited)
    sent = model.requests[-1]["messages"]
    assert "EMP-654321" not in str([m.content for m in sent]), sent
    assert "EMP-654321" not in str([m.additional_kwargs for m in sent]), sent
    assert "EMP-123456" not in str([m.content for m in sent]), sent


class _Text(str):
    """A text of a ``str`` subclass: a value no message key can write exactly."""


def test_a_message_replaced_while_the_history_is_scanned_does_not_prove_what_it_held(
    mode: str,
) -> None:
    """A message whose content another thread replaces while a pass walks the history (after
    the pass took the history's key, before it reached that message) proves nothing of the
    content it held before: a later history holding that content again has it handled."""
    held = "and my id is EMP-123456"

    def history() -> list[Any]:
        return [
            HumanMessage("hello there"),
            AIMessage(content=[{"type": "text", "text": "fine, thanks"}]),
            HumanMessage("what is the weather like"),
            HumanMessage(held),
        ]

    first = history()

    def edit() -> None:  # (what another thread does to the same objects, mid-walk)
        first[3].__dict__["content"] = _Text("nothing to see here")

    model = ScriptedChatModel(default=AIMessage("ok"))
    detector = _edits_mid_walk("what is the weather like", edit)
    agent = create_agent(model, middleware=[PIIMiddleware("employee_id", detector=detector)])
    _run(agent, [HumanMessage("warm-up"), AIMessage("a"), HumanMessage("b"), AIMessage("c")], mode)
    _run(agent, first, mode)
    assert first[3].content == "nothing to see here"  # (replaced mid-walk)
    _run(agent, history(), mode)  # the history as it was: the id is there again
    sent = model.requests[-1]["messages"]
    assert "EMP-123456" not in str([m.content for m in sent]), sent


# ------------------------------------------------------------- the guarded view's writes


class _Logging(BaseChatModel):
    """A model that keeps a log of its calls through a property setter (its own code)."""

    log: list[int] = Field(default_factory=list)
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "logging"

    @property
    def last(self) -> int | None:
        return self.log[-1] if self.log else None

    @last.setter
    def last(self, value: int) -> None:
        self.log = [*self.log, value]

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        self.calls += 1
        self.last = len(self.log) + 1
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"call {self.last}"))])


def test_what_a_model_writes_on_itself_during_a_guarded_call_lands_once(mode: str) -> None:
    """The guarded view is the model: a field it sets reaches the model itself (its next call
    reads it), and a setter of its own runs once per assignment (not again on the model)."""
    model = _Logging()
    guarded_model = guard_model(model, PIIMiddleware(["email"]))
    answers = [_call(guarded_model, f"hi {i}", mode).content for i in range(3)]
    assert answers == ["call 1", "call 2", "call 3"]
    assert model.log == [1, 2, 3] and model.calls == 3
    agent = create_agent(_Logging(), middleware=[PIIMiddleware(["email"])])
    state = {"messages": [HumanMessage(f"mail {EMAIL}")]}
    for _ in range(2):
        out = agent.invoke(state) if mode == "sync" else asyncio.run(agent.ainvoke(state))
    assert out["messages"][-1].content == "call 2"


# ------------------------------------------------------------- restore_output: which answer


class _NoteAfterTheAnswer(AgentMiddleware):  # type: ignore[type-arg]
    """A layer inside the guardrail that adds a message after the model's answer."""

    @staticmethod
    def _noted(response: Any) -> Any:
        from langchain.agents.middleware.types import ModelResponse

        return ModelResponse(
            result=[*response.result, HumanMessage("(a note the layer adds)")],
            structured_response=response.structured_response,
        )

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return self._noted(handler(request))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return self._noted(await handler(request))


def test_restore_output_restores_the_final_answer_only(mode: str, memory_saver: Any) -> None:
    """``restore_output`` puts real values back into the final answer (the AI message with no
    tool calls), also when a layer inside adds a message after it, and never into an AI
    message that calls tools (the agent goes on: that text stays pseudonymized in state)."""
    from tests.support import tool

    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return "found"

    model = ScriptedChatModel(
        responses=[
            AIMessage(
                "I will look up <EMAIL_1>.",
                tool_calls=[{"name": "lookup", "args": {"query": "x"}, "id": "c1"}],
            ),
            AIMessage("Done for <EMAIL_1>."),
        ]
    )
    agent = create_agent(
        model,
        tools=[lookup],
        checkpointer=memory_saver,
        middleware=[
            PIIMiddleware("email", strategy="pseudonymize", restore_output=True),
            _NoteAfterTheAnswer(),
        ],
    )
    config = {"configurable": {"thread_id": "restore"}}
    payload = {"messages": [HumanMessage(f"write {EMAIL}")]}
    updates: list[Any] = []
    if mode == "sync":
        updates = list(agent.stream(payload, config, stream_mode="updates"))
    else:

        async def collect() -> list[Any]:
            return [u async for u in agent.astream(payload, config, stream_mode="updates")]

        updates = asyncio.run(collect())
    # what the model node wrote, answer by answer (the state is pseudonymized again later)
    written = [
        m
        for update in updates
        for node, value in update.items()
        if node == "model"
        for part in (value if isinstance(value, list) else [value])
        for m in ((part.get("messages") if isinstance(part, dict) else None) or [])
        if isinstance(m, AIMessage)
    ]
    calling = [m for m in written if m.tool_calls]
    assert calling and all(m.content == "I will look up <EMAIL_1>." for m in calling), calling
    final = agent.get_state(config).values["messages"]
    answer = [m for m in final if isinstance(m, AIMessage)][-1]
    assert answer.content == f"Done for {EMAIL}.", answer.content


class _NoAnswer(AgentMiddleware):  # type: ignore[type-arg]
    """A layer inside the guardrail that answers with no message (LangChain accepts it)."""

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        from langchain.agents.middleware.types import ModelResponse

        handler(request)
        return ModelResponse(result=[])

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        from langchain.agents.middleware.types import ModelResponse

        await handler(request)
        return ModelResponse(result=[])


def test_restore_output_passes_on_an_empty_answer(mode: str) -> None:
    from tests.support import invoke

    agent = create_agent(
        ScriptedChatModel(default=AIMessage("Done for <EMAIL_1>.")),
        middleware=[
            PIIMiddleware("email", strategy="pseudonymize", restore_output=True),
            _NoAnswer(),
        ],
    )
    out = invoke(agent, {"messages": [HumanMessage(f"write {EMAIL}")]}, mode, {})
    assert [type(m) for m in out["messages"]] == [HumanMessage]


# ------------------------------------------------------------- the stream's held-back text


def _strings(root: Any) -> list[str]:
    """Every string reachable from ``root`` through containers and object attributes."""
    seen: set[int] = set()
    out: list[str] = []
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            out.append(obj)
        elif isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            todo.extend(obj)
        elif hasattr(obj, "__dict__") and obj is root:
            todo.extend(vars(obj).values())
    return out


@pytest.mark.parametrize("end", ["finalize", "fail"])
def test_a_stream_that_ends_keeps_nothing_it_held_back(end: str) -> None:
    """The stream transformer holds the last characters of a text back (a value may still be
    arriving); once the stream ends (finished or failed) it keeps none of them: the raw tail
    of a tool's output or of a message does not outlive the run in memory."""
    mw = PIIMiddleware(["email"], apply_to_output=True)
    (factory,) = mw.transformers
    transformer = factory(())
    tail = f"the last words mention {EMAIL} and end"
    transformer.process(
        {
            "method": "tools",
            "params": {"data": {"event": "tool-output-delta", "tool_call_id": "c1", "delta": tail}},
        }
    )
    transformer.process(
        {
            "method": "messages",
            "params": {
                "data": (
                    {
                        "event": "content-block-delta",
                        "index": 0,
                        "delta": {"type": "text-delta", "text": tail},
                    },
                    {"run_id": "r1"},
                )
            },
        }
    )
    assert any("mention" in s for s in _strings(transformer))  # (held back meanwhile)
    if end == "finalize":
        transformer.finalize()
    else:
        transformer.fail(RuntimeError("stopped"))
    assert not any("mention" in s for s in _strings(transformer))


# ------------------------------------------------------------- quoted-printable bodies


@pytest.mark.parametrize(
    "body",
    [
        "Contact: jane.doe@exam=\nple.com for details",  # a soft line break inside the value
        "Contact: jane.doe@exam=\r\nple.com for details",
        "Contact: jane.doe=40example.com for details",  # "@" written as =40
        "Contact: jane=2Edoe=40example=2Ecom for details",
    ],
)
def test_a_value_in_a_quoted_printable_body_is_handled(mode: str, body: str) -> None:
    """A MIME body in quoted-printable (a value split by a soft line break, or its bytes
    written as ``=XX``) reaches the model with the value handled."""
    from tests.support import invoke

    model = ScriptedChatModel(default=AIMessage("ok"))
    agent = create_agent(model, middleware=[PIIMiddleware(["email"])])
    invoke(agent, {"messages": [HumanMessage(body)]}, mode, {})
    sent = str(model.requests[-1]["messages"][0].content)
    assert "[REDACTED_EMAIL]" in sent, sent
    for piece in ("jane.doe@exam", "ple.com", "doe=40", "jane=2Edoe"):
        assert piece not in sent, sent


# ------------------------------------------------------------- a history with a value, again


@pytest.mark.parametrize("twice", ["same objects", "equal objects"])
def test_a_history_holding_a_value_is_handled_on_every_call(mode: str, twice: str) -> None:
    """A history of four messages or more that holds a value proves nothing clean from that
    message on: the same history sent again (the same message objects, or equal ones) has
    its value handled again, whichever message holds it and however it is written."""

    def history() -> list[Any]:
        return [
            HumanMessage("hello there"),
            AIMessage("hi, how can I help"),
            HumanMessage(f"write to {EMAIL}"),
            AIMessage(
                f"I will write to {EMAIL}",
                tool_calls=[{"name": "send", "args": {"to": "x"}, "id": "c1"}],
            ),
            HumanMessage("thanks"),
        ]

    model = ScriptedChatModel(default=AIMessage("ok"))
    guarded_model = guard_model(model, PIIMiddleware(["email"]))
    first = history()
    for _ in range(3):
        sent = first if twice == "same objects" else history()
        if mode == "sync":
            guarded_model.invoke(sent)
        else:
            asyncio.run(guarded_model.ainvoke(sent))
        request = model.requests[-1]["messages"]
        assert EMAIL not in str([m.content for m in request]), request


def test_restore_output_is_audited_when_it_restores(mode: str, audit: Any) -> None:
    """A restored answer is audited (``pii.restored`` at ``output``, with its counts, never the
    value); an answer with no placeholder restores nothing and is not audited."""
    from tests.support import invoke

    for answer, restored in (("Done for <EMAIL_1>.", True), ("Done.", False)):
        audit.events.clear()
        agent = create_agent(
            ScriptedChatModel(default=AIMessage(answer)),
            middleware=[PIIMiddleware("email", strategy="pseudonymize", restore_output=True)],
        )
        out = invoke(agent, {"messages": [HumanMessage(f"write {EMAIL}")]}, mode, {})
        assert out["messages"][-1].content == answer.replace("<EMAIL_1>", EMAIL)
        events = [e for e in audit.of("pii.restored") if e.get("where") == "output"]
        if restored:
            assert len(events) == 1 and events[0]["entities"] == {"email": 1}, events
            assert EMAIL not in str(events)
        else:
            assert events == [], events
