"""Retry middleware through a real ChatOpenAI whose HTTP goes to respx, sync and async."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.errors import GuardrailConfigError
from guardrails.retry import ModelRetryMiddleware, ToolRetryMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import error, invoke, ok, tool


def _with_fake_sleep(mw: Any) -> list[float]:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    mw._sleep = sleep
    mw._asleep = asleep
    return slept


def test_500_500_200_succeeds_with_three_requests(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[error(500), error(500), ok("finally")]
    )
    mw = ModelRetryMiddleware(max_retries=2, jitter=False)
    slept = _with_fake_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    result = invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert result["messages"][-1].content == "finally"
    assert route.call_count == 3
    assert slept == [1.0, 2.0]
    attempts = audit.of("retry.attempt")
    assert [(e["attempt"], e["status"], e["delay_s"]) for e in attempts] == [
        (1, 500, 1.0),
        (2, 500, 2.0),
    ]


def test_retry_after_is_honoured(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    openai_mock.post("/chat/completions").mock(
        side_effect=[error(429, {"Retry-After": "2"}), ok("done")]
    )
    mw = ModelRetryMiddleware(initial_delay=0.1, jitter=False)
    slept = _with_fake_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == "done"
    assert slept == [2.0]


def test_retry_after_beyond_max_delay_gives_up(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[error(429, {"Retry-After": "120"}), ok("never")]
    )
    mw = ModelRetryMiddleware(max_delay=10)
    slept = _with_fake_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    last = invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1]
    assert last.content.startswith("Model call failed after 1 attempt with")
    assert route.call_count == 1 and slept == []
    assert audit.of("retry.exhausted")[0]["reason"] == "retry_after_exceeds_max_delay"


@pytest.mark.parametrize("on_failure", ["continue", "error"])
def test_401_is_never_retried(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, on_failure: str
) -> None:
    route = openai_mock.post("/chat/completions").mock(side_effect=[error(401), ok("no")])
    mw = ModelRetryMiddleware(on_failure=on_failure)  # type: ignore[arg-type]
    slept = _with_fake_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    with pytest.raises(Exception) as info:
        invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert getattr(info.value, "status_code", None) == 401
    assert route.call_count == 1 and slept == []


def test_exhausted_with_error_raises(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(return_value=error(503))
    mw = ModelRetryMiddleware(max_retries=1, on_failure="error")
    _with_fake_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    with pytest.raises(Exception) as info:
        invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert getattr(info.value, "status_code", None) == 503
    assert route.call_count == 2


def test_read_timeout_is_retried(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[httpx.ReadTimeout("slow"), ok("made it")]
    )
    mw = ModelRetryMiddleware()
    _with_fake_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == "made it"
    assert route.call_count == 2


def test_max_elapsed_stops_retries_early(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    route = openai_mock.post("/chat/completions").mock(return_value=error(503))
    mw = ModelRetryMiddleware(
        max_retries=10, initial_delay=4, backoff_factor=2, jitter=False, max_elapsed=10
    )
    now = [100.0]
    mw._retrying.clock = lambda: now[0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    async def asleep(seconds: float) -> None:
        sleep(seconds)

    mw._sleep, mw._asleep = sleep, asleep  # type: ignore[method-assign]
    agent = create_agent(chat_openai(), middleware=[mw])
    invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert slept == [4.0]  # the next sleep (8 s) would end at 12 s > 10 s: not started
    assert route.call_count == 2
    assert audit.of("retry.exhausted")[0]["reason"] == "max_elapsed"


def test_callable_on_failure_and_continue_message(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    openai_mock.post("/chat/completions").mock(return_value=error(500))
    mw = ModelRetryMiddleware(max_retries=0, on_failure=lambda exc: f"sorry ({type(exc).__name__})")
    agent = create_agent(chat_openai(), middleware=[mw])
    last = invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1]
    assert last.content == "sorry (OpenAIAPIError)"  # langchain-openai wraps the SDK error


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"initial_delay": -1}, "initial_delay"),
        ({"max_delay": -2}, "max_delay"),
        ({"backoff_factor": -1}, "backoff_factor"),
        ({"on_failure": "ignore"}, "on_failure"),
        ({"max_elapsed": -1}, "max_elapsed"),
        ({"retry_on": ("x",)}, "retry_on"),
    ],
)
def test_construction_errors(kwargs: dict[str, Any], message: str) -> None:
    for cls in (ModelRetryMiddleware, ToolRetryMiddleware):
        with pytest.raises(GuardrailConfigError, match=message):
            cls(**kwargs)


# ------------------------------------------------------------------ tools

CALLS: list[str] = []


@tool
def flaky(q: str) -> str:
    """Fails twice, then works."""
    CALLS.append(q)
    if len(CALLS) <= 2:
        raise ConnectionError("network blip")
    return f"ok {q}"


@tool
def broken(q: str) -> str:
    """Always fails."""
    CALLS.append(q)
    raise TimeoutError("down")


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


def _tool_agent(mw: Any, name: str) -> tuple[Any, ScriptedChatModel]:
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call(name, {"q": "x"})]), "done"]
    )
    return create_agent(model, tools=[flaky, broken], middleware=[mw]), model


def test_tool_fails_twice_then_succeeds(mode: str, audit: AuditCapture) -> None:
    mw = ToolRetryMiddleware(max_retries=2)
    _with_fake_sleep(mw)
    agent, _ = _tool_agent(mw, "flaky")
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    (msg,) = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert msg.content == "ok x" and len(CALLS) == 3
    assert [e["tool"] for e in audit.of("retry.attempt")] == ["flaky", "flaky"]


def test_tool_exhaustion_gives_error_tool_message(mode: str) -> None:
    mw = ToolRetryMiddleware(max_retries=1)
    _with_fake_sleep(mw)
    agent, model = _tool_agent(mw, "broken")
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    (msg,) = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert msg.status == "error"
    assert msg.content == (
        "Tool 'broken' failed after 2 attempts with TimeoutError: down. Please try again."
    )
    assert result["messages"][-1].content == "done" and model.calls == 2


def test_tools_filter(mode: str) -> None:
    mw = ToolRetryMiddleware(max_retries=3, tools=["broken"])
    _with_fake_sleep(mw)
    agent, _ = _tool_agent(mw, "flaky")
    with pytest.raises(ConnectionError):  # flaky is not in the filter: no retry, no handling
        invoke(agent, {"messages": [("user", "go")]}, mode)
    assert len(CALLS) == 1
    by_tool = ToolRetryMiddleware(tools=[flaky])
    assert by_tool._tool_filter == frozenset({"flaky"})


# ------------------------------------------------------------------ the default retry_on


def test_default_retries_what_langchain_retries(mode: str, audit: AuditCapture) -> None:
    """An unclassified error (a ValueError from a provider SDK) is retried, as LangChain does."""
    model = ScriptedChatModel(responses=[ValueError("sdk hiccup"), "recovered"])
    mw = ModelRetryMiddleware(max_retries=2)
    slept = _with_fake_sleep(mw)
    agent = create_agent(model, middleware=[mw])
    assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == (
        "recovered"
    )
    assert model.calls == 2 and len(slept) == 1
    assert audit.of("retry.attempt")[0]["error"] == "ValueError"


def test_default_exhaustion_on_unclassified_error_gives_the_message(mode: str) -> None:
    model = ScriptedChatModel(responses=[], default=RuntimeError("always"))
    mw = ModelRetryMiddleware(max_retries=1)
    _with_fake_sleep(mw)
    agent = create_agent(model, middleware=[mw])
    last = invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1]
    assert last.content == "Model call failed after 2 attempts with RuntimeError: always"


def test_default_retry_on_matches_langchain_except_permanent_errors() -> None:
    from langchain.agents.middleware._retry import default_retry_on as lc_default
    from langchain_core.exceptions import (
        ModelAuthenticationError,
        ModelInvalidRequestError,
        ModelRateLimitError,
    )
    from langgraph.errors import GraphInterrupt

    from guardrails.errors import GuardrailError, PIIDetectionError
    from guardrails.retry import default_retry_on

    class StatusError(Exception):
        def __init__(self, status: int) -> None:
            super().__init__(f"status {status}")
            self.status_code = status

    same = [
        ValueError("x"),
        RuntimeError("x"),
        KeyError("x"),
        ConnectionError("x"),
        TimeoutError("x"),
        ModelRateLimitError("x"),
        ModelAuthenticationError("x"),
        ModelInvalidRequestError("x"),
        StatusError(500),
        StatusError(429),
    ]
    for exc in same:
        assert default_retry_on(exc) == lc_default(exc), exc
    permanent = [
        StatusError(400),
        StatusError(401),
        StatusError(403),
        StatusError(404),
        StatusError(422),
        ValueError("This model's maximum context length is 8192 tokens"),
        GuardrailError("x"),
        PIIDetectionError("email"),
        GraphInterrupt(),
    ]
    for exc in permanent:
        assert default_retry_on(exc) is False, exc
    assert default_retry_on(KeyboardInterrupt()) is False  # not an Exception: never retried
    assert ModelRetryMiddleware().retry_on is default_retry_on
    assert ToolRetryMiddleware().retry_on is default_retry_on


def test_tool_default_retries_unclassified_but_not_guardrail_errors(mode: str) -> None:
    from guardrails.errors import PermissionDeniedError

    calls: list[str] = []

    @tool
    def odd(q: str) -> str:
        """Raises ValueError first, then a permission refusal."""
        calls.append(q)
        if len(calls) == 1:
            raise ValueError("bad parse")
        raise PermissionDeniedError("read denied")

    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=[tool_call("odd", {"q": "x"})])])
    mw = ToolRetryMiddleware(max_retries=3)
    _with_fake_sleep(mw)
    agent = create_agent(model, tools=[odd], middleware=[mw])
    with pytest.raises(PermissionDeniedError):
        invoke(agent, {"messages": [("user", "go")]}, mode)
    assert len(calls) == 2  # the ValueError was retried once; the guardrail's refusal was not


# ------------------------------------------------------------------ max_elapsed is a deadline


class _SlowModel(ScriptedChatModel):
    """Each call takes ``delay`` seconds (really: asyncio.sleep / time.sleep), then fails."""

    delay: float = 0.0

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        import time

        self._calls += 1
        time.sleep(self.delay)
        raise ConnectionError("upstream hung")

    async def _agenerate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        import asyncio

        self._calls += 1
        await asyncio.sleep(self.delay)
        raise ConnectionError("upstream hung")


def test_async_max_elapsed_cancels_the_attempt_running_at_the_deadline(
    audit: AuditCapture,
) -> None:
    import asyncio
    import time

    model = _SlowModel(responses=[], delay=30.0)
    mw = ModelRetryMiddleware(max_retries=5, initial_delay=0.05, jitter=False, max_elapsed=1.0)
    agent = create_agent(model, middleware=[mw])
    started = time.monotonic()
    result = asyncio.run(agent.ainvoke({"messages": [("user", "hi")]}))
    elapsed = time.monotonic() - started
    assert elapsed < 10.0, elapsed  # was 30 s per attempt, times 6 attempts
    assert model.calls == 1
    assert result["messages"][-1].content.startswith(
        "Model call failed after 1 attempt with TimeoutError"
    )
    (event,) = audit.of("retry.exhausted")
    assert event["reason"] == "max_elapsed"


def test_max_elapsed_counts_attempts_not_only_sleeps(mode: str, audit: AuditCapture) -> None:
    model = _SlowModel(responses=[], delay=0.6)
    mw = ModelRetryMiddleware(max_retries=10, initial_delay=0.05, jitter=False, max_elapsed=1.0)
    agent = create_agent(model, middleware=[mw])
    invoke(agent, {"messages": [("user", "hi")]}, mode)
    # attempt 1 ends at 0.6 s, attempt 2 starts at 0.65 s; in async it is cancelled at 1.0 s, in
    # sync it ends at 1.25 s; either way no third attempt starts past the deadline
    assert model.calls == 2
    assert audit.of("retry.exhausted")[0]["reason"] == "max_elapsed"


def test_max_elapsed_must_be_positive() -> None:
    with pytest.raises(GuardrailConfigError, match="max_elapsed must be > 0"):
        ModelRetryMiddleware(max_elapsed=0)
