"""Text normalization before detection, with an offset map back to the original text.

Detection runs on a normalized copy of the text; every normalized character remembers the span
of original characters it came from, so a match maps back to exactly the original characters it
covers (a replacement never leaves a fragment and never eats a neighbour).

What is normalized:

* NFKC per character cluster (full-width ``４１１１`` and ``＠``, compatibility forms, a letter
  followed by combining marks is composed);
* every default-ignorable code point (the Unicode property ``Default_Ignorable_Code_Point``:
  zero-width space / joiners, soft hyphen, BOM, bidi marks, variation selectors, the combining
  grapheme joiner U+034F, Hangul fillers, tag characters, ...; :data:`DEFAULT_IGNORABLE`), every
  other format character (category ``Cf``) and every control character (category ``Cc``: NUL,
  BEL, ESC, DEL, the C1 controls) that is not a space or a separator is removed
  (:func:`is_invisible`); the controls that are (tab, line feed, VT, FF, CR, U+001C-U+001F, the
  file / group / record / unit separators, and NEL) stay separators;
* every decimal digit of any script (Arabic-Indic ``٤``, Devanagari ``४``, ...) becomes its ASCII
  digit;
* whitespace variants (NBSP, narrow NBSP, en/em/ideographic spaces) become a space, line and
  paragraph separators a line break; dash punctuation (``‐ ‑ ‒ – — −``) becomes ``-``;
* an address's separators ``@`` and ``.`` written in a transfer encoding or defanged, wherever
  they stand (:data:`ENCODED_SEPARATORS`, any case): percent-encoding ``%40`` / ``%2E``, HTML
  ``&#64;`` / ``&#46;``, ``&#x40;`` / ``&#x2e;``, ``&commat;`` / ``&period;``, quoted-printable
  ``=40`` (not before a digit: ``phone=4045551234`` is a query string) / ``=2E``, JSON / JS /
  Python ``\\u0040`` / ``\\u002e`` and ``\\x40`` / ``\\x2e``, defanged ``[@]``, ``[at]``,
  ``(at)``, ``[.]``, ``(.)``, ``[dot]``, ``(dot)``.

Plain ASCII text without any of these tokens is returned as is (no copy, no map).

Example::

    norm = normalize("card ４１１１\u200b1111")
    norm.text  # "card 41111111"
    norm.span(5, 13)  # (5, 14): the zero-width space inside is covered too
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata

__all__ = [
    "DEFAULT_IGNORABLE",
    "ENCODED_SEPARATORS",
    "Normalized",
    "ascii_digits",
    "controls_as_spaces",
    "is_default_ignorable",
    "is_invisible",
    "normalize",
]

#: ``Default_Ignorable_Code_Point`` (DerivedCoreProperties.txt), as inclusive ranges.
#: ``unicodedata`` does not expose the property; the table is checked against the ``regex``
#: module's ``\p{Default_Ignorable_Code_Point}`` in tests/test_pii_normalize.py.
DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_IGNORABLE_STARTS = [a for a, _ in DEFAULT_IGNORABLE]


def is_default_ignorable(ch: str) -> bool:
    """``ch`` has the Unicode property ``Default_Ignorable_Code_Point``."""
    cp = ord(ch)
    i = bisect.bisect_right(_IGNORABLE_STARTS, cp) - 1
    return i >= 0 and cp <= DEFAULT_IGNORABLE[i][1]


def is_invisible(ch: str) -> bool:
    """``ch`` is removed before detection: a default-ignorable code point, a format character
    (``Cf``) or a control character (``Cc``) that is no space or separator (``str.isspace``:
    tab, line feed, VT, FF, CR, U+001C-U+001F, NEL)."""
    cat = unicodedata.category(ch)
    return cat == "Cf" or is_default_ignorable(ch) or (cat == "Cc" and not ch.isspace())


#: the ASCII control characters :func:`is_invisible` removes
_ASCII_INVISIBLE = "".join(chr(c) for c in range(128) if is_invisible(chr(c)))
_ASCII_INVISIBLE_RE = re.compile("[" + re.escape(_ASCII_INVISIBLE) + "]")
#: every control character :func:`is_invisible` removes (C0, DEL, C1)
_CONTROLS = "".join(
    chr(c) for c in range(0xA0) if unicodedata.category(chr(c)) == "Cc" and is_invisible(chr(c))
)
_CONTROLS_RE = re.compile("[" + re.escape(_CONTROLS) + "]")
_CONTROLS_AS_SPACES = {ord(c): " " for c in _CONTROLS}


def controls_as_spaces(text: str) -> str | None:
    """``text`` with every control character :func:`normalize` removes made a space (same
    length, same offsets), or ``None`` when it holds none. A control character inside a value
    hides nothing when removed (``j\\0ane@example.com``), one between two values (a protobuf
    field's bytes, ``jane@example.com\\x12\\x03abc``) when read as a separator: detection
    reads both and keeps every match of either (overlaps merged)."""
    if _CONTROLS_RE.search(text) is None:
        return None
    return text.translate(_CONTROLS_AS_SPACES)


#: An address's separators as transfer encodings and defanging write them, one row per
#: encoding: ``(name, the patterns of "@", the patterns of ".")``, matched in any case. A
#: pattern is read as its separator wherever it stands, the offsets mapped back to the whole
#: token (tests/test_pii_payload_words.py is generated from this table).
ENCODED_SEPARATORS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("percent-encoding", (r"%40",), (r"%2e",)),
    ("HTML decimal", (r"&#0*64;",), (r"&#0*46;",)),
    ("HTML hex", (r"&#x0*40;",), (r"&#x0*2e;",)),
    ("HTML named", (r"&commat;",), (r"&period;",)),
    # a query string's "=40" before digits is a number (``phone=4045551234``), not an "@"
    ("quoted-printable", (r"=40(?![0-9])",), (r"=2e",)),
    ("JSON / JS unicode escape", (r"\\u0040",), (r"\\u002e",)),
    ("JS / Python / C hex escape", (r"\\x40",), (r"\\x2e",)),
    ("defanged", (r"\[@\]", r"\[at\]", r"\(at\)"), (r"\[\.\]", r"\(\.\)", r"\[dot\]", r"\(dot\)")),
)
#: the characters every token of :data:`ENCODED_SEPARATORS` starts with
_TOKEN_STARTS = "%&=\\[("
_LINE_BREAKS = frozenset("\u0085\u2028\u2029")


class Normalized:
    """The normalized ``text`` and, per normalized character, the original ``[start, end)``.

    ``starts`` is ``None`` when offsets did not change (identity map); ``ends`` is ``None`` when
    every normalized character comes from exactly one original character (``start + 1``).
    (A plain class with slots, not a frozen dataclass: one is made per text scanned, and a
    frozen dataclass's ``__init__`` costs about 15 times as much.)
    """

    __slots__ = ("ends", "starts", "text", "tokens")

    def __init__(
        self,
        text: str,
        starts: list[int] | None = None,
        ends: list[int] | None = None,
        tokens: tuple[list[int], list[int], list[int], list[int]] | None = None,
    ) -> None:
        self.text = text
        self.starts = starts
        self.ends = ends
        #: sparse map: per replaced token, its normalized [n0, n1) and original [o0, o1)
        self.tokens = tokens

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Normalized) and (
            self.text,
            self.starts,
            self.ends,
            self.tokens,
        ) == (other.text, other.starts, other.ends, other.tokens)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Normalized(text={self.text!r}, starts={self.starts!r}, ends={self.ends!r}, "
            f"tokens={self.tokens!r})"
        )

    def _char(self, i: int) -> tuple[int, int]:
        assert self.tokens is not None
        n0, n1, o0, o1 = self.tokens
        k = bisect.bisect_right(n0, i) - 1
        if k < 0:
            return i, i + 1
        if i < n1[k]:
            return o0[k], o1[k]
        orig = i + o1[k] - n1[k]
        return orig, orig + 1

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalized span ``[start, end)`` (``end > start``)."""
        if self.tokens is not None:
            return self._char(start)[0], self._char(end - 1)[1]
        if self.starts is None:
            return start, end
        if self.ends is None:
            return self.starts[start], self.starts[end - 1] + 1
        return self.starts[start], self.ends[end - 1]


_FOLDED: dict[str, str] = {}


def _fold_char(ch: str) -> str:
    """The normalized form of one non-ASCII character (empty: removed), memoized."""
    out = _FOLDED.get(ch)
    if out is None:
        if len(_FOLDED) > 65536:
            _FOLDED.clear()
        out = _FOLDED[ch] = _fold_uncached(ch)
    return out


def _fold_uncached(ch: str) -> str:
    cat = unicodedata.category(ch)
    if is_invisible(ch):
        return ""
    if cat == "Nd":
        return str(unicodedata.decimal(ch))
    if ch in _LINE_BREAKS:
        return "\n"
    if cat == "Zs" or ch.isspace():
        return " "
    if cat == "Pd" or ch == "\u2212":  # the minus sign is a math symbol (Sm), written as a dash
        return "-"
    out = unicodedata.normalize("NFKC", ch)
    if out.isascii():
        return out
    return "".join(
        str(unicodedata.decimal(c))
        if unicodedata.category(c) == "Nd"
        else (" " if c.isspace() else ("-" if unicodedata.category(c) == "Pd" else c))
        for c in out
    )


def _special(text: str) -> bool:
    """``text`` holds an encoded or defanged ``@`` or ``.`` in any case (``[DOT]``, ``[dOt]``):
    exactly the tokens the decoding patterns below replace (one search; every token starts with
    one of :data:`_TOKEN_STARTS`: a text with none of them is settled by substring tests)."""
    if all(c not in text for c in _TOKEN_STARTS):
        return False
    return _ANY_TOKEN.search(text) is not None


# Every non-ASCII character seen, sorted once into: folds to itself (nothing to do), folds to
# one other character (_CHANGED, a translate table) or not one for one (_ODD: removed, several
# characters, a combining mark). A text is then sorted with set operations, in C. The sets only
# grow (a character is filed under its kind before it is marked known, so another thread never
# sees it known and unfiled), up to _KNOWN_MAX characters; past that, new ones are sorted per text.
_KNOWN: set[str] = set(map(chr, range(128)))  # ASCII: nothing to do, but controls (removed)
#: the known characters that fold to themselves (ASCII included): a text made of them only is
#: settled by one subset test
_SAME: set[str] = _KNOWN - set(_ASCII_INVISIBLE)
_CHANGED: dict[int, str] = {}
_CHANGED_CHARS: set[str] = set()
_ODD: set[str] = set(_ASCII_INVISIBLE)
_KNOWN_MAX = 65536 + 128


def _learn(chars: set[str]) -> tuple[dict[int, str], set[str]]:
    """Sort the non-ASCII ``chars`` not seen before: those that fold to one other character
    (with it) and those that do not fold one for one; remembered while there is room."""
    changed: dict[int, str] = {}
    odd: set[str] = set()
    keep = len(_KNOWN) < _KNOWN_MAX
    for ch in chars:
        if ch.isascii():
            continue
        folded = _fold_char(ch)
        if len(folded) == 1 and not unicodedata.combining(ch):
            if folded != ch:
                changed[ord(ch)] = folded
                if keep:
                    _CHANGED[ord(ch)] = folded
                    _CHANGED_CHARS.add(ch)
            elif keep:
                _SAME.add(ch)
        else:
            odd.add(ch)
            if keep:
                _ODD.add(ch)
        if keep:
            _KNOWN.add(ch)
    return changed, odd


def normalize(text: str) -> Normalized:
    """Normalize ``text`` for detection; see the module docstring for what changes."""
    table: dict[int, str | None] = {}
    odd: list[str] = []  # characters that do not map to exactly one character
    if text.isascii() and _ASCII_INVISIBLE_RE.search(text) is None:
        if not _special(text):
            return Normalized(text)
        special = True
    else:
        chars = set(text)
        if chars <= _SAME and not _special(text):
            return Normalized(text)  # every character folds to itself
        special = _special(text)
        unknown = chars - _KNOWN
        new_changed, new_odd = _learn(unknown) if unknown else ({}, set())
        changed = chars & _CHANGED_CHARS
        odd = list((chars & _ODD) | new_odd)
        if not special and not odd:  # one character for one: the same offsets
            if new_changed:
                return Normalized(text.translate({**_CHANGED, **new_changed}))
            return Normalized(text.translate(_CHANGED) if changed else text)
        table = {ord(c): _CHANGED[ord(c)] for c in changed}
        table.update(new_changed)
    if all(_fold_char(c) == "" and not unicodedata.combining(c) for c in odd):
        return _sparse(text, table, odd, special)
    parts = [_ANY_TOKEN.pattern]
    if odd:
        parts.append("[" + "".join(re.escape(c) for c in sorted(odd)) + "]+")
    tokens = re.compile("|".join(parts), re.IGNORECASE)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in tokens.finditer(text):
        begin = m.start()
        if begin > pos:  # a stretch of one-for-one characters: identity offsets
            pieces.append(text[pos:begin].translate(table))
            starts.extend(range(pos, begin))
            ends.extend(range(pos + 1, begin + 1))
        token = m.group(0)
        if token[0] in _TOKEN_STARTS:  # an encoded or defanged '@' or '.'
            pieces.append("@" if _AT_TOKENS.fullmatch(token) else ".")
            starts.append(begin)
            ends.append(m.end())
        elif len(token) == 1 and not unicodedata.combining(token):
            out = _fold_char(token)
            if out:
                pieces.append(out)
                starts.extend([begin] * len(out))
                ends.extend([begin + 1] * len(out))
        else:
            _fold_run(text, begin, m.end(), pieces, starts, ends)
        pos = m.end()
    if pos < len(text):
        pieces.append(text[pos:].translate(table))
        starts.extend(range(pos, len(text)))
        ends.extend(range(pos + 1, len(text) + 1))
    return Normalized("".join(pieces), starts, ends)


_AT_TOKENS = re.compile("|".join(p for _, at, _ in ENCODED_SEPARATORS for p in at), re.IGNORECASE)
_DOT_TOKENS = re.compile("|".join(p for _, _, dot in ENCODED_SEPARATORS for p in dot), re.I)
_ANY_TOKEN = re.compile(_AT_TOKENS.pattern + "|" + _DOT_TOKENS.pattern, re.IGNORECASE)


def ascii_digits(pattern: str) -> str:
    """``pattern`` with every ``\\d`` written ``[0-9]`` (``0-9`` inside a character class).

    A normalized text holds no decimal digit but the ASCII ones (every ``Nd`` character folds to
    its ASCII digit, and none is the composition of others: tests/test_pii_normalize.py sweeps
    them), so on it both forms match the same. ``\\d`` of a ``str`` pattern is a Unicode category
    the regex engine looks up character by character; ``[0-9]`` is a bitmap test (a digit pattern
    searches a digit-dense text 1.5-3x faster). For the patterns of the built-in finders, which
    read normalized text only."""
    out: list[str] = []
    in_class = False
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            pair = pattern[i : i + 2]
            out.append(("0-9" if in_class else "[0-9]") if pair == "\\d" else pair)
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if i < n and pattern[i] == "^":  # a "]" right after "[" or "[^" is a literal
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _sparse(
    text: str, table: dict[int, str | None], removed: list[str], special: bool
) -> Normalized:
    """Encoded '@', defanged '.' and removed characters, as a sparse map of replaced tokens
    (no per-character work in Python: a few passes in C)."""
    out = text
    pattern = _ANY_TOKEN
    if special:
        out = _DOT_TOKENS.sub(".", _AT_TOKENS.sub("@", out))
    if removed:
        cls = "[" + "".join(re.escape(c) for c in sorted(removed)) + "]+"
        pattern = re.compile((_ANY_TOKEN.pattern + "|" if special else "") + cls, re.IGNORECASE)
        table.update((ord(c), None) for c in removed)
    out = out.translate(table)
    spans = [m.span() for m in pattern.finditer(text)]
    o0 = [a for a, _ in spans]
    o1 = [b for _, b in spans]
    # a token gives '@' or '.'; a removed character (a control, an ignorable) nothing
    lengths = [1 if text[a] in _TOKEN_STARTS else 0 for a in o0]
    shrink = list(itertools.accumulate(b - a - n for (a, b), n in zip(spans, lengths, strict=True)))
    n0 = [a - (shrink[k - 1] if k else 0) for k, a in enumerate(o0)]
    n1 = [a + n for a, n in zip(n0, lengths, strict=True)]
    return Normalized(out, tokens=(n0, n1, o0, o1))


def _fold_run(
    text: str, begin: int, stop: int, pieces: list[str], starts: list[int], ends: list[int]
) -> None:
    """Fold the run ``text[begin:stop]``, one cluster (base + combining marks) at a time;
    marks that follow the previous character compose with it."""
    i = begin
    while i < stop:
        j = i + 1
        while j < stop and unicodedata.combining(text[j]):
            j += 1
        if unicodedata.combining(text[i]):
            # marks right after a character: compose with it when NFKC gives one character
            if pieces and ends and ends[-1] == i and pieces[-1]:
                last = pieces[-1][-1]
                composed = unicodedata.normalize("NFKC", last + text[i:j])
                if len(composed) == 1:
                    pieces[-1] = pieces[-1][:-1] + composed
                    ends[-1] = j
                    i = j
                    continue
            i = j  # a stray mark: dropped, it carries nothing the detectors use
            continue
        out = _fold_char(text[i]) if j == i + 1 else _fold_cluster(text[i:j])
        if out:
            pieces.append(out)
            starts.extend([i] * len(out))
            ends.extend([j] * len(out))
        i = j


def _fold_cluster(cluster: str) -> str:
    composed = unicodedata.normalize("NFKC", cluster)
    return "".join(c if c.isascii() else _fold_char(c) for c in composed)
