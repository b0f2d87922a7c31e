"""One scan: every string of a message, a request or a value, handled by one strategy.

:class:`Scan` is the state of one pass (which middleware, where, the runtime for audit
events, what was found, the values to keep out of logs, the thread's pseudonymizer). Its
walkers reach *every* string a provider or a tool may receive, so coverage never depends on
remembering a field:

* message ``content`` as a string or as blocks of any type: every string value of every block
  (``text``, ``input_text``, ``json``, ``tool_use`` input, ...) except structural keys
  (``type``, ``id``, ``mime_type``, ...); URLs percent-decoded first; ``data:`` URLs and base64
  payloads whose MIME type is text are decoded, scanned and re-encoded; binary payloads (images,
  audio, PDFs) cannot be scanned and are counted in ``unscannable``;
* the message ``name``, ``additional_kwargs`` (``name``, ``function_call``, raw ``tool_calls``),
  ``tool_calls`` args, ``invalid_tool_calls`` args, a ``ToolMessage`` ``artifact``;
* numbers inside arguments are scanned as text (``4111111111111111`` is a card number).

Texts longer than :data:`CHUNK` are scanned in overlapping chunks, so a worker thread never
holds the interpreter lock for one long regex call (the event loop keeps running).

Example::

    scan = Scan(detector, build_strategy("redact"), middleware.audit, where="input")
    handled = scan.messages(request.messages)
    scan.report()  # one audit event; raises PIIDetectionError under "block"
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from pydantic import BaseModel

from guardrails.errors import PIIDetectionError
from guardrails.pii.detect import Detector, PIIMatch
from guardrails.pii.pseudonym import Pseudonymizer
from guardrails.pii.strategies import Strategy

__all__ = ["CHUNK", "Scan", "find_all"]

#: Texts longer than this are scanned in chunks of this size.
CHUNK = 8_192
#: Seconds of scanning between two turns of the event loop (:meth:`Scan.prefetch`).
SLICE = 0.005
#: Overlap of two chunks; a value up to half of it long is always seen whole in one chunk.
OVERLAP = 2_048
#: Keys of a content block that are structure, not content.
_STRUCTURAL = frozenset(
    {"type", "id", "index", "mime_type", "source_type", "detail", "cache_control", "format"}
)
_PAYLOAD_KEYS = frozenset({"data", "base64"})
_URL_KEYS = frozenset({"url", "image_url", "file_url", "audio_url"})


def find_steps(detector: Detector, text: str) -> Generator[None, None, list[PIIMatch]]:
    """:func:`find_all` one step at a time: yields after each type of each chunk, returns the
    matches."""
    if len(text) <= CHUNK:
        return list((yield from detector.steps(text)))
    half = OVERLAP // 2
    found: list[PIIMatch] = []
    start = 0
    while True:
        end = min(len(text), start + CHUNK)
        own_from = start + half if start else 0
        own_to = end - half if end < len(text) else end
        for m in (yield from detector.steps(text[start:end])):
            s = m["start"] + start
            if own_from <= s < own_to:
                end_at = m["end"] + start
                found.append(PIIMatch(type=m["type"], value=m["value"], start=s, end=end_at))
        if end >= len(text):
            break
        start = end - OVERLAP
    found.sort(key=lambda m: (m["start"], -(m["end"] - m["start"])))
    kept: list[PIIMatch] = []
    last = -1
    for m in found:
        if m["start"] >= last:
            kept.append(m)
            last = m["end"]
    return kept


def find_all(detector: Detector, text: str) -> Sequence[PIIMatch]:
    """``detector(text)``, chunked for long texts (the detector's cache keyed per chunk)."""
    if len(text) <= CHUNK:
        return detector.matches(text)
    steps = find_steps(detector, text)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _is_text_mime(mime: str) -> bool:
    mime = mime.split(";")[0].strip().lower()
    return not mime or mime.startswith("text/") or mime in {"application/json", "application/xml"}


@dataclass
class Scan:
    """The state of one scan pass (see the module docstring)."""

    detector: Detector
    strategy: Strategy
    #: ``audit(event, runtime=..., **fields)``: the owning guardrail's audit method.
    audit: Callable[..., Any]
    where: str
    runtime: Any = None
    pseudo: Pseudonymizer | None = None
    found: dict[str, int] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    #: Texts this pass wrote: never scanned again (a mask can look like its input).
    produced: set[str] = field(default_factory=set)
    #: Payloads that could not be scanned (binary images, audio, files), by kind.
    unscannable: dict[str, int] = field(default_factory=dict)
    #: Matches of texts computed ahead, a slice at a time (:meth:`prefetch`).
    known: dict[str, list[PIIMatch]] = field(default_factory=dict)
    #: When a list: walk only, collecting the texts a scan would look at.
    collect: list[str] | None = None

    def prefetch(self, messages: Sequence[Any], extra: Any = None) -> Iterator[None]:
        """Compute the matches of every text in ``messages`` (and ``extra``) into
        :attr:`known`, yielding once :data:`SLICE` seconds of scanning have passed: the async
        paths run it on the event loop and give the loop a turn at each yield, so a request
        of any shape (one long text, many texts of a few KB) never holds the loop for more
        than a slice plus one type of one chunk (a worker thread would, through the
        interpreter lock). The scan that follows finds every text in :attr:`known`."""
        walker = dataclasses.replace(self, found={}, secrets=[], collect=[], unscannable={})
        walker.messages([m for m in messages if isinstance(m, BaseMessage)])
        if extra is not None:
            walker.value(extra)
        known = self.known
        turn = time.perf_counter()
        for text in walker.collect or ():
            if text in known:
                continue
            steps = find_steps(self.detector, text)
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    known[text] = done.value
                    break
                except Exception:  # let the real scan report (and block) the detector error
                    break
                if time.perf_counter() - turn >= SLICE:
                    yield None
                    turn = time.perf_counter()

    def fork(self, where: str) -> Scan:
        """A fresh pass with the same settings and mapping (new counts)."""
        return dataclasses.replace(
            self, where=where, found={}, secrets=[], produced=set(self.produced), unscannable={}
        )

    # ------------------------------------------------------------------ strings
    def find(self, text: str) -> Sequence[PIIMatch]:
        if self.known:
            known = self.known.get(text)
            if known is not None:
                return known
        try:
            if len(text) <= CHUNK:
                return self.detector.matches(text)
            return find_all(self.detector, text)
        except Exception as exc:  # fail closed: nothing passes unscanned
            self.audit(
                "pii.detector_error",
                runtime=self.runtime,
                where=self.where,
                error=type(exc).__name__,
                decision="block",
            )
            raise PIIDetectionError(
                "detector_error", counts={"detector_error": 1}, where=self.where
            ) from exc

    def text(self, text: str) -> str:
        if not text or text in self.produced:
            return text
        if self.collect is not None:
            self.collect.append(text)
            return text
        matches = self.find(text)
        if not matches:
            return text
        for m in matches:
            self.found[m["type"]] = self.found.get(m["type"], 0) + 1
            self.secrets.append(m["value"])
        if not self.strategy.rewrites:
            return text
        out = self.strategy.apply(text, matches, self.pseudo)
        self.produced.add(out)
        return out

    def url(self, url: str) -> str:
        if url.startswith("data:"):
            return self._data_url(url)
        if "%" in url:
            decoded = unquote_to_bytes(url).decode("utf-8", "replace")
            handled = self.text(decoded)
            return url if handled == decoded else handled
        return self.text(url)

    def _data_url(self, url: str) -> str:
        header, comma, payload = url.partition(",")
        if not comma:
            return self.text(url)
        meta = header[5:]
        is_b64 = meta.endswith(";base64")
        mime = meta[: -len(";base64")] if is_b64 else meta
        if not _is_text_mime(mime):
            self._unscannable(mime or "data")
            return url
        try:
            raw = base64.b64decode(payload, validate=True) if is_b64 else unquote_to_bytes(payload)
            text = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            self._unscannable(mime or "data")
            return url
        handled = self.text(text)
        if handled == text:
            return url
        body = (
            base64.b64encode(handled.encode()).decode()
            if is_b64
            else quote(handled, safe=" ,;:/?&=+$-_.!~*'()#")
        )
        return f"{header},{body}"

    def _payload(self, payload: str, mime: str) -> str:
        if not _is_text_mime(mime) or not mime:
            self._unscannable(mime or "binary")
            return payload
        try:
            text = base64.b64decode(payload, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return self.text(payload)
        handled = self.text(text)
        return payload if handled == text else base64.b64encode(handled.encode()).decode()

    def _unscannable(self, kind: str) -> None:
        self.unscannable[kind] = self.unscannable.get(kind, 0) + 1

    # ------------------------------------------------------------------ values
    def value(self, value: Any) -> Any:
        """Strings, numbers (as text), dicts, lists and tuples, recursively; the same object
        when nothing in it changed."""
        kind = type(value)
        if kind is str:
            return self.text(value)
        if value is None or kind is bool:
            return value
        if kind is int or kind is float:
            as_text = str(value)
            handled = self.text(as_text)
            return handled if handled != as_text else value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            out: dict[Any, Any] | None = None
            for k, v in value.items():
                h = self.value(v)
                if h is not v:
                    if out is None:
                        out = dict(value)
                    out[k] = h
            return value if out is None else out
        if isinstance(value, list | tuple):
            items = [self.value(v) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, BaseMessage):
            return self.message(value)
        if isinstance(value, int | float) and not isinstance(value, bool):  # IntEnum, ...
            as_text = str(value)
            handled = self.text(as_text)
            return handled if handled != as_text else value
        return value

    def block(self, block: Any) -> Any:
        """One content block, whatever its type; the same object when nothing changed."""
        if isinstance(block, str):
            return self.text(block)
        if not isinstance(block, Mapping):
            return self.value(block)
        mime = str(block.get("mime_type") or "")
        out: dict[str, Any] | None = None
        for key, val in block.items():
            if key in _STRUCTURAL:
                continue
            if key in _PAYLOAD_KEYS and isinstance(val, str):
                h = self._payload(val, mime)
            elif key in _URL_KEYS and isinstance(val, str):
                h = self.url(val)
            elif isinstance(val, Mapping):
                h = self.block(val)
            elif isinstance(val, list):
                items = [self.block(v) for v in val]
                h = val if all(a is b for a, b in zip(items, val, strict=True)) else items  # type: ignore[assignment]
            else:
                h = self.value(val)
            if h is not val:
                if out is None:
                    out = dict(block)
                out[key] = h
        return block if out is None else out

    def json_text(self, text: str) -> str:
        """A JSON document handled value by value (stays valid JSON), else :meth:`text`."""
        if text[:1] in "{[" and text.rstrip()[-1:] in "}]":
            try:
                doc = json.loads(text)
            except ValueError:
                return self.text(text)
            handled = self.value(doc)
            if handled is doc:
                return text
            out = json.dumps(handled, ensure_ascii=False)
            self.produced.add(out)
            return out
        return self.text(text)

    def content(self, content: Any, *, json_text: bool = False) -> Any:
        if type(content) is str:
            return self.json_text(content) if json_text else self.text(content)
        if isinstance(content, list):
            handled = [self.block(b) for b in content]
            if all(a is b for a, b in zip(handled, content, strict=True)):
                return content
            return handled
        return self.value(content)

    def message(
        self,
        message: BaseMessage,
        *,
        text: bool = True,
        calls: bool = True,
        json_text: bool = False,
    ) -> BaseMessage:
        """A copy of ``message`` with every string handled (``text``: content, name and
        extra fields; ``calls``: tool-call arguments). Same object when nothing changed."""
        update: dict[str, Any] = {}
        if text:
            content = message.content
            handled = self.content(content, json_text=json_text)
            if handled is not content:
                update["content"] = handled
            name = message.name
            if name:
                handled_name = self.text(name)
                if handled_name is not name:
                    update["name"] = handled_name
            if isinstance(message, ToolMessage) and message.artifact is not None:
                artifact = self.value(message.artifact)
                if artifact is not message.artifact:
                    update["artifact"] = artifact
        extra = message.additional_kwargs
        if extra and (text or calls):
            changed: dict[str, Any] | None = None
            for k, v in extra.items():
                if k in _STRUCTURAL or not (text or k in {"tool_calls", "function_call"}):
                    continue
                h = self.value(v)
                if h is not v:
                    if changed is None:
                        changed = dict(extra)
                    changed[k] = h
            if changed is not None:
                update["additional_kwargs"] = changed
        if calls and isinstance(message, AIMessage):
            if message.tool_calls:
                tool_calls = self._calls(message.tool_calls)
                if tool_calls is not message.tool_calls:
                    update["tool_calls"] = tool_calls
                    update["invalid_tool_calls"] = message.invalid_tool_calls
            if message.invalid_tool_calls:
                invalid = self._calls(message.invalid_tool_calls, names=True)
                if invalid is not message.invalid_tool_calls:
                    update["invalid_tool_calls"] = invalid
            chunks = message.tool_call_chunks if isinstance(message, AIMessageChunk) else None
            if chunks:
                handled_chunks = self._calls(chunks)
                if handled_chunks is not chunks:
                    update["tool_call_chunks"] = handled_chunks
        return message.model_copy(update=update) if update else message

    def _calls(self, calls: list[Any], *, names: bool = False) -> list[Any]:
        out: list[Any] | None = None
        for i, call in enumerate(calls):
            args = call.get("args")
            handled = self.value(args)
            new = call if handled is args else {**call, "args": handled}
            if names and isinstance(call.get("name"), str):
                name = self.text(call["name"])
                if name is not call["name"]:
                    new = {**new, "name": name}
            if new is not call:
                if out is None:
                    out = list(calls)
                out[i] = new
        return calls if out is None else out

    def messages(self, messages: Sequence[BaseMessage], **kwargs: Any) -> list[BaseMessage]:
        return [self.message(m, **kwargs) if isinstance(m, BaseMessage) else m for m in messages]

    def structured(self, value: Any) -> Any:
        """``structured_response`` handled field by field (a model, dataclass or dict)."""
        if isinstance(value, BaseModel):
            data = value.model_dump()
            handled = self.value(data)
            if handled is data:
                return value
            try:
                return type(value).model_validate(handled)
            except Exception:  # a handled value no longer fits the field type: keep it handled
                return type(value).model_construct(**handled)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            data = dataclasses.asdict(value)
            handled = self.value(data)
            if handled is data:
                return value
            return dataclasses.replace(value, **handled)
        return self.value(value)

    # ------------------------------------------------------------------ the decision
    def report(self, tool: str | None = None, *, refuse_unscannable: bool = False) -> None:
        """One audit event for what this pass found; raise under ``block`` (and for payloads
        that could not be scanned, when ``refuse_unscannable``)."""
        if refuse_unscannable and self.unscannable:
            self.audit(
                "pii.blocked",
                runtime=self.runtime,
                where=self.where,
                entities={"unscannable": sum(self.unscannable.values())},
                strategy=self.strategy.name,
            )
            raise PIIDetectionError(
                "unscannable",
                counts={"unscannable": sum(self.unscannable.values())},
                where=self.where,
            )
        if not self.found:
            return
        extra: dict[str, Any] = {"tool": tool} if tool is not None else {}
        if not self.strategy.rewrites:
            self.audit(
                "pii.blocked",
                runtime=self.runtime,
                where=self.where,
                entities=self.found,
                secrets=self.secrets,
                **extra,
            )
            raise PIIDetectionError(next(iter(self.found)), counts=self.found, where=self.where)
        if self.strategy.needs_mapping:
            self.audit(
                "pii.pseudonymized",
                runtime=self.runtime,
                where=self.where,
                entities=self.found,
                secrets=self.secrets,
                **extra,
            )
            return
        self.audit(
            "pii.detected",
            runtime=self.runtime,
            where=self.where,
            entities=self.found,
            secrets=self.secrets,
            strategy=self.strategy.name,
            **extra,
        )
