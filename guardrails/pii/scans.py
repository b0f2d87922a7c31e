"""``PIIMiddleware``'s scans: a fresh :class:`~guardrails.pii.scan.Scan` of its types, the
scan the exporters use, the long texts computed ahead a slice at a time on the event loop, and
the :class:`~guardrails.pii.lasthop.Guard` of one model call (how the last hop starts its
passes). A mixin of :class:`~guardrails.pii.middleware.PIIMiddleware` (the methods read its
detector, strategy and settings); kept apart because every side (model, tool, last hop,
exporters) starts its passes here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from guardrails._core import Flow, Sleep, SyncAsync
from guardrails.errors import GuardrailConfigError
from guardrails.pii.lasthop import Guard
from guardrails.pii.pseudonym import Pseudonymizer, read_back
from guardrails.pii.scan import Scan
from guardrails.pii.strategies import Strategy, build_strategy

__all__ = ["Scans"]


def _no_audit(*args: Any, **kwargs: Any) -> None:
    return None


#: The wait that hands the event loop a turn between two chunks of a long text.
_TURN = 1e-6


async def _in_async() -> bool:
    return True


#: ``True`` when the flow is driven by ``run_async``, ``False`` by ``run_sync``.
_IS_ASYNC = SyncAsync(lambda: False, _in_async)


class Scans:
    """How ``PIIMiddleware`` starts its scans (see the module docs).

    Example::

        class PIIMiddleware(Scans, Guardrail, kind="pii", hooks=("model", "tool")): ...
    """

    def scan(
        self: Any,
        where: str,
        runtime: Any = None,
        pseudo: Pseudonymizer | None = None,
        known: dict[str, Any] | None = None,
    ) -> Scan:
        """A fresh :class:`~guardrails.pii.scan.Scan` of this middleware's types."""
        scan = Scan(self._detector, self._strategy, self.audit, where, runtime, pseudo)
        if known is not None:
            scan.known = known
        if where == "tool_result" and pseudo is not None and pseudo.mapping:
            scan.literals = read_back(pseudo.mapping)  # real values a tool hands back, transformed
        return scan

    def export_scan(self: Any) -> Scan:
        """A scan for exporters (:mod:`guardrails.pii.observers`): this middleware's
        detector; its strategy, except that ``block`` and ``pseudonymize`` become ``redact``
        (an exporter cannot refuse a span or keep a thread's mapping); no audit events."""
        strategy = self._strategy
        if strategy.needs_mapping or not strategy.rewrites:
            strategy = self._export_strategy
        return Scan(self._detector, strategy, _no_audit, "export", None, None)

    @functools.cached_property
    def _export_strategy(self: Any) -> Strategy:
        return build_strategy("redact")

    def _prefetch(
        self: Any, known: dict[str, Any], messages: Sequence[Any], extra: Any = None
    ) -> Flow[None]:
        """Long texts scanned one chunk at a time, giving the event loop a turn after each.
        Only in async: a sync run has no loop to give turns to, and its scan computes long
        texts in place (the walk that looks for them would be spent for nothing)."""
        if not (yield _IS_ASYNC):
            return
        yield from self._ahead(known, messages, extra)

    def _ahead(
        self: Any, known: dict[str, Any], messages: Sequence[Any], extra: Any = None, **more: Any
    ) -> Flow[None]:
        """:meth:`~guardrails.pii.scan.Scan.prefetch` on the event loop, a turn after each
        slice."""
        for _ in self.scan("prefetch", known=known).prefetch(messages, extra, **more):
            yield Sleep(_TURN)

    def _guard(self: Any, runtime: Any, box: list[Pseudonymizer]) -> Guard:
        guard = Guard(
            scan=lambda where: self.scan(where),
            input=self.apply_to_input,
            output_text=self.apply_to_output,
            output_calls=self.apply_to_output or self.apply_to_tool_args,
            refuse_unscannable=self.refuse_unscannable,
            detector=self._detector,
        )
        known, produced = guard.known, guard.produced

        def scan(where: str) -> Scan:
            # reads the guard's containers, not the guard: no reference cycle (a cycle per
            # model call keeps the request's runtime alive until the collector runs)
            shared: Scan = self.scan(where, runtime, box[0] if box else None, known)
            shared.produced = produced
            return shared

        guard.scan = scan
        return guard

    @staticmethod
    def _shared(scan: Scan, guard: Guard) -> Scan:
        """``scan`` as one pass of ``guard``'s call: what it writes is never scanned again."""
        scan.produced = guard.produced
        return scan

    def standalone_guard(self: Any) -> Guard:
        """This middleware's input handling for a model called outside an agent's model node
        (:func:`~guardrails.pii.lasthop.guard_model`)."""
        if self._strategy.needs_mapping:
            raise GuardrailConfigError(
                "guard_model cannot use strategy='pseudonymize' (the mapping belongs to a "
                "thread); give the summarizer's or selector's model a redact/mask/hash/block "
                "PIIMiddleware"
            )
        guard: Guard = self._guard(None, [])
        return guard
