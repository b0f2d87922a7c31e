"""LangChain, LangGraph and ``limits`` internals, each imported once.

Canaries: tests/test_adapters.py.
"""

from __future__ import annotations
