"""PII guardrail: detection (:func:`detect`) and :class:`PIIMiddleware`.

Example::

    from guardrails.pii import PIIMiddleware, detect

    detect("call +44 20 7946 0958", ["phone"])
    agent = create_agent(model, middleware=[PIIMiddleware(["email", "phone"])])
    PIIMiddleware("email", strategy="pseudonymize", vault=RedisVault("redis://localhost:6379"))
"""

from __future__ import annotations

from guardrails.pii.detect import BUILTIN_TYPES, PIIMatch, build_detector, detect
from guardrails.pii.lasthop import guard_model
from guardrails.pii.middleware import PIIMiddleware
from guardrails.pii.strategies import apply_strategy
from guardrails.pii.vault import MemoryVault, PseudonymVault, RedisVault

__all__ = [
    "BUILTIN_TYPES",
    "MemoryVault",
    "PIIMatch",
    "PIIMiddleware",
    "PseudonymVault",
    "RedisVault",
    "apply_strategy",
    "build_detector",
    "detect",
    "guard_model",
]
