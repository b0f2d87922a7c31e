"""Telemetry: what one audit event adds when traces and metrics are off, and when each is on.

Each figure is the cost of one ``emit()`` (log records off) minus the same ``emit()`` with the
telemetry bridge switched off (``guardrails.telemetry.configure(traces=False, metrics=False)``),
in microseconds. Rounds are interleaved; the fastest round counts.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import guardrails.telemetry as telemetry
from bench.common import Row, timeit_us
from guardrails.audit import emit, logger


def _emit() -> None:
    emit(
        "pii.detected",
        "PIIMiddleware[email]",
        where="input",
        entities={"email": 2},
        strategy="redact",
        secrets=["jane.doe@example.com"],
    )


@contextlib.contextmanager
def _bridge_off() -> Iterator[None]:
    telemetry.configure(traces=False, metrics=False)
    yield


@contextlib.contextmanager
def _nothing_listening() -> Iterator[None]:
    telemetry.reset()
    yield


def _audit_log() -> Callable[[], contextlib.AbstractContextManager[Any]]:
    import io

    from guardrails.audit import JsonFormatter

    @contextlib.contextmanager
    def ctx() -> Iterator[None]:
        telemetry.configure(traces=False, metrics=False)
        handler = logging.StreamHandler(io.StringIO())
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(logging.CRITICAL)

    return ctx


def _otel_span() -> Callable[[], contextlib.AbstractContextManager[Any]]:
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider

    tracer = TracerProvider(span_limits=SpanLimits(max_events=100_000)).get_tracer("bench")

    @contextlib.contextmanager
    def ctx() -> Iterator[None]:
        telemetry.reset()
        with tracer.start_as_current_span("chat model"):
            yield

    return ctx


def _otel_metrics() -> Callable[[], contextlib.AbstractContextManager[Any]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    @contextlib.contextmanager
    def ctx() -> Iterator[None]:
        telemetry.reset()
        telemetry.configure(meter_provider=provider)
        yield

    return ctx


def _langsmith_run() -> Callable[[], contextlib.AbstractContextManager[Any]]:
    from langsmith import Client
    from langsmith.run_helpers import set_tracing_parent
    from langsmith.run_trees import RunTree

    client = Client(api_url="http://langsmith.invalid", api_key="bench", info={})

    @contextlib.contextmanager
    def ctx() -> Iterator[None]:
        telemetry.reset()
        run = RunTree(name="PIIMiddleware.wrap_model_call", run_type="chain", ls_client=client)
        with set_tracing_parent(run):  # never posted: nothing leaves the process
            yield

    return ctx


def run(quick: bool = False) -> list[Row]:
    number, repeat = (200, 5) if quick else (2000, 15)
    scenarios: dict[str, Callable[[], contextlib.AbstractContextManager[Any]]] = {
        "off": _bridge_off,
        "idle": _nothing_listening,
        "log": _audit_log(),
        "otel_span": _otel_span(),
        "otel_metrics": _otel_metrics(),
        "langsmith": _langsmith_run(),
    }
    best = {label: float("inf") for label in scenarios}
    old_level = logger.level
    logger.setLevel(logging.CRITICAL)  # no log records: measure the bridge alone
    try:
        for _ in range(repeat):
            for label, scenario in scenarios.items():
                with scenario():
                    _emit()
                    gc.collect()
                    start = time.perf_counter()
                    for _ in range(number):
                        _emit()
                    best[label] = min(best[label], (time.perf_counter() - start) / number * 1e6)
    finally:
        logger.setLevel(old_level)
        telemetry.reset()
    base = best["off"]
    added = [
        ("tracing off", "idle", "no run, no recording span, no meter provider"),
        ("OTel span event", "otel_span", "SDK span, current"),
        ("OTel metrics", "otel_metrics", "SDK meter provider, in-memory reader"),
        ("LangSmith run", "langsmith", "event + metadata on the current run"),
        ("for scale: JSON audit log line", "log", "audit.configure() to a memory stream"),
    ]
    telemetry.reset()
    check = timeit_us(telemetry.targets, number=number * 10, repeat=repeat)
    rows = [
        Row("telemetry", "emit() itself, bridge off (log off)", base, None, "us/event"),
        Row(
            "telemetry",
            "tracing off: the listener check alone",
            check,
            None,
            "us/event",
            note="telemetry.targets(), all that is added when nothing listens",
        ),
    ]
    for what, label, note in added:
        rows.append(
            Row(
                "telemetry",
                f"added cost per event: {what}",
                best[label] - base,
                None,
                "us/event",
                note=note,
            )
        )
    return rows
