"""Mistakes caught where they are made: a plain ``middleware=[...]`` list in a known-bad order
(warned at its first call, as compose() warns at construction), the provider client's own
retries under ModelRetryMiddleware, a fallback whose provider package is missing, async
callables where a plain one is called, and misspelled keywords."""

from __future__ import annotations

import functools
import inspect
import warnings
from pathlib import Path
from typing import Any

import pytest
import respx
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

import guardrails
from guardrails import (
    GuardrailConfigError,
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    ModelRetryMiddleware,
    PIIMiddleware,
    RateLimitMiddleware,
    ToolCallLimitMiddleware,
    ToolRetryMiddleware,
    compose,
)
from guardrails._core import Guardrail
from guardrails.order import GuardrailOrderWarning
from guardrails.retry import ProviderRetriesWarning, provider_retries
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, ok, tool


def order_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, GuardrailOrderWarning)]


# ------------------------------------------------------------------ order of a plain list


def test_plain_list_in_a_bad_order_warns_at_its_first_call_like_compose(mode: str) -> None:
    retry, limit = ModelRetryMiddleware(), ModelCallLimitMiddleware(run_limit=5)
    with warnings.catch_warnings(record=True) as composed:
        warnings.simplefilter("always")
        compose(ModelRetryMiddleware(), ModelCallLimitMiddleware(run_limit=5))
    agent = create_agent(ScriptedChatModel(default="hi"), middleware=[retry, limit])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        invoke(agent, {"messages": [("user", "hello")]}, mode)
        first = order_warnings(caught)
        invoke(agent, {"messages": [("user", "again")]}, mode)
    assert first == order_warnings(composed) != []
    assert order_warnings(caught) == first  # once, not on every call


def test_plain_list_in_the_recommended_order_is_quiet(mode: str) -> None:
    agent = create_agent(
        ScriptedChatModel(default="hi"),
        middleware=[
            ModelCallLimitMiddleware(run_limit=5),
            ModelFallbackMiddleware(ScriptedChatModel(default="backup")),
            ModelRetryMiddleware(on_failure="error"),
            PIIMiddleware("email"),
        ],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        invoke(agent, {"messages": [("user", "hello")]}, mode)
    assert order_warnings(caught) == []


def test_a_retry_that_swallows_errors_inside_a_fallback_warns_at_first_call(mode: str) -> None:
    agent = create_agent(
        ScriptedChatModel(default="hi"),
        middleware=[
            ModelFallbackMiddleware(ScriptedChatModel(default="backup")),
            ModelRetryMiddleware(),  # on_failure="continue": the fallback never runs
        ],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        invoke(agent, {"messages": [("user", "hello")]}, mode)
    assert any("on_failure='error'" in text for text in order_warnings(caught))


def test_tool_hooks_in_a_bad_order_warn_too(mode: str) -> None:
    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        return "found"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("lookup", {"q": "x"})]), AIMessage("ok")]
    )
    agent = create_agent(
        model,
        tools=[lookup],
        middleware=[ToolRetryMiddleware(), ToolCallLimitMiddleware(run_limit=5)],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        invoke(agent, {"messages": [("user", "hello")]}, mode)
    assert any(
        "ToolCallLimitMiddleware should be listed before ToolRetryMiddleware" in text
        for text in order_warnings(caught)
    )


# ------------------------------------------------------------------ the provider's own retries


def test_provider_client_retries_warn_and_audit_once(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    openai_mock.post("/chat/completions").mock(side_effect=lambda request: ok("hi"))
    model = chat_openai(max_retries=2)  # ChatOpenAI's SDK default
    agent = create_agent(model, middleware=[ModelRetryMiddleware(max_retries=3)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        invoke(agent, {"messages": [("user", "hello")]}, mode)
        invoke(agent, {"messages": [("user", "again")]}, mode)
    texts = [str(w.message) for w in caught if issubclass(w.category, ProviderRetriesWarning)]
    assert len(texts) == 1
    assert "max_retries=2" in texts[0] and "max_retries=0" in texts[0]
    assert "up to 12 HTTP requests per model call instead of 4" in texts[0]
    (event,) = audit.of("retry.provider_retries")
    assert (event["provider_retries"], event["attempts"], event["max_requests"]) == (2, 4, 12)


def test_the_documented_fix_silences_it(
    mode: str, openai_mock: respx.MockRouter, chat_openai: Any, audit: AuditCapture
) -> None:
    openai_mock.post("/chat/completions").mock(side_effect=lambda request: ok("hi"))
    agent = create_agent(chat_openai(max_retries=0), middleware=[ModelRetryMiddleware()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        invoke(agent, {"messages": [("user", "hello")]}, mode)
    assert not [w for w in caught if issubclass(w.category, ProviderRetriesWarning)]
    assert audit.of("retry.provider_retries") == []


def test_provider_retries_read_the_sdk_default() -> None:
    from langchain_anthropic import ChatAnthropic
    from langchain_openai import ChatOpenAI

    assert provider_retries(ChatOpenAI(model="gpt-5", api_key="sk-test")) == 2  # SDK default
    assert provider_retries(ChatOpenAI(model="gpt-5", api_key="sk-test", max_retries=0)) == 0
    assert provider_retries(ChatAnthropic(model="claude-x", api_key="sk-test")) == 2
    bound = ChatOpenAI(model="gpt-5", api_key="sk-test", max_retries=5).bind_tools([])
    assert provider_retries(bound) == 5
    assert provider_retries(ScriptedChatModel(default="x")) == 0


# ------------------------------------------------------------------ fallback provider packages


def test_fallback_with_a_missing_provider_package_is_refused_at_construction() -> None:
    with pytest.raises(GuardrailConfigError, match=r"pip install langchain-mistralai"):
        ModelFallbackMiddleware("mistralai:mistral-large-latest")
    ModelFallbackMiddleware("openai:gpt-4o-mini", "anthropic:claude-haiku-4-5")  # installed


def test_guardrails_check_reports_a_missing_provider_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from guardrails.cli import main

    policy = tmp_path / "p.toml"
    policy.write_text(
        'version = 1\n[[agent.middleware]]\nuse = "ModelFallbackMiddleware"\n'
        'first_model = "mistralai:mistral-large-latest"\n'
    )
    assert main(["check", str(policy)]) == 1
    assert "pip install langchain-mistralai" in capsys.readouterr().err


# ------------------------------------------------------------------ async callables


async def _async_predicate(exc: Exception) -> bool:
    return False


class _AsyncCallable:
    async def __call__(self, value: Any) -> Any:
        return False


ASYNC_CALLABLES = {
    "function": _async_predicate,
    "callable object": _AsyncCallable(),
    "partial": functools.partial(_async_predicate),
}

BUILDERS = {
    "ModelRetryMiddleware.retry_on": lambda f: ModelRetryMiddleware(retry_on=f),
    "ModelRetryMiddleware.on_failure": lambda f: ModelRetryMiddleware(on_failure=f),
    "ToolRetryMiddleware.retry_on": lambda f: ToolRetryMiddleware(retry_on=f),
    "ToolRetryMiddleware.on_failure": lambda f: ToolRetryMiddleware(on_failure=f),
    "RateLimitMiddleware.key": lambda f: RateLimitMiddleware("5/minute", key=f),
    "ModelFallbackMiddleware.breaker_key": lambda f: ModelFallbackMiddleware(
        ScriptedChatModel(default="x"), breaker_key=f
    ),
    "PIIMiddleware.detector": lambda f: PIIMiddleware("ticket", detector=f),
}


@pytest.mark.parametrize("shape", sorted(ASYNC_CALLABLES))
@pytest.mark.parametrize("where", sorted(BUILDERS))
def test_async_callables_are_refused_at_construction(where: str, shape: str) -> None:
    setting = where.split(".")[1]
    with pytest.raises(GuardrailConfigError, match=rf"{setting}.*plain \(sync\) callable"):
        BUILDERS[where](ASYNC_CALLABLES[shape])


def test_a_plain_function_returning_a_coroutine_is_not_read_as_true(
    mode: str, scripted: Any
) -> None:
    """The old code retried every error: the coroutine it got back is truthy."""
    mw = ModelRetryMiddleware(
        max_retries=2, retry_on=lambda exc: _async_predicate(exc), on_failure="error"
    )
    mw._sleep = lambda s: None  # type: ignore[method-assign]

    async def no_sleep(s: float) -> None:
        return None

    mw._asleep = no_sleep  # type: ignore[method-assign]
    model = scripted(RuntimeError("boom"), "never reached")
    agent = create_agent(model, middleware=[mw])
    with pytest.raises(GuardrailConfigError, match="retry_on returned an awaitable"):
        invoke(agent, {"messages": [("user", "hello")]}, mode)
    assert len(model.requests) == 1  # not retried


def test_sync_callables_still_work() -> None:
    ModelRetryMiddleware(retry_on=lambda exc: True, on_failure=lambda exc: "sorry")
    RateLimitMiddleware("5/minute", key=lambda request: "u1")
    PIIMiddleware("ticket", detector=lambda text: [])


# ------------------------------------------------------------------ misspelled keywords


def public_middleware() -> list[type]:
    return [
        obj
        for name in guardrails.__all__
        if inspect.isclass(obj := getattr(guardrails, name))
        and issubclass(obj, Guardrail)
        and obj is not Guardrail
    ]


def test_every_public_middleware_is_covered() -> None:
    names = {cls.__name__ for cls in public_middleware()}
    assert {
        "ModelRetryMiddleware",
        "ToolRetryMiddleware",
        "ModelFallbackMiddleware",
        "ModelCallLimitMiddleware",
        "ToolCallLimitMiddleware",
        "RateLimitMiddleware",
        "PIIMiddleware",
        "FilesystemPermissionMiddleware",
    } <= names


@pytest.mark.parametrize("cls", public_middleware(), ids=lambda c: c.__name__)
def test_misspelled_keywords_name_the_closest_parameter(cls: type) -> None:
    params = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.name != "self"
        and not p.name.startswith("_")
        and len(p.name) >= 5
    ]
    assert params
    for param in params:
        name = param.name
        typo = name[:2] + name[3] + name[2] + name[4:]  # two letters swapped
        if typo == name:
            typo = name[:-2] + name[-1]  # a letter left out
        with pytest.raises(TypeError) as info:
            cls(**{typo: 1})
        assert isinstance(info.value, GuardrailConfigError)
        assert f"did you mean {param.name!r}?" in str(info.value), str(info.value)


def test_a_keyword_far_from_every_parameter_lists_them() -> None:
    with pytest.raises(GuardrailConfigError, match=r"its keyword arguments are: .*max_retries"):
        ModelRetryMiddleware(zzzzzz=1)
