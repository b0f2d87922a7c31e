"""The compat harness (compat/): import swapping, outcome recording, comparison, expectations.

The full run (downloading LangChain's sdist, running its tests twice) is ``make compat``; these
tests check the parts that decide what "same" means, offline.
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from compat import harness
from compat.harness import (
    Expected,
    HarnessError,
    compare,
    doc_anchors,
    load_expected,
    swap_imports,
)

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ["ModelRetryMiddleware", "PIIMiddleware", "PIIDetectionError"]


def test_swap_moves_exported_names_and_keeps_the_rest() -> None:
    source = (
        "import pytest\n"
        "from langchain.agents.middleware.pii import (\n"
        "    PIIDetectionError,\n"
        "    PIIMatch,\n"
        "    PIIMiddleware as PII,\n"
        "    _PIIStreamTransformer,\n"
        ")\n"
        "from langchain.agents.middleware import model_fallback as model_fallback_module\n"
        "from langchain_core.messages import AIMessage\n"
        "\n"
        "def test_x():\n"
        "    from langchain.agents.middleware.model_retry import ModelRetryMiddleware\n"
        "    return ModelRetryMiddleware, PII\n"
    )
    out, log = swap_imports(source, EXPORTS)
    tree = ast.parse(out)  # still valid Python
    froms = {
        (n.module, a.name, a.asname)
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom)
        for a in n.names
    }
    assert ("guardrails", "PIIDetectionError", None) in froms
    assert ("guardrails", "PIIMiddleware", "PII") in froms
    assert ("guardrails", "ModelRetryMiddleware", None) in froms  # nested import too
    assert ("langchain.agents.middleware.pii", "PIIMatch", None) in froms
    assert ("langchain.agents.middleware.pii", "_PIIStreamTransformer", None) in froms
    assert ("langchain.agents.middleware", "model_fallback", "model_fallback_module") in froms
    assert ("langchain_core.messages", "AIMessage", None) in froms
    assert sorted(log.swapped) == ["ModelRetryMiddleware", "PIIDetectionError", "PIIMiddleware"]
    # the nested import keeps its indentation and the function still returns both names
    assert "    from guardrails import (ModelRetryMiddleware)\n" in out
    namespace: dict[str, Any] = {}
    exec(compile(out.replace("import pytest\n", ""), "x", "exec"), namespace)
    import guardrails

    assert namespace["PII"] is guardrails.PIIMiddleware
    assert namespace["test_x"]() == (guardrails.ModelRetryMiddleware, guardrails.PIIMiddleware)


def test_swap_leaves_other_libraries_alone() -> None:
    source = "from langchain_core.tools import tool\nfrom langgraph.types import Command\n"
    out, log = swap_imports(source, ["tool", "Command"])
    assert out == source
    assert log.swapped == []


def test_swap_refuses_an_import_sharing_its_line() -> None:
    with pytest.raises(HarnessError, match="sharing its line"):
        swap_imports("x = 1; from langchain.agents import PIIMiddleware\n", ["PIIMiddleware"])


def _res(**outcomes: str) -> dict[str, dict[str, str]]:
    return {k.replace("__", "::"): {"outcome": v, "message": ""} for k, v in outcomes.items()}


def test_compare_classifies_every_test() -> None:
    theirs = _res(a__same="passed", a__listed="passed", a__new="passed", a__better="failed",
                  a__both="failed", a__gone="passed", a__skip="skipped")  # fmt: skip
    ours = _res(a__same="passed", a__listed="failed", a__new="error", a__better="passed",
                a__both="failed", a__skip="skipped", a__extra="failed")  # fmt: skip
    listed = Expected("a::listed", "r", "docs/migration.md#x", "documented")
    stale = Expected("a::same", "r", "docs/migration.md#x", "documented")
    result = compare(theirs, ours, [listed, stale])
    assert result.expected == [("a::listed", listed)]
    assert sorted(result.unexpected) == ["a::gone", "a::new"]  # a test that did not run fails
    assert result.missing == ["a::gone"]
    assert result.better == ["a::better"]
    assert result.baseline_broken == ["a::both"]
    assert result.stale == [stale]
    assert "a::extra" not in result.same + result.unexpected  # only ours ran it: not compared
    assert sorted(result.same) == ["a::both", "a::same", "a::skip"]


def test_compare_patterns_match_parametrized_ids() -> None:
    theirs = _res(**{"f.py__t[1]": "passed", "f.py__t[2]": "passed"})
    ours = _res(**{"f.py__t[1]": "failed", "f.py__t[2]": "failed"})
    entry = Expected("f.py::t[*]", "r", "", "pending")
    result = compare(theirs, ours, [entry])
    assert len(result.expected) == 2 and not result.unexpected and not result.stale


def test_a_module_that_no_longer_imports_on_ours_is_unexpected() -> None:
    theirs = _res(**{"f.py__t": "passed"})
    ours = {"f.py::<collect>": {"outcome": "error", "message": "ImportError"}}
    result = compare(theirs, ours, [])
    assert result.unexpected == ["f.py::t"]


def _write(
    tmp_path: Path, text: str, doc: str = "# T\n\n## Hooks and state\n"
) -> tuple[Path, Path]:
    (tmp_path / "e.toml").write_text(text)
    (tmp_path / "m.md").write_text(doc)
    return tmp_path / "e.toml", tmp_path / "m.md"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('test = "x"\nreason = "r"\ndocs = "docs/migration.md#hooks-and-state"', "test id"),
        ('test = "f::t"\ndocs = "docs/migration.md#hooks-and-state"', "reason is required"),
        ('test = "f::t"\nreason = "r"\ndocs = "docs/migration.md#nowhere"', "no section #nowhere"),
        ('test = "f::t"\nreason = "r"\ndocs = "docs/retry.md#x"', "docs must be"),
        ('test = "f::t"\nreason = "r"', "docs must be"),
        ('test = "f::t"\nreason = "later"\nkind = "pending"', "pending: issue N"),
        ('test = "f::t"\nreason = "r"\nkind = "whatever"', "kind must be one of"),
    ],
)
def test_expected_file_entries_are_validated(tmp_path: Path, entry: str, message: str) -> None:
    path, doc = _write(tmp_path, f"[[difference]]\n{entry}\n")
    with pytest.raises(HarnessError, match=message):
        load_expected(path, doc)


def test_an_entry_listed_twice_is_refused(tmp_path: Path) -> None:
    one = '[[difference]]\ntest = "f::t"\nreason = "pending: issue 1 (x)"\nkind = "pending"\n'
    path, doc = _write(tmp_path, one + one)
    with pytest.raises(HarnessError, match="listed twice"):
        load_expected(path, doc)


def test_the_real_expected_file_is_valid_and_points_at_real_sections() -> None:
    entries = load_expected()
    assert entries, "compat/expected.toml lists nothing: is the file there?"
    for entry in entries:
        if entry.kind == "private":
            assert entry.reason.startswith("private internal"), entry.test
            assert entry.docs == "docs/migration.md#private-internals"


def test_doc_anchors_are_slugged_like_mkdocs() -> None:
    from markdown.extensions.toc import slugify

    text = (ROOT / "docs" / "migration.md").read_text()
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("##")]
    assert headings
    anchors = doc_anchors(ROOT / "docs" / "migration.md")
    for heading in headings:
        assert slugify(heading, "-") in anchors, heading


@pytest.mark.slow  # other processes (pyproject: the slow group)
def test_plugin_records_every_outcome(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_pass(): pass\n"
        "def test_fail(): assert 1 == 2, 'boom'\n"
        "@pytest.mark.skip(reason='nope')\n"
        "def test_skip(): pass\n"
        "@pytest.fixture\n"
        "def broken(): raise RuntimeError('setup')\n"
        "def test_error(broken): pass\n"
        "@pytest.mark.xfail\n"
        "def test_xfail(): assert False\n"
        "def test_hang():\n"
        "    while True: pass\n"
    )
    results = tmp_path / "out.json"
    env = {
        **os.environ,
        "COMPAT_RESULTS": str(results),
        "PYTHONPATH": str(ROOT),
        "COMPAT_TEST_TIMEOUT": "2",
    }
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "compat.plugin",
         "--rootdir", str(tmp_path), "-c", os.devnull, "test_sample.py"],
        cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    data = json.loads(results.read_text())
    outcomes = {k.split("::")[1]: v["outcome"] for k, v in data.items()}
    assert outcomes == {
        "test_pass": "passed",
        "test_fail": "failed",
        "test_skip": "skipped",
        "test_error": "error",
        "test_xfail": "xfail",
        "test_hang": "failed",  # an endless test costs one test, not the run
    }
    assert "timed out after 2s" in data["test_sample.py::test_hang"]["message"]
    assert "boom" in data["test_sample.py::test_fail"]["message"]


def _sdist(path: Path, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"langchain-9.9.9/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_cached_sdist_is_used_without_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sdist(tmp_path / "langchain-9.9.9.tar.gz", {"tests/a.py": "A", "tests/b.py": "B"})

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pip was called although the sdist is cached")

    monkeypatch.setattr(harness.subprocess, "run", no_network)
    sdist = harness.fetch_sdist("langchain", "9.9.9", tmp_path)
    assert harness.read_members(sdist, ["tests/a.py", "tests/missing.py"]) == {"tests/a.py": "A"}
    assert sorted(harness.list_members(sdist)) == ["tests/a.py", "tests/b.py"]


def test_a_failed_download_is_a_clear_harness_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_pip(*args: Any, **kwargs: Any) -> Any:
        return subprocess.CompletedProcess(args, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(harness.subprocess, "run", failing_pip)
    with pytest.raises(HarnessError, match=r"could not download the langchain==9\.9\.9 sdist"):
        harness.fetch_sdist("langchain", "9.9.9", tmp_path)


def test_per_class_counts() -> None:
    theirs = _res(**{"test_pii.py__a": "passed", "test_pii.py__b": "passed",
                     "test_pii.py__c": "skipped"})  # fmt: skip
    ours = _res(**{"test_pii.py__a": "passed", "test_pii.py__b": "failed"})
    assert harness.per_class(theirs, ours)["PIIMiddleware"] == {"total": 2, "theirs": 2, "ours": 1}


def test_prune_removes_only_the_stale_blocks(tmp_path: Path) -> None:
    text = (
        "# header comment\n"
        '\n[[difference]]\ntest = "f::a"\nkind = "pending"\nreason = "pending: issue 1 (x)"\n'
        '\n[[difference]]\ntest = "f::b[1]"\nkind = "pending"\nreason = "pending: issue 2 (y)"\n'
    )
    path = tmp_path / "e.toml"
    path.write_text(text)
    assert harness.prune_expected(path, {"f::a"}) == 1
    left = path.read_text()
    assert left.startswith("# header comment\n")
    assert '"f::a"' not in left and '"f::b[1]"' in left
