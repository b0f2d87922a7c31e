"""Promises of the shared plumbing: audit events, their JSON lines, order warnings, ``compose``.

Public behaviour only (another helper may rewrite ``_core.py``, ``compose.py`` and ``audit.py``
for speed):

- an audit field is a scalar or a list/dict of scalars (bytes are refused, not spread into a list
  of numbers), nested at most two levels;
- ``JsonFormatter`` names the exception of a record that has one and nothing else (a record made
  with ``exc_info=(None, None, None)``, what ``logger.exception`` outside ``except`` gives, is
  formatted, not a crash);
- ``audit.configure()`` replaces only the handler it installed itself: a user's own handler on the
  audit logger stays;
- order warnings point at the caller's line; a retry that answers with a message
  (``on_failure='continue'``) inside a fallback warns, one that raises (``'error'``) or that sits
  outside the fallback, or a stack without a fallback, does not; a plain ``middleware=[...]`` list
  in a known-bad order warns at its first call, whichever of the two is the inner one;
- a middleware that happens to have a ``members`` tuple is not looked into as if it were a
  composed stack.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import warnings
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware

import guardrails.audit as audit_mod
from guardrails import (
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    ModelRetryMiddleware,
    compose,
)
from guardrails.audit import JsonFormatter, emit
from guardrails.order import GuardrailOrderWarning, check_order
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture
from tests.support import invoke

# ------------------------------------------------------------------ audit fields


@pytest.mark.parametrize("value", [b"raw bytes", bytearray(b"x"), {1, 2}.__iter__()])
def test_an_audit_field_that_is_not_plain_is_refused(value: Any) -> None:
    with pytest.raises(TypeError, match="audit field values"):
        emit("x.y", "G", thing=value)


def test_lists_in_a_dict_and_dicts_in_a_list_are_two_levels_and_allowed(
    audit: AuditCapture,
) -> None:
    emit("x.y", "G", by_type={"email": [1, 2]}, pairs=[{"a": 1}], tags=("t1", "t2"))
    (event,) = audit.of("x.y")
    assert event["by_type"] == {"email": [1, 2]}
    assert event["pairs"] == [{"a": 1}] and event["tags"] == ["t1", "t2"]


# ------------------------------------------------------------------ JSON lines


def _record(exc_info: Any) -> logging.LogRecord:
    return logging.LogRecord("guardrails.audit", logging.ERROR, __file__, 1, "m", (), exc_info)


def test_json_lines_name_the_exception_of_a_record() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        line = json.loads(JsonFormatter().format(_record(sys.exc_info())))
    assert line["exception"] == "ValueError"


def test_a_record_without_an_exception_is_formatted_without_one() -> None:
    line = json.loads(JsonFormatter().format(_record((None, None, None))))
    assert "exception" not in line and line["message"] == "m"


def test_configure_keeps_a_handler_the_user_added() -> None:
    logger = logging.getLogger(audit_mod.LOGGER_NAME)
    before = list(logger.handlers)
    mine = logging.StreamHandler(io.StringIO())
    logger.addHandler(mine)
    level, propagate = logger.level, logger.propagate
    try:
        first = audit_mod.configure(io.StringIO())
        second = audit_mod.configure(io.StringIO())
        assert mine in logger.handlers and second in logger.handlers
        assert first not in logger.handlers
    finally:
        for handler in list(logger.handlers):
            if handler not in before:
                logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


# ------------------------------------------------------------------ order warnings


def _backup() -> ScriptedChatModel:
    return ScriptedChatModel(responses=[], default="from backup", model_name="backup")


def test_an_order_warning_points_at_the_callers_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_order([ModelRetryMiddleware(), ModelCallLimitMiddleware(run_limit=3)])
    (warning,) = [w for w in caught if issubclass(w.category, GuardrailOrderWarning)]
    assert warning.filename == __file__


def _order(stack: list[Any]) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return check_order(stack, warn=False)


def test_a_retry_that_answers_inside_a_fallback_is_reported() -> None:
    (problem,) = _order(
        [ModelFallbackMiddleware(_backup()), ModelRetryMiddleware(on_failure="continue")]
    )
    assert "needs on_failure='error'" in problem


def _retry(on_failure: str) -> Any:
    return ModelRetryMiddleware(on_failure=on_failure)  # type: ignore[arg-type]


FINE_STACKS = {
    "error": lambda: [ModelFallbackMiddleware(_backup()), _retry("error")],
    "outside": lambda: [_retry("continue"), ModelFallbackMiddleware(_backup())],
    "no-fallback": lambda: [_retry("continue")],
    "other-kind": lambda: [ModelCallLimitMiddleware(run_limit=3), _retry("continue")],
}


@pytest.mark.parametrize("stack", FINE_STACKS.values(), ids=FINE_STACKS.keys())
def test_a_retry_that_raises_or_sits_outside_the_fallback_is_not_reported(stack: Any) -> None:
    assert _order(stack()) == []


def _limit_inside_retry() -> tuple[list[Any], str]:
    stack = [ModelRetryMiddleware(max_retries=0), ModelCallLimitMiddleware(run_limit=9)]
    return stack, "ModelCallLimitMiddleware should be listed before ModelRetryMiddleware"


def _answering_retry_inside_fallback() -> tuple[list[Any], str]:
    stack = [ModelFallbackMiddleware(_backup()), ModelRetryMiddleware(on_failure="continue")]
    return stack, "needs on_failure='error'"


@pytest.mark.parametrize("case", [_limit_inside_retry, _answering_retry_inside_fallback])
def test_a_plain_list_in_a_bad_order_warns_at_its_first_call(mode: str, case: Any) -> None:
    stack, expected = case()
    model = ScriptedChatModel(responses=[], default="ok")
    agent = create_agent(model, middleware=stack)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == "ok"
    texts = [str(w.message) for w in caught if issubclass(w.category, GuardrailOrderWarning)]
    assert any(expected in t for t in texts), texts


class HasMembers(AgentMiddleware[Any, Any, Any]):
    """Not a composed stack: a middleware with an attribute that happens to be called members."""

    def __init__(self, *members: Any) -> None:
        super().__init__()
        self.members = tuple(members)


def test_a_middleware_with_a_members_tuple_is_not_looked_into() -> None:
    bad_pair = (ModelRetryMiddleware(), ModelCallLimitMiddleware(run_limit=3))
    assert _order([HasMembers(*bad_pair)]) == []
    assert len(_order([compose(*bad_pair)])) == 1  # a composed stack is looked into


# ------------------------------------------------------------------ tool batches


def _run_tool(mw: Any, request: Any, mode: str, text: str) -> Any:
    """``mw``'s tool hook around a tool that answers ``text`` (sync or async)."""
    import asyncio

    from langchain_core.messages import ToolMessage

    def ran(r: Any) -> ToolMessage:
        return ToolMessage(text, tool_call_id=r.tool_call["id"])

    async def aran(r: Any) -> ToolMessage:
        return ran(r)

    if mode == "sync":
        return mw.wrap_tool_call(request, ran)
    return asyncio.run(mw.awrap_tool_call(request, aran))


def test_a_tool_call_outside_the_latest_batch_is_a_batch_of_one(mode: str) -> None:
    """A tool run outside the agent loop (its call is not in the latest AI message with tool
    calls) is judged alone: an older message that happens to hold its id is not its batch."""

    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langgraph.prebuilt.tool_node import ToolCallRequest

    from guardrails import ToolCallLimitMiddleware
    from guardrails.testing import tool_call

    c1, c2, c3 = (tool_call("t", {"q": i}, id=f"c{i}") for i in (1, 2, 3))
    state = {
        "messages": [
            HumanMessage("hi"),
            AIMessage("", tool_calls=[c1, c2]),
            ToolMessage("r", tool_call_id="c1"),
            ToolMessage("r", tool_call_id="c2"),
            AIMessage("", tool_calls=[c3]),
        ]
    }
    request = ToolCallRequest(tool_call=c2, tool=None, state=state, runtime=None)  # type: ignore[arg-type]
    mw = ToolCallLimitMiddleware(run_limit=1)

    result = _run_tool(mw, request, mode, "ran")
    messages = result.update["messages"]  # type: ignore[union-attr]
    assert [m.content for m in messages] == ["ran"]


def test_parallel_tool_calls_of_one_message_are_judged_as_one_batch(mode: str) -> None:
    """Three calls the model makes at once, under a run limit of two: exactly two run, whatever
    order the tool node starts them in (each call is judged with its batch, not alone against a
    state no parallel call has updated yet)."""
    from langchain_core.messages import AIMessage, ToolMessage

    from guardrails import ToolCallLimitMiddleware
    from guardrails.testing import ScriptedChatModel, tool_call
    from tests.support import invoke, tool

    ran: list[int] = []

    @tool
    def lookup(q: int) -> str:
        """Look something up."""
        ran.append(q)
        return f"r{q}"

    calls = [tool_call("lookup", {"q": i}, id=f"c{i}") for i in (1, 2, 3)]
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=calls), "done"])
    agent = create_agent(model, tools=[lookup], middleware=[ToolCallLimitMiddleware(run_limit=2)])
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    assert sorted(ran) == [1, 2], ran
    results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.content for m in results if m.content.startswith("r")] == ["r1", "r2"]
    assert sum("limit" in str(m.content).lower() for m in results) == 1


@pytest.mark.parametrize("behind", ["result", "ai-text"])
def test_a_tool_call_finds_its_batch_behind_results_already_in_the_state(
    mode: str, behind: str
) -> None:
    """The batch of a call is found in the latest AI message with tool calls even when results
    of that batch already follow it: under a run limit of one, the second call of the pair is
    the one refused."""

    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langgraph.prebuilt.tool_node import ToolCallRequest

    from guardrails import ToolCallLimitMiddleware
    from guardrails.testing import tool_call

    c3, c4 = (tool_call("t", {"q": i}, id=f"c{i}") for i in (3, 4))
    after = [ToolMessage("r", tool_call_id="c3")]
    if behind == "ai-text":  # an AI message without tool calls is not a batch
        after.append(AIMessage("thinking"))
    state = {"messages": [HumanMessage("hi"), AIMessage("", tool_calls=[c3, c4]), *after]}
    request = ToolCallRequest(tool_call=c4, tool=None, state=state, runtime=None)  # type: ignore[arg-type]

    mw = ToolCallLimitMiddleware(run_limit=1)
    result = _run_tool(mw, request, mode, "ran")
    messages = result.update["messages"]  # type: ignore[union-attr]
    assert [m.content for m in messages] != ["ran"] and "limit" in str(messages[0].content).lower()


@pytest.mark.parametrize("state", ["shows-1", "no-messages", "empty"])
def test_a_tool_run_alone_mints_the_next_placeholder(mode: str, state: str) -> None:
    """A tool call outside any batch of the state (run by hand, or with no messages at all) is
    a batch of one: under ``pseudonymize`` its first new value gets the number after the
    highest one the conversation shows, never one already bound to someone else."""

    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.prebuilt.tool_node import ToolCallRequest

    from guardrails import PIIMiddleware
    from guardrails.testing import tool_call

    c1, c9 = tool_call("t", {}, id="c1"), tool_call("t", {}, id="c9")
    states: dict[str, Any] = {
        "shows-1": {"messages": [HumanMessage("hi <EMAIL_1>"), AIMessage("", tool_calls=[c1])]},
        "no-messages": {"messages": []},
        "empty": {},
    }
    request = ToolCallRequest(tool_call=c9, tool=None, state=states[state], runtime=None)  # type: ignore[arg-type]
    mw = PIIMiddleware("email", strategy="pseudonymize", apply_to_tool_results=True)

    result = _run_tool(mw, request, mode, "write to bob@example.com")
    (message,) = result.update["messages"]  # type: ignore[union-attr]
    expected = "<EMAIL_2>" if state == "shows-1" else "<EMAIL_1>"
    assert message.content == f"write to {expected}"


# ------------------------------------------------------------------ telemetry


# slow: another Python process
@pytest.mark.slow
def test_a_meter_provider_named_by_the_environment_is_listened_to() -> None:
    """``OTEL_PYTHON_METER_PROVIDER`` (OpenTelemetry's own setting) names the provider: the
    counters go there, though the application never called ``set_meter_provider``."""
    import os
    import subprocess

    script = (
        "import guardrails.telemetry as t\n"
        "found = t.targets()\n"
        "assert found is not None and found.counters, found\n"
        "print('ok')\n"
    )
    env = {**os.environ, "OTEL_PYTHON_METER_PROVIDER": "sdk_meter_provider"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=".",
        env=env,
    )
    assert done.stdout.strip() == "ok", done.stderr
