"""A lean core: the built-in PII types never import Presidio or spaCy; Presidio entity names and
NLP models ask for the ``[presidio]`` extra by name; nothing touches the network or writes a
cache into the home folder, Presidio entity names included.

Each check runs in a fresh interpreter: what a module imports, and whether tldextract fetches
the suffix list, depends on what the process did before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Blocks Presidio and spaCy as if they were not installed.
HIDE_PRESIDIO = """
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("presidio_analyzer", "spacy"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Hide())
"""

# Records (and refuses) every attempt to open a network connection or resolve a name.
BLOCK_SOCKETS = """
import socket
ATTEMPTS = []
def _refuse(*args, **kwargs):
    ATTEMPTS.append(repr(args[:2]))
    raise OSError("network access blocked by the test")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


def run_python(code: str, tmp_path: Path, *, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (cwd: the repository, HOME: an empty folder); the
    last line it prints is JSON."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("XDG_CACHE_HOME", "TLDEXTRACT_CACHE", "HOME", "PYTHONPATH")
    }
    base.update(HOME=str(home), PYTHONPATH=str(ROOT), **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["stderr"] = proc.stderr
    result["home_files"] = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    return result


@pytest.mark.slow  # a fresh interpreter each (pyproject: the slow group)
def test_builtin_types_never_import_presidio_or_spacy(tmp_path: Path) -> None:
    out = run_python(
        """
        import json, sys
        from guardrails import PIIMiddleware
        from guardrails.pii import BUILTIN_TYPES, build_detector, detect
        names = [n for n in BUILTIN_TYPES if n.islower() and n not in ("person", "location")]
        PIIMiddleware(names, strategy="redact")
        found = detect("mail jane@example.com or call +44 20 7946 0958", names)
        # a custom detector of every shape, too
        build_detector("ticket", detector=lambda text: [])
        build_detector("ticket", detector=r"T-\\d+")
        build_detector("ticket", detector=["alpha", "beta"])
        loaded = sorted({m.split(".")[0] for m in sys.modules} & {"presidio_analyzer", "spacy"})
        print(json.dumps({"loaded": loaded, "found": [m["type"] for m in found]}))
        """,
        tmp_path,
    )
    assert out["found"] == ["email", "phone"]
    assert out["loaded"] == []


@pytest.mark.slow  # a fresh interpreter each (pyproject: the slow group)
def test_without_presidio_entity_names_and_nlp_ask_for_the_extra(tmp_path: Path) -> None:
    out = run_python(
        HIDE_PRESIDIO
        + """
import json
from guardrails import PIIMiddleware
from guardrails.errors import GuardrailConfigError
from guardrails.pii import detect
errors = {}
for label, make in {
    "entity": lambda: PIIMiddleware("US_PASSPORT"),
    "nlp": lambda: PIIMiddleware("person", nlp_model="en_core_web_sm"),
    "typo": lambda: PIIMiddleware("emial"),
}.items():
    try:
        make()
    except GuardrailConfigError as exc:
        errors[label] = str(exc)
found = detect("jane@example.com", ["email"])
print(json.dumps({"errors": errors, "builtin": len(found)}))
""",
        tmp_path,
    )
    assert out["builtin"] == 1
    errors = out["errors"]
    assert set(errors) == {"entity", "nlp", "typo"}
    for text in errors.values():
        assert "pip install 'guardrails-middleware[presidio]'" in text
    assert "US_PASSPORT" in errors["entity"]
    assert "did you mean 'email'?" in errors["typo"]


def test_misspelled_type_suggests_the_builtin_name_with_presidio_installed() -> None:
    pytest.importorskip("presidio_analyzer")
    from guardrails import PIIMiddleware
    from guardrails.errors import GuardrailConfigError

    with pytest.raises(GuardrailConfigError, match=r"did you mean 'credit_card'\?"):
        PIIMiddleware("credit_crad")


@pytest.mark.slow  # a fresh interpreter each (pyproject: the slow group)
def test_presidio_entity_names_never_touch_the_network_nor_the_home_folder(
    tmp_path: Path,
) -> None:
    pytest.importorskip("presidio_analyzer")
    out = run_python(
        BLOCK_SOCKETS
        + """
import json
from presidio_analyzer.predefined_recognizers import EmailRecognizer
from guardrails import PIIMiddleware
from guardrails.pii import build_detector, detect
text = "write to jane.doe@example.co.uk or ops@intranet.corp, see https://example.org/x"
PIIMiddleware(["EMAIL_ADDRESS", "URL", "email"])
found = detect(text, ["EMAIL_ADDRESS", "URL", "email", "phone"])
nothing = detect("not an address: jane@example.notatld", ["EMAIL_ADDRESS"])
print(json.dumps({
    "attempts": ATTEMPTS,
    "found": sorted({(m["type"], m["value"]) for m in found}),
    "nothing": len(nothing),
    "recognizer": len(build_detector("mail", detector=EmailRecognizer())("a jane@example.com b")),
}))
""",
        tmp_path,
    )
    assert out["attempts"] == []
    assert "Traceback" not in out["stderr"], out["stderr"]
    assert out["home_files"] == []
    found = [tuple(x) for x in out["found"]]
    # Presidio's recognizer still validates domains, on the bundled suffix list
    assert ("EMAIL_ADDRESS", "jane.doe@example.co.uk") in found
    assert ("URL", "https://example.org/x") in found
    assert ("email", "ops@intranet.corp") in found
    assert out["nothing"] == 0
    assert out["recognizer"] == 1
