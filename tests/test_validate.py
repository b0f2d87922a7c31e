"""Shared setting validators: strings are not booleans, NaN is not a number, a string is not a list.

Each refusal is checked three ways: the validator itself, the middleware constructors that use it,
and a policy file (TOML and YAML) through ``guardrails check``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from guardrails import _validate as v
from guardrails.call_limits import ModelCallLimitMiddleware, ToolCallLimitMiddleware
from guardrails.cli import main
from guardrails.errors import GuardrailConfigError
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.retry import ModelRetryMiddleware, ToolRetryMiddleware
from guardrails.testing import ScriptedChatModel
from tests.support import tool

NOT_BOOLS = ["false", "False", "0", "true", "no", "", 0, 1, None, 0.0, [], "off"]
NOT_NUMBERS = [math.nan, math.inf, -math.inf, True, False, "1", "nan", None, [1], complex(1, 0)]


# ----------------------------------------------------------------------------- the validators


@pytest.mark.parametrize("value", NOT_BOOLS)
def test_strict_bool_refuses_everything_but_a_bool(value: Any) -> None:
    with pytest.raises(GuardrailConfigError, match=r"fail_open must be a boolean, True or False"):
        v.strict_bool("fail_open", value)
    with pytest.raises(ValueError):  # GuardrailConfigError is a ValueError too
        v.strict_bool("fail_open", value)


def test_strict_bool_accepts_bools() -> None:
    assert v.strict_bool("x", True) is True
    assert v.strict_bool("x", False) is False


def test_strict_bool_explains_strings() -> None:
    with pytest.raises(GuardrailConfigError, match="a string is not a boolean"):
        v.strict_bool("jitter", "false")


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_number_refuses_non_finite_bool_and_strings(value: Any) -> None:
    with pytest.raises(GuardrailConfigError, match=r"cooldown must be >= 0 \(a finite number\)"):
        v.number("cooldown", value)


def test_number_bounds_and_optional() -> None:
    assert v.number("x", 3) == 3.0 and isinstance(v.number("x", 3), float)
    assert v.number("x", 0) == 0.0
    assert v.number("x", None, optional=True) is None
    with pytest.raises(GuardrailConfigError, match=r"x must be >= 0 \(a finite number or None\)"):
        v.number("x", -0.5, optional=True)
    with pytest.raises(GuardrailConfigError, match=r"x must be > 0 and <= 10"):
        v.number("x", 0, exclusive_minimum=True, maximum=10)
    with pytest.raises(GuardrailConfigError, match=r"<= 10"):
        v.number("x", 10.5, maximum=10)
    assert v.number("x", -5, minimum=None) == -5.0
    with pytest.raises(GuardrailConfigError, match="x must be a finite number; got nan"):
        v.number("x", math.nan, minimum=None)


@pytest.mark.parametrize("value", [-1, 1.0, 2.5, True, "3", math.nan, None])
def test_whole_number_refuses(value: Any) -> None:
    with pytest.raises(GuardrailConfigError, match=r"max_retries must be >= 0 \(a whole number\)"):
        v.whole_number("max_retries", value)


def test_whole_and_positive() -> None:
    assert v.whole_number("x", 0) == 0
    assert v.whole_number("x", None, optional=True) is None
    assert v.positive_int("x", 1) == 1
    assert v.positive_int("x", None, optional=True) is None
    with pytest.raises(GuardrailConfigError, match=r"x must be >= 1"):
        v.positive_int("x", 0)
    with pytest.raises(GuardrailConfigError, match=r"<= 5"):
        v.whole_number("x", 6, maximum=5)


def test_one_of() -> None:
    assert v.one_of("on_limit", "wait", ("error", "wait", "end")) == "wait"
    with pytest.raises(GuardrailConfigError, match="on_limit must be one of 'error', 'wait'"):
        v.one_of("on_limit", "Wait", ("error", "wait", "end"))
    with pytest.raises(GuardrailConfigError):  # 1 == True, but a bool is not the int 1
        v.one_of("x", True, (1, 2))


def test_tool_names() -> None:
    @tool
    def search(q: str) -> str:
        """Search."""
        return q

    assert v.tool_names("tools", ["a", search, "a"]) == ("a", "search")
    assert v.tool_names("tools", ("a",)) == ("a",)
    assert v.tool_names("tools", []) == ()
    assert v.tool_names("tools", None, optional=True) is None
    with pytest.raises(GuardrailConfigError, match=r"not a bare string: write \['work'\]"):
        v.tool_names("tools", "work")
    with pytest.raises(GuardrailConfigError, match="not a bare string"):
        v.tool_names("tools", b"work")
    with pytest.raises(GuardrailConfigError, match="non-empty list"):
        v.tool_names("applies_to", [], allow_empty=False)
    for bad in ([""], [1], [None], {"a": 1}, 5, None):
        with pytest.raises(GuardrailConfigError, match="tools must be"):
            v.tool_names("tools", bad)


# ----------------------------------------------------------------------------- the middleware

_MODEL = ScriptedChatModel(responses=[], model_name="m")


@pytest.mark.parametrize(
    ("build", "setting"),
    [
        (lambda x: RateLimitMiddleware("1/second", fail_open=x), "fail_open"),
        (lambda x: ModelRetryMiddleware(jitter=x), "jitter"),
        (lambda x: ModelRetryMiddleware(respect_retry_after=x), "respect_retry_after"),
        (lambda x: ToolRetryMiddleware(jitter=x), "jitter"),
        (lambda x: ToolRetryMiddleware(respect_retry_after=x), "respect_retry_after"),
    ],
)
@pytest.mark.parametrize("value", ["false", "true", 0, 1])
def test_middleware_booleans_are_booleans(build: Any, setting: str, value: Any) -> None:
    with pytest.raises(GuardrailConfigError, match=f"{setting} must be a boolean"):
        build(value)


@pytest.mark.parametrize(
    ("build", "setting"),
    [
        (lambda x: ModelFallbackMiddleware(_MODEL, cooldown=x), "cooldown"),
        (lambda x: ModelRetryMiddleware(initial_delay=x), "initial_delay"),
        (lambda x: ModelRetryMiddleware(max_delay=x), "max_delay"),
        (lambda x: ModelRetryMiddleware(backoff_factor=x), "backoff_factor"),
        (lambda x: ModelRetryMiddleware(max_elapsed=x), "max_elapsed"),
        (lambda x: ToolRetryMiddleware(initial_delay=x), "initial_delay"),
        (lambda x: RateLimitMiddleware("1/second", on_limit="wait", max_wait=x), "max_wait"),
    ],
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, True, "1"])
def test_middleware_numbers_are_finite(build: Any, setting: str, value: Any) -> None:
    with pytest.raises(GuardrailConfigError, match=f"{setting} must be >=? 0"):
        build(value)


@pytest.mark.parametrize(
    ("build", "setting"),
    [
        (lambda x: ModelRetryMiddleware(max_retries=x), "max_retries"),
        (lambda x: ModelFallbackMiddleware(_MODEL, failure_threshold=x), "failure_threshold"),
        (lambda x: ModelCallLimitMiddleware(run_limit=x), "run_limit"),
        (lambda x: ToolCallLimitMiddleware(thread_limit=x), "thread_limit"),
    ],
)
@pytest.mark.parametrize("value", [math.nan, 2.5, True, "3", -1])
def test_middleware_counts_are_whole(build: Any, setting: str, value: Any) -> None:
    with pytest.raises(GuardrailConfigError, match=f"{setting} must be >= "):
        build(value)


def test_tools_bare_string_is_refused() -> None:
    with pytest.raises(GuardrailConfigError, match=r"tools must be a list .* not a bare string"):
        ToolRetryMiddleware(tools="work")  # type: ignore[arg-type]
    with pytest.raises(GuardrailConfigError, match="applies_to must be"):
        RateLimitMiddleware("1/second", applies_to="work")  # type: ignore[arg-type]
    assert ToolRetryMiddleware(tools=["work"])._tool_filter == frozenset({"work"})


def test_rate_limit_choices() -> None:
    with pytest.raises(GuardrailConfigError, match="strategy must be one of 'moving-window'"):
        RateLimitMiddleware("1/second", strategy="token-bucket")  # type: ignore[arg-type]
    with pytest.raises(GuardrailConfigError, match="on_limit must be one of 'error', 'wait'"):
        RateLimitMiddleware("1/second", on_limit="block")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- policy files

_TOML = """
version = 1
[[agent.middleware]]
use = "RateLimitMiddleware"
limit = "10/minute"
key = "global"
fail_open = {value}
"""


@pytest.mark.parametrize("value", ['"false"', '"true"', "0", "1", '"0"'])
def test_guardrails_check_refuses_string_booleans_in_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(_TOML.format(value=value))
    assert main(["check", str(policy)]) == 1
    out = capsys.readouterr()
    assert "fail_open must be a boolean" in out.out + out.err


def test_guardrails_check_accepts_real_booleans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(_TOML.format(value="false"))
    assert main(["check", str(policy)]) == 0


def test_guardrails_check_refuses_yaml_strings_nan_and_bare_tools(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("yaml")
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\n"
        "agent:\n"
        "  middleware:\n"
        "    - use: ModelRetryMiddleware\n"
        "      jitter: 'no'\n"
        "    - use: ModelRetryMiddleware\n"
        "      initial_delay: .nan\n"
        "    - use: ToolRetryMiddleware\n"
        "      tools: work\n"
    )
    assert main(["check", str(policy)]) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "jitter must be a boolean" in text
    assert "initial_delay must be >= 0" in text
    assert "not a bare string" in text
