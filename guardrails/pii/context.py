"""What every built-in finder shares: the scoring constants, context and negative words, and
``_Scan``, one text being scanned (its normalized form and cheap look-ups by position).

A candidate a validator accepts scores high enough on its own; a context word of its type
(``CONTEXT_WORDS``) within ``CONTEXT_BEFORE`` characters before it or ``CONTEXT_AFTER`` after it
(or in the header line of a table-like text) adds ``CONTEXT_BOOST``; a candidate is reported when
its score reaches ``THRESHOLD``. ``NEGATIVE_WORDS`` right before a number say it is something
else (an order, an amount, a version).
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from guardrails.pii.finders.spaceless import SPACELESS
from guardrails.pii.normalize import Normalized, ascii_digits, normalize

Finder = Callable[[str], list[tuple[int, int]]]
Span = tuple[int, int, float]

#: characters of context read before a candidate, and after it
CONTEXT_BEFORE = 48
CONTEXT_AFTER = 24
#: what a context word of the candidate's type adds to its score
CONTEXT_BOOST = 0.35
#: what a candidate must score to be reported
THRESHOLD = 0.5

#: Context words per type (lower case). A word stands alone: no letter of a script written with
#: spaces glued to it on either side (``hotel`` holds no ``tel``, ``отель`` no ``тел``); words of
#: scripts written without spaces (電話, 전화) match anywhere, and a Hebrew word may carry its
#: one-letter prefixes (``בטלפון``) and a Cyrillic word of five letters or more its endings
#: (``телефонный``, see _stem).
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
        "teléf",
        "tfno",
        "tlf",
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
        "телефона",
        "телефону",
        "телефоном",
        "телефоне",
        "телефоны",
        "тел",
        "טלפון",
        "נייד",
        "फ़ोन",
        "मोबाइल",
        # Dutch, Polish, Czech, Turkish (their endings: _ENDINGS)
        "telefoon",
        "mobiel",
        "gsm",
        "komórka",
        "komórki",
        "komórkę",
        "komórkowy",
        "telefony",
        "festnetz",
        "smartphone",
        "cellular",
        # Greek: the accent moves as the word is declined, so each form is listed
        "τηλέφωνο",
        "τηλέφωνα",
        "τηλεφώνου",
        "τηλεφώνων",
        "τηλ",
        "κινητό",
        "κινητού",
        "κινητά",
        # Arabic and Persian (their prefixes and suffixes: _ARABIC_PREFIXES, _ARABIC_SUFFIXES)
        "هاتف",
        "جوال",
        "تلفون",
        "موبايل",
        "محمول",
        "تلفن",
        "موبایل",
        "تماس",
        # Korean, Chinese (traditional)
        "휴대폰",
        "핸드폰",
        "手機",
        # Portuguese (Portugal), Russian (``моб.`` only with its dot: ``моб`` is slang for a mob)
        "telemóvel",
        "telemovel",
        "telemóveis",
        "telemoveis",
        "сотовый",
        "сотового",
        "мобильный",
        "мобильного",
        "моб.",
        # Indonesian, Malay: ``hp`` (handphone) only after ``no`` (``hp`` alone is a brand)
        "telp",
        "telepon",
        "no hp",
        "no. hp",
        "nomor hp",
        "ponsel",
        # Vietnamese, with and without its marks (``điện`` alone is electricity)
        "sđt",
        "sdt",
        "số điện thoại",
        "so dien thoai",
        "điện thoại",
        "dien thoai",
        # Finnish, Thai, Bengali, Urdu, and the GSM subscriber number (Hungarian ``telefonszám``,
        # ``mobilszáma``: telefon and mobil with szám of KEY_WORDS)
        "puhelin",
        "puhelinnumero",
        "matkapuhelin",
        "โทรศัพท์",
        "เบอร์โทร",
        "ফোন",
        "মোবাইল",
        "فون",
        "موبائل",
        "msisdn",
        # Finnish: the abbreviation (with its dot: ``puh`` alone is an interjection) and the
        # stem the case forms are written on (``puhelimeen``, ``puhelimella``: _OPEN_STEMS);
        # Thai ``โทร`` (call), not followed by a Thai letter (``โทรทัศน์`` is a television:
        # _SPACELESS_PREFIXES); Urdu ``ٹیلیفون``
        "puh.",
        "puhelim",
        "matkapuhelim",
        "โทร",
        "โทรสาร",
        "ٹیلیفون",
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
        "карты",
        "карту",
        "картой",
        "карте",
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
        "taxpayer id",
        "tax id",
        "ssn id",
        "tax identification",
        "tin",
        "itin",
        # other countries' social insurance / security numbers, the same kind of national id
        # (Canada's ``numéro d'assurance sociale``: never a phone's ``numéro``, _NOT_CONTEXT)
        "social insurance",
        "assurance sociale",
        "sécurité sociale",
        "seguridad social",
        "segurança social",
        "previdenza sociale",
    ),
}


def _glued_phrases(words: tuple[str, ...]) -> tuple[str, ...]:
    """The words, and each phrase of letters also written as one word (``soc sec`` as
    ``socsec``, ``tax id`` as ``taxid``: a key or a label written without spaces)."""
    glued = [w.replace(" ", "") for w in words if " " in w and w.replace(" ", "").isalpha()]
    return words + tuple(g for g in glued if g not in words)


CONTEXT_WORDS = {kind: _glued_phrases(words) for kind, words in CONTEXT_WORDS.items()}


#: Words that make up a field's name together with a context word, written glued to it
#: (``homephone``, ``PHONENUMBER``, ``Handynummer``, ``telefoonnummer``, ``phonenr``): a context
#: word glued to letters is still a word when those letters are made of these words and
#: context words only (``hotel`` is not: ``ho`` is no such word). Lower case.
def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


KEY_WORDS = _word_set(
    """
    home work office business mobile cell main primary secondary alt alternate alternative
    other contact customer client user patient member employee emergency personal private
    direct day night evening daytime billing shipping company number numbers num no nr nbr
    id my your guardian parent owner
    nummer nummern privat geschäftlich dienstlich kontakt kunden haupt büro firma
    privé werk vast numéro numéros domicile travail fixe perso bureau
    número números numero numeri casa trabajo fijo contacto contato trabalho lavoro ufficio fisso
    numer domowy służbowy kontaktowy číslo cep ev iş numara numarası numarasi
    szám száma számom számot nomor
    tax
    """
)
#: endings a Latin-script context word may carry: a plural ``s`` / ``es`` after five letters or
#: more (``teléfonos``, ``telefones``, ``contacts``); these plurals and case endings after seven
#: or more (``telefoni``, ``Telefonnummern``, Polish ``numer telefonu``, Czech ``telefonní``,
#: Turkish ``cep telefonu``, ``telefonlar``): a shorter word with one is another word
#: (``mobilen``, ``phoneme``)
_PLURALS = frozenset(("s", "es"))
_LONG_STEM = 7
_ENDINGS = _word_set(
    "s es e i n en ern u um un unuz umuz ní ního ním em ie ów om ach ami lar ları ler leri"
)
#: Arabic and Persian: what is written against a word (the article, and, by, for; my, your,
#: his, plurals)
_ARABIC_PREFIXES = _word_set("ال وال بال فال كال لل و ب ل ف")
_ARABIC_SUFFIXES = _word_set("ي ك ه ها نا كم هم ات ان ين م ت ش ی های مان تان شان")
#: Finnish writes a word's case and possessive endings against its stem (``puhelimeen``, to
#: the phone; ``puhelinnumeroni``, my phone number): a context word that starts with one of
#: these takes any ending
_OPEN_STEMS = ("puhelin", "puhelim", "matkapuhelin", "matkapuhelim")
#: words of a script written without spaces that begin other words of that script: followed by
#: a letter of it, they are that other word (Thai ``โทร``, call, begins ``โทรทัศน์``, television)
_SPACELESS_PREFIXES = frozenset({"โทร"})
#: Phrases that hold a context word of a type but name something else, per type: a phone's
#: ``numéro`` / ``número`` / ``numero`` before social insurance or security (a national id,
#: an SSN-like context: CONTEXT_WORDS["us_ssn"]). Matched on the lower case text at a context
#: word's start; bounded quantifiers only (linear).
_NOT_CONTEXT: dict[str, re.Pattern[str]] = {
    "phone": re.compile(
        r"n[uú]m[eé]ro\W{1,3}(?:(?:de|di|da|do|del)\W{1,3}|d\W{0,3})?(?:(?:la|l)\W{1,3})?"
        r"(?:assurance|s[eé]curit[eé]|seguridad|seguran[çc]a|sicurezza|previdenza)\W{1,3}social"
    ),
}
#: the longest run of letters read as one field name (``homePhoneNumber``)
_RUN_CHARS = 40

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
    """The words as one pattern that matches, at each position, the longest word there (what
    an alternation sorted longest first matches), written as a trie: the engine reads each
    character once instead of trying every word in turn. Whole-word checks for ASCII words are
    done on each hit (see _standalone)."""
    # as the text is read: normalized and lower case ("फ़ोन" is written "फोन" there)
    return re.compile(_trie(sorted({normalize(w).text.lower() for w in words})))


def _trie(words: list[str]) -> str:
    tree: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = tree
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def alternation(node: dict) -> str:  # type: ignore[type-arg]
        # longer words first: a greedy optional tail tries the longer word before the shorter
        alts = [re.escape(ch) + alternation(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            return "(?:" + body + ")?" if len(alts) == 1 else body + "?"
        return body

    return alternation(tree)


#: a letter of a script written without spaces between words (Han, Kana, Hangul, Thai...)
_SPACELESS_CHAR = re.compile(f"[{SPACELESS}]")
#: Hebrew's one-letter prefixes (and, the, in, as, to, from, that), written against the word
_HEBREW_PREFIXES = frozenset("\u05d5\u05d4\u05d1\u05db\u05dc\u05de\u05e9")


def glued(ch: str) -> bool:
    """``ch`` makes a word longer: a letter or a combining mark of a script written with spaces
    between words (``o`` of ``hotel``, ``ô`` of ``hôtel``, ``о`` of ``отель``). A letter of a
    script written without spaces (``電話番号``) is a boundary, like a space; so are digits,
    ``_`` and punctuation."""
    if ch.isascii():
        return ch.isalpha()
    return (ch.isalpha() or unicodedata.category(ch)[0] == "M") and not _SPACELESS_CHAR.match(ch)


#: the shortest Cyrillic word that may carry an ending (``тел`` may not: ``тело``, ``телега``)
_STEM_CHARS = 5


def _stem(text: str, start: int, end: int) -> bool:
    """A Cyrillic word of at least :data:`_STEM_CHARS` letters: Slavic languages decline by
    endings written against the word (``телефонный номер``, ``телефонам``, Bulgarian
    ``Телефонен номер``, ``картах``), so what follows it does not make it another word; what
    comes before still does (``Отель`` holds no ``тел``)."""
    return end - start >= _STEM_CHARS and "\u0400" <= text[start] <= "\u04ff"


def _standalone(text: str, start: int, end: int) -> bool:
    """A word at ``[start, end)`` not glued to other letters (:func:`glued`) on either side; a
    word of a script written without spaces stands anywhere, and a Hebrew word may carry its
    one-letter prefixes (``בטלפון``, by phone)."""
    first = text[start]
    if not first.isascii() and _SPACELESS_CHAR.match(first):
        return True
    if end < len(text) and glued(text[end]) and not _stem(text, start, end):
        return False
    k = start - 1
    if "\u0590" <= first <= "\u05ff":
        while k >= 0 and start - k <= 3 and text[k] in _HEBREW_PREFIXES:
            k -= 1
    return k < 0 or not glued(text[k])


def _same_script(first: str, ch: str) -> bool:
    """``ch`` is a letter or a mark of the block ``first`` is in (Thai: U+0E00-U+0E7F)."""
    return ord(first) >> 7 == ord(ch) >> 7 and (ch.isalpha() or unicodedata.category(ch)[0] == "M")


def _humped(text: str, lower: str, start: int, end: int) -> bool:
    """The word at ``[start, end)`` is a standalone word, or a part of a camelCase or
    snake_case name (``phoneNumber``, ``customerPhone``, ``social_security``)."""
    if _standalone(lower, start, end):
        return True
    before = start and text[start - 1]
    after = end < len(text) and text[end]
    head = not before or not before.isalpha() or (text[start].isupper() and before.islower())
    tail = not after or not after.isalpha() or (after.isupper() and text[end - 1].islower())
    return bool(head and tail)


def _is_latin(ch: str) -> bool:
    return ch.isascii() or "\u00c0" <= ch <= "\u024f"


@functools.lru_cache(maxsize=4096)
def _known(part: str, ending: bool, shortest: int = 2) -> bool:
    """``part`` is made of :data:`KEY_WORDS` and context words only (``home``, ``number``,
    ``nummer``) of ``shortest`` letters or more; with ``ending``, the last of them may carry a
    plural ``s`` / ``es``."""
    n = len(part)
    ok = [True] + [False] * n
    for i in range(n):
        if ok[i]:
            for j in range(i + shortest, min(n, i + _LONGEST_PIECE) + 1):
                if part[i:j] in _PIECES:
                    ok[j] = True
    return ok[n] or (ending and any(ok[i] and part[i:] in _PLURALS for i in range(2, n)))


def _run(lower: str, start: int, end: int, last: list[int] | None = None) -> tuple[int, int]:
    """The run of letters (:func:`glued`) around ``[start, end)``. ``last``: the run found for
    the hit before (hits come in order, runs do not overlap: each letter is read once)."""
    if last is not None and last[0] <= start and end <= last[1]:
        return last[0], last[1]
    a, b, n = start, end, len(lower)
    while a > 0 and glued(lower[a - 1]):
        a -= 1
    while b < n and glued(lower[b]):
        b += 1
    if last is not None:
        last[:] = [a, b]
    return a, b


def _compound(lower: str, start: int, end: int, last: list[int] | None = None) -> bool:
    """The word at ``[start, end)`` is glued to letters that are words of a field's name
    (``homephone``, ``PHONENUMBER``, ``Handynummer``) or an ending of its language
    (``teléfonos``, ``telefonu``, Arabic ``الهاتف``, Persian ``تلفنم``): a word still.

    A word of fewer than four letters (``tel``, ``fax``, ``pan``) glued after letters is part
    of them, and glued before letters it takes words of three letters or more only
    (``telnum``; Italian ``panno`` is no ``pan no``); a run of more than ``_RUN_CHARS`` letters
    is no name."""
    a, b = _run(lower, start, end, last)
    if b - a > _RUN_CHARS:
        return False
    left, right = lower[a:start], lower[end:b]
    first = lower[start]
    if "\u0600" <= first <= "\u06ff":
        return (not left or left in _ARABIC_PREFIXES) and (not right or right in _ARABIC_SUFFIXES)
    n = end - start
    if left and (n < 4 or not _known(left, False)):
        return False
    if not right or _known(right, True, 2 if n >= 4 else 3):
        return True
    if not left and lower.startswith(_OPEN_STEMS, start, end):
        return True  # a Finnish case or possessive ending
    latin = _is_latin(first)
    return latin and (
        (n >= _STEM_CHARS and right in _PLURALS) or (n >= _LONG_STEM and right in _ENDINGS)
    )


def _word(text: str, lower: str, start: int, end: int, last: list[int] | None = None) -> bool:
    """A context or negative word found at ``[start, end)`` of ``lower`` stands for itself:
    alone, in a camelCase / snake_case name, or glued to words of a name or to an ending; a
    word of :data:`_SPACELESS_PREFIXES` not followed by a letter of its script."""
    if end < len(lower) and lower[start:end] in _SPACELESS_PREFIXES:
        return not _same_script(lower[start], lower[end])
    return _humped(text, lower, start, end) or _compound(lower, start, end, last)


_SPLIT = re.compile(r"[^\w]+|_+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_FIELDS: dict[str, str | None] = {}
_FIELD_CHARS = 64


def field_context(key: str) -> str | None:
    """The name of a field as the context of the values under it: ``"phone number: "`` for
    ``phoneNumber`` / ``phone_number`` when the name holds a context word of any type
    (in any language the words cover), else ``None`` (the name adds nothing). The name's
    negative words come along (``contact id: `` rules a number out as a phone)."""
    hit = _FIELDS.get(key, "")
    if hit != "":
        return hit
    words = " ".join(w for w in _SPLIT.split(key[:_FIELD_CHARS]) if w).lower()
    found = any(
        _word(words, words, m.start(), m.end())
        for pattern in _CONTEXT_RES.values()
        for m in pattern.finditer(words)
    )
    out = f"{words}: " if found else None
    if len(key) > _FIELD_CHARS:  # (a long key is scanned text: the memo never keeps one)
        return out
    if len(_FIELDS) > 4096:
        _FIELDS.clear()
    _FIELDS[key] = out
    return out


def _word_search(pattern: re.Pattern[str], text: str, kind: str | None = None) -> bool:
    other = _NOT_CONTEXT.get(kind) if kind is not None else None
    return any(
        _word(text, text, m.start(), m.end())
        and (other is None or other.match(text, m.start()) is None)
        for m in pattern.finditer(text)
    )


_CONTEXT_RES = {kind: _word_regex(words) for kind, words in CONTEXT_WORDS.items()}
#: what a field's name may be made of (see _compound)
_PIECES = frozenset(
    {normalize(w).text.lower() for w in KEY_WORDS}
    | {
        normalize(w).text.lower()
        for words in CONTEXT_WORDS.values()
        for w in words
        if w.isalpha() and not _SPACELESS_CHAR.match(w[0])
    }
)
_LONGEST_PIECE = max(map(len, _PIECES))
_NEGATIVE_WORD_RE = _word_regex(NEGATIVE_WORDS)
_NEGATIVE_GAP = re.compile(r"[\s#:.\-]*(?:number|no\.?|nr\.?|num|#|id)?[\s#:.\-]*")
_CURRENCY_BEFORE = re.compile(r"[$€£¥₹]\s?$|\b(?:usd|eur|gbp|chf|jpy|inr|aud|cad)\s?$", re.I)
#: digit runs, as the finders split a candidate into its groups
_GROUP = re.compile(ascii_digits(r"\d+"))
#: right before a number: the tail of an account number or IBAN ("DE89 3704 0044 0532 0130 00")
_ID_BEFORE = re.compile(
    ascii_digits(r"(?:[A-Za-z]{2}\d{2}(?: [A-Za-z0-9]{4})*|[A-Za-z0-9]*\d[A-Za-z0-9]*) $")
)
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "


def id_before(text: str, lo: int, hi: int) -> re.Match[str] | None:
    """``_ID_BEFORE.search(text, lo, hi)``, tried only where it can match: every match ends
    with a space right at ``hi`` and holds only ASCII letters, digits and spaces (in an ASCII
    stretch), so it starts in the run of those that ends at ``hi`` (stripped in C), and the
    search starts there instead of trying each of up to 40 positions."""
    if hi <= lo:
        return None  # nothing to match: the pattern needs a space
    last = text[hi - 1]
    if last != " ":
        # ``$`` matches at ``hi``, or before a line break there: the space must come first
        return _ID_BEFORE.search(text, lo, hi) if last == "\n" else None
    stretch = text[lo:hi]
    if not stretch.isascii():  # \d also matches the digits of other scripts
        return _ID_BEFORE.search(text, lo, hi)
    return _ID_BEFORE.search(text, lo + len(stretch.rstrip(_ID_CHARS)), hi)


class _Scan:
    """One text being scanned: the normalized text and cheap context look-ups.

    Context and negative words are found once per text (on first use) and looked up by
    position, so a text with many candidates costs one pass per word list.
    """

    __slots__ = ("_digits", "_header", "_hits", "_run", "norm", "original", "secrets", "text")

    def __init__(self, norm: Normalized, original: str) -> None:
        self.norm = norm
        self.text = norm.text
        self.original = original
        self._header: tuple[int, str] | None = None
        self._hits: dict[str, list[int]] = {}
        self._digits = -1
        self._run = -1
        #: the secrets in the text, once searched (guardrails.pii.finders.secrets.scan_secrets)
        self.secrets: list[Any] | None = None

    def digits(self) -> int:
        """How many ASCII digits the normalized text holds (a cheap gate for the finders)."""
        if self._digits < 0:
            self._measure()
        return self._digits

    def run_digits(self) -> int:
        """The most digits one run of digits and number separators holds (a phone, card or SSN
        candidate lies inside one such run, so it holds no more digits)."""
        if self._run < 0:
            self._measure()
        return self._run

    def _measure(self) -> None:
        """:meth:`digits` and :meth:`run_digits` in one pass in C: the text's bytes with the
        separators deleted and every other byte but a digit made a space, split on spaces,
        leaves the digits of each run (a digit of the normalized text is an ASCII one)."""
        runs = self.text.encode("utf-8", "surrogatepass").translate(_DIGIT_BYTES, _SEPARATORS)
        parts = runs.split()
        if parts:
            self._digits = len(runs) - runs.count(b" ")
            self._run = max(map(len, parts))
        else:
            self._digits = self._run = 0

    def any_digit(self) -> bool:
        """Whether the normalized text holds an ASCII digit (cheaper than :meth:`digits`)."""
        if self._digits < 0:
            return _has_digit(self.text)
        return self._digits > 0

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
            text = self.text
            lower = text.lower()
            if len(lower) != len(text):  # a few characters change length when lowered
                lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
            if "_" in lower:  # snake_case names: "social_security_number: ..."
                lower = lower.replace("_", " ")
            last = [0, 0]
            other = _NOT_CONTEXT.get(key.rstrip(">"))
            hits = [
                m.end() if at_end else m.start()
                for m in pattern.finditer(lower)
                if _word(text, lower, m.start(), m.end(), last)
                and (other is None or other.match(lower, m.start()) is None)
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
        return cut >= 0 and start > cut and _word_search(_CONTEXT_RES[kind], first, kind)

    def negative(self, start: int, kind: str | None = None) -> bool:
        """The words right before ``start`` say the number is an id, an amount, a version...
        unless the word ends a context phrase of ``kind`` (``tax id``, ``taxpayerId``)."""
        hits = self._positions("-", _NEGATIVE_WORD_RE, at_end=True)
        i = bisect.bisect_right(hits, start) - 1
        if i >= 0 and kind is not None and hits[i] >= start - 20:
            ends = self._positions(kind + ">", _CONTEXT_RES[kind], at_end=True)
            at = bisect.bisect_left(ends, hits[i])
            if at < len(ends) and ends[at] == hits[i]:
                i = -1  # "tax id": the phrase says what the number is
        if i >= 0 and hits[i] >= start - 20:
            gap = self.text[hits[i] : start]
            if _NEGATIVE_GAP.fullmatch(gap.lower()):
                return True
        return bool(_CURRENCY_BEFORE.search(self.text[max(0, start - 6) : start]))

    def original_char(self, index: int) -> str:
        start, end = self.norm.span(index, index + 1)
        return self.original[start:end]


class _Builtin:
    """A built-in type: finds scored spans in the normalized text. ``secret``: for a secret
    type, which of the secrets found in the text are of this type (a detector searches the text
    for secrets once, for all its secret types)."""

    def __init__(
        self,
        find: Callable[[_Scan], list[Span]],
        needs: Callable[[_Scan], bool],
        secret: Callable[[Any], bool] | None = None,
    ) -> None:
        self.find = find
        self.needs = needs
        self.secret = secret

    def spans(self, scan: _Scan) -> list[Span]:
        return self.find(scan) if self.needs(scan) else []

    def __call__(self, text: str) -> list[tuple[int, int]]:
        """Accepted spans of ``text`` (original offsets), for use as a plain finder."""
        norm = normalize(text)
        scan = _Scan(norm, text)
        return [norm.span(s, e) for s, e, score in self.spans(scan) if score >= THRESHOLD]


_DIGITS = frozenset("0123456789")
#: every byte but an ASCII digit made a space
_DIGIT_BYTES = bytes(c if 48 <= c <= 57 else 32 for c in range(256))
#: the separators numbers are written with: every character but a digit a phone, card or SSN
#: candidate can hold ("+", "(", ")", spaces, tabs, line breaks, "-", ".", "/")
_SEPARATORS = b" \t\r\n().-/+"


def _has_digit(text: str) -> bool:
    return not _DIGITS.isdisjoint(text)


def _regex_finder(
    pattern: str | re.Pattern[str],
    flags: int = 0,
    group: int = 0,
    check: Callable[[str], bool] | None = None,
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
