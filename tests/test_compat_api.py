"""Our classes expose LangChain's public API: parameters, defaults, attributes, hooks, transformers.

Tracks LangChain's middleware API as it moves: when an upgrade adds a constructor parameter, a
public attribute or a hook to ``AgentMiddleware``, a test here fails and names it.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from langchain.agents import middleware as lc
from langchain.agents.middleware import AgentMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

import guardrails

NAMES = [
    "ModelRetryMiddleware",
    "ToolRetryMiddleware",
    "ModelFallbackMiddleware",
    "ModelCallLimitMiddleware",
    "ToolCallLimitMiddleware",
    "PIIMiddleware",
]


def _model() -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(()))


#: class name -> [(args, kwargs)] built on both classes
CONFIGS: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "ModelRetryMiddleware": [
        ((), {}),
        ((), {"max_retries": 4, "on_failure": "error", "backoff_factor": 1.5, "jitter": False}),
    ],
    "ToolRetryMiddleware": [((), {}), ((), {"tools": ["search", "fetch"], "max_retries": 1})],
    "ModelFallbackMiddleware": [((_model(), _model()), {})],
    "ModelCallLimitMiddleware": [
        ((), {"run_limit": 3}),
        ((), {"thread_limit": 5, "run_limit": 2, "exit_behavior": "error"}),
    ],
    "ToolCallLimitMiddleware": [
        ((), {"run_limit": 3}),
        ((), {"tool_name": "search", "thread_limit": 4, "exit_behavior": "end"}),
    ],
    "PIIMiddleware": [
        (("email",), {}),
        (("email",), {"strategy": "mask", "apply_to_output": True}),
        (("credit_card",), {"strategy": "block", "apply_to_tool_results": True}),
        (("ip",), {"strategy": "hash", "apply_to_input": False, "apply_to_output": True}),
    ],
}
CASES = [
    pytest.param(name, args, kwargs, id=f"{name}-{i}")
    for name, configs in CONFIGS.items()
    for i, (args, kwargs) in enumerate(configs)
]

#: attributes whose value differs on purpose (docs/migration.md), by class
DIFFERENT_VALUES: dict[str, set[str]] = {
    "ModelCallLimitMiddleware": {"state_schema"},  # our own state keys: "Hooks and state"
    "ToolCallLimitMiddleware": {"state_schema"},
    "PIIMiddleware": {"state_schema"},
}


@pytest.mark.parametrize("name", NAMES)
def test_every_langchain_parameter_exists_with_its_default(name: str) -> None:
    theirs = inspect.signature(getattr(lc, name).__init__).parameters
    ours = inspect.signature(getattr(guardrails, name).__init__).parameters
    for pname, param in theirs.items():
        assert pname in ours, f"{name}: LangChain's parameter {pname!r} is missing"
        mine = ours[pname]
        assert mine.kind == param.kind, f"{name}.{pname}: {mine.kind} != {param.kind}"
        if param.default is inspect.Parameter.empty:
            assert mine.default is inspect.Parameter.empty, f"{name}.{pname} gained a default"
        elif not callable(param.default):  # retry_on's default is a function of each library
            assert mine.default == param.default, f"{name}.{pname} default differs"
    for pname, param in ours.items():
        if pname not in theirs and param.kind is not inspect.Parameter.VAR_KEYWORD:
            assert param.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: extra {pname!r}"
            assert param.default is not inspect.Parameter.empty, f"{name}: {pname!r} required"


def _public_data(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in dir(obj):
        if attr.startswith("_"):
            continue
        value = getattr(obj, attr)
        if inspect.ismethod(value) or inspect.isfunction(value):
            continue
        out[attr] = value
    return out


@pytest.mark.filterwarnings("ignore:PIIMiddleware.strategy='hash'.:UserWarning")
@pytest.mark.parametrize(("name", "args", "kwargs"), CASES)
def test_public_attributes_match(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    theirs = getattr(lc, name)(*args, **kwargs)
    ours = getattr(guardrails, name)(*args, **kwargs)
    mine = _public_data(ours)
    for attr, value in _public_data(theirs).items():
        assert attr in mine, f"{name}: public attribute {attr!r} is missing on ours"
        if attr in DIFFERENT_VALUES.get(name, set()) or attr == "transformers":
            continue
        if callable(value) and not isinstance(value, type):
            assert callable(mine[attr]), f"{name}.{attr}"
            continue
        assert mine[attr] == value, f"{name}.{attr}: ours {mine[attr]!r} != theirs {value!r}"


@pytest.mark.filterwarnings("ignore:PIIMiddleware.strategy='hash'.:UserWarning")
@pytest.mark.parametrize(("name", "args", "kwargs"), CASES)
def test_stream_transformers_where_langchain_registers_them(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """LangChain 1.5 added ``transformers`` (v3 stream redaction); ours registers one too."""
    theirs = getattr(lc, name)(*args, **kwargs)
    ours = getattr(guardrails, name)(*args, **kwargs)
    assert isinstance(ours.transformers, (tuple, list))
    assert bool(ours.transformers) == bool(theirs.transformers), (
        f"{name}: LangChain registers {len(theirs.transformers)} stream transformer(s), "
        f"ours {len(ours.transformers)}"
    )
    for factory in ours.transformers:
        assert callable(factory)


#: the hooks and public members of AgentMiddleware in the LangChain version we track
KNOWN_AGENT_MIDDLEWARE_API = {
    "aafter_agent", "aafter_model", "abefore_agent", "abefore_model", "after_agent",
    "after_model", "awrap_model_call", "awrap_tool_call", "before_agent", "before_model",
    "name", "state_schema", "tools", "trace_policy", "transformers", "wrap_model_call",
    "wrap_tool_call",
}  # fmt: skip


def test_langchain_middleware_api_is_the_one_we_track() -> None:
    """A new hook or attribute on AgentMiddleware fails here: review our classes for it."""
    current = {n for n in dir(AgentMiddleware) if not n.startswith("_")}
    current |= set(getattr(AgentMiddleware, "__annotations__", {}))
    current = {n for n in current if not n.startswith("_")}
    assert current - KNOWN_AGENT_MIDDLEWARE_API == set(), "LangChain added to AgentMiddleware"
    assert KNOWN_AGENT_MIDDLEWARE_API - current == set(), "LangChain removed from AgentMiddleware"


@pytest.mark.parametrize("name", NAMES)
def test_sync_and_async_hooks_come_in_pairs(name: str) -> None:
    cls = getattr(guardrails, name)
    pairs: list[tuple[str, str]] = [
        ("wrap_model_call", "awrap_model_call"),
        ("wrap_tool_call", "awrap_tool_call"),
        ("before_model", "abefore_model"),
        ("after_model", "aafter_model"),
        ("before_agent", "abefore_agent"),
        ("after_agent", "aafter_agent"),
    ]
    for sync, async_ in pairs:

        def overrides(hook: str) -> bool:
            return getattr(cls, hook) is not getattr(AgentMiddleware, hook)

        assert overrides(sync) == overrides(async_), f"{name}: {sync} without {async_}"


@pytest.mark.parametrize("name", NAMES)
def test_instances_are_langchain_middleware(name: str) -> None:
    assert issubclass(getattr(guardrails, name), AgentMiddleware)


@pytest.mark.parametrize(
    "name", ["ModelCallLimitExceededError", "ToolCallLimitExceededError", "PIIDetectionError"]
)
def test_exceptions_are_langchains(name: str) -> None:
    ours = getattr(guardrails, name)
    module = {
        "ModelCallLimitExceededError": "langchain.agents.middleware.model_call_limit",
        "ToolCallLimitExceededError": "langchain.agents.middleware.tool_call_limit",
        "PIIDetectionError": "langchain.agents.middleware.pii",
    }[name]
    theirs = getattr(__import__(module, fromlist=[name]), name)
    assert issubclass(ours, theirs)
    for pname, param in inspect.signature(theirs.__init__).parameters.items():
        mine = inspect.signature(ours.__init__).parameters
        assert pname in mine and mine[pname].kind == param.kind, f"{name}({pname})"
