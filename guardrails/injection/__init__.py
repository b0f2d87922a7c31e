"""Prompt-injection guard: tool results cannot steer the agent's side effects.

See :class:`PromptInjectionMiddleware` and docs/injection.md.
"""

from __future__ import annotations

from guardrails.injection.middleware import PromptInjectionMiddleware
from guardrails.injection.taint import TAINT_KEY

__all__ = ["TAINT_KEY", "PromptInjectionMiddleware"]
