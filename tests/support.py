"""Helpers shared by the test modules: OpenAI-shaped responses, agent invocation in sync/async."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from langchain_core.tools import BaseTool
from langchain_core.tools import tool as _langchain_tool

OPENAI_BASE = "http://openai.test/v1"
_ids = itertools.count(1)

# ------------------------------------------------------------------ tools

_SCHEMAS: dict[tuple[Any, ...], Any] = {}


def _schema_once(func: Callable[..., Any], settings: dict[str, Any]) -> BaseTool:
    key = (
        func.__code__,
        repr(func.__defaults__),
        repr(func.__kwdefaults__),
        repr(func.__annotations__),
        repr(sorted(settings.items())),
    )
    schema = _SCHEMAS.get(key)
    if schema is None:
        built = _langchain_tool(**settings)(func)
        _SCHEMAS[key] = built.args_schema
        return built
    return _langchain_tool(args_schema=schema, **settings)(func)


def tool(*args: Any, **settings: Any) -> Any:
    """LangChain's ``@tool``, with the argument schema LangChain infers built once per function
    body. Tests define their tools inside the test (closures over the test's own log), and
    pydantic's schema inference (about 4 ms a tool) was a tenth of the suite's time in the
    tool-heavy files. The tool is LangChain's real ``StructuredTool``, given the very schema
    class LangChain inferred for the same function the first time; a call with a name, a
    runnable or an ``args_schema`` of its own goes to LangChain's ``tool`` as it is."""
    if "args_schema" in settings:
        return _langchain_tool(*args, **settings)
    if len(args) == 1 and not isinstance(args[0], str) and hasattr(args[0], "__code__"):
        return _schema_once(args[0], settings)
    if not args:
        return lambda func: _schema_once(func, settings)
    return _langchain_tool(*args, **settings)


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
