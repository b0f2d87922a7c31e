"""PII detection: fast candidate patterns, Presidio's validators, custom detectors.

Each built-in type finds candidates with one compiled pattern and keeps only those that pass a
validator: Presidio's own (Luhn for every card length 12-19, the IBAN checksum, the SSN rules,
the Bitcoin checksum), ``phonenumbers`` for international phones, ``ipaddress`` for IPs. No NLP
model runs unless asked for (``person`` / ``location``), and nothing touches the network:
the email check uses tldextract with its bundled suffix list only.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from guardrails.errors import GuardrailConfigError

__all__ = ["BUILTIN_TYPES", "Detector", "PIIMatch", "build_detector", "detect"]


class PIIMatch(TypedDict):
    """A detected value: LangChain-compatible keys ``type``, ``value``, ``start``, ``end``."""

    type: str
    value: str
    start: int
    end: int


Finder = Callable[[str], list[tuple[int, int]]]


@functools.lru_cache(maxsize=1)
def _validators() -> dict[str, Any]:
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        CryptoRecognizer,
        IbanRecognizer,
        UsSsnRecognizer,
    )

    return {
        "card": CreditCardRecognizer(),
        "iban": IbanRecognizer(),
        "ssn": UsSsnRecognizer(),
        "crypto": CryptoRecognizer(),
    }


@functools.lru_cache(maxsize=1)
def _tld() -> Any:
    import tldextract

    # the bundled public suffix snapshot only: never fetch the list over the network
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


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


# ---------------------------------------------------------------------------- validators


def _email_ok(value: str) -> bool:
    domain = value.rsplit("@", 1)[-1]
    return bool(_tld()(domain).suffix)


def _card_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if not 12 <= len(digits) <= 19 or len(set(digits)) == 1 or not _brand_ok(digits):
        return False
    return bool(_validators()["card"].validate_result(digits))


_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}"
    r"(?:[A-Z0-9]{11,30}|(?:[ -][A-Z0-9]{4}){2,7}(?:[ -][A-Z0-9]{1,4})?)(?![A-Za-z0-9])"
)


def _ibans(text: str) -> list[tuple[int, int]]:
    out = []
    for m in _IBAN.finditer(text):
        start = m.start()
        value = m.group(0)
        while True:  # "DE89 3704 ... 00 SSN": drop trailing groups until the checksum holds
            if _iban_ok(value):
                out.append((start, start + len(value)))
                break
            cut = max(value.rfind(" "), value.rfind("-"))
            if cut <= 4:
                break
            value = value[:cut]
    return out


# card brands: (IIN prefix range, allowed lengths); a number outside every brand is no card
_BRANDS: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    (4, 4, 1, frozenset({13, 16, 19})),  # Visa
    (51, 55, 2, frozenset({16})),  # Mastercard
    (2221, 2720, 4, frozenset({16})),  # Mastercard 2-series
    (34, 34, 2, frozenset({15})),
    (37, 37, 2, frozenset({15})),  # American Express
    (6011, 6011, 4, frozenset({16, 19})),
    (644, 649, 3, frozenset({16, 19})),
    (65, 65, 2, frozenset({16, 19})),  # Discover
    (300, 305, 3, frozenset({14, 16, 19})),
    (36, 36, 2, frozenset({14, 16, 19})),
    (38, 39, 2, frozenset({14, 16, 19})),  # Diners
    (3528, 3589, 4, frozenset({16, 17, 18, 19})),  # JCB
    (50, 50, 2, frozenset(range(12, 20))),
    (56, 69, 2, frozenset(range(12, 20))),  # Maestro and others in 5x/6x
    (62, 62, 2, frozenset({16, 17, 18, 19})),  # UnionPay
)


def _brand_ok(digits: str) -> bool:
    for low, high, width, lengths in _BRANDS:
        if low <= int(digits[:width]) <= high and len(digits) in lengths:
            return True
    return False


def _iban_ok(value: str) -> bool:
    compact = re.sub(r"[\s-]", "", value).upper()
    return _validators()["iban"].validate_result(compact) is True


def _ssn_ok(value: str) -> bool:
    return not _validators()["ssn"].invalidate_result(value)


def _ip_ok(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _crypto_ok(value: str) -> bool:
    try:
        return bool(_validators()["crypto"].validate_result(value))
    except Exception:
        return False


_PHONE_CANDIDATE = re.compile(r"(?<![\w.+/:-])(?:\+|00)?\(?\d[\d ().-]{5,18}\d(?![\w/:-])")
_DATE_START = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_DOTTED_PHONE = re.compile(r"\(?\d{3}\)?\.\d{3}\.\d{4}")


def _phones(text: str) -> list[tuple[int, int]]:
    out = []
    for m in _PHONE_CANDIDATE.finditer(text):
        raw = m.group(0)
        digits = sum(c.isdigit() for c in raw)
        if digits < 7 or digits > 15:
            continue
        if _DATE_START.match(raw):
            continue  # dates and timestamps
        if "." in raw and " " not in raw and not _DOTTED_PHONE.fullmatch(raw):
            continue  # version-like dotted numbers
        if _phone_valid(raw):
            out.append(m.span())
    return out


@functools.lru_cache(maxsize=8192)
def _phone_valid(raw: str) -> bool:
    import phonenumbers

    international = raw.startswith(("+", "00"))
    try:  # an international number carries its country; anything else is read as US
        number = phonenumbers.parse(
            "+" + raw[2:] if raw.startswith("00") else raw, None if international else "US"
        )
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


_IPV4 = r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w.]*\d)"
_IPV6 = (
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})"
    r"(?![\w:])|(?<![\w:])::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?![\w:])"
)


_VERSION_BEFORE = re.compile(r"(?:version|ver\.?|release|build|v)\s*$", re.IGNORECASE)


_ZONE = re.compile(r"[+(]?\d[\d \t().:/+-]{4,}\d")


@functools.lru_cache(maxsize=16)
def _zones(text: str) -> tuple[tuple[int, int], ...]:
    """Numeric zones of ``text`` (with 2 characters of context each side, enough for the
    finders' look-behind and look-ahead checks), computed once for the digit-based finders."""
    return tuple((max(0, z.start() - 2), min(len(text), z.end() + 2)) for z in _ZONE.finditer(text))


def _zoned(finder: Finder) -> Finder:
    """Run a digit-based finder only on the numeric zones of a text."""

    def find(text: str) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for start, end in _zones(text):
            out.extend((s + start, e + start) for s, e in finder(text[start:end]))
        return out

    return find


def _ip_finder() -> Finder:
    zoned_v4 = _zoned(_regex_finder(_IPV4, check=_ip_ok))

    def v4(text: str) -> list[tuple[int, int]]:  # "version 1.2.3.4" is not an address
        return [
            (s, e)
            for s, e in zoned_v4(text)
            if not _VERSION_BEFORE.search(text[max(0, s - 12) : s])
        ]

    v6 = _regex_finder(_IPV6, check=lambda v: ":" in v and _ip_ok(v) and v.count(":") >= 2)

    def find(text: str) -> list[tuple[int, int]]:
        return v4(text) + v6(text) if ":" in text else v4(text)

    return find


def _url_ok(value: str) -> bool:
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value, flags=re.I).split("/", 1)[0]
    host = host.split(":", 1)[0]
    return bool(host) and ("." in host or host == "localhost")


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


def _guarded(finder: Finder, needs: Callable[[str], bool]) -> Finder:
    """Skip a finder's regex pass when a cheap substring test rules the type out."""

    def find(text: str) -> list[tuple[int, int]]:
        return finder(text) if needs(text) else []

    return find


_DIGITS = frozenset("0123456789")


def _has_digit(text: str) -> bool:
    return not _DIGITS.isdisjoint(text)


_NEEDS: dict[str, Callable[[str], bool]] = {
    "email": lambda t: "@" in t,
    "url": lambda t: "://" in t or "www." in t or "WWW." in t,
    "mac_address": lambda t: ":" in t or "-" in t,
}


@functools.cache
def _builtin(name: str) -> Finder:
    finder = _builtin_unguarded(name)
    if name in ("credit_card", "us_ssn", "phone"):
        finder = _zoned(finder)
    return _guarded(finder, _NEEDS.get(name, _has_digit))


def _builtin_unguarded(name: str) -> Finder:
    if name == "email":
        return _regex_finder(
            r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,63}(?![\w-])",
            check=_email_ok,
        )
    if name == "credit_card":
        return _regex_finder(r"(?<![\w-])\d(?:[ -]?\d){11,18}(?![\w-])", check=_card_ok)
    if name == "iban":
        return _ibans
    if name == "us_ssn":
        return _regex_finder(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])", check=_ssn_ok)
    if name == "ip":
        return _ip_finder()
    if name == "mac_address":
        return _regex_finder(
            r"(?<![\w:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}"
            r"[0-9A-Fa-f]{2}(?![\w:-])"
        )
    if name == "url":
        return _regex_finder(
            r"(?<![@\w.])(?:https?://|ftp://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]",
            flags=re.I,
            check=_url_ok,
        )
    if name == "phone":
        return _phones
    if name == "crypto":
        return _regex_finder(
            r"(?<![A-Za-z0-9])(?:bc1[a-z0-9]{25,39}|[13][a-km-zA-HJ-NP-Z1-9]"
            r"{25,34})(?![A-Za-z0-9])",
            check=_crypto_ok,
        )
    if name == "date":
        return _regex_finder(
            r"(?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}\.\d{1,2}\.\d{4}|"
            r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4})(?!\d)"
        )
    raise KeyError(name)


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


@dataclass(frozen=True)
class Detector:
    """Finds the configured PII types in a text, in one pass per type, cached by content.

    The cache is bounded (``CACHE_SIZE`` texts per detector) and keyed by the text itself, so a
    message already scanned costs one dictionary lookup on the next model call.
    """

    finders: tuple[tuple[str, Finder], ...]

    CACHE_SIZE = 4096

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "matches", functools.lru_cache(maxsize=self.CACHE_SIZE)(self._cached)
        )

    def __call__(self, text: str) -> list[PIIMatch]:
        return list(self.matches(text))

    if TYPE_CHECKING:

        def matches(self, text: str) -> tuple[PIIMatch, ...]: ...

    def _cached(self, text: str) -> tuple[PIIMatch, ...]:
        found: list[PIIMatch] = []
        for name, finder in self.finders:
            for start, end in finder(text):
                found.append(PIIMatch(type=name, value=text[start:end], start=start, end=end))
        found.sort(key=lambda m: (m["start"], -(m["end"] - m["start"])))
        kept: list[PIIMatch] = []
        last_end = -1
        for match in found:  # drop overlaps: the earliest, then longest, wins
            if match["start"] >= last_end:
                kept.append(match)
                last_end = match["end"]
        return tuple(kept)


def build_detector(
    pii_types: str | Sequence[str], detector: Any = None, nlp_model: str | None = None
) -> Detector:
    """Compile the finders for ``pii_types`` once (a custom ``detector`` needs one type name).

    Example::

        find = build_detector(["email", "phone"])
        find("mail a@b.co or call +1 415 555 0100")
    """
    names = [pii_types] if isinstance(pii_types, str) else list(pii_types)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise GuardrailConfigError(
            f"pii_type must be a type name or a list of them, got {pii_types!r}"
        )
    if detector is not None and len(names) != 1:
        raise GuardrailConfigError("detector= applies to exactly one pii_type")
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
            finders.append((name, _builtin(name)))
        else:
            finders.append((name, _presidio_entity_finder(name)))
    if any(n in ("credit_card", "iban", "us_ssn", "crypto") for n in names) and detector is None:
        _validators()  # load Presidio's validators now, not on the first message
    if "email" in names and detector is None:
        _tld()
    return Detector(tuple(finders))


def detect(text: str, pii_types: str | Iterable[str]) -> list[PIIMatch]:
    """Find PII in ``text``: the same detection :class:`~guardrails.pii.PIIMiddleware` uses.

    Example::

        detect("write to jane@example.com", ["email", "phone"])
        # [{"type": "email", "value": "jane@example.com", "start": 9, "end": 25}]
    """
    key = (pii_types,) if isinstance(pii_types, str) else tuple(pii_types)
    return _shared_detector(key)(text)


@functools.lru_cache(maxsize=64)
def _shared_detector(names: tuple[str, ...]) -> Detector:
    return build_detector(list(names))
