"""The ``guardrails`` command: ``demo``, ``scan`` (PII) and ``check`` (policy files).

Example::

    $ guardrails demo                  # the tour: JSON audit lines, the story, a summary table
    $ guardrails demo --policy guardrails.toml   # the tour under your policy
    $ guardrails check guardrails.toml # exit 0 when valid, 1 with the errors (order included)
    $ guardrails scan notes.txt --types email,phone --strategy mask --check
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: ``guardrails.demo.ALL_SCENES``, repeated so ``--help`` does not import the agents (tested).
_SCENES = ("tour", "resilience", "limits", "pii", "pseudonymize")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="guardrails", description="Guardrails for LangChain agents."
    )
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
    import json

    from guardrails.errors import GuardrailConfigError
    from guardrails.pii import apply_strategy, build_detector

    types = [t.strip() for t in args.types.split(",") if t.strip()]
    try:
        detector = build_detector(types)
    except GuardrailConfigError as exc:
        print(f"guardrails scan: {exc}", file=sys.stderr)
        return 2
    key = args.hash_key.encode() if args.hash_key else None
    total = 0
    for name in args.files:
        try:
            stream = sys.stdin if name == "-" else open(name, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            print(f"guardrails scan: cannot read {name}: {exc.strerror}", file=sys.stderr)
            return 2
        with stream:
            for number, line in enumerate(stream, start=1):
                text = line.rstrip("\n")
                matches = detector(text)
                total += len(matches)
                if args.jsonl:
                    counts: dict[str, int] = {}
                    for m in matches:
                        counts[m["type"]] = counts.get(m["type"], 0) + 1
                    print(
                        json.dumps(
                            {
                                "file": name,
                                "line": number,
                                "found": counts,
                                "text": apply_strategy(text, matches, args.strategy, key),
                            }
                        )
                    )
                else:
                    print(apply_strategy(text, matches, args.strategy, key))
    return 1 if args.check and total else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
