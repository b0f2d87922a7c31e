"""``stream_events(version="v3")``: a stream transformer that handles PII in flight.

Installed by ``PIIMiddleware`` (its ``transformers``) when ``apply_to_output`` or
``apply_to_tool_results`` is set, like LangChain 1.5's, and at least as strict:

* ``messages``: text, reasoning and tool-call-argument deltas (held back
  :data:`~guardrails.pii.lasthop.LOOKBACK` characters so a value split across deltas is seen
  whole), started and finished content blocks of every type, whole messages, every field of
  any other event (a start's metadata, a finish's provider fields, an error's message);
* ``tools``: ``tool-started`` input, ``tool-output-delta``, ``tool-finished`` output,
  ``tool-error`` message, every field of any other event;
* ``values`` and ``updates``: every message and value of the state snapshot or update,
  including the fields LangChain's leaves out (names, ``additional_kwargs``, artifacts).

``block`` raises :class:`~guardrails.errors.PIIDetectionError` before the event is released.
``pseudonymize`` has no thread mapping here: values that reach a stream raw are redacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from langgraph.stream import StreamTransformer

from guardrails.pii.finders.secrets import open_secret_start
from guardrails.pii.holdback import release_point
from guardrails.pii.lasthop import LOOKBACK
from guardrails.pii.scan import Scan
from guardrails.pii.strategies import Redact

if TYPE_CHECKING:
    from langgraph.stream import ProtocolEvent

__all__ = ["PIIStreamTransformer"]

#: the fields that identify a protocol event, never scanned: every other field of an event
#: not taken apart by kind is handled whole
_MESSAGE_IDS = frozenset({"event", "index", "id", "role"})
_TOOL_IDS = frozenset({"event", "tool_call_id", "tool_name"})


class PIIStreamTransformer(StreamTransformer):
    """Mutates protocol events so no value the middleware handles is released.

    Example::

        agent = create_agent(model, middleware=[PIIMiddleware("email", apply_to_output=True)])
        for event in agent.stream_events({"messages": [...]}, version="v3"):
            ...  # never carries a raw email
    """

    before_builtins: ClassVar[bool] = True
    required_stream_modes: ClassVar[tuple[str, ...]] = ("messages", "tools", "values", "updates")

    def __init__(self, scope: tuple[str, ...] = (), *, middleware: Any) -> None:
        super().__init__(scope)
        self._mw = middleware
        self._buffers: dict[tuple[str, Any], str] = {}

    def init(self) -> dict[str, Any]:
        return {}

    def _scan(self) -> Scan:
        scan: Scan = self._mw.scan("stream")
        if scan.strategy.needs_mapping:
            scan.strategy = Redact()
        return scan

    def _value(self, value: Any) -> Any:
        scan = self._scan()
        out = scan.value(value)
        if scan.found and not scan.strategy.rewrites:
            scan.report()
        return out

    def process(self, event: ProtocolEvent) -> bool:
        method = event.get("method")
        params: dict[str, Any] = event.get("params") or {}  # type: ignore[assignment]
        data = params.get("data")
        if method == "messages":
            self._messages(params, data)
        elif method == "tools" and isinstance(data, dict):
            self._tools(data)
        elif method in {"tools", "values", "updates"} and data is not None:
            # a state snapshot or update, or a tools event of another shape (fail closed)
            params["data"] = self._value(data)
        return True

    # ------------------------------------------------------------------ messages channel
    def _messages(self, params: dict[str, Any], data: Any) -> None:
        if not isinstance(data, tuple | list) or len(data) != 2:
            if data is not None:  # a shape this version does not know: every value (fail closed)
                params["data"] = self._value(data)
            return
        payload, metadata = data
        if not isinstance(payload, dict):  # a whole message, or a payload of another shape
            pair = (self._value(payload), metadata)
            params["data"] = pair if isinstance(data, tuple) else list(pair)
            return
        kind = payload.get("event")
        run = str((metadata or {}).get("run_id") or "")
        if kind == "content-block-delta":
            self._delta(payload, run)
        elif kind == "content-block-finish":
            content = payload.get("content")
            if content is not None:
                payload["content"] = self._value(content)
            self._buffers.pop((run, payload.get("index")), None)
        else:
            if kind in {"message-finish", "error"}:
                for key in [k for k in self._buffers if k[0] == run]:
                    del self._buffers[key]
            # every other field: a finish's provider fields, an error's message, a start's
            # message or metadata, a block's start (its URL, its extras), an event this
            # version does not know (fail closed)
            self._fields(payload, _MESSAGE_IDS)

    def _delta(self, payload: dict[str, Any], run: str) -> None:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            return
        kind = delta.get("type")
        field = {"text-delta": "text", "reasoning-delta": "reasoning", "tool-call-delta": "args"}
        if kind in field:
            self._held(delta, field[kind], (run, payload.get("index")))
            for key, value in list(delta.items()):  # any other field of the delta (fail closed)
                if key not in {"type", field[kind]}:
                    delta[key] = self._value(value)
        elif kind == "block-delta":
            fields = delta.get("fields")
            if isinstance(fields, dict):
                args = fields.get("args")
                if isinstance(args, str):  # cumulative arguments: handle, hold the tail
                    handled = self._value(args)
                    cut = max(0, len(handled) - LOOKBACK)
                    fields["args"] = handled[:cut]
                    self._buffers[(run, payload.get("index"))] = handled[cut:]
                elif args is not None:  # arguments as an object: every value
                    fields["args"] = self._value(args)
                for key, value in list(fields.items()):
                    if key not in {"args", "type", "id", "index", "name"}:
                        fields[key] = self._value(value)
            elif fields is not None:
                delta["fields"] = self._value(fields)
        else:  # any other delta type: every string in it
            payload["delta"] = self._value(delta)

    def _held(self, container: dict[str, Any], field: str, key: tuple[str, Any]) -> None:
        text = container.get(field)
        if not isinstance(text, str) or not text:
            return
        raw = self._buffers.get(key, "") + text
        hold = open_secret_start(raw)  # a secret still arriving is held whole (finders.secrets)
        # the held tail stays raw: a value reaching into it may still be growing (holdback)
        cut = release_point(raw[:hold], [self._scan()])
        self._buffers[key] = raw[cut:]
        container[field] = self._value(raw[:cut]) if cut else ""

    # ------------------------------------------------------------------ tools channel
    def _tools(self, data: dict[str, Any]) -> None:
        kind = data.get("event")
        call = data.get("tool_call_id")
        key = ("tool", call if isinstance(call, str) else "")
        if kind == "tool-started" and "input" in data:
            data["input"] = self._value(data["input"])
        elif kind == "tool-output-delta":
            if isinstance(data.get("delta"), str):
                self._held(data, "delta", key)
            elif "delta" in data:
                data["delta"] = self._value(data["delta"])
        else:  # finished, failed, or an event this version does not know (fail closed)
            if kind in {"tool-finished", "tool-error"}:
                self._buffers.pop(key, None)
            self._fields(data, _TOOL_IDS)

    def _fields(self, data: dict[str, Any], ids: frozenset[str]) -> None:
        """Every field of ``data`` handled but those that identify the event."""
        for field, value in list(data.items()):
            if field not in ids:
                data[field] = self._value(value)

    def finalize(self) -> None:
        self._buffers.clear()

    def fail(self, err: BaseException) -> None:
        self._buffers.clear()
