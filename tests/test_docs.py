"""Every Python block in README.md and docs/ runs as written, or says it is a fragment.

A block runs alone, in a fresh namespace, from an empty working folder. Markers (an HTML comment,
invisible on the rendered page) on the nearest non-blank line before the opening fence:

* ``<!-- fragment -->`` or ``<!-- fragment: why -->``: not run (an excerpt, a placeholder, an
  API key it needs);
* ``<!-- continues -->``: runs in the namespace the page's previous block left.

A block that mentions ``REDIS_URL`` gets the test suite's own Redis server in that environment
variable (the block reads it, with a default, as a user would).
"""

from __future__ import annotations

import logging
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python[ \t]*$")
MARKER = re.compile(r"^<!--\s*(fragment|continues)\b.*-->\s*$")
#: ``<!-- example:NAME -->``: a block that tests/test_core.py reads out of the page and runs.
EXAMPLE = re.compile(r"^<!--\s*example:[\w-]+\s*-->$")


@dataclass
class Block:
    page: str
    line: int
    code: str
    marker: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            found = MARKER.match(before.strip())
            marker = found.group(1) if found else None
            if EXAMPLE.match(before.strip()):
                marker = "fragment"  # tests/test_core.py runs it (and needs the marker there)
            out.append(
                Block(
                    page=str(path.relative_to(ROOT)),
                    line=start + 1,
                    code="\n".join(body) + "\n",
                    marker=marker,
                )
            )
        i += 1
    return out


ALL_BLOCKS = [b for page in PAGES for b in blocks_of(page)]
RUN = [b for b in ALL_BLOCKS if b.marker != "fragment"]


def test_the_extractor_sees_blocks_and_markers() -> None:
    assert len(ALL_BLOCKS) >= 30
    assert any(b.marker == "fragment" for b in ALL_BLOCKS)
    readme = [b for b in ALL_BLOCKS if b.page == "README.md"]
    assert readme and all(b.marker != "fragment" for b in readme)  # the README's sample runs
    started = [b for b in ALL_BLOCKS if b.page == "docs/getting-started.md"]
    assert started and started[0].marker is None


def test_the_first_agent_is_under_20_lines() -> None:
    first = next(b for b in ALL_BLOCKS if b.page == "docs/getting-started.md")
    assert len([line for line in first.code.splitlines() if line.strip()]) < 20


@pytest.fixture(autouse=True)
def restore_audit_logger() -> Any:
    """A block may call guardrails.audit.configure(): undo it after the block."""
    logger = logging.getLogger("guardrails.audit")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture(scope="module")
def namespaces() -> dict[str, dict[str, Any]]:
    return {}


@pytest.mark.parametrize("block", RUN, ids=lambda b: b.id)
def test_doc_block_runs_as_written(
    block: Block,
    namespaces: dict[str, dict[str, Any]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if "REDIS_URL" in block.code:
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
    monkeypatch.chdir(tmp_path)
    if block.marker == "continues":
        namespace = namespaces.get(block.page)
        assert namespace is not None, f"{block.id}: 'continues' but the previous block did not run"
    else:  # a module of its own, as a script would be (dataclasses look their module up)
        namespace = types.ModuleType("__docs__").__dict__
    namespaces.pop(block.page, None)
    code = compile(block.code, f"{block.page}:{block.line}", "exec")
    module = types.ModuleType("__docs__")
    module.__dict__.update(namespace)
    namespace = module.__dict__
    monkeypatch.setitem(sys.modules, "__docs__", module)
    try:
        exec(code, namespace)
    except Exception as exc:
        raise AssertionError(
            f"{block.id}: this block of the docs does not run as written ({exc!r}); fix it, or "
            "mark it <!-- fragment: why --> on the line before its fence"
        ) from exc
    namespaces[block.page] = namespace


def test_version_option_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    import guardrails
    from guardrails.cli import main

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert guardrails.__version__ == declared
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"guardrails {declared}"


def test_readme_install_lines_name_no_registry_package() -> None:
    """The package is not on PyPI: the README installs from a clone."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install guardrails-middleware" not in readme
    assert "pip install ." in readme
