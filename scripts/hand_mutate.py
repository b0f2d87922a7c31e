"""Hand-made mutations: ``make mutate-hand`` (or ``python scripts/hand_mutate.py``).

``scripts/mutate.py`` makes the edits an operator list can make (a flipped comparison, a dropped
call). This runs the other kind: edits a careless person makes, written down one by one in
``scripts/hand_mutations.toml`` (a dropped normalization step, a widened window, a wrong scope, a
swapped default, an exception swallowed...), each with the promise it breaks. Each is applied in a
scratch copy of the tree (scripts/mutate.py's scratch and fork machinery), and the entry's tests
run with ``-x``: a test must fail. An entry whose ``old`` snippet is no longer in its file (the
code was rewritten) is reported *stale*, never a crash.

Usage::

    python scripts/hand_mutate.py                     # every entry
    python scripts/hand_mutate.py --area filesystem   # one area (repeatable)
    python scripts/hand_mutate.py --only fs-within-prefix pii-hash-key-ignored
    python scripts/hand_mutate.py --check             # staleness only: does every snippet apply?
    python scripts/hand_mutate.py --list              # the entries, not run
    python scripts/hand_mutate.py --json out.json -j 2
    python scripts/hand_mutate.py --only ID --tests tests/test_x.py --no-baseline  # a new test

Exit status: 1 when a security entry survives (or the baseline fails), else 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Queue
from typing import Any

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutate

ROOT = mutate.ROOT
DATA = ROOT / "scripts" / "hand_mutations.toml"
_WORKERS: list[mutate.Worker] = []
FIELDS = ("id", "area", "security", "kind", "file", "old", "new", "promise", "tests")


@dataclasses.dataclass(frozen=True)
class HandMutant:
    id: str
    area: str
    security: bool
    kind: str
    path: str  # the file, relative to ROOT (the name mutate.Worker reads)
    old: str
    new: str
    promise: str
    tests: tuple[str, ...]
    equivalent: str = ""

    def status(self) -> str:
        """``ok``, or why the edit cannot be made on the current tree (``stale: ...``)."""
        target = ROOT / self.path
        if not target.is_file():
            return "stale: the file is gone"
        count = target.read_text().count(self.old)
        if count == 0:
            return "stale: the old snippet is not in the file"
        if count > 1:
            return f"stale: the old snippet is in the file {count} times"
        if self.path.endswith(".py"):
            try:
                compile(self.apply(target.read_text()), self.path, "exec")
            except SyntaxError as exc:
                return f"stale: the edit does not compile ({exc.msg}, line {exc.lineno})"
        return "ok"

    def apply(self, source: str) -> str:
        return source.replace(self.old, self.new, 1)


def load(path: Path = DATA) -> list[HandMutant]:
    data = tomllib.loads(path.read_text())
    groups: dict[str, list[str]] = data.get("groups", {})
    out: list[HandMutant] = []
    seen: set[str] = set()
    for row in data.get("mutation", []):
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise SystemExit(f"{path}: entry {row.get('id', '?')!r} lacks {missing}")
        if row["id"] in seen:
            raise SystemExit(f"{path}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        out.append(
            HandMutant(
                id=row["id"],
                area=row["area"],
                security=bool(row["security"]),
                kind=row["kind"],
                path=row["file"],
                old=row["old"],
                new=row["new"],
                promise=row["promise"],
                tests=tuple(_expand(row["tests"], groups)),
                equivalent=row.get("equivalent", ""),
            )
        )
    return out


def _expand(patterns: list[str], groups: dict[str, list[str]]) -> list[str]:
    files: list[str] = []
    for pattern in patterns:
        inner = groups.get(pattern[1:]) if pattern.startswith("@") else None
        if pattern.startswith("@") and inner is None:
            raise SystemExit(f"unknown test group {pattern!r}")
        for item in inner if inner is not None else [pattern]:
            files.extend(sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob(item)))
    return list(dict.fromkeys(f for f in files if (ROOT / f).is_file()))


def baseline(tests: list[str]) -> tuple[bool, str]:
    """The tests pass on the unmutated tree (else every mutant would look killed)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return done.returncode == 0, "\n".join(done.stdout.splitlines()[-15:])


def run(mutants: list[HandMutant], jobs: int, timeout: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    todo: list[HandMutant] = []
    for m in mutants:
        row = {k: v for k, v in dataclasses.asdict(m).items() if k not in ("old", "new")}
        row["file"] = row.pop("path")
        status = m.status()
        if status != "ok":
            row["result"] = status
        elif m.equivalent:
            row["result"] = "equivalent"
        elif not m.tests:
            row["result"] = "survived:no_tests"
        else:
            todo.append(m)
            continue
        rows.append(row)
    if not todo:
        return rows
    workers = [mutate.Worker(mutate._scratch()) for _ in range(max(1, min(jobs, len(todo))))]
    _WORKERS.extend(workers)
    free: Queue[mutate.Worker] = Queue()
    for w in workers:
        free.put(w)

    def one(m: HandMutant) -> dict[str, Any]:
        row = {k: v for k, v in dataclasses.asdict(m).items() if k not in ("old", "new")}
        row["file"] = row.pop("path")
        w = free.get()
        start = time.monotonic()
        try:
            # one test file at a time, in order: a kill in the first file costs only that
            # file's collection, not the whole list's
            for test in m.tests:
                row["result"] = w.run(m, [test], timeout)  # type: ignore[arg-type]
                if row["result"].startswith("killed"):
                    row["killed_by"] = test
                    break
        finally:
            free.put(w)
        row["seconds"] = round(time.monotonic() - start, 1)
        print(f"  {row['result']:<16} {row['seconds']:>6.1f}s  {m.id}", flush=True)
        return row

    try:
        with ThreadPoolExecutor(len(workers)) as pool:
            rows.extend(pool.map(one, todo))
    finally:
        for w in workers:
            w.close()
    return rows


def report(rows: list[dict[str, Any]]) -> bool:
    """Print the tables; True when a security entry survived."""

    def outcome(r: dict[str, Any]) -> str:
        result = str(r["result"])
        return result.split(":")[0] if result != "equivalent" else "equivalent"

    for by in ("area", "kind"):
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for r in rows:
            table[r[by]][outcome(r)] += 1
        print(f"\nby {by}:")
        print(f"  {by:<40} killed survived stale equivalent")
        for name in sorted(table):
            c = table[name]
            print(
                f"  {name:<40} {c['killed']:>6} {c['survived']:>8} {c['stale']:>5} "
                f"{c['equivalent']:>10}"
            )
    total = Counter(outcome(r) for r in rows)
    judged = total["killed"] + total["survived"]
    score = total["killed"] / judged if judged else 1.0
    print(
        f"\n{len(rows)} hand-made mutations: killed {total['killed']}, survived "
        f"{total['survived']}, stale {total['stale']}, equivalent {total['equivalent']}: "
        f"score {score:.1%}"
    )
    failed = False
    for r in rows:
        if outcome(r) == "survived":
            mark = "SECURITY " if r["security"] else ""
            failed = failed or bool(r["security"])
            print(f"  {mark}SURVIVED {r['id']} ({r['file']}, {r['kind']}): {r['promise']}")
    for r in rows:
        if r["result"] == "killed:timeout":  # a hang is a kill; a loaded machine is not
            print(f"  TIMEOUT {r['id']}: killed by the time limit; re-run it on a quiet machine")
    for r in rows:
        if outcome(r) == "stale":
            print(f"  STALE {r['id']} ({r['file']}): {r['result']}")
    return failed


def _terminated(*_: Any) -> None:
    for w in _WORKERS:
        w.proc.kill()
        shutil.rmtree(w.scratch, ignore_errors=True)
    os._exit(143)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/hand_mutate.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--area", action="append", default=[], help="only these areas")
    parser.add_argument("--kind", action="append", default=[], help="only these kinds")
    parser.add_argument("--only", nargs="+", default=[], help="only these ids")
    parser.add_argument("--security", action="store_true", help="only security entries")
    parser.add_argument(
        "--tests", nargs="+", default=[], help="run these tests instead of the entries' own"
    )
    parser.add_argument(
        "--without",
        nargs="+",
        default=[],
        help="leave these test files out (the suite before them)",
    )
    parser.add_argument("--check", action="store_true", help="staleness check only, no tests")
    parser.add_argument("--list", action="store_true", help="list the entries and stop")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per mutant")
    parser.add_argument("--json", type=Path, help="write every result to this file")
    args = parser.parse_args(argv)
    # a terminated run still stops its workers and removes their scratch trees
    signal.signal(signal.SIGTERM, _terminated)

    mutants = load()
    if args.area:
        mutants = [m for m in mutants if m.area in args.area]
    if args.kind:
        mutants = [m for m in mutants if m.kind in args.kind]
    if args.only:
        unknown = set(args.only) - {m.id for m in mutants}
        if unknown:
            parser.error(f"unknown id(s) {sorted(unknown)}")
        mutants = [m for m in mutants if m.id in args.only]
    if args.security:
        mutants = [m for m in mutants if m.security]
    if args.tests:  # e.g. check that a new test kills the entries it was written for
        mutants = [dataclasses.replace(m, tests=tuple(args.tests)) for m in mutants]
    if args.without:
        drop = set(args.without)
        mutants = [
            dataclasses.replace(m, tests=tuple(t for t in m.tests if t not in drop))
            for m in mutants
        ]
    if args.list or args.check:
        stale = 0
        for m in mutants:
            status = m.status()
            stale += status != "ok"
            flag = "" if status == "ok" else f"  [{status}]"
            print(f"{m.id:<40} {m.area:<11} {m.kind}{flag}")
            if args.list:
                print(f"    {m.path}: {m.promise}")
        print(f"{len(mutants)} entries, {stale} stale")
        return 0
    if not args.no_baseline:
        tests = list(dict.fromkeys(t for m in mutants if not m.equivalent for t in m.tests))
        print(f"baseline: {len(tests)} test files on the unmutated tree...", flush=True)
        ok, tail = baseline(tests)
        if not ok:
            print(f"the tests fail without any mutation: fix them first\n{tail}")
            return 1
    print(f"{len(mutants)} hand-made mutations", flush=True)
    rows = run(mutants, args.jobs, args.timeout)
    order = {m.id: i for i, m in enumerate(mutants)}
    rows.sort(key=lambda r: order[r["id"]])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    failed = report(rows)
    shutil.rmtree(ROOT / ".pytest_cache", ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
