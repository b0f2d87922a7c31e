"""Promises of the PII flow found by the seed-81 mutation sample (issue 29, round 8)."""

from __future__ import annotations

import pytest

from guardrails.pii.inventory import cell

TRACE_SINKS = ("callbacks", "events_v1", "events_v2", "stream_messages")


@pytest.mark.parametrize("sink", TRACE_SINKS)
@pytest.mark.parametrize("source", ["tool_result", "file_read", "subagent_result"])
def test_the_inventory_says_a_tool_output_is_handled_by_the_tool_view(
    source: str, sink: str
) -> None:
    """What a tool returns reaches callbacks and events handled by the tool's view, inside its
    run (before on_tool_end): the inventory says so, not that the model handles it."""
    found = cell(source, sink)
    assert found.status == "covered"
    assert "tool view" in found.how and "before on_tool_end" in found.how


@pytest.mark.parametrize("sink", TRACE_SINKS)
def test_the_inventory_says_a_user_message_is_handled_by_the_guarded_model(sink: str) -> None:
    """A user's message reaches callbacks and events handled by the guarded model (before
    on_chat_model_start), not by a tool view: no tool runs on it."""
    found = cell("user", sink)
    assert found.status == "covered"
    assert "guarded model" in found.how and "on_chat_model_start" in found.how
