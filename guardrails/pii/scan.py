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
  ``tool_calls`` and ``invalid_tool_calls`` names and args, a ``ToolMessage`` ``artifact``;
* numbers inside arguments are scanned as text (``4111111111111111`` is a card number).

The walk of messages and values is in :mod:`guardrails.pii.walk`, the opening of encodings
(JSON, ``data:`` URLs, base64 / hex runs, percent-encoding, HTML entities) in
:mod:`guardrails.pii.layers`; this module holds the state of a pass, what a string becomes
(detection, the strategy) and the look-ahead of the async paths; the decision at the end of a
pass (:meth:`Scan.report`) is in :mod:`guardrails.pii.decision`.

Texts longer than :data:`CHUNK` are scanned in overlapping chunks, so a worker thread never
holds the interpreter lock for one long regex call (the event loop keeps running).

Example::

    scan = Scan(detector, build_strategy("redact"), middleware.audit, where="input")
    handled = scan.messages(request.messages)
    scan.report()  # one audit event; raises PIIDetectionError under "block"
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from guardrails.errors import PIIDetectionError
from guardrails.pii import payloads
from guardrails.pii.decision import Decision
from guardrails.pii.detect import Detector, PIIMatch
from guardrails.pii.layers import MAX_DEPTH, Layers, _looks_layered, _runs, _runs_steps
from guardrails.pii.pseudonym import Pseudonymizer
from guardrails.pii.strategies import Strategy
from guardrails.pii.walk import _CLEAN_MAX, _SHORT, History, _clean_key, _clean_of
from guardrails.pii.walk import _memo_of as _memo_of  # (its users import it from here)
from guardrails.pii.walk import fingerprint as fingerprint

__all__ = ["CHUNK", "MAX_DEPTH", "Scan", "find_all", "fingerprint"]

#: Texts longer than this are scanned in chunks of this size.
CHUNK = 8_192
#: Seconds of scanning between two turns of the event loop (:meth:`Scan.prefetch`).
SLICE = 0.005
#: Overlap of two chunks; a value up to half of it long is always seen whole in one chunk.
OVERLAP = 2_048
#: A first async pass (:attr:`Scan.defer`) leaves texts longer than this to be computed ahead,
#: a slice at a time (:meth:`Scan.prefetch`) ...
INLINE = 2_048
#: ... and any text once this many characters were scanned in the pass: a pass holds the event
#: loop for at most about this much detection.
INLINE_BUDGET = 16_384
#: Characters of a long value read with its field name as context.
_HEAD = 128


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
class Scan(Layers, History, Decision):
    """The state of one scan pass and what each string becomes (see the module docstring):
    the walk of messages and values is :class:`~guardrails.pii.walk.Walker`'s (of a list,
    :class:`~guardrails.pii.walk.History`'s), the opening of
    encodings :class:`~guardrails.pii.layers.Layers`', the decision at the end
    :class:`~guardrails.pii.decision.Decision`'s (:meth:`report`)."""

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
        """Compute the matches of every text in ``messages`` (and ``extra``, and ``texts``)
        into :attr:`known`, a slice at a time (see :func:`_prefetch`)."""
        return _prefetch(self, messages, extra, texts)

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
        base64 / hex runs, percent-encoding and HTML entities, quoted-printable), judged by
        content.
        ``context``: the words of the field the text sits under (see :func:`field_context`)."""
        if type(text) is not str:  # a subclass is read as the exact text it holds: its own
            exact = str.__str__(text)  # methods (__hash__, __eq__, __contains__, lower, ...)
            handled = self.text(exact, context)  # answer neither a look-up nor a detector
            return text if handled is exact else handled
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

    def _plain(self, text: str, context: str | None) -> str:
        out = text
        if self.depth < MAX_DEPTH and len(text) >= payloads.RUN_MIN:
            pieces: list[str] = []
            pos = 0
            for start, end, layer in _runs(self.detector, text):
                handled = self._open(layer)  # (a binary one's readings too)
                if handled is not None:
                    pieces += [text[pos:start], handled]
                    pos = end
            # a whole binary token counts, whether or not a reading of it was handled
            if " " not in text and payloads.is_binary_blob(text):
                self._unscannable("binary")
                if not pieces:
                    return text
            if pieces:
                out = "".join([*pieces, text[pos:]])
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


def _prefetch(
    scan: Scan, messages: Sequence[Any], extra: Any = None, texts: Sequence[str] = ()
) -> Iterator[None]:
    """Compute the matches of every text in ``messages`` (and ``extra``, and ``texts``:
    what a first pass deferred, see :attr:`Scan.defer`) into :attr:`Scan.known`, yielding once
    :data:`SLICE` seconds of scanning have passed: the async paths run it on the event
    loop and give the loop a turn at each yield, so a request of any shape (one long
    text, many texts of a few KB) never holds the loop for more than a slice plus one
    type of one chunk (a worker thread would, through the interpreter lock). The scan
    that follows finds every text in :attr:`Scan.known`."""
    walker = dataclasses.replace(scan, found={}, secrets=[], collect=[], unscannable={}, defer=None)
    walker.messages([m for m in messages if isinstance(m, BaseMessage)])
    if extra is not None:
        walker.value(extra)
    for text in texts:
        walker.text(text)
    known = scan.known
    turn = time.perf_counter()
    detector = scan.detector
    for text in walker.collect or ():
        if len(text) >= payloads.RUN_MIN:
            for _ in _runs_steps(detector, text):
                if time.perf_counter() - turn >= SLICE:
                    yield None
                    turn = time.perf_counter()
        if text in known:
            continue
        steps = find_steps(scan.detector, text)
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
