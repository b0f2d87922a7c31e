"""Promise of the JSON audit line: every line ``JsonFormatter`` writes is JSON (RFC 8259), whatever
number an event carries.

Python's ``json`` writes a NaN or an infinity as ``NaN`` / ``Infinity``, which no strict JSON
parser reads (a log shipper drops the line, and with it the decision). A server decides one of
those numbers: ``Retry-After: inf`` (or ``retry-after-ms: 1e400``) is read as "wait forever",
the retry gives up at once (``retry_after_exceeds_max_delay``), and the event that says so
carries ``retry_after_s = inf``. Each such line is parsed here by a parser that refuses the
non-standard constants, through a real ``ChatOpenAI`` over respx, sync and async.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pytest
import respx
from langchain.agents import create_agent

from guardrails.audit import AUDIT_ATTR, JsonFormatter
from guardrails.retry import ModelRetryMiddleware
from tests.conftest import AuditCapture
from tests.support import error, invoke, ok


def _strict(line: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)


def _record(fields: dict[str, Any]) -> logging.LogRecord:
    record = logging.LogRecord("guardrails.audit", logging.INFO, __file__, 1, "e", None, None)
    setattr(record, AUDIT_ATTR, fields)
    return record


@pytest.mark.parametrize(
    ("value", "written"),
    [(math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan")],
)
def test_a_non_finite_number_is_written_as_its_name(value: float, written: str) -> None:
    fields = {"event": "retry.exhausted", "delay_s": value, "entities": {"x": value}, "l": [value]}
    line = _strict(JsonFormatter().format(_record(fields)))
    assert line["delay_s"] == written
    assert line["entities"] == {"x": written} and line["l"] == [written]


def test_finite_numbers_stay_numbers() -> None:
    line = _strict(JsonFormatter().format(_record({"event": "e", "delay_s": 2.5, "count": 3})))
    assert line["delay_s"] == 2.5 and line["count"] == 3


@pytest.mark.parametrize(
    "headers", [{"Retry-After": "inf"}, {"retry-after-ms": "1e400"}, {"Retry-After": "Infinity"}]
)
def test_a_server_asking_to_wait_forever_is_given_up_on_and_logged_as_json(
    mode: str,
    openai_mock: respx.MockRouter,
    chat_openai: Any,
    audit: AuditCapture,
    headers: dict[str, str],
) -> None:
    route = openai_mock.post("/chat/completions").mock(
        side_effect=[error(429, headers), ok("never")]
    )
    mw = ModelRetryMiddleware(max_delay=10)
    slept: list[float] = []
    mw._sleep = slept.append  # type: ignore[method-assign]

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    mw._asleep = asleep  # type: ignore[method-assign]
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(JsonFormatter().format(record))  # type: ignore[method-assign]
    logger = logging.getLogger("guardrails.audit")
    logger.addHandler(handler)
    try:
        agent = create_agent(chat_openai(), middleware=[mw])
        invoke(agent, {"messages": [("user", "hi")]}, mode)
    finally:
        logger.removeHandler(handler)
    assert route.call_count == 1 and slept == []
    (event,) = audit.of("retry.exhausted")
    assert event["reason"] == "retry_after_exceeds_max_delay"
    parsed = [_strict(line) for line in lines]
    (exhausted,) = [p for p in parsed if p.get("event") == "retry.exhausted"]
    assert exhausted["retry_after_s"] == "inf"
