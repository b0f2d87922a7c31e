"""Encoded payloads inside strings: found and judged by content, never by a key or a MIME type.

A string may carry text under a layer of encoding: a ``data:`` URL, a base64 or base64url
blob (a whole string, or a run inside a longer text), a hex dump, a JSON document. The scan
(:mod:`guardrails.pii.scan`) asks this module to open a layer; the bytes inside are text when
they decode as text in *some* Unicode encoding (UTF-8, UTF-16 or UTF-32, with or without a
byte-order mark, else Windows-1252) and read as text (almost no control characters), and
binary otherwise. A handled text goes back under the same layer: same encoding, same byte-order
mark, same base64 alphabet and padding.

Everything here is linear in the input: one pass per candidate decoding, character classes
without nested quantifiers.

Example::

    layer = open_blob("amFuZUBleGFtcGxlLmNvbQ==")
    layer.text  # "jane@example.com"
    layer.close("[REDACTED_EMAIL]")  # "W1JFREFDVEVEX0VNQUlMXQ=="
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Generator
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

__all__ = [
    "BLOB_MIN",
    "RUN_MIN",
    "Layer",
    "as_text",
    "base64_runs",
    "has_run",
    "is_binary_blob",
    "is_data_url",
    "open_blob",
    "open_data_url",
    "run_spans",
]

#: A whole string this long (or longer) of base64 characters is opened as a blob.
BLOB_MIN = 16
#: A run of base64 characters inside a longer text this long (or longer) is opened.
RUN_MIN = 16
#: A blob at least this long that decodes to binary counts as an unscannable payload.
BINARY_MIN = 64

_B64_STD = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_B64_URL = re.compile(r"[A-Za-z0-9_\-]+={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_RUN = re.compile(r"[A-Za-z0-9+/_\-]{" + str(RUN_MIN) + r",}={0,2}")
#: characters that do not occur in text: C0 controls but tab/newline/CR/FF, DEL, C1 controls
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
#: the characters an 8-bit text is mostly made of
_LINES = {9: None, 10: None, 13: None}
_ASCII_TEXT = re.compile(r"[\x20-\x7e\t\n\r]")
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _texty(text: str) -> bool:
    """Reads as text: at most one control character in 100 (so none in a text shorter than
    100). Zero bytes read as an empty text (``data:,``): nothing can hide in them, so they are
    not binary."""
    return len(_CONTROL.findall(text)) * 100 <= len(text)


def as_text(raw: bytes) -> tuple[str, bytes, str] | None:
    """``(text, bom, codec)`` when ``raw`` is text in some Unicode encoding, else ``None``.

    A byte-order mark decides the encoding; without one, UTF-8, then UTF-32 and UTF-16 in the
    byte order their zero bytes point to, then Windows-1252 (ASCII values inside an otherwise
    8-bit text)."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                break
            return (text, bom, codec) if _texty(text) else None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if _texty(text):
            return text, b"", "utf-8"
    size = len(raw)
    candidates: list[str] = []
    if size % 4 == 0 and size:
        candidates += ["utf-32-le", "utf-32-be"]
    if size % 2 == 0 and size:
        # ASCII in UTF-16: the zero bytes sit at odd offsets (LE) or even ones (BE)
        le = raw[1::2].count(0) >= raw[0::2].count(0)
        candidates += ["utf-16-le", "utf-16-be"] if le else ["utf-16-be", "utf-16-le"]
    for codec in candidates:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if _texty(text) and _wide_plausible(text):
            return text, b"", codec
    if 0 not in raw:
        text = raw.decode("cp1252", "replace")
        if _texty(text) and _ASCII_TEXT.subn("", text)[1] * 10 >= len(text) * 7:
            return text, b"", "cp1252"
    return None


def _wide_plausible(text: str) -> bool:
    """UTF-16 / UTF-32 without a byte-order mark: any short run of bytes decodes to some
    characters, so the text must read as text: three in ten ASCII characters (Latin
    scripts, markup, numbers), or a longer text of printable characters only (CJK)."""
    ascii_count = _ASCII_TEXT.subn("", text)[1]
    if ascii_count * 10 >= len(text) * 3:
        return True
    return len(text) >= 32 and text.translate(_LINES).isprintable()


@dataclass(frozen=True)
class Layer:
    """One opened layer: the ``text`` inside and how to put a handled text back."""

    text: str
    bom: bytes
    codec: str
    #: "b64", "b64url", "hex", "data-b64", "data-pct"
    kind: str
    padded: bool = True
    header: str = ""

    def close(self, text: str) -> str:
        """``text`` under the same layer as the original."""
        raw = self.bom + text.encode(self.codec, "replace")
        if self.kind == "hex":
            return raw.hex()
        if self.kind == "data-pct":
            return f"{self.header},{quote(raw, safe=' ,;:/?&=+$-_.!~*()#')}"
        encoded = (
            base64.urlsafe_b64encode(raw) if self.kind == "b64url" else base64.b64encode(raw)
        ).decode()
        if not self.padded:
            encoded = encoded.rstrip("=")
        if self.kind == "data-b64":
            return f"{self.header},{encoded}"
        return encoded


def _decode_b64(token: str) -> tuple[bytes, str, bool] | None:
    """The bytes of a base64 or base64url token (padding optional), its alphabet, padded?"""
    padded = token.endswith("=") or len(token) % 4 == 0
    std = _B64_STD.fullmatch(token) is not None
    url = _B64_URL.fullmatch(token) is not None
    if not (std or url):
        return None
    body = token + "=" * (-len(token) % 4)
    try:
        if std:
            return base64.b64decode(body, validate=True), "b64", padded
        return base64.urlsafe_b64decode(body), "b64url", padded
    except (binascii.Error, ValueError):
        return None


def open_blob(token: str) -> Layer | None:
    """A hex or base64 token whose bytes are text, as a :class:`Layer`; else ``None``."""
    if len(token) >= BLOB_MIN and _HEX.fullmatch(token):  # pairs of hex digits: even length
        found = as_text(bytes.fromhex(token))
        if found is not None:
            return Layer(*found, kind="hex")
    decoded = _decode_b64(token)
    if decoded is None:
        return None
    raw, kind, padded = decoded
    found = as_text(raw)
    return None if found is None else Layer(*found, kind=kind, padded=padded)


def is_binary_blob(token: str) -> bool:
    """A long base64 token (mixed case and digits, as real payloads are) whose bytes are not
    text: an image, audio, a PDF... (hex digests and long words are not counted)."""
    if len(token) < BINARY_MIN or _HEX.fullmatch(token) or not _mixed(token):
        return False
    decoded = _decode_b64(token)
    return decoded is not None and as_text(decoded[0]) is None


def _mixed(token: str) -> bool:
    return (
        any(c.isdigit() for c in token)
        and any(c.isupper() for c in token)
        and any(c.islower() for c in token)
    )


def is_data_url(text: str) -> bool:
    """Whether ``text`` starts as a ``data:`` URL: the scheme in any case (RFC 3986: schemes
    are case-insensitive; ``DATA:`` and ``Data:`` are data URLs to every reader)."""
    return text[:5].lower() == "data:"


def open_data_url(url: str) -> Layer | bool | None:
    """A ``data:`` URL's payload: a :class:`Layer` when it is text (whatever the declared
    MIME type says), ``False`` when it is binary or undecodable, ``None`` when ``url`` is not
    a data URL."""
    if not is_data_url(url):
        return None
    header, comma, payload = url.partition(",")
    if not comma:
        return None
    is_b64 = header.lower().endswith(";base64")
    try:
        if is_b64:
            body = "".join(payload.split())
            raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        else:
            raw = unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        return False
    found = as_text(raw)
    if found is None:
        return False
    return Layer(*found, kind="data-b64" if is_b64 else "data-pct", header=header)


def has_run(text: str) -> bool:
    """``text`` holds a run of base64 / hex characters long enough to be opened."""
    return _RUN.search(text) is not None


#: Characters searched for runs between two yields of :func:`run_spans`.
WINDOW = 8_192


def run_spans(text: str) -> Generator[None, None, list[tuple[int, int]]]:
    """The spans of base64 / hex runs in ``text``, one window at a time (yields between
    windows, so the event loop gets turns on a long text); a run longer than the window is
    read whole."""
    out: list[tuple[int, int]] = []
    pos, window, size = 0, WINDOW, len(text)
    while pos < size:
        end = min(size, pos + window)
        cut = -1
        for m in _RUN.finditer(text, pos, end):
            if m.end() == end and end < size:  # the run may go on past the window
                cut = m.start()
                break
            out.append(m.span())
        if cut < 0:
            pos, window = end, WINDOW
        elif cut > pos:
            pos, window = cut, WINDOW
        else:
            window *= 2
        if pos < size:
            yield None
    return out


def base64_runs(
    text: str, spans: list[tuple[int, int]] | None = None
) -> list[tuple[int, int, Layer]]:
    """Runs of base64 / base64url / hex characters inside ``text`` whose bytes are text
    (``spans``: the runs' spans when already found by :func:`run_spans`)."""
    if spans is None:
        steps = run_spans(text)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                spans = done.value
                break
    out = []
    for start, end in spans or ():
        layer = open_blob(text[start:end])
        if layer is not None:
            out.append((start, end, layer))
    return out
