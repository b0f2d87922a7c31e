"""Retry promises at their boundaries (issue 29, the lead's outsider edits of round 4).

The real OpenAI client over respx, sync and async: what a careless edit of a boundary in
``guardrails.errors.classify`` or the retry loop would change for a user.
"""

from __future__ import annotations

from typing import Any

import pytest
import respx
from langchain.agents import create_agent

from guardrails.retry import ModelRetryMiddleware
from tests.conftest import AuditCapture
from tests.support import error, invoke, ok

OVERFLOW = "This model's maximum context length is 8192 tokens; your messages resulted in 9001."


def _ask(agent: Any, mode: str) -> Any:
    return invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1]


def _no_sleep(mw: Any) -> None:
    async def asleep(seconds: float) -> None:
        del seconds

    mw._sleep, mw._asleep = (lambda seconds: None), asleep


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_that_mentions_the_context_length_is_retried(
    mode: str, status: int, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    """A 5xx is the server's failure even when its text reads like a context-length refusal
    (a proxy quoting the upstream message): it may succeed on a second try."""
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[error(status, message=OVERFLOW), ok("done")]
    )
    mw = ModelRetryMiddleware(jitter=False, initial_delay=0.01)
    _no_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    assert _ask(agent, mode).content == "done"
    assert route.call_count == 2
    (attempt,) = audit.of("retry.attempt")
    assert attempt["status"] == status


def test_a_context_length_refusal_is_not_retried(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    """The control: the same text on a 400 is permanent (a retry would amplify it)."""
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[error(400, message=OVERFLOW), ok("done")]
    )
    mw = ModelRetryMiddleware(jitter=False, on_failure="error")
    _no_sleep(mw)
    agent = create_agent(chat_openai(), middleware=[mw])
    with pytest.raises(Exception, match="maximum context length"):
        _ask(agent, mode)
    assert route.call_count == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_timeout_exactly_at_the_deadline_ends_with_on_failure(mode: str) -> None:
    """The deadline is reached *at* ``max_elapsed``: an attempt that times out then ends the
    retries with ``on_failure`` (here an answer), even though ``retry_on`` names no
    TimeoutError; it does not escape as the raw exception."""
    clock = _Clock()

    def times_out(_: Any) -> str:
        clock.now = 105.0  # exactly start + max_elapsed
        raise TimeoutError("cancelled at the deadline")

    from guardrails.testing import ScriptedChatModel

    model = ScriptedChatModel(responses=[], default=times_out)
    mw = ModelRetryMiddleware(
        retry_on=(ValueError,), max_elapsed=5.0, on_failure="continue", jitter=False
    )
    mw._retrying.clock = clock
    _no_sleep(mw)
    agent = create_agent(model, middleware=[mw])
    last = _ask(agent, mode)
    assert last.content.startswith("Model call failed after 1 attempt with TimeoutError")
    assert model.calls == 1
