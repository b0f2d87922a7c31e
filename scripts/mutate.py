"""Mutation testing of the guardrails' decisions: ``make mutate`` (or ``python scripts/mutate.py``).

Each mutant is one careless edit of a decision point (a flipped comparison, ``and`` for ``or``,
a negated or dropped condition, a refusal that is no longer raised, a check that is no longer
called, a boolean flipped, ``break`` for ``continue``), made in a scratch copy of the tree. The
tests of the mutant's area that run the mutated line (found once with coverage) must fail; a
mutant they pass is a survivor. Mutants that no test reaches are survivors too.

Usage::

    python scripts/mutate.py                      # every area
    python scripts/mutate.py filesystem pii -j 2  # some areas, two workers
    python scripts/mutate.py pii --sample 80      # a seeded sample of 80 mutants per area
    python scripts/mutate.py --list pii           # the mutants, not run
    python scripts/mutate.py limits --ops all     # also the extended operators (docs/mutation.md)

The report gives the score per area (killed / mutants not known to be equivalent) and lists the
survivors; ``scripts/mutate_equivalent.toml`` holds the survivors judged equivalent, each with
its reason, keyed by the stable id the report prints (file, function, operator, the edit).
``--table RESULTS.json ...`` prints the score table of saved runs (for docs/mutation.md).

How it runs quickly: a worker process imports the heavy third-party packages once, then forks
one child per mutant; the child imports ``guardrails`` fresh from its scratch copy (no bytecode
is read or written there) and runs pytest with ``-x``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".mutate"

#: area -> (security decision?, source globs, test globs)
AREAS: dict[str, tuple[bool, list[str], list[str]]] = {
    "pii": (
        True,
        [
            "guardrails/pii/scan.py",
            "guardrails/pii/decision.py",
            "guardrails/pii/walk.py",
            "guardrails/pii/layers.py",
            "guardrails/pii/strategies.py",
            "guardrails/pii/lasthop.py",
            "guardrails/pii/middleware.py",
            "guardrails/pii/mapping.py",
            "guardrails/pii/writeback.py",
            "guardrails/pii/stream.py",
            "guardrails/pii/pseudonym.py",
            "guardrails/pii/holdback.py",
        ],
        [
            "tests/test_pii*.py",
            "tests/test_pseudonymize.py",
            "tests/test_secrets_stream.py",
            "tests/test_promises.py",
            "tests/test_promises_pii*.py",
        ],
    ),
    "pii_flow": (
        True,
        [
            "guardrails/pii/payloads.py",
            "guardrails/pii/observers.py",
            "guardrails/pii/tool_side.py",
            "guardrails/pii/subagents.py",
            "guardrails/pii/vault.py",
            "guardrails/pii/cache.py",
            "guardrails/pii/inventory.py",
        ],
        [
            "tests/test_promises_pii*.py",
            "tests/test_pii.py",
            "tests/test_pii_cache.py",
            "tests/test_pii_inplace.py",
            "tests/test_pii_memo.py",
            "tests/test_pii_readback.py",
            "tests/test_pii_redteam.py",
            "tests/test_pii_sinks.py",
            "tests/test_pii_structure.py",
            "tests/test_pii_wire.py",
            "tests/test_pseudonymize.py",
            "tests/test_subagents.py",
            "tests/test_storage.py",
            "tests/test_promises.py",
        ],
    ),
    "pii_detect": (
        True,
        [
            "guardrails/pii/detect.py",
            "guardrails/pii/context.py",
            "guardrails/pii/normalize.py",
            "guardrails/pii/phones.py",
            "guardrails/pii/finders/*.py",
        ],
        [
            "tests/test_pii_detect*.py",
            "tests/test_pii.py",
            "tests/test_pii_phones*.py",
            "tests/test_pii_adjacent.py",
            "tests/test_secrets*.py",
            "tests/test_promises_detect*.py",
            "tests/test_promises_hand.py",
        ],
    ),
    "filesystem": (
        True,
        ["guardrails/filesystem/*.py"],
        [
            "tests/test_filesystem*.py",
            "tests/test_promises_filesystem*.py",
            "tests/test_promises_hand.py",
            "tests/test_subagents.py",
            "tests/test_secrets_agents.py",
            "tests/test_promises.py",
        ],
    ),
    "injection": (
        True,
        ["guardrails/injection/*.py"],
        ["tests/test_injection*.py", "tests/test_promises_injection*.py"],
    ),
    "deep": (
        True,
        ["guardrails/deep.py"],
        [
            "tests/test_promises_deep*.py",
            "tests/test_subagents.py",
            "tests/test_secrets_agents.py",
            "tests/test_filesystem_pass2.py",
            "tests/test_pii_sinks.py",
        ],
    ),
    "limits": (
        False,
        [
            "guardrails/call_limits.py",
            "guardrails/rate_limits.py",
            "guardrails/_windows.py",
            "guardrails/_budget.py",
        ],
        [
            "tests/test_call_limits*.py",
            "tests/test_rate_limits*.py",
            "tests/test_compose_storage.py",
            "tests/test_storage_durations.py",
            "tests/test_promises.py",
            "tests/test_promises_limits*.py",
            "tests/test_promises_hand.py",
        ],
    ),
    "retry": (
        False,
        ["guardrails/retry.py", "guardrails/errors.py"],
        [
            "tests/test_retry.py",
            "tests/test_errors.py",
            "tests/test_compat_errors.py",
            "tests/test_mistakes.py",
            "tests/test_promises_retry*.py",
        ],
    ),
    "breaker": (
        False,
        ["guardrails/fallback.py"],
        [
            "tests/test_fallback*.py",
            "tests/test_breaker_transitions.py",
            "tests/test_storage_durations.py",
            "tests/test_mistakes.py",
            "tests/test_promises.py",
            "tests/test_promises_breaker*.py",
        ],
    ),
    "storage": (
        False,
        ["guardrails/_storage.py"],
        [
            "tests/test_storage.py",
            "tests/test_fallback_storage.py",
            "tests/test_rate_limits_storage.py",
            "tests/test_storage_latch.py",
            "tests/test_storage_durations.py",
            "tests/test_compose_storage.py",
            "tests/test_promises_storage*.py",
        ],
    ),
    "config": (
        False,
        ["guardrails/_validate.py", "guardrails/policy.py", "guardrails/_policy_load.py"],
        [
            "tests/test_validate.py",
            "tests/test_policy*.py",
            "tests/test_mistakes.py",
            "tests/test_cli.py",
            "tests/test_promises.py",
            "tests/test_promises_config*.py",
        ],
    ),
    "core": (
        False,
        [
            "guardrails/compose.py",
            "guardrails/order.py",
            "guardrails/_core.py",
            "guardrails/audit.py",
            "guardrails/telemetry.py",
            "guardrails/_state.py",
        ],
        [
            "tests/test_core.py",
            "tests/test_compose*.py",
            "tests/test_audit.py",
            "tests/test_telemetry.py",
            "tests/test_policy.py",
            "tests/test_mistakes.py",
            "tests/test_promises.py",
            "tests/test_promises_core.py",
            "tests/test_order_warning_lines.py",
        ],
    ),
}

_NEGATE = {
    ast.Lt: ast.GtE,
    ast.LtE: ast.Gt,
    ast.Gt: ast.LtE,
    ast.GtE: ast.Lt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
_SKIP_FUNCS = {"__repr__", "__str__", "__rich__", "__init_subclass__"}

#: the operators, by family. ``classic`` is the default set (the samples drawn before the
#: ``extended`` family existed are drawn again, mutant for mutant, by the same seed);
#: ``--ops all`` adds the kinds of careless edit the extended family stands for.
OPS: dict[str, tuple[str, ...]] = {
    "classic": (
        "compare_negate",
        "compare_boundary",
        "bool_op",
        "drop_not",
        "negate_condition",
        "flip_bool",
        "drop_raise",
        "drop_call",
        "continue_break",
    ),
    "extended": (
        "const_condition",
        "drop_operand",
        "early_return",
        "const_offset",
        "flip_default",
    ),
}
ALL_OPS = OPS["classic"] + OPS["extended"]


@dataclasses.dataclass(frozen=True)
class Mutant:
    area: str
    path: str  # relative to ROOT
    line: int
    function: str
    op: str
    start: tuple[int, int]  # (line, col) of the replaced segment, 1-based line
    end: tuple[int, int]
    original: str
    replacement: str
    stmt_line: int = 0  # the statement the edit is in: what coverage records as run

    @property
    def key(self) -> str:
        """Stable across unrelated edits: no line numbers."""
        edit = " ".join(f"{self.original} -> {self.replacement}".split())
        return f"{self.path}::{self.function}::{self.op}::{edit}"

    def apply(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        offsets = [0]
        for text in lines:
            offsets.append(offsets[-1] + len(text.encode()))
        data = source.encode()
        a = offsets[self.start[0] - 1] + self.start[1]
        b = offsets[self.end[0] - 1] + self.end[1]
        return (data[:a] + self.replacement.encode() + data[b:]).decode()


class _Finder(ast.NodeVisitor):
    def __init__(self, area: str, path: str, source: str) -> None:
        self.area, self.path, self.source = area, path, source
        self.lines = source.splitlines()
        self.stack: list[str] = []
        self.stmts: list[int] = [0]
        self.found: list[Mutant] = []
        self.quiet = 0  # > 0 inside text (messages, f-strings): no const_offset there

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.stmt):
            self.stmts.append(node.lineno)
            try:
                return super().visit(node)
            finally:
                self.stmts.pop()
        return super().visit(node)

    def _segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def _add(self, node: ast.AST, op: str, replacement: str) -> None:
        if not self.stack or self.stack[-1] in _SKIP_FUNCS:
            return
        line = node.lineno  # type: ignore[attr-defined]
        if "pragma: no mutate" in self.lines[line - 1]:
            return
        original = self._segment(node)
        if not original or original == replacement:
            return
        self.found.append(
            Mutant(
                self.area,
                self.path,
                line,
                ".".join(self.stack),
                op,
                (line, node.col_offset),  # type: ignore[attr-defined]
                (node.end_lineno, node.end_col_offset),  # type: ignore[attr-defined]
                original,
                replacement,
                self.stmts[-1] or line,
            )
        )

    # scopes
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node.name)
        self._flip_defaults(node)
        self._early_return(node)
        for stmt in node.body:  # decorators are configuration, not decisions
            self.visit(stmt)
        self.stack.pop()

    def _flip_defaults(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """A boolean default swapped (``fail_open: bool = False`` -> ``True``): the documented
        setup silently becoming the other one."""
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]:
            if isinstance(default, ast.Constant) and isinstance(default.value, bool):
                self._add(default, "flip_default", str(not default.value))

    def _early_return(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """``return <neutral value>`` before the body: a check that no longer checks, a
        decision that always says the harmless-looking thing."""
        if node.name.startswith("__") or not node.body:
            return
        body = node.body
        if (
            isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body = body[1:]  # after the docstring
        if not body:
            return
        first = body[0]
        if self.lines[first.lineno - 1][: first.col_offset].strip():
            return  # the body starts on the line of the signature (``-> float: ...``)
        if isinstance(first, ast.Return | ast.Pass | ast.Raise):
            return  # already returns (or refuses) at once
        value = _neutral(node)
        if value is None:
            return
        indent = " " * first.col_offset
        where = (first.lineno, first.col_offset)
        self._add_text(where, where, first.lineno, "early_return", "", f"return {value}\n{indent}")

    def _add_text(
        self,
        start: tuple[int, int],
        end: tuple[int, int],
        stmt_line: int,
        op: str,
        original: str,
        replacement: str,
    ) -> None:
        if not self.stack or self.stack[-1] in _SKIP_FUNCS:
            return
        if "pragma: no mutate" in self.lines[start[0] - 1]:
            return
        self.found.append(
            Mutant(
                self.area,
                self.path,
                start[0],
                ".".join(self.stack),
                op,
                start,
                end,
                original,
                replacement,
                stmt_line,
            )
        )

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    # decisions
    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            for kind, table in (("negate", _NEGATE), ("boundary", _BOUNDARY)):
                other = table.get(type(op))
                if other is None:
                    continue
                ops = list(node.ops)
                ops[i] = other()
                mutated = ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
                self._add(node, f"compare_{kind}", f"({ast.unparse(mutated)})")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add(node, "bool_op", f"({ast.unparse(ast.BoolOp(op=other, values=node.values))})")
        # one operand no longer checked: ``a and b`` -> ``a and True``, ``a or b`` -> ``a or False``
        neutral = "True" if isinstance(node.op, ast.And) else "False"
        for value in node.values:
            if not isinstance(value, ast.Constant):
                self._add(value, "drop_operand", neutral)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, "drop_not", f"({self._segment(node.operand)})")
        self.generic_visit(node)

    def _negate_test(self, test: ast.expr) -> None:
        if isinstance(test, ast.UnaryOp | ast.Compare):
            return  # drop_not / compare_negate already make this edit
        self._add(test, "negate_condition", f"(not ({self._segment(test)}))")

    def _const_test(self, test: ast.expr, *, values: tuple[bool, ...] = (True, False)) -> None:
        """A condition that is no longer evaluated: a skipped check (``True``: always taken,
        ``False``: never taken)."""
        if isinstance(test, ast.Constant):
            return
        for value in values:
            self._add(test, "const_condition", str(value))

    def visit_If(self, node: ast.If) -> None:
        if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            self._negate_test(node.test)
            self._const_test(node.test)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate_test(node.test)
        self._const_test(node.test, values=(False,))  # ``while True`` only hangs
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate_test(node.test)
        self._const_test(node.test)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if node.value is True or node.value is False:
            self._add(node, "flip_bool", str(not node.value))
        elif (
            isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
            and not self.quiet
        ):
            for delta in (1, -1):
                self._add(node, "const_offset", repr(node.value + delta))

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        """Text of a message (numbers in a format spec, widths): not a decision."""
        self.quiet += 1
        self.generic_visit(node)
        self.quiet -= 1

    def visit_Call(self, node: ast.Call) -> None:
        """Numbers in a refusal's message or a log line are text, not thresholds."""
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name.endswith(("Error", "Exception", "Warning")) or name in _TEXT_CALLS:
            self.quiet += 1
            self.generic_visit(node)
            self.quiet -= 1
        else:
            self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        if node.exc is not None:  # a bare ``raise`` re-raises: dropping it changes flow only
            self._add(node, "drop_raise", "pass")
        self.generic_visit(node)

    def visit_Continue(self, node: ast.Continue) -> None:
        self._add(node, "continue_break", "break")

    def visit_Break(self, node: ast.Break) -> None:
        self._add(node, "continue_break", "continue")

    def visit_Expr(self, node: ast.Expr) -> None:
        value = node.value
        # a check, an audit, a write, a flow step that is no longer made
        if isinstance(value, ast.Call | ast.Yield | ast.YieldFrom | ast.Await):
            self._add(node, "drop_call", "pass")
        self.generic_visit(node)


#: calls whose numeric arguments are text or cosmetics, not decisions
_TEXT_CALLS = {"audit", "emit", "debug", "info", "warning", "error", "exception", "log", "round"}

_NEUTRAL_BY_ANNOTATION = {
    "bool": "False",
    "int": "0",
    "float": "0.0",
    "str": "''",
    "None": "None",
}


def _neutral(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The falsy / neutral value a function could return at once, or None when there is none
    (a generator, a function that must return an object of its own)."""
    own = _own_nodes(node)
    if any(isinstance(n, ast.Yield | ast.YieldFrom) for n in own):
        return None  # a flow: an early return would end it without an answer (always caught)
    ann = node.returns
    if ann is None:
        returns = [n for n in own if isinstance(n, ast.Return)]
        if all(r.value is None for r in returns):
            return "None"
        if any(
            isinstance(r.value, ast.Compare | ast.BoolOp)
            or (isinstance(r.value, ast.Constant) and isinstance(r.value.value, bool))
            for r in returns
        ):
            return "False"
        return None
    text = ast.unparse(ann).replace("'", "").replace('"', "")
    if text in _NEUTRAL_BY_ANNOTATION:
        return _NEUTRAL_BY_ANNOTATION[text]
    if text.endswith("| None") or text.startswith(("None |", "Optional[")):
        return "None"
    if text.startswith(("list[", "List[")) or text == "list":
        return "[]"
    if text.startswith(("dict[", "Dict[")) or text == "dict":
        return "{}"
    if text.startswith(("set[", "frozenset[")):
        return "set()"
    if text.startswith(("tuple[", "Tuple[")) and "..." in text:
        return "()"
    return None


def _own_nodes(func: ast.AST) -> list[ast.AST]:
    """The nodes of ``func`` itself, not of a function or lambda defined inside it."""
    out: list[ast.AST] = []
    todo = list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _expand(globs: list[str]) -> list[Path]:
    out: list[Path] = []
    for pattern in globs:
        out.extend(sorted(p for p in ROOT.glob(pattern)))
    return [p for p in dict.fromkeys(out) if p.is_file()]


#: extra pytest arguments for every run (``--deselect``): a test that fails here for reasons
#: of its own (a timing test on a loaded machine) must not stop a whole area
PYTEST_EXTRA: list[str] = []

#: the sources as the mutants were found in them: a mutant is applied to the text its offsets
#: came from, even if the tree changes during a run (a rebase)
_SNAPSHOT: dict[str, str] = {}


def mutants_of(area: str, ops: tuple[str, ...] = OPS["classic"]) -> list[Mutant]:
    _, sources, _ = AREAS[area]
    found: list[Mutant] = []
    for path in _expand(sources):
        rel = path.relative_to(ROOT).as_posix()
        source = _SNAPSHOT.setdefault(rel, path.read_text())
        finder = _Finder(area, rel, source)
        finder.visit(ast.parse(source))
        found.extend(m for m in finder.found if m.op in ops)
    return found


def parse_ops(text: str) -> tuple[str, ...]:
    """``classic`` | ``extended`` | ``all`` | a comma list of families and operator names."""
    out: list[str] = []
    for word in (w.strip() for w in text.split(",")):
        if word == "all":
            out.extend(ALL_OPS)
        elif word in OPS:
            out.extend(OPS[word])
        elif word in ALL_OPS:
            out.append(word)
        else:
            raise ValueError(
                f"unknown operator {word!r}: the families are {sorted(OPS)} and 'all', "
                f"the operators {list(ALL_OPS)}"
            )
    return tuple(dict.fromkeys(out))


# ------------------------------------------------------------------------------- running


def _scratch() -> Path:
    target = Path(tempfile.mkdtemp(prefix="mutate-"))
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", ".mutate", ".compat", "site", ".*_cache", "*.pyc"
    )
    for entry in ROOT.iterdir():
        if entry.name in {".git", ".venv", ".mutate", ".compat", "site"}:
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, ignore=ignore)
        else:
            shutil.copy2(entry, target / entry.name)
    return target


def _tests(area: str) -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in _expand(AREAS[area][2])]


def _fingerprint(area: str) -> str:
    digest = hashlib.sha256()
    _, _, tests = AREAS[area]
    for path in _expand(["guardrails/**/*.py", *tests]):
        digest.update(path.as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(" ".join(PYTEST_EXTRA).encode())
    return digest.hexdigest()[:16]


def coverage_map(area: str, scratch: Path) -> dict[tuple[str, int], list[str]]:
    """(file, line) -> the test node ids (function level) that run it; cached per tree."""
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{area}-{_fingerprint(area)}.json"
    if cached.exists():
        raw = json.loads(cached.read_text())
        return {(f, int(n)): t for f, rows in raw.items() for n, t in rows.items()}
    rc = scratch / ".coveragerc-mutate"
    rc.write_text(
        "[run]\nsource = guardrails\ndynamic_context = test_function\nbranch = false\n"
        "data_file = .coverage-mutate\n"
    )
    print(f"[{area}] mapping lines to tests (one run under coverage)...", flush=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            f"--rcfile={rc}",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            "--timeout=300",
            *PYTEST_EXTRA,
            *_tests(area),
        ],
        cwd=scratch,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-25:])
        raise BaselineFailed(
            f"[{area}] the area's tests fail without any mutation (exit {done.returncode}): "
            f"fix them first, every mutant would look killed\n{tail}"
        )
    import coverage

    data = coverage.CoverageData(basename=str(scratch / ".coverage-mutate"))
    data.read()
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for filename in data.measured_files():
        rel = Path(filename).resolve().relative_to(scratch.resolve()).as_posix()
        for line, contexts in data.contexts_by_lineno(filename).items():
            ids = sorted({_node_id(c) for c in contexts if c})
            if ids:
                out[rel][str(line)] = ids
    cached.write_text(json.dumps(out))
    return {(f, int(n)): t for f, rows in out.items() for n, t in rows.items()}


def _node_id(context: str) -> str:
    """``tests.test_x.TestY.test_z`` -> ``tests/test_x.py::TestY::test_z``."""
    parts = context.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ROOT / ("/".join(parts[:i]) + ".py")
        if candidate.exists():
            return "/".join(parts[:i]) + ".py::" + "::".join(parts[i:])
    return context


class BaselineFailed(Exception):
    """The area's tests fail before any edit: its mutants cannot be judged."""


class Worker:
    """One scratch tree and one forking process with the heavy imports done."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(scratch)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=scratch,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def run(self, mutant: Mutant, tests: list[str], timeout: float) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        job = {
            "path": mutant.path,
            "source": mutant.apply(_SNAPSHOT.get(mutant.path) or (ROOT / mutant.path).read_text()),
            "tests": tests,
            "timeout": timeout,
            "extra": PYTEST_EXTRA,
        }
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.scratch, ignore_errors=True)


def serve(scratch: Path) -> None:
    """The worker loop: read a job per line, fork a pytest run on the mutated tree, answer."""
    sys.path.insert(0, str(scratch))
    import pytest  # noqa: F401

    for name in (
        "langchain.agents",
        "langgraph.graph",
        "langchain_openai",
        "respx",
        "hypothesis",
        "deepagents",
        "presidio_analyzer",
    ):
        with contextlib.suppress(Exception):  # optional: the child imports it itself
            __import__(name)
    for line in sys.stdin:
        job = json.loads(line)
        target = scratch / job["path"]
        original = target.read_text()
        target.write_text(job["source"])
        try:
            verdict = _fork_pytest(
                scratch, job["tests"], float(job["timeout"]), job.get("extra", [])
            )
        finally:
            target.write_text(original)
        print(verdict, flush=True)


def _fork_pytest(scratch: Path, tests: list[str], timeout: float, extra: list[str]) -> str:
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        code = 3
        try:
            os.chdir(scratch)
            sys.dont_write_bytecode = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            code = int(
                pytest.main(
                    [
                        "-x",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        "-p",
                        "no:randomly",
                        # the suite's own bound per test (pyproject: 300 s), never more than
                        # the mutant's: a mutant that breaks a bounded wait fails its test as
                        # in `make test` instead of hanging until the mutant's hard limit
                        f"--timeout={min(max(int(timeout), 30), 300)}",
                        *extra,
                        *tests,
                    ]
                )
            )
        finally:
            os._exit(code)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            if code == 0:
                return "survived"
            if code in (2, 3, 4):  # interrupted, internal error, usage: the mutant broke pytest
                return "killed:error"
            return "killed"
        if time.monotonic() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "killed:timeout"
        time.sleep(0.05)


def _equivalent() -> dict[str, str]:
    path = ROOT / "scripts" / "mutate_equivalent.toml"
    if not path.exists():
        return {}
    import tomllib

    data = tomllib.loads(path.read_text())
    return {row["key"]: row["reason"] for row in data.get("equivalent", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutate.py", description=__doc__.split("\n")[0])
    parser.add_argument("areas", nargs="*", help=f"areas (default: all): {', '.join(AREAS)}")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument("--sample", type=int, default=0, help="mutants per area (seeded)")
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument(
        "--ops",
        default="classic",
        help="operators: classic (default), extended, all, or a comma list of families/names",
    )
    parser.add_argument(
        "--match", help="only the mutants whose key or file:line contains this text"
    )
    parser.add_argument(
        "--tests",
        nargs="+",
        metavar="TEST",
        help="run the mutants against these tests only (no coverage map): to check that a new "
        "test kills the mutants it is meant for",
    )
    parser.add_argument(
        "--deselect",
        action="append",
        default=[],
        metavar="NODEID",
        help="leave this test out of every run (say why in the report); may be repeated",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=240.0,
        help="seconds per mutant before it counts as killed:timeout (raise it with a long "
        "--tests list on a loaded machine, or survivors read as timeouts)",
    )
    parser.add_argument("--json", type=Path, help="write every result to this file")
    parser.add_argument(
        "--table",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="print the score table (markdown) of results written by --json, and stop",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.table:
        print(score_table(args.table))
        return 0
    unknown = [a for a in args.areas if a not in AREAS]
    if unknown:
        parser.error(f"unknown area(s) {unknown}; the areas are {list(AREAS)}")
    areas = args.areas or list(AREAS)
    for node in args.deselect:
        PYTEST_EXTRA.extend(["--deselect", node])
    try:
        ops = parse_ops(args.ops)
    except ValueError as exc:
        parser.error(str(exc))
    equivalent = _equivalent()
    results: list[dict[str, Any]] = []
    failed_security = False
    for area in areas:
        mutants = mutants_of(area, ops)
        if not mutants:
            print(f"[{area}] no mutants (no source files here, or none of these operators)")
            continue
        if args.match:
            mutants = [m for m in mutants if args.match in f"{m.key} {m.path}:{m.line}"]
        if args.sample and len(mutants) > args.sample:
            mutants = random.Random(f"{args.seed}:{area}").sample(mutants, args.sample)
            mutants.sort(key=lambda m: (m.path, m.line))
        if args.list:
            for m in mutants:
                print(f"{m.path}:{m.line} {m.op}: {m.original!r} -> {m.replacement!r}")
            continue
        scratch = _scratch()
        try:
            lines = _fixed(mutants, args.tests) if args.tests else coverage_map(area, scratch)
        except BaselineFailed as exc:
            print(exc)
            shutil.rmtree(scratch, ignore_errors=True)
            failed_security = failed_security or AREAS[area][0]
            continue
        workers = [Worker(scratch if i == 0 else _scratch()) for i in range(max(args.jobs, 1))]
        area_tests = _tests(area)
        rows = _run_area(area, mutants, lines, workers, area_tests, args.timeout)
        for r in rows:
            r.update(seed=args.seed, sample=args.sample, ops=args.ops)
        for w in workers:
            w.close()
        security = AREAS[area][0]
        counted = [r for r in rows if r["key"] not in equivalent]
        killed = sum(1 for r in counted if r["result"].startswith("killed"))
        score = killed / len(counted) if counted else 1.0
        survivors = [r for r in counted if not r["result"].startswith("killed")]
        print(
            f"\n[{area}] {'security ' if security else ''}mutants {len(rows)}, "
            f"equivalent {len(rows) - len(counted)}, killed {killed}, "
            f"survived {len(survivors)}: score {score:.1%}"
        )
        for r in survivors:
            print(
                f"  SURVIVED {r['path']}:{r['line']} {r['op']} "
                f"{r['original']!r} -> {r['replacement']!r} ({r['result']})\n    key: {r['key']}"
            )
        if security and survivors:
            failed_security = True
        results.extend(rows)
        if args.json:  # after each area: a long run that is stopped keeps what it measured
            args.json.write_text(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if failed_security else 0


def _fixed(mutants: list[Mutant], tests: list[str]) -> dict[tuple[str, int], list[str]]:
    """A coverage map that sends every mutant to the same tests (``--tests``)."""
    return {(m.path, m.stmt_line): list(tests) for m in mutants}


def score_table(paths: list[Path]) -> str:
    """A markdown row per (area, run) of ``--json`` results; equivalents do not count."""
    equivalent = _equivalent()
    out = [
        "| area | run | mutants | equivalent | killed | survived (not covered) | score |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in paths:
        rows = json.loads(path.read_text())
        by_area: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_area[r["area"]].append(r)
        for area, group in by_area.items():
            first = group[0]
            run = (
                f"seed {first.get('seed', '?')}, sample {first.get('sample') or 'all'}, "
                f"ops {first.get('ops', 'classic')}"
                if "seed" in first
                else path.name
            )
            counted = [r for r in group if r["key"] not in equivalent]
            killed = sum(1 for r in counted if r["result"].startswith("killed"))
            lived = [r for r in counted if not r["result"].startswith("killed")]
            uncovered = sum(1 for r in lived if r["result"].endswith("not_covered"))
            score = killed / len(counted) if counted else 1.0
            out.append(
                f"| `{area}` | {run} | {len(group)} | {len(group) - len(counted)} | {killed} "
                f"| {len(lived)} ({uncovered}) | {score:.1%} |"
            )
    return "\n".join(out)


def _run_area(
    area: str,
    mutants: list[Mutant],
    lines: dict[tuple[str, int], list[str]],
    workers: list[Worker],
    area_tests: list[str],
    timeout: float = 240.0,
) -> list[dict[str, Any]]:
    from concurrent.futures import ThreadPoolExecutor
    from queue import Queue

    free: Queue[Worker] = Queue()
    for w in workers:
        free.put(w)

    def one(m: Mutant) -> dict[str, Any]:
        tests = lines.get((m.path, m.stmt_line)) or sorted(
            {t for n in range(m.start[0], m.end[0] + 1) for t in lines.get((m.path, n), [])}
        )
        row = dataclasses.asdict(m) | {"key": m.key}
        if not tests:
            row["result"] = "survived:not_covered"
            return row
        w = free.get()
        try:
            row["result"] = w.run(m, tests, timeout=timeout)
        finally:
            free.put(w)
        return row

    rows: list[dict[str, Any]] = []
    with ThreadPoolExecutor(len(workers)) as pool:
        for i, row in enumerate(pool.map(one, mutants), 1):
            rows.append(row)
            mark = "." if row["result"].startswith("killed") else "S"
            print(mark, end="" if i % 80 else "\n", flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
