"""More promises of retry and error classification (issue 29, seed-7 survivors of ``retry``).

- ``x-should-retry: true`` from the server makes an error retryable that is not by its status
  (a 400): the real OpenAI client over respx, sync and async.
- A status is an HTTP status from 100 to 599 inclusive; an exception's ``headers`` that are not a
  mapping are ignored, not a crash.
- At the deadline (``max_elapsed``) an attempt cancelled for running past it ends the retry with
  ``on_failure`` even when ``retry_on`` does not name ``TimeoutError``; before the deadline a
  ``TimeoutError`` that ``retry_on`` does not name propagates at once, not retried.
- A server asking for a wait longer than ``max_delay`` is the reason the retry stopped, also on
  the last allowed attempt.
- Audit events name the model by its name, not its class.
- ``ToolRetryMiddleware`` lets a call of an unknown tool through to LangChain's own error message.
- ``on_failure``'s deprecated spellings warn at the caller's line (a DeprecationWarning attributed
  to the package is hidden by Python's default filters).
- ``PIIDetectionError`` built as LangChain's (``pii_type, matches``) keeps the matches and counts
  them.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import pytest
import respx
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.errors import PIIDetectionError, classify
from guardrails.retry import ModelRetryMiddleware, ToolRetryMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import error, invoke, ok, tool


def _ask(agent: Any, mode: str) -> Any:
    return invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1]


def _no_sleep(mw: Any) -> None:
    async def asleep(seconds: float) -> None:
        del seconds

    mw._sleep, mw._asleep = (lambda seconds: None), asleep


def test_x_should_retry_true_makes_a_400_retryable(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[error(400, {"x-should-retry": "true"}), ok("done")]
    )
    mw = ModelRetryMiddleware(jitter=False, initial_delay=0.01)
    _no_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    assert _ask(agent, mode).content == "done"
    assert route.call_count == 2
    (attempt,) = audit.of("retry.attempt")
    assert attempt["status"] == 400


def test_a_400_without_the_header_is_not_retried(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=[error(400), ok("done")])
    mw = ModelRetryMiddleware(jitter=False, on_failure="error")
    _no_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    with pytest.raises(Exception, match="400"):
        _ask(agent, mode)
    assert route.call_count == 1


class StatusError(Exception):
    def __init__(self, status: int, headers: Any = None) -> None:
        super().__init__(f"status {status}")
        self.status_code = status
        self.headers = headers


@pytest.mark.parametrize(
    ("status", "seen"), [(99, None), (100, 100), (429, 429), (599, 599), (600, None)]
)
def test_a_status_is_one_from_100_to_599(status: int, seen: int | None) -> None:
    assert classify(StatusError(status)).status == seen


@pytest.mark.parametrize("headers", [[("retry-after", "3")], "retry-after: 3", 42])
def test_headers_that_are_not_a_mapping_are_ignored(headers: Any) -> None:
    info = classify(StatusError(503, headers))
    assert (info.retryable, info.status, info.retry_after) == (True, 503, None)


def test_an_attempt_cancelled_at_the_deadline_ends_with_on_failure(audit: AuditCapture) -> None:
    # async only: sync cannot interrupt a running call (docs/retry.md)
    def slow(_: Any) -> str:
        time.sleep(1.0)
        return "late"

    model = ScriptedChatModel(responses=[], default=slow)
    mw = ModelRetryMiddleware(
        retry_on=(ModelAPIError,), max_elapsed=0.2, on_failure="continue", jitter=False
    )
    agent = create_agent(model, middleware=[mw])
    last = asyncio.run(agent.ainvoke({"messages": [("user", "hi")]}))["messages"][-1]
    assert last.content.startswith("Model call failed after 1 attempt with TimeoutError")
    (event,) = audit.of("retry.exhausted")
    assert event["reason"] == "max_elapsed"


def test_a_timeout_error_retry_on_does_not_name_propagates_before_the_deadline(
    mode: str,
) -> None:
    model = ScriptedChatModel(responses=[TimeoutError("the client's own timeout")], default="ok")
    mw = ModelRetryMiddleware(
        retry_on=(ModelAPIError,), max_elapsed=60, on_failure="continue", jitter=False
    )
    _no_sleep(mw)
    agent = create_agent(model, middleware=[mw])
    with pytest.raises(TimeoutError, match="own timeout"):
        _ask(agent, mode)
    assert model.calls == 1


def test_retry_after_over_max_delay_is_the_reason_on_the_last_attempt(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    openai_mock.post("/chat/completions").mock(
        side_effect=[error(429, {"Retry-After": "120"}), ok("done")]
    )
    mw = ModelRetryMiddleware(max_retries=0, max_delay=10, jitter=False)
    _no_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    assert _ask(agent, mode).content.startswith("Model call failed after 1 attempt")
    (event,) = audit.of("retry.exhausted")
    assert event["reason"] == "retry_after_exceeds_max_delay"


def test_audit_events_name_the_model_by_its_name(mode: str, audit: AuditCapture) -> None:
    model = ScriptedChatModel(
        responses=[ConnectionError("down")], default="ok", model_name="gpt-named"
    )
    mw = ModelRetryMiddleware(jitter=False)
    _no_sleep(mw)
    assert _ask(create_agent(model, middleware=[mw]), mode).content == "ok"
    (attempt,) = audit.of("retry.attempt")
    assert attempt["model"] == "gpt-named"


@tool
def known(q: str) -> str:
    """A tool that exists."""
    return f"known {q}"


def test_a_call_of_an_unknown_tool_gets_langchains_own_error(mode: str) -> None:
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("missing", {"q": "x"})])], default="done"
    )
    agent = create_agent(model, tools=[known], middleware=[ToolRetryMiddleware()])
    messages = invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"]
    (result,) = [m for m in messages if isinstance(m, ToolMessage)]
    assert result.status == "error" and "missing" in str(result.content)
    assert messages[-1].content == "done"


@pytest.mark.parametrize("cls", [ModelRetryMiddleware, ToolRetryMiddleware])
@pytest.mark.parametrize("spelling", ["raise", "return_message"])
def test_a_deprecated_on_failure_warns_at_the_callers_line(cls: Any, spelling: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cls(on_failure=spelling)
    (warning,) = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert warning.filename == __file__
    assert f"on_failure={spelling!r} is deprecated" in str(warning.message)


def test_pii_detection_error_built_as_langchains_keeps_its_matches() -> None:
    matches = [
        {"type": "email", "value": "a@example.com", "start": 0, "end": 13},
        {"type": "email", "value": "b@example.com", "start": 14, "end": 27},
    ]
    exc = PIIDetectionError("email", matches)
    assert exc.matches == matches
    assert exc.counts == {"email": 2}
    assert "email=2" in str(exc) and "a@example.com" not in str(exc)


@pytest.mark.parametrize("cls", [ModelRetryMiddleware, ToolRetryMiddleware])
def test_the_defaults_are_langchains(cls: Any) -> None:
    """LangChain's defaults (a drop-in), and ours where LangChain has no such setting:
    Retry-After respected, no deadline."""
    mw = cls()
    assert (mw.max_retries, mw.jitter, mw.respect_retry_after) == (2, True, True)
    assert (mw.backoff_factor, mw.initial_delay, mw.max_delay) == (2.0, 1.0, 60.0)
    assert (mw.on_failure, mw.max_elapsed) == ("continue", None)
