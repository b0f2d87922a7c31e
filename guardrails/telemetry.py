"""Guardrail decisions where LangChain users look: LangSmith runs, OpenTelemetry spans, metrics.

Every audit event (:func:`guardrails.audit.emit`) goes, besides the ``guardrails.audit`` log, to:

* **LangSmith**: the run that is current when the guardrail decides (under LangChain tracing, the
  guardrail's own hook run, e.g. ``PIIMiddleware.wrap_model_call``, which sits inside the agent's
  ``model`` step and wraps the model call it governs). The run gets one event
  ``guardrails.<event>`` whose ``kwargs`` are the audit fields, and metadata
  ``guardrails.<event>`` (the entity counts for events with ``entities``, else the decision fields)
  plus ``guardrails.<event>.count`` (and ``guardrails.retry.attempts`` for ``*.attempt`` events).
* **OpenTelemetry traces**: one span event ``guardrails.<event>`` on the current span, with the
  audit fields as attributes (GenAI semantic-convention names where one exists, see
  :data:`OTEL_ATTRIBUTE_NAMES`; ``guardrails.<field>`` otherwise).
* **OpenTelemetry metrics**: counters (see :data:`METRICS`) on the global meter provider, or the one
  given to :func:`configure`.

The bridge receives the fields after :func:`guardrails.audit.emit` has checked and scrubbed them:
what reaches a trace or a metric is exactly what the audit log would show, never a raw value. Each
destination is used only when its library is importable and something listens (a LangSmith run is
current; the current OpenTelemetry span is recording; a meter provider is set); otherwise an event
costs two context-variable reads. A failure inside a destination never reaches the guarded call.

Turn any of the three off in one place::

    import guardrails.telemetry
    guardrails.telemetry.configure(logs=True, traces=False, metrics=False)  # audit log only
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from guardrails._validate import strict_bool

__all__ = [
    "IDENTITY_FIELDS",
    "METRICS",
    "OTEL_ATTRIBUTE_NAMES",
    "TelemetrySettings",
    "configure",
    "settings",
]

_log = logging.getLogger("guardrails.telemetry")

#: Audit fields with an OpenTelemetry semantic-convention name (GenAI or general registry).
OTEL_ATTRIBUTE_NAMES: Mapping[str, str] = {
    "agent": "gen_ai.agent.name",
    "thread_id": "gen_ai.conversation.id",
    "model": "gen_ai.request.model",
    "tool": "gen_ai.tool.name",
    "tool_call_id": "gen_ai.tool.call.id",
    "error": "error.type",
    "user_id": "user.id",
}
#: Fields that say who and where (``guardrails.audit.identity``), left out of LangSmith metadata
#: values (the run already carries them) but kept on events.
IDENTITY_FIELDS = frozenset({"agent", "subagent", "thread_id", "run_id", "user_id", "assistant_id"})

#: The counters, by name: (unit, description).
METRICS: Mapping[str, tuple[str, str]] = {
    "guardrails.decisions": (
        "{decision}",
        "Guardrail decisions (audit events) by guardrail, event, agent",
    ),
    "guardrails.retry.attempts": ("{attempt}", "Retry attempts (retry.attempt events)"),
    "guardrails.breaker.state_changes": ("{change}", "Circuit breaker opened or closed"),
    "guardrails.limit.hits": ("{hit}", "Call or rate limits hit (*limit.exceeded events)"),
    "guardrails.pii.entities": ("{entity}", "PII entities by type (entities of pii.* events)"),
}


@dataclass(frozen=True)
class TelemetrySettings:
    """Which destinations audit events go to (see :func:`configure`).

    Example::

        guardrails.telemetry.settings().traces  # True by default
    """

    logs: bool = True
    traces: bool = True
    metrics: bool = True
    meter_provider: Any = None


_settings = TelemetrySettings()
_lock = threading.Lock()


def configure(
    *,
    logs: bool | None = None,
    traces: bool | None = None,
    metrics: bool | None = None,
    meter_provider: Any = None,
) -> TelemetrySettings:
    """Turn the audit log, trace events and metrics on or off; return the settings now in force.

    Arguments left as ``None`` keep their current value; all three are on by default.

    * ``logs=False``: :func:`guardrails.audit.emit` writes no log record (whatever the logger's
      level or handlers; :func:`guardrails.audit.configure` still installs its handler).
    * ``traces=False``: no LangSmith run events or metadata, no OpenTelemetry span events.
    * ``metrics=False``: no OpenTelemetry counters.
    * ``meter_provider``: an OpenTelemetry ``MeterProvider`` to count on instead of the global one.

    Example::

        import guardrails.telemetry
        guardrails.telemetry.configure(traces=False)  # logs and metrics only
    """
    global _settings, _meter_cache
    with _lock:
        current = _settings
        _settings = TelemetrySettings(
            logs=current.logs if logs is None else strict_bool("logs", logs),
            traces=current.traces if traces is None else strict_bool("traces", traces),
            metrics=current.metrics if metrics is None else strict_bool("metrics", metrics),
            meter_provider=current.meter_provider if meter_provider is None else meter_provider,
        )
        _meter_cache = None
        return _settings


def reset() -> TelemetrySettings:
    """Back to the defaults (everything on, the global meter provider). For tests.

    Example::

        guardrails.telemetry.reset()
    """
    global _settings, _meter_cache
    with _lock:
        _settings = TelemetrySettings()
        _meter_cache = None
        return _settings


def settings() -> TelemetrySettings:
    """The settings in force.

    Example::

        if guardrails.telemetry.settings().metrics: ...
    """
    return _settings


def logs_enabled() -> bool:
    """Whether :func:`guardrails.audit.emit` writes log records (``configure(logs=...)``)."""
    return _settings.logs


# --- optional libraries, looked up once -------------------------------------------------------

_current_run: Callable[[], Any] | None
try:  # langsmith comes with langchain-core; its run tree is current only under tracing
    from langsmith.run_helpers import get_current_run_tree as _current_run
except Exception:  # pragma: no cover - langsmith missing or broken
    _current_run = None

_otel_trace: Any
_otel_metrics: Any
try:
    from opentelemetry import metrics as _otel_metrics
    from opentelemetry import trace as _otel_trace
except Exception:  # opentelemetry-api is optional (extra "otel")
    _otel_trace = None
    _otel_metrics = None
_otel_metrics_internal: Any
try:
    from opentelemetry.metrics import _internal as _otel_metrics_internal
except Exception:  # pragma: no cover - layout changed: the public (slower) path is used
    _otel_metrics_internal = None
_UNKNOWN = object()
# A provider named in the environment is loaded by the API on first use: leave that to it.
_meter_provider_from_env = bool(os.environ.get("OTEL_PYTHON_METER_PROVIDER"))


class Targets(NamedTuple):
    """Where one event goes right now (from :func:`targets`): a LangSmith run, a recording
    OpenTelemetry span, the counters; ``None`` for each that is not listening.

    Example::

        where = guardrails.telemetry.targets()
        if where is not None:
            guardrails.telemetry.deliver(where, {"event": "x.y", "guardrail": "G"})
    """

    run: Any
    span: Any
    counters: dict[str, Any] | None


_meter_cache: tuple[Any, dict[str, Any]] | None = None


def _meter_provider() -> Any:
    provider = _settings.meter_provider
    if provider is not None:
        return provider
    if _otel_metrics_internal is not None and not _meter_provider_from_env:
        # Fast path (an event with nothing listening must cost nothing): the API's own global,
        # None until the application calls set_meter_provider. Canary: tests/test_telemetry.py.
        provider = getattr(_otel_metrics_internal, "_METER_PROVIDER", _UNKNOWN)
        if provider is None:
            return None
        if provider is not _UNKNOWN:
            return provider
    provider = _otel_metrics.get_meter_provider()
    # Until the application sets one, the API hands out a proxy (or a no-op): nobody counts.
    if isinstance(provider, _otel_metrics.NoOpMeterProvider) or type(provider).__name__.startswith(
        "_Proxy"
    ):
        return None
    return provider


def _counters() -> dict[str, Any] | None:
    global _meter_cache
    provider = _meter_provider()
    if provider is None:
        return None
    cached = _meter_cache
    if cached is not None and cached[0] is provider:
        return cached[1]
    from guardrails import __version__ as version

    meter = provider.get_meter("guardrails", version)
    counters = {
        name: meter.create_counter(name, unit=unit, description=description)
        for name, (unit, description) in METRICS.items()
    }
    _meter_cache = (provider, counters)  # one provider at a time
    return counters


def targets() -> Targets | None:
    """The destinations listening now, or ``None`` when none is (the cheap path).

    Called by :func:`guardrails.audit.emit` before it builds the event. Never raises.
    """
    s = _settings
    run = span = counters = None
    try:
        if s.traces:
            if _current_run is not None:
                run = _current_run()
            if _otel_trace is not None:
                current = _otel_trace.get_current_span()
                if current.is_recording():
                    span = current
        if s.metrics and _otel_metrics is not None:
            counters = _counters()
    except Exception:
        _log.debug("guardrails telemetry: looking for a listener failed", exc_info=True)
    if run is None and span is None and counters is None:
        return None
    return Targets(run, span, counters)


def deliver(where: Targets, payload: Mapping[str, Any]) -> None:
    """Send one audit event (already checked and scrubbed by ``emit``) to ``where``.

    Never raises: a broken exporter or run tree must not fail the guarded call.
    """
    for send, target in (
        (_to_langsmith, where.run),
        (_to_span, where.span),
        (_to_counters, where.counters),
    ):
        if target is None:
            continue
        try:
            send(target, payload)
        except Exception:
            _log.debug("guardrails telemetry: %s failed", send.__name__, exc_info=True)


# --- LangSmith ---------------------------------------------------------------------------------

_run_lock = threading.Lock()
_OWN_MAX = 4096  # runs whose tallies are kept (oldest dropped first; a run is short-lived)
_own: dict[tuple[str, Any], tuple[int, dict[str, int]]] = {}


def _summary(payload: Mapping[str, Any]) -> Any:
    return {k: v for k, v in payload.items() if k != "event" and k not in IDENTITY_FIELDS}


def _to_langsmith(run: Any, payload: Mapping[str, Any]) -> None:
    event = str(payload["event"])
    key = f"guardrails.{event}"
    record = {"name": key, "time": datetime.now(timezone.utc).isoformat(), "kwargs": dict(payload)}
    run_key = (key, run.id)
    with _run_lock:  # parallel tool calls may report on one run
        # This run's own tally, kept here: LangSmith copies a run's metadata into the runs started
        # inside it, so reading the tally back from metadata would count the parent's events too.
        count, totals = _own.pop(run_key, (0, {}))
        count += 1
        entities = payload.get("entities")
        value: Any
        if isinstance(entities, Mapping):
            totals = dict(totals)
            for name, n in entities.items():
                if isinstance(n, int) and not isinstance(n, bool):
                    totals[str(name)] = totals.get(str(name), 0) + n
            value = totals
        else:
            value = _summary(payload)
        _own[run_key] = (count, totals)
        while len(_own) > _OWN_MAX:
            _own.pop(next(iter(_own)))
        # A new metadata dict, never an in-place update: a run's metadata dict may be shared.
        extra = dict(run.extra) if isinstance(run.extra, Mapping) else {}
        metadata = dict(extra.get("metadata") or {})
        metadata[key] = value
        metadata[f"{key}.count"] = count
        if event.endswith(".attempt"):  # guardrails.retry.attempts: how many retries this run made
            metadata[f"{key}s"] = count
        extra["metadata"] = metadata
        run.extra = extra
        if run.events is None:
            run.events = []
        run.events.append(record)  # each run has its own list (LangChain's start/end go there)


# --- OpenTelemetry traces ----------------------------------------------------------------------


def _attr_name(field: str) -> str:
    return OTEL_ATTRIBUTE_NAMES.get(field) or f"guardrails.{field}"


def _attr_value(value: Any) -> Any:
    """An OpenTelemetry attribute value: a scalar or a homogeneous list of scalars; else JSON."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        for kind in (str, bool, int, float):
            if value and all(type(v) is kind for v in value):
                return list(value)
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def otel_attributes(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The span-event attributes for an audit event: semantic-convention names where one exists.

    A dict field becomes one attribute per key (``guardrails.entities.email = 2``); ``None``
    fields are left out.

    Example::

        otel_attributes({"event": "pii.detected", "guardrail": "PIIMiddleware",
                         "agent": "main", "entities": {"email": 2}})
        # {"guardrails.event": "pii.detected", "guardrails.guardrail": "PIIMiddleware",
        #  "gen_ai.agent.name": "main", "guardrails.entities.email": 2}
    """
    out: dict[str, Any] = {}
    for field, value in payload.items():
        if value is None:
            continue
        name = _attr_name(field)
        if isinstance(value, Mapping):
            for key, item in value.items():
                if item is not None:
                    out[f"{name}.{key}"] = _attr_value(item)
        else:
            out[name] = _attr_value(value)
    return out


def _to_span(span: Any, payload: Mapping[str, Any]) -> None:
    span.add_event(f"guardrails.{payload['event']}", attributes=otel_attributes(payload))


# --- OpenTelemetry metrics ---------------------------------------------------------------------


def _labels(payload: Mapping[str, Any], *fields: str) -> dict[str, Any]:
    labels: dict[str, Any] = {
        "guardrails.guardrail": str(payload.get("guardrail")),
        "guardrails.event": str(payload.get("event")),
    }
    for field in ("agent", *fields):
        value = payload.get(field)
        if isinstance(value, (str, int, float, bool)):
            labels[_attr_name(field)] = value
    return labels


def _to_counters(counters: dict[str, Any], payload: Mapping[str, Any]) -> None:
    event = str(payload.get("event"))
    counters["guardrails.decisions"].add(1, _labels(payload))
    family, _, name = event.partition(".")
    if event.endswith("retry.attempt"):
        counters["guardrails.retry.attempts"].add(1, _labels(payload, "error"))
    if name.startswith("circuit_"):
        labels = _labels(payload, "model")
        labels["guardrails.breaker.state"] = name.removeprefix("circuit_")
        counters["guardrails.breaker.state_changes"].add(1, labels)
    if event.endswith("limit.exceeded"):
        counters["guardrails.limit.hits"].add(1, _labels(payload, "limit_kind", "scope"))
    entities = payload.get("entities")
    if family == "pii" and isinstance(entities, Mapping):
        for entity_type, count in entities.items():
            if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                labels = _labels(payload)
                labels["guardrails.pii.entity_type"] = str(entity_type)
                counters["guardrails.pii.entities"].add(count, labels)
