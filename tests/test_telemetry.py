"""Audit events in traces and metrics: LangSmith runs, OpenTelemetry span events and counters.

Everything runs through real agents (``create_agent``, ``create_deep_agent``, ``ChatOpenAI`` over
respx) with the network blocked: LangSmith's real ``Client`` writes through a ``requests`` session
whose adapter records the POST/PATCH bodies instead of sending them; OpenTelemetry uses the SDK's
in-memory span exporter and metric reader.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage
from langchain_core.tracers.langchain import wait_for_all_tracers
from langsmith import Client
from langsmith.run_helpers import tracing_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import guardrails.telemetry as telemetry
from guardrails import (
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    ModelRetryMiddleware,
    PIIMiddleware,
)
from guardrails.audit import emit
from guardrails.errors import GuardrailConfigError
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, ok, tool

EMAIL = "jane.doe@example.com"
PHONE = "+1 212 555 0143"
RAW_VALUES = (EMAIL, "jane.doe", PHONE, "212 555 0143")
LS_URL = "http://langsmith.test"
HOOKS = {"model": ("wrap_model_call", "awrap_model_call")}


# --- no network --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any socket connection or DNS lookup fails, and fails the test even if a background thread
    swallowed the error (respx serves httpx without sockets)."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args[1:])
        raise OSError(f"network access attempted: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield
    wait_for_all_tracers()
    assert attempts == [], f"network access attempted: {attempts}"


@pytest.fixture(autouse=True)
def fresh_telemetry() -> Iterator[None]:
    telemetry.reset()
    yield
    telemetry.reset()


# --- LangSmith: the real client, recording instead of sending ----------------------------------


class _Recorder(requests.adapters.BaseAdapter):
    """A ``requests`` transport that keeps what LangSmith's client sends and answers 200."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, bytes]] = []

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        self.sent.append((request.method, request.url, body))
        response = requests.Response()
        response.status_code = 200
        response._content = b"{}"
        response.headers["content-type"] = "application/json"
        response.request = request
        response.url = request.url
        return response

    def close(self) -> None:
        pass


class LangSmithTrace:
    """The runs LangSmith's client would have uploaded, merged per run id (POST then PATCHes)."""

    def __init__(self) -> None:
        self.recorder = _Recorder()
        session = requests.Session()
        session.mount(LS_URL + "/", self.recorder)  # longer prefix: wins over the client's own
        self.client = Client(
            api_url=LS_URL, api_key="test", session=session, auto_batch_tracing=False, info={}
        )

    def runs(self) -> dict[str, dict[str, Any]]:
        wait_for_all_tracers()
        out: dict[str, dict[str, Any]] = {}
        for method, url, body in self.recorder.sent:
            assert url.startswith(LS_URL) and method in ("POST", "PATCH"), (method, url)
            data = json.loads(body)
            run = out.setdefault(data["id"], {})
            run.update({k: v for k, v in data.items() if v is not None})
        return out

    def guardrail_events(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(run, event) for every ``guardrails.*`` event on any run."""
        return [
            (run, event)
            for run in self.runs().values()
            for event in run.get("events") or []
            if str(event.get("name", "")).startswith("guardrails.")
        ]

    def ancestors(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        runs = self.runs()
        chain = []
        while run.get("parent_run_id"):
            run = runs[run["parent_run_id"]]
            chain.append(run)
        return chain

    def children(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in self.runs().values() if r.get("parent_run_id") == run["id"]]


@pytest.fixture
def langsmith_trace() -> Iterator[LangSmithTrace]:
    trace = LangSmithTrace()
    with tracing_context(enabled=True, client=trace.client, project_name="guardrails-tests"):
        yield trace


# --- OpenTelemetry: SDK in memory ---------------------------------------------------------------


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.tracer_provider.get_tracer("tests")
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def events(self) -> list[tuple[ReadableSpan, Any]]:
        return [(s, e) for s in self.spans() for e in s.events if e.name.startswith("guardrails.")]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        by_id = {s.context.span_id: s for s in self.spans()}
        return by_id.get(span.parent.span_id)

    def ancestors(self, span: ReadableSpan) -> list[ReadableSpan]:
        chain = []
        current = self.parent(span)
        while current is not None:
            chain.append(current)
            current = self.parent(current)
        return chain

    def points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        data = self.reader.get_metrics_data()
        out: list[tuple[dict[str, Any], float]] = []
        if data is None:
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        out.extend(
                            (dict(p.attributes or {}), p.value) for p in metric.data.data_points
                        )
        return out

    def total(self, name: str, **labels: Any) -> float:
        return sum(
            v for attrs, v in self.points(name) if all(attrs.get(k) == x for k, x in labels.items())
        )


@pytest.fixture
def otel() -> Otel:
    o = Otel()
    telemetry.configure(meter_provider=o.meter_provider)
    return o


class SpanPerCall(AgentMiddleware):  # type: ignore[type-arg]
    """What an OpenTelemetry instrumentation of LangChain does: one current span per model call
    and per tool call (GenAI semantic-convention names), opened outside the guardrails."""

    def __init__(self, tracer: Any, agent: str) -> None:
        super().__init__()
        self.tracer = tracer
        self.agent = agent

    @property
    def name(self) -> str:
        return f"spans-{self.agent}"

    def _model_span(self, request: Any) -> Any:
        return self.tracer.start_as_current_span(
            f"chat {self.agent}", attributes={"gen_ai.agent.name": self.agent}
        )

    def _tool_span(self, request: Any) -> Any:
        return self.tracer.start_as_current_span(f"execute_tool {request.tool_call['name']}")

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        with self._model_span(request):
            return handler(request)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        with self._model_span(request):
            return await handler(request)

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        with self._tool_span(request):
            return handler(request)

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        with self._tool_span(request):
            return await handler(request)


# --- shared scenario ----------------------------------------------------------------------------


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "nothing"


def _agent(extra: list[Any] | None = None, limit: Any = None) -> tuple[Any, ScriptedChatModel]:
    """Model call 1 fails once (retried), sees an email (redacted), asks for a tool; 2 is done."""
    model = ScriptedChatModel(
        responses=[
            TimeoutError("upstream timed out"),
            AIMessage("", tool_calls=[tool_call("lookup", {"q": "who"})]),
            "done",
        ]
    )
    middleware: list[Any] = [*(extra or [])]
    if limit is not None:
        middleware.append(limit)
    middleware += [
        ModelRetryMiddleware(max_retries=2, initial_delay=0, jitter=False),
        PIIMiddleware("email", strategy="redact"),
    ]
    return create_agent(model, tools=[lookup], middleware=middleware, name="main"), model


def _no_raw_values(blob: Any) -> None:
    text = json.dumps(blob, default=str)
    for raw in RAW_VALUES:
        assert raw not in text, f"raw value {raw!r} leaked into telemetry"


# --- LangSmith ----------------------------------------------------------------------------------


def test_langsmith_events_land_on_the_guardrail_run_around_the_model_call(
    mode: str, langsmith_trace: LangSmithTrace, audit: AuditCapture
) -> None:
    agent, _ = _agent()
    invoke(agent, {"messages": [("user", f"write to {EMAIL}")]}, mode)
    pairs = langsmith_trace.guardrail_events()
    # one run event per audit event, same fields
    assert sorted(json.dumps(e["kwargs"], sort_keys=True) for _, e in pairs) == sorted(
        json.dumps(e, sort_keys=True) for e in audit.events
    )
    assert {e["name"] for _, e in pairs} >= {"guardrails.pii.detected", "guardrails.retry.attempt"}
    for run, event in pairs:
        fields = event["kwargs"]
        # the run of the guardrail that decided: "<guardrail>.wrap_model_call", in the model step
        assert run["name"] in {f"{fields['guardrail']}.{h}" for h in HOOKS["model"]}
        assert [a["name"] for a in langsmith_trace.ancestors(run)][-2:] == ["model", "main"]
        # ...and the model call(s) it governs are inside it
        inner = [run]
        calls = []
        while inner:
            node = inner.pop()
            kids = langsmith_trace.children(node)
            calls += [k for k in kids if k.get("run_type") == "llm"]
            inner += kids
        assert calls, f"{run['name']} wraps no model call"
    (retry_run, retry_event), *_ = [p for p in pairs if p[1]["name"] == "guardrails.retry.attempt"]
    assert retry_event["kwargs"]["attempt"] == 1
    assert retry_event["kwargs"]["error"] == "TimeoutError"
    metadata = retry_run["extra"]["metadata"]
    assert metadata["guardrails.retry.attempt.count"] == 1
    assert metadata["guardrails.retry.attempts"] == 1
    assert metadata["guardrails.retry.attempt"]["error"] == "TimeoutError"
    attempts = [r for r in langsmith_trace.runs().values() if r.get("run_type") == "llm"]
    assert len(attempts) == 3  # failed attempt, its retry, the call after the tool
    pii_run, pii_event = next(p for p in pairs if p[1]["name"] == "guardrails.pii.detected")
    assert pii_run["extra"]["metadata"]["guardrails.pii.detected"] == {"email": 1}
    assert pii_event["kwargs"]["agent"] == "main"
    # nothing on the agent's or the step's own runs
    for run in langsmith_trace.runs().values():
        if run["name"] in ("main", "model", "tools"):
            assert not any(
                str(e.get("name", "")).startswith("guardrails.") for e in run.get("events") or []
            )
    _no_raw_values([e for _, e in pairs])
    _no_raw_values(
        [
            {k: v for k, v in r.get("extra", {}).get("metadata", {}).items() if "guardrails" in k}
            for r in langsmith_trace.runs().values()
        ]
    )


def test_langsmith_composed_stack_reports_on_its_one_run(
    mode: str, langsmith_trace: LangSmithTrace, audit: AuditCapture
) -> None:
    from guardrails import compose

    model = ScriptedChatModel(responses=[TimeoutError("upstream timed out"), "done"])
    stack = compose(
        ModelRetryMiddleware(max_retries=2, initial_delay=0, jitter=False),
        PIIMiddleware("email", strategy="redact"),
    )
    agent = create_agent(model, middleware=[stack], name="main")
    invoke(agent, {"messages": [("user", f"write to {EMAIL}")]}, mode)
    pairs = langsmith_trace.guardrail_events()
    assert len(pairs) == len(audit.events) >= 2
    (run,) = {r["id"]: r for r, _ in pairs}.values()  # one hook run for the whole stack
    assert run["name"].startswith("compose(")
    assert {e["kwargs"]["guardrail"] for _, e in pairs} == {
        "ModelRetryMiddleware",
        "PIIMiddleware[email]",
    }
    calls = [r for r in langsmith_trace.children(run) if r.get("run_type") == "llm"]
    assert len(calls) == 2  # the model calls it governs are its direct children
    metadata = run["extra"]["metadata"]
    assert metadata["guardrails.retry.attempt.count"] == 1
    assert metadata["guardrails.pii.detected"]["email"] >= 1


def test_langsmith_metadata_sums_entities_over_a_run(langsmith_trace: LangSmithTrace) -> None:
    from langsmith.run_helpers import get_current_run_tree, traceable

    @traceable(name="checker")
    def checker() -> None:
        emit("pii.detected", "P", entities={"email": 2}, secrets=[EMAIL])
        emit(
            "pii.detected",
            "P",
            entities={"email": 1, "phone": 1},
            note=f"x {EMAIL}",
            secrets=[EMAIL],
        )
        run = get_current_run_tree()
        assert run is not None

    checker()
    (run,) = [r for r in langsmith_trace.runs().values() if r["name"] == "checker"]
    metadata = run["extra"]["metadata"]
    assert metadata["guardrails.pii.detected"] == {"email": 3, "phone": 1}
    assert metadata["guardrails.pii.detected.count"] == 2
    notes = [
        e["kwargs"].get("note") for e in run["events"] if e["name"] == "guardrails.pii.detected"
    ]
    assert notes == [None, "x [SCRUBBED]"]  # scrubbed before it reached the bridge


def test_langsmith_metadata_counts_only_the_runs_own_events(
    mode: str, langsmith_trace: LangSmithTrace
) -> None:
    # LangSmith copies a run's metadata into the runs started inside it: the inner guardrail's
    # run must not claim the outer one's email.
    model = ScriptedChatModel(responses=["done"])
    agent = create_agent(
        model,
        middleware=[
            PIIMiddleware("email", strategy="redact", name="outer"),
            PIIMiddleware("phone", strategy="redact", name="inner"),
        ],
        name="main",
    )
    invoke(agent, {"messages": [("user", f"{EMAIL} {PHONE}")]}, mode)
    by_name = {r["name"].split(".")[0]: r for r, _ in langsmith_trace.guardrail_events()}
    inner = by_name["inner"]["extra"]["metadata"]
    assert inner["guardrails.pii.detected"] == {"phone": 1}
    assert inner["guardrails.pii.detected.count"] == 1
    assert by_name["outer"]["extra"]["metadata"]["guardrails.pii.detected"] == {"email": 1}


def test_langsmith_subagent_event_is_inside_the_subagent(
    mode: str, langsmith_trace: LangSmithTrace, audit: AuditCapture
) -> None:
    deepagents = pytest.importorskip("deepagents")
    agent, _ = _deep_agent(deepagents)
    invoke(agent, {"messages": [("user", f"call me at {PHONE}")]}, mode)
    pairs = langsmith_trace.guardrail_events()
    by_guardrail = {e["kwargs"]["guardrail"]: (run, e) for run, e in pairs}
    sub_run, sub_event = by_guardrail["researcher-pii"]
    main_run, _ = by_guardrail["main-pii"]
    assert sub_event["kwargs"]["subagent"] == "researcher"
    sub_chain = [a["name"] for a in langsmith_trace.ancestors(sub_run)]
    main_chain = [a["name"] for a in langsmith_trace.ancestors(main_run)]
    assert "task" in sub_chain and "researcher" in sub_chain, sub_chain
    assert "task" not in main_chain and "researcher" not in main_chain, main_chain
    assert sub_run["name"].startswith("researcher-pii.")
    assert main_run["name"].startswith("main-pii.")
    assert len(pairs) == len(audit.events)
    _no_raw_values([e for _, e in pairs])


def _deep_agent(deepagents: Any, otel: Otel | None = None) -> tuple[Any, ScriptedChatModel]:
    main_model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "task",
                        {
                            "description": f"Look up {EMAIL} in the CRM",
                            "subagent_type": "researcher",
                        },
                    )
                ],
            ),
            "done",
        ]
    )
    sub_model = ScriptedChatModel(default="found her")
    spans_main = [SpanPerCall(otel.tracer, "main")] if otel else []
    spans_sub = [SpanPerCall(otel.tracer, "researcher")] if otel else []
    import guardrails.deep

    # guardrails.deep: a plain deepagents setup whose subagents lack main-pii is refused
    agent = guardrails.deep.create_deep_agent(
        model=main_model,
        name="main",
        guardrails=[*spans_main, PIIMiddleware("phone", name="main-pii")],
        subagents=[
            {
                "name": "researcher",
                "description": "Researches customers.",
                "system_prompt": "You research.",
                "model": sub_model,
                "middleware": [*spans_sub, PIIMiddleware("email", name="researcher-pii")],
            }
        ],
    )
    return agent, sub_model


def test_langsmith_through_chat_openai_fallback_and_breaker(
    mode: str,
    langsmith_trace: LangSmithTrace,
    openai_mock: Any,
    chat_openai: Any,
    otel: Otel,
    audit: AuditCapture,
) -> None:
    primary_url, backup_url = "http://primary.test/v1", "http://backup.test/v1"
    import respx

    with respx.mock(assert_all_called=False) as router:
        router.post(f"{primary_url}/chat/completions").mock(
            return_value=httpx.Response(503, json={"error": {"message": "down", "type": "x"}})
        )
        router.post(f"{backup_url}/chat/completions").mock(return_value=ok("from backup"))
        fallback = ModelFallbackMiddleware(
            chat_openai("gpt-backup", base_url=backup_url), failure_threshold=1, cooldown=60
        )
        agent = create_agent(
            chat_openai("gpt-primary", base_url=primary_url), middleware=[fallback], name="main"
        )
        result = invoke(agent, {"messages": [("user", f"hi, I am {EMAIL}")]}, mode)
    assert result["messages"][-1].content == "from backup"
    pairs = langsmith_trace.guardrail_events()
    names = [e["name"] for _, e in pairs]
    assert names.count("guardrails.fallback.circuit_open") == 1
    assert names.count("guardrails.fallback.switched") == 1
    (run,) = {r["id"]: r for r, _ in pairs}.values()
    assert run["name"] in {f"ModelFallbackMiddleware.{h}" for h in HOOKS["model"]}
    model_calls = [r for r in langsmith_trace.children(run) if r.get("run_type") == "llm"]
    assert len(model_calls) == 2 and sum(1 for r in model_calls if r.get("error")) == 1
    metadata = run["extra"]["metadata"]
    assert metadata["guardrails.fallback.switched"]["status"] == 503
    # the same decisions as counters
    assert (
        otel.total("guardrails.breaker.state_changes", **{"guardrails.breaker.state": "open"}) == 1
    )
    assert (
        otel.total(
            "guardrails.decisions",
            **{"guardrails.event": "fallback.switched", "gen_ai.agent.name": "main"},
        )
        == 1
    )
    assert len(pairs) == len(audit.events)


# --- OpenTelemetry traces -----------------------------------------------------------------------


def test_otel_span_events_on_the_model_call_span(
    mode: str, otel: Otel, audit: AuditCapture
) -> None:
    agent, _ = _agent(extra=[SpanPerCall(otel.tracer, "main")])
    invoke(agent, {"messages": [("user", f"write to {EMAIL}")]}, mode)
    pairs = otel.events()
    assert len(pairs) == len(audit.events) and audit.events
    chat_spans = [s for s in otel.spans() if s.name == "chat main"]
    assert len(chat_spans) == 2  # one per model step (the retry is inside the first)
    first, _ = sorted(chat_spans, key=lambda s: s.start_time or 0)
    on_first = [e.name for e in first.events]
    assert "guardrails.retry.attempt" in on_first and "guardrails.pii.detected" in on_first
    assert all(span is first for span, _ in pairs)  # nothing on the second call or the tool span
    pii = next(e for s, e in pairs if e.name == "guardrails.pii.detected")
    attrs = dict(pii.attributes or {})
    assert attrs["gen_ai.agent.name"] == "main"
    assert attrs["guardrails.entities.email"] == 1
    assert attrs["guardrails.guardrail"] == "PIIMiddleware[email]"
    retry = next(e for s, e in pairs if e.name == "guardrails.retry.attempt")
    rattrs = dict(retry.attributes or {})
    assert rattrs["error.type"] == "TimeoutError" and rattrs["gen_ai.request.model"] == "scripted"
    assert rattrs["guardrails.attempt"] == 1
    _no_raw_values([dict(e.attributes or {}) for _, e in pairs])
    _no_raw_values([dict(s.attributes or {}) for s in otel.spans()])


def test_otel_subagent_event_is_on_the_subagent_span(
    mode: str, otel: Otel, audit: AuditCapture
) -> None:
    deepagents = pytest.importorskip("deepagents")
    agent, _ = _deep_agent(deepagents, otel)
    invoke(agent, {"messages": [("user", f"call me at {PHONE}")]}, mode)
    pairs = otel.events()
    by_guardrail = {dict(e.attributes or {})["guardrails.guardrail"]: (s, e) for s, e in pairs}
    sub_span, sub_event = by_guardrail["researcher-pii"]
    main_span, _ = by_guardrail["main-pii"]
    assert sub_span.name == "chat researcher"
    assert "execute_tool task" in [a.name for a in otel.ancestors(sub_span)]
    assert main_span.name == "chat main"
    assert dict(sub_event.attributes or {})["gen_ai.agent.name"] == "researcher"
    assert dict(sub_event.attributes or {})["guardrails.subagent"] == "researcher"
    assert len(pairs) == len(audit.events)
    _no_raw_values([dict(e.attributes or {}) for _, e in pairs])


def test_otel_events_go_to_the_users_own_span_without_instrumentation(
    mode: str, otel: Otel
) -> None:
    agent, _ = _agent()
    with otel.tracer.start_as_current_span("handle request"):
        invoke(agent, {"messages": [("user", f"write to {EMAIL}")]}, mode)
    (root,) = [s for s in otel.spans() if s.name == "handle request"]
    names = [e.name for e in root.events]
    assert "guardrails.pii.detected" in names and "guardrails.retry.attempt" in names


def test_tool_call_event_is_on_the_tool_call_span_and_run(
    mode: str, otel: Otel, langsmith_trace: LangSmithTrace, audit: AuditCapture
) -> None:
    @tool
    def crm(q: str) -> str:
        """Look up a customer."""
        return f"customer: {EMAIL}"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("crm", {"q": "jane"})]), "done"]
    )
    agent = create_agent(
        model,
        tools=[crm],
        middleware=[
            SpanPerCall(otel.tracer, "main"),
            PIIMiddleware("email", strategy="redact", apply_to_tool_results=True),
        ],
        name="main",
    )
    invoke(agent, {"messages": [("user", "find jane")]}, mode)
    (event,) = audit.of("pii.detected")
    assert event["where"] == "tool_result"
    ((span, span_event),) = otel.events()
    assert span.name == "execute_tool crm"
    assert dict(span_event.attributes or {})["guardrails.where"] == "tool_result"
    ((run, _),) = langsmith_trace.guardrail_events()
    # a tool result is handled inside the tool's own run (before on_tool_end), which the
    # guardrail's hook run encloses
    assert run["name"] == "crm"
    ancestors = [a["name"] for a in langsmith_trace.ancestors(run)]
    assert ancestors[0] in {
        f"PIIMiddleware[email].{h}" for h in ("wrap_tool_call", "awrap_tool_call")
    }
    assert ancestors[-2:] == ["tools", "main"]
    assert run["extra"]["metadata"]["guardrails.pii.detected"] == {"email": 1}
    _no_raw_values([dict(span_event.attributes or {}), run["events"]])


def test_parallel_tool_calls_each_get_their_own_event(
    mode: str, otel: Otel, langsmith_trace: LangSmithTrace, audit: AuditCapture
) -> None:
    """Three tool calls of one step run concurrently (threads in sync, tasks in async): each
    decision lands on its own tool call's run and span, never on a sibling's."""
    found = {"a": 1, "b": 2, "c": 3}

    @tool
    def crm(q: str) -> str:
        """Look up a customer."""
        return " ".join(f"{q}{i}.{EMAIL}" for i in range(found[q]))

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("crm", {"q": q}) for q in found]),
            "done",
        ]
    )
    agent = create_agent(
        model,
        tools=[crm],
        middleware=[
            SpanPerCall(otel.tracer, "main"),
            PIIMiddleware("email", strategy="redact", apply_to_tool_results=True),
        ],
        name="main",
    )
    invoke(agent, {"messages": [("user", "find them")]}, mode)
    events = audit.of("pii.detected")
    assert sorted(e["entities"]["email"] for e in events) == [1, 2, 3]
    assert all(e["where"] == "tool_result" for e in events)
    # OpenTelemetry: one event per tool-call span, the count matching that call's result
    pairs = otel.events()
    assert len(pairs) == 3 and len({id(s) for s, _ in pairs}) == 3
    assert {s.name for s, _ in pairs} == {"execute_tool crm"}
    assert sorted(dict(e.attributes or {})["guardrails.entities.email"] for _, e in pairs) == [
        1,
        2,
        3,
    ]
    # LangSmith: each event on the hook run around the tool run whose input it judged
    runs = langsmith_trace.guardrail_events()
    assert len(runs) == 3 and len({r["id"] for r, _ in runs}) == 3
    for run, event in runs:
        # handled inside the tool run (before on_tool_end), under the guardrail's hook run
        tool_run = run
        assert tool_run["name"] == "crm"
        hook = langsmith_trace.ancestors(run)[0]
        assert hook["name"] in {
            f"PIIMiddleware[email].{h}" for h in ("wrap_tool_call", "awrap_tool_call")
        }
        assert [a["name"] for a in langsmith_trace.ancestors(run)][-2:] == ["tools", "main"]
        query = tool_run["inputs"]["q"]
        assert event["kwargs"]["entities"] == {"email": found[query]}
        assert run["extra"]["metadata"]["guardrails.pii.detected"] == {"email": found[query]}
        assert run["extra"]["metadata"]["guardrails.pii.detected.count"] == 1
    _no_raw_values([dict(e.attributes or {}) for _, e in pairs])
    _no_raw_values([e for _, e in runs])


# --- OpenTelemetry metrics ----------------------------------------------------------------------


def test_otel_counters(mode: str, otel: Otel, audit: AuditCapture) -> None:
    agent, _ = _agent(limit=ModelCallLimitMiddleware(run_limit=1))
    invoke(agent, {"messages": [("user", f"write to {EMAIL} or {EMAIL}")]}, mode)
    events = audit.names()
    assert "limit.exceeded" in events
    for name in set(events):
        assert otel.total("guardrails.decisions", **{"guardrails.event": name}) == events.count(
            name
        )
    assert otel.total(
        "guardrails.decisions",
        **{"guardrails.guardrail": "ModelRetryMiddleware", "gen_ai.agent.name": "main"},
    ) == events.count("retry.attempt")
    assert otel.total("guardrails.retry.attempts", **{"error.type": "TimeoutError"}) == 1
    assert otel.total("guardrails.limit.hits", **{"guardrails.limit_kind": "model_calls"}) == 1
    detected = sum(e["entities"]["email"] for e in audit.of("pii.detected"))
    assert detected >= 2
    assert (
        otel.total(
            "guardrails.pii.entities",
            **{"guardrails.pii.entity_type": "email", "guardrails.event": "pii.detected"},
        )
        == detected
    )
    labels = [attrs for name in telemetry.METRICS for attrs, _ in otel.points(name)]
    assert labels
    _no_raw_values(labels)


# --- switches, cost, failures -------------------------------------------------------------------


def test_each_destination_turns_off_alone(
    mode: str, otel: Otel, langsmith_trace: LangSmithTrace, audit: AuditCapture
) -> None:
    telemetry.configure(traces=False)
    agent, _ = _agent(extra=[SpanPerCall(otel.tracer, "main")])
    invoke(agent, {"messages": [("user", f"write to {EMAIL}")]}, mode)
    assert audit.events and not otel.events() and not langsmith_trace.guardrail_events()
    assert otel.total("guardrails.decisions") == len(audit.events)

    telemetry.configure(traces=True, metrics=False, logs=False)
    before = otel.total("guardrails.decisions")
    audit.events.clear()
    agent, _ = _agent(extra=[SpanPerCall(otel.tracer, "main")])
    invoke(agent, {"messages": [("user", f"write to {EMAIL}")]}, mode)
    assert not audit.events  # logs off: no record, whatever the logger level
    assert otel.events() and langsmith_trace.guardrail_events()
    assert otel.total("guardrails.decisions") == before


def test_audit_configure_keeps_logging_and_switches_traces_and_metrics(
    otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    import guardrails.audit as audit_mod

    monkeypatch.setattr(audit_mod.logger, "handlers", [])
    old_level, old_propagate = audit_mod.logger.level, audit_mod.logger.propagate
    stream = io.StringIO()
    with pytest.raises(GuardrailConfigError, match="traces"):
        audit_mod.configure(stream, traces="off")  # type: ignore[arg-type]
    assert audit_mod.logger.handlers == []  # refused before anything changed
    try:
        audit_mod.configure(stream, traces=False, metrics=False)
        with otel.tracer.start_as_current_span("request") as span:
            emit("limit.exceeded", "L", limit_kind="model_calls")
        assert json.loads(stream.getvalue())["event"] == "limit.exceeded"
        assert not span.events and otel.total("guardrails.decisions") == 0
        audit_mod.configure(stream)  # None keeps the settings
        assert telemetry.settings().traces is False
    finally:
        audit_mod.logger.setLevel(old_level)
        audit_mod.logger.propagate = old_propagate


def test_configure_refuses_non_booleans() -> None:
    for setting in ("logs", "traces", "metrics"):
        for bad in ("false", 0, None.__class__):
            with pytest.raises(GuardrailConfigError, match=setting):
                telemetry.configure(**{setting: bad})
    assert telemetry.settings() == telemetry.TelemetrySettings()


def test_nothing_listening_costs_no_event_building(monkeypatch: pytest.MonkeyPatch) -> None:
    import guardrails.audit as audit_mod

    built: list[Any] = []
    monkeypatch.setattr(audit_mod, "identity", lambda runtime=None: built.append(1) or {})
    old = audit_mod.logger.level
    audit_mod.logger.setLevel(logging.CRITICAL)  # nobody logs INFO
    try:
        assert telemetry.targets() is None  # no run, no recording span, no meter provider
        assert emit("x.y", "G", count=1) is None
    finally:
        audit_mod.logger.setLevel(old)
    assert built == []  # the event was not even assembled


def test_a_broken_destination_never_fails_the_call(
    mode: str, otel: Otel, audit: AuditCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("exporter down")

    from opentelemetry.sdk.trace import Span

    monkeypatch.setattr(Span, "add_event", boom)
    monkeypatch.setattr(telemetry, "_to_counters", boom)
    monkeypatch.setattr(telemetry, "_current_run", boom)  # even finding the listener fails
    agent, _ = _agent(extra=[SpanPerCall(otel.tracer, "main")])
    result = invoke(agent, {"messages": [("user", f"write to {EMAIL}")]}, mode)
    assert result["messages"][-1].content == "done"
    assert audit.of("pii.detected")  # the log still got every event


def test_otel_attribute_shapes() -> None:
    attrs = telemetry.otel_attributes(
        {
            "event": "fallback.exhausted",
            "guardrail": "F",
            "agent": "a",
            "thread_id": "t",
            "tool": "read_file",
            "tried": ["m1", "m2"],
            "mixed": [1, "a"],
            "error": None,
            "entities": {"email": 2},
        }
    )
    assert attrs == {
        "guardrails.event": "fallback.exhausted",
        "guardrails.guardrail": "F",
        "gen_ai.agent.name": "a",
        "gen_ai.conversation.id": "t",
        "gen_ai.tool.name": "read_file",
        "guardrails.tried": ["m1", "m2"],
        "guardrails.mixed": '[1,"a"]',
        "guardrails.entities.email": 2,
    }


@pytest.mark.slow  # other processes (pyproject: the slow group)
def test_global_meter_provider_is_seen() -> None:
    """Canary for the fast path that reads the OTel API's global (set once per process, so in a
    child process): before set_meter_provider nothing counts, after it every event does."""
    import subprocess
    import sys

    from opentelemetry.metrics import _internal

    assert hasattr(_internal, "_METER_PROVIDER")
    script = """
import guardrails.telemetry as t
from guardrails.audit import emit
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
assert t.targets() is None
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
assert t.targets() is not None
emit("limit.exceeded", "L", limit_kind="model_calls")
names = [m.name for r in reader.get_metrics_data().resource_metrics
         for s in r.scope_metrics for m in s.metrics]
assert names == ["guardrails.decisions", "guardrails.limit.hits"], names
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd="."
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_every_registered_event_kind_reaches_every_destination(
    otel: Otel, langsmith_trace: LangSmithTrace
) -> None:
    """Generic over the registry: a new event kind needs nothing here to be traced and counted."""
    from langsmith.run_helpers import traceable

    from guardrails.audit import EVENTS

    @traceable(name="decider")
    def decide() -> None:
        for name in EVENTS:
            emit(name, "G", count=1, note=f"about {EMAIL}", secrets=[EMAIL])

    with otel.tracer.start_as_current_span("request") as span:
        decide()
    assert [e.name for e in span.events] == [f"guardrails.{n}" for n in EVENTS]  # type: ignore[attr-defined]
    (run,) = [r for r in langsmith_trace.runs().values() if r["name"] == "decider"]
    assert [e["name"] for e in run["events"] if e["name"].startswith("guardrails.")] == [
        f"guardrails.{n}" for n in EVENTS
    ]
    for name in EVENTS:
        assert otel.total("guardrails.decisions", **{"guardrails.event": name}) == 1
        assert run["extra"]["metadata"][f"guardrails.{name}.count"] == 1
    _no_raw_values([dict(e.attributes or {}) for e in span.events])  # type: ignore[attr-defined]
    _no_raw_values(run["events"])


# --- what each destination carries (issue 29, round 8: the core seed-71 sample) -----------------


def test_otel_pii_entities_counts_only_counts(otel: Otel) -> None:
    """``guardrails.pii.entities`` adds each type's count; a zero, a negative, a boolean or a
    text under ``entities`` is no count and adds nothing (no data point for that type)."""
    emit(
        "pii.detected",
        "P",
        entities={"ip": 1.5, "email": 2, "url": 1, "phone": 0, "card": True, "iban": -1},
    )
    emit("pii.detected", "P", entities={"ssn": "3", "email": 1})
    points = otel.points("guardrails.pii.entities")
    assert {a["guardrails.pii.entity_type"]: v for a, v in points} == {"email": 3, "url": 1}


def test_otel_attributes_leave_out_what_is_not_there() -> None:
    """A missing value (``None``) is no attribute, also inside a mapping field."""
    attrs = telemetry.otel_attributes(
        {"event": "pii.detected", "guardrail": "P", "entities": {"email": 2, "phone": None}}
    )
    assert attrs == {
        "guardrails.event": "pii.detected",
        "guardrails.guardrail": "P",
        "guardrails.entities.email": 2,
    }


def test_langsmith_metadata_of_an_event_without_entities_is_its_own_fields(
    langsmith_trace: LangSmithTrace,
) -> None:
    """An event's metadata on its run holds what the event says (its fields), not the event's
    name again nor who ran it (agent, thread, run, user: the run says that already); only a
    retry attempt adds the run's attempt count."""
    from langsmith.run_helpers import traceable

    @traceable(name="limited")
    def limited() -> None:
        emit(
            "limit.exceeded",
            "L",
            limit_kind="model_calls",
            scope="run",
            count=3,
            agent="main",
            thread_id="t1",
            user_id="u1",
        )
        emit("retry.attempt", "R", attempt=1, error="TimeoutError", agent="main")
        emit("retry.attempt", "R", attempt=2, error="TimeoutError", agent="main")

    limited()
    (run,) = [r for r in langsmith_trace.runs().values() if r["name"] == "limited"]
    metadata = run["extra"]["metadata"]
    assert metadata["guardrails.limit.exceeded"] == {
        "guardrail": "L",
        "limit_kind": "model_calls",
        "scope": "run",
        "count": 3,
    }, metadata
    assert metadata["guardrails.limit.exceeded.count"] == 1
    assert "guardrails.limit.exceededs" not in metadata
    assert metadata["guardrails.retry.attempts"] == 2
    assert metadata["guardrails.retry.attempt.count"] == 2
