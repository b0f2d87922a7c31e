"""The ``guardrails`` command: ``guardrails demo``, ``guardrails check POLICY``.

Example::

    $ guardrails demo                  # audit events as JSON lines, the story and a summary
    $ guardrails check guardrails.toml # exit 0 when valid, 1 with the errors
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


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
    check = sub.add_parser("check", help="validate a policy file (exit 0 valid, 1 invalid)")
    check.add_argument("policy", help="a policy file (.toml, .yaml)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``guardrails`` console script; returns the exit code."""
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        from guardrails.demo import run_demo

        events_out = sys.stdout if args.events_to == "stdout" else sys.stderr
        run_demo(sys.stdout, events_out)
        return 0
    if args.command == "check":
        from guardrails.policy import Policy, PolicyError

        try:
            policy = Policy.load(args.policy)
        except PolicyError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            return 1
        subs = ", ".join(policy.subagent_names) or "none"
        print(f"{args.policy}: OK ({len(policy.specs())} middleware; subagents: {subs})")
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
