"""Production guardrails for LangChain agents, as drop-in middleware.

Example::

    from langchain.agents import create_agent
    import guardrails.audit

    guardrails.audit.configure()  # audit events as JSON lines on stderr
    agent = create_agent(model, tools=tools, middleware=[...])
"""

from __future__ import annotations

from guardrails import audit
from guardrails._core import Call, Guardrail, ModelHook, Offload, Sleep, SyncAsync, ToolHook
from guardrails.call_limits import ModelCallLimitMiddleware, ToolCallLimitMiddleware
from guardrails.compose import compose
from guardrails.errors import (
    GuardrailConfigError,
    GuardrailError,
    ModelCallLimitExceededError,
    PermissionDeniedError,
    PIIDetectionError,
    PIIToolError,
    RateLimitExceededError,
    RateLimitStorageError,
    ToolCallLimitExceededError,
    classify,
)
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
from guardrails.injection import PromptInjectionMiddleware
from guardrails.pii import MemoryVault, PIIMiddleware, PseudonymVault, RedisVault, detect
from guardrails.policy import Policy, check_order
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.retry import ModelRetryMiddleware, ToolRetryMiddleware

__version__ = "0.1.0"

__all__ = [
    "Call",
    "FilesystemPermission",
    "FilesystemPermissionMiddleware",
    "Guardrail",
    "GuardrailConfigError",
    "GuardrailError",
    "MemoryVault",
    "ModelCallLimitExceededError",
    "ModelCallLimitMiddleware",
    "ModelFallbackMiddleware",
    "ModelHook",
    "ModelRetryMiddleware",
    "Offload",
    "PIIDetectionError",
    "PIIMiddleware",
    "PIIToolError",
    "PermissionDeniedError",
    "Policy",
    "PromptInjectionMiddleware",
    "PseudonymVault",
    "RateLimitExceededError",
    "RateLimitMiddleware",
    "RateLimitStorageError",
    "RedisVault",
    "Sleep",
    "SyncAsync",
    "ToolCallLimitExceededError",
    "ToolCallLimitMiddleware",
    "ToolHook",
    "ToolRetryMiddleware",
    "__version__",
    "audit",
    "check_order",
    "classify",
    "compose",
    "detect",
]


def __getattr__(name: str) -> object:
    if name == "IO":  # renamed: it clashed with typing.IO
        import warnings

        warnings.warn(
            "guardrails.IO is deprecated; use guardrails.SyncAsync (the same class)",
            DeprecationWarning,
            stacklevel=2,
        )
        return SyncAsync
    raise AttributeError(f"module 'guardrails' has no attribute {name!r}")
