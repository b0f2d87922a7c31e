"""An order warning names the user's line, however many of our frames lie between.

``compose(...)``, ``Policy.middleware()`` and ``Policy.subagents(...)`` reach the order check
through several frames of the pack; a warning that points into ``guardrails/compose.py`` tells
the user nothing about which of their stacks is wrong.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from guardrails import ModelCallLimitMiddleware, ModelRetryMiddleware, compose
from guardrails.order import GuardrailOrderWarning, check_order
from guardrails.policy import Policy

BAD = {
    "agent": {
        "middleware": [
            {"use": "ModelRetryMiddleware", "max_retries": 0},
            {"use": "ModelCallLimitMiddleware", "run_limit": 3},
        ]
    }
}


def _compose() -> Any:
    return compose(ModelRetryMiddleware(max_retries=0), ModelCallLimitMiddleware(run_limit=3))


def _policy() -> Any:
    return Policy.from_dict(BAD).middleware()


def _policy_subagents() -> Any:
    return Policy.from_dict(BAD).subagents([{"name": "other", "description": "d", "prompt": "p"}])


def _composed_policy() -> Any:
    return Policy.from_dict({**BAD, "compose": True}).middleware()


def _check_order() -> Any:
    return check_order([ModelRetryMiddleware(max_retries=0), ModelCallLimitMiddleware(run_limit=3)])


CALLS: dict[str, Callable[[], Any]] = {
    "compose": _compose,
    "policy": _policy,
    "policy-subagents": _policy_subagents,
    "policy-composed": _composed_policy,
    "check_order": _check_order,
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_order_warning_names_the_users_file(call: Callable[[], Any]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    found = [w for w in caught if issubclass(w.category, GuardrailOrderWarning)]
    assert found, "the stack is in a known-bad order: a warning is expected"
    assert {w.filename for w in found} == {__file__}
    assert "ModelCallLimitMiddleware should be listed before ModelRetryMiddleware" in str(
        found[0].message
    )
