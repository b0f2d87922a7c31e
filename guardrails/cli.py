"""The ``guardrails`` command: ``guardrails demo``.

Example::

    $ guardrails demo            # audit events as JSON lines on stdout, the story and a summary
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``guardrails`` console script; returns the exit code."""
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        from guardrails.demo import run_demo

        events_out = sys.stdout if args.events_to == "stdout" else sys.stderr
        run_demo(sys.stdout, events_out)
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
