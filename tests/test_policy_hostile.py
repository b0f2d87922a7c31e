"""Hostile policy files: every one refused by ``Policy.load`` and ``guardrails check`` with a
bounded message, in bounded memory, never a traceback.

Threat inventory (each row a generated case below): alias expansion (billion laughs, merge
keys), duplicate keys in every format (the second ``agent:`` dropping the whole stack), nesting
depth (flow, block, arrays, dotted keys), size (one huge file, huge strings in keys / values /
``use``), error floods (thousands of unknown keys), wrong types where a lookup follows (``use`` as
a table or list, non-string keys, ``models`` / ``rules`` / ``remove`` of the wrong type, a bool
``version``), encodings (not UTF-8), and a policy that configures nothing.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from guardrails._policy_load import MAX_BYTES, MAX_ERRORS, MAX_LINE
from guardrails.cli import main
from guardrails.policy import Policy, PolicyError

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
agent: {middleware: [{use: ModelRetryMiddleware, max_retries: *i}]}
"""

RETRY_TOML = '[[agent.middleware]]\nuse = "ModelRetryMiddleware"\n'
RETRY_YAML = "agent:\n  middleware:\n    - use: ModelRetryMiddleware\n"
RETRY_JSON = '{"agent": {"middleware": [{"use": "ModelRetryMiddleware"}]}}'
BIG = "x" * 200_000

CASES: dict[str, tuple[str, str, str]] = {
    # name: (suffix, content, expected text in the error)
    "billion laughs": (".yaml", BILLION_LAUGHS, "anchors and aliases"),
    "one anchor": (".yaml", "version: &v 1\n" + RETRY_YAML, "anchors and aliases"),
    "merge key": (
        ".yaml",
        "base: &b {max_retries: 2}\nagent:\n  middleware:\n    - <<: *b\n      use: X\n",
        "anchors and aliases",
    ),
    "duplicate agent yaml": (
        ".yaml",
        RETRY_YAML + "agent:\n  middleware: []\n",
        "duplicate key 'agent'",
    ),
    "duplicate nested yaml": (
        ".yaml",
        "agent:\n  middleware:\n    - use: ModelRetryMiddleware\n      max_retries: 1\n"
        "      max_retries: 9\n",
        "duplicate key 'max_retries'",
    ),
    "duplicate agent json": (
        ".json",
        '{"agent": {"middleware": [{"use": "ModelRetryMiddleware"}]}, "agent": {}}',
        "duplicate key 'agent'",
    ),
    "duplicate agent toml": (
        ".toml",
        "[agent]\nmiddleware = []\n[agent]\nmiddleware = []\n",
        "not valid toml",
    ),
    "deep flow yaml": (".yaml", "a: " + "[" * 5000 + "]" * 5000, "nested deeper"),
    "deep mapping yaml": (".yaml", "a: " + "{b: " * 3000 + "1" + "}" * 3000, "nested deeper"),
    "deep block yaml": (
        ".yaml",
        "".join(f"{'  ' * i}k{i}:\n" for i in range(60)) + "  " * 60 + "v: 1\n",
        "nested deeper",
    ),
    "deep json": (".json", "[" * 100_000 + "]" * 100_000, "nested deeper"),
    "deep json objects": (".json", '{"a":' * 5000 + "1" + "}" * 5000, "nested deeper"),
    "deep toml arrays": (".toml", "a = " + "[" * 5000 + "]" * 5000, "nested deeper"),
    "deep toml dotted": (".toml", "a" + ".a" * 200 + " = 1\n", "nested deeper"),
    "too large": (".toml", "# " + "x" * (MAX_BYTES + 10) + "\n" + RETRY_TOML, "larger than"),
    "huge key": (".toml", f"{BIG} = 1\n" + RETRY_TOML, "unknown key"),
    "huge use": (".toml", f'[[agent.middleware]]\nuse = "{BIG}"\n', "unknown middleware"),
    "huge parameter name": (".toml", RETRY_TOML + f"{BIG} = 1\n", "has no parameter"),
    "huge parameter value": (
        ".toml",
        f'[[agent.middleware]]\nuse = "RateLimitMiddleware"\nlimit = "{BIG}"\n',
        "RateLimitMiddleware",
    ),
    "huge subagent name": (
        ".toml",
        RETRY_TOML + f'[subagents."{BIG}"]\nremove = ["Nope"]\n',
        "not in the inherited stack",
    ),
    "error flood": (
        ".toml",
        "".join(f"k{i} = 1\n" for i in range(5000)) + RETRY_TOML,
        "unknown key",
    ),
    "too many middleware": (
        ".toml",
        '[[agent.middleware]]\nuse = "PIIMiddleware"\npii_type = "email"\n' * 4000,
        "at most 32 per stack",
    ),
    "too many subagents": (
        ".toml",
        RETRY_TOML + "".join(f"[subagents.s{i}]\ninherit = true\n" for i in range(2000)),
        "at most 64",
    ),
    "use as table": (".toml", "[[agent.middleware]]\nuse = { a = 1 }\n", "must be a middleware"),
    "use as list": (".yaml", "agent:\n  middleware:\n    - use: [a, b]\n", "must be a middleware"),
    "use as number": (".json", '{"agent": {"middleware": [{"use": 3}]}}', "must be a middleware"),
    "int key yaml": (".yaml", "1: x\n" + RETRY_YAML, "keys must be strings"),
    "null key yaml": (".yaml", "null: x\n" + RETRY_YAML, "keys must be strings"),
    "complex key yaml": (".yaml", "? [a, b]\n: c\n" + RETRY_YAML, "keys must be strings"),
    "models as string": (
        ".toml",
        '[[agent.middleware]]\nuse = "ModelFallbackMiddleware"\nmodels = "openai:gpt-4o"\n',
        "must be a list",
    ),
    "rules as table": (
        ".toml",
        '[[agent.middleware]]\nuse = "FilesystemPermissionMiddleware"\n[agent.middleware.rules]\n'
        'operations = ["read"]\n',
        "must be a list",
    ),
    "remove with a table": (
        ".yaml",
        RETRY_YAML + "subagents:\n  s:\n    remove: [{a: 1}]\n",
        "not in the inherited stack",
    ),
    "version true": (".toml", "version = true\n" + RETRY_TOML, "unsupported version"),
    "not utf-8": (".toml", "\udcff", "not UTF-8"),
    "empty toml": (".toml", "", "configures no middleware"),
    "empty yaml": (".yaml", "", "configures no middleware"),
    "only version": (".json", '{"version": 1}', "configures no middleware"),
    "empty subagents": (".toml", "[subagents.a]\ninherit = false\n", "configures no middleware"),
}


def _write(tmp_path: Path, suffix: str, content: str) -> Path:
    path = tmp_path / f"policy{suffix}"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    return path


# slow: adversarial policy files (100,000-deep nesting, billion laughs) loaded under tracemalloc
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_hostile_policy_is_refused_with_a_bounded_message(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suffix, content, expected = CASES[name]
    path = _write(tmp_path, suffix, content)
    tracemalloc.start()
    try:
        with pytest.raises(PolicyError) as info:
            Policy.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    errors = info.value.errors
    assert any(expected in e for e in errors), errors
    assert len(errors) <= MAX_ERRORS + 1
    assert all(len(e) <= MAX_LINE for e in errors), max(len(e) for e in errors)
    assert len(str(info.value)) < (MAX_ERRORS + 2) * (MAX_LINE + 4)
    assert peak < 64 * 1024 * 1024, peak  # the billion laughs took over 1.5 GB
    # the CLI: exit 1, the same bounded lines, no traceback
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err and expected in out.err
    assert len(out.err) < (MAX_ERRORS + 2) * (MAX_LINE + 4) + len(str(path)) * (MAX_ERRORS + 2)


def test_error_flood_is_summarised(tmp_path: Path) -> None:
    path = _write(tmp_path, ".toml", "".join(f"k{i} = 1\n" for i in range(5000)) + RETRY_TOML)
    with pytest.raises(PolicyError) as info:
        Policy.load(path)
    assert info.value.errors[-1] == f"... and {5000 - MAX_ERRORS} more errors"


@pytest.mark.parametrize(
    ("suffix", "content"),
    [(".toml", RETRY_TOML), (".yaml", RETRY_YAML), (".json", RETRY_JSON), (".yml", RETRY_YAML)],
)
def test_the_same_policy_in_every_format(suffix: str, content: str, tmp_path: Path) -> None:
    policy = Policy.load(_write(tmp_path, suffix, content))
    assert [s.use for s in policy.specs()] == ["ModelRetryMiddleware"]
    assert main(["check", str(_write(tmp_path, suffix, content))]) == 0


def test_deep_but_legal_nesting_still_loads(tmp_path: Path) -> None:
    # a realistic policy: filesystem rules are the deepest part (5-6 levels)
    content = (
        "agent:\n  middleware:\n    - use: FilesystemPermissionMiddleware\n"
        "      default: deny\n      rules:\n        - operations: [read]\n"
        "          paths: ['/workspace/**']\n"
    )
    policy = Policy.load(_write(tmp_path, ".yaml", content))
    assert policy.configures_anything
