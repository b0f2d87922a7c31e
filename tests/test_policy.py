"""Policy files: validation with key paths, inheritance, overrides, composed stacks, ordering."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from guardrails import order as order_mod
from guardrails import policy as policy_mod
from guardrails.compose import ComposedMiddleware
from guardrails.order import OrderRule
from guardrails.policy import GuardrailOrderWarning, Policy, PolicyError, _Entry, check_order
from tests.policy_fixtures import Fallback, Limit, Perms, Retry, Rule


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        policy_mod,
        "REGISTRY",
        {
            "Limit": _Entry("tests.policy_fixtures:Limit"),
            "Retry": _Entry("tests.policy_fixtures:Retry"),
            "Fallback": _Entry("tests.policy_fixtures:Fallback", "models"),
            "Perms": _Entry(
                "tests.policy_fixtures:Perms", tables={"rules": "tests.policy_fixtures:Rule"}
            ),
        },
    )
    monkeypatch.setattr(
        order_mod, "ORDER_RULES", (OrderRule("limit", "retry", "model", "limits go outside"),)
    )


TOML = """
version = 1

[[agent.middleware]]
use = "Limit"
run_limit = 20

[[agent.middleware]]
use = "Retry"
max_retries = 3

[[agent.middleware]]
use = "Fallback"
models = ["openai:a", "openai:b"]

[subagents.researcher]
remove = ["Retry"]
override = { Limit = { run_limit = 5 } }

[[subagents.researcher.middleware]]
use = "Perms"
rules = [{ operations = ["read"], paths = ["/workspace/**"] }]
default = "deny"

[subagents.writer]
inherit = false
compose = true

[[subagents.writer.middleware]]
use = "Retry"
"""


def test_policy_round_trip_matches_code(registry: None, tmp_path: Path) -> None:
    path = tmp_path / "guardrails.toml"
    path.write_text(TOML)
    policy = Policy.load(path)
    assert policy.middleware() == [
        Limit(run_limit=20),
        Retry(max_retries=3),
        Fallback("openai:a", "openai:b"),
    ]
    assert policy.middleware("researcher") == [
        Limit(run_limit=5),
        Fallback("openai:a", "openai:b"),
        Perms([Rule(["read"], ["/workspace/**"])], default="deny"),
    ]
    (writer,) = policy.middleware("writer")
    assert isinstance(writer, ComposedMiddleware)
    assert list(writer.members) == [Retry()]
    assert policy.subagent_names == ["researcher", "writer"]


def test_each_build_is_fresh(registry: None) -> None:
    policy = Policy.from_dict({"agent": {"middleware": [{"use": "Limit"}]}})
    first, second = policy.middleware(), policy.middleware()
    assert first == second and first[0] is not second[0]


def test_yaml_policy(registry: None, tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "p.yaml"
    path.write_text("agent:\n  middleware:\n    - use: Retry\n      max_retries: 1\n")
    assert Policy.load(path).middleware() == [Retry(max_retries=1)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"agnet": {}}, "agnet: unknown key; allowed: agent, compose, subagents, version"),
        ({"version": 2}, "version: unsupported version 2; allowed: 1"),
        (
            {"agent": {"middleware": [{"use": "Retri"}]}},
            "agent.middleware[0].use: unknown middleware 'Retri'; allowed: Fallback, Limit, Perms",
        ),
        (
            {"agent": {"middleware": [{"use": "Retry", "max_retry": 3}]}},
            "agent.middleware[0].max_retry: Retry has no parameter 'max_retry' "
            "(did you mean 'max_retries'?); allowed: max_retries",
        ),
        (
            {"agent": {"middleware": [{"use": "Retry", "max_retries": -1}]}},
            "agent.middleware[0]: Retry: max_retries must be >= 0",
        ),
        (
            {"agent": {"middleware": [{"use": "Limit", "exit_behavior": "stop"}]}},
            "agent.middleware[0]: Limit: exit_behavior must be 'end' or 'error'",
        ),
        ({"agent": {"middleware": "Retry"}}, "agent.middleware: must be a list"),
        (
            {"subagents": {"r": {"remove": ["Retry"]}}},
            "subagents.r.remove[0]: 'Retry' is not in the inherited stack",
        ),
        (
            {
                "agent": {"middleware": [{"use": "Limit"}]},
                "subagents": {"r": {"override": {"Limit": {"exit_behavior": "x"}}}},
            },
            "subagents.r.override.Limit: Limit: exit_behavior must be 'end' or 'error'",
        ),
        ({"subagents": {"r": {"inherit": "yes"}}}, "subagents.r.inherit: must be true or false"),
        ({"compose": "yes"}, "compose: must be true or false"),
    ],
)
def test_invalid_policies_name_the_key_path(
    registry: None, data: dict[str, Any], expected: str
) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict(data, source="p.toml")
    assert any(e.startswith(f"p.toml: {expected}") for e in info.value.errors), info.value.errors


def test_all_errors_reported_at_once(registry: None) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict({"agnet": {}, "agent": {"middleware": [{"use": "X"}, {"use": "Y"}]}})
    assert len(info.value.errors) == 3


def test_file_errors(registry: None, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("agent = [")
    with pytest.raises(PolicyError, match="not valid toml"):
        Policy.load(bad)
    other = tmp_path / "p.ini"
    other.write_text("{}")
    with pytest.raises(PolicyError, match=r"allowed: \.toml, \.yaml, \.yml, \.json"):
        Policy.load(other)


def test_unknown_subagent(registry: None) -> None:
    with pytest.raises(PolicyError, match="no such subagent"):
        Policy.from_dict({}).middleware("ghost")


def test_subagent_specs_get_middleware(registry: None) -> None:
    policy = Policy.from_dict(
        {
            "agent": {"middleware": [{"use": "Limit", "run_limit": 9}]},
            "subagents": {"a": {"override": {"Limit": {"run_limit": 1}}}},
        }
    )
    a, b = policy.subagents(
        [
            {"name": "a", "description": "x", "system_prompt": "y"},
            {"name": "b", "description": "x", "system_prompt": "y"},
        ]
    )
    assert a["middleware"] == [Limit(run_limit=1)]
    assert b["middleware"] == [Limit(run_limit=9)]  # unnamed subagents inherit the main stack
    assert a["name"] == "a" and a["description"] == "x"


def test_order_warnings(registry: None) -> None:
    with pytest.warns(GuardrailOrderWarning, match="Limit should be listed before Retry"):
        check_order([Retry(), Limit()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_order([Limit(), Retry()]) == []
    with pytest.warns(GuardrailOrderWarning):
        Policy.from_dict(
            {"agent": {"middleware": [{"use": "Retry"}, {"use": "Limit"}]}}
        ).middleware()


REAL = """
version = 1

[[agent.middleware]]
use = "RateLimitMiddleware"
limit = "30/minute"
key = "global"

[[agent.middleware]]
use = "ModelCallLimitMiddleware"
run_limit = 10

[[agent.middleware]]
use = "ModelFallbackMiddleware"
models = ["openai:gpt-4o-mini"]
failure_threshold = 2

[[agent.middleware]]
use = "ModelRetryMiddleware"
max_retries = 3
on_failure = "error"

[[agent.middleware]]
use = "PIIMiddleware"
pii_type = ["email", "phone"]

[subagents.researcher]
override = { ModelCallLimitMiddleware = { run_limit = 3 } }
"""


def _shape(stack: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    keep = ("run_limit", "limit", "max_retries", "on_failure", "pii_type", "failure_threshold")
    return [(type(m).__name__, {k: getattr(m, k) for k in keep if hasattr(m, k)}) for m in stack]


def test_real_policy_matches_the_stack_built_in_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guardrails import (
        ModelCallLimitMiddleware,
        ModelFallbackMiddleware,
        ModelRetryMiddleware,
        PIIMiddleware,
        RateLimitMiddleware,
    )

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # validation needs no API key
    path = tmp_path / "real.toml"
    path.write_text(REAL)
    policy = Policy.load(path)
    in_code = [
        RateLimitMiddleware("30/minute", key="global"),
        ModelCallLimitMiddleware(run_limit=10),
        ModelFallbackMiddleware("openai:gpt-4o-mini", failure_threshold=2),
        ModelRetryMiddleware(max_retries=3, on_failure="error"),
        PIIMiddleware(["email", "phone"]),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the recommended order raises no warning
        assert _shape(policy.middleware()) == _shape(in_code)
    assert _shape(policy.middleware("researcher"))[1] == (
        "ModelCallLimitMiddleware",
        {"run_limit": 3},
    )


def test_retry_swallowing_failures_inside_fallback_warns() -> None:
    from guardrails import ModelFallbackMiddleware, ModelRetryMiddleware

    with pytest.warns(GuardrailOrderWarning, match="on_failure='error'"):
        check_order([ModelFallbackMiddleware("openai:gpt-4o-mini"), ModelRetryMiddleware()])


def test_import_values_resolve_python_objects(tmp_path: Path) -> None:
    from guardrails import ModelRetryMiddleware
    from guardrails.errors import is_retryable

    path = tmp_path / "p.toml"
    path.write_text(
        '[[agent.middleware]]\nuse = "ModelRetryMiddleware"\n'
        'retry_on = { import = "guardrails.errors:is_retryable" }\n'
    )
    (mw,) = Policy.load(path).middleware()
    assert isinstance(mw, ModelRetryMiddleware) and mw.retry_on is is_retryable
    path.write_text(
        '[[agent.middleware]]\nuse = "ModelRetryMiddleware"\n'
        'retry_on = { import = "guardrails.errors:no_such_thing" }\n'
    )
    with pytest.raises(PolicyError, match=r"cannot import .*no_such_thing"):
        Policy.load(path)


# --- order rules see every guardrail, by kind ------------------------------------------------


def _order_cases() -> list[tuple[list[Any], str]]:
    from guardrails import (
        ModelCallLimitMiddleware,
        ModelFallbackMiddleware,
        ModelRetryMiddleware,
        RateLimitMiddleware,
        ToolCallLimitMiddleware,
        ToolRetryMiddleware,
        compose,
    )

    class MyLimit(ModelCallLimitMiddleware):  # a subclass keeps its kind
        pass

    return [
        (
            [ModelRetryMiddleware(), RateLimitMiddleware("5/minute", key="global")],
            "RateLimitMiddleware should be listed before ModelRetryMiddleware",
        ),
        (
            [
                ToolRetryMiddleware(),
                ToolCallLimitMiddleware(run_limit=2, exit_behavior="end"),
            ],
            "ToolCallLimitMiddleware should be listed before ToolRetryMiddleware",
        ),
        (
            [ToolRetryMiddleware(), RateLimitMiddleware("5/minute", applies_to="tools")],
            "RateLimitMiddleware should be listed before ToolRetryMiddleware",
        ),
        (
            [
                ModelFallbackMiddleware("openai:gpt-4o-mini"),
                RateLimitMiddleware("5/minute", key="global"),
            ],
            "RateLimitMiddleware should be listed before ModelFallbackMiddleware",
        ),
        (
            [ModelRetryMiddleware(), MyLimit(run_limit=3)],
            "MyLimit should be listed before ModelRetryMiddleware",
        ),
        (
            [compose(ModelRetryMiddleware(), ToolRetryMiddleware()), MyLimit(run_limit=3)],
            "MyLimit should be listed before ModelRetryMiddleware",
        ),
    ]


def test_order_rules_see_every_configuration_and_subclass() -> None:
    for stack, expected in _order_cases():
        problems = check_order(stack, warn=False)
        assert any(expected in p for p in problems), (expected, problems)


def test_order_rules_only_compare_guardrails_on_a_shared_hook() -> None:
    from guardrails import ModelRetryMiddleware, RateLimitMiddleware, ToolRetryMiddleware

    # a tool-only rate limit inside a model retry: the retry never repeats a tool call
    assert (
        check_order(
            [ModelRetryMiddleware(), RateLimitMiddleware("5/minute", applies_to="tools")],
            warn=False,
        )
        == []
    )
    assert (
        check_order(
            [ToolRetryMiddleware(), RateLimitMiddleware("5/minute", key="global")], warn=False
        )
        == []
    )


def test_langchain_builtins_are_seen_by_kind() -> None:
    from langchain.agents.middleware import ModelCallLimitMiddleware as LCLimit
    from langchain.agents.middleware import ModelRetryMiddleware as LCRetry

    from guardrails import ModelCallLimitMiddleware

    problems = check_order([LCRetry(), ModelCallLimitMiddleware(run_limit=3)], warn=False)
    assert problems == [
        "ModelCallLimitMiddleware should be listed before ModelRetryMiddleware: call limits "
        "inside a retry count every retry attempt as a new model call"
    ]
    # LangChain's own call limit counts in a before_model node, outside every wrap hook
    assert check_order([LCRetry(), LCLimit(run_limit=3)], warn=False) == []


def test_every_registry_entry_has_a_distinct_kind() -> None:
    specs = [policy_mod.MiddlewareSpec(use, {}, use) for use in policy_mod.REGISTRY]
    kinds = [spec.kind for spec in specs]
    assert None not in kinds and len(set(kinds)) == len(kinds), kinds
    assert dict(zip(policy_mod.REGISTRY, kinds, strict=True))["RateLimitMiddleware"] == "rate_limit"
