"""Production guardrails for LangChain agents, as drop-in middleware.

Example::

    from langchain.agents import create_agent
    import guardrails.audit

    guardrails.audit.configure()  # audit events as JSON lines on stderr
    agent = create_agent(model, tools=tools, middleware=[...])
"""

from __future__ import annotations

from guardrails import audit
from guardrails._core import IO, Call, ModelHook, Offload, Sleep, ToolHook
from guardrails.errors import (
    GuardrailConfigError,
    GuardrailError,
    ModelCallLimitExceededError,
    PermissionDeniedError,
    PIIDetectionError,
    RateLimitExceededError,
    RateLimitStorageError,
    ToolCallLimitExceededError,
    classify,
)

__version__ = "0.1.0"

__all__ = [
    "IO",
    "Call",
    "GuardrailConfigError",
    "GuardrailError",
    "ModelCallLimitExceededError",
    "ModelHook",
    "Offload",
    "PIIDetectionError",
    "PermissionDeniedError",
    "RateLimitExceededError",
    "RateLimitStorageError",
    "Sleep",
    "ToolCallLimitExceededError",
    "ToolHook",
    "__version__",
    "audit",
    "classify",
]
