"""Finders for what the built-in types do not cover: a regex, a compiled pattern, a callable, a
Presidio ``EntityRecognizer`` or a deny-list given as ``detector=``; a Presidio entity name (its
pattern recognizers, no NLP model); ``person`` / ``location`` with a spaCy model."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from guardrails.errors import GuardrailConfigError
from guardrails.pii.context import Finder, _regex_finder


def _presidio_entity_finder(entity: str, builtin: Iterable[str]) -> Finder:
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
            f"pii_type {entity!r} is not a built-in type ({', '.join(sorted(builtin))}) "
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
