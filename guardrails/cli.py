"""The ``guardrails`` command: ``demo``, ``scan`` (PII) and ``check`` (policy files).

Example::

    $ guardrails demo                  # the tour: JSON audit lines, the story, a summary table
    $ guardrails demo --policy guardrails.toml   # the tour under your policy
    $ guardrails check guardrails.toml # exit 0 when valid, 1 with the errors (order included)
    $ guardrails scan notes.txt --types email,phone --strategy mask --check
    $ guardrails scan --types secret .env src/settings.py   # pre-commit: file:line:col: type
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

#: ``guardrails.demo.ALL_SCENES``, repeated so ``--help`` does not import the agents (tested).
_SCENES = ("tour", "resilience", "limits", "pii", "pseudonymize")


def _version() -> str:
    """The installed distribution's version (``guardrails.__version__`` from a bare checkout)."""
    from importlib import metadata

    try:
        return metadata.version("guardrails-middleware")
    except metadata.PackageNotFoundError:
        from guardrails import __version__

        return __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="guardrails", description="Guardrails for LangChain agents."
    )
    parser.add_argument("--version", action="version", version=f"guardrails {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run offline agents through the guardrails (no API key)")
    demo.add_argument(
        "--events-to",
        choices=("stdout", "stderr"),
        default="stdout",
        help="where the JSON audit lines go (default: stdout)",
    )
    demo.add_argument(
        "--policy",
        default=None,
        metavar="FILE",
        help="play the tour under this policy file instead of the packaged one",
    )
    demo.add_argument(
        "--scene",
        action="append",
        dest="scenes",
        metavar="NAME",
        help="play this scene (repeatable; default: tour); one of: " + ", ".join(_SCENES),
    )
    scan = sub.add_parser("scan", help="find PII in files or stdin and print the handled text")
    scan.add_argument("files", nargs="*", default=["-"], help="files to scan ('-' for stdin)")
    scan.add_argument(
        "--types",
        default="email,credit_card,iban,us_ssn,ip,phone,url",
        help="comma-separated PII types (default: %(default)s)",
    )
    scan.add_argument("--strategy", choices=("redact", "mask", "hash"), default="redact")
    scan.add_argument("--hash-key", default=None, help="key for --strategy hash (HMAC-SHA256)")
    scan.add_argument(
        "--jsonl",
        action="store_true",
        help="one JSON object per line: file, line, types found (no values)",
    )
    scan.add_argument("--check", action="store_true", help="exit 1 when anything was found")
    scan.add_argument(
        "--print",
        action="store_true",
        dest="print_text",
        help="with a secret type: print the handled text instead of the findings list",
    )
    check = sub.add_parser(
        "check",
        help="validate a policy file and the order of each stack (exit 0 valid, 1 invalid)",
    )
    check.add_argument("policy", help="a policy file (.toml, .yaml)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``guardrails`` console script; returns the exit code."""
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    if args.command == "scan":
        return _scan(args)
    if args.command == "check":
        from guardrails.policy import Policy, PolicyError

        try:
            policy = Policy.load(args.policy)
        except PolicyError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            return 1
        problems = policy.order_problems()
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            return 1
        subs = ", ".join(policy.subagent_names) or "none"
        print(f"{args.policy}: OK ({len(policy.specs())} middleware; subagents: {subs})")
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands


def _demo(args: argparse.Namespace) -> int:
    from guardrails.demo import ALL_SCENES, run_demo
    from guardrails.errors import GuardrailConfigError
    from guardrails.policy import PolicyError

    unknown = [name for name in args.scenes or () if name not in ALL_SCENES]
    if unknown:
        print(
            f"guardrails demo: unknown scene {unknown[0]!r}; allowed: {', '.join(ALL_SCENES)}",
            file=sys.stderr,
        )
        return 2
    events_out = sys.stdout if args.events_to == "stdout" else sys.stderr
    try:
        run_demo(sys.stdout, events_out, args.scenes, policy=args.policy)
    except PolicyError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 1
    except GuardrailConfigError as exc:
        print(f"guardrails demo: {exc}", file=sys.stderr)
        return 1
    return 0


def _scan(args: argparse.Namespace) -> int:
    from guardrails.errors import GuardrailConfigError
    from guardrails.pii import build_detector
    from guardrails.pii.finders.secrets import SECRET_TYPES

    types = [t.strip() for t in args.types.split(",") if t.strip()]
    try:
        detector = build_detector(types)
    except GuardrailConfigError as exc:
        print(f"guardrails scan: {exc}", file=sys.stderr)
        return 2
    key = args.hash_key.encode() if args.hash_key else None
    # a secret type makes scan a check (pre-commit): findings by file and line, never a value
    findings_only = any(t in SECRET_TYPES for t in types) and not (args.print_text or args.jsonl)
    total = 0
    for name in args.files:
        text = _read(name)
        if text is None:
            return 2
        if findings_only:
            total += _report_findings(name, text, detector(text))
        else:
            total += _print_handled(name, text, detector, args, key)
    return 1 if (args.check or findings_only) and total else 0


def _read(name: str) -> str | None:
    """The file's text (stdin for ``-``), ``""`` for a binary file, None when unreadable."""
    try:
        if name == "-":
            return sys.stdin.read()
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        print(f"guardrails scan: cannot read {name}: {exc.strerror}", file=sys.stderr)
        return None
    if b"\0" in raw[:8192]:
        return ""  # a binary file: nothing a text detector can read
    return raw.decode("utf-8", errors="replace")


def _report_findings(name: str, text: str, matches: list[Any]) -> int:
    """``file:line:column: type`` per finding (1-based), never the value."""
    import bisect

    breaks = [i for i, c in enumerate(text) if c == "\n"]
    for m in matches:
        line = bisect.bisect_left(breaks, m["start"])
        column = m["start"] - (breaks[line - 1] + 1 if line else 0)
        print(f"{name}:{line + 1}:{column + 1}: {m['type']}")
    return len(matches)


def _print_handled(
    name: str, text: str, detector: Any, args: argparse.Namespace, key: bytes | None
) -> int:
    """The text with every match handled (``--strategy``), or one JSON object per line. The
    whole file is scanned at once: a value over several lines (a PEM key) is seen whole."""
    import json

    from guardrails.pii import apply_strategy

    matches = detector(text)
    if not args.jsonl:
        handled = apply_strategy(text, matches, args.strategy, key)
        print(handled, end="" if handled.endswith("\n") or not handled else "\n")
        return len(matches)
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if number > 1 and not line and offset >= len(text):
            break  # the empty piece after a final line break
        end = offset + len(line)
        here = [
            {
                "type": m["type"],
                "start": max(m["start"], offset) - offset,
                "end": min(m["end"], end) - offset,
                "value": line[max(m["start"], offset) - offset : min(m["end"], end) - offset],
            }
            for m in matches
            if m["start"] < end and m["end"] > offset
        ]
        counts: dict[str, int] = {}
        for m in matches:
            if offset <= m["start"] < end + 1:
                counts[m["type"]] = counts.get(m["type"], 0) + 1
        handled = apply_strategy(line, here, args.strategy, key)  # type: ignore[arg-type]
        print(json.dumps({"file": name, "line": number, "found": counts, "text": handled}))
        offset = end + 1
    return len(matches)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
