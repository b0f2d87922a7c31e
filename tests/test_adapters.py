"""Canary tests: one per private peer name used in guardrails/_adapters/.

Each fails with a message naming the upstream symbol when a LangChain, LangGraph, limits or
deepagents upgrade removes or changes it.
"""

from __future__ import annotations

import guardrails._adapters.deepagents
import guardrails._adapters.langchain


def test_adapter_modules_import() -> None:
    assert guardrails._adapters.langchain.__doc__
    assert guardrails._adapters.deepagents.__doc__


# --- langchain / langgraph / limits canaries -------------------------------------------------


# --- deepagents canaries ----------------------------------------------------------------------
