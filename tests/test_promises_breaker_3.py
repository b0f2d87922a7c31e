"""Promises of the fallback's circuit breaker a fresh mutation sample (seed 31, issue 29) found
open: the breaker's identity reads a model's endpoint wherever the model class keeps it, its
pydantic extra fields included (a model class that allows extras, given ``base_url=`` as one), so
two endpoints of one model name get two circuits. Through real ``create_agent`` graphs, sync and
async.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError
from pydantic import ConfigDict

from guardrails import ModelFallbackMiddleware
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture
from tests.support import invoke


class ExtrasModel(ScriptedChatModel):
    """A model class that keeps unknown constructor arguments as pydantic extra fields."""

    model_config = ConfigDict(extra="allow")


def _ask(agent: Any, mode: str) -> str:
    out = invoke(agent, {"messages": [("user", "hi")]}, mode)
    return str(out["messages"][-1].content)


def test_an_endpoint_kept_as_an_extra_field_names_the_breaker(
    mode: str, audit: AuditCapture
) -> None:
    down = ExtrasModel(
        responses=[],
        default=ModelAPIError("down"),
        model_name="p",
        base_url="https://eu.example/v1",
    )
    up = ExtrasModel(
        responses=[], default="from us", model_name="p", base_url="https://us.example/v1"
    )
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    fallback = ModelFallbackMiddleware(backup, failure_threshold=1, cooldown=60)
    assert _ask(create_agent(down, middleware=[fallback]), mode) == "from backup"
    (opened,) = audit.of("fallback.circuit_open")
    assert opened["model"] == "scripted:p@https://eu.example/v1", opened
    # the same model name on another endpoint has its own circuit: still closed, called
    assert _ask(create_agent(up, middleware=[fallback]), mode) == "from us"


BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_success_between_failures_resets_the_count(
    mode: str, backend: str, request: pytest.FixtureRequest, audit: AuditCapture
) -> None:
    """``failure_threshold`` counts *consecutive* failures: fail, succeed, fail with a threshold
    of 2 never opens the circuit (the success wiped the first failure), in memory and on Redis;
    two failures in a row do."""
    storage = "memory://" if backend == "memory" else request.getfixturevalue("redis_url")
    name = f"p-{backend}-{mode}"
    primary = ScriptedChatModel(
        responses=[ModelAPIError("down 1"), "ok 1", ModelAPIError("down 2"), "ok 2"],
        model_name=name,
    )
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    fallback = ModelFallbackMiddleware(backup, failure_threshold=2, cooldown=60, storage=storage)
    agent = create_agent(primary, middleware=[fallback])
    answers = [_ask(agent, mode) for _ in range(4)]
    assert answers == ["from backup", "ok 1", "from backup", "ok 2"], answers
    assert audit.of("fallback.circuit_open") == []
    again = ScriptedChatModel(
        responses=[ModelAPIError("down 3"), ModelAPIError("down 4"), "not called"],
        model_name=name + "-again",
    )
    agent = create_agent(again, middleware=[fallback])
    assert [_ask(agent, mode) for _ in range(3)] == ["from backup"] * 3
    (opened,) = audit.of("fallback.circuit_open")
    assert opened["model"] == f"scripted:{name}-again", opened


@pytest.mark.redis
def test_a_failure_on_record_on_redis_is_forgotten_after_ten_quiet_cooldowns(
    mode: str, redis_url: str
) -> None:
    """On Redis a failure count is kept ten cooldowns after the last failure (at least an hour),
    then forgotten: an old failure never adds to a new opening, and no key is kept for ever."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for cooldown, keep in ((720.0, 7200.0), (60.0, 3600.0)):
        name = f"keep-{int(cooldown)}-{mode}"
        primary = ScriptedChatModel(responses=[ModelAPIError("down")], model_name=name)
        backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
        fallback = ModelFallbackMiddleware(
            backup, failure_threshold=3, cooldown=cooldown, storage=redis_url
        )
        assert _ask(create_agent(primary, middleware=[fallback]), mode) == "from backup"
        (failures,) = [k for k in client.scan_iter(f"*scripted:{name}*") if k.endswith(b"failures")]
        left = client.pttl(failures) / 1000.0
        assert keep - 30.0 < left <= keep, (cooldown, left)
