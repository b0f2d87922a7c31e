"""The ``guardrails demo``: offline agents (scripted models, no API key, no server) run through
the guardrails, every audit event printed as a JSON line, and a summary table at the end.

By default it plays the tour (:mod:`guardrails.demo_scenes.tour`): one deep agent with two
subagents whose stacks come from a policy file, scripted to trigger a retry, a fallback, a limit,
PII handling and a filesystem denial. Smaller single-agent scenes (circuit breaker, rate limit,
PII block, pseudonymization) can be played with ``--scene``. Each scene lives in
``guardrails/demo_scenes/<name>.py`` and has ``TITLE`` and ``run(out)`` (the tour's ``run`` also
takes the policy).

Example::

    $ guardrails demo                          # the tour under the packaged policy
    $ guardrails demo --policy guardrails.toml # the tour under your policy
    $ guardrails demo --scene resilience --scene pii
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from guardrails.audit import AUDIT_ATTR, EVENTS, LOGGER_NAME, JsonFormatter
from guardrails.policy import Policy

__all__ = ["ALL_SCENES", "SCENES", "WHAT_HAPPENED", "run_demo", "summary_rows"]

#: Scenes played when none are named: the tour.
SCENES: tuple[str, ...] = ("tour",)
#: Every scene ``--scene`` accepts, in the order they are played.
ALL_SCENES: tuple[str, ...] = ("tour", "resilience", "limits", "pii", "pseudonymize")


#: What each event kind means, for kinds :func:`summary_rows` has no sentence of its own for:
#: read from the one event registry, :data:`guardrails.audit.EVENTS`.
class _Meanings(Mapping[str, str]):
    """A live, read-only view of the registry: event name -> what it means."""

    def __getitem__(self, name: str) -> str:
        return EVENTS[name].meaning

    def __iter__(self) -> Iterator[str]:
        return iter(EVENTS)

    def __len__(self) -> int:
        return len(EVENTS)


WHAT_HAPPENED: Mapping[str, str] = _Meanings()
_STRATEGY_VERBS = {"redact": "redacted", "mask": "masked", "hash": "hashed", "block": "blocked"}
_LIMIT_DECISIONS = {"end": "run ended", "error": "raised", "continue": "call refused"}


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
    scenes: Sequence[str] | None = None,
    *,
    policy: str | Path | Policy | None = None,
) -> list[dict[str, Any]]:
    """Play the demo scenes; audit JSON lines go to ``events_out``, the story to ``out``.

    ``policy`` (a file or a :class:`~guardrails.policy.Policy`) replaces the tour's packaged
    policy; a file is loaded before anything runs, so a bad one raises
    :class:`~guardrails.policy.PolicyError` at once. Returns the audit events in order.

    Example::

        events = run_demo(io.StringIO(), io.StringIO(), policy="guardrails.toml")
        {e["event"] for e in events}
    """
    out = out if out is not None else sys.stdout
    events_out = events_out if events_out is not None else sys.stdout
    loaded = Policy.load(policy) if isinstance(policy, (str, Path)) else policy
    names = tuple(scenes) if scenes is not None else SCENES
    unknown = [n for n in names if n not in ALL_SCENES]
    if unknown:
        raise ValueError(f"unknown demo scene(s) {unknown}; allowed: {', '.join(ALL_SCENES)}")
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
        for name in names:
            module = importlib.import_module(f"guardrails.demo_scenes.{name}")
            print(f"\n== {module.TITLE}", file=out)
            if name == "tour":
                source = loaded.source if loaded is not None else "the packaged demo policy"
                print(f"  policy: {source}", file=out)
                module.run(out, loaded)
            else:
                module.run(out)
            json_handler.flush()
    finally:
        logger.removeHandler(json_handler)
        logger.removeHandler(collector)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    expected: tuple[str, ...] = ()
    if "tour" in names:
        from guardrails.demo_scenes.tour import EXPECTED_EVENTS

        expected = EXPECTED_EVENTS
    _print_summary(collector.events, out, expected)
    return collector.events


def _who(event: Mapping[str, Any]) -> str:
    if event.get("subagent"):
        return f"{event['subagent']} (subagent)"
    return str(event.get("agent") or "-")


def _join(values: Iterable[Any], limit: int = 3) -> str:
    items = sorted({str(v) for v in values if v is not None and v != ""})
    more = f" +{len(items) - limit}" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _what(kind: str, events: Sequence[Mapping[str, Any]]) -> str:
    """One short line on what the events of one kind did (they carry no raw values to leak)."""
    first = events[0]
    if kind == "pii.detected":
        verbs = _join(
            _STRATEGY_VERBS.get(str(e.get("strategy")), e.get("strategy")) for e in events
        )
        types = _join(t for e in events for t in e.get("entities") or {})
        return f"{verbs or 'handled'} {types} in {_join(e.get('where') for e in events)}"
    if kind in ("pii.blocked", "pii.pseudonymized"):
        types = _join(t for e in events for t in e.get("entities") or {})
        return f"{kind[4:]} {types} in {_join(e.get('where') for e in events)}"
    if kind == "pii.restored":
        types = _join(t for e in events for t in e.get("entities") or {})
        return f"restored {types} for {_join(e.get('tool') for e in events)} only"
    if kind == "retry.attempt":
        return f"retried after {_join(e.get('error') for e in events)}"
    if kind == "retry.exhausted":
        return f"gave up after {first.get('attempts')} attempts ({first.get('decision')})"
    if kind == "fallback.switched":
        return "switched " + _join(
            f"{e.get('from_model')} -> {e.get('to_model')}".replace("scripted:", "") for e in events
        )
    if kind == "limit.exceeded":
        return _join(
            f"{e.get('limit_kind')} {e.get('count')}/{e.get('limit')}: "
            f"{_LIMIT_DECISIONS.get(str(e.get('decision')), e.get('decision'))}"
            for e in events
        )
    if kind == "rate_limit.exceeded":
        return f"{first.get('limit')} per {first.get('key_kind')}: refused"
    if kind == "fs.denied":
        return "denied " + _join(f"{e.get('operation')} {e.get('path')}" for e in events)
    return WHAT_HAPPENED.get(kind) or _join(e.get("guardrail") for e in events)


def summary_rows(events: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int, str]]:
    """``(agent, event, count, what happened)`` per agent and event kind.

    Agents come in the order they first appear, and within an agent the event kinds too.

    Example::

        for who, kind, count, what in summary_rows(run_demo()):
            print(who, kind, count, what)
    """
    groups: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for event in events:
        groups.setdefault(_who(event), {}).setdefault(str(event.get("event")), []).append(event)
    return [
        (who, kind, len(group), _what(kind, group))
        for who, kinds in groups.items()
        for kind, group in kinds.items()
    ]


def _print_summary(
    events: Sequence[Mapping[str, Any]], out: IO[str], expected: Sequence[str]
) -> None:
    rows = summary_rows(events)
    title = f"Summary: {len(events)} audit events"
    missing = [k for k in expected if k not in {e.get("event") for e in events}]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is optional (the `demo` extra): a plain table
        _print_plain(rows, title, out)
    else:
        table = Table(title=title, title_justify="left")
        for header in ("agent", "event", "count", "what happened"):
            table.add_column(header, justify="right" if header == "count" else "left")
        for who, kind, count, what in rows:
            table.add_row(who, kind, str(count), what)
        print(file=out)
        # a pipe or a file gets 100 columns (rich would assume 80); a terminal its own width
        width = None if out.isatty() else 100
        Console(file=out, highlight=False, width=width).print(table)
    if missing:
        print(f"  not triggered under this policy: {', '.join(missing)}", file=out)


def _print_plain(rows: Sequence[tuple[str, str, int, str]], title: str, out: IO[str]) -> None:
    print(f"\n== {title}", file=out)
    table = [("agent", "event", "count", "what happened")] + [
        (who, kind, str(count), what) for who, kind, count, what in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print(
            f"  {row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  "
            f"{row[2].rjust(widths[2])}  {row[3]}",
            file=out,
        )
