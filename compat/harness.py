"""Run LangChain's and deepagents' own tests against our classes and compare, test by test.

``make compat`` (and ``.ci/run``) calls ``python -m compat``. Steps:

1. fetch the source distribution of the *installed* ``langchain`` through the package index
   (``pip download --no-deps --no-binary :all:``), cached in ``.compat/sdists/`` so a second run is
   offline;
2. extract the unit tests of the six middleware we replace (model/tool retry, model fallback,
   model/tool call limit, PII) and the helper modules they import;
3. build two trees: ``theirs`` (the files unchanged) and ``ours`` (every name the tests import from
   ``langchain.agents.middleware...`` that ``guardrails`` also exports is imported from
   ``guardrails`` instead: exactly the "change the import" a migrating team makes);
4. run both trees (in parallel) and the deepagents permission suite (``compat/deepagents_suite.py``,
   deepagents' own ``permissions=`` against our middleware wired as docs/filesystem.md shows);
5. compare outcomes per test id against ``compat/expected.toml``: a test that passes on theirs and
   not on ours fails the run unless it is listed there, with its reason and the docs section that
   states it; a listed entry that no longer differs is reported so the list shrinks.

Exit status: 0 when every difference is expected, 1 otherwise, 2 when the harness could not run.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".compat"
EXPECTED = Path(__file__).resolve().parent / "expected.toml"
MIGRATION_DOC = ROOT / "docs" / "migration.md"

LC_TESTS = "tests/unit_tests/agents/middleware/implementations"
#: test file -> the LangChain class it covers
LC_FILES: dict[str, str] = {
    "test_model_retry.py": "ModelRetryMiddleware",
    "test_tool_retry.py": "ToolRetryMiddleware",
    "test_model_fallback.py": "ModelFallbackMiddleware",
    "test_model_call_limit.py": "ModelCallLimitMiddleware",
    "test_tool_call_limit.py": "ToolCallLimitMiddleware",
    "test_pii.py": "PIIMiddleware",
}
DA_SUITE = "deepagents"
DA_CLASS = "FilesystemPermission"
SWAPPED_MODULE_PREFIX = "langchain.agents"


class HarnessError(RuntimeError):
    """The harness itself could not run (no network on a first run, a missing file, ...)."""


# --------------------------------------------------------------------------- fetching


def installed_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError as exc:
        raise HarnessError(f"{dist} is not installed in {sys.prefix}") from exc


def _sdist_in(cache: Path, name: str, version: str) -> Path | None:
    stems = {f"{name}-{version}", f"{name.replace('-', '_')}-{version}"}
    for stem in sorted(stems):
        for suffix in (".tar.gz", ".tgz"):
            candidate = cache / f"{stem}{suffix}"
            if candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
    return None


def fetch_sdist(name: str, version: str, cache: Path) -> Path:
    """The cached sdist of ``name==version``, downloaded with pip on first use."""
    cache.mkdir(parents=True, exist_ok=True)
    found = _sdist_in(cache, name, version)
    if found is not None:
        return found
    print(f"compat: downloading the {name}=={version} source distribution (cached afterwards)")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(cache),
        f"{name}=={version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    found = _sdist_in(cache, name, version)
    if proc.returncode != 0 or found is None:
        raise HarnessError(
            f"could not download the {name}=={version} sdist (pip exit {proc.returncode}):\n"
            + (proc.stderr or proc.stdout)[-2000:]
        )
    return found


def read_members(sdist: Path, wanted: Iterable[str]) -> dict[str, str]:
    """Text of the wanted paths (relative to the sdist's top folder); absent ones are left out."""
    wanted_set = set(wanted)
    out: dict[str, str] = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            _, _, rel = member.name.partition("/")
            if rel in wanted_set:
                handle = tar.extractfile(member)
                if handle is not None:
                    out[rel] = handle.read().decode("utf-8")
    return out


def list_members(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as tar:
        return [m.name.partition("/")[2] for m in tar.getmembers() if m.isfile()]


# --------------------------------------------------------------------------- import swap


@dataclass
class SwapLog:
    """Which names a file imported from LangChain and now imports from ``guardrails``."""

    swapped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def swap_imports(source: str, ours: Iterable[str]) -> tuple[str, SwapLog]:
    """Import from ``guardrails`` every name that ``guardrails`` also exports.

    Only ``from langchain.agents... import a, b as c`` statements are touched (at any depth:
    imports inside test functions too); names ``guardrails`` does not export stay LangChain's, as
    they would in a migrated code base (``ModelRequest``, ``ToolCallLimitState``, private helpers).
    """
    exported = set(ours)
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    log = SwapLog()
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level != 0 or node.module is None:
            continue
        if not (
            node.module == SWAPPED_MODULE_PREFIX
            or node.module.startswith(SWAPPED_MODULE_PREFIX + ".")
        ):
            continue
        moved = [a for a in node.names if a.name in exported]
        if not moved:
            log.kept.extend(a.name for a in node.names)
            continue
        kept = [a for a in node.names if a.name not in exported]
        start, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        first, last = lines[start], lines[end]
        if first[: node.col_offset].strip() or last[node.end_col_offset or 0 :].strip():
            raise HarnessError(f"line {node.lineno}: an import sharing its line is not supported")
        indent = " " * node.col_offset

        def render(module: str, aliases: Sequence[ast.alias], indent: str = indent) -> str:
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in aliases)
            return f"{indent}from {module} import ({names})\n"

        text = render("guardrails", moved)
        if kept:
            text = render(node.module, kept) + text
        edits.append((start, end, text))
        log.swapped.extend(a.name for a in moved)
        log.kept.extend(a.name for a in kept)
    for start, end, text in sorted(edits, reverse=True):
        lines[start : end + 1] = [text]
    return "".join(lines), log


def guardrails_exports() -> list[str]:
    """The public names of ``guardrails`` (imported from the checkout under test)."""
    code = "import json, guardrails; print(json.dumps(sorted(guardrails.__all__)))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    if proc.returncode != 0:
        raise HarnessError("guardrails does not import:\n" + proc.stderr[-2000:])
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- building trees

PYTEST_INI = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
markers =
    requires: mark tests as requiring a specific library
    scheduled: mark tests to run in scheduled testing
    compile: placeholder
    benchmark: benchmark tests
filterwarnings =
    ignore::DeprecationWarning
"""

CONFTEST = '''"""Written by the compat harness.

LangChain's unit-test conftest needs blockbuster, vcr and langchain_tests, which the six
middleware test files do not use; this one replaces it."""
'''


def lc_wanted() -> list[str]:
    return ["tests/unit_tests/agents/model.py"] + [f"{LC_TESTS}/{name}" for name in LC_FILES]


def build_tree(dest: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` (path -> text) under ``dest`` with the packages they need."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / "pytest.ini").write_text(PYTEST_INI)
    (dest / "conftest.py").write_text(CONFTEST)
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        parent = path.parent
        while parent != dest:
            init = parent / "__init__.py"
            if not init.exists():
                init.write_text("")
            parent = parent.parent


# --------------------------------------------------------------------------- running


#: address-space cap of each pytest process (bytes); LangChain's tests need well under 1 GB
MEMORY_LIMIT = 4 * 1024**3


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass


def run_pytest(
    tree: Path,
    targets: Sequence[str],
    results: Path,
    timeout: float,
    extra_env: Mapping[str, str] | None = None,
) -> float:
    """Run pytest in ``tree`` with the outcome plugin; returns the wall time."""
    env = {
        **os.environ,
        **(extra_env or {}),
        "PYTHONPATH": os.pathsep.join([str(tree), str(ROOT)]),
        "COMPAT_RESULTS": str(results),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "compat.plugin",
        "--rootdir",
        str(tree),
        "-c",
        str(tree / "pytest.ini"),
        "--tb=no",
        "-o",
        "console_output_style=classic",
        *targets,
    ]
    started = time.monotonic()
    log = results.with_suffix(".log")
    with log.open("w") as out:
        try:
            subprocess.run(
                cmd,
                cwd=tree,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                preexec_fn=_limit_memory,  # a runaway loop fails its test, not the machine
            )
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(
                f"pytest in {tree} ran longer than {timeout:.0f}s; see {log}"
            ) from exc
    if not results.exists():
        raise HarnessError(f"pytest in {tree} wrote no results; see {log}")
    return time.monotonic() - started


def load_results(path: Path) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(path.read_text())
    return data


# --------------------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Expected:
    """One listed difference: a test id (or a pattern with ``*``) that fails on ours, and why."""

    test: str
    reason: str
    docs: str
    kind: str  # documented | private | pending

    def matches(self, test_id: str) -> bool:
        """Exact id, or a pattern where ``*`` (only) is a wildcard: ids hold ``[`` ``]``."""
        if "*" not in self.test:
            return self.test == test_id
        regex = ".*".join(re.escape(part) for part in self.test.split("*"))
        return re.fullmatch(regex, test_id) is not None


KINDS = ("documented", "private", "pending")


def doc_anchors(path: Path) -> set[str]:
    """The heading anchors of a markdown page, the way mkdocs' toc extension slugs them."""
    anchors: set[str] = set()
    if not path.exists():
        return anchors
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        match = None if in_fence else re.match(r"^#{1,6}\s+(.*?)\s*(\{#([\w-]+)\})?\s*$", line)
        if match:
            if match.group(3):
                anchors.add(match.group(3))
                continue
            text = re.sub(r"[`*_]", "", match.group(1)).lower()
            text = re.sub(r"[^\w\s-]", "", text)
            anchors.add(re.sub(r"[\s]+", "-", text.strip()))
    return anchors


def load_expected(path: Path = EXPECTED, doc: Path = MIGRATION_DOC) -> list[Expected]:
    """Read and validate the expected-differences file; raises :class:`HarnessError`."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    anchors = doc_anchors(doc)
    entries: list[Expected] = []
    problems: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("difference", [])):
        where = f"{path.name} entry {i + 1}"
        test = raw.get("test")
        reason = str(raw.get("reason", "")).strip()
        docs = str(raw.get("docs", "")).strip()
        kind = raw.get("kind", "documented")
        if not isinstance(test, str) or "::" not in test:
            problems.append(f"{where}: 'test' must be a test id like 'file.py::test_name'")
            continue
        if test in seen:
            problems.append(f"{where}: {test} is listed twice")
        seen.add(test)
        if kind not in KINDS:
            problems.append(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not reason:
            problems.append(f"{where}: a reason is required")
        if kind == "pending" and not reason.startswith("pending:"):
            problems.append(f"{where}: a pending entry's reason starts with 'pending: issue N'")
        if kind != "pending":
            file_part, _, anchor = docs.partition("#")
            if file_part != "docs/migration.md" or not anchor:
                problems.append(
                    f"{where}: docs must be 'docs/migration.md#<section>', got {docs!r}"
                )
            elif anchor not in anchors:
                problems.append(f"{where}: docs/migration.md has no section #{anchor}")
        entries.append(Expected(test, reason, docs, str(kind)))
    if problems:
        raise HarnessError("invalid expected-differences file:\n  " + "\n  ".join(problems))
    return entries


# --------------------------------------------------------------------------- comparing

PASS = frozenset({"passed", "xfail"})


@dataclass
class Comparison:
    same: list[str] = field(default_factory=list)
    expected: list[tuple[str, Expected]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    better: list[str] = field(default_factory=list)  # fails on theirs, passes on ours
    baseline_broken: list[str] = field(default_factory=list)  # fails on both
    stale: list[Expected] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ran on theirs only


def compare(
    theirs: Mapping[str, Mapping[str, str]],
    ours: Mapping[str, Mapping[str, str]],
    expected: Sequence[Expected],
) -> Comparison:
    """Classify every test id; a listed entry that matches no differing test is stale."""
    result = Comparison()
    used: set[int] = set()
    for test_id in sorted(set(theirs) | set(ours)):
        t = theirs.get(test_id, {}).get("outcome")
        o = ours.get(test_id, {}).get("outcome")
        t_ok, o_ok = t in PASS, o in PASS
        if t is None and o is not None and not test_id.endswith("::<collect>"):
            continue  # a test only we collected: not theirs, nothing to compare
        if o is None:
            o_ok = False
            if not test_id.endswith("::<collect>"):
                result.missing.append(test_id)
        if t_ok and not o_ok:
            hit = next((i for i, e in enumerate(expected) if e.matches(test_id)), None)
            if hit is None:
                result.unexpected.append(test_id)
            else:
                used.add(hit)
                result.expected.append((test_id, expected[hit]))
        elif o_ok and not t_ok and t is not None and t != "skipped":
            result.better.append(test_id)
        else:
            result.same.append(test_id)
            if not t_ok and t not in (None, "skipped"):
                result.baseline_broken.append(test_id)
    result.stale = [e for i, e in enumerate(expected) if i not in used]
    return result


def class_of(test_id: str) -> str:
    file_name = test_id.split("::", 1)[0].rsplit("/", 1)[-1]
    if test_id.startswith(DA_SUITE + "/") or file_name.startswith("test_deepagents"):
        return DA_CLASS
    return LC_FILES.get(file_name, "?")


def per_class(
    theirs: Mapping[str, Mapping[str, str]], ours: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for test_id, entry in theirs.items():
        if test_id.endswith("::<collect>"):
            continue
        row = table.setdefault(class_of(test_id), {"total": 0, "theirs": 0, "ours": 0})
        if entry.get("outcome") == "skipped":
            continue
        row["total"] += 1
        row["theirs"] += entry.get("outcome") in PASS
        row["ours"] += ours.get(test_id, {}).get("outcome") in PASS
    return table


# --------------------------------------------------------------------------- main


def prefixed(results: Mapping[str, dict[str, str]], prefix: str) -> dict[str, dict[str, str]]:
    return {f"{prefix}/{k}": v for k, v in results.items()}


def strip_tree(results: Mapping[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """``tests/unit_tests/.../test_pii.py::x`` -> ``test_pii.py::x``."""
    out: dict[str, dict[str, str]] = {}
    for key, value in results.items():
        path, sep, rest = key.partition("::")
        out[path.rsplit("/", 1)[-1] + sep + rest] = value
    return out


def prepare_langchain(work: Path, version: str, exports: Sequence[str]) -> dict[str, SwapLog]:
    sdist = fetch_sdist("langchain", version, work / "sdists")
    files = read_members(sdist, lc_wanted())
    missing = sorted(set(lc_wanted()) - set(files))
    if missing:
        raise HarnessError(f"{sdist.name} does not ship: {', '.join(missing)}")
    build_tree(work / "build" / "theirs", files)
    swapped: dict[str, str] = {}
    logs: dict[str, SwapLog] = {}
    for rel, text in files.items():
        if rel.startswith(LC_TESTS):
            swapped[rel], logs[rel.rsplit("/", 1)[-1]] = swap_imports(text, exports)
        else:
            swapped[rel] = text
    build_tree(work / "build" / "ours", swapped)
    return logs


def deepagents_sdist_note(work: Path, version: str) -> str:
    """What the deepagents sdist ships: its own tests, if any (0.7.x ships none)."""
    try:
        sdist = fetch_sdist("deepagents", version, work / "sdists")
    except HarnessError as exc:
        return f"deepagents=={version} sdist not available ({str(exc).splitlines()[0]})"
    tests = [m for m in list_members(sdist) if m.startswith("tests/")]
    if not tests:
        return (
            f"deepagents=={version} sdist ships no tests/; its permission contract is checked by "
            "compat/deepagents_suite.py against the installed deepagents itself"
        )
    return f"deepagents=={version} sdist ships {len(tests)} test files (not yet wired)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat", description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=WORK, help="cache and build folder")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per pytest run")
    parser.add_argument("--no-deepagents", action="store_true", help="skip the deepagents suite")
    parser.add_argument("--report", type=Path, default=None, help="write a JSON report here")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every difference")
    parser.add_argument(
        "--prune", action="store_true", help="remove stale entries from compat/expected.toml"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    work: Path = args.work
    try:
        expected = load_expected()
        lc_version = installed_version("langchain")
        exports = guardrails_exports()
        logs = prepare_langchain(work, lc_version, exports)
        results_dir = work / "results"
        results_dir.mkdir(parents=True, exist_ok=True)
        for stale in results_dir.glob("*.json"):
            stale.unlink()
        jobs: dict[str, tuple[Path, list[str], dict[str, str]]] = {}
        da_note = ""
        if not args.no_deepagents:
            da_version = installed_version("deepagents")
            da_note = deepagents_sdist_note(work, da_version)
            suite = Path(__file__).resolve().parent / "deepagents_suite.py"
            da_tree = work / "build" / "deepagents"
            golden = suite.with_name("deepagents_golden.json")
            build_tree(
                da_tree,
                {
                    "test_deepagents_permissions.py": suite.read_text(),
                    "deepagents_golden.json": golden.read_text(),
                },
            )
            for side in ("theirs", "ours"):  # the slowest jobs first: 2 workers stay busy
                target = ["test_deepagents_permissions.py"]
                jobs[f"deepagents-{side}"] = (da_tree, target, {"COMPAT_SIDE": side})
        jobs["theirs"] = (work / "build" / "theirs", [LC_TESTS], {})
        jobs["ours"] = (work / "build" / "ours", [LC_TESTS], {})
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                name: pool.submit(
                    run_pytest, tree, targets, results_dir / f"{name}.json", args.timeout, env
                )
                for name, (tree, targets, env) in jobs.items()
            }
            walls = {name: f.result() for name, f in futures.items()}
        theirs = strip_tree(load_results(results_dir / "theirs.json"))
        ours = strip_tree(load_results(results_dir / "ours.json"))
        if "deepagents-ours" in jobs:
            for side, into in (("theirs", theirs), ("ours", ours)):
                da = load_results(results_dir / f"deepagents-{side}.json")
                into.update(prefixed(_split_side(da, side), DA_SUITE))
    except HarnessError as exc:
        print(f"compat: cannot run: {exc}", file=sys.stderr)
        return 2
    comparison = compare(theirs, ours, expected)
    table = per_class(theirs, ours)
    print_summary(comparison, table, theirs, ours, logs, lc_version, da_note, walls, args.verbose)
    elapsed = time.monotonic() - started
    print(f"compat: finished in {elapsed:.0f}s")
    if args.report:
        write_report(args.report, comparison, table, lc_version, theirs, ours)
    if args.prune and comparison.stale:
        removed = prune_expected(EXPECTED, {e.test for e in comparison.stale})
        print(f"compat: removed {removed} stale entries from {EXPECTED.name}")
    return 1 if comparison.unexpected else 0


def prune_expected(path: Path, stale: set[str]) -> int:
    """Drop the ``[[difference]]`` blocks whose ``test`` is in ``stale``; keeps the rest as is."""
    text = path.read_text(encoding="utf-8")
    head, *blocks = re.split(r"(?m)^(?=\[\[difference\]\]\s*$)", text)
    kept = []
    for block in blocks:
        test = tomllib.loads(block)["difference"][0]["test"]
        if test not in stale:
            kept.append(block)
    path.write_text(head + "".join(kept), encoding="utf-8")
    return len(blocks) - len(kept)


def _split_side(results: Mapping[str, dict[str, str]], side: str) -> dict[str, dict[str, str]]:
    """The deepagents suite runs each case twice, ``[theirs-...]`` and ``[ours-...]``."""
    out: dict[str, dict[str, str]] = {}
    for key, value in results.items():
        if key.endswith("::<collect>"):
            out[key] = value
            continue
        match = re.match(r"^(.*)\[(theirs|ours)-(.*)\]$", key)
        if match and match.group(2) == side:
            out[f"{match.group(1)}[{match.group(3)}]"] = value
        elif not match and side == "ours":
            out[key] = value
    return out


def print_summary(
    comparison: Comparison,
    table: Mapping[str, Mapping[str, int]],
    theirs: Mapping[str, Mapping[str, str]],
    ours: Mapping[str, Mapping[str, str]],
    logs: Mapping[str, SwapLog],
    lc_version: str,
    da_note: str,
    walls: Mapping[str, float],
    verbose: bool,
) -> None:
    print(f"compat: langchain=={lc_version} middleware tests, imports swapped to guardrails:")
    for name, log in sorted(logs.items()):
        print(f"  {name}: {', '.join(sorted(set(log.swapped))) or '(nothing swapped)'}")
    if da_note:
        print(f"compat: {da_note}")
    print("compat: pass counts (ours / theirs / run):")
    for cls, row in sorted(table.items()):
        print(f"  {cls:28} {row['ours']:4} / {row['theirs']:4} / {row['total']:4}")
    times = ", ".join(f"{k} {v:.0f}s" for k, v in walls.items())
    print(f"compat: pytest wall time: {times}")
    pending = [e for _, e in comparison.expected if e.kind == "pending"]
    if comparison.expected and (verbose or pending):
        print("compat: expected differences:")
        for test_id, entry in comparison.expected:
            if verbose or entry.kind == "pending":
                print(f"  [{entry.kind}] {test_id}: {entry.reason}")
    if comparison.better:
        print(
            f"compat: {len(comparison.better)} tests fail on LangChain's classes but pass on ours:"
        )
        for test_id in comparison.better:
            print(f"  {test_id}")
    if comparison.baseline_broken:
        print(f"compat: {len(comparison.baseline_broken)} tests fail on both (environment?):")
        for test_id in comparison.baseline_broken:
            print(f"  {test_id}: {theirs.get(test_id, {}).get('message', '')}")
    if comparison.stale:
        print("compat: WARNING: listed differences that no longer differ (remove them):")
        for entry in comparison.stale:
            print(f"  {entry.test} ({entry.reason})")
    if comparison.unexpected:
        print("compat: UNEXPECTED differences (pass on LangChain's classes, fail on ours):")
        for test_id in comparison.unexpected:
            detail = ours.get(test_id, {})
            print(f"  {test_id}: {detail.get('outcome', 'not run')}: {detail.get('message', '')}")
    print(
        f"compat: {len(comparison.same)} same, {len(comparison.expected)} expected differences"
        f" ({len(pending)} pending), {len(comparison.unexpected)} unexpected,"
        f" {len(comparison.stale)} stale"
    )


def write_report(
    path: Path,
    comparison: Comparison,
    table: Mapping[str, Mapping[str, int]],
    lc_version: str,
    theirs: Mapping[str, Any],
    ours: Mapping[str, Any],
) -> None:
    report = {
        "langchain": lc_version,
        "classes": table,
        "same": len(comparison.same),
        "expected": [[t, e.kind, e.reason] for t, e in comparison.expected],
        "unexpected": comparison.unexpected,
        "stale": [e.test for e in comparison.stale],
        "better": comparison.better,
        "theirs": theirs,
        "ours": ours,
    }
    path.write_text(json.dumps(report, indent=1, sort_keys=True))
