"""The provider error classifier, against real exceptions raised by the openai / anthropic SDKs."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import pytest
import respx

from guardrails.errors import (
    GuardrailError,
    PIIDetectionError,
    classify,
    is_retryable,
    parse_retry_after,
)
from tests.support import error

ANTHROPIC_BASE = "http://anthropic.test"


def _openai_error(router: respx.MockRouter, chat_openai: Any, response: Any) -> BaseException:
    if isinstance(response, httpx.Response):
        router.post("/chat/completions").mock(return_value=response)
    else:
        router.post("/chat/completions").mock(side_effect=response)
    model = chat_openai()
    with pytest.raises(Exception) as info:
        model.invoke("hello")
    return info.value


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
    ],
)
def test_openai_status_errors(
    openai_mock: respx.MockRouter, chat_openai: Any, status: int, retryable: bool
) -> None:
    exc = _openai_error(openai_mock, chat_openai, error(status))
    info = classify(exc)
    assert info.status == status
    assert info.retryable is retryable
    assert info.kind == "status"


def test_openai_retry_after_seconds(openai_mock: respx.MockRouter, chat_openai: Any) -> None:
    exc = _openai_error(openai_mock, chat_openai, error(429, {"Retry-After": "7"}))
    info = classify(exc)
    assert (info.retryable, info.status, info.retry_after) == (True, 429, 7.0)


def test_openai_retry_after_ms_wins(openai_mock: respx.MockRouter, chat_openai: Any) -> None:
    exc = _openai_error(
        openai_mock, chat_openai, error(503, {"retry-after-ms": "1500", "Retry-After": "9"})
    )
    assert classify(exc).retry_after == 1.5


def test_openai_retry_after_http_date(openai_mock: respx.MockRouter, chat_openai: Any) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    exc = _openai_error(openai_mock, chat_openai, error(429, {"Retry-After": when}))
    delay = classify(exc).retry_after
    assert delay is not None and 27 <= delay <= 31


def test_openai_should_retry_header_overrides(
    openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    exc = _openai_error(openai_mock, chat_openai, error(500, {"x-should-retry": "false"}))
    assert classify(exc).retryable is False


def test_openai_context_length_is_not_retryable(
    openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    body = {
        "error": {
            "message": "This model's maximum context length is 8192 tokens",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
            "param": None,
        }
    }
    exc = _openai_error(openai_mock, chat_openai, httpx.Response(400, json=body))
    info = classify(exc)
    assert info.kind == "context_length"
    assert not info.retryable


def test_openai_timeout_and_connection_errors(
    openai_mock: respx.MockRouter, chat_openai: Any
) -> None:
    exc = _openai_error(openai_mock, chat_openai, httpx.ReadTimeout("slow"))
    assert classify(exc).kind == "timeout" and classify(exc).retryable
    openai_mock.routes.clear()
    exc = _openai_error(openai_mock, chat_openai, httpx.ConnectError("refused"))
    assert classify(exc).kind in {"connection", "timeout"} and classify(exc).retryable


async def test_openai_async_path_errors(openai_mock: respx.MockRouter, chat_openai: Any) -> None:
    openai_mock.post("/chat/completions").mock(return_value=error(429, {"Retry-After": "3"}))
    with pytest.raises(Exception) as info:
        await chat_openai().ainvoke("hello")
    assert classify(info.value).retry_after == 3.0
    assert is_retryable(info.value)


def _anthropic_call(reply: Any) -> BaseException:
    """Call the real anthropic SDK, whose transport (httpx2, which respx does not patch) answers
    with ``reply`` (a function of the request) through httpx2's own MockTransport."""
    anthropic = pytest.importorskip("anthropic")
    httpx2 = pytest.importorskip("httpx2")
    client = anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url=ANTHROPIC_BASE,
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(reply)),
    )
    with pytest.raises(Exception) as info:
        client.messages.create(
            model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    return info.value


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "delay"),
    [
        (529, {}, True, None),
        (429, {"retry-after": "4"}, True, 4.0),
        (401, {}, False, None),
        (400, {}, False, None),
    ],
)
def test_anthropic_errors(
    status: int, headers: dict[str, str], retryable: bool, delay: float | None
) -> None:
    import httpx2

    body = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    exc = _anthropic_call(lambda request: httpx2.Response(status, json=body, headers=headers))
    result = classify(exc)
    assert (result.status, result.retryable, result.retry_after) == (status, retryable, delay)


def test_anthropic_timeout() -> None:
    import httpx2

    def reply(request: Any) -> Any:
        raise httpx2.ReadTimeout("slow", request=request)

    exc = _anthropic_call(reply)
    assert classify(exc).kind == "timeout" and classify(exc).retryable


def test_plain_httpx_status_error() -> None:
    request = httpx.Request("POST", "http://x.test")
    response = httpx.Response(503, request=request, headers={"Retry-After": "1"})
    exc = httpx.HTTPStatusError("boom", request=request, response=response)
    assert classify(exc).retryable and classify(exc).retry_after == 1.0


def test_langchain_model_errors() -> None:
    from langchain_core.exceptions import (
        ContextOverflowError,
        ModelAuthenticationError,
        ModelRateLimitError,
        ModelTimeoutError,
    )

    assert classify(ModelRateLimitError("slow down")).retryable
    assert classify(ModelTimeoutError("late")).retryable
    assert not classify(ModelAuthenticationError("bad key")).retryable
    assert not classify(ContextOverflowError("too long")).retryable


def test_unknown_and_guardrail_errors_are_not_retryable() -> None:
    assert not classify(ValueError("bad")).retryable
    assert not classify(PIIDetectionError("email", counts={"email": 1})).retryable
    assert isinstance(PIIDetectionError("email"), GuardrailError)
    assert classify(TimeoutError()).retryable
    assert classify(ConnectionResetError()).retryable


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "abc"}, None),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "0"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "x", "retry-after": "2"}, 2.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected
