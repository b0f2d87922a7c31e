"""The model side of ``PromptInjectionMiddleware``: the provenance of the system prompt, and
links or addresses from untrusted content relayed in a final answer (its text, or a structured
response and every message that carries it)."""

from __future__ import annotations

from typing import Any

from langchain.agents.middleware.types import ExtendedModelResponse, ModelResponse
from langchain_core.messages import AIMessage
from langgraph.types import Command

from guardrails._core import Call, Flow
from guardrails.injection import subagents
from guardrails.injection.relay import (
    Unrebuildable,
    may_hold_link,
    redact_links,
    relayed_in,
    relayed_links,
)
from guardrails.injection.taint import TAINT_KEY, Provenance, entry, message_text, state_value

__all__ = ["ModelSide"]


class ModelSide:
    """The model calls of :class:`~guardrails.injection.PromptInjectionMiddleware` (a mixin:
    its methods read the guard's ``relay`` setting, ``provenance`` and ``audit``).

    Example::

        class PromptInjectionMiddleware(ModelSide, Guardrail, kind="injection", ...): ...
    """

    def model_flow(self: Any, request: Any) -> Flow[Any]:
        subagents.seen()
        response = yield Call(request)
        state = request.state
        update: dict[str, Any] = {}
        system = request.system_message
        system_text = message_text(system.content) if system is not None else ""
        if system_text.strip():
            record = entry("trusted", "@system", system_text)
            known = state_value(state, TAINT_KEY) or {}
            if next(iter(record)) not in known:
                update[TAINT_KEY] = record
        if state_value(state, TAINT_KEY):
            response = self._check_relay(request, response, system_text)
        if not update:
            return response
        if isinstance(response, ExtendedModelResponse):
            return response  # another layer's command already rides on it; recorded next call
        if isinstance(response, AIMessage):
            response = ModelResponse(result=[response])
        return ExtendedModelResponse(model_response=response, command=Command(update=update))

    def _check_relay(self: Any, request: Any, response: Any, system_text: str) -> Any:
        inner = response.model_response if isinstance(response, ExtendedModelResponse) else response
        messages = [inner] if isinstance(inner, AIMessage) else list(getattr(inner, "result", []))
        finals = [m for m in messages if isinstance(m, AIMessage) and not m.tool_calls]
        structured = None if isinstance(inner, AIMessage) else inner.structured_response
        if not finals and structured is None:
            return response
        prov: Provenance | None = None

        def provenance() -> Provenance:
            nonlocal prov
            if prov is None:
                prov = self.provenance(request.state, request.messages, None).with_trusted(
                    system_text
                )
            return prov

        if structured is not None:
            answer = self._check_structured(request, inner, provenance())
            if answer is not None:
                if isinstance(response, ExtendedModelResponse):
                    return ExtendedModelResponse(model_response=answer, command=response.command)
                return answer
        changed: dict[int, AIMessage] = {}
        for message in finals:
            text = message_text(message.content)
            if not may_hold_link(text):
                continue
            links = relayed_links(text, provenance())
            if not links:
                continue
            self.audit("injection.relayed", runtime=request.runtime, decision=self.relay,
                       count=len(links), sources=sorted({s for _, s in links}))  # fmt: skip
            if self.relay == "flag":
                continue
            if self.relay == "block":
                new_text = _REFUSAL
            else:
                new_text = redact_links(text, [span for span, _ in links])
            changed[id(message)] = message.model_copy(update={"content": new_text})
        if not changed:
            return response
        if isinstance(inner, AIMessage):
            new_inner: Any = changed.get(id(inner), inner)
        else:
            new_inner = ModelResponse(
                result=[changed.get(id(m), m) for m in inner.result],
                structured_response=inner.structured_response,
            )
        if isinstance(response, ExtendedModelResponse):
            return ExtendedModelResponse(model_response=new_inner, command=response.command)
        return new_inner

    def _check_structured(self: Any, request: Any, inner: Any, prov: Provenance) -> Any:
        """A structured answer (``ToolStrategy`` / ``ProviderStrategy``): its value and every
        message that carries it (the structured call's arguments, LangChain's tool message
        ``Returning structured response: ...``, the provider's JSON text). ``None``: nothing to
        change. A link in a value that cannot be rebuilt is refused under ``redact`` too."""
        rebuildable = True
        try:
            value, sources = relayed_in(inner.structured_response, prov)
        except Unrebuildable as exc:
            value, sources, rebuildable = inner.structured_response, exc.sources, False
        if not sources:
            return None
        self.audit("injection.relayed", runtime=request.runtime, decision=self.relay,
                   count=len(sources), sources=sorted(set(sources)))  # fmt: skip
        if self.relay == "flag":
            return None
        if self.relay == "block" or not rebuildable:
            return ModelResponse(result=[AIMessage(_REFUSAL)], structured_response=None)
        try:
            result = [_redacted(m, prov) for m in inner.result]
        except Unrebuildable:
            return ModelResponse(result=[AIMessage(_REFUSAL)], structured_response=None)
        return ModelResponse(result=result, structured_response=value)


_REFUSAL = (
    "I can't pass on this answer: it repeats a link or address that came from "
    "untrusted content (a tool result), not from you."
)


def _redacted(message: Any, prov: Provenance) -> Any:
    """``message`` with every relayed link of its content, tool-call arguments and extra
    fields redacted (a structured answer's carriers). Raises :class:`Unrebuildable` as
    :func:`relayed_in` does."""
    update: dict[str, Any] = {}
    for field in ("content", "additional_kwargs"):
        new, found = relayed_in(getattr(message, field, None), prov)
        if found:
            update[field] = new
    calls = getattr(message, "tool_calls", None)
    if calls:
        new_calls = []
        for call in calls:
            args, found = relayed_in(call.get("args"), prov)
            new_calls.append({**call, "args": args} if found else call)
        if any(a is not b for a, b in zip(new_calls, calls, strict=True)):
            update["tool_calls"] = new_calls
    return message.model_copy(update=update) if update else message
