"""The pseudonym mapping of a ``PIIMiddleware`` call: loaded from graph state or the vault,
what a pass minted stored (and the pass run again on a conflict with a concurrent writer), and
real values put back into the final answer for ``restore_output``.

Example::

    class PIIMiddleware(ToolSide, MappingPhases, Guardrail, kind="pii", ...): ...
    handled = yield from self._run(box, thread, work)  # work(pseudonymizer) -> result
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from langchain.agents.middleware import ModelResponse
from langchain_core.messages import AIMessage

from guardrails._core import Flow, SyncAsync
from guardrails._state import state_get
from guardrails.errors import PIIDetectionError
from guardrails.pii.pseudonym import Pseudonymizer, restore_content
from guardrails.pii.tool_side import VAULT_KEY

__all__ = ["MappingPhases"]

_VAULT_ATTEMPTS = 5


class MappingPhases:
    """Mixin of ``PIIMiddleware``: the thread's pseudonym mapping around a pass (needs
    ``vault``, ``name`` and ``audit`` on the instance)."""

    def _load(self: Any, state: Any, thread: str | None) -> Flow[dict[str, str]]:
        """The thread's mapping: from graph state, or from the vault."""
        if self.vault is None or thread is None:
            return dict((state_get(state, VAULT_KEY) or {}).get(self.name) or {})
        vault, name = self.vault, self.name
        mapping: dict[str, str] = yield SyncAsync(
            lambda: vault.get(thread, name), lambda: vault.aget(thread, name)
        )
        return mapping

    def _store(self: Any, thread: str | None, fresh: dict[str, str]) -> Flow[Any]:
        if self.vault is None or thread is None or not fresh:
            return []
        conflicts = yield SyncAsync(
            functools.partial(self.vault.add, thread, self.name, fresh),
            functools.partial(self.vault.aadd, thread, self.name, fresh),
        )
        return conflicts

    def _phase(self: Any, box: list[Pseudonymizer], thread: str | None, work: Any) -> Flow[Any]:
        """Run ``work(pseudonymizer)``; with a vault,
        store what it minted, and on a conflict (a concurrent writer took a number) reload the
        mapping and run it again."""
        for _ in range(_VAULT_ATTEMPTS):
            pseudo = box[0]
            before = set(pseudo.new)
            result = work(pseudo)
            fresh = {k: v for k, v in pseudo.new.items() if k not in before}
            conflicts = yield from self._store(thread, fresh)
            if not conflicts:
                return result
            mapping = yield from self._load(None, thread)
            box[0] = Pseudonymizer(mapping, slot=pseudo.slot, texts=pseudo.texts)
        raise PIIDetectionError(
            "pseudonym_conflict", counts={"pseudonym_conflict": 1}, where="vault"
        )

    def _run(self: Any, box: list[Pseudonymizer], thread: str | None, work: Any) -> Flow[Any]:
        """``work`` once (no mapping), or through :meth:`_phase` (pseudonymize)."""
        if box:
            return (yield from self._phase(box, thread, work))
        return work(None)

    def _restore_output(self: Any, response: Any, mapping: Mapping[str, str], runtime: Any) -> Any:
        result = list(response.result)
        final = next(
            (i for i in range(len(result) - 1, -1, -1) if isinstance(result[i], AIMessage)), None
        )
        if final is None or result[final].tool_calls:
            return response
        counts: dict[str, int] = {}
        secrets: list[str] = []
        message = result[final]
        content = restore_content(message.content, mapping, counts, secrets)
        if not counts:
            return response
        result[final] = message.model_copy(update={"content": content})
        self.audit(
            "pii.restored",
            runtime=runtime,
            where="output",
            entities=counts,
            secrets=secrets,
        )
        return ModelResponse(result=result, structured_response=response.structured_response)
