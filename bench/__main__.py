"""Run the benchmarks: ``python -m bench [AREA ...] [--quick]`` prints one table of ratios."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform

import bench
from bench.common import Row, print_table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("areas", nargs="*", help="bench_<area> modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke run)")
    args = parser.parse_args()
    names = sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    if args.areas:
        names = [n for n in names if n.removeprefix("bench_") in args.areas]
    rows: list[Row] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        rows.extend(module.run(quick=args.quick))
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
