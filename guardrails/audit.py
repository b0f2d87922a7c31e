"""Structured audit events: the one way every guardrail reports a decision.

Each decision is one :class:`logging.LogRecord` on the logger ``guardrails.audit``. The record's
message is the event name (``retry.attempt``, ``pii.detected``, ...) and the event's fields are a
dict in the record attribute ``guardrails`` (:data:`AUDIT_ATTR`), so any formatter can find them.

Turn it on in two lines::

    import guardrails.audit
    guardrails.audit.configure()  # JSON lines on stderr, level INFO

The rule: **an audit event never carries a raw sensitive value** (no PII, no file contents, no
secrets, no tool arguments, not even a hash of a value). :func:`emit` enforces what it can:
field names that usually hold values (``value``, ``text``, ``content``, ``args``, ...) are refused,
field values must be plain scalars or small containers of them, long strings are cut, and any
string in ``secrets=`` is scrubbed out of every field before the record is written. Identity
fields (``user_id``, ``thread_id``, ...) come from the caller's config too, so they pass the same
checks: one that may be personal (an email used as a user id) is replaced by a keyed hash
(:func:`set_identity_key`), the one exception to "not even a hash", so that a user's events still
group together.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

from guardrails import telemetry as _telemetry

__all__ = [
    "AUDIT_ATTR",
    "EVENTS",
    "FORBIDDEN_FIELDS",
    "LOGGER_NAME",
    "EventKind",
    "JsonFormatter",
    "configure",
    "emit",
    "event_table",
    "identity",
    "logger",
    "register_event",
    "set_identity_key",
]

LOGGER_NAME = "guardrails.audit"
AUDIT_ATTR = "guardrails"
logger = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class EventKind:
    """One registered audit event: its name, the docs page with its fields, what it means.

    Example::

        EVENTS["retry.attempt"].meaning   # 'a failed call was tried again'
    """

    name: str
    page: str
    meaning: str


#: Docs page -> title, for the event table in docs/audit.md.
PAGES: dict[str, str] = {
    "retry.md": "Retry",
    "fallback.md": "Fallback",
    "limits.md": "Limits",
    "pii.md": "PII",
    "filesystem.md": "Filesystem permissions",
    "injection.md": "Prompt injection",
}

#: THE registry of audit event kinds. A guardrail may only emit events listed here (its class
#: declares which); docs/audit.md's table, the demo's summary and the tests all read it.
EVENTS: dict[str, EventKind] = {
    e.name: e
    for e in (
        EventKind("retry.attempt", "retry.md", "a failed call was tried again"),
        EventKind("retry.exhausted", "retry.md", "the retries ran out; the error went on"),
        EventKind(
            "retry.provider_retries",
            "retry.md",
            "the model's own client retries too (set its max_retries=0)",
        ),
        EventKind("fallback.switched", "fallback.md", "the model failed; the next model answered"),
        EventKind(
            "fallback.circuit_open",
            "fallback.md",
            "a failing model is skipped until its cooldown ends",
        ),
        EventKind("fallback.circuit_closed", "fallback.md", "a skipped model answered again"),
        EventKind("fallback.exhausted", "fallback.md", "every model failed"),
        EventKind(
            "fallback.storage_error",
            "fallback.md",
            "the breaker storage failed; the circuit was treated as closed",
        ),
        EventKind(
            "fallback.unavailable",
            "fallback.md",
            "a fallback model could not be built (e.g. no API key); skipped",
        ),
        EventKind("limit.exceeded", "limits.md", "a call limit was reached"),
        EventKind(
            "limit.storage_error",
            "limits.md",
            "the shared thread budget storage failed (fail_open decides)",
        ),
        EventKind("rate_limit.exceeded", "limits.md", "a rate limit refused a call"),
        EventKind("rate_limit.waited", "limits.md", "a call waited for the rate limit window"),
        EventKind("rate_limit.storage_error", "limits.md", "the rate limit storage failed"),
        EventKind("pii.detected", "pii.md", "personal data handled before a model saw it"),
        EventKind("pii.blocked", "pii.md", "personal data found; the request was refused"),
        EventKind(
            "pii.detector_error",
            "pii.md",
            "the detector failed; the text was blocked (fail closed)",
        ),
        EventKind(
            "pii.pseudonymized",
            "pii.md",
            "personal data swapped for pseudonyms the model works with",
        ),
        EventKind("pii.restored", "pii.md", "real values put back for a tool only"),
        EventKind("fs.denied", "filesystem.md", "a file operation denied by a permission rule"),
        EventKind(
            "fs.filtered", "filesystem.md", "denied entries withheld from a listing or search"
        ),
        EventKind(
            "fs.widened", "filesystem.md", "a subagent rule granted more than its caller's rules"
        ),
        EventKind("fs.interrupted", "filesystem.md", "a file operation paused for a reviewer"),
        EventKind("fs.approved", "filesystem.md", "a reviewer approved a paused file operation"),
        EventKind(
            "injection.blocked", "injection.md", "a tool call carrying untrusted values refused"
        ),
        EventKind(
            "injection.interrupted", "injection.md", "a tool call carrying untrusted values paused"
        ),
        EventKind(
            "injection.approved", "injection.md", "a reviewer approved (or edited) a paused call"
        ),
        EventKind("injection.relayed", "injection.md", "a final answer repeated an untrusted link"),
        EventKind(
            "injection.undeclared", "injection.md", "a tool in no list: untrusted and protected"
        ),
    )
}


def register_event(name: str, meaning: str, page: str) -> EventKind:
    """Register an audit event kind of a guardrail that lives outside this package.

    ``page`` is the document that lists the event's fields. Registering the same event again
    with the same text is a no-op; a different text is an error (two guardrails, one name).

    Example::

        register_event("budget.exceeded", "a user's dollar budget refused a model call",
                       page="https://example.com/budget")
    """
    if not isinstance(name, str) or "." not in name or name != name.strip():
        raise ValueError(f"an event name looks like 'area.what', got {name!r}")
    kind = EventKind(name, page, meaning)
    existing = EVENTS.setdefault(name, kind)
    if existing != kind:
        raise ValueError(f"audit event {name!r} is already registered as {existing}")
    return kind


def event_table() -> str:
    """The markdown event table of docs/audit.md, rendered from :data:`EVENTS`."""
    rows = ["| event | what it means | fields |", "| --- | --- | --- |"]
    for event in EVENTS.values():
        title = PAGES.get(event.page, event.page)
        rows.append(f"| `{event.name}` | {event.meaning} | [{title}]({event.page}) |")
    return "\n".join(rows)


#: Field names an event may not use: they are where raw values end up by accident.
FORBIDDEN_FIELDS = frozenset(
    {
        "value",
        "values",
        "text",
        "content",
        "contents",
        "args",
        "arguments",
        "raw",
        "secret",
        "password",
        "token",
        "match",
        "matches",
        "original",
        "mapping",
        "prompt",
        "messages",
    }
)
#: Longest string kept in a field; longer strings are cut (an id or a path is never this long).
MAX_STRING = 512
_SCRUBBED = "[SCRUBBED]"
_RESERVED = frozenset({"event", "guardrail"})
_IDENTITY_KEYS = ("agent", "subagent", "thread_id", "run_id", "user_id", "assistant_id")
#: An id that is a UUID (LangGraph run ids, most thread ids) is never personal data.
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}")
_identity_key: bytes = os.environ.get("GUARDRAILS_AUDIT_KEY", "").encode() or os.urandom(32)


def set_identity_key(key: str | bytes | None) -> None:
    """Key of the HMAC that replaces identity values that look personal (see :func:`emit`).

    By default each process draws a random key, so such an id is stable within a process only;
    give every process the same secret key (or set ``GUARDRAILS_AUDIT_KEY``) to correlate a user
    across processes. ``None`` draws a new random key.

    Example::

        guardrails.audit.set_identity_key(os.environ["AUDIT_ID_KEY"])
    """
    global _identity_key
    if key is None:
        _identity_key = os.urandom(32)
        return
    raw = key.encode() if isinstance(key, str) else key
    if not isinstance(raw, bytes) or len(raw) < 16:
        raise ValueError("the audit identity key must be at least 16 bytes (str or bytes)")
    _identity_key = raw


#: The types an identity value is checked for, with the same detector as message content.
IDENTITY_TYPES = ("email", "phone", "credit_card", "ip", "iban", "us_ssn", "mac_address")


@functools.lru_cache(maxsize=1)
def _identity_detector() -> Any:
    from guardrails.pii.detect import build_detector

    return build_detector(list(IDENTITY_TYPES))


@functools.lru_cache(maxsize=4096)
def _detected(value: str) -> bool:
    """The PII detector finds a value in ``value`` (``jane.doe%40example.com`` and
    ``jane.doe＠example.com`` are emails to it, as in content). A detector that fails counts
    as a find: an identity is kept only when it is known not to be personal."""
    try:
        from guardrails.pii.scan import find_all

        return bool(find_all(_identity_detector(), value[: MAX_STRING * 2]))
    except Exception:
        return True


def _protect_identity(value: str, secrets: tuple[str, ...]) -> str:
    """``value``, or ``anon:<keyed hash>`` when it may be personal data.

    Kept as given: UUIDs, and ids in which the PII detector (the same as for message content:
    :data:`IDENTITY_TYPES`) finds nothing, with no ``@``, no whitespace, fewer than 7 digits and
    none of the ``secrets``. Anything else (an email, a phone or card number, a name with a space, a
    value the caller flagged as sensitive) is replaced by the first 16 hex digits of an
    HMAC-SHA256 under :func:`set_identity_key`'s key: events of one user still group together,
    the raw value is never written.
    """
    if _UUID.fullmatch(value):
        return value
    personal = (
        _detected(value)
        or "@" in value
        or any(c.isspace() for c in value)
        or sum(c.isdigit() for c in value) >= 7
        or any(secret in value for secret in secrets)
        or len(value) > MAX_STRING
    )
    if not personal:
        return value
    digest = hmac.new(_identity_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return "anon:" + digest.hexdigest()[:16]


def _clean(value: Any, secrets: tuple[str, ...], depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret and secret in value:
                value = value.replace(secret, _SCRUBBED)
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + "..."
    if depth >= 2:
        raise TypeError(f"audit fields nest at most two levels, got {type(value).__name__}")
    if isinstance(value, Mapping):
        return {str(k): _clean(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v, secrets, depth + 1) for v in value]
    raise TypeError(
        f"audit field values must be str, int, float, bool, None, or lists/dicts of them; "
        f"got {type(value).__name__}"
    )


def _check(value: Any) -> None:
    """The type checks of :func:`_clean` alone (an event nobody listens to is still checked)."""
    _clean(value, ())


def _get_config() -> Mapping[str, Any] | None:
    try:
        from langgraph.config import get_config

        return get_config()
    except Exception:  # outside a runnable context
        return None


def _read(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def identity(runtime: Any = None, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Who and where a request runs: agent, subagent, thread_id, run_id, user_id, assistant_id.

    Sources, first found wins for each key:

    1. ``runtime.execution_info`` (``thread_id``, ``run_id``) and ``runtime.server_info``
       (``assistant_id``, ``user.identity``): set by LangGraph itself, so they cannot be spoofed
       by a caller.
    2. ``runtime.context`` (a dict or an object with ``user_id``, ``thread_id``, ``assistant_id``).
    3. ``config["configurable"]`` (``thread_id``, ``user_id``, ``assistant_id``) and
       ``config["metadata"]["lc_agent_name"]`` for ``agent`` (the ``name=`` of ``create_agent``
       or of a deepagents subagent); ``subagent`` repeats that name when deepagents runs the
       agent as a subagent (``configurable["ls_agent_type"] == "subagent"``).

    ``config`` defaults to the config of the running graph step. Keys with no source are omitted.

    Example::

        ids = identity(request.runtime)
        ids.get("user_id")
    """
    out: dict[str, Any] = {}
    execution = _read(runtime, "execution_info")
    server = _read(runtime, "server_info")
    context = _read(runtime, "context")
    if config is None:
        config = _read(runtime, "config") or _get_config()
    configurable = _read(config, "configurable") or {}
    metadata = _read(config, "metadata") or {}

    user = _read(server, "user")
    candidates: dict[str, tuple[Any, ...]] = {
        "thread_id": (
            _read(execution, "thread_id"),
            _read(context, "thread_id"),
            _read(configurable, "thread_id"),
        ),
        "run_id": (_read(execution, "run_id"), _read(config, "run_id")),
        "user_id": (
            _read(user, "identity"),
            _read(context, "user_id"),
            _read(configurable, "user_id"),
        ),
        "assistant_id": (
            _read(server, "assistant_id"),
            _read(context, "assistant_id"),
            _read(configurable, "assistant_id"),
        ),
        "agent": (_read(metadata, "lc_agent_name"),),
    }
    for key, values in candidates.items():
        for value in values:
            if value is not None and value != "":
                out[key] = str(value)
                break
    if _read(configurable, "ls_agent_type") == "subagent" and "agent" in out:
        out["subagent"] = out["agent"]  # deepagents runs this agent as a subagent (task tool)
    return out


def emit(
    event: str,
    guardrail: str,
    *,
    runtime: Any = None,
    level: int = logging.INFO,
    secrets: Iterable[str] = (),
    **fields: Any,
) -> dict[str, Any] | None:
    """Write one audit event; return its fields (``None`` when the logger is off for ``level``).

    ``runtime`` (a LangGraph ``Runtime`` or ``ToolRuntime``) fills the identity fields.
    ``secrets`` are raw values the caller knows are sensitive: they are scrubbed from every field.

    Example::

        emit("retry.attempt", "ModelRetryMiddleware", runtime=request.runtime,
             attempt=1, delay_s=2.0, error="RateLimitError", status=429)

    Raises:
        ValueError: a field name is reserved or in :data:`FORBIDDEN_FIELDS`.
        TypeError: a field value is not a scalar or a small container of scalars.
    """
    for name in fields:
        if name in _RESERVED or name in FORBIDDEN_FIELDS:
            raise ValueError(
                f"audit field {name!r} is not allowed: fields may not carry raw values "
                f"(forbidden names: {sorted(FORBIDDEN_FIELDS | _RESERVED)})"
            )
    logged = _telemetry.logs_enabled() and logger.isEnabledFor(level)
    where = _telemetry.targets()  # LangSmith run / OTel span / meters listening now (telemetry.py)
    if not logged and where is None:
        for value in fields.values():  # the same checks, nothing built (nobody listens)
            _check(value)
        return None
    secret_list = tuple(sorted((s for s in secrets if s), key=len, reverse=True))
    cleaned = {name: _clean(value, secret_list) for name, value in fields.items()}
    payload: dict[str, Any] = {"event": event, "guardrail": guardrail}
    payload.update(identity(runtime))
    payload.update(cleaned)
    for key in _IDENTITY_KEYS:  # ids pass the same scrubbing as values, then look-alike checks
        if isinstance(payload.get(key), str):
            payload[key] = _protect_identity(payload[key], secret_list)
    if logged:
        logger.log(level, event, extra={AUDIT_ATTR: payload})
    if where is not None:
        _telemetry.deliver(where, payload)  # the scrubbed payload, never the raw fields
    return payload if logged else None


class JsonFormatter(logging.Formatter):
    """Render a log record as one JSON object per line: timestamp, level, logger and event fields.

    The audit fields (record attribute ``guardrails``) are flattened into the top-level object.

    Example::

        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.getLogger("guardrails.audit").addHandler(handler)
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, AUDIT_ATTR, None)
        if isinstance(fields, Mapping):
            for key, value in fields.items():
                if key not in ("timestamp", "level", "logger"):
                    out[key] = value
        else:
            out["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
        try:
            return json.dumps(
                out, default=str, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            )
        except ValueError:  # a NaN or an infinity (``Retry-After: inf``): not JSON (RFC 8259)
            return json.dumps(_finite(out), default=str, ensure_ascii=False, separators=(",", ":"))


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float written as its name (``"inf"``, ``"nan"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def configure(
    stream: IO[str] | None = None,
    *,
    level: int = logging.INFO,
    propagate: bool = False,
    traces: bool | None = None,
    metrics: bool | None = None,
) -> logging.Handler:
    """Send audit events as JSON lines to ``stream`` (stderr by default); return the handler.

    Calling it again replaces the handler it installed before, so it is safe to call twice.
    ``traces`` / ``metrics``: as in :func:`guardrails.telemetry.configure` (``None`` keeps them).

    Example::

        import guardrails.audit
        guardrails.audit.configure()  # logs; traces=False, metrics=False for logs only
    """
    if traces is not None or metrics is not None:
        _telemetry.configure(traces=traces, metrics=metrics)  # validated before anything changes
    for old in list(logger.handlers):
        if getattr(old, "_guardrails_handler", False):
            logger.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._guardrails_handler = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate
    return handler
