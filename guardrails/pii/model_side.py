"""``PIIMiddleware``'s model side: the model call's flow (the request's messages handled by
its own pass, the last hop's guarded view of the model, the answer handled, the pseudonym
mapping stored, the handled messages written back to the thread). A mixin of
:class:`~guardrails.pii.middleware.PIIMiddleware` (the methods read its settings and its scan /
mapping helpers); kept apart because the model call is its own seam, as the tool call is
(:mod:`guardrails.pii.tool_side`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import ModelResponse
from langchain.agents.middleware.types import ExtendedModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langgraph.types import Command

from guardrails._adapters.langchain import is_model_node_handler, override_request
from guardrails._core import _ENCLOSING, Call, Flow, _enter, run_async, run_sync
from guardrails._state import state_get
from guardrails.errors import GuardrailConfigError, PIIDetectionError
from guardrails.pii.lasthop import LastHop, guarded, hop_of
from guardrails.pii.pseudonym import Pseudonymizer, message_texts, run_thread
from guardrails.pii.scan import Scan
from guardrails.pii.scans import _IS_ASYNC
from guardrails.pii.subagents import unguarded_subagent
from guardrails.pii.tool_side import VAULT_KEY
from guardrails.pii.writeback import OTHER_STATE_KEYS, write_back

__all__ = ["ModelSide"]


class ModelSide:
    """The ``model`` hook of ``PIIMiddleware`` (see the module docs).

    Example::

        class PIIMiddleware(ModelSide, Guardrail, kind="pii", hooks=("model", "tool")):
            wrap_model_call = ModelSide.wrap_model_call  # (a hook the class writes itself)
    """

    def wrap_model_call(self: Any, request: Any, handler: Callable[[Any], Any]) -> Any:
        token = _enter(self, "model", request)
        try:
            flow = self._model_flow(request, is_model_node_handler(handler))
            return run_sync(flow, handler, self._sleep)
        finally:
            _ENCLOSING.reset(token)

    async def awrap_model_call(
        self: Any, request: Any, handler: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        token = _enter(self, "model", request)
        try:
            flow = self._model_flow(request, is_model_node_handler(handler))
            return await run_async(flow, handler, self._asleep)
        finally:
            _ENCLOSING.reset(token)

    def model_flow(self: Any, request: Any) -> Flow[Any]:
        flow: Flow[Any] = self._model_flow(request, False)
        return flow

    def _model_flow(self: Any, request: Any, at_node: bool) -> Flow[Any]:
        """The model call; ``at_node``: the handler is the agent's model node itself
        (nothing else runs between this pass and the model: see :attr:`Guard.handed`)."""
        runtime = request.runtime
        if request.tools and self.apply_to_input:
            why = unguarded_subagent(request.tools, self)
            if why is not None:
                self.audit("pii.blocked", runtime=runtime, where="subagent", reason=why)
                raise GuardrailConfigError(
                    f"{why}. Build the agent with guardrails.deep.create_deep_agent("
                    f"guardrails=[...]) (every subagent, the general-purpose one included, "
                    f"gets the guardrail), or list this {self.name} in each subagent's "
                    "middleware"
                )
        update: dict[str, Any] = {}
        box: list[Pseudonymizer] = []
        thread: str | None = None
        if self._strategy.needs_mapping:
            thread = run_thread(runtime) if self.vault is not None else None
            mapping = yield from self._load(request.state, thread)
            everything = [request.system_message, *request.messages]
            box.append(Pseudonymizer(mapping, texts=lambda: message_texts(everything)))
        # the last hop: a guarded model shared by every PIIMiddleware of this call
        hop = hop_of(request.model)
        changes: dict[str, Any] = {}  # of the request, made once before the call
        if (hop is None or hop.standing) and isinstance(request.model, BaseChatModel):
            # (a model guard_model returned: this call gets a hop of its own, with that
            # model's guards first; the standing hop is never added to)
            hop = LastHop()
            changes["model"] = guarded(request.model, hop)
        guard = self._guard(runtime, box)
        if hop is not None:
            hop.guards.append(guard)
        original: list[BaseMessage] = list(request.messages)
        handled_messages: list[BaseMessage] | None = None
        if self.apply_to_input:
            system = request.system_message
            fresh = ([system] if system is not None else []) + original
            scans: list[Scan] = []

            def work(pseudo: Pseudonymizer | None, defer: list[str] | None = None) -> Any:
                scan = self._shared(self.scan("input", runtime, pseudo, guard.known), guard)
                scan.defer = defer
                scans[:] = [scan]
                return scan.messages(fresh)

            if box or not (yield _IS_ASYNC):
                if box:  # pseudonymize in async: a pass mints placeholders, never thrown away
                    yield from self._prefetch(guard.known, fresh)
                handled = yield from self._run(box, thread, work)
            else:  # async: one pass, unless it leaves long texts to compute a slice at a time
                deferred: list[str] = []
                handled = work(None, deferred)
                if deferred:
                    yield from self._ahead(guard.known, (), texts=deferred)
                    handled = work(None)
            scans[0].report(refuse_unscannable=self.refuse_unscannable)
            if at_node:
                guard.handed = handled
            handled_messages = handled[1:] if system is not None else handled
            if scans[0].found:
                changes["messages"] = handled_messages
                changes["system_message"] = handled[0] if system is not None else None
        if changes:
            request = override_request(request, **changes)
        response: ModelResponse[Any] = yield Call(request)
        if self.apply_to_output or self.apply_to_tool_args:
            response = yield from self._output(response, runtime, box, thread, guard.known)
        if self._strategy.needs_mapping:
            if hop is not None:  # placeholders minted at the last hop
                conflicts = yield from self._store(thread, dict(box[0].new))
                if conflicts:
                    raise PIIDetectionError(
                        "pseudonym_conflict", counts={"pseudonym_conflict": 1}, where="vault"
                    )
            if self.restore_output:
                response = self._restore_output(response, box[0].mapping, runtime)
            if self.vault is None and box[0].new:
                update[VAULT_KEY] = {self.name: dict(box[0].new)}
        replaced = write_back(request.state, original, hop, guard, handled_messages, response)
        if replaced:
            update["messages"] = replaced
        if self.apply_to_input:
            update.update(self._other_keys(request, box, guard))
        if update:
            return ExtendedModelResponse(model_response=response, command=Command(update=update))
        return response

    def _other_keys(
        self: Any, request: Any, box: list[Pseudonymizer], guard: Any
    ) -> dict[str, Any]:
        """The state keys of :data:`~guardrails.pii.writeback.OTHER_STATE_KEYS` present in
        state, handled; those that changed, to be written back."""
        out: dict[str, Any] = {}
        for key in OTHER_STATE_KEYS:
            value = state_get(request.state, key)
            if not value:
                continue
            scan = self.scan("input", request.runtime, box[0] if box else None, guard.known)
            handled = scan.value(value, key)
            scan.report(refuse_unscannable=self.refuse_unscannable)
            if handled is not value:
                out[key] = handled
        return out

    def _output(
        self: Any,
        response: Any,
        runtime: Any,
        box: list[Pseudonymizer],
        thread: str | None,
        known: dict[str, Any],
    ) -> Flow[Any]:
        """The answer handled (a backstop: the guarded model already handled what it made)."""
        yield from self._prefetch(known, response.result, response.structured_response)
        scans: list[Scan] = []

        def work(pseudo: Pseudonymizer | None) -> Any:
            scan = self.scan("output", runtime, pseudo, known)
            scans[:] = [scan]
            # every message of the answer (a middleware may answer with more than one): its
            # text under apply_to_output, tool-call fields under either setting
            result = [
                scan.message(
                    m,
                    text=self.apply_to_output,
                    calls=self.apply_to_output or self.apply_to_tool_args,
                    json_text=True,
                )
                for m in response.result
            ]
            structured = response.structured_response
            if self.apply_to_output and structured is not None:
                structured = scan.structured(structured)
            return result, structured

        result, structured = yield from self._run(box, thread, work)
        scans[0].report()
        if scans[0].found:
            return ModelResponse(result=result, structured_response=structured)
        return response
