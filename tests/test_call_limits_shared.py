"""Thread limits across concurrent runs on one thread_id: the shared budget (``thread_storage``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from langchain.agents import create_agent
from langgraph.checkpoint.memory import InMemorySaver

from guardrails._budget import MissingThreadIdError
from guardrails.call_limits import ModelCallLimitMiddleware
from guardrails.errors import GuardrailConfigError, RateLimitStorageError
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture, RedisServer
from tests.support import invoke

CONFIG = {"configurable": {"thread_id": "t-1"}}


def _agent(mw: ModelCallLimitMiddleware) -> tuple[Any, ScriptedChatModel]:
    model = ScriptedChatModel(responses=[], default="hi")
    return create_agent(model, middleware=[mw], checkpointer=InMemorySaver()), model


async def _concurrent(agent: Any, n: int) -> list[Any]:
    return await asyncio.gather(
        *(agent.ainvoke({"messages": [("user", "x")]}, CONFIG) for _ in range(n))
    )


def test_without_shared_storage_concurrent_runs_overspend_documented() -> None:
    agent, model = _agent(ModelCallLimitMiddleware(thread_limit=10))
    asyncio.run(_concurrent(agent, 50))
    assert model.calls > 10  # state-only counts: each run starts from the last checkpoint


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_shared_budget_holds_across_50_concurrent_runs(
    storage: str, redis_url: str, audit: AuditCapture
) -> None:
    uri = "memory://" if storage == "memory" else redis_url
    agent, model = _agent(ModelCallLimitMiddleware(thread_limit=10, thread_storage=uri))
    results = asyncio.run(_concurrent(agent, 50))
    assert model.calls == 10
    refused = [r for r in results if "thread limit" in str(r["messages"][-1].content)]
    assert len(refused) == 40
    assert len(audit.of("limit.exceeded")) == 40


def test_shared_budget_sync_threads(mode: str, redis_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    agent, model = _agent(ModelCallLimitMiddleware(thread_limit=5, thread_storage=redis_url))
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda _: invoke(agent, {"messages": [("user", "x")]}, mode, CONFIG), range(16)
            )
        )
    assert model.calls == 5


WORKER = textwrap.dedent("""
    import asyncio, sys
    from langchain.agents import create_agent
    from langgraph.checkpoint.memory import InMemorySaver
    from guardrails.call_limits import ModelCallLimitMiddleware
    from guardrails.testing import ScriptedChatModel
    model = ScriptedChatModel(responses=[], default="hi")
    agent = create_agent(model, checkpointer=InMemorySaver(), middleware=[
        ModelCallLimitMiddleware(thread_limit=10, thread_storage=sys.argv[1])])
    async def main():
        await asyncio.gather(*(agent.ainvoke({"messages": [("user", "x")]},
                                             {"configurable": {"thread_id": "shared"}})
                               for _ in range(15)))
    asyncio.run(main())
    print(model.calls)
""")


@pytest.mark.slow  # other processes (pyproject: the slow group)
@pytest.mark.redis
def test_shared_budget_across_processes(redis_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    total = 0
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        total += int(out.strip())
    assert total == 10


@pytest.mark.redis
@pytest.mark.parametrize("fail_open", [False, True])
def test_shared_budget_storage_down(
    mode: str, own_redis: RedisServer, fail_open: bool, audit: AuditCapture
) -> None:
    agent, model = _agent(
        ModelCallLimitMiddleware(
            thread_limit=10,
            thread_storage=own_redis.url,
            thread_storage_fail_open=fail_open,
            thread_storage_read_timeout=0.3,
        )
    )
    own_redis.stop()
    if fail_open:
        invoke(agent, {"messages": [("user", "x")]}, mode, CONFIG)
        assert model.calls == 1
    else:
        with pytest.raises(RateLimitStorageError):
            invoke(agent, {"messages": [("user", "x")]}, mode, CONFIG)
        assert model.calls == 0
    (event,) = audit.of("limit.storage_error")
    assert event["decision"] == ("allow" if fail_open else "deny")


def test_shared_budget_needs_a_thread_id_and_a_thread_limit(mode: str) -> None:
    agent = create_agent(
        ScriptedChatModel(responses=[], default="hi"),
        middleware=[ModelCallLimitMiddleware(thread_limit=3, thread_storage="memory://")],
    )
    with pytest.raises(MissingThreadIdError, match="thread id"):
        invoke(agent, {"messages": [("user", "x")]}, mode)
    with pytest.raises(GuardrailConfigError, match="set thread_limit"):
        ModelCallLimitMiddleware(run_limit=3, thread_storage="memory://")
    with pytest.raises(GuardrailConfigError, match="thread_storage must be a storage URI"):
        ModelCallLimitMiddleware(thread_limit=3, thread_storage="mysql://x")
    with pytest.raises(GuardrailConfigError, match="thread_storage_fail_open must be a boolean"):
        ModelCallLimitMiddleware(
            thread_limit=3,
            thread_storage="memory://",
            thread_storage_fail_open="false",  # type: ignore[arg-type]
        )


# ----------------------------------------------------------------------------- tool calls


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_tool_thread_budget_across_concurrent_runs(storage: str, redis_url: str) -> None:
    from langchain_core.messages import AIMessage, ToolMessage

    from guardrails.call_limits import ToolCallLimitMiddleware
    from guardrails.testing import tool_call
    from tests.support import tool

    ran: list[int] = []

    @tool
    def work(x: int) -> int:
        """Do work."""
        ran.append(x)
        return x

    def answer(messages: list[Any]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            return AIMessage("done")
        return AIMessage("", tool_calls=[tool_call("work", {"x": 1})])

    uri = "memory://" if storage == "memory" else redis_url
    model = ScriptedChatModel(responses=[], default=answer)
    agent = create_agent(
        model,
        tools=[work],
        checkpointer=InMemorySaver(),
        middleware=[ToolCallLimitMiddleware(thread_limit=4, thread_storage=uri)],
    )
    asyncio.run(_concurrent(agent, 12))
    assert len(ran) == 4


def test_tool_thread_budget_error_and_validation() -> None:
    from guardrails.call_limits import ToolCallLimitMiddleware

    with pytest.raises(GuardrailConfigError, match="set thread_limit"):
        ToolCallLimitMiddleware(run_limit=3, thread_storage="memory://")
    with pytest.raises(GuardrailConfigError, match="thread_storage must be a storage URI"):
        ToolCallLimitMiddleware(thread_limit=3, thread_storage="unix:///x")
