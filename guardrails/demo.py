"""The ``guardrails demo``: offline agents (scripted model, no API key, no server) run through the
guardrails, with every audit event printed as a JSON line and a summary at the end.

Each scene lives in ``guardrails/demo_scenes/<name>.py`` and exposes ``TITLE`` and ``run()``;
:data:`SCENES` lists them in the order they are played.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections import Counter
from typing import IO, Any

from guardrails.audit import AUDIT_ATTR, LOGGER_NAME, JsonFormatter

__all__ = ["SCENES", "run_demo"]

#: Scene modules under ``guardrails.demo_scenes``, played in this order.
SCENES: tuple[str, ...] = ("resilience", "limits", "pii")


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, AUDIT_ATTR, None)
        if isinstance(fields, dict):
            self.events.append(fields)


def run_demo(
    out: IO[str] | None = None,
    events_out: IO[str] | None = None,
    scenes: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """Play the demo scenes; print audit JSON lines to ``events_out`` and the story to ``out``.

    Returns the audit events in order. Example::

        events = run_demo(io.StringIO(), io.StringIO())
    """
    out = out if out is not None else sys.stdout
    events_out = events_out if events_out is not None else sys.stdout
    logger = logging.getLogger(LOGGER_NAME)
    json_handler = logging.StreamHandler(events_out)
    json_handler.setFormatter(JsonFormatter())
    collector = _Collector()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(json_handler)
    logger.addHandler(collector)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        for name in scenes if scenes is not None else SCENES:
            module = importlib.import_module(f"guardrails.demo_scenes.{name}")
            print(f"\n== {module.TITLE}", file=out)
            json_handler.flush()
            module.run(out)
    finally:
        logger.removeHandler(json_handler)
        logger.removeHandler(collector)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    _summary(collector.events, out)
    return collector.events


def _summary(events: list[dict[str, Any]], out: IO[str]) -> None:
    counts = Counter(str(e.get("event")) for e in events)
    print("\n== Summary: audit events by kind", file=out)
    if not counts:
        print("  (no events)", file=out)
    width = max((len(k) for k in counts), default=0)
    for name, count in sorted(counts.items()):
        print(f"  {name.ljust(width)}  {count}", file=out)
    print(f"  {'total'.ljust(width)}  {sum(counts.values())}", file=out)
