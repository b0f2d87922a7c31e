"""Encodings a scan opens: a JSON document, a ``data:`` URL, base64 / base32 / base85 / hex runs
inside a text, and the escapes written in place (:data:`ESCAPES`: percent-encoding, HTML
entities, backslash escapes, MIME encoded words, quoted-printable)
(:class:`~guardrails.pii.scan.Scan` is a :class:`Layers`).

Each layer is opened, its text handled by the pass (``text()``) and, when that changed it, put
back under the same layer; up to :data:`MAX_DEPTH` layers inside one another, a text encoded
deeper counts as unscannable.

Example::

    scan.text("data:text/plain;base64,amFuZUBleGFtcGxlLmNvbQ==")  # decoded, handled, re-encoded
"""

from __future__ import annotations

import binascii
import email.header
import html
import json
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from guardrails.pii import payloads
from guardrails.pii.detect import Detector
from guardrails.pii.walk import _CLEAN_MAX, _clean_key

__all__ = ["ESCAPES", "MAX_DEPTH", "Escape", "Layers"]

#: Layers of encoding opened inside one another at most (a data URL holding base64 holding
#: JSON holding a percent-encoded value is four).
MAX_DEPTH = 4
#: Passes of escape decoding (:data:`ESCAPES`) before a text counts as unreadable.
_PASSES = 8
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]{1,31});?")
#: JSON / JavaScript ``\\u0040`` (a surrogate pair is two), JavaScript / Python / C ``\\x40``,
#: Python ``\\U0001F600``
_BACKSLASH = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|U[0-9A-Fa-f]{8})")
#: a MIME encoded word (RFC 2047, mail headers): ``=?utf-8?Q?Jos=C3=A9?=``, ``=?UTF-8?B?...?=``
_ENCODED_WORD = re.compile(r"=\?[^?\s]{1,40}\?[QqBb]\?[^?\s]*\?=")

#: quoted-printable (MIME bodies): a soft line break (``=`` at a line's end, every 76
#: characters, which may fall inside a value), a byte above ASCII (``=C3=A9``), an encoded
#: ``=`` (``=3D``), or three escapes in a row (an encoder that escapes every byte). Not ``=``
#: followed by any two hex digits: ``limit=20`` is no such layer (``=40`` and ``=2E``, an
#: address's ``@`` and ``.``, are read in place:
#: :data:`guardrails.pii.normalize.ENCODED_SEPARATORS`).
_QP = re.compile(r"=(?:\r?\n|[89A-Fa-f][0-9A-Fa-f]|3[Dd])|(?:=[0-9A-Fa-f]{2}){3}")


def _code_point(m: re.Match[str]) -> str:
    value = int(m.group()[2:], 16)
    return chr(value) if value <= 0x10FFFF else "\ufffd"


def _unbackslash(text: str) -> str:
    """``\\uXXXX``, ``\\xXX`` and ``\\UXXXXXXXX`` escapes decoded (a surrogate pair to its
    character, a lone surrogate to U+FFFD). Linear: one regex pass."""
    out = _BACKSLASH.sub(_code_point, text)
    if any("\ud800" <= c <= "\udfff" for c in out):
        out = out.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return out


def _encoded_word(m: re.Match[str]) -> str:
    try:
        return "".join(
            raw.decode(charset or "utf-8", "replace") if isinstance(raw, bytes) else raw
            for raw, charset in email.header.decode_header(m.group())
        )
    except (ValueError, LookupError, binascii.Error):  # an unknown charset, a broken word
        return m.group()


def _unencoded_words(text: str) -> str:
    """MIME encoded words decoded (RFC 2047: Q, a quoted-printable with ``_`` for a space,
    and B, base64), each in its declared charset. Linear: one regex pass."""
    return _ENCODED_WORD.sub(_encoded_word, text)


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


@dataclass(frozen=True)
class Escape:
    """An encoding written in place inside a text: ``gate``, a substring every text holding
    one contains (a cheap test first), ``pattern``, what one escape looks like (a text holding
    one is read as this layer), ``decode``, the whole text decoded."""

    name: str
    gate: str
    pattern: re.Pattern[str]
    decode: Callable[[str], str]

    def found(self, text: str) -> bool:
        return self.gate in text and self.pattern.search(text) is not None


#: Every encoding written in place that a scan reads, decoded together to a fixed point (a
#: percent-encoded entity, an escaped escape: ``%26%2364%3B``, ``\\u0026#64;``), up to
#: :data:`_PASSES` passes, each linear. A new row needs no other code.
ESCAPES: tuple[Escape, ...] = (
    Escape("percent-encoding", "%", _PERCENT, lambda t: unquote(t, errors="replace")),
    Escape("HTML entities", "&", _ENTITY, html.unescape),
    Escape("backslash escapes", "\\", _BACKSLASH, _unbackslash),
    Escape("MIME encoded words", "=?", _ENCODED_WORD, _unencoded_words),
    Escape("quoted-printable", "=", _QP, _unquoted_printable),
)


def _escaped(text: str) -> bool:
    return any(escape.found(text) for escape in ESCAPES)


def _looks_layered(text: str) -> bool:
    """A text that would be opened as a layer (what a scan at the depth limit cannot read)."""
    head = text.lstrip()[:1]
    return (
        payloads.is_data_url(text)
        or _escaped(text)
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
                step = decoded
                for escape in ESCAPES:
                    if escape.found(step):
                        step = escape.decode(step)
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
