"""Retry promises at their edges (issue 29, round 8, seed-81 survivors).

* ``provider_retries`` reads the chat model inside a wrapper that holds it in ``.bound`` (as
  ``bind_tools``' ``RunnableBinding`` does), also one that forwards no attribute to it, and
  through wrappers of wrappers.
"""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI

from guardrails.retry import provider_retries


class Holder:
    """A wrapper holding its model in ``.bound`` and forwarding nothing (no ``__getattr__``)."""

    def __init__(self, bound: Any) -> None:
        self.bound = bound


def test_provider_retries_reads_the_model_a_wrapper_holds_in_bound() -> None:
    model = ChatOpenAI(model="gpt-5", api_key="sk-test", max_retries=5)  # type: ignore[arg-type]
    assert provider_retries(model) == 5
    assert provider_retries(Holder(model)) == 5
    assert provider_retries(Holder(Holder(model))) == 5
    assert provider_retries(Holder(None)) == 0  # nothing held: no provider retries known
