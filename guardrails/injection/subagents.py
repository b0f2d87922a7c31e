"""What a guarded subagent and its caller's ``task`` call share while the call runs.

A ``task`` call of a guarded agent sets these context variables around the subagent's run; the
subagent's own guard (same process, same context: LangGraph copies it into tool threads and
tasks) reports into them. The caller then knows whether the subagent was guarded at all
(``SUBAGENT_SEEN``) and whether it read untrusted content (``SUBAGENT_READ``), and the texts its
own model wrote as the task (``DELEGATED``) vouch for nothing inside the subagent.

Example::

    token = SUBAGENT_READ.set(read := [])
    try:
        ...  # the subagent runs; its guard calls mark_read() on an untrusted result
    finally:
        SUBAGENT_READ.reset(token)
    untrusted = bool(read)
"""

from __future__ import annotations

import contextvars

__all__ = ["DELEGATED", "SUBAGENT_READ", "SUBAGENT_SEEN", "mark_read"]

#: The texts a calling agent's model wrote as a subagent's task (they vouch for nothing there).
DELEGATED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "guardrails_injection_delegated", default=frozenset()
)
#: Set by a guarded subagent while a ``task`` call of a guarded parent runs.
SUBAGENT_SEEN: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "guardrails_injection_subagent_seen", default=None
)
#: Marked by a guarded subagent that records an untrusted result while a ``task`` call runs
#: (also content its caller had read before: that entry is not new in the returned state).
SUBAGENT_READ: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "guardrails_injection_subagent_read", default=None
)


def mark_read() -> None:
    """The running subagent (if a guarded caller's ``task`` runs it) read untrusted content."""
    read = SUBAGENT_READ.get()
    if read is not None:
        read.append(True)


def seen() -> None:
    """A guarded model or tool call of the running subagent (if a ``task`` call runs it)."""
    calls = SUBAGENT_SEEN.get()
    if calls is not None:
        calls.append(True)
