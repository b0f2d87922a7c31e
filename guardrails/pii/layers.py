"""Encodings a scan opens: a JSON document, a ``data:`` URL, base64 / hex runs inside a text,
percent-encoding and HTML entities, quoted-printable (:class:`~guardrails.pii.scan.Scan` is a
:class:`Layers`).

Each layer is opened, its text handled by the pass (``text()``) and, when that changed it, put
back under the same layer; up to :data:`MAX_DEPTH` layers inside one another, a text encoded
deeper counts as unscannable.

Example::

    scan.text("data:text/plain;base64,amFuZUBleGFtcGxlLmNvbQ==")  # decoded, handled, re-encoded
"""

from __future__ import annotations

import binascii
import html
import json
import re
from collections.abc import Generator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from guardrails.pii import payloads
from guardrails.pii.detect import Detector
from guardrails.pii.walk import _CLEAN_MAX, _clean_key

__all__ = ["MAX_DEPTH", "Layers"]

#: Layers of encoding opened inside one another at most (a data URL holding base64 holding
#: JSON holding a percent-encoded value is four).
MAX_DEPTH = 4
#: Passes of percent / HTML-entity decoding before a text counts as unreadable.
_PASSES = 8
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]{1,31});?")


#: quoted-printable (MIME bodies): a soft line break (``=`` at a line's end, every 76
#: characters, which may fall inside a value), a byte above ASCII (``=C3=A9``) or an encoded
#: ``=`` (``=3D``). Not ``=`` followed by any two hex digits: ``limit=20`` is no such layer.
_QP = re.compile(r"=(?:\r?\n|[89A-Fa-f][0-9A-Fa-f]|3[Dd])")


def _escaped(text: str) -> bool:
    return bool(("%" in text and _PERCENT.search(text)) or ("&" in text and _ENTITY.search(text)))


def _quoted_printable(text: str) -> bool:
    return "=" in text and _QP.search(text) is not None


_SOFT_BREAK = re.compile(r"=\r?\n")


def _unquoted_printable(text: str) -> str:
    """``text`` read as a quoted-printable body: soft line breaks joined, ``=XX`` bytes
    decoded when they make UTF-8 (else only the soft line breaks are joined: ``x=AB`` in a
    query string stays as it is). Linear (binascii, one regex pass)."""
    raw = binascii.a2b_qp(text.encode("utf-8", errors="surrogatepass"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _SOFT_BREAK.sub("", text)


def _looks_layered(text: str) -> bool:
    """A text that would be opened as a layer (what a scan at the depth limit cannot read)."""
    head = text.lstrip()[:1]
    return (
        payloads.is_data_url(text)
        or _escaped(text)
        or _quoted_printable(text)
        or (head in ("{", "[") and text.rstrip()[-1:] in ("}", "]"))
        or payloads.has_run(text)
    )


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


class Layers:
    """Opening one layer of encoding and putting the handled text back under it.

    A mixin of :class:`~guardrails.pii.scan.Scan` (its ``text()``, ``value()``, ``depth``,
    ``collect`` and ``produced``).

    Example::

        scan.text('{"to": "jane@example.com"}')  # stays valid JSON, the value handled
    """

    if not TYPE_CHECKING:  # (a checker reads the attributes below as the class's own)
        __slots__ = ()
    else:
        depth: int
        collect: list[str] | None
        produced: set[str]

        def text(self, text: str, context: str | None = None) -> str:
            raise NotImplementedError

        def value(self, value: Any, context: str | None = None) -> Any:
            raise NotImplementedError

        def _unscannable(self, kind: str) -> None:
            raise NotImplementedError

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
        if first in ("d", "D") and payloads.is_data_url(text):
            layer = payloads.open_data_url(text)
            if layer is False or (isinstance(layer, payloads.Layer) and layer.binary):
                self._unscannable(text[5:].partition(",")[0].split(";")[0] or "data")
                if layer is False:
                    return text
            if isinstance(layer, payloads.Layer):  # (a binary one's readings scanned too)
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
                handled = self._inner(decoded, context)
                if handled != decoded:  # a value under the escapes: sent decoded and handled
                    return handled
        if _quoted_printable(text):  # a MIME body: a value split by a soft line break
            decoded = _unquoted_printable(text)
            if decoded != text:
                handled = self._inner(decoded, context)
                if handled != decoded:  # a value in the body: sent decoded and handled
                    return handled
        return None

    def _inner(self, text: str, context: str | None) -> str:
        """``text`` (what a layer held) handled one layer deeper."""
        self.depth += 1
        try:
            return self.text(text, context)
        finally:
            self.depth -= 1

    def _open(self, layer: payloads.Layer, context: str | None = None) -> str | None:
        """The layer's text handled and put back under the layer; ``None`` when unchanged.

        Every reading of the layer (:attr:`payloads.Layer.others`: another byte order,
        encoding or token decoding that is plausible text too) is handled, never one picked by
        a heuristic: when a reading changes, the token it closes to is read back in every
        reading (:meth:`payloads.Layer.reread`) and handled again, until no reading changes;
        after :data:`payloads.ROUNDS` passes the payload counts as unscannable."""
        current: payloads.Layer | None = layer
        out: str | None = None
        for _ in range(payloads.ROUNDS):
            assert current is not None
            closed: str | None = None
            for reading in current.readings():
                handled = self._inner(reading.text, context)
                if handled != reading.text and self.collect is None:
                    closed = reading.close(handled)
                    break
            if closed is None:
                return out
            out = closed
            self.produced.add(out)
            if not current.others:  # one reading: what it closed to is what was handled
                return out
            current = current.reread(out)
            if current is None:
                return out
        self._unscannable("encoding")
        return out
