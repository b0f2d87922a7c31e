"""Finders for what the built-in types do not cover: a regex, a compiled pattern, a callable, a
Presidio ``EntityRecognizer`` or a deny-list given as ``detector=``; a Presidio entity name (its
pattern recognizers, no NLP model); ``person`` / ``location`` with a spaCy model.

Presidio (and spaCy, which it pulls in) is an optional extra, ``guardrails-middleware[presidio]``:
only Presidio entity names, ``nlp_model=`` and a Presidio ``EntityRecognizer`` given as
``detector=`` import it, and each asks for the extra by name when it is missing. Presidio's email
recognizer validates domains with ``tldextract.extract``, whose default extractor downloads the
public suffix list and caches it in the home folder: :func:`_offline_presidio` points every
Presidio module that uses ``tldextract`` at the bundled snapshot (no network, no cache).
"""

from __future__ import annotations

import difflib
import functools
import re
import sys
import types
from collections.abc import Iterable
from typing import Any

from guardrails.errors import GuardrailConfigError
from guardrails.pii.context import Finder, _regex_finder

#: What to install for Presidio entity names, ``nlp_model=`` and Presidio recognizers.
PRESIDIO_EXTRA = "pip install 'guardrails-middleware[presidio]'"


def _closest(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'email'?)`` when a choice is close to ``name``, else ``""``."""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.75)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def _import_presidio(what: str) -> Any:
    """``presidio_analyzer``, made offline; a :class:`GuardrailConfigError` naming the extra
    when it is not installed."""
    try:
        import presidio_analyzer
    except ImportError as exc:
        raise GuardrailConfigError(
            f"{what} needs Presidio, an optional extra that is not installed: {PRESIDIO_EXTRA}"
        ) from exc
    _offline_presidio()
    return presidio_analyzer


def _offline_presidio() -> None:
    """Point the ``tldextract`` name of every loaded Presidio module at an offline extractor.

    Presidio calls ``tldextract.extract(...)``, the module-level extractor that fetches the public
    suffix list over the network on first use and writes a cache under ``~/.cache``. Ours uses
    the snapshot bundled with tldextract (``suffix_list_urls=()``) and no cache directory.
    """
    import tldextract

    for name, module in list(sys.modules.items()):
        if name.startswith("presidio_analyzer") and getattr(module, "tldextract", None) is (
            tldextract
        ):
            setattr(module, "tldextract", _offline_tldextract())  # noqa: B010


@functools.cache
def _offline_tldextract() -> types.SimpleNamespace:
    """A stand-in for the ``tldextract`` module: ``extract`` and ``TLDExtract`` offline."""
    import tldextract

    from guardrails.pii.finders.net import _tld

    return types.SimpleNamespace(
        extract=_tld(),
        TLDExtract=lambda *a, **k: tldextract.TLDExtract(
            *a, **{**k, "suffix_list_urls": (), "cache_dir": None}
        ),
    )


def _presidio_entity_finder(entity: str, builtin: Iterable[str]) -> Finder:
    """A finder that runs Presidio's pattern recognizers for ``entity`` (no NLP model)."""
    builtin = list(builtin)
    hint = _closest(entity, builtin)
    try:
        presidio = _import_presidio(f"pii_type {entity!r} (a Presidio entity name)")
    except GuardrailConfigError as exc:
        raise GuardrailConfigError(
            f"pii_type {entity!r} is not a built-in type{hint} ({', '.join(sorted(builtin))}); "
            f"as a Presidio entity name it needs Presidio, an optional extra that is not "
            f"installed: {PRESIDIO_EXTRA}"
        ) from exc.__cause__

    registry = presidio.RecognizerRegistry()
    registry.load_predefined_recognizers()
    recognizers = [
        r
        for r in registry.recognizers
        if entity in r.supported_entities and r.__class__.__name__ != "SpacyRecognizer"
    ]
    if not recognizers:
        raise GuardrailConfigError(
            f"pii_type {entity!r} is not a built-in type{hint} ({', '.join(sorted(builtin))}) "
            f"nor a Presidio entity with a pattern recognizer; give a detector= for it"
        )
    _offline_presidio()  # the registry imported the recognizers' modules

    def find(text: str) -> list[tuple[int, int]]:
        out = []
        for recognizer in recognizers:
            for result in recognizer.analyze(text, [entity], None):  # type: ignore[arg-type]
                if result.score >= 0.3:
                    out.append((result.start, result.end))
        return out

    return find


def _nlp_finder(entity: str, model: str) -> Finder:
    _import_presidio(f"pii_type {entity!r} (an NLP type, with nlp_model={model!r})")
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

    _offline_presidio()
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": model}],
        }
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    _offline_presidio()  # the engine loaded the predefined recognizers' modules

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
    presidio = sys.modules.get("presidio_analyzer")  # a Presidio recognizer implies Presidio
    EntityRecognizer: Any = getattr(presidio, "EntityRecognizer", ()) if presidio else ()
    if isinstance(detector, EntityRecognizer):
        _offline_presidio()
        entities = list(detector.supported_entities)

        def find_presidio(text: str) -> list[tuple[int, int]]:
            return [(r.start, r.end) for r in detector.analyze(text, entities, None)]  # type: ignore[arg-type]

        return find_presidio
    if callable(detector):
        from guardrails._validate import not_awaitable, sync_callable

        sync_callable(f"detector for {name!r}", detector, returns="a list of PIIMatch")

        def find_callable(text: str) -> list[tuple[int, int]]:
            found = detector(text)
            not_awaitable(f"detector for {name!r}", found)
            out = []
            for match in found:
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
