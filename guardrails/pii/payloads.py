"""Encoded payloads inside strings: found and judged by content, never by a key or a MIME type.

A string may carry text under a layer of encoding: a ``data:`` URL, a base64 or base64url
blob (a whole string, or a run inside a longer text), a hex dump, a JSON document. The scan
(:mod:`guardrails.pii.scan`) asks this module to open a layer; the bytes inside are text when
they decode as text in *some* Unicode encoding (UTF-8, UTF-16 or UTF-32, with or without a
byte-order mark, else Windows-1252) and read as text (almost no control characters), and
binary otherwise. A handled text goes back under the same layer: same encoding, same byte-order
mark, same base64 alphabet and padding.

**Every plausible reading.** Bytes without a byte-order mark are often text in more than one
encoding (ASCII in UTF-16 little-endian is CJK big-endian; an ASCII text is also a CJK one in
UTF-16), and a token in more than one decoding (hex digits are base64 characters too). No
heuristic an attacker can tip picks one: a :class:`Layer` holds every reading that is plausible
text (:func:`readings`, :attr:`Layer.others`) and the scan handles each of them
(:meth:`guardrails.pii.layers.Layers._open`). A token mixing the base64 and base64url alphabets,
or one character longer than whole base64 quanta allow, is read as lenient decoders read it
(both alphabets, the dangling character dropped), not left unopened.

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
import dataclasses
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

__all__ = [
    "BLOB_MIN",
    "ROUNDS",
    "RUN85_MIN",
    "RUN_MIN",
    "Layer",
    "as_text",
    "base64_runs",
    "has_run",
    "is_binary_blob",
    "is_data_url",
    "open_blob",
    "open_data_url",
    "readings",
    "run_spans",
]

#: A whole string this long (or longer) of base64 characters is opened as a blob.
BLOB_MIN = 16
#: A run of base64 characters inside a longer text this long (or longer) is opened.
RUN_MIN = 16
#: A blob at least this long that decodes to binary counts as an unscannable payload.
BINARY_MIN = 64
#: Passes over a payload's readings after a rewrite of one of them (each pass reads the
#: rewritten token in every reading) before it counts as unscannable.
ROUNDS = 8

#: base32 (RFC 4648; TOTP secrets, onion names and some clients write it in lower case), in
#: either case or both (as a case-folding decoder reads it), padding optional
_B32 = re.compile(r"[A-Za-z2-7]+={0,6}")
#: Ascii85 (btoa, PostScript, PDF; ``<~ ~>`` framed by Adobe's tools, any whitespace inside) and
#: base85 (RFC 1924's alphabet: git binary patches, Python's ``b85encode``)
_A85 = re.compile(r"[!-uz]+")
_A85_FRAMED = re.compile(r"<~[!-uz\s]*~>")
_B85 = re.compile(r"[0-9A-Za-z!#$%&()*+\-;<=>?@^_`{|}~]+")
#: a base85 token at least this long (12 bytes, as base64's :data:`RUN_MIN`) is opened
RUN85_MIN = 15
#: a run of printable ASCII (no space) as long, or a framed Ascii85 block: base85 candidates
_RUN85 = re.compile(r"<~[!-uz\s]*~>|[!-~]{" + str(RUN85_MIN) + r",}")
#: what may stand around a token in a text (quotes, brackets, punctuation): tried without
_AROUND = "\"'()[]{}<>,;:."
_B64_STD = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_B64_URL = re.compile(r"[A-Za-z0-9_\-]+={0,2}")
_B64_ANY = re.compile(r"[A-Za-z0-9+/_\-]+={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_RUN = re.compile(r"[A-Za-z0-9+/_\-]{" + str(RUN_MIN) + r",}={0,6}")
#: characters that do not occur in text: C0 controls but tab/newline/CR/FF, DEL, C1 controls
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
#: the characters an 8-bit text is mostly made of
_ASCII_TEXT = re.compile(r"[\x20-\x7e\t\n\r]")
_ASCII_NOT_TEXT = bytes(c for c in range(128) if _ASCII_TEXT.match(chr(c)) is None)
#: bytes read as other characters than those (8-bit readings)
_NOT_ASCII_TEXT = _ASCII_NOT_TEXT + bytes(range(128, 256))
#: bytes that read as control characters in Windows-1252 (its 0x80-0x9F are printable, or
#: undefined: U+FFFD) and in Latin-1 (C1 controls too)
_C0_CONTROLS = bytes(c for c in range(256) if _CONTROL.match(chr(c)) and c < 0x80)
_LATIN1_CONTROLS = bytes(c for c in range(256) if _CONTROL.match(chr(c)))
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


def _readable(text: str, wide: bool) -> int:
    """2 when ``text`` is plausible text (:func:`_texty`; a UTF-16/32 reading, ``wide``, also
    :func:`_wide_plausible`); 1 when it is once its control characters are taken out (three in
    ten ASCII characters or printable ones when ``wide``, seven in ten ASCII characters
    otherwise): a reader skips control characters, so NULs sprinkled into a text
    (``jane@example.com`` and 40 NULs) never make it binary, while random bytes (an image)
    stay binary; 0 otherwise."""
    if _texty(text):
        return 2 if not wide or _wide_plausible(text) else 0
    rest = _CONTROL.sub("", text)
    if not rest:
        return 0
    if wide:
        return 1 if _wide_plausible(rest) else 0
    return 1 if _ascii_text(rest) * 10 >= len(rest) * 7 else 0


def as_text(raw: bytes) -> tuple[str, bytes, str] | None:
    """``(text, bom, codec)`` when ``raw`` is text in some Unicode encoding, else ``None``: the
    first of :func:`readings` (a scan reads every one of them)."""
    for text, bom, codec, strict in _readings(raw):
        return (text, bom, codec) if strict else None
    return None


def readings(raw: bytes) -> list[tuple[str, bytes, str]]:
    """Every reading ``(text, bom, codec)`` of ``raw`` that is plausible text, none when it is
    binary.

    A byte-order mark decides the encoding (one reading). Without one, each of UTF-8, UTF-32
    (little- and big-endian) and UTF-16 (both byte orders) that decodes and reads as text, and
    Windows-1252 when UTF-8 does not decode (ASCII values inside an otherwise 8-bit text). The
    order only says which reading comes first (UTF-8, UTF-32, UTF-16 in the byte order most
    zero bytes point to, Windows-1252): every one of them is scanned. Then the readings that
    are plausible text only once their control characters are taken out (a reader skips
    them): scanned too, while the bytes still count as binary (:func:`as_text` is ``None``)."""
    return [(text, bom, codec) for text, bom, codec, _ in _readings(raw)]


def _readings(raw: bytes) -> Iterator[tuple[str, bytes, str, bool]]:
    """:func:`readings`, one at a time (:func:`as_text` needs the first only), each with
    whether it is plausible text as it is (``True``: all of those come first) or only once its
    control characters are out."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                break
            grade = _readable(text, True)
            if grade:
                yield text, bom, codec, grade == 2
            return
    later: list[tuple[str, bytes, str, bool]] = []
    utf8 = True
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = False
    else:
        grade = _readable(text, False)
        if grade == 2:
            yield text, b"", "utf-8", True
        elif grade:
            later.append((text, b"", "utf-8", False))
    size = len(raw)
    candidates: list[str] = []
    if size % 4 == 0 and size:
        candidates += ["utf-32-le", "utf-32-be"]
    if size % 2 == 0 and size:
        # ASCII in UTF-16: the zero bytes sit at odd offsets (LE) or even ones (BE); which
        # comes first only (both are read when both are text)
        le = raw[1::2].count(0) >= raw[0::2].count(0)
        candidates += ["utf-16-le", "utf-16-be"] if le else ["utf-16-be", "utf-16-le"]
    for codec in candidates:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        grade = _readable(text, True)
        if grade == 2:
            yield text, b"", codec, True
        elif grade:
            later.append((text, b"", codec, False))
    if not utf8:  # (Latin-1 when zero bytes are in: lossless, every byte one character)
        latin1 = 0 in raw
        grade = _eight_bit(raw, latin1)
        if grade:
            eight = "latin-1" if latin1 else "cp1252"
            reading = (raw.decode(eight, "replace"), b"", eight, grade == 2)
            if grade == 2:
                yield reading
            else:
                later.append(reading)
    yield from later


def _eight_bit(raw: bytes, latin1: bool) -> int:
    """:func:`_readable` of ``raw`` read as Windows-1252 (``latin1``: Latin-1), counted on the
    bytes (one character each; C calls only): seven in ten ASCII characters, among all of them
    when at most one in 100 is a control character (2), else among the others (1)."""
    size = len(raw)
    controls = size - len(raw.translate(None, _LATIN1_CONTROLS if latin1 else _C0_CONTROLS))
    ascii_text = len(raw.translate(None, _NOT_ASCII_TEXT))
    strict = controls * 100 <= size
    base = size if strict else size - controls
    if base and ascii_text * 10 >= base * 7:
        return 2 if strict else 1
    return 0


def _wide_plausible(text: str) -> bool:
    """UTF-16 / UTF-32 without a byte-order mark: any short run of bytes decodes to some
    characters, so the text must read as text: three in ten ASCII characters (Latin
    scripts, markup, numbers), or a longer text of printable characters only (CJK)."""
    if len(text) >= 32 and (
        text.isprintable()  # (stops at the first character that is not: cheap either way)
        or text.replace("\t", "").replace("\n", "").replace("\r", "").isprintable()
    ):
        return True
    return _ascii_text(text) * 10 >= len(text) * 3


def _ascii_text(text: str) -> int:
    """How many characters of ``text`` are printable ASCII, tab, newline or CR (C calls)."""
    return len(text.encode("ascii", "ignore").translate(None, _ASCII_NOT_TEXT))


@dataclass(frozen=True)
class Layer:
    """One opened layer: the ``text`` inside and how to put a handled text back; ``others``:
    the other plausible readings of the same token (another encoding or byte order of its
    bytes, another decoding of the token), each scanned too."""

    text: str
    bom: bytes
    codec: str
    #: "b64", "b64url", "b64mixed" (both alphabets: closed in the standard one), "hex",
    #: "b32", "b32lower", "a85", "a85framed", "b85", "data-b64", "data-pct"
    kind: str
    padded: bool = True
    header: str = ""
    others: tuple[Layer, ...] = ()
    #: no reading is plausible text as it is, only once its control characters are out: the
    #: readings are scanned, and the payload still counts as binary (unscannable)
    binary: bool = False

    def readings(self) -> tuple[Layer, ...]:
        """This reading and the others, each with no others of its own."""
        if not self.others:
            return (self,)
        return (dataclasses.replace(self, others=()), *self.others)

    def close(self, text: str) -> str:
        """``text`` under the same layer as the original."""
        raw = self.bom + text.encode(self.codec, "replace")
        if self.kind == "hex":
            return raw.hex()
        if self.kind == "data-pct":
            return f"{self.header},{quote(raw, safe=' ,;:/?&=+$-_.!~*()#')}"
        if self.kind in ("b32", "b32lower"):
            b32 = base64.b32encode(raw).decode()
            b32 = b32 if self.padded else b32.rstrip("=")
            return b32.lower() if self.kind == "b32lower" else b32
        if self.kind in ("a85", "a85framed"):
            return base64.a85encode(raw, adobe=self.kind == "a85framed").decode()
        if self.kind == "b85":
            return base64.b85encode(raw).decode()
        encoded = (
            base64.urlsafe_b64encode(raw) if self.kind == "b64url" else base64.b64encode(raw)
        ).decode()
        if not self.padded:
            encoded = encoded.rstrip("=")
        if self.kind == "data-b64":
            return f"{self.header},{encoded}"
        return encoded

    def reread(self, token: str) -> Layer | None:
        """``token`` (what :meth:`close` of one of the readings made) read back in every
        reading of this layer, same kind and codec, whether or not each is still plausible
        text (undecodable bytes read as U+FFFD): a value a rewrite of one reading left in
        another is still seen. ``None`` when no reading can decode the token."""
        found: list[Layer] = []
        for reading in self.readings():
            raw = _unwrap(reading.kind, token)
            if raw is None:
                continue
            if reading.bom and raw.startswith(reading.bom):
                raw = raw[len(reading.bom) :]
            text = raw.decode(reading.codec, "replace")
            found.append(dataclasses.replace(reading, text=text))
        if not found:
            return None
        return dataclasses.replace(found[0], others=tuple(found[1:]))


def _unwrap(kind: str, token: str) -> bytes | None:
    """The bytes of a token of ``kind`` (leniently: both base64 alphabets, padding optional)."""
    try:
        if kind == "hex":
            return bytes.fromhex(token)
        if kind in ("b32", "b32lower", "a85", "a85framed", "b85"):
            return _decode_other(kind, token)
        if kind.startswith("data-"):
            payload = token.partition(",")[2]
            if kind == "data-pct":
                return unquote_to_bytes(payload)
            return _b64_bytes("".join(payload.split()))
        return _b64_bytes(token)
    except ValueError:
        return None


def _b64_bytes(body: str) -> bytes:
    """The bytes lenient base64 decoders read in ``body``: either alphabet (or both), the
    padding optional, a dangling last character (one more than whole quanta) dropped; raises
    ``ValueError`` for any other character."""
    body = body.rstrip("=").replace("-", "+").replace("_", "/")
    if len(body) % 4 == 1:
        body = body[:-1]
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


def _decode_b64(token: str) -> tuple[bytes, str, bool] | None:
    """The bytes of a base64 or base64url token (padding optional; both alphabets mixed, or a
    dangling last character, read as lenient decoders read them), its alphabet, padded?"""
    padded = token.endswith("=") or len(token) % 4 == 0
    if _B64_STD.fullmatch(token) is not None:
        kind = "b64"
    elif _B64_URL.fullmatch(token) is not None:
        kind = "b64url"
    elif _B64_ANY.fullmatch(token) is not None:
        kind = "b64mixed"
    else:
        return None
    try:
        return _b64_bytes(token), kind, padded
    except (binascii.Error, ValueError):
        return None


def _decode_other(kind: str, token: str) -> bytes | None:
    """The bytes of a base32 / Ascii85 / base85 token of ``kind``; ``None`` when it does not
    decode (one C or Python pass: linear)."""
    try:
        if kind in ("b32", "b32lower"):
            body = token.rstrip("=")  # (a length no quantum ends at raises: not base32)
            return base64.b32decode(body.upper() + "=" * (-len(body) % 8))
        if kind == "a85framed":
            return base64.a85decode(token, adobe=True, ignorechars=b" \t\n\r\x0b\x0c")
        if kind == "a85":
            return base64.a85decode(token)
        return base64.b85decode(token)
    except (binascii.Error, ValueError):
        return None


#: a token of these characters only (a card or phone number written without spaces) is no
#: base32 / base85 payload: what a value encodes to holds other characters (all of 15 or more
#: base85 characters fall in these 11 about once in 10**13 tokens), while 30 of the 685 such
#: tokens of tests/data have an Ascii85 reading that is text (noise, each a scan of its own)
_NUMBERS = re.compile(r"[0-9+\-]+")


def _other_kinds(token: str) -> list[str]:
    """The base32 / base85 alphabets ``token`` is written in (a token may be in several)."""
    kinds: list[str] = []
    if _NUMBERS.fullmatch(token) is not None:
        return kinds
    if _B32.fullmatch(token) is not None:  # (the runs are 15 characters or more)
        kinds.append("b32lower" if token.islower() else "b32")
    if len(token) >= RUN85_MIN:
        if token.startswith("<~") and _A85_FRAMED.fullmatch(token) is not None:
            kinds.append("a85framed")
        elif _A85.fullmatch(token) is not None:
            kinds.append("a85")
        if _B85.fullmatch(token) is not None:
            kinds.append("b85")
    return kinds


_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _no_reading(raw: bytes) -> bool:
    """``raw`` has no plausible reading (:func:`readings` is empty), told by three C calls:
    not UTF-8, no 8-bit reading (:func:`_eight_bit`), and too short for a UTF-16/32 reading
    of printable characters (32 of them) while holding no zero byte (the other half of every
    ASCII character there, and three in ten must be) nor a UTF-16 byte-order mark. Most
    random bytes (what a token of another encoding decodes to) are settled here."""
    if len(raw) >= 64 or 0 in raw or raw[:2] in _WIDE_BOMS or _eight_bit(raw, False):
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _other_readings(token: str) -> list[tuple[Layer, bool]]:
    """The base32 / Ascii85 / base85 readings of ``token`` that are text. A token shorter than
    :data:`BINARY_MIN` keeps only the readings that are text as they are: one that is text only
    once its control characters are out is what most word-sized tokens (ids, IBANs, names, card
    numbers: base85 and base32 characters all) decode to, and scanning each cost a scan of
    its own (the Faker set: 290 such readings, none holding a value)."""
    found: list[tuple[Layer, bool]] = []
    long = len(token) >= BINARY_MIN
    for kind in _other_kinds(token):
        raw = _decode_other(kind, token)
        if raw and not _no_reading(raw):
            # whole quanta: padded, or no sign either way (written padded, as strict decoders
            # want base32); a token that is no whole quanta has no padding
            padded = len(token) % 8 == 0
            found += [
                (Layer(t, b, c, kind=kind, padded=padded), ok)
                for t, b, c, ok in _readings(raw)
                if ok or long
            ]
    return found


def _layer(found: list[tuple[Layer, bool]]) -> Layer | None:
    """The first reading, holding the others (the plausible ones first); ``binary`` when no
    reading is plausible text as it is."""
    if not found:
        return None
    found.sort(key=lambda pair: not pair[1])  # (stable: the order within each grade kept)
    layers = [layer for layer, _ in found]
    return dataclasses.replace(layers[0], others=tuple(layers[1:]), binary=not found[0][1])


def open_blob(token: str) -> Layer | None:
    """A hex, base64, base32, Ascii85 or base85 token whose bytes are text, as a
    :class:`Layer` (every plausible reading: hex digits are base64 characters too, an upper
    case token is base32 and base64 too); else ``None``."""
    found: list[tuple[Layer, bool]] = []
    if len(token) >= BLOB_MIN and _HEX.fullmatch(token):  # pairs of hex digits: even length
        found += [
            (Layer(t, b, c, kind="hex"), ok) for t, b, c, ok in _readings(bytes.fromhex(token))
        ]
    decoded = _decode_b64(token)
    if decoded is not None:
        raw, kind, padded = decoded
        found += [(Layer(t, b, c, kind=kind, padded=padded), ok) for t, b, c, ok in _readings(raw)]
    found += _other_readings(token)
    return _layer(found)


def is_binary_blob(token: str) -> bool:
    """A long base64 token (mixed case and digits, as real payloads are) whose bytes are not
    text: an image, audio, a PDF... (hex digests and long words are not counted)."""
    if len(token) < BINARY_MIN or _HEX.fullmatch(token) or not _mixed(token):
        return False
    decoded = _decode_b64(token)
    # a token mixing both alphabets (a path: ``/srv/Data-2024/AnaMaria_Q4/...``), or with a
    # dangling character, is opened when it reads as text, never counted binary
    if decoded is None or decoded[1] == "b64mixed" or len(token.rstrip("=")) % 4 == 1:
        return False
    return as_text(decoded[0]) is None


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
        raw = _b64_bytes("".join(payload.split())) if is_b64 else unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        return False
    kind = "data-b64" if is_b64 else "data-pct"
    layer = _layer(
        [(Layer(t, b, c, kind=kind, header=header), ok) for t, b, c, ok in _readings(raw)]
    )
    return False if layer is None else layer


def has_run(text: str) -> bool:
    """``text`` holds a run of base64 / hex characters long enough to be opened."""
    return _RUN.search(text) is not None


#: Characters searched for runs between two yields of :func:`run_spans`.
WINDOW = 8_192


def run_spans(text: str) -> Generator[None, None, list[tuple[int, int]]]:
    """The spans of base64 / base32 / hex runs in ``text``, then those of base85 candidates
    (:data:`_RUN85`: a run of printable ASCII without a space, or a framed Ascii85 block; they
    may overlap the first), one window at a time (yields between windows, so the event loop
    gets turns on a long text); a run longer than the window is read whole."""
    first = yield from _spans(_RUN, text)
    return first + (yield from _spans(_RUN85, text))


def _spans(pattern: re.Pattern[str], text: str) -> Generator[None, None, list[tuple[int, int]]]:
    out: list[tuple[int, int]] = []
    pos, window, size = 0, WINDOW, len(text)
    while pos < size:
        end = min(size, pos + window)
        cut = -1
        for m in pattern.finditer(text, pos, end):
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
    """Runs of base64 / base64url / base32 / hex characters inside ``text`` whose bytes are
    text, and base85 tokens (:func:`_open85`) that overlap none of those, in order of their
    start (``spans``: the runs' spans when already found by :func:`run_spans`)."""
    if spans is None:
        steps = run_spans(text)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                spans = done.value
                break
    out: list[tuple[int, int, Layer]] = []
    later: list[tuple[int, int]] = []
    last = -1
    for start, end in spans or ():
        if start < last or _RUN.fullmatch(text, start, end) is None:
            later.append((start, end))  # a base85 candidate (the spans of _RUN come first)
            continue
        last = end
        layer = open_blob(text[start:end])
        if layer is not None:
            out.append((start, end, layer))
    if later:  # both lists are in order and do not overlap within themselves: one merge
        later_found: list[tuple[int, int, Layer]] = []
        dropped: set[int] = set()
        k = 0
        for start, end in later:
            while k < len(out) and out[k][1] <= start:
                k += 1
            m = k
            while m < len(out) and out[m][0] < end:
                m += 1
            # a base64 run inside it that is text as it is stands; one that is text only once
            # its control characters are out (what the alphanumeric stretches of a base85
            # token decode to) gives way to the base85 reading when that one opens
            if any(not out[i][2].binary for i in range(k, m)):
                continue
            found = _open85(text, start, end)
            if found is not None and all(
                found[0] <= out[i][0] and out[i][1] <= found[1] for i in range(k, m)
            ):
                dropped.update(range(k, m))
                later_found.append(found)
        out = [run for i, run in enumerate(out) if i not in dropped] + later_found
        out.sort(key=lambda run: run[0])
    return out


def _open85(text: str, start: int, end: int) -> tuple[int, int, Layer] | None:
    """A base85 candidate: the token, else the token without the quotes, brackets and
    punctuation around it, when one of its base32 / Ascii85 / base85 readings is text."""
    token = text[start:end]
    inner = token.strip(_AROUND)
    for candidate in dict.fromkeys((token, inner)):
        if len(candidate) < RUN85_MIN:
            continue
        layer = _layer(_other_readings(candidate))
        if layer is not None:
            at = start + token.index(candidate)
            return at, at + len(candidate), layer
    return None
