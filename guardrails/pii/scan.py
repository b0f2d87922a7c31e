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

import dataclasses
import hashlib
import html
import json
import marshal
import operator
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from pydantic import BaseModel

from guardrails.errors import PIIDetectionError
from guardrails.pii import payloads
from guardrails.pii.context import field_context
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
#: Layers of encoding opened inside one another at most (a data URL holding base64 holding
#: JSON holding a percent-encoded value is four).
MAX_DEPTH = 4
#: A first async pass (:attr:`Scan.defer`) leaves texts longer than this to be computed ahead,
#: a slice at a time (:meth:`Scan.prefetch`) ...
INLINE = 2_048
#: ... and any text once this many characters were scanned in the pass: a pass holds the event
#: loop for at most about this much detection.
INLINE_BUDGET = 16_384
#: Texts up to this long are keys of the clean set as they are; longer ones by a digest.
_SHORT = 256
#: Entries of a detector's clean set before it is emptied.
_CLEAN_MAX = 65_536
#: Entries of a detector's set of clean messages (:func:`fingerprint`) before it is emptied.
_MEMO_MAX = 8_192
#: Characters of a long value read with its field name as context.
_HEAD = 128
#: Passes of percent / HTML-entity decoding before a text counts as unreadable.
_PASSES = 8
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]{1,31});?")


def _escaped(text: str) -> bool:
    return bool(("%" in text and _PERCENT.search(text)) or ("&" in text and _ENTITY.search(text)))


def _looks_layered(text: str) -> bool:
    """A text that would be opened as a layer (what a scan at the depth limit cannot read)."""
    head = text.lstrip()[:1]
    return (
        text.startswith("data:")
        or _escaped(text)
        or (head in ("{", "[") and text.rstrip()[-1:] in ("}", "]"))
        or payloads.has_run(text)
    )


def _clean_of(detector: Detector) -> dict[Any, None]:
    """The texts (with their field context) in which ``detector`` found nothing, through
    every layer: a later scan of the same text costs one look-up."""
    clean: dict[Any, None] | None = detector.__dict__.get("_guardrails_clean")
    if clean is None:
        clean = {}
        object.__setattr__(detector, "_guardrails_clean", clean)
    return clean


def _memo_of(detector: Detector) -> dict[Any, None]:
    """The :func:`fingerprint` of every message in which ``detector`` found nothing."""
    memo: dict[Any, None] | None = detector.__dict__.get("_guardrails_clean_messages")
    if memo is None:
        memo = {}
        object.__setattr__(detector, "_guardrails_clean_messages", memo)
    return memo


def fingerprint(message: BaseMessage) -> Any:
    """An immutable key of everything a scan of ``message`` reads (its class, ``content``,
    ``name``, ``additional_kwargs``, ``tool_calls``, ``invalid_tool_calls``,
    ``tool_call_chunks``, ``artifact``: those its class has), or ``None`` when a field holds a
    value this key cannot write exactly.

    The key is :mod:`marshal`'s encoding, made in C: it writes builtin types only and only
    *exact* ones (a ``str`` / ``dict`` / ``int`` subclass, a pydantic model, any other object
    is refused: ``None``, and the message is walked), each value with its type, containers
    element by element in order. Two messages with the same key hold equal values of the same
    types in every field a scan reads, whatever was edited in place in between: the key is the
    proof that the content is unchanged (issue 29: nothing mutable counts as scanned on its
    identity). Keys over 256 bytes are kept as a 16-byte BLAKE2b digest (no long raw text)."""
    cls = type(message)
    shape = _SHAPES.get(cls) or _shape(cls)
    try:
        return _key(cls, shape[2](message.__dict__))
    except KeyError:  # a field deleted
        return None


def _key(cls: type, values: tuple[Any, ...]) -> Any:
    """:func:`fingerprint` of the values its class's getter read."""
    try:
        raw = marshal.dumps(values, 2)  # version 2 writes no back-references: same value,
    except (ValueError, RecursionError):  # same bytes
        return None
    if len(raw) > _SHORT:
        raw = hashlib.blake2b(raw, digest_size=16).digest()
    return cls, raw


#: The fields a scan reads besides ``content`` and ``artifact``.
_OTHER_FIELDS = (
    "name",
    "additional_kwargs",
    "tool_calls",
    "invalid_tool_calls",
    "tool_call_chunks",
)
_Getter = Callable[[dict[str, Any]], tuple[Any, ...]]
#: The value of each of those fields (and ``artifact``) on a message that sets none of them.
_EMPTY: dict[str, Any] = {
    "name": None,
    "additional_kwargs": {},
    "tool_calls": [],
    "invalid_tool_calls": [],
    "tool_call_chunks": [],
    "artifact": None,
}
#: Per message class: a getter of those of :data:`_OTHER_FIELDS` the class has and of its
#: ``artifact`` (one C call, a tuple), that tuple on a message that sets none of them (a
#: message whose getter returns it and whose content is a string holds no other text: one
#: tuple comparison), and a getter of every field a scan reads (``content``, those others,
#: ``artifact``): what :func:`fingerprint` writes.
_SHAPES: dict[type, tuple[_Getter, tuple[Any, ...], _Getter]] = {}


def _shape(cls: type) -> tuple[_Getter, tuple[Any, ...], _Getter]:
    fields = getattr(cls, "model_fields", {})
    # every message class has name and additional_kwargs: the getters always make tuples
    names = sorted({"name", "additional_kwargs"} | {n for n in _OTHER_FIELDS if n in fields})
    if "artifact" in fields:
        names.append("artifact")
    shape = (
        operator.itemgetter(*names),
        tuple(_EMPTY[n] for n in names),
        operator.itemgetter("content", *names),
    )
    if len(_SHAPES) < 256:
        _SHAPES[cls] = shape
    return shape


def _noruns_of(detector: Detector) -> dict[Any, None]:
    none: dict[Any, None] | None = detector.__dict__.get("_guardrails_noruns")
    if none is None:
        none = {}
        object.__setattr__(detector, "_guardrails_noruns", none)
    return none


def _runs_steps(
    detector: Detector, text: str
) -> Generator[None, None, list[tuple[int, int, payloads.Layer]]]:
    """:func:`payloads.base64_runs` one window at a time, remembering the texts that hold no
    run (most of them: a later call, or the real scan after :meth:`Scan.prefetch`, costs one
    look-up)."""
    none = _noruns_of(detector)
    key = _clean_key(text, None)
    if key in none:
        return []
    spans = yield from payloads.run_spans(text)
    runs = payloads.base64_runs(text, spans) if spans else []
    if not runs:
        if len(none) >= _CLEAN_MAX:
            none.clear()
        none[key] = None
    return runs


def _runs(detector: Detector, text: str) -> list[tuple[int, int, payloads.Layer]]:
    steps = _runs_steps(detector, text)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _clean_key(text: str, context: str | None) -> Any:
    if len(text) > _SHORT:  # no long raw text kept: length, keyed hash and both ends
        key: Any = (len(text), hash(text), text[:32], text[-32:])
    else:
        key = text
    return key if context is None else (context, key)


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


@dataclass(slots=True)
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
    #: How many layers of encoding the text being scanned sits under.
    depth: int = 0
    #: Extra finder of literal values (:func:`~guardrails.pii.pseudonym.read_back`: the
    #: thread's real values in any cheap transformation, in a tool's result).
    literals: Callable[[str], list[Any]] | None = None
    #: Strings this pass passed on without proving them clean (texts it wrote itself): a
    #: message holding one is not remembered as clean.
    unproven: int = 0
    #: When a list: a first pass on the event loop. Texts longer than :data:`INLINE`, and every
    #: text once :data:`INLINE_BUDGET` characters were scanned, are not scanned but listed
    #: here (and count as unproven); a pass that lists any is thrown away, the listed texts
    #: are computed ahead a slice at a time (:meth:`prefetch`) and a full pass follows. A
    #: request of short or known texts costs one pass and no look-ahead walk.
    defer: list[str] | None = None
    #: Characters scanned so far by a pass with :attr:`defer`.
    inline: int = 0

    def prefetch(
        self, messages: Sequence[Any], extra: Any = None, texts: Sequence[str] = ()
    ) -> Iterator[None]:
        """Compute the matches of every text in ``messages`` (and ``extra``, and ``texts``:
        what a first pass deferred, see :attr:`defer`) into :attr:`known`, yielding once
        :data:`SLICE` seconds of scanning have passed: the async paths run it on the event
        loop and give the loop a turn at each yield, so a request of any shape (one long
        text, many texts of a few KB) never holds the loop for more than a slice plus one
        type of one chunk (a worker thread would, through the interpreter lock). The scan
        that follows finds every text in :attr:`known`."""
        walker = dataclasses.replace(
            self, found={}, secrets=[], collect=[], unscannable={}, defer=None
        )
        walker.messages([m for m in messages if isinstance(m, BaseMessage)])
        if extra is not None:
            walker.value(extra)
        for text in texts:
            walker.text(text)
        known = self.known
        turn = time.perf_counter()
        detector = self.detector
        for text in walker.collect or ():
            if len(text) >= payloads.RUN_MIN:
                for _ in _runs_steps(detector, text):
                    if time.perf_counter() - turn >= SLICE:
                        yield None
                        turn = time.perf_counter()
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
        if self.literals is not None:
            return self._with_literals(text, self._find(text))
        return self._find(text)

    def _with_literals(self, text: str, matches: Sequence[PIIMatch]) -> Sequence[PIIMatch]:
        assert self.literals is not None
        extra = self.literals(text)
        if not extra:
            return matches
        kept = list(matches)
        for m in extra:
            clash = [k for k in kept if not (m["end"] <= k["start"] or m["start"] >= k["end"])]
            if all(k["start"] >= m["start"] and k["end"] <= m["end"] for k in clash):
                kept = [k for k in kept if k not in clash]  # the wider literal wins
                kept.append(
                    PIIMatch(type=m["type"], value=m["value"], start=m["start"], end=m["end"])
                )
        kept.sort(key=lambda m: m["start"])
        return kept

    def _find(self, text: str) -> Sequence[PIIMatch]:
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

    def text(self, text: str, context: str | None = None) -> str:
        """``text`` handled, and every layer inside it (a JSON document, a ``data:`` URL,
        base64 / hex runs, percent-encoding and HTML entities), judged by content.
        ``context``: the words of the field the text sits under (see :func:`field_context`)."""
        if not text:
            return text
        if text in self.produced:
            self.unproven += 1
            return text
        if self.collect is not None:
            if _clean_key(text, context) not in _clean_of(self.detector):
                self.collect.append(text)
                if context is not None:
                    self.collect.append(context + (text if len(text) <= _SHORT else text[:_HEAD]))
                if self.depth < MAX_DEPTH:
                    self._layered(text, context)
            return text
        clean = _clean_of(self.detector) if self.literals is None else {}
        key = _clean_key(text, context)
        if key in clean:
            return text
        if self.defer is not None and self.depth == 0 and text not in self.known:
            size = len(text)
            if size > INLINE or self.inline + size > INLINE_BUDGET:
                self.defer.append(text)
                self.unproven += 1
                return text
            self.inline += size
        before = len(self.secrets) + sum(self.unscannable.values())
        if self.depth < MAX_DEPTH:
            out = self._layered(text, context)
        else:
            out = None
            if _looks_layered(text):  # encoded deeper than a scan opens
                self._unscannable("nesting")
        if out is None:
            out = self._plain(text, context)
        if out is text and len(self.secrets) + sum(self.unscannable.values()) == before:
            if len(clean) >= _CLEAN_MAX:
                clean.clear()
            clean[key] = None
        return out

    def _layered(self, text: str, context: str | None) -> str | None:
        """``text`` handled as the layer it is (JSON, data URL, an escaped text holding a
        value), else ``None`` (a plain text: :meth:`_plain`)."""
        first = text[:1]
        if text.lstrip()[:1] in ("{", "[") and text.rstrip()[-1:] in ("}", "]"):
            try:
                doc = json.loads(text)
            except (ValueError, RecursionError):
                doc = None
            if isinstance(doc, dict | list):
                self.depth += 1
                try:
                    handled = self.value(doc, context)
                except RecursionError:  # nested deeper than a scan can walk
                    self._unscannable("nesting")
                    return text
                finally:
                    self.depth -= 1
                if handled is doc or self.collect is not None:
                    return text
                out = json.dumps(handled, ensure_ascii=False)
                self.produced.add(out)
                return out
        if first == "d" and text.startswith("data:"):
            layer = payloads.open_data_url(text)
            if layer is False:
                self._unscannable(text[5:].partition(",")[0].split(";")[0] or "data")
                return text
            if isinstance(layer, payloads.Layer):
                return self._open(layer) or text
        if _escaped(text):
            decoded = text
            for _ in range(_PASSES):  # to a fixed point; every pass shortens the text
                step = html.unescape(unquote(decoded, errors="replace"))
                if step == decoded:
                    break
                decoded = step
            else:
                if _escaped(decoded):  # still encoded after as many passes: not read
                    self._unscannable("encoding")
            if decoded != text:
                self.depth += 1
                try:
                    handled = self.text(decoded, context)
                finally:
                    self.depth -= 1
                if handled != decoded:  # a value under the escapes: sent decoded and handled
                    return handled
        return None

    def _open(self, layer: payloads.Layer, context: str | None = None) -> str | None:
        """The layer's text handled and put back under the layer; ``None`` when unchanged."""
        self.depth += 1
        try:
            handled = self.text(layer.text, context)
        finally:
            self.depth -= 1
        if handled == layer.text or self.collect is not None:
            return None
        out = layer.close(handled)
        self.produced.add(out)
        return out

    def _plain(self, text: str, context: str | None) -> str:
        out = text
        if self.depth < MAX_DEPTH and len(text) >= payloads.RUN_MIN:
            pieces: list[str] = []
            pos = 0
            for start, end, layer in _runs(self.detector, text):
                handled = self._open(layer)
                if handled is not None:
                    pieces += [text[pos:start], handled]
                    pos = end
            if pieces:
                out = "".join([*pieces, text[pos:]])
            elif " " not in text and payloads.is_binary_blob(text):
                self._unscannable("binary")
                return text
        matches = self.find(out)
        if context is not None:
            matches = self._in_field(out, matches, context)
        if not matches:
            if out is not text:
                self.produced.add(out)
            return out
        for m in matches:
            self.found[m["type"]] = self.found.get(m["type"], 0) + 1
            self.secrets.append(m["value"])
        if not self.strategy.rewrites:
            return text
        handled = self.strategy.apply(out, matches, self.pseudo)
        self.produced.add(handled)
        return handled

    def _in_field(self, text: str, matches: Sequence[PIIMatch], context: str) -> Sequence[PIIMatch]:
        """``matches`` plus what the detector finds when the field's name is read as the
        context of the value (``"phone: 6502530000"``); never fewer matches than without."""
        head = text if len(text) <= _SHORT else text[:_HEAD]
        shift = len(context)
        limit = len(head) if head is text else _HEAD - 24  # a value cut at the head's end
        extra = [
            PIIMatch(
                type=m["type"], value=m["value"], start=m["start"] - shift, end=m["end"] - shift
            )
            for m in self.find(context + head)
            if m["start"] >= shift and m["end"] - shift <= limit
        ]
        if not extra:
            return matches
        kept = list(matches)
        for m in extra:
            if all(m["end"] <= k["start"] or m["start"] >= k["end"] for k in kept):
                kept.append(m)
        kept.sort(key=lambda m: m["start"])
        return kept

    def url(self, url: str) -> str:
        """A URL: :meth:`text` (percent-encoding and ``data:`` payloads are opened there)."""
        return self.text(url)

    def _unscannable(self, kind: str) -> None:
        self.unscannable[kind] = self.unscannable.get(kind, 0) + 1

    def key(self, key: Any) -> Any:
        """A dictionary key handled like a value (the same object when nothing changed)."""
        if type(key) is str:
            return self.text(key)
        if isinstance(key, int | float) and not isinstance(key, bool):
            as_text = str(key)
            handled = self.text(as_text)
            return handled if handled != as_text else key
        return key

    # ------------------------------------------------------------------ values
    def value(self, value: Any, context: str | None = None) -> Any:
        """Strings, numbers (as text), dicts (keys and values), lists and tuples,
        recursively; a key's name is the context of the values under it. The same object
        when nothing in it changed."""
        kind = type(value)
        if kind is str:
            return self.text(value, context)
        if value is None or kind is bool:
            return value
        if kind is int or kind is float:
            as_text = str(value)
            handled = self.text(as_text, context)
            return handled if handled != as_text else value
        if isinstance(value, str):
            return self.text(value, context)
        if isinstance(value, Mapping):
            return self._mapping(value, context)
        if isinstance(value, list | tuple):
            items = [self.value(v, context) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, BaseMessage):
            return self.message(value)
        if isinstance(value, int | float) and not isinstance(value, bool):  # IntEnum, ...
            as_text = str(value)
            handled = self.text(as_text, context)
            return handled if handled != as_text else value
        if isinstance(value, BaseModel) or (
            dataclasses.is_dataclass(value) and not isinstance(value, type)
        ):
            return self.structured(value)  # a tool's artifact, an object in a list, ...
        return value

    def _mapping(
        self, value: Mapping[Any, Any], context: str | None, walk: Callable[..., Any] | None = None
    ) -> Any:
        pairs: list[tuple[Any, Any, Any]] = []
        changed = False
        for k, v in value.items():
            inner = (field_context(k) if type(k) is str else None) or context
            h = walk(v, inner) if walk is not None else self.value(v, inner)
            hk = self.key(k)
            if h is not v or hk is not k:
                changed = True
            pairs.append((k, hk, h))
        if not changed:
            return value
        out: dict[Any, Any] = {}
        for k, hk, h in pairs:
            if hk is not k:  # a renamed key never overwrites another one
                base, n = hk, 1
                while hk in out or hk in value:
                    n += 1
                    hk = f"{base} ({n})"
            out[hk] = h
        return out

    def block(self, block: Any, context: str | None = None) -> Any:
        """One content block, whatever its type (every key and every value, decided by
        content); the same object when nothing changed."""
        if isinstance(block, str):
            return self.text(block, context)
        if not isinstance(block, Mapping):
            return self.value(block, context)
        return self._mapping(block, context, self._block_value)

    def _block_value(self, val: Any, context: str | None) -> Any:
        if isinstance(val, Mapping):
            return self.block(val, context)
        if isinstance(val, list):
            items = [self.block(v, context) for v in val]
            return val if all(a is b for a, b in zip(items, val, strict=True)) else items
        return self.value(val, context)

    def json_text(self, text: str) -> str:
        """A JSON document handled value by value (stays valid JSON), else :meth:`text`
        (which opens JSON documents itself)."""
        return self.text(text)

    def content(self, content: Any, *, json_text: bool = False) -> Any:
        if type(content) is str:
            return self.text(content)
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
                if not (text or k in {"tool_calls", "function_call"}):
                    continue
                h = self.value(v, field_context(k) if type(k) is str else None)
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
        if kwargs:
            return [
                self.message(m, **kwargs) if isinstance(m, BaseMessage) else m for m in messages
            ]
        # the common shape inlined: a message whose only text is a string content that this
        # call wrote or that is clean (what :meth:`text` would return untouched) costs a few
        # look-ups; any other message already proven clean costs its :func:`fingerprint` and
        # one look-up; anything else takes :meth:`message`. The list is copied only from the
        # first message that changes.
        clean = _clean_of(self.detector)
        memo = _memo_of(self.detector) if self.literals is None else None
        produced = self.produced
        shapes = _SHAPES
        out: list[BaseMessage] | None = None
        for i, m in enumerate(messages):
            cls = type(m)
            shape = shapes.get(cls)
            if shape is None:
                if not isinstance(m, BaseMessage):
                    if out is not None:
                        out.append(m)
                    continue
                shape = _shape(cls)
            fields = m.__dict__
            try:
                content = fields["content"]
                plain = type(content) is str and shape[0](fields) == shape[1]
            except KeyError:  # a field deleted: the whole walk
                plain = False
            if plain and (
                not content
                or content in produced
                or (content if len(content) <= _SHORT else _clean_key(content, None)) in clean
            ):
                if out is not None:
                    out.append(m)
                continue
            key = None
            if memo is not None:
                try:
                    key = _key(cls, shape[2](fields))
                except KeyError:
                    key = None
            if key is not None:
                if key in memo:  # type: ignore[operator]
                    if out is not None:
                        out.append(m)
                    continue
                marks = self._marks()
                handled = self.message(m)
                if handled is m and self.collect is None and self._marks() == marks:
                    if len(memo) >= _MEMO_MAX:  # type: ignore[arg-type]
                        memo.clear()  # type: ignore[union-attr]
                    memo[key] = None  # type: ignore[index]
            else:
                handled = self.message(m)
            if out is not None:
                out.append(handled)
            elif handled is not m:
                out = list(messages[:i])
                out.append(handled)
        return list(messages) if out is None else out

    def _marks(self) -> tuple[int, int, int]:
        """What this pass has found, could not scan, or passed on unproven, so far."""
        return len(self.secrets), sum(self.unscannable.values()), self.unproven

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
            try:
                return dataclasses.replace(value, **handled)
            except Exception:  # a field its __init__ does not take, a check that refuses
                return handled  # the handled fields, not the raw object
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
