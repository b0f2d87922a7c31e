"""The promises of PII handling, part 15 (issue 29, round 8, seed 81).

* **A message a layer inside the guardrail adds reaches the model's callbacks handled**
  (``on_chat_model_start`` of a callback on the model: a tracer never sees the value), under
  redact, mask and hash, sync and async.
* **What a model's own binding hands the model is handled**: a chat model whose
  ``bind_tools`` returns its own ``RunnableBinding`` with its own ``invoke`` or ``ainvoke``
  (which may edit the messages, even in place) gets the provider-side pass.
* **A clean history is not written again**: a history whose messages (a tool-calling
  answer among them) hold nothing to handle leaves the model node's update with the model's
  answer alone, and the model gets the messages as they were.
* **A stream releases all it has but the last 128 characters, back to the start of a word**
  (``guardrails.pii.holdback.release_point``, what the streamed answer and the stream
  transformer release as text arrives): when the cut falls next to a space, everything before
  it goes out, from the very first character on (a stream of 129 characters releases its
  first one); when it falls inside a run of non-space characters shorter than the run limit
  (an address, a URL, an encoded layer), everything before that run goes out, even when the
  run starts at the second character. Nothing more is held than that.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableBinding
from langchain_core.utils.function_calling import convert_to_openai_tool

from guardrails import PIIMiddleware
from guardrails.pii.holdback import LOOKBACK, release_point
from guardrails.testing import ScriptedChatModel
from tests.support import invoke, tool
from tests.test_promises_pii import EMAIL, _dumps


@pytest.mark.parametrize("lead", [0, 1, 2, 5, 200])
def test_everything_but_the_last_128_characters_is_released_at_a_space(lead: int) -> None:
    for length in range(lead + LOOKBACK, lead + LOOKBACK + 4):
        raw = "a" * lead + " " + "b" * (length - lead)
        cut = len(raw) - LOOKBACK
        if raw[cut - 1] == " " or raw[cut] == " ":
            assert release_point(raw, []) == cut, (lead, length)
    raw = "a " + "b" * (LOOKBACK - 1)  # 129 characters: the first one goes out
    assert release_point(raw, []) == 1


@pytest.mark.parametrize("start", [1, 2, 7, 300, 900])
def test_a_run_the_cut_falls_in_is_held_from_its_start(start: int) -> None:
    for run in (LOOKBACK + 2, LOOKBACK + 50, 1000):
        raw = "w" * (start - 1) + " " + "x" * run  # a run of `run` characters from `start`
        assert release_point(raw, []) == start, (start, run)


def test_nothing_is_released_before_128_characters_follow_it() -> None:
    for length in (0, 1, 5, LOOKBACK - 1, LOOKBACK):
        assert release_point("a b " * (length // 4) + "c" * (length % 4), []) == 0, length


@pytest.mark.parametrize("run", [LOOKBACK + 1, LOOKBACK + 2, 300, 1000])
def test_a_run_from_the_text_s_start_is_held_whole(run: int) -> None:
    assert release_point("x" * run, []) == 0  # an address or a token still arriving
    assert release_point("x" * run + " " + "y" * LOOKBACK, []) == run + 1


# --------------------------------------------------------------------------- callbacks


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append(messages)


class _AddsAMessage(AgentMiddleware):
    """Listed after the guardrail (runs inside it): adds a message holding a value."""

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return handler(request.override(messages=[*request.messages, HumanMessage(EMAIL)]))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return await handler(request.override(messages=[*request.messages, HumanMessage(EMAIL)]))


@pytest.mark.parametrize("strategy", ["redact", "mask", "hash"])
def test_a_message_added_inside_the_guardrail_reaches_callbacks_handled(
    strategy: str, mode: str
) -> None:
    recorder = _Recorder()
    model = ScriptedChatModel(responses=["ok"], callbacks=[recorder])
    agent = create_agent(
        model, middleware=[PIIMiddleware("email", strategy=strategy), _AddsAMessage()]
    )
    invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    assert recorder.seen, "the model's callbacks ran"
    assert EMAIL not in _dumps(recorder.seen), "a callback saw the value"
    assert EMAIL not in _dumps(model.requests)


# --------------------------------------------------------------------------- a model's own binding


class _EditsSync(RunnableBinding):  # type: ignore[type-arg]
    """A model's own binding whose ``invoke`` edits the last message in place."""

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        input[-1].content += f" (reply to {EMAIL})"
        return super().invoke(input, config, **kwargs)


class _EditsAsync(RunnableBinding):  # type: ignore[type-arg]
    """The same in ``ainvoke`` alone."""

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        input[-1].content += f" (reply to {EMAIL})"
        return await super().ainvoke(input, config, **kwargs)


def test_what_a_model_s_own_binding_hands_the_model_is_handled(mode: str) -> None:
    binding = _EditsAsync if mode == "async" else _EditsSync

    class Model(ScriptedChatModel):
        def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
            return binding(bound=self, kwargs={"tools": [convert_to_openai_tool(t) for t in tools]})

    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        return "ok"

    model = Model(responses=["ok"])
    agent = create_agent(model, tools=[lookup], middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    (request,) = model.requests
    assert request["messages"][-1].content == "hello (reply to [REDACTED_EMAIL])"


# --------------------------------------------------------------------------- a clean history


def _clean_history() -> list[Any]:
    return [
        HumanMessage("look it up", id="h1"),
        AIMessage("", tool_calls=[{"name": "t", "args": {"q": "x"}, "id": "c1"}], id="a1"),
        ToolMessage("found nothing", tool_call_id="c1", id="t1"),
        HumanMessage("thanks", id="h2"),
    ]


def _updates(agent: Any, history: list[Any], mode: str) -> list[Any]:
    if mode == "async":

        async def collect() -> list[Any]:
            return [c async for c in agent.astream({"messages": history}, stream_mode="updates")]

        return asyncio.run(collect())
    return list(agent.stream({"messages": history}, stream_mode="updates"))


def test_a_clean_history_with_tool_calls_is_not_written_again(mode: str) -> None:
    model = ScriptedChatModel(responses=["ok"])
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    history = _clean_history()
    (update,) = _updates(agent, history, mode)
    (answer,) = update["model"]["messages"]  # the model's answer, and nothing else
    assert answer.content == "ok"
    sent = model.requests[0]["messages"]
    assert [m.id for m in sent] == ["h1", "a1", "t1", "h2"]
    assert sent[1].tool_calls == history[1].tool_calls
