"""deepagents internals, each imported once (canaries: tests/test_adapters.py)."""

from __future__ import annotations
