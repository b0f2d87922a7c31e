"""Helpers shared by the test modules: OpenAI-shaped responses, agent invocation in sync/async."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterable
from typing import Any

import httpx

OPENAI_BASE = "http://openai.test/v1"
_ids = itertools.count(1)


def completion(
    content: str | None = "ok",
    *,
    tool_calls: Iterable[tuple[str, dict[str, Any]]] = (),
    model: str = "gpt-test",
    usage: tuple[int, int] = (10, 5),
) -> dict[str, Any]:
    """An OpenAI chat.completion JSON body, optionally with tool calls (name, args)."""
    calls = [
        {
            "id": f"call_{next(_ids)}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for name, args in tool_calls
    ]
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        },
    }


def ok(content: str | None = "ok", **kwargs: Any) -> httpx.Response:
    """A 200 response with a chat completion."""
    return httpx.Response(200, json=completion(content, **kwargs))


def error(
    status: int, headers: dict[str, str] | None = None, message: str = "error"
) -> httpx.Response:
    """An OpenAI-shaped error response."""
    body = {
        "error": {
            "message": message,
            "type": "server_error" if status >= 500 else "invalid_request_error",
            "code": None,
            "param": None,
        }
    }
    return httpx.Response(status, json=body, headers=headers or {})


def request_bodies(route: Any) -> list[dict[str, Any]]:
    """The JSON bodies of every request a respx route received."""
    return [json.loads(call.request.content) for call in route.calls]


def invoke(agent: Any, payload: Any, mode: str, config: dict[str, Any] | None = None) -> Any:
    """Run ``agent.invoke`` (mode "sync") or ``agent.ainvoke`` (mode "async") to completion."""
    if mode == "sync":
        return agent.invoke(payload, config=config)
    return asyncio.run(agent.ainvoke(payload, config=config))


def wait_recovered(url: str, timeout: float = 10.0) -> None:
    """Wait until the store at ``url`` is no longer latched as unreachable (the background ping
    clears the latch once the store answers again)."""
    import time

    from guardrails._storage import StoreHealth, parse_storage

    health = StoreHealth.of(parse_storage("storage", url))
    deadline = time.monotonic() + timeout
    while health.failed_at is not None:
        assert time.monotonic() < deadline, "the store stayed latched as unreachable"
        time.sleep(0.02)
