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

Where things are: the scoring constants, context words and the per-text ``_Scan`` in
:mod:`guardrails.pii.context`; one module per family of types in ``guardrails.pii.finders``
(``cards``, ``iban``, ``ssn``, ``phone``, ``net`` for email / IP / MAC / URL / crypto,
``custom`` for ``detector=``, Presidio entities and NLP types); text normalization in
:mod:`guardrails.pii.normalize`, phone metadata per region in :mod:`guardrails.pii.phones`, the
byte-bounded result cache in :mod:`guardrails.pii.cache`. This module holds the type table,
:class:`Detector`, :func:`build_detector` and :func:`detect`, and re-exports the names above that
were always importable from here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from guardrails.errors import GuardrailConfigError
from guardrails.pii.cache import _ByteLRU, _cache_key

# a name imported `as` itself moved to another module and stays importable from here
from guardrails.pii.context import (
    CONTEXT_AFTER,
    CONTEXT_BEFORE,
    CONTEXT_BOOST,
    CONTEXT_WORDS,
    THRESHOLD,
    Finder,
    _Builtin,
    _plain,
    _regex_finder,
    _Scan,
)
from guardrails.pii.context import (
    NEGATIVE_WORDS as NEGATIVE_WORDS,
)
from guardrails.pii.context import (
    Span as Span,
)
from guardrails.pii.finders.cards import _cards
from guardrails.pii.finders.cards import luhn_ok as luhn_ok
from guardrails.pii.finders.custom import _custom_finder, _nlp_finder, _presidio_entity_finder
from guardrails.pii.finders.iban import _ibans
from guardrails.pii.finders.iban import iban_ok as iban_ok
from guardrails.pii.finders.net import (
    DEFAULT_EMAIL_TLDS,
    _cryptos,
    _email_finder,
    _email_tlds,
    _ips,
    _macs,
    _urls,
    suffix_labels,
)
from guardrails.pii.finders.net import (
    _tld as _tld,
)
from guardrails.pii.finders.phone import _phone_finder
from guardrails.pii.finders.secrets import (
    SECRET_TYPES,
    Secret,
    has_secrets,
    scan_secrets,
    secret_filter,
    secret_finder,
)
from guardrails.pii.finders.ssn import _ssns
from guardrails.pii.finders.ssn import ssn_ok as ssn_ok
from guardrails.pii.normalize import ascii_digits, controls_as_spaces, normalize
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
    **SECRET_TYPES,  # secret, api_key, private_key, jwt, password, ... (finders/secrets.py)
}
_NLP_TYPES = {"person", "location", "PERSON", "LOCATION", "NRP", "ORGANIZATION"}

_WWW = re.compile(r"[wW][wW][wW]\.")  # "www." as the URL pattern reads it (any case)


def _has_w_dot(text: str) -> bool:
    """What "www." in any case ends with: two substring tests in C settle most texts."""
    return "w." in text or "W." in text


#: What a text must hold for a type's pattern to match anywhere in it: each gate is implied by
#: the pattern (a literal it always contains, a count of digits or separators it cannot do
#: without), so skipping a text that fails it drops nothing. tests/test_pii_fast_patterns.py
#: checks every match of every finder passes its gate.
_NEEDS: dict[str, Callable[[_Scan], bool]] = {
    "email": lambda s: "@" in s.text,
    "url": lambda s: "://" in s.text or (_has_w_dot(s.text) and _WWW.search(s.text) is not None),
    "mac_address": lambda s: s.text.count(":") >= 5 or s.text.count("-") >= 5,
    # the two check digits, side by side or one separator apart: a BBAN may be all letters
    "iban": lambda s: s.run_digits() >= 2,
    "crypto": lambda s: s.any_digit(),  # "1", "3" or "bc1" starts every address read
    # a card, an SSN, a phone number: 12, 9, 6 digits in one run of digits and separators
    "credit_card": lambda s: s.run_digits() >= 12,
    "us_ssn": lambda s: s.run_digits() >= 9,
    "phone": lambda s: s.run_digits() >= 6,
    # an IPv4 address: four digits in one run of digits and dots at least
    "ip": lambda s: (s.text.count(".") >= 3 and s.run_digits() >= 4) or s.text.count(":") >= 2,
    # "2024-01-31", "1/2/24", "31.12.2023": 4 digits or more in one run; "Jan 5, 2024" has 4
    "date": lambda s: s.run_digits() >= 4,
    **{name: has_secrets for name in SECRET_TYPES},
}


# (?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}\.\d{1,2}\.\d{4}|(?:Jan|...|Dec)
# [a-z]*\.? \d{1,2},? \d{4})(?!\d), written first character first so the regex engine skips to
# the characters that can start a date, each month's other letters first (a branch that starts
# with a letter is skipped on one comparison: a capital that starts no month costs a few)
# (tests/test_pii_fast_patterns.py holds it to that form)
_DATE = re.compile(
    ascii_digits(
        r"[\dJFMASOND](?<!\d[\s\S])(?:(?<=\d)(?:\d{3}-\d{2}-\d{2}|\d?/\d{1,2}/\d{2,4}|"
        r"\d?\.\d{1,2}\.\d{4})|(?:a(?:n(?<=Jan)|r(?<=Mar)|y(?<=May))|e(?:b(?<=Feb)|p(?<=Sep)|"
        r"c(?<=Dec))|u(?:n(?<=Jun)|l(?<=Jul)|g(?<=Aug))|pr(?<=Apr)|ct(?<=Oct)|ov(?<=Nov))"
        r"[a-z]*\.? \d{1,2},? \d{4})(?!\d)"
    )
)


def _digit_gate(scan: _Scan) -> bool:
    return scan.digits() > 0


@functools.lru_cache(maxsize=64)
def _builtin(name: str, regions: tuple[str, ...], tlds: frozenset[str] | None) -> _Builtin:
    return _Builtin(
        _builtin_find(name, regions, tlds),
        _NEEDS.get(name, _digit_gate),
        secret_filter(name) if name in SECRET_TYPES else None,
    )


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
        return _macs
    if name == "url":
        return _urls
    if name == "crypto":
        return _cryptos
    if name in SECRET_TYPES:
        return secret_finder(name)
    if name == "date":
        return _plain(_regex_finder(_DATE))
    raise KeyError(name)


@functools.lru_cache(maxsize=16)
def _phone_rules(regions: tuple[str, ...]) -> PhoneRules:
    return PhoneRules(regions)


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
        plan = _plan(self.finders)
        object.__setattr__(self, "_plan", plan)
        object.__setattr__(self, "_inline", _inline_plan(plan))

    @property
    def cache_bytes(self) -> int:
        """Bytes the detection cache holds now (at most ``CACHE_BYTES``)."""
        return self._cache.bytes  # type: ignore[attr-defined,no-any-return]

    def __call__(self, text: str) -> list[PIIMatch]:
        """The matches of ``text``: new dicts on every call, so a caller that edits them
        (``m["value"] = ...``, ``del m["start"]``) never changes what the cache answers next."""
        return [m.copy() for m in self.matches(text)]

    def matches(self, text: str) -> tuple[PIIMatch, ...]:
        """The matches of ``text`` (cached by content): the cache's own dicts, read-only (call
        the detector for copies a caller may edit)."""
        cache: _ByteLRU = self._cache  # type: ignore[attr-defined]
        key = _cache_key(text)
        hit = cache.get(key)
        if hit is None:
            hit = self._scan(text)
            cache.put(key, hit)
        return hit

    def steps(self, text: str) -> Generator[None, None, tuple[PIIMatch, ...]]:
        """:meth:`matches` one step at a time: yields after each type's finder (the secret
        types share one step: one search finds them all), so an async caller can give the event
        loop a turn; returns the same matches (cached alike)."""
        cache: _ByteLRU = self._cache  # type: ignore[attr-defined]
        key = _cache_key(text)
        hit = cache.get(key)
        if hit is not None:
            return hit
        found: list[_Found] = []
        scan: _Scan | None = None
        for step in self._plan:  # type: ignore[attr-defined]
            scan = _run(step, text, scan, found)
            yield None
        alt = _controls_reading(text, scan)
        if alt is not None:
            for step in self._plan:  # type: ignore[attr-defined]
                if step[0] != _PLAIN:
                    _run(step, text, alt, found)
                    yield None
        hit = _resolve(text, found)
        cache.put(key, hit)
        return hit

    def _scan(self, text: str) -> tuple[PIIMatch, ...]:
        # what _run does step by step, with the built-in steps inlined (the loop runs once per
        # type per text: its overhead is a fair part of scanning a short text, so it is two
        # lines per built-in type: see _inline_plan)
        found: list[_Found] = []
        steps, normalized = self._inline  # type: ignore[attr-defined]
        scan = _Scan(normalize(text), text) if normalized else None
        for needs, find, name, order in steps:
            if needs is None:  # the secret types' shared step, a plain finder
                _run(find, text, scan, found)
            elif needs(scan) and (spans := find(scan)):
                assert scan is not None  # a built-in step: normalized is true
                span = scan.norm.span
                for s, e, score in spans:
                    if score >= THRESHOLD:
                        start, end = span(s, e)
                        found.append((start, end, score, name, order))
        alt = _controls_reading(text, scan)
        if alt is not None:
            for step in self._plan:  # type: ignore[attr-defined]
                if step[0] != _PLAIN:
                    _run(step, text, alt, found)
        return _resolve(text, found) if found else ()

    _cached = _scan  # the uncached scan (benchmarks measure detection, not the cache)


#: an accepted span: start, end (original offsets), score, type name, the type's place in the
#: detector's list (ties between equal spans go to the type listed first, whatever step ran first)
_Found = tuple[int, int, float, str, int]
#: a step of a detector's plan: (_BUILTIN, order, name, _Builtin), (_PLAIN, order, name, a plain
#: finder: custom, Presidio, NLP) or (_SECRETS, ((order, name, filter), ...)): the secret types
#: together (one search of the text serves every one of them)
_Step = tuple[Any, ...]
_BUILTIN, _PLAIN, _SECRETS = 0, 1, 2


def _plan(finders: tuple[tuple[str, Finder], ...]) -> tuple[_Step, ...]:
    """The steps that run the ``finders``: one each, but the secret types share one step at the
    place of the first of them."""
    steps: list[_Step | None] = []
    secret: list[tuple[int, str, Callable[[Secret], bool]]] = []
    for order, (name, finder) in enumerate(finders):
        if isinstance(finder, _Builtin) and finder.secret is not None:
            if not secret:
                steps.append(None)  # the shared step goes here
            secret.append((order, name, finder.secret))
        elif isinstance(finder, _Builtin):
            steps.append((_BUILTIN, order, name, finder))
        else:
            steps.append((_PLAIN, order, name, finder))
    return tuple((_SECRETS, tuple(secret)) if s is None else s for s in steps)


def _inline_plan(plan: tuple[_Step, ...]) -> tuple[tuple[tuple[Any, ...], ...], bool]:
    """The steps of :meth:`Detector._scan`: ``(gate, finder, name, order)`` per built-in type,
    ``(None, step, None, None)`` for the others (run by :func:`_run`); and whether a step
    reads the normalized text (a detector of plain finders only never normalizes)."""
    out: list[tuple[Any, ...]] = []
    for step in plan:
        if step[0] == _BUILTIN:
            builtin = step[3]
            out.append((builtin.needs, builtin.find, step[2], step[1]))
        else:
            out.append((None, step, None, None))
    return tuple(out), any(step[0] != _PLAIN for step in plan)


def _controls_reading(text: str, scan: _Scan | None) -> _Scan | None:
    """The second reading of a text whose control characters normalization removed: each a
    space (:func:`~guardrails.pii.normalize.controls_as_spaces`; same offsets), so a value a
    control character ends (a protobuf field) is found as well as one it sits inside; ``None``
    for a text without them (the normalized text kept its offsets, or holds none)."""
    if scan is None or (scan.norm.starts is None and scan.norm.tokens is None):
        return None
    alt = controls_as_spaces(text)
    return None if alt is None else _Scan(normalize(alt), text)


def _run(step: _Step, text: str, scan: _Scan | None, found: list[_Found]) -> _Scan | None:
    """Add what one step accepts in ``text`` to ``found``; the normalized text is made once per
    text (``scan``, returned for the next step)."""
    if step[0] == _PLAIN:
        _, order, name, finder = step
        for start, end in finder(text):
            found.append((start, end, 1.0, name, order))
        return scan
    if scan is None:
        scan = _Scan(normalize(text), text)
    span = scan.norm.span
    if step[0] == _SECRETS:
        secrets = scan_secrets(scan)
        if secrets:
            for order, name, wanted in step[1]:
                for s in secrets:
                    if wanted(s) and s.score >= THRESHOLD:
                        start, end = span(s.start, s.end)
                        found.append((start, end, s.score, name, order))
        return scan
    _, order, name, builtin = step
    if builtin.needs(scan):
        for s, e, score in builtin.find(scan):
            if score >= THRESHOLD:
                start, end = span(s, e)
                found.append((start, end, score, name, order))
    return scan


def _resolve(text: str, found: list[_Found]) -> tuple[PIIMatch, ...]:
    """The accepted spans of every type, overlaps resolved, as matches of ``text``."""
    if not found:
        return ()
    if len(found) == 1:  # most texts with a match hold one
        s, e, _, name, _ = found[0]
        return ({"type": name, "value": text[s:e], "start": s, "end": e},)
    found.sort(key=_by_place)
    kept: list[_Found] = []
    for item in found:  # sorted by start, the longest first
        if kept and item[0] < kept[-1][1]:
            last = kept[-1]
            if item[1] <= last[1]:
                # inside the kept match: that one wins (it leaves no fragment), unless it is
                # the same span with a higher score (a card read as a phone)
                if item[:2] == last[:2] and item[2] > last[2]:
                    kept[-1] = item
            else:
                # a partial overlap: one span over both (no fragment of either is left),
                # named by the higher score
                best = item if item[2] > last[2] else last
                kept[-1] = (last[0], item[1], best[2], best[3], best[4])
            continue
        kept.append(item)
    return tuple(
        {"type": name, "value": text[s:e], "start": s, "end": e} for s, e, _, name, _ in kept
    )


def _by_place(found: _Found) -> tuple[int, int, int]:
    """By start, the longest first, then the type listed first."""
    return found[0], found[0] - found[1], found[4]


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
    public suffix list: :data:`DEFAULT_EMAIL_TLDS`, plus those of a list given here (a list
    adds, never replaces); ``"public"`` for the suffix list only, ``"any"`` to accept every
    alphabetic one.

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
            finders.append((name, _presidio_entity_finder(name, BUILTIN_TYPES)))
    if detector is None and "email" in names and tlds:
        _tld()  # load the suffix list now, not on the first message
        suffix_labels()
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
