"""More promises of the fallback's circuit breaker (issue 29, seed-7 survivors of ``breaker``).

- A half-open probe holds the circuit for ``max(cooldown, 1 s)``: while it is in flight every other
  caller goes to the backup; once that lease is over (exactly), the next caller probes again, so a
  probe that hangs does not keep the primary out for good.
- A failure of a call that was already in flight when the circuit opened does not end the probe of
  another caller: only the probe's own outcome does.
- ``breaker_key`` must be a plain callable returning a non-empty str: an ``async def`` is refused at
  construction, a non-str key at the first call (sync and async).
- The breaker's identity names the model's endpoint as given (a region stays ``eu-west-1``; a
  blank attribute is no part of it).
- In a composed stack on Redis the half-open probe reaches the primary (the allow check batched
  with the other guardrails' is the one the call uses).
- When every model fails, the error raised is the last model's own, with its own cause chain; the
  fallbacks that could not be built are named in its notes, the last one as its context when it
  had none.
- A Redis storage URI with ``decode_responses=true`` works (the client then answers str, not bytes).

Time is the in-memory breaker's clock (``_breaker.clock``, as in test_promises_breaker.py), so the
edges are exact. Calls that overlap run in threads, each a whole agent run (sync or async).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError

from guardrails.errors import GuardrailConfigError
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.testing import ScriptedChatModel
from tests.conftest import AuditCapture
from tests.support import invoke


class Actions:
    """The primary's behaviour per call, in order: True answers, False fails, a callable runs
    (other agent runs overlapping this one) and then answers (True) or fails (False)."""

    def __init__(self, *plan: bool | Callable[[], bool]) -> None:
        self.plan = list(plan)
        self.lock = threading.Lock()

    def __call__(self, _: Any) -> Any:
        with self.lock:
            step = self.plan.pop(0) if self.plan else True
        ok = step() if callable(step) else step
        if not ok:
            raise ModelAPIError("503 from primary")
        return "from primary"


def _agent(actions: Actions, *, threshold: int, cooldown: float, **kw: Any) -> tuple[Any, Any]:
    primary = ScriptedChatModel(responses=[], default=actions, model_name="primary")
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    mw = ModelFallbackMiddleware(backup, failure_threshold=threshold, cooldown=cooldown, **kw)
    return create_agent(primary, middleware=[mw]), mw


def _ask(agent: Any, mode: str) -> str:
    return str(invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content)


def test_a_probe_holds_the_circuit_for_its_lease_then_another_caller_probes(mode: str) -> None:
    now = [1000.0]
    inner: list[str] = []
    agent_box: list[Any] = []

    def during_the_probe() -> bool:
        now[0] = 1019.999  # the probe started at 1010: its lease runs to 1020
        inner.append(_ask(agent_box[0], mode))
        now[0] = 1020.0  # the lease is over: this caller probes
        inner.append(_ask(agent_box[0], mode))
        return True

    actions = Actions(False, during_the_probe, True)
    agent, mw = _agent(actions, threshold=1, cooldown=10.0)
    agent_box.append(agent)
    mw._breaker.clock = lambda: now[0]  # type: ignore[union-attr]
    assert _ask(agent, mode) == "from backup"  # opened at 1000 until 1010
    now[0] = 1010.0
    assert _ask(agent, mode) == "from primary"  # the probe (it ran the two calls inside)
    assert inner == ["from backup", "from primary"]


def test_a_late_failure_of_another_call_does_not_end_the_probe(mode: str) -> None:
    now = [1000.0]
    agent_box: list[Any] = []
    in_flight, release = threading.Event(), threading.Event()
    answers: dict[str, str] = {}

    def slow_failure() -> bool:  # a call admitted while the circuit was closed
        in_flight.set()
        assert release.wait(30)
        return False

    def late_call() -> None:
        answers["late"] = _ask(agent_box[0], mode)

    def during_the_probe() -> bool:
        release.set()  # the call admitted before the opening fails now, during the probe
        thread.join(30)
        answers["during"] = _ask(agent_box[0], mode)  # still probing: not a second probe
        return True

    actions = Actions(False, slow_failure, False, during_the_probe, True)
    agent, mw = _agent(actions, threshold=2, cooldown=10.0)
    agent_box.append(agent)
    mw._breaker.clock = lambda: now[0]  # type: ignore[union-attr]
    assert _ask(agent, mode) == "from backup"  # failure 1 of 2
    thread = threading.Thread(target=late_call)
    thread.start()
    assert in_flight.wait(30)
    assert _ask(agent, mode) == "from backup"  # failure 2 of 2: open until 1010
    now[0] = 1010.0
    assert _ask(agent, mode) == "from primary"  # the probe
    assert answers == {"late": "from backup", "during": "from backup"}
    assert actions.plan == [True]  # the call during the probe never reached the primary


def test_an_async_breaker_key_is_refused_at_construction() -> None:
    async def key(model: Any) -> str:
        return "k"

    backup = ScriptedChatModel(responses=[], default="b", model_name="backup")
    with pytest.raises(GuardrailConfigError, match="breaker_key"):
        ModelFallbackMiddleware(backup, breaker_key=key)


@pytest.mark.parametrize("bad", [42, ("a",), b"bytes", ""])
def test_a_breaker_key_that_is_not_a_non_empty_str_is_refused(mode: str, bad: Any) -> None:
    primary = ScriptedChatModel(responses=[], default=ModelAPIError("down"), model_name="p")
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    mw = ModelFallbackMiddleware(backup, breaker_key=lambda model: bad)
    agent = create_agent(primary, middleware=[mw])
    with pytest.raises(GuardrailConfigError, match="breaker_key returned"):
        _ask(agent, mode)


class RegionalModel(ScriptedChatModel):
    region_name: str = ""
    endpoint: str = "  "  # blank: not an endpoint


def test_the_breaker_names_a_region_as_it_is(mode: str, audit: AuditCapture) -> None:
    primary = RegionalModel(
        responses=[], default=ModelAPIError("down"), model_name="p", region_name="eu-west-1"
    )
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    agent = create_agent(primary, middleware=[ModelFallbackMiddleware(backup, failure_threshold=1)])
    assert _ask(agent, mode) == "from backup"
    (opened,) = audit.of("fallback.circuit_open")
    assert opened["model"] == "scripted:p@eu-west-1"


def _unbuildable(monkeypatch: pytest.MonkeyPatch) -> None:
    import langchain.chat_models as chat_models

    def init_chat_model(model: str, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"cannot build {model}")

    monkeypatch.setattr(chat_models, "init_chat_model", init_chat_model)


def test_the_last_build_error_is_the_context_and_every_one_is_a_note(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unbuildable(monkeypatch)
    primary = ScriptedChatModel(responses=[], default=ModelAPIError("primary down"), model_name="p")
    mw = ModelFallbackMiddleware("openai:gpt-a", "openai:gpt-b")
    agent = create_agent(primary, middleware=[mw])
    with pytest.raises(ModelAPIError, match="primary down") as caught:
        _ask(agent, mode)
    notes = [n for n in caught.value.__notes__ if n.startswith("fallback ")]
    assert [n.split(" could not")[0] for n in notes] == [
        "fallback 'openai:gpt-a'",
        "fallback 'openai:gpt-b'",
    ]
    assert str(caught.value.__context__) == "cannot build openai:gpt-b"


def test_the_error_keeps_its_own_context_when_a_fallback_cannot_be_built(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unbuildable(monkeypatch)

    def fail_in_handler(_: Any) -> Any:
        try:
            raise KeyError("the provider's own cause")
        except KeyError:
            raise ModelAPIError("primary down")  # noqa: B904 - an implicit context

    primary = ScriptedChatModel(responses=[], default=fail_in_handler, model_name="p")
    agent = create_agent(primary, middleware=[ModelFallbackMiddleware("openai:gpt-a")])
    with pytest.raises(ModelAPIError, match="primary down") as caught:
        _ask(agent, mode)
    assert isinstance(caught.value.__context__, KeyError)
    assert "fallback 'openai:gpt-a' could not be built" in caught.value.__notes__[0]


# slow: waits out a 3 s cooldown on the clock, twice
@pytest.mark.slow
@pytest.mark.redis
def test_a_redis_uri_with_decode_responses_works(
    mode: str, redis_url: str, audit: AuditCapture
) -> None:
    agent, _ = _agent(
        Actions(False, True),
        threshold=1,
        cooldown=3.0,
        storage=f"{redis_url}/0?decode_responses=true",
    )
    assert _ask(agent, mode) == "from backup"
    assert len(audit.of("fallback.circuit_open")) == 1
    assert _ask(agent, mode) == "from backup"  # open: the primary is skipped
    assert audit.of("fallback.storage_error") == []
    time.sleep(3.05)  # the cooldown is over: the probe closes it
    assert _ask(agent, mode) == "from primary"
    assert len(audit.of("fallback.circuit_closed")) == 1


@pytest.mark.redis
def test_in_a_composed_stack_the_half_open_probe_reaches_the_primary(
    mode: str, redis_url: str, audit: AuditCapture
) -> None:
    """``compose(rate limit, call limit, fallback)`` on one Redis batches the breaker's allow
    check with the others: the probe lease it takes there is the one the call uses."""
    from langgraph.checkpoint.memory import InMemorySaver

    from guardrails import ModelCallLimitMiddleware, RateLimitMiddleware, compose

    primary = ScriptedChatModel(
        responses=[ModelAPIError("503")], default="from primary", model_name="p"
    )
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="b")
    stack = compose(
        RateLimitMiddleware("1000/minute", key="global", storage=redis_url),
        ModelCallLimitMiddleware(thread_limit=1000, thread_storage=redis_url),
        ModelFallbackMiddleware(backup, storage=redis_url, failure_threshold=1, cooldown=1.0),
    )
    agent = create_agent(primary, middleware=[stack], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"half-open-{mode}"}}

    def ask() -> str:
        result = invoke(agent, {"messages": [("user", "hi")]}, mode, config)
        return str(result["messages"][-1].content)

    assert ask() == "from backup"  # the primary failed: open for 1 s
    assert len(audit.of("fallback.circuit_open")) == 1
    time.sleep(1.1)
    assert ask() == "from primary"  # the probe
    assert len(audit.of("fallback.circuit_closed")) == 1
    assert primary.calls == 2


def test_with_the_primary_open_and_no_fallback_buildable_the_last_build_error_is_raised(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unbuildable(monkeypatch)
    primary = ScriptedChatModel(responses=[], default=ModelAPIError("primary down"), model_name="p")
    mw = ModelFallbackMiddleware("openai:gpt-a", "openai:gpt-b", failure_threshold=1)
    agent = create_agent(primary, middleware=[mw])
    with pytest.raises(ModelAPIError, match="primary down"):
        _ask(agent, mode)  # the primary's own error; its circuit is now open
    with pytest.raises(RuntimeError, match="cannot build openai:gpt-b"):
        _ask(agent, mode)  # nothing was called: the last fallback's build error
    assert primary.calls == 1
