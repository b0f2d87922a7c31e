"""PII detection: normalization, candidate patterns, validators, context words, custom detectors.

A text is first normalized (:mod:`guardrails.pii.normalize`: NFKC, zero-width characters removed,
digits of every script folded to ASCII, whitespace and dash variants unified, ``%40`` / ``&#64;``
and defanged ``[.]`` decoded) with an offset map back to the original, so a match always covers
exactly the original characters. Each built-in type then finds candidates with one linear-time
pattern and scores them:

* a candidate a validator accepts (Luhn and an issued card range, the IBAN checksum, the SSN
  rules, phone-number metadata of a configured region, ``ipaddress``, the suffix list) scores
  high enough on its own;
* a context word of its type (``card``, ``SSN``, ``phone``, ``tel``, ``fax``, ...) within
  ``CONTEXT_BEFORE`` characters before it or ``CONTEXT_AFTER`` after it (or in the header line of
  a table-like text) adds ``CONTEXT_BOOST``: this is how a candidate no validator accepts (a
  short local phone number, nine bare digits next to "SSN", a Luhn-valid number outside the
  issued ranges next to "card") is reported;
* a candidate is reported when its score reaches ``THRESHOLD``.

No NLP model runs unless asked for (``person`` / ``location``), and nothing touches the network:
the email check uses tldextract with its bundled suffix list only. Every built-in pattern runs in
linear time (no nested or overlapping repetition; each can only start at the beginning of a run
of the characters it repeats).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import ipaddress
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from guardrails.errors import GuardrailConfigError
from guardrails.pii.normalize import Normalized, normalize
from guardrails.pii.phones import DEFAULT_REGIONS, PhoneRules, validate_regions

__all__ = [
    "BUILTIN_TYPES",
    "CONTEXT_AFTER",
    "CONTEXT_BEFORE",
    "CONTEXT_BOOST",
    "CONTEXT_WORDS",
    "DEFAULT_EMAIL_TLDS",
    "DEFAULT_REGIONS",
    "THRESHOLD",
    "Detector",
    "PIIMatch",
    "build_detector",
    "detect",
]


class PIIMatch(TypedDict):
    """A detected value: LangChain-compatible keys ``type``, ``value``, ``start``, ``end``."""

    type: str
    value: str
    start: int
    end: int


Finder = Callable[[str], list[tuple[int, int]]]
Span = tuple[int, int, float]

#: characters of context read before a candidate, and after it
CONTEXT_BEFORE = 48
CONTEXT_AFTER = 24
#: what a context word of the candidate's type adds to its score
CONTEXT_BOOST = 0.35
#: what a candidate must score to be reported
THRESHOLD = 0.5

#: Context words per type (lower case; ASCII words must stand alone, others match anywhere).
CONTEXT_WORDS: dict[str, tuple[str, ...]] = {
    "phone": (
        "phone",
        "phones",
        "tel",
        "tele",
        "telephone",
        "mobile",
        "mob",
        "cell",
        "cellphone",
        "call",
        "calls",
        "called",
        "calling",
        "fax",
        "ring",
        "text me",
        "sms",
        "whatsapp",
        "dial",
        "landline",
        "hotline",
        "contact",
        "reach me",
        "my number",
        "number is",
        "ph",
        "ph.",
        "handy",
        "telefon",
        "telefonnummer",
        "rufnummer",
        "mobil",
        "téléphone",
        "tél",
        "portable",
        "numéro",
        "telefone",
        "celular",
        "teléfono",
        "móvil",
        "telefono",
        "cellulare",
        "numero",
        "電話",
        "携帯",
        "手机",
        "电话",
        "联系",
        "전화",
        "연락처",
        "телефон",
        "тел",
        "טלפון",
        "נייד",
        "फ़ोन",
        "मोबाइल",
    ),
    "credit_card": (
        "card",
        "cards",
        "credit",
        "debit",
        "visa",
        "mastercard",
        "master card",
        "amex",
        "american express",
        "discover",
        "diners",
        "jcb",
        "maestro",
        "unionpay",
        "cc",
        "cc#",
        "ccn",
        "cvv",
        "cvc",
        "pan",
        "expiry",
        "exp",
        "payment",
        "pay",
        "paid",
        "charge",
        "karte",
        "kreditkarte",
        "carte",
        "tarjeta",
        "cartão",
        "carta",
        "カード",
        "信用卡",
        "银行卡",
        "카드",
        "карта",
    ),
    "us_ssn": (
        "ssn",
        "ssns",
        "social security",
        "social sec",
        "soc sec",
        "ss#",
        "ss #",
        "ss no",
        "ssa",
        "social",
        "taxpayer",
        "tin",
        "itin",
    ),
}
#: Words right before a number that say it is something else (an order, an amount, ...).
NEGATIVE_WORDS = (
    "order",
    "invoice",
    "inv",
    "ref",
    "reference",
    "id",
    "ticket",
    "case",
    "tracking",
    "track",
    "shipment",
    "parcel",
    "sku",
    "isbn",
    "serial",
    "version",
    "ver",
    "build",
    "zip",
    "postal",
    "postcode",
    "amount",
    "total",
    "price",
    "balance",
    "usd",
    "eur",
    "account",
    "acct",
    "po",
    "no. of",
    "qty",
    "quantity",
    "page",
    "row",
    "line",
)


def _word_regex(words: Iterable[str]) -> re.Pattern[str]:
    # a plain alternation: the regex engine skips ahead on its first characters; whole-word
    # checks for ASCII words are done on each hit (see _standalone)
    return re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)))


def _standalone(text: str, start: int, end: int) -> bool:
    """An ASCII word at ``[start, end)`` not glued to other ASCII letters."""
    if not text[start].isascii():
        return True
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return not ("a" <= before <= "z" or "a" <= after <= "z")


def _word_search(pattern: re.Pattern[str], text: str) -> bool:
    return any(_standalone(text, m.start(), m.end()) for m in pattern.finditer(text))


_CONTEXT_RES = {kind: _word_regex(words) for kind, words in CONTEXT_WORDS.items()}
_NEGATIVE_WORD_RE = _word_regex(NEGATIVE_WORDS)
_NEGATIVE_GAP = re.compile(r"[\s#:.\-]*(?:number|no\.?|nr\.?|num|#|id)?[\s#:.\-]*")
_CURRENCY_BEFORE = re.compile(r"[$€£¥₹]\s?$|\b(?:usd|eur|gbp|chf|jpy|inr|aud|cad)\s?$", re.I)


class _Scan:
    """One text being scanned: the normalized text and cheap context look-ups.

    Context and negative words are found once per text (on first use) and looked up by
    position, so a text with many candidates costs one pass per word list.
    """

    __slots__ = ("_digits", "_header", "_hits", "norm", "original", "text")

    def __init__(self, norm: Normalized, original: str) -> None:
        self.norm = norm
        self.text = norm.text
        self.original = original
        self._header: tuple[int, str] | None = None
        self._hits: dict[str, list[int]] = {}
        self._digits = -1

    def digits(self) -> int:
        """How many ASCII digits the normalized text holds (a cheap gate for the finders)."""
        if self._digits < 0:
            text = self.text
            self._digits = sum(map(text.count, "0123456789")) if _has_digit(text) else 0
        return self._digits

    def header(self) -> tuple[int, str]:
        """The first line (lower case) when the text looks like a table, and where it ends."""
        if self._header is None:
            text = self.text
            cut = text.find("\n")
            first = text[:cut] if cut > 0 else ""
            if cut > 0 and any(d in first for d in ",;\t|"):
                self._header = (cut, first.lower())
            else:
                self._header = (-1, "")
        return self._header

    def _positions(self, key: str, pattern: re.Pattern[str], at_end: bool) -> list[int]:
        hits = self._hits.get(key)
        if hits is None:
            lower = self.text.lower()
            if len(lower) != len(self.text):  # a few characters change length when lowered
                lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in self.text)
            hits = [
                m.end() if at_end else m.start()
                for m in pattern.finditer(lower)
                if _standalone(lower, m.start(), m.end())
            ]
            self._hits[key] = hits
        return hits

    def context(self, kind: str, start: int, end: int, since: int = 0) -> bool:
        """A context word of ``kind`` near ``[start, end)`` (not before ``since``: the end of
        the previous value of the kind, which the word belonged to) or in a table header."""
        hits = self._positions(kind, _CONTEXT_RES[kind], at_end=False)
        i = bisect.bisect_left(hits, max(since, start - CONTEXT_BEFORE))
        if i < len(hits) and hits[i] < end + CONTEXT_AFTER:
            return True
        cut, first = self.header()
        return cut >= 0 and start > cut and _word_search(_CONTEXT_RES[kind], first)

    def negative(self, start: int) -> bool:
        """The words right before ``start`` say the number is an id, an amount, a version..."""
        hits = self._positions("-", _NEGATIVE_WORD_RE, at_end=True)
        i = bisect.bisect_right(hits, start) - 1
        if i >= 0 and hits[i] >= start - 20:
            gap = self.text[hits[i] : start]
            if _NEGATIVE_GAP.fullmatch(gap.lower()):
                return True
        return bool(_CURRENCY_BEFORE.search(self.text[max(0, start - 6) : start]))

    def original_char(self, index: int) -> str:
        start, end = self.norm.span(index, index + 1)
        return self.original[start:end]


class _Builtin:
    """A built-in type: finds scored spans in the normalized text."""

    def __init__(self, find: Callable[[_Scan], list[Span]], needs: Callable[[_Scan], bool]) -> None:
        self.find = find
        self.needs = needs

    def spans(self, scan: _Scan) -> list[Span]:
        return self.find(scan) if self.needs(scan) else []

    def __call__(self, text: str) -> list[tuple[int, int]]:
        """Accepted spans of ``text`` (original offsets), for use as a plain finder."""
        norm = normalize(text)
        scan = _Scan(norm, text)
        return [norm.span(s, e) for s, e, score in self.spans(scan) if score >= THRESHOLD]


_DIGITS = frozenset("0123456789")


def _has_digit(text: str) -> bool:
    return not _DIGITS.isdisjoint(text)


def _regex_finder(
    pattern: str, flags: int = 0, group: int = 0, check: Callable[[str], bool] | None = None
) -> Finder:
    compiled = re.compile(pattern, flags)

    def find(text: str) -> list[tuple[int, int]]:
        out = []
        for m in compiled.finditer(text):
            start, end = m.span(group)
            if check is None or check(text[start:end]):
                out.append((start, end))
        return out

    return find


def _plain(finder: Finder, score: float = 0.9) -> Callable[[_Scan], list[Span]]:
    def find(scan: _Scan) -> list[Span]:
        return [(s, e, score) for s, e in finder(scan.text)]

    return find


# ---------------------------------------------------------------------------- email

#: Top-level domains accepted in emails besides the public suffix list (intranet names).
DEFAULT_EMAIL_TLDS: frozenset[str] = frozenset(
    {
        "internal",
        "corp",
        "local",
        "localdomain",
        "lan",
        "home",
        "intranet",
        "private",
        "priv",
        "test",
        "example",
        "invalid",
        "localhost",
        "svc",
        "cluster",
        "ad",
        "office",
        "int",
        "dev",
        "prod",
        "staging",
        "qa",
        "infra",
    }
)

_LOCAL = r"[\w.+'\-]"
_EMAIL = re.compile(
    rf"(?<!{_LOCAL})({_LOCAL}+)([ \t]?\n[ \t]?| )?@([ \t]?\n[ \t]?| )?"
    r"((?:[\w\-]+\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9\-]{1,59}))(?![\w\-])",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=1)
def _tld() -> Any:
    import tldextract

    # the bundled public suffix snapshot only: never fetch the list over the network
    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    extract("example.com")  # load the snapshot now, not on the first message
    return extract


@functools.lru_cache(maxsize=8192)
def _public_suffix(domain: str) -> bool:
    return bool(_tld()(domain).suffix)


def _email_finder(tlds: frozenset[str] | None) -> Callable[[_Scan], list[Span]]:
    def find(scan: _Scan) -> list[Span]:
        out: list[Span] = []
        for m in _EMAIL.finditer(scan.text):
            start = m.start(1)
            local = m.group(1)
            trimmed = local.lstrip(".'-+")
            start += len(local) - len(trimmed)
            if not trimmed or trimmed.endswith("."):
                continue
            left, right = m.group(2), m.group(3)
            if left == " " and not right and scan.original_char(m.start(2)) == " ":
                continue  # "ping @example.com": a handle after a word, not an address
            domain = m.group(4)
            tld = domain.rsplit(".", 1)[-1].lower()
            ok = True if tlds is None else tld in tlds or _public_suffix(domain.lower())
            if ok:
                out.append((start, m.end(), 0.9))
        return out

    return find


# ---------------------------------------------------------------------------- credit cards

_SEP = r"(?:[ \t]{0,2}(?:\r?\n|[\-./])[ \t]{0,2}|[ \t]{1,2})"
_CARD = re.compile(rf"(?<!\d)\d{{3,19}}(?:{_SEP}\d{{3,19}}){{0,5}}(?:{_SEP}\d{{1,2}})?(?!\d)")
_GROUP = re.compile(r"\d+")
_DOUBLED = str.maketrans("0123456789", "0246813579")

# issued IIN ranges: (low, high, prefix width, allowed lengths)
_IIN: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    (4, 4, 1, frozenset(range(13, 20))),  # Visa
    (51, 55, 2, frozenset(range(16, 20))),  # Mastercard
    (2221, 2720, 4, frozenset({16})),  # Mastercard 2-series
    (2200, 2204, 4, frozenset(range(16, 20))),  # Mir
    (34, 34, 2, frozenset({15})),
    (37, 37, 2, frozenset({15})),  # American Express
    (300, 305, 3, frozenset(range(14, 20))),
    (309, 309, 3, frozenset(range(14, 20))),
    (36, 36, 2, frozenset(range(14, 20))),
    (38, 39, 2, frozenset(range(14, 20))),  # Diners Club
    (35, 35, 2, frozenset(range(16, 20))),  # JCB
    (1800, 1800, 4, frozenset({15})),
    (2131, 2131, 4, frozenset({15})),  # JCB 15-digit
    (50, 50, 2, frozenset(range(12, 20))),  # Maestro, Verve, RuPay
    (56, 59, 2, frozenset(range(12, 20))),  # Maestro and other 5x
    (60, 69, 2, frozenset(range(12, 20))),  # Discover, Maestro, UnionPay, RuPay, Troy, ...
    (81, 82, 2, frozenset({16})),  # RuPay
    (9792, 9792, 4, frozenset({16})),  # Troy
)


def _iin_ok(digits: str) -> bool:
    n = len(digits)
    for low, high, width, lengths in _IIN:
        if n in lengths and low <= int(digits[:width]) <= high:
            return True
    return False


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string."""
    odd = sum(map(int, digits[-1::-2]))
    even = sum(map(int, digits[-2::-2].translate(_DOUBLED)))
    return (odd + even) % 10 == 0


@functools.lru_cache(maxsize=8192)
def _card_score(digits: str) -> float:
    """0.9: Luhn and an issued range; 0.3: Luhn only (context decides); 0: no card."""
    if not 12 <= len(digits) <= 19 or digits.count(digits[0]) == len(digits):
        return 0.0
    if not luhn_ok(digits):
        return 0.0
    if not _iin_ok(digits):
        return 0.3
    return 0.9 if len(digits) >= 15 else 0.8


def _cards(scan: _Scan) -> list[Span]:
    text = scan.text
    out: list[Span] = []
    pos = 0
    while True:
        m = _CARD.search(text, pos)
        if m is None:
            return out
        if m.end() - m.start() < 12:
            pos = m.end()
            continue
        groups = [(g.start(), g.end()) for g in _GROUP.finditer(text, m.start(), m.end())]
        found = _card_window(scan, groups)
        if found is None:
            pos = m.end()
            continue
        out.append(found)
        pos = found[1]


def _card_window(scan: _Scan, groups: list[tuple[int, int]]) -> Span | None:
    """The longest valid card in ``groups`` that starts at the first or the second group.

    Several groups make a card only when each has 3 digits or more ("1 2 3 4 ..." is not how
    a card is written); one group is a card of 12 to 19 digits.
    """
    text = scan.text
    lens = [e - s for s, e in groups]
    for i in range(min(2, len(groups))):
        if lens[i] < 3:
            continue
        total = 0
        ends: list[int] = []
        for j in range(i, len(groups)):
            # groups of 3 digits or more; a short last group after groups of 4 ("...-0691-24")
            short_tail = lens[j] < 3 and j > i + 1 and all(x == 4 for x in lens[i:j])
            if j > i and ((lens[j] < 3 and not short_tail) or lens[i] > 8):
                break
            total += lens[j]
            if total > 19:
                break
            # a short window inside a longer run of groups is a piece of another number
            if total >= 16 or (total >= 12 and j == len(groups) - 1 and i == 0):
                ends.append(j)
        for j in reversed(ends):
            digits = "".join(text[g0:g1] for g0, g1 in groups[i : j + 1])
            score = _card_score(digits)
            if score == 0.0:
                continue
            s, e = groups[i][0], groups[j][1]
            if _ID_BEFORE.search(text[max(0, s - 40) : s]) or (score < 0.9 and scan.negative(s)):
                continue  # the tail of an account number or IBAN; "tracking 591264198092"
            if scan.context("credit_card", s, e):
                score += CONTEXT_BOOST  # also ranks a card above a phone reading of it
            if score >= THRESHOLD:
                return s, e, score
    return None


# ---------------------------------------------------------------------------- IBAN

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}[ \t]?\d[ \t.\-]?\d"
    r"(?:(?:[ \t]{1,2}|[.\-/]|[ \t]?\r?\n[ \t]?)?[A-Za-z0-9]{1,4}){2,9}"
)
_ALNUM = re.compile(r"[A-Za-z0-9]")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_WORD = re.compile(r"[A-Za-z0-9]+(?![\w])")


@functools.lru_cache(maxsize=4096)
def iban_ok(compact: str, strict: bool = True) -> bool:
    """The ISO 13616 mod-97 check of an upper-case IBAN without separators (``strict``: and
    the length its country registered; otherwise any length from 15 to 34)."""
    length = _IBAN_LENGTHS.get(compact[:2], -1)
    if (strict and len(compact) != length) or not compact[2:4].isdigit():
        return False
    if not strict and (length < 0 or not 15 <= len(compact) <= 34):
        return False
    moved = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _ibans(scan: _Scan) -> list[Span]:
    text = scan.text
    out: list[Span] = []
    pos = 0
    while True:
        m = _IBAN.search(text, pos)
        if m is None:
            return out
        pos = m.start() + 4  # on failure, go on from the next word (the match may span two)
        value = m.group(0)
        length = _IBAN_LENGTHS.get(value[:2].upper())
        if length is None:
            continue
        compact = _NOT_ALNUM.sub("", value)
        if len(compact) >= length and iban_ok(compact[:length].upper()):
            chars = list(_ALNUM.finditer(text, m.start(), m.end()))
            end = chars[length - 1].end()
            if not (end < len(text) and text[end].isalnum() and text[end].isascii()):
                out.append((m.start(), end, 0.95))
                pos = end
                continue
        word = _WORD.match(text, m.start())
        if (
            word is not None
            and 15 <= len(word.group(0)) <= 34
            and word.group(0).isupper()
            and iban_ok(word.group(0), strict=False)
        ):
            out.append((m.start(), word.end(), 0.6))  # checksum right, length off: "GB" + 19
            pos = word.end()


# ---------------------------------------------------------------------------- US SSN

_SSN = re.compile(r"(?<![\d\-./])(\d{3})([ \-./]?)(\d{2})([ \-./]?)(\d{4})(?![\d\-]|[./]\d)")
_SSN_SAMPLES = frozenset({"123456789", "987654320", "078051120", "219099999"})


def ssn_ok(digits: str) -> bool:
    """The SSA's issuing rules: no 000/666 area, 00 group or 0000 serial, no sample number."""
    if len(digits) != 9 or digits.count(digits[0]) == 9 or digits in _SSN_SAMPLES:
        return False
    return digits[:3] not in ("000", "666") and digits[3:5] != "00" and digits[5:] != "0000"


def _ssns(scan: _Scan) -> list[Span]:
    out: list[Span] = []
    for m in _SSN.finditer(scan.text):
        digits = m.group(1) + m.group(3) + m.group(5)
        if not ssn_ok(digits):
            continue
        seps = (m.group(2), m.group(4))
        score = 0.85 if all(seps) else 0.3
        if score < THRESHOLD and scan.negative(m.start()):
            continue
        if scan.context("us_ssn", m.start(), m.end()):
            score += CONTEXT_BOOST
        if score >= THRESHOLD:
            out.append((m.start(), m.end(), score))
    return out


# ---------------------------------------------------------------------------- IP

_IPV4 = re.compile(
    r"(?<![\d.])(?:0{0,2}(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}0{0,2}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
    r"(?!\d|\.\d)"
)
_VERSION_BEFORE = re.compile(r"(?:(?<![a-z])(?:version|ver|release|rel)\.?\s*|(?<![a-z])v)$", re.I)
_IPV6 = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{2,45}")


def _ips(scan: _Scan) -> list[Span]:
    text = scan.text
    out: list[Span] = []
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text[max(0, m.start() - 10) : m.start()]):
            continue  # "version 1.2.3.4", "v1.2.3.4"
        out.append((m.start(), m.end(), 0.9))
    if ":" in text:
        for m in _IPV6.finditer(text):
            value = m.group(0)
            end = m.end()
            while value.endswith(".") or (value.endswith(":") and not value.endswith("::")):
                value = value[:-1]
                end -= 1
            if end < len(text) and (text[end].isalnum() or text[end] == "_"):
                continue
            if value.count(":") < 2 or not any(c.isalnum() for c in value):
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            out.append((m.start(), end, 0.9))
    return out


# ---------------------------------------------------------------------------- phone

_PHONE = re.compile(
    r"(?:(?:(?<![\w+])\+|(?<![\w.\-/])00)[ \t]?|(?<![\w.+/\-]))"
    r"\(?\d[\d \t().\-/]{4,22}\d(?![\dA-Za-z_])"
)
_DATE_SHAPE = re.compile(
    r"\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}(?!\d)|\d{1,2}[\-/.]\d{1,2}[\-/.](?:\d{4}|\d{2})(?![\d\-/.])"
)
_IP_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}$")
_ID_BEFORE = re.compile(r"(?:[A-Za-z]{2}\d{2}(?: [A-Za-z0-9]{4})*|[A-Za-z0-9]*\d[A-Za-z0-9]*) $")
_TIME_AFTER = re.compile(r"\s?(?:am|pm|h|hrs|min|sec|ms|s|kg|km|mb|gb|%)\b", re.I)


def _phone_finder(rules: PhoneRules) -> Callable[[_Scan], list[Span]]:
    def find(scan: _Scan) -> list[Span]:
        text = scan.text
        out: list[Span] = []
        pos = 0
        while True:
            m = _PHONE.search(text, pos)
            if m is None:
                return out
            since = out[-1][1] if out else 0
            found = _phone_candidate(scan, rules, m.start(), m.end(), since)
            if found is None:
                pos = m.end()
            else:
                out.append(found)
                pos = found[1]

    return find


def _phone_candidate(
    scan: _Scan, rules: PhoneRules, start: int, end: int, since: int = 0
) -> Span | None:
    """Score ``text[start:end]``; when it fails, retry without its last one or two groups
    ("0207 946 0958 24 hours")."""
    text = scan.text
    raw = text[start:end]
    while raw.count("(") > raw.count(")"):  # "+65 6123 4567 (81697 ...": cut before the "("
        cut = raw.rfind("(")
        if cut <= 0:
            return None
        raw = raw[:cut].rstrip(" \t-./")
    end = start + len(raw)
    body = raw.lstrip("+ \t(")
    if _DATE_SHAPE.match(body) or _IP_SHAPE.match(body):
        return None  # a date, a timestamp or an IPv4 address
    groups = [g.span() for g in _GROUP.finditer(text, start, end)]
    if len(groups) > 9:
        return None  # digits scattered in prose, not a phone number
    total = [0]
    for g0, g1 in groups:
        total.append(total[-1] + g1 - g0)
    last = len(groups)
    best: Span | None = None
    for k in range(last, max(0, last - 3), -1):
        if k < last:  # only a short trailing group that breaks the grouping is dropped
            dropped = groups[k][1] - groups[k][0]
            if dropped > 2 or all(g1 - g0 == dropped for g0, g1 in groups[1:k]):
                break
        n = total[k]
        if n > 15:
            continue
        if n < 6:
            break
        stop = groups[k - 1][1]
        if stop < end and text[stop] == ")":
            stop += 1
        pieces = [text[g0:g1] for g0, g1 in groups[:k]]
        score = _phone_score(scan, rules, start, stop, pieces, since)
        score -= 0.1 * (last - k)  # a shorter reading must be clearly better
        if score >= THRESHOLD and (best is None or score > best[2]):
            best = (start, stop, score)
            if score >= 0.8:
                break
    return best


def _phone_score(
    scan: _Scan, rules: PhoneRules, start: int, end: int, groups: list[str], since: int = 0
) -> float:
    text = scan.text
    raw = text[start:end]
    digits = "".join(groups)
    n = len(digits)
    if not 6 <= n <= 15 or len(groups) > 7 or sum(len(g) == 1 for g in groups) > 2:
        return 0.0  # too short, too long, or digits scattered in prose
    if (
        "." in raw
        and " " not in raw
        and len(groups) > 3
        and max(map(len, groups)) <= 3
        and not all(len(g) == 2 for g in groups)  # "01.42.68.53.00" is French; "1.2.3.4.5" not
    ):
        return 0.0
    if raw.count("(") != raw.count(")"):
        return 0.0
    decimal = len(groups) == 2 and "." in raw and " " not in raw  # "33.641433", "9269.9510"
    if decimal and min(map(len, groups)) < 4:
        return 0.0
    after = text[end : end + 5]
    if after[:1] in (",", ".") and after[1:2].isdigit():
        return 0.0  # an amount: "1 234 567,89"
    if _TIME_AFTER.match(after):
        return 0.0
    international = raw.startswith("+") or (raw.startswith("00") and raw[2:3] in "123456789")
    if not international and (
        [len(g) for g in groups] == [3, 2, 4] or _ID_BEFORE.search(text[max(0, start - 40) : start])
    ):
        return 0.0  # an SSN's shape, or the tail of an account number / IBAN
    if international:
        intl = digits[2:] if raw.startswith("00") else digits
        if "(0)" in raw:  # "+44 (0)20 7946 0958": the trunk prefix in brackets
            cut = raw.find("(0)")
            head = "".join(_GROUP.findall(raw[:cut]))
            tail = "".join(_GROUP.findall(raw[cut + 3 :]))
            intl = (head[2:] if raw.startswith("00") else head) + tail
        score = 0.9 if rules.international(intl) else 0.3
    else:
        if scan.negative(start):
            return 0.0  # "order 0207946095", "$ 415 555 0100"
        formatted = len(groups) > 1 or raw.startswith("(")
        score = 0.3
        if decimal:
            pass  # a phone only with context
        elif formatted and rules.with_country_code(groups[0], "".join(groups[1:])):
            score = 0.8  # "44 20 7946 0958": a country code written without "+"
        elif (rank := rules.national(digits)) is not None:
            if formatted and (n < 8 or (len(groups) == 2 and len(groups[1]) < 4)):
                score = 0.35  # "20210-261", "7038 01": a postcode or a house number as often
            elif formatted:
                score = 0.7 - 0.001 * rank  # the earlier a region is listed, the likelier
            elif n > 12:
                score = 0.0  # 13+ bare digits: an id or a card, not a national number
            elif digits[0] == "0" and digits[1] != "0" and n >= 9:
                score = 0.5  # "07700900123": a trunk prefix and a valid national number
            else:
                score = 0.35  # bare digits valid somewhere: context decides
    if score >= THRESHOLD:
        return score
    tel = text[max(0, start - 8) : start].lower().rstrip(" \t")
    if tel.endswith(("tel:", "phone:", "callto:", "sms:", "fax:")) or scan.context(
        "phone", start, end, since
    ):
        score += CONTEXT_BOOST
    return score


# ---------------------------------------------------------------------------- others


def _url_ok(value: str) -> bool:
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value, flags=re.I).split("/", 1)[0]
    host = host.split(":", 1)[0]
    return bool(host) and ("." in host or host == "localhost")


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _crypto_ok(value: str) -> bool:
    """A Bitcoin address: Base58Check (P2PKH / P2SH) or a bech32 / bech32m checksum."""
    if value.lower().startswith("bc1"):
        return _bech32_ok(value.lower())
    number = 0
    for c in value:
        number = number * 58 + _B58.index(c)
    raw = number.to_bytes(25, "big") if number.bit_length() <= 200 else b""
    if len(raw) != 25:
        return False
    check = hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()[:4]
    return check == raw[-4:]


def _bech32_ok(value: str) -> bool:
    hrp, _, data = value.rpartition("1")
    if hrp != "bc" or len(data) < 6 or any(c not in _BECH32 for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    values += [_BECH32.index(c) for c in data]
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk in (1, 0x2BC830A3)


# ---------------------------------------------------------------------------- the types

#: Built-in type names (LangChain's and ours) and their Presidio entity names.
BUILTIN_TYPES: dict[str, str] = {
    "email": "EMAIL_ADDRESS",
    "credit_card": "CREDIT_CARD",
    "ip": "IP_ADDRESS",
    "mac_address": "MAC_ADDRESS",
    "url": "URL",
    "phone": "PHONE_NUMBER",
    "iban": "IBAN_CODE",
    "us_ssn": "US_SSN",
    "crypto": "CRYPTO",
    "date": "DATE_TIME",
    "person": "PERSON",
    "location": "LOCATION",
}
_NLP_TYPES = {"person", "location", "PERSON", "LOCATION", "NRP", "ORGANIZATION"}

_NEEDS: dict[str, Callable[[_Scan], bool]] = {
    "email": lambda s: "@" in s.text,
    "url": lambda s: "://" in s.text or "www." in s.text or "WWW." in s.text,
    "mac_address": lambda s: ":" in s.text or "-" in s.text,
    "iban": lambda s: s.digits() >= 8,
    "crypto": lambda s: True,
    "credit_card": lambda s: s.digits() >= 12,
    "us_ssn": lambda s: s.digits() >= 9,
    "phone": lambda s: s.digits() >= 6,
    "ip": lambda s: ":" in s.text or ("." in s.text and s.digits() >= 4),
}


def _digit_gate(scan: _Scan) -> bool:
    return scan.digits() > 0


@functools.lru_cache(maxsize=64)
def _builtin(name: str, regions: tuple[str, ...], tlds: frozenset[str] | None) -> _Builtin:
    return _Builtin(_builtin_find(name, regions, tlds), _NEEDS.get(name, _digit_gate))


def _builtin_find(
    name: str, regions: tuple[str, ...], tlds: frozenset[str] | None
) -> Callable[[_Scan], list[Span]]:
    if name == "email":
        return _email_finder(tlds)
    if name == "credit_card":
        return _cards
    if name == "iban":
        return _ibans
    if name == "us_ssn":
        return _ssns
    if name == "ip":
        return _ips
    if name == "phone":
        return _phone_finder(_phone_rules(regions))
    if name == "mac_address":
        return _plain(
            _regex_finder(
                r"(?<![\w:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}"
                r"[0-9A-Fa-f]{2}(?![\w:-])"
            )
        )
    if name == "url":
        return _plain(
            _regex_finder(
                r"(?<![@\w.])(?:https?://|ftp://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]",
                flags=re.I,
                check=_url_ok,
            )
        )
    if name == "crypto":
        return _plain(
            _regex_finder(
                r"(?<![A-Za-z0-9])(?:bc1[a-z0-9]{25,59}|[13][a-km-zA-HJ-NP-Z1-9]"
                r"{25,34})(?![A-Za-z0-9])",
                check=_crypto_ok,
            )
        )
    if name == "date":
        return _plain(
            _regex_finder(
                r"(?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}\.\d{1,2}\.\d{4}|"
                r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4})"
                r"(?!\d)"
            )
        )
    raise KeyError(name)


@functools.lru_cache(maxsize=16)
def _phone_rules(regions: tuple[str, ...]) -> PhoneRules:
    return PhoneRules(regions)


def _presidio_entity_finder(entity: str) -> Finder:
    """A finder that runs Presidio's pattern recognizers for ``entity`` (no NLP model)."""
    from presidio_analyzer import RecognizerRegistry

    registry = RecognizerRegistry()
    registry.load_predefined_recognizers()
    recognizers = [
        r
        for r in registry.recognizers
        if entity in r.supported_entities and r.__class__.__name__ != "SpacyRecognizer"
    ]
    if not recognizers:
        raise GuardrailConfigError(
            f"pii_type {entity!r} is not a built-in type ({', '.join(sorted(BUILTIN_TYPES))}) "
            f"nor a Presidio entity with a pattern recognizer; give a detector= for it"
        )

    def find(text: str) -> list[tuple[int, int]]:
        out = []
        for recognizer in recognizers:
            for result in recognizer.analyze(text, [entity], None):  # type: ignore[arg-type]
                if result.score >= 0.3:
                    out.append((result.start, result.end))
        return out

    return find


def _nlp_finder(entity: str, model: str) -> Finder:
    try:
        import spacy

        spacy.load(model)
    except (ImportError, OSError) as exc:
        raise GuardrailConfigError(
            f"pii_type {entity!r} needs the spaCy model {model!r}, which is not installed; "
            f"install it with: python -m spacy download {model}"
        ) from exc
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": model}],
        }
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])

    def find(text: str) -> list[tuple[int, int]]:
        return [(r.start, r.end) for r in engine.analyze(text, entities=[entity], language="en")]

    return find


def _custom_finder(name: str, detector: Any) -> Finder:
    if isinstance(detector, str):
        try:
            return _regex_finder(detector)
        except re.error as exc:
            raise GuardrailConfigError(
                f"detector for {name!r} is not a valid regex: {exc}"
            ) from exc
    if isinstance(detector, re.Pattern):
        return _regex_finder(detector.pattern, detector.flags)
    try:
        from presidio_analyzer import EntityRecognizer
    except ImportError:  # pragma: no cover
        EntityRecognizer = ()  # type: ignore[assignment,misc]
    if isinstance(detector, EntityRecognizer):
        entities = list(detector.supported_entities)

        def find_presidio(text: str) -> list[tuple[int, int]]:
            return [(r.start, r.end) for r in detector.analyze(text, entities, None)]  # type: ignore[arg-type]

        return find_presidio
    if callable(detector):

        def find_callable(text: str) -> list[tuple[int, int]]:
            out = []
            for match in detector(text):
                start, end = int(match["start"]), int(match["end"])
                if not 0 <= start < end <= len(text):
                    raise ValueError(f"detector for {name!r} returned a span outside the text")
                out.append((start, end))
            return out

        return find_callable
    if isinstance(detector, (list, tuple, set, frozenset)):
        words = sorted({str(w) for w in detector if str(w)}, key=len, reverse=True)
        if not words:
            raise GuardrailConfigError(f"the deny-list for {name!r} is empty")
        pattern = r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)"
        return _regex_finder(pattern, re.IGNORECASE)
    raise GuardrailConfigError(
        f"detector for {name!r} must be a regex string, a compiled pattern, a callable(text) -> "
        f"list[PIIMatch], a Presidio EntityRecognizer or a list of literal values; "
        f"got {type(detector).__name__}"
    )


def _cache_key(text: str) -> str | bytes:
    # long texts are kept as a 16-byte digest, not as text: the cache holds no raw document
    if len(text) <= 256:
        return text
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class _ByteLRU:
    """A least-recently-used map bounded by the bytes its keys and values take."""

    ENTRY_OVERHEAD = 120  # the dict slot, the tuple and the key object's header

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._data: OrderedDict[str | bytes, tuple[tuple[PIIMatch, ...], int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | bytes) -> tuple[PIIMatch, ...] | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            self._data.move_to_end(key)
            return hit[0]

    def put(self, key: str | bytes, value: tuple[PIIMatch, ...]) -> None:
        size = (
            self.ENTRY_OVERHEAD
            + len(key)
            + sum(self.ENTRY_OVERHEAD + 2 * len(m["value"]) for m in value)
        )
        if size > self.max_bytes // 16:
            return  # one huge result would evict everything else
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._data[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes and self._data:
                _, (_, dropped) = self._data.popitem(last=False)
                self.bytes -= dropped


@dataclass(frozen=True)
class Detector:
    """Finds the configured PII types in a text, in one pass per type, cached by content.

    The cache is bounded in bytes (``CACHE_BYTES`` per detector, counting keys, matched values
    and per-entry overhead) and keyed by the text itself (texts over 256 characters by a 16-byte
    BLAKE2b digest, so no long raw text is kept); a message already scanned costs one lookup on
    the next model call.

    Example::

        find = build_detector(["email", "phone"])
        find("mail a@b.co or call +1 415 555 0100")
    """

    finders: tuple[tuple[str, Finder], ...]

    CACHE_BYTES = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cache", _ByteLRU(self.CACHE_BYTES))

    @property
    def cache_bytes(self) -> int:
        """Bytes the detection cache holds now (at most ``CACHE_BYTES``)."""
        return self._cache.bytes  # type: ignore[attr-defined,no-any-return]

    def __call__(self, text: str) -> list[PIIMatch]:
        return list(self.matches(text))

    def matches(self, text: str) -> tuple[PIIMatch, ...]:
        """The matches of ``text`` (cached by content)."""
        cache: _ByteLRU = self._cache  # type: ignore[attr-defined]
        key = _cache_key(text)
        hit = cache.get(key)
        if hit is None:
            hit = self._scan(text)
            cache.put(key, hit)
        return hit

    def _scan(self, text: str) -> tuple[PIIMatch, ...]:
        found: list[tuple[int, int, float, str]] = []
        scan: _Scan | None = None
        for name, finder in self.finders:
            if isinstance(finder, _Builtin):
                if scan is None:
                    scan = _Scan(normalize(text), text)
                span = scan.norm.span
                for s, e, score in finder.spans(scan):
                    if score >= THRESHOLD:
                        start, end = span(s, e)
                        found.append((start, end, score, name))
            else:
                for start, end in finder(text):
                    found.append((start, end, 1.0, name))
        if not found:
            return ()
        found.sort(key=lambda f: (f[0], f[0] - f[1]))
        kept: list[tuple[int, int, float, str]] = []
        for item in found:  # sorted by start, the longest first
            if kept and item[0] < kept[-1][1]:
                last = kept[-1]
                if item[1] <= last[1]:
                    # inside the kept match: that one wins (it leaves no fragment), unless it is
                    # the same span with a higher score (a card read as a phone)
                    if item[:2] == last[:2] and item[2] > last[2]:
                        kept[-1] = item
                elif item[2] > last[2]:  # a partial overlap: the higher score
                    kept[-1] = item
                continue
            kept.append(item)
        return tuple(PIIMatch(type=name, value=text[s:e], start=s, end=e) for s, e, _, name in kept)

    _cached = _scan  # the uncached scan (benchmarks measure detection, not the cache)


def _email_tlds(value: object) -> frozenset[str] | None:
    if value is None:
        return DEFAULT_EMAIL_TLDS
    if value == "any":
        return None
    if value == "public":
        return frozenset()
    if (
        isinstance(value, str)
        or not isinstance(value, Iterable)
        or not all(isinstance(v, str) for v in value)
    ):
        raise GuardrailConfigError(
            "email_tlds must be 'public' (the public suffix list only), 'any' (every alphabetic "
            f"top-level domain) or a list of extra top-level domains, got {value!r}"
        )
    return frozenset(v.lower().lstrip(".") for v in value)


def build_detector(
    pii_types: str | Sequence[str],
    detector: Any = None,
    nlp_model: str | None = None,
    *,
    regions: Sequence[str] | None = None,
    email_tlds: str | Iterable[str] | None = None,
) -> Detector:
    """Compile the finders for ``pii_types`` once (a custom ``detector`` needs one type name).

    ``regions``: the regions whose national phone formats are recognised (default
    :data:`DEFAULT_REGIONS`). ``email_tlds``: top-level domains accepted in emails besides the
    public suffix list (default :data:`DEFAULT_EMAIL_TLDS`; ``"public"`` for none, ``"any"`` to
    accept every alphabetic one).

    Example::

        find = build_detector(["email", "phone"], regions=["GB", "FR"])
        find("mail a@b.co or call 020 7946 0958")
    """
    names = [pii_types] if isinstance(pii_types, str) else list(pii_types)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise GuardrailConfigError(
            f"pii_type must be a type name or a list of them, got {pii_types!r}"
        )
    if detector is not None and len(names) != 1:
        raise GuardrailConfigError("detector= applies to exactly one pii_type")
    region_codes = validate_regions(regions)
    tlds = _email_tlds(email_tlds)
    finders: list[tuple[str, Finder]] = []
    for name in names:
        if detector is not None:
            finders.append((name, _custom_finder(name, detector)))
        elif name in _NLP_TYPES:
            if nlp_model is None:
                raise GuardrailConfigError(
                    f"pii_type {name!r} needs an NLP model: pass nlp_model='en_core_web_sm' "
                    "(install it with: python -m spacy download en_core_web_sm)"
                )
            finders.append((name, _nlp_finder(BUILTIN_TYPES.get(name, name), nlp_model)))
        elif name in BUILTIN_TYPES:
            finders.append((name, _builtin(name, region_codes, tlds)))
        else:
            finders.append((name, _presidio_entity_finder(name)))
    if detector is None and "email" in names and tlds:
        _tld()  # load the suffix list now, not on the first message
    return Detector(tuple(finders))


def detect(
    text: str,
    pii_types: str | Iterable[str],
    *,
    regions: Sequence[str] | None = None,
    email_tlds: str | Iterable[str] | None = None,
) -> list[PIIMatch]:
    """Find PII in ``text``: the same detection :class:`~guardrails.pii.PIIMiddleware` uses.

    Example::

        detect("write to jane@example.com", ["email", "phone"])
        # [{"type": "email", "value": "jane@example.com", "start": 9, "end": 25}]
    """
    key = (pii_types,) if isinstance(pii_types, str) else tuple(pii_types)
    regions_key = None if regions is None else tuple(regions)
    tlds_key = (
        email_tlds if email_tlds is None or isinstance(email_tlds, str) else tuple(email_tlds)
    )
    return _shared_detector(key, regions_key, tlds_key)(text)


@functools.lru_cache(maxsize=64)
def _shared_detector(
    names: tuple[str, ...], regions: tuple[str, ...] | None, tlds: Any
) -> Detector:
    return build_detector(list(names), regions=regions, email_tlds=tlds)
