"""The shared sync/async core: one flow, two drivers, identical behaviour."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, ToolMessage

from guardrails._core import (
    IO,
    Call,
    Flow,
    ModelHook,
    Offload,
    Sleep,
    ToolHook,
    run_async,
    run_sync,
)
from guardrails.testing import tool_call
from tests.support import invoke, tool


def retry_twice(request: Any) -> Flow[Any]:
    for attempt in range(3):
        try:
            return (yield Call(f"{request}#{attempt}"))
        except ValueError:
            yield Sleep(0.5)
    raise RuntimeError("gave up")


def drive(mode: str, flow: Flow[Any], handler: Any, slept: list[float]) -> Any:
    if mode == "sync":
        return run_sync(flow, handler, slept.append)

    async def ahandler(request: Any) -> Any:
        return handler(request)

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    return asyncio.run(run_async(flow, ahandler, asleep))


def test_flow_retries_and_sleeps(mode: str) -> None:
    seen: list[str] = []

    def handler(request: str) -> str:
        seen.append(request)
        if len(seen) < 3:
            raise ValueError("flaky")
        return f"ok:{request}"

    slept: list[float] = []
    assert drive(mode, retry_twice("req"), handler, slept) == "ok:req#2"
    assert seen == ["req#0", "req#1", "req#2"]
    assert slept == [0.5, 0.5]


def test_flow_error_propagates(mode: str) -> None:
    def handler(request: str) -> str:
        raise ValueError("always")

    with pytest.raises(RuntimeError, match="gave up"):
        drive(mode, retry_twice("req"), handler, [])


def test_offload_and_io(mode: str) -> None:
    threads: list[str] = []

    def heavy(x: int) -> int:
        threads.append(threading.current_thread().name)
        return x * 2

    async def aio() -> str:
        return "async-io"

    def flow() -> Flow[Any]:
        doubled = yield Offload(heavy, (21,))
        io = yield IO(lambda: "sync-io", aio)
        return doubled, io

    result = drive(mode, flow(), lambda r: r, [])
    assert result == (42, f"{mode}-io")
    main = threading.main_thread().name
    assert (threads[0] == main) is (mode == "sync")


def test_bad_operation_is_a_clear_error(mode: str) -> None:
    def flow() -> Flow[Any]:
        yield "not an op"  # type: ignore[misc]
        return None

    with pytest.raises(TypeError, match="not an operation"):
        drive(mode, flow(), lambda r: r, [])


class Shout(ModelHook, ToolHook, AgentMiddleware):  # type: ignore[type-arg]
    """Upper-cases the model's answer and tags tool results: one flow per hook."""

    def model_flow(self, request: Any) -> Flow[Any]:
        response = yield Call(request)
        message = response.result[0]
        return AIMessage(
            content=str(message.content).upper(), tool_calls=message.tool_calls, id=message.id
        )

    def tool_flow(self, request: Any) -> Flow[Any]:
        result = yield Call(request)
        assert isinstance(result, ToolMessage)
        return result.model_copy(update={"content": f"[tagged] {result.content}"})


@tool
def echo(text: str) -> str:
    """Echo the text."""
    return text


def test_hooks_in_a_real_agent(mode: str, scripted: Any) -> None:
    model = scripted(AIMessage("", tool_calls=[tool_call("echo", {"text": "hi"})]), "done")
    agent = create_agent(model, tools=[echo], middleware=[Shout()])
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    tool_msg = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert tool_msg.content == "[tagged] hi"
    assert result["messages"][-1].content == "DONE"


def test_mixins_define_only_their_hooks() -> None:
    class ModelOnly(ModelHook, AgentMiddleware):  # type: ignore[type-arg]
        def model_flow(self, request: Any) -> Flow[Any]:
            return (yield Call(request))

    assert ModelOnly.wrap_tool_call is AgentMiddleware.wrap_tool_call
    assert ModelOnly.wrap_model_call is not AgentMiddleware.wrap_model_call


# --- flows are closed when their driver stops ------------------------------------------------


def test_a_flow_is_closed_when_the_sync_driver_is_interrupted() -> None:
    closed: list[str] = []

    def flow(request: Any) -> Flow[Any]:
        try:
            return (yield Call(request))
        finally:
            closed.append("finally")

    def handler(request: Any) -> Any:
        raise KeyboardInterrupt  # a BaseException: not thrown into the flow

    generator = flow("r")
    with pytest.raises(KeyboardInterrupt):
        run_sync(generator, handler)
    assert closed == ["finally"]  # now, not at garbage collection
    assert generator.gi_frame is None


def test_a_flow_is_closed_when_its_task_is_cancelled() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outside")
    seen: list[str] = []

    def flow(request: Any) -> Flow[Any]:
        token = var.set("inside")
        try:
            return (yield Call(request))
        finally:
            var.reset(token)  # must run in the flow's own context, at cancellation
            seen.append(var.get())

    started = asyncio.Event()

    async def handler(request: Any) -> Any:
        started.set()
        await asyncio.sleep(60)

    holder: list[Any] = []

    async def main() -> None:
        generator = flow("r")
        holder.append(generator)
        task = asyncio.ensure_future(run_async(generator, handler))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen == ["outside"]  # the finally ran before the task finished
        assert generator.gi_frame is None

    import gc

    gc.disable()  # prove it does not depend on garbage collection
    try:
        asyncio.run(main())
    finally:
        gc.enable()


# --- the Guardrail base ----------------------------------------------------------------------


def _hooks(middleware: Any) -> set[str]:
    """The hooks LangChain sees (its own test: the class attribute differs from the base's)."""
    cls = type(middleware)
    return {
        name
        for name in ("wrap_model_call", "awrap_model_call", "wrap_tool_call", "awrap_tool_call")
        if getattr(cls, name) is not getattr(AgentMiddleware, name)
    }


MODEL = {"wrap_model_call", "awrap_model_call"}
TOOL = {"wrap_tool_call", "awrap_tool_call"}


def test_each_configuration_has_only_the_hooks_it_needs() -> None:
    from guardrails import (
        ModelCallLimitMiddleware,
        ModelFallbackMiddleware,
        ModelRetryMiddleware,
        RateLimitMiddleware,
        ToolCallLimitMiddleware,
        ToolRetryMiddleware,
        compose,
    )

    cases = [
        (ModelRetryMiddleware(), MODEL),
        (ToolRetryMiddleware(), TOOL),
        (ModelFallbackMiddleware("openai:gpt-4o-mini"), MODEL),
        (ModelCallLimitMiddleware(run_limit=1), MODEL),
        (ToolCallLimitMiddleware(run_limit=1), TOOL),
        (ToolCallLimitMiddleware(run_limit=1, exit_behavior="end"), MODEL | TOOL),
        (RateLimitMiddleware("1/second"), MODEL),
        (RateLimitMiddleware("1/second", applies_to="tools"), TOOL),
        (RateLimitMiddleware("1/second", applies_to=["x"], on_limit="end"), MODEL | TOOL),
        (compose(ModelRetryMiddleware()), MODEL),
        (compose(ToolRetryMiddleware()), TOOL),
        (compose(ModelRetryMiddleware(), ToolRetryMiddleware()), MODEL | TOOL),
    ]
    for middleware, expected in cases:
        assert _hooks(middleware) == expected, middleware.name
    limit = ToolCallLimitMiddleware(run_limit=1, exit_behavior="continue")
    assert isinstance(limit, ToolCallLimitMiddleware)
    assert type(limit).__name__ == "ToolCallLimitMiddleware" and limit.kind == "tool_call_limit"
    rate = RateLimitMiddleware("1/second", applies_to="tools")
    assert isinstance(rate, RateLimitMiddleware) and rate.name == "RateLimitMiddleware[1/second]"
    # one narrowed class per hook set, not one per instance
    assert type(RateLimitMiddleware("2/second", applies_to="tools")) is type(rate)


def test_a_subclass_keeps_its_kind_and_its_own_hooks() -> None:
    from guardrails import ModelRetryMiddleware, RateLimitMiddleware

    class MyRetry(ModelRetryMiddleware):
        def wrap_tool_call(self, request: Any, handler: Any) -> Any:  # its own, not declared
            return handler(request)

    retry = MyRetry()
    assert retry.kind == "model_retry"
    assert _hooks(retry) == MODEL | {"wrap_tool_call"}

    class MyRate(RateLimitMiddleware):
        pass

    rate = MyRate("1/second", applies_to="tools")
    assert isinstance(rate, MyRate) and rate.kind == "rate_limit" and _hooks(rate) == TOOL


def test_declarations_are_checked_when_the_class_is_made() -> None:
    from guardrails._core import Guardrail

    with pytest.raises(TypeError, match=r"not registered.*guardrails.audit.EVENTS"):

        class Unregistered(Guardrail, kind="x", hooks=("model",), events=("nope.never",)):
            def model_flow(self, request: Any) -> Flow[Any]:
                return (yield Call(request))

    with pytest.raises(TypeError, match="no model_flow"):

        class NoFlow(Guardrail, kind="x", hooks=("model",)):
            pass

    with pytest.raises(TypeError, match="unknown hooks"):

        class BadHook(Guardrail, kind="x", hooks=("before_model",)):  # type: ignore[arg-type]
            pass

    with pytest.raises(TypeError, match="does not declare the 'tool' hook"):

        class Forgot(Guardrail, kind="x", hooks=("model",)):
            def model_flow(self, request: Any) -> Flow[Any]:
                return (yield Call(request))

            def tool_flow(self, request: Any) -> Flow[Any]:
                return (yield Call(request))

    with pytest.raises(TypeError, match="kind must be a word"):

        class BadKind(Guardrail, kind="two words"):
            pass


def test_audit_refuses_events_the_guardrail_did_not_declare(audit: Any) -> None:
    from guardrails._core import Guardrail

    class Declared(Guardrail, kind="declared", hooks=("model",), events=("limit.exceeded",)):
        def model_flow(self, request: Any) -> Flow[Any]:
            return (yield Call(request))

    guard = Declared()
    payload = guard.audit("limit.exceeded", count=1)
    assert payload is not None and payload["guardrail"] == "Declared"
    assert audit.of("limit.exceeded")[-1]["count"] == 1
    with pytest.raises(ValueError, match=r"may not emit 'retry.attempt'.*limit.exceeded"):
        guard.audit("retry.attempt")


def test_active_hooks_must_be_declared() -> None:
    from guardrails._core import Guardrail

    class Greedy(Guardrail, kind="greedy", hooks=("model",)):
        def model_flow(self, request: Any) -> Flow[Any]:
            return (yield Call(request))

        def active_hooks(self) -> Any:
            return ("model", "tool")

    with pytest.raises(TypeError, match="declares hooks"):
        Greedy()


def test_a_narrowed_guardrail_runs_in_a_real_agent(mode: str, scripted: Any) -> None:
    from guardrails import ToolCallLimitMiddleware

    model = scripted(
        AIMessage("", tool_calls=[tool_call("echo", {"text": "a"})]),
        AIMessage("", tool_calls=[tool_call("echo", {"text": "b"})]),
        "never reached",
    )
    limit = ToolCallLimitMiddleware(tool_name="echo", run_limit=1, exit_behavior="end")
    agent = create_agent(model, tools=[echo], middleware=[limit])
    result = invoke(agent, {"messages": [("user", "go")]}, mode)
    assert "call limit reached" in result["messages"][-1].content
    assert model.calls == 2  # the model hook (declared for "end") ended the run


def test_io_is_a_deprecated_alias_of_sync_async() -> None:
    import guardrails
    from guardrails._core import SyncAsync

    with pytest.warns(DeprecationWarning, match="SyncAsync"):
        alias = guardrails.IO
    assert alias is SyncAsync is guardrails.SyncAsync
    assert "IO" not in guardrails.__all__  # a star import no longer shadows typing.IO
    import guardrails._core as core

    with pytest.warns(DeprecationWarning, match="_Sleeps"):
        assert core._Clock is core._Sleeps  # it holds sleeps, not a clock


# --- docs/architecture.md: a new guardrail is one module plus one registry line ---------------

BUDGET_SPENT: dict[str, float] = {}


def _docs_block(marker: str) -> str:
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text("utf-8")
    after = page.split(f"<!-- example:{marker} -->\n```python\n", 1)[1]
    return after.split("\n```", 1)[0]


def test_the_architecture_example_guardrail_runs_in_a_real_agent(
    mode: str, scripted: Any, audit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    from guardrails import audit as audit_mod
    from guardrails import policy as policy_mod

    module = types.ModuleType("guardrails_budget_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(audit_mod, "EVENTS", dict(audit_mod.EVENTS))  # registered for this test
    exec(compile(_docs_block("budget"), "docs/architecture.md", "exec"), module.__dict__)
    budget_cls = module.DollarBudgetMiddleware
    assert budget_cls.kind == "dollar_budget" and "budget.exceeded" in audit_mod.EVENTS

    # the registry line, as written on the page, pointing at the example module
    line = _docs_block("registry").replace("guardrails.budget:", f"{module.__name__}:")
    registry = dict(policy_mod.REGISTRY)
    registry.update(eval("{" + line + "}", {"_Entry": policy_mod._Entry}))
    monkeypatch.setattr(policy_mod, "REGISTRY", registry)
    BUDGET_SPENT.clear()
    (guard,) = policy_mod.Policy.from_dict(
        {
            "agent": {
                "middleware": [
                    {
                        "use": "DollarBudgetMiddleware",
                        "budget": 0.015,
                        "per_1k_tokens": 0.01,
                        "spent": {"import": "tests.test_core:BUDGET_SPENT"},
                    }
                ]
            }
        }
    ).middleware()
    assert isinstance(guard, budget_cls)
    usage = {"input_tokens": 900, "output_tokens": 100, "total_tokens": 1000}
    model = scripted(default=AIMessage("answer", usage_metadata=usage))  # type: ignore[arg-type]
    agent = create_agent(model, middleware=[guard])
    config = {"configurable": {"user_id": "u-7"}}
    answers = [
        invoke(agent, {"messages": [("user", "q")]}, mode, config)["messages"][-1].content
        for _ in range(3)
    ]
    assert answers == ["answer", "answer", "Your budget for this period is used up."]
    assert model.calls == 2 and BUDGET_SPENT["u-7"] == pytest.approx(0.02)
    (event,) = audit.of("budget.exceeded")
    assert event["guardrail"] == "DollarBudgetMiddleware" and event["user_id"] == "u-7"
    with pytest.raises(ValueError, match="budget"):
        budget_cls(budget=float("nan"), per_1k_tokens=0.01, spent={})


def test_narrowed_guardrails_copy_and_pickle() -> None:
    import copy
    import pickle

    from guardrails import ToolCallLimitMiddleware

    for middleware in (
        ToolCallLimitMiddleware(run_limit=1),  # narrowed: the tool hook only
        ToolCallLimitMiddleware(run_limit=1, exit_behavior="end"),
    ):
        for clone in (copy.deepcopy(middleware), pickle.loads(pickle.dumps(middleware))):
            assert type(clone) is type(middleware) and _hooks(clone) == _hooks(middleware)
            assert clone.name == middleware.name


def test_a_cancelled_agent_run_closes_the_guardrail_flow_at_once(scripted: Any) -> None:
    import contextvars
    import gc

    from guardrails._core import Guardrail

    var: contextvars.ContextVar[str] = contextvars.ContextVar("guard", default="outside")
    seen: list[str] = []
    entered = asyncio.Event()

    class Scoped(Guardrail, kind="scoped_test", hooks=("model",)):
        def model_flow(self, request: Any) -> Flow[Any]:
            token = var.set("inside")
            try:
                return (yield Call(request))
            finally:
                var.reset(token)
                seen.append("closed")

    class Slow(AgentMiddleware):  # type: ignore[type-arg]
        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            entered.set()
            await asyncio.sleep(60)
            return await handler(request)

    agent = create_agent(scripted(default="x"), middleware=[Scoped(), Slow()])

    async def main() -> None:
        task = asyncio.ensure_future(agent.ainvoke({"messages": [("user", "hi")]}))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen == ["closed"]

    gc.disable()
    try:
        asyncio.run(main())
    finally:
        gc.enable()
