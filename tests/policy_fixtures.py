"""Small middleware used by the policy tests (importable as tests.policy_fixtures:Name)."""

from __future__ import annotations

from typing import Any

from langchain.agents.middleware import AgentMiddleware

from guardrails._core import Call, Flow, ModelHook
from guardrails.errors import GuardrailConfigError


class Limit(ModelHook, AgentMiddleware):  # type: ignore[type-arg]
    kind = "limit"  # order rules read kinds, not class names

    def __init__(self, *, run_limit: int | None = None, exit_behavior: str = "end") -> None:
        if exit_behavior not in ("end", "error"):
            raise GuardrailConfigError(
                f"exit_behavior must be 'end' or 'error', got {exit_behavior!r}"
            )
        self.run_limit = run_limit
        self.exit_behavior = exit_behavior

    def model_flow(self, request: Any) -> Flow[Any]:
        return (yield Call(request))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]


class Retry(Limit):
    kind = "retry"

    def __init__(self, *, max_retries: int = 2) -> None:
        if max_retries < 0:
            raise GuardrailConfigError("max_retries must be >= 0")
        self.max_retries = max_retries


class Fallback(Limit):
    kind = "fallback"

    def __init__(self, first_model: str, *more: str) -> None:
        self.models = (first_model, *more)


class Rule:
    def __init__(self, operations: list[str], paths: list[str], mode: str = "allow") -> None:
        self.operations, self.paths, self.mode = operations, paths, mode

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]


class Perms(Limit):
    kind = "perms"

    def __init__(self, rules: list[Rule], *, default: str = "allow") -> None:
        self.rules, self.default = rules, default
