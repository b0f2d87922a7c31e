"""Promises of ``PromptInjectionMiddleware``'s relay gate for structured answers
(``response_format=ToolStrategy(...)``): a link or address that came only from untrusted
content does not reach the caller through ``structured_response``, nor through the messages
that carry it (the structured call's arguments, LangChain's ``Returning structured
response: ...`` tool message). ``redact`` keeps the schema, ``block`` answers with a refusal and
no structured response, ``flag`` audits only; a link the user gave is kept."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.structured_output import ToolStrategy
from langchain_core.messages import AIMessage, ToolMessage
from pydantic import BaseModel

from guardrails.injection.relay import REDACTED, Unrebuildable, relayed_in
from guardrails.injection.taint import TAINT_KEY, Provenance, entry
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke
from tests.test_promises_injection import ATTACKER_HOST, PLANTED, READ, Log, _guard, _tools

LINK = f"https://www.{ATTACKER_HOST}/login"
OWN = "https://intranet.example.org/pay"


class Summary(BaseModel):
    summary: str
    links: list[str]


@dataclasses.dataclass
class SummaryData:
    summary: str
    links: list[str]


SCHEMAS: dict[str, Any] = {
    "pydantic": Summary,
    "dataclass": SummaryData,
    "json schema": {
        "title": "Summary",
        "description": "A summary of the bill.",
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "links": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["summary", "links"],
    },
}


def _fields(value: Any) -> tuple[str, list[str]]:
    if isinstance(value, dict):
        return value["summary"], value["links"]
    return value.summary, value.links


def _answer(schema: str, mode: str, args: dict[str, Any], *, user: str = "Summarize bill.txt",
            **guard: Any) -> dict[str, Any]:  # fmt: skip
    log: Log = []
    spec = SCHEMAS[schema]
    name = "Summary" if isinstance(spec, dict) else spec.__name__
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call(*READ)]),
            AIMessage("", tool_calls=[tool_call(name, args)]),
        ]
    )
    agent = create_agent(
        model,
        tools=_tools(log, {"bill.txt": PLANTED}),
        middleware=[_guard(**guard)],
        response_format=ToolStrategy(spec),
    )
    result: dict[str, Any] = invoke(agent, {"messages": [("user", user)]}, mode)
    return result


def _carriers(result: dict[str, Any]) -> str:
    """Every message after the read: the structured call and LangChain's tool message."""
    out = []
    for m in result["messages"][3:]:
        out.append(str(m.content))
        out.extend(str(c["args"]) for c in getattr(m, "tool_calls", []) or [])
        out.append(str(getattr(m, "additional_kwargs", "")))
    return "\n".join(out)


@pytest.mark.parametrize("schema", list(SCHEMAS))
def test_a_relayed_link_in_a_structured_answer_is_redacted_and_the_schema_kept(
    schema: str, mode: str, audit: AuditCapture
) -> None:
    args = {"summary": f"Pay 1,250 EUR; verify at {LINK} first.", "links": [LINK, "the bill"]}
    result = _answer(schema, mode, args)
    summary, links = _fields(result["structured_response"])
    assert ATTACKER_HOST not in summary and REDACTED in summary, summary
    assert links == [REDACTED, "the bill"], links
    if not isinstance(SCHEMAS[schema], dict):
        assert type(result["structured_response"]) is SCHEMAS[schema]
    assert ATTACKER_HOST not in _carriers(result)
    events = audit.of("injection.relayed")
    assert events and events[-1]["decision"] == "redact" and events[-1]["count"] == 2, events
    assert ATTACKER_HOST not in str(events)


@pytest.mark.parametrize("schema", ["pydantic", "json schema"])
def test_block_answers_a_structured_relay_with_a_refusal_and_no_structured_response(
    schema: str, mode: str, audit: AuditCapture
) -> None:
    result = _answer(schema, mode, {"summary": f"Log in at {LINK}.", "links": []}, relay="block")
    assert "structured_response" not in result or result["structured_response"] is None
    last = result["messages"][-1]
    assert isinstance(last, AIMessage) and "can't pass on this answer" in str(last.content)
    assert ATTACKER_HOST not in _carriers(result)
    assert audit.of("injection.relayed")[-1]["decision"] == "block"


def test_flag_delivers_the_structured_answer_as_given_and_audits_it(
    mode: str, audit: AuditCapture
) -> None:
    args = {"summary": f"Log in at {LINK}.", "links": [LINK]}
    result = _answer("pydantic", mode, args, relay="flag")
    assert result["structured_response"] == Summary(**args)
    assert audit.of("injection.relayed")[-1]["decision"] == "flag"


def test_a_link_the_user_gave_stays_in_the_structured_answer(
    mode: str, audit: AuditCapture
) -> None:
    args = {"summary": f"Pay through {OWN} as you asked.", "links": [OWN]}
    result = _answer("pydantic", mode, args, user=f"Summarize bill.txt; I pay at {OWN}")
    assert result["structured_response"] == Summary(**args)
    assert not audit.of("injection.relayed")
    assert any(isinstance(m, ToolMessage) and OWN in str(m.content) for m in result["messages"])


def test_every_shape_of_a_structured_value_is_walked_and_rebuilt() -> None:
    """Dict keys and values, lists, tuples, nested models and dataclasses: each string redacted
    in place, every container of its own type; a value of another type that holds a link cannot
    be rebuilt and says so (the gate then refuses the answer)."""
    prov = Provenance.of({TAINT_KEY: entry("untrusted", "read_file", PLANTED)})
    value = {LINK: (LINK, [Summary(summary=LINK, links=[LINK])], SummaryData(LINK, [LINK])), "n": 3}
    new, sources = relayed_in(value, prov)
    assert len(sources) == 6 and ATTACKER_HOST not in str(new), new

    class Opaque:
        def __str__(self) -> str:
            return LINK

    with pytest.raises(Unrebuildable):
        relayed_in({"x": Opaque()}, prov)


def test_a_provider_strategy_answer_is_redacted_in_its_text_and_its_parsed_value(
    mode: str, audit: AuditCapture
) -> None:
    """``ProviderStrategy``: the model answers JSON text, LangChain parses it into
    ``structured_response``; both lose the relayed link (the text alone was redacted before)."""
    import json

    from langchain.agents.structured_output import ProviderStrategy

    log: Log = []
    args = {"summary": f"Verify at {LINK} first.", "links": [LINK]}
    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call(*READ)]), AIMessage(json.dumps(args))]
    )
    agent = create_agent(
        model,
        tools=_tools(log, {"bill.txt": PLANTED}),
        middleware=[_guard()],
        response_format=ProviderStrategy(Summary),
    )
    result = invoke(agent, {"messages": [("user", "Summarize bill.txt")]}, mode)
    value = result["structured_response"]
    assert type(value) is Summary and value.links == [REDACTED], value
    assert ATTACKER_HOST not in value.summary and ATTACKER_HOST not in _carriers(result)
    assert audit.of("injection.relayed")


def test_two_keys_redacted_alike_are_not_merged() -> None:
    """Two relayed links as keys of one mapping would both read as the redaction mark: the
    value cannot be rebuilt without losing one of them, so it is refused, never merged."""
    prov = Provenance.of({TAINT_KEY: entry("untrusted", "read_file", PLANTED)})
    other = f"https://{ATTACKER_HOST}/pay"
    with pytest.raises(Unrebuildable):
        relayed_in({LINK: "a", other: "b"}, prov)
    new, sources = relayed_in({LINK: "a", "kept": "b"}, prov)
    assert new == {REDACTED: "a", "kept": "b"} and len(sources) == 1
