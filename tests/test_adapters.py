"""Canary tests: one per private peer name used in guardrails/_adapters/.

Each fails with a message naming the upstream symbol when a LangChain, LangGraph, limits or
deepagents upgrade removes or changes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain.tools import InjectedState, InjectedStore, ToolRuntime
from langchain_core.tools import InjectedToolArg

import guardrails._adapters.deepagents
import guardrails._adapters.langchain


def test_adapter_modules_import() -> None:
    assert guardrails._adapters.langchain.__doc__
    assert guardrails._adapters.deepagents.__doc__


# --- langchain / langgraph / limits canaries -------------------------------------------------


def _lc_canary(symbol: str, check: object) -> None:
    assert check, f"upstream internal {symbol} is gone or changed: update guardrails/_adapters"


def test_langchain_chain_model_call_handlers() -> None:
    from guardrails._adapters.langchain import (
        chain_async_model_call_handlers,
        chain_model_call_handlers,
    )

    def outer(request: str, handler: object) -> object:
        return handler(request + ">outer")  # type: ignore[operator]

    def inner(request: str, handler: object) -> object:
        return handler(request + ">inner")  # type: ignore[operator]

    from langchain.agents.middleware import ModelResponse
    from langchain_core.messages import AIMessage

    seen: list[str] = []

    def model(request: str) -> ModelResponse:
        seen.append(request)
        return ModelResponse(result=[AIMessage("ok")])

    chained = chain_model_call_handlers([outer, inner])
    chained("r", model)
    _lc_canary(
        "langchain.agents.factory._chain_model_call_handlers (first handler outermost)",
        seen == ["r>outer>inner"],
    )
    _lc_canary(
        "langchain.agents.factory._chain_async_model_call_handlers",
        callable(chain_async_model_call_handlers([outer])),
    )


def test_langchain_model_node_handler() -> None:
    """The innermost wrap_model_call of a create_agent run is handed the node's own execution
    (create_agent.<locals>._execute_model_sync / _execute_model_async), sync and async; the
    handler a middleware hands on is not it."""
    import asyncio

    from langchain.agents import create_agent
    from langchain.agents.middleware import AgentMiddleware

    from guardrails._adapters.langchain import is_model_node_handler
    from guardrails.testing import ScriptedChatModel

    handlers: list[Any] = []

    class Record(AgentMiddleware):  # type: ignore[type-arg]
        def __init__(self, name: str) -> None:
            super().__init__()
            self._name = name

        @property
        def name(self) -> str:
            return self._name

        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            handlers.append(handler)
            return handler(request)

        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            handlers.append(handler)
            return await handler(request)

    agent = create_agent(
        ScriptedChatModel(default="ok"), middleware=[Record("outer"), Record("inner")]
    )
    agent.invoke({"messages": [("user", "hi")]})
    asyncio.run(agent.ainvoke({"messages": [("user", "hi")]}))
    _lc_canary(
        "langchain.agents.factory.create_agent.<locals>._execute_model_sync/_async",
        [is_model_node_handler(h) for h in handlers] == [False, True, False, True],
    )
    _lc_canary("a plain function is no model node", not is_model_node_handler(lambda r: r))


def test_langchain_known_observers() -> None:
    """The callback handlers read as non-editing: LangGraph's StreamMessagesHandler (whose
    on_chat_model_start keeps metadata only) and LangSmith's LangChainTracer; a subclass of
    either is not known. (Tracers are not initialised: a LangSmith client would reach out.)"""
    from langchain_core.tracers.langchain import LangChainTracer
    from langgraph.pregel._messages import StreamMessagesHandler

    from guardrails._adapters.langchain import known_observer

    class Sub(LangChainTracer):
        pass

    _lc_canary(
        "langgraph.pregel._messages.StreamMessagesHandler",
        known_observer(StreamMessagesHandler(lambda c: None, False)),
    )
    _lc_canary(
        "langchain_core.tracers.langchain.LangChainTracer",
        known_observer(object.__new__(LangChainTracer)),
    )
    _lc_canary("a subclass of a known observer", not known_observer(object.__new__(Sub)))


def test_langchain_chain_tool_call_wrappers() -> None:
    from guardrails._adapters.langchain import (
        chain_async_tool_call_wrappers,
        chain_tool_call_wrappers,
    )

    def outer(request: str, handler: object) -> object:
        return handler(request + ">outer")  # type: ignore[operator]

    def inner(request: str, handler: object) -> object:
        return handler(request + ">inner")  # type: ignore[operator]

    chained = chain_tool_call_wrappers([outer, inner])
    _lc_canary(
        "langchain.agents.factory._chain_tool_call_wrappers (first wrapper outermost)",
        chained is not None and chained("r", lambda r: r) == "r>outer>inner",
    )
    _lc_canary(
        "langchain.agents.factory._chain_async_tool_call_wrappers",
        callable(chain_async_tool_call_wrappers([outer])),
    )


def test_langchain_sanitize_request_for_fallback() -> None:
    from langchain.agents.middleware import ModelRequest

    from guardrails._adapters.langchain import sanitize_request_for_fallback
    from guardrails.testing import ScriptedChatModel

    model = ScriptedChatModel(default="x")
    request = ModelRequest(
        model=model,
        messages=[],
        model_settings={"cache_control": {"type": "ephemeral"}, "temperature": 0},
    )
    clean = sanitize_request_for_fallback(request, model)
    _lc_canary(
        "langchain.agents.middleware.model_fallback._sanitize_request_for_fallback "
        "(drops provider-only cache settings)",
        "cache_control" not in clean.model_settings
        and clean.model_settings.get("temperature") == 0,
    )


def test_langchain_parse_model() -> None:
    from guardrails._adapters.langchain import parse_model

    _lc_canary(
        "langchain.chat_models.base._parse_model",
        parse_model("openai:gpt-4o-mini") == ("gpt-4o-mini", "openai"),
    )
    try:
        parse_model("nonsense-model-name")
    except ValueError:
        pass
    else:
        _lc_canary("langchain.chat_models.base._parse_model raises ValueError", False)


def test_langchain_provider_module() -> None:
    from guardrails._adapters.langchain import provider_module

    _lc_canary(
        "langchain.chat_models.base._BUILTIN_PROVIDERS (provider -> module)",
        provider_module("openai") == "langchain_openai"
        and provider_module("anthropic") == "langchain_anthropic"
        and provider_module("no-such-provider") is None,
    )


def test_langchain_pii_detection_error_public_path() -> None:
    from langchain.agents.middleware import PIIDetectionError as LCPIIDetectionError

    from guardrails.errors import PIIDetectionError

    _lc_canary(
        "langchain.agents.middleware.PIIDetectionError (public)",
        issubclass(PIIDetectionError, LCPIIDetectionError),
    )


# --- deepagents canaries ----------------------------------------------------------------------


def _canary(symbol: str, check: object) -> None:
    assert check, f"deepagents internal {symbol} is gone or changed: update guardrails/_adapters"


def test_deepagents_route_for_path() -> None:
    from deepagents.backends import CompositeBackend, StateBackend

    from guardrails._adapters.deepagents import route_for_path

    mem = StateBackend()
    composite = CompositeBackend(default=StateBackend(), routes={"/memories/": mem})
    _canary(
        "deepagents.backends.composite._route_for_path",
        route_for_path(composite, "/memories/a.md") == (mem, "/a.md", "/memories/"),
    )


def test_deepagents_filesystem_backend_resolve_path(tmp_path: object) -> None:
    from pathlib import Path

    from deepagents.backends import FilesystemBackend

    from guardrails._adapters.deepagents import backend_host_path

    root = Path(str(tmp_path))
    backend = FilesystemBackend(root_dir=root, virtual_mode=True)
    _canary(
        "deepagents.backends.filesystem.FilesystemBackend._resolve_path",
        backend_host_path(backend, "/a/b.txt") == root.resolve() / "a" / "b.txt",
    )


def test_deepagents_delete_target_may_have_descendants(tmp_path: object) -> None:
    import asyncio
    from pathlib import Path

    from deepagents.backends import FilesystemBackend

    from guardrails._adapters.deepagents import (
        adelete_may_have_descendants,
        delete_may_have_descendants,
    )

    root = Path(str(tmp_path))
    (root / "d").mkdir()
    (root / "d" / "f.txt").write_text("x")
    backend = FilesystemBackend(root_dir=root, virtual_mode=True)
    _canary(
        "deepagents.middleware.filesystem._delete_target_may_have_descendants",
        delete_may_have_descendants(backend, "/d")
        and not delete_may_have_descendants(backend, "/d/f.txt"),
    )
    _canary(
        "deepagents.middleware.filesystem._adelete_target_may_have_descendants",
        asyncio.run(adelete_may_have_descendants(backend, "/d")),
    )


def test_deepagents_create_tools_and_tool_closure() -> None:
    from deepagents.backends import StateBackend
    from deepagents.middleware.filesystem import FilesystemMiddleware

    from guardrails._adapters.deepagents import create_fs_tools, fs_middleware_of

    owner = FilesystemMiddleware(backend=StateBackend())
    other = StateBackend()
    tools = create_fs_tools(owner, other)
    _canary(
        "deepagents.middleware.filesystem.FilesystemMiddleware._create_tools",
        {"ls", "read_file", "write_file", "edit_file", "glob", "grep"} <= set(tools),
    )
    found = fs_middleware_of(tools["read_file"])
    _canary(
        "the FilesystemMiddleware in a deepagents file tool's closure (tool.func.__closure__)",
        found is not None and found.backend is other and owner.backend is not other,
    )
    _canary("fs_middleware_of on a foreign tool", fs_middleware_of(object()) is None)


def test_deepagents_task_tool_closure() -> None:
    from deepagents.backends import StateBackend
    from deepagents.middleware.subagents import SubAgentMiddleware

    from guardrails._adapters.deepagents import task_subagent_specs
    from guardrails.testing import ScriptedChatModel

    spec = {"name": "r", "description": "d", "system_prompt": "p",
            "model": ScriptedChatModel(default="x"), "tools": []}  # fmt: skip
    middleware = SubAgentMiddleware(backend=StateBackend(), subagents=[spec])
    specs = task_subagent_specs(middleware.tools[0])
    _canary(
        "deepagents.middleware.subagents._build_task_tool: task -> "
        "_validate_and_prepare_state -> subagents_by_name",
        specs is not None and specs["r"] is spec,
    )


def test_deepagents_harness_profile_for_model() -> None:
    from guardrails._adapters.deepagents import general_purpose_profile
    from guardrails.testing import ScriptedChatModel

    _canary(
        "deepagents.profiles.harness.harness_profiles._harness_profile_for_model",
        general_purpose_profile(ScriptedChatModel(default="x"))[0] is True
        and general_purpose_profile("openai:gpt-test")[0] is True,
    )


def test_deepagents_backend_retype() -> None:
    from deepagents.backends import StateBackend

    from guardrails._adapters.deepagents import retype

    class Sub(StateBackend):
        pass

    original = StateBackend()
    clone = retype(original, Sub)
    _canary(
        "a deepagents backend's __class__ swapped for a subclass (copy.copy + __class__)",
        type(clone) is Sub and type(original) is StateBackend and vars(clone) == vars(original),
    )


def test_langgraph_null_resume_pending() -> None:
    """``CONFIG_KEY_SCRATCHPAD`` / ``get_null_resume``: a task sees a single-value resume."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command, interrupt
    from typing_extensions import TypedDict

    from guardrails._adapters.langgraph import null_resume_pending

    seen: list[bool] = []

    class State(TypedDict):
        x: int

    def node(state: State) -> State:
        seen.append(null_resume_pending())
        interrupt("ask")
        return state

    graph = StateGraph(State)
    graph.add_node("n", node)
    graph.add_edge(START, "n")
    graph.add_edge("n", END)
    app = graph.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "canary"}}
    app.invoke({"x": 1}, config)
    app.invoke(Command(resume="yes"), config)
    _lc_canary(
        "langgraph._internal._constants.CONFIG_KEY_SCRATCHPAD / PregelScratchpad.get_null_resume",
        seen == [False, True] and null_resume_pending() is False,
    )


def test_deepagents_model_resolution_canary() -> None:
    """guardrails.deep builds the moved summarization on the model deepagents resolves:
    ``deepagents._models.resolve_model`` and ``deepagents.graph._build_default_model``."""
    import deepagents._models
    import deepagents.graph

    from guardrails._adapters.deepagents import resolve_chat_model
    from guardrails.testing import ScriptedChatModel

    assert callable(deepagents._models.resolve_model)
    assert callable(deepagents.graph._build_default_model)
    model = ScriptedChatModel(default="x")
    assert resolve_chat_model(model) is model


def test_langchain_model_request_override() -> None:
    """``override_request`` stores what ``ModelRequest.override`` stores: the same fields, the
    same values, the same class; for a subclass or another field it is ``override`` itself."""
    import dataclasses

    from langchain.agents.middleware.types import ModelRequest
    from langchain_core.messages import HumanMessage, SystemMessage

    from guardrails._adapters.langchain import override_request
    from guardrails.testing import ScriptedChatModel

    model, other = ScriptedChatModel(), ScriptedChatModel()
    request = ModelRequest(
        model=model,
        messages=[HumanMessage("hi")],
        system_message=SystemMessage("be brief"),
        tools=[],
        state={"messages": []},
    )
    names = {f.name for f in dataclasses.fields(ModelRequest)}
    _lc_canary("ModelRequest's fields", set(vars(request)) == names)
    for changes in (
        {"model": other},
        {"messages": [HumanMessage("x")]},
        {"model": other, "messages": [], "system_message": None},
    ):
        ours, theirs = override_request(request, **changes), request.override(**changes)
        _lc_canary(
            "ModelRequest.override stores the fields as given",
            type(ours) is type(theirs) is ModelRequest
            and set(vars(ours)) == set(vars(theirs))
            and all(getattr(ours, n) is getattr(theirs, n) for n in names),
        )
    _lc_canary("the original request is untouched", request.model is model)

    class Sub(ModelRequest):  # type: ignore[type-arg]
        pass

    sub = Sub(model=model, messages=[])
    _lc_canary("a subclass goes through override", type(override_request(sub, model=other)) is Sub)


def test_langgraph_viewing_request() -> None:
    """``ToolCallRequest.override`` keeps a subclass and its extra field (``dataclasses.replace``):
    a tool a layer inside sets goes through the guardrail's view, chained across two layers."""
    from langgraph.prebuilt.tool_node import ToolCallRequest

    from guardrails._adapters.langgraph import viewing_request

    seen: list[str] = []
    base = ToolCallRequest(
        tool_call={"name": "t", "args": {}, "id": "1"}, tool=None, state={}, runtime=None
    )  # type: ignore[arg-type]
    outer = viewing_request(base, lambda t: seen.append(f"outer {t}") or t)
    inner = viewing_request(outer, lambda t: seen.append(f"inner {t}") or t)
    moved = inner.override(tool="x", state={"k": 1})
    _lc_canary(
        "langgraph.prebuilt.tool_node.ToolCallRequest.override (dataclasses.replace)",
        isinstance(moved, ToolCallRequest)
        and moved.tool == "x"
        and moved.state == {"k": 1}
        and seen == ["outer x", "inner x"]
        and base.tool is None,
    )


def test_langgraph_injected_arg_sources() -> None:
    """``_get_all_injected_args`` names what ToolNode injects: state, store, runtime (by its
    annotation, by its name, or outside the tool's schema) and ``InjectedToolArg``; a
    JSON-schema tool gets nothing."""
    from langchain_core.tools import StructuredTool
    from pydantic import BaseModel

    from guardrails._adapters.langgraph import _sources
    from tests.support import tool

    @tool
    def a(
        note: str,
        state: Annotated[dict[str, Any], InjectedState],
        store: Annotated[Any, InjectedStore()],
        hidden: Annotated[str, InjectedToolArg],
        runtime: ToolRuntime,
    ) -> str:
        """A."""
        return note

    @tool
    def b(note: str, runtime: Any = None) -> str:
        """B."""
        return note

    class Schema(BaseModel):
        note: str

    def c_func(note: str, runtime: ToolRuntime) -> str:
        return note

    c = StructuredTool.from_function(
        func=c_func, name="c", description="C.", args_schema=Schema, infer_schema=False
    )
    d = StructuredTool(
        name="d",
        description="D.",
        args_schema={"type": "object", "properties": {"note": {"type": "string"}}},
        func=lambda **kw: "ok",
    )
    got = [frozenset(_sources(t)) for t in (a, b, c, d)]
    _lc_canary(
        "langgraph.prebuilt.tool_node._get_all_injected_args",
        got
        == [
            frozenset({"state", "store", "hidden", "runtime"}),
            frozenset({"runtime"}),
            frozenset({"runtime"}),
            frozenset(),
        ]
        and _sources(a) is _sources(a),  # remembered
    )
