"""Rate limits on the limits library: memory:// and a real Redis shared by processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage

from guardrails.errors import GuardrailConfigError, RateLimitExceededError, RateLimitStorageError
from guardrails.rate_limits import RateLimitKeyError, RateLimitMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture, RedisServer
from tests.support import invoke, tool


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return f"found {q}"


def _agent(mw: RateLimitMiddleware, **kwargs: Any) -> Any:
    return create_agent(ScriptedChatModel(default="hi"), middleware=[mw], **kwargs)


def _user(uid: str) -> dict[str, Any]:
    return {"configurable": {"user_id": uid}}


def test_model_limit_per_user(mode: str, audit: AuditCapture) -> None:
    agent = _agent(RateLimitMiddleware("2/minute", key="user"))
    for _ in range(2):
        invoke(agent, {"messages": [("user", "x")]}, mode, _user("alice"))
    with pytest.raises(RateLimitExceededError) as info:
        invoke(agent, {"messages": [("user", "x")]}, mode, _user("alice"))
    assert info.value.reset_at is not None and info.value.limit == "2/minute"
    invoke(agent, {"messages": [("user", "x")]}, mode, _user("bob"))  # bob has his own budget
    (event,) = audit.of("rate_limit.exceeded")
    assert event["user_id"] == "alice" and event["key_kind"] == "user"
    assert event["decision"] == "error"


def test_several_limits_all_apply(mode: str) -> None:
    agent = _agent(RateLimitMiddleware("5/minute;1/second", key="global"))
    invoke(agent, {"messages": [("user", "x")]}, mode)
    with pytest.raises(RateLimitExceededError):
        invoke(agent, {"messages": [("user", "x")]}, mode)


def test_missing_key_is_a_clear_error(mode: str) -> None:
    agent = _agent(RateLimitMiddleware("5/minute", key="user"))
    with pytest.raises(RateLimitKeyError, match="no user id was found"):
        invoke(agent, {"messages": [("user", "x")]}, mode)


def test_callable_and_thread_keys(mode: str, memory_saver: Any) -> None:
    mw = RateLimitMiddleware("1/minute", key=lambda request: "tenant-a")
    agent = _agent(mw)
    invoke(agent, {"messages": [("user", "x")]}, mode)
    with pytest.raises(RateLimitExceededError):
        invoke(agent, {"messages": [("user", "x")]}, mode)
    per_thread = _agent(RateLimitMiddleware("1/minute", key="thread"), checkpointer=memory_saver)
    invoke(per_thread, {"messages": [("user", "x")]}, mode, {"configurable": {"thread_id": "1"}})
    invoke(per_thread, {"messages": [("user", "x")]}, mode, {"configurable": {"thread_id": "2"}})


def test_end_stops_the_run_with_a_message(mode: str) -> None:
    agent = _agent(RateLimitMiddleware("1/minute", key="global", on_limit="end"))
    assert invoke(agent, {"messages": [("user", "x")]}, mode)["messages"][-1].content == "hi"
    last = invoke(agent, {"messages": [("user", "x")]}, mode)["messages"][-1]
    assert last.content.startswith("Rate limit 1/minute reached for model")


def test_wait_sleeps_until_the_window_frees(mode: str, audit: AuditCapture) -> None:
    mw = RateLimitMiddleware("1/minute", key="global", on_limit="wait", max_wait=120)
    slept: list[float] = []
    now = [1_000_000.0]
    mw._clock = lambda: now[0]

    def sleep(seconds: float) -> None:  # instead of sleeping a minute, time moves on
        slept.append(seconds)
        now[0] += seconds

    async def asleep(seconds: float) -> None:
        sleep(seconds)

    mw._sleep = sleep  # type: ignore[method-assign]
    mw._asleep = asleep  # type: ignore[method-assign]
    agent = _agent(mw)
    invoke(agent, {"messages": [("user", "x")]}, mode)
    invoke(agent, {"messages": [("user", "x")]}, mode)
    assert len(slept) == 1 and 50 < slept[0] <= 60
    assert audit.of("rate_limit.waited")[0]["waited_s"] == pytest.approx(slept[0], abs=0.01)


def test_wait_gives_up_after_max_wait(mode: str) -> None:
    mw = RateLimitMiddleware("1/hour", key="global", on_limit="wait", max_wait=5)
    agent = _agent(mw)
    invoke(agent, {"messages": [("user", "x")]}, mode)
    with pytest.raises(RateLimitExceededError):
        invoke(agent, {"messages": [("user", "x")]}, mode)


def test_tools_rate_limit_by_name(mode: str) -> None:
    model = ScriptedChatModel(
        responses=[
            AIMessage(
                "", tool_calls=[tool_call("lookup", {"q": "a"}), tool_call("lookup", {"q": "b"})]
            ),
            "done",
        ]
    )
    mw = RateLimitMiddleware("1/minute", key="global", applies_to=["lookup"], on_limit="end")
    agent = create_agent(model, tools=[lookup], middleware=[mw])
    result = invoke(agent, {"messages": [("user", "x")]}, mode)
    statuses = sorted(m.status for m in result["messages"] if isinstance(m, ToolMessage))
    assert statuses == ["error", "success"]
    assert result["messages"][-1].content.startswith("Rate limit 1/minute reached for tool lookup")
    assert model.calls == 1  # the run ended instead of calling the model again


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": "ten per minute"}, "cannot be parsed"),
        ({"limit": ""}, "limits string"),
        ({"limit": "1/minute", "key": "tenant"}, "key must be one of"),
        ({"limit": "1/minute", "storage": "mysql://x"}, "unknown scheme .mysql."),
        ({"limit": "1/minute", "storage": "memory"}, "storage URI"),
        ({"limit": "1/minute", "strategy": "token-bucket"}, "strategy must be one of"),
        ({"limit": "1/minute", "on_limit": "drop"}, "on_limit must be one of"),
        ({"limit": "1/minute", "applies_to": "everything"}, "applies_to must be"),
        ({"limit": "1/minute", "applies_to": []}, "non-empty list"),
        ({"limit": "1/minute", "max_wait": 3}, "max_wait only applies"),
        ({"limit": "1/minute", "on_limit": "wait", "max_wait": -1}, "max_wait must be"),
    ],
)
def test_construction_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GuardrailConfigError, match=message):
        RateLimitMiddleware(**kwargs)


# ------------------------------------------------------------------ real Redis

WORKER = textwrap.dedent("""
    import sys
    from langchain.agents import create_agent
    from guardrails.errors import RateLimitExceededError
    from guardrails.rate_limits import RateLimitMiddleware
    from guardrails.testing import ScriptedChatModel
    agent = create_agent(ScriptedChatModel(default="ok"), middleware=[
        RateLimitMiddleware("10/minute", key="user", storage=sys.argv[1])])
    ok = 0
    for _ in range(15):
        try:
            agent.invoke({"messages": [("user", "x")]}, {"configurable": {"user_id": "u1"}})
            ok += 1
        except RateLimitExceededError:
            pass
    print(ok)
""")


@pytest.mark.slow  # other processes (pyproject: the slow group)
@pytest.mark.redis
def test_two_processes_share_one_budget(redis_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    counts = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        counts.append(int(out.strip()))
    assert sum(counts) == 10


@pytest.mark.redis
def test_200_concurrent_async_calls(redis_url: str) -> None:
    agent = _agent(RateLimitMiddleware("50/minute", key="global", storage=redis_url))

    async def one() -> bool:
        try:
            await agent.ainvoke({"messages": [("user", "x")]})
            return True
        except RateLimitExceededError:
            return False

    async def main() -> list[bool]:
        return await asyncio.gather(*(one() for _ in range(200)))

    assert sum(asyncio.run(main())) == 50


@pytest.mark.redis
@pytest.mark.parametrize("fail_open", [False, True])
def test_redis_down(
    mode: str, redis_server: RedisServer, redis_url: str, fail_open: bool, audit: AuditCapture
) -> None:
    agent = _agent(
        RateLimitMiddleware("100/minute", key="global", storage=redis_url, fail_open=fail_open)
    )
    invoke(agent, {"messages": [("user", "x")]}, mode)
    redis_server.stop()
    try:
        if fail_open:
            assert (
                invoke(agent, {"messages": [("user", "x")]}, mode)["messages"][-1].content == "hi"
            )
        else:
            with pytest.raises(RateLimitStorageError):
                invoke(agent, {"messages": [("user", "x")]}, mode)
    finally:
        redis_server.start()
    (event,) = audit.of("rate_limit.storage_error")
    assert event["decision"] == ("allow" if fail_open else "deny")
