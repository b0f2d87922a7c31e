"""Fallback with a circuit breaker, through real ChatOpenAI clients on two respx endpoints."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
import respx
from langchain.agents import create_agent

from guardrails.errors import GuardrailConfigError, PIIDetectionError
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture
from tests.support import error, invoke, ok, request_bodies, tool

PRIMARY = "http://primary.test/v1"
BACKUP = "http://backup.test/v1"


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return q


@pytest.fixture
def endpoints() -> Any:
    with respx.mock(assert_all_called=False) as router:
        a = router.post(f"{PRIMARY}/chat/completions").mock(return_value=error(503))
        b = router.post(f"{BACKUP}/chat/completions").mock(return_value=ok("from backup"))
        yield a, b


def test_falls_back_with_the_same_tools(
    mode: str, endpoints: Any, chat_openai: Any, audit: AuditCapture
) -> None:
    a, b = endpoints
    primary = chat_openai("gpt-primary", base_url=PRIMARY)
    backup = chat_openai("gpt-backup", base_url=BACKUP)
    agent = create_agent(
        primary,
        tools=[lookup],
        middleware=[ModelFallbackMiddleware(backup, failure_threshold=None)],
    )
    result = invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert result["messages"][-1].content == "from backup"
    (body_a,), (body_b,) = request_bodies(a), request_bodies(b)
    assert body_a["tools"] == body_b["tools"] and body_b["tools"][0]["function"]["name"] == "lookup"
    assert body_b["model"] == "gpt-backup" and body_a["messages"] == body_b["messages"]
    (event,) = audit.of("fallback.switched")
    assert event["status"] == 503 and "gpt-backup@http://backup.test/v1" in event["to_model"]


def test_breaker_skips_a_dead_model_then_probes_once(
    mode: str, endpoints: Any, chat_openai: Any, audit: AuditCapture
) -> None:
    a, b = endpoints
    mw = ModelFallbackMiddleware(
        chat_openai("gpt-backup", base_url=BACKUP), failure_threshold=2, cooldown=30
    )
    now = [1000.0]
    mw._breaker.clock = lambda: now[0]  # type: ignore[union-attr]
    agent = create_agent(chat_openai("gpt-primary", base_url=PRIMARY), middleware=[mw])
    for _ in range(5):
        invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert a.call_count == 2 and b.call_count == 5  # open after 2 failures: A is skipped
    assert len(audit.of("fallback.circuit_open")) == 1
    now[0] += 29
    invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert a.call_count == 2  # still cooling down
    now[0] += 2
    a.mock(return_value=ok("primary is back"))
    out = invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert out["messages"][-1].content == "primary is back" and a.call_count == 3  # one probe
    assert len(audit.of("fallback.circuit_closed")) == 1
    invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert a.call_count == 4  # closed again: A gets every call


def test_failed_probe_reopens(mode: str, endpoints: Any, chat_openai: Any) -> None:
    a, b = endpoints
    mw = ModelFallbackMiddleware(
        chat_openai("gpt-backup", base_url=BACKUP), failure_threshold=1, cooldown=10
    )
    now = [0.0]
    mw._breaker.clock = lambda: now[0]  # type: ignore[union-attr]
    agent = create_agent(chat_openai("gpt-primary", base_url=PRIMARY), middleware=[mw])
    invoke(agent, {"messages": [("user", "hi")]}, mode)
    now[0] += 11
    invoke(agent, {"messages": [("user", "hi")]}, mode)  # the probe fails
    invoke(agent, {"messages": [("user", "hi")]}, mode)  # open again: skipped
    assert a.call_count == 2 and b.call_count == 3


def test_all_models_fail(mode: str, chat_openai: Any, audit: AuditCapture) -> None:
    with respx.mock() as router:
        router.post(f"{PRIMARY}/chat/completions").mock(return_value=error(500))
        router.post(f"{BACKUP}/chat/completions").mock(return_value=error(502))
        agent = create_agent(
            chat_openai("p", base_url=PRIMARY),
            middleware=[ModelFallbackMiddleware(chat_openai("b", base_url=BACKUP))],
        )
        with pytest.raises(Exception) as info:
            invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert getattr(info.value, "status_code", None) == 502
    assert audit.of("fallback.exhausted")[0]["tried"] == [
        f"openai-chat:p@{PRIMARY}",
        f"openai-chat:b@{BACKUP}",
    ]


def test_guardrail_errors_are_not_fallen_back_around(mode: str) -> None:
    primary = ScriptedChatModel(responses=[PIIDetectionError("email")])
    backup = ScriptedChatModel(default="leak")
    agent = create_agent(primary, middleware=[ModelFallbackMiddleware(backup)])
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert backup.calls == 0


def test_model_strings_are_checked_and_built_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    mw = ModelFallbackMiddleware("openai:gpt-4o-mini", "anthropic:claude-haiku-4-5")
    assert mw._fallbacks.specs == ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5"]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("nosuchprovider:model-x",), {}, "not a 'provider:model'"),
        ((42,), {}, "models must be"),
        (("openai:gpt-4o",), {"failure_threshold": 0}, "failure_threshold"),
        (("openai:gpt-4o",), {"cooldown": -1}, "cooldown"),
        (("openai:gpt-4o",), {"storage": "memcached://x"}, "storage must be"),
    ],
)
def test_construction_errors(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GuardrailConfigError, match=message):
        ModelFallbackMiddleware(*args, **kwargs)


WORKER = textwrap.dedent("""
    import sys
    from langchain.agents import create_agent
    from langchain_core.exceptions import ModelAPIError
    from guardrails.fallback import ModelFallbackMiddleware
    from guardrails.testing import ScriptedChatModel
    primary = ScriptedChatModel(model_name="shared-primary",
                                default=lambda msgs: (_ for _ in ()).throw(ModelAPIError("503")))
    if sys.argv[2] == "healthy":
        primary = ScriptedChatModel(model_name="shared-primary", default="primary")
    backup = ScriptedChatModel(model_name="backup", default="backup")
    agent = create_agent(primary, middleware=[ModelFallbackMiddleware(
        backup, failure_threshold=3, cooldown=60, storage=sys.argv[1])])
    for _ in range(int(sys.argv[3])):
        agent.invoke({"messages": [("user", "x")]})
    print(primary.calls)
""")


@pytest.mark.slow  # other processes (pyproject: the slow group)
@pytest.mark.redis
def test_two_processes_share_a_redis_breaker(redis_url: str) -> None:
    def run(kind: str, n: int) -> int:
        out = subprocess.run(
            [sys.executable, "-c", WORKER, redis_url, kind, str(n)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return int(out.stdout.strip())

    assert run("failing", 3) == 3  # three failures open the shared circuit
    assert run("healthy", 4) == 0  # the other process skips the primary for the cooldown


def test_structured_output_and_tool_choice_survive_the_switch(mode: str) -> None:
    from langchain.agents.structured_output import ToolStrategy
    from langchain_core.exceptions import ModelAPIError
    from langchain_core.messages import AIMessage
    from pydantic import BaseModel

    from guardrails.testing import tool_call

    class Answer(BaseModel):
        city: str

    primary = ScriptedChatModel(responses=[ModelAPIError("503")])
    backup = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("Answer", {"city": "Paris"})])]
    )
    agent = create_agent(
        primary,
        tools=[lookup],
        response_format=ToolStrategy(Answer),
        middleware=[ModelFallbackMiddleware(backup, failure_threshold=None)],
    )
    result = invoke(agent, {"messages": [("user", "capital of France?")]}, mode)
    assert result["structured_response"] == Answer(city="Paris")
    sent = backup.requests[0]
    assert sent["tools"] == primary.requests[0]["tools"]
    assert {t["function"]["name"] for t in sent["tools"]} == {"lookup", "Answer"}
    assert sent.get("tool_choice") == primary.requests[0].get("tool_choice")
