"""The decision of one scan pass: one audit event for what it found, and a refusal when the
strategy blocks (or a payload could not be scanned and the caller refuses those).

A mixin of :class:`~guardrails.pii.scan.Scan`: it reads the pass's counts (``found``,
``unscannable``), the values to keep out of logs (``secrets``), the strategy and the audit
method; kept apart because what a pass *does* to each string is one idea and what it *decides*
at the end is another.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from guardrails.errors import PIIDetectionError
from guardrails.pii.strategies import Strategy

__all__ = ["Decision"]


class Decision:
    """The end of a pass: :meth:`report`.

    Example::

        handled = scan.messages(request.messages)
        scan.report()  # one audit event; raises PIIDetectionError under "block"
    """

    if not TYPE_CHECKING:  # (a checker reads the attributes below as the class's own)
        __slots__ = ()
    else:
        strategy: Strategy
        audit: Callable[..., Any]
        where: str
        runtime: Any
        found: dict[str, int]
        secrets: list[str]
        unscannable: dict[str, int]

    def report(self, tool: str | None = None, *, refuse_unscannable: bool = False) -> None:
        """One audit event for what this pass found; raise under ``block`` (and for payloads
        that could not be scanned, when ``refuse_unscannable``)."""
        if refuse_unscannable and self.unscannable:
            self.audit(
                "pii.blocked",
                runtime=self.runtime,
                where=self.where,
                entities={"unscannable": sum(self.unscannable.values())},
                strategy=self.strategy.name,
            )
            raise PIIDetectionError(
                "unscannable",
                counts={"unscannable": sum(self.unscannable.values())},
                where=self.where,
            )
        if not self.found:
            return
        extra: dict[str, Any] = {"tool": tool} if tool is not None else {}
        if not self.strategy.rewrites:
            self.audit(
                "pii.blocked",
                runtime=self.runtime,
                where=self.where,
                entities=self.found,
                secrets=self.secrets,
                **extra,
            )
            raise PIIDetectionError(next(iter(self.found)), counts=self.found, where=self.where)
        if self.strategy.needs_mapping:
            self.audit(
                "pii.pseudonymized",
                runtime=self.runtime,
                where=self.where,
                entities=self.found,
                secrets=self.secrets,
                **extra,
            )
            return
        self.audit(
            "pii.detected",
            runtime=self.runtime,
            where=self.where,
            entities=self.found,
            secrets=self.secrets,
            strategy=self.strategy.name,
            **extra,
        )
