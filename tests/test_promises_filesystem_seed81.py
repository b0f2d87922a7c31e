"""Promises of the filesystem guardrail found by the seed-81 mutation sample (issue 29, round 8)."""

from __future__ import annotations

from typing import Any

import pytest

from guardrails.errors import GuardrailConfigError
from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware

RULES = [FilesystemPermission(operations=["read", "write"], paths=["/workspace/**"])]


@pytest.mark.parametrize("value", ["false", "no", "", "detect", 2, 0.5, [], "True"])
def test_a_case_insensitive_that_is_not_a_bool_or_none_is_refused_at_construction(
    value: Any,
) -> None:
    """``case_insensitive="false"`` would read as true (case-insensitive matching, where a
    deny rule written for ``/Secrets`` would also hold ``/secrets``, and an allow rule would
    open both): a value other than True, False or None is refused, naming the setting and the
    values it takes."""
    with pytest.raises(GuardrailConfigError, match="case_insensitive") as raised:
        FilesystemPermissionMiddleware(rules=RULES, default="deny", case_insensitive=value)
    assert "True, False or None" in str(raised.value)


@pytest.mark.parametrize("value", [None, True, False])
def test_a_case_insensitive_of_true_false_or_none_is_taken(value: bool | None) -> None:
    jail = FilesystemPermissionMiddleware(rules=RULES, default="deny", case_insensitive=value)
    assert jail.decide("read", "/workspace/a.txt") == "allow"
    assert jail.decide("read", "/etc/passwd") == "deny"
