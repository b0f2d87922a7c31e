"""Promises of policy files and settings at their edges (issue 29: careless edits must fail).

Every cap of the bounded reader holds at exactly its value and refuses one past it (size, nesting,
stack length, subagents, error count, line length); every error path names the key and what is
allowed; a subagent's inheritance, removals and overrides do what the file says. Through the
public API: ``Policy.load`` / ``Policy.from_dict`` and the middleware they build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guardrails._policy_load import MAX_BYTES, MAX_DEPTH, MAX_ERRORS, MAX_LINE
from guardrails.policy import MAX_STACK, MAX_SUBAGENTS, Policy, PolicyError
from guardrails.retry import ModelRetryMiddleware

RETRY = {"use": "ModelRetryMiddleware"}
RETRY_TOML = '[[agent.middleware]]\nuse = "ModelRetryMiddleware"\n'


def _write(tmp_path: Path, suffix: str, content: str | bytes) -> Path:
    path = tmp_path / f"policy{suffix}"
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def _errors(fn: Any, *args: Any) -> list[str]:
    with pytest.raises(PolicyError) as info:
        fn(*args)
    return info.value.errors


# ------------------------------------------------------------------ the reader's caps


def test_a_file_of_exactly_the_size_cap_loads_and_one_byte_more_is_refused(
    tmp_path: Path,
) -> None:
    pad = MAX_BYTES - len(RETRY_TOML) - 3
    content = RETRY_TOML + "#" + "x" * pad + "\n"
    assert len(content.encode()) == MAX_BYTES - 1
    assert Policy.load(_write(tmp_path, ".toml", content + "\n")).configures_anything
    (error,) = _errors(Policy.load, _write(tmp_path, ".toml", content + "\n\n"))
    assert "larger than 256 KiB" in error


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_nesting_of_exactly_the_depth_cap_is_read_and_one_more_is_refused(
    tmp_path: Path, suffix: str
) -> None:
    def content(lists: int) -> str:
        nested = json.dumps(_nested(lists))
        if suffix == ".json":
            return json.dumps({"agent": {"middleware": [RETRY]}, "x": _nested(lists)})
        if suffix == ".yaml":
            return f"agent:\n  middleware:\n    - use: ModelRetryMiddleware\nx: {nested}\n"
        return f"x = {nested}\n" + RETRY_TOML

    # the top table is level 1, so MAX_DEPTH - 1 nested lists reach exactly MAX_DEPTH:
    # the file is read (and refused only for its unknown key)
    (error,) = _errors(Policy.load, _write(tmp_path, suffix, content(MAX_DEPTH - 1)))
    assert "x: unknown key" in error
    (error,) = _errors(Policy.load, _write(tmp_path, suffix, content(MAX_DEPTH)))
    assert f"nested deeper than {MAX_DEPTH} levels" in error
    if suffix == ".yaml":  # refused on YAML's events, before any node is built: by its line
        assert error.endswith(f"line 4: nested deeper than {MAX_DEPTH} levels")


def test_an_unknown_format_is_refused_with_the_allowed_ones(tmp_path: Path) -> None:
    (error,) = _errors(Policy.load, _write(tmp_path, ".ini", RETRY_TOML))
    assert "unknown policy format '.ini'; allowed: .toml, .yaml, .yml, .json" in error


def test_the_format_is_read_by_suffix_in_any_case(tmp_path: Path) -> None:
    policy = Policy.load(_write(tmp_path, ".JSON", json.dumps({"agent": {"middleware": [RETRY]}})))
    assert [type(m) for m in policy.middleware()] == [ModelRetryMiddleware]


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    (error,) = _errors(Policy.load, folder)
    assert error.startswith(f"{folder}: cannot read the file")


def test_bytes_that_are_not_utf8_are_refused_at_their_offset(tmp_path: Path) -> None:
    (error,) = _errors(Policy.load, _write(tmp_path, ".toml", b"# ok\n\xff" + RETRY_TOML.encode()))
    assert error.endswith("not UTF-8 text (byte 5)")


@pytest.mark.parametrize(
    ("suffix", "content"), [(".json", "[1, 2]"), (".yaml", "- a\n- b\n"), (".json", '"x"')]
)
def test_a_top_level_that_is_not_a_table_is_refused(
    tmp_path: Path, suffix: str, content: str
) -> None:
    (error,) = _errors(Policy.load, _write(tmp_path, suffix, content))
    assert error.endswith("the top level must be a table")


def test_a_syntax_error_names_the_format(tmp_path: Path) -> None:
    (error,) = _errors(Policy.load, _write(tmp_path, ".json", '{"agent": '))
    assert "not valid json" in error
    (error,) = _errors(Policy.load, _write(tmp_path, ".yml", "agent: [\n"))
    assert "not valid yml" in error


# ------------------------------------------------------------------ counts at their caps


def test_a_stack_of_exactly_the_cap_is_accepted_and_one_more_is_refused() -> None:
    full = Policy.from_dict({"agent": {"middleware": [RETRY] * MAX_STACK}})
    assert len(full.specs()) == MAX_STACK
    (error,) = _errors(Policy.from_dict, {"agent": {"middleware": [RETRY] * (MAX_STACK + 1)}})
    assert f"{MAX_STACK + 1} middleware; at most {MAX_STACK} per stack" in error


def test_exactly_the_cap_of_subagents_is_accepted_and_one_more_is_refused() -> None:
    def data(n: int) -> dict[str, Any]:
        return {
            "agent": {"middleware": [RETRY]},
            "subagents": {f"s{i}": {"inherit": True} for i in range(n)},
        }

    assert len(Policy.from_dict(data(MAX_SUBAGENTS)).subagent_names) == MAX_SUBAGENTS
    (error,) = _errors(Policy.from_dict, data(MAX_SUBAGENTS + 1))
    assert f"at most {MAX_SUBAGENTS}" in error


def test_errors_are_listed_up_to_the_cap_then_summarised() -> None:
    def data(n: int) -> dict[str, Any]:
        return {"agent": {"middleware": [RETRY]}, **{f"k{i}": 1 for i in range(n)}}

    errors = _errors(Policy.from_dict, data(MAX_ERRORS))
    assert len(errors) == MAX_ERRORS and not errors[-1].startswith("...")
    errors = _errors(Policy.from_dict, data(MAX_ERRORS + 1))
    assert len(errors) == MAX_ERRORS + 1 and errors[-1] == "... and 1 more errors"


def test_an_error_line_is_cut_at_the_cap() -> None:
    def error_for(value: str) -> str:
        limit = {"use": "RateLimitMiddleware", "limit": value}
        (error,) = _errors(Policy.from_dict, {"agent": {"middleware": [limit]}})
        return error

    short = error_for("x" * 10)
    assert "cannot be parsed" in short and not short.endswith("characters)")
    long = error_for("x" * 5000)
    assert len(long) <= MAX_LINE and long.endswith("characters)")
    assert long.startswith("<policy>: agent.middleware[0]: RateLimitMiddleware:")


# ------------------------------------------------------------------ settings of the file


@pytest.mark.parametrize("version", [0, 2, 1.0, True, "1"])
def test_only_version_1_is_accepted(version: Any) -> None:
    (error,) = _errors(Policy.from_dict, {"version": version, "agent": {"middleware": [RETRY]}})
    assert error.startswith("<policy>: version: unsupported version") and error.endswith(
        "allowed: 1"
    )
    assert Policy.from_dict({"version": 1, "agent": {"middleware": [RETRY]}}).specs()


@pytest.mark.parametrize(
    ("data", "where", "text"),
    [
        ({"compose": "yes"}, "compose", "must be true or false"),
        ({"agent": []}, "agent", "must be a table"),
        ({"agent": {"middleware": RETRY}}, "agent.middleware", "must be a list"),
        ({"agent": {"middleware": ["x"]}}, "agent.middleware[0]", "must be a table"),
        ({"agent": {"stack": []}}, "agent.stack", "unknown key; allowed: middleware"),
        ({"subagents": []}, "subagents", "must be a table of subagent names"),
        ({"subagents": {"s": 1}}, "subagents.s", "must be a table"),
        ({"subagents": {"s": {"inherit": "no"}}}, "subagents.s.inherit", "true or false"),
        ({"subagents": {"s": {"compose": 1}}}, "subagents.s.compose", "true or false"),
        ({"subagents": {"s": {"remove": "x"}}}, "subagents.s.remove", "must be a list"),
        ({"subagents": {"s": {"override": []}}}, "subagents.s.override", "must be a table"),
        ({"subagents": {"s": {"extra": 1}}}, "subagents.s.extra", "unknown key"),
        (
            {"subagents": {"s": {"override": {"ModelRetryMiddleware": 3}}}},
            "subagents.s.override.ModelRetryMiddleware",
            "must be a table of parameters",
        ),
        (
            {"subagents": {"s": {"remove": ["ToolRetryMiddleware"]}}},
            "subagents.s.remove[0]",
            "'ToolRetryMiddleware' is not in the inherited stack; allowed: ModelRetryMiddleware",
        ),
        (
            {"subagents": {"s": {"override": {"ToolRetryMiddleware": {}}}}},
            "subagents.s.override.ToolRetryMiddleware",
            "is not in the inherited stack",
        ),
        (
            {"subagents": {"s": {"inherit": False, "remove": ["ModelRetryMiddleware"]}}},
            "subagents.s.remove[0]",
            "(nothing inherited)",
        ),
    ],
)
def test_each_mistake_is_named_by_its_key(data: dict[str, Any], where: str, text: str) -> None:
    base: dict[str, Any] = {"agent": {"middleware": [RETRY]}}
    if "agent" in data:
        base = {}
    errors = _errors(Policy.from_dict, {**base, **data})
    assert any(e.startswith(f"<policy>: {where}: ") and text in e for e in errors), errors


def test_a_subagent_inherits_removes_and_overrides_as_written() -> None:
    policy = Policy.from_dict(
        {
            "agent": {
                "middleware": [
                    {"use": "ModelRetryMiddleware", "max_retries": 1},
                    {"use": "ToolRetryMiddleware"},
                ]
            },
            "subagents": {
                "same": {},
                "fewer": {"remove": ["ToolRetryMiddleware"]},
                "tuned": {"override": {"ModelRetryMiddleware": {"max_retries": 5}}},
                "alone": {"inherit": False, "middleware": [{"use": "ToolRetryMiddleware"}]},
            },
        }
    )

    def uses(name: str | None) -> list[str]:
        return [s.use for s in policy.specs(name)]

    assert uses("same") == uses(None) == ["ModelRetryMiddleware", "ToolRetryMiddleware"]
    assert uses("fewer") == ["ModelRetryMiddleware"]
    assert uses("alone") == ["ToolRetryMiddleware"]
    (tuned, _) = policy.middleware("tuned")
    assert isinstance(tuned, ModelRetryMiddleware) and tuned.max_retries == 5
    (main, _) = policy.middleware()
    assert main.max_retries == 1  # the override is the subagent's alone
    with pytest.raises(PolicyError, match="no such subagent; allowed: same, fewer, tuned, alone"):
        policy.specs("other")


def test_compose_in_the_file_gives_one_middleware_and_a_subagent_may_opt_out() -> None:
    policy = Policy.from_dict(
        {
            "compose": True,
            "agent": {"middleware": [RETRY, {"use": "ToolRetryMiddleware"}]},
            "subagents": {"plain": {"compose": False}, "inherits": {}},
        }
    )
    assert len(policy.middleware()) == 1
    assert len(policy.middleware("inherits")) == 1
    assert len(policy.middleware("plain")) == 2


# ------------------------------------------------------------------ the shared validators' edges


def test_number_bounds_are_inclusive_unless_told_otherwise() -> None:
    from guardrails import _validate as v
    from guardrails.errors import GuardrailConfigError

    assert v.number("x", 0) == 0.0  # the default minimum 0 is allowed
    assert v.number("x", 5, minimum=1, maximum=5) == 5.0
    assert v.number("x", 1, minimum=1, maximum=5) == 1.0
    assert v.number("x", 1.000001, minimum=1, exclusive_minimum=True) == 1.000001
    assert v.number("x", None, optional=True) is None
    assert v.number("x", -5, minimum=None) == -5.0
    for bad, kwargs, allowed in [
        (-0.001, {}, ">= 0 (a finite number)"),
        (1, {"minimum": 1, "exclusive_minimum": True}, "> 1 (a finite number)"),
        (5.001, {"minimum": 1, "maximum": 5}, ">= 1 and <= 5 (a finite number)"),
        (None, {}, ">= 0 (a finite number)"),
        (float("inf"), {"minimum": None}, "a finite number"),
        (True, {"optional": True}, ">= 0 (a finite number or None)"),
    ]:
        with pytest.raises(GuardrailConfigError) as info:
            v.number("x", bad, **kwargs)
        assert str(info.value).startswith(f"x must be {allowed}; got "), str(info.value)


def test_whole_numbers_at_their_bounds() -> None:
    from guardrails import _validate as v
    from guardrails.errors import GuardrailConfigError

    assert v.whole_number("n", 0) == 0
    assert v.whole_number("n", 3, minimum=3, maximum=3) == 3
    assert v.whole_number("n", None, optional=True) is None
    assert v.positive_int("n", 1) == 1 and v.positive_int("n", None, optional=True) is None
    for bad, kwargs in [
        (-1, {}),
        (2, {"minimum": 3}),
        (4, {"minimum": 3, "maximum": 3}),
        (1.0, {}),
        (True, {}),
        (None, {}),
    ]:
        with pytest.raises(GuardrailConfigError, match="n must be >= "):
            v.whole_number("n", bad, **kwargs)
    with pytest.raises(GuardrailConfigError, match=r"n must be >= 1 \(a whole number\)"):
        v.positive_int("n", 0)


def test_one_of_matches_type_and_value() -> None:
    from guardrails import _validate as v
    from guardrails.errors import GuardrailConfigError

    assert v.one_of("k", "b", ("a", "b")) == "b"
    assert v.one_of("k", 1, (True, 1)) == 1 and type(v.one_of("k", 1, (True, 1))) is int
    for bad in ("c", 1.0, True, None):
        with pytest.raises(GuardrailConfigError, match="k must be one of 'a', 'b'; got"):
            v.one_of("k", bad, ("a", "b"))


def test_tool_names_keep_order_drop_repeats_and_refuse_empties_when_asked() -> None:
    from guardrails import _validate as v
    from guardrails.errors import GuardrailConfigError
    from tests.support import tool

    @tool
    def fetch(q: str) -> str:
        """Fetch."""
        return q

    assert v.tool_names("t", ["b", fetch, "a", "b"]) == ("b", "fetch", "a")
    assert v.tool_names("t", []) == ()
    assert v.tool_names("t", None, optional=True) is None
    for bad, kwargs, text in [
        ([], {"allow_empty": False}, "a non-empty list"),
        ("fetch", {}, "not a bare string"),
        ({"a": 1}, {}, "a list of tool names"),
        (["a", ""], {}, "non-empty names"),
        (None, {}, "a list of tool names"),
        ([3], {}, "neither"),
    ]:
        with pytest.raises(GuardrailConfigError, match=text):
            v.tool_names("t", bad, **kwargs)


def test_strict_bool_hints_only_for_strings_that_look_like_booleans() -> None:
    from guardrails import _validate as v
    from guardrails.errors import GuardrailConfigError

    for value in ("true", " False ", "yes", "0"):
        with pytest.raises(GuardrailConfigError, match="a string is not a boolean"):
            v.strict_bool("flag", value)
    for value in ("maybe", 1, None):
        with pytest.raises(GuardrailConfigError) as info:
            v.strict_bool("flag", value)
        assert "a string is not a boolean" not in str(info.value)
        assert str(info.value).startswith("flag must be a boolean, True or False; got")
