"""A pytest plugin for the compat harness: one outcome per test id, written as JSON.

Loaded with ``-p compat.plugin``; the file named by ``COMPAT_RESULTS`` receives
``{nodeid: {"outcome": ..., "message": ...}}`` where outcome is ``passed``, ``failed``,
``skipped`` or ``error`` (a setup or teardown failure).

A test that runs longer than ``COMPAT_TEST_TIMEOUT`` seconds (default 60) is failed with
:class:`CompatTimeoutError` (SIGALRM), so one endless agent loop costs one test, not the run.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Generator
from typing import Any

import pytest

_RESULTS: dict[str, dict[str, str]] = {}


class CompatTimeoutError(Exception):
    """The test ran longer than COMPAT_TEST_TIMEOUT seconds."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise CompatTimeoutError(f"timed out after {os.environ.get('COMPAT_TEST_TIMEOUT', '60')}s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    seconds = float(os.environ.get("COMPAT_TEST_TIMEOUT", "60"))
    usable = seconds > 0 and hasattr(signal, "SIGALRM")
    if usable:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if usable:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _message(report: pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    if longrepr is None:
        return ""
    crash = getattr(getattr(longrepr, "reprcrash", None), "message", None)
    text = str(crash if crash is not None else longrepr)
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (file, line, reason)
        text = str(longrepr[2])
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _RESULTS.get(report.nodeid)
    if report.when == "call":
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfail" if report.skipped else "xpass"
        _RESULTS[report.nodeid] = {"outcome": outcome, "message": _message(report)}
    elif report.failed:  # setup or teardown
        if entry is None or entry["outcome"] == "passed":
            _RESULTS[report.nodeid] = {"outcome": "error", "message": _message(report)}
    elif report.skipped and entry is None:  # skipped in setup (skip marks, missing libraries)
        _RESULTS[report.nodeid] = {"outcome": "skipped", "message": _message(report)}


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:  # a module that does not even import: every test in it is lost
        _RESULTS[report.nodeid + "::<collect>"] = {
            "outcome": "error",
            "message": _message(report),  # type: ignore[arg-type]
        }


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("COMPAT_RESULTS")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(_RESULTS, fh, indent=1, sort_keys=True)
