"""More promises of policy files (issue 29, seed-7 survivors of ``config``).

- A key that is not a string at the top level of a policy file is refused with a message that
  says where: ``the top level`` (not an empty path).
- A subagent whose inherited stack is emptied (``remove``) gets no middleware, also with
  ``compose = true``: nothing to compose is not an error there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.policy import Policy, PolicyError

RETRY_YAML = "agent:\n  middleware:\n    - use: ModelRetryMiddleware\n"


@pytest.mark.parametrize("key", ["1", "null", "true"])
def test_a_non_string_key_at_the_top_level_is_refused_saying_where(
    tmp_path: Path, key: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f"{key}: x\n" + RETRY_YAML)
    with pytest.raises(PolicyError) as caught:
        Policy.load(path)
    assert "the top level: keys must be strings" in str(caught.value)


def test_a_nested_non_string_key_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(RETRY_YAML + "      1: 2\n")
    with pytest.raises(PolicyError) as caught:
        Policy.load(path)
    assert "agent.middleware[0]: keys must be strings" in str(caught.value)


@pytest.mark.parametrize("compose", [True, False])
def test_a_subagent_with_everything_removed_gets_no_middleware(compose: bool) -> None:
    policy = Policy.from_dict(
        {
            "compose": compose,
            "agent": {"middleware": [{"use": "ModelRetryMiddleware"}]},
            "subagents": {"helper": {"remove": ["ModelRetryMiddleware"]}},
        }
    )
    assert policy.middleware("helper") == []
    (main,) = policy.middleware()
    assert type(main).__name__ == ("ComposedMiddleware" if compose else "ModelRetryMiddleware")


def test_a_table_parameter_is_given_as_a_table_and_only_import_tables_are_imported() -> None:
    """A parameter written as a table (``tool_paths``) reaches the middleware as that table;
    only a table whose one key is ``import`` names an object to import."""
    policy = Policy.from_dict(
        {
            "agent": {
                "middleware": [
                    {
                        "use": "FilesystemPermissionMiddleware",
                        "rules": [{"operations": ["read"], "paths": ["/data/**"]}],
                        "tool_paths": {"fetch_doc": {"doc_path": "read"}},
                    }
                ]
            }
        }
    )
    (fs,) = policy.middleware()
    assert "fetch_doc" in str(fs.tool_paths)


def test_every_bad_override_of_a_subagent_is_reported_at_once() -> None:
    """Two overrides that are not tables: both are named in one error, not only the first."""
    with pytest.raises(PolicyError) as caught:
        Policy.from_dict(
            {
                "agent": {
                    "middleware": [
                        {"use": "ModelRetryMiddleware"},
                        {"use": "ModelCallLimitMiddleware", "run_limit": 3},
                    ]
                },
                "subagents": {
                    "helper": {
                        "override": {"ModelRetryMiddleware": 1, "ModelCallLimitMiddleware": 2}
                    }
                },
            }
        )
    text = str(caught.value)
    assert "override.ModelRetryMiddleware" in text and "override.ModelCallLimitMiddleware" in text


def test_rules_given_as_objects_in_a_mapping_policy_are_kept() -> None:
    """``Policy.from_dict`` built in Python may hold ``FilesystemPermission`` objects as rules
    (not only tables): they are used as they are."""
    from guardrails.filesystem import FilesystemPermission

    rule = FilesystemPermission(operations=["read"], paths=["/data/**"], mode="deny")
    policy = Policy.from_dict(
        {"agent": {"middleware": [{"use": "FilesystemPermissionMiddleware", "rules": [rule]}]}}
    )
    (fs,) = policy.middleware()
    assert rule in list(fs.rules)
