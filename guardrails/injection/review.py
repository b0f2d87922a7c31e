"""Asking a human about a violation: ``HumanInTheLoopMiddleware``'s request and decision shapes.

The interrupt value is a ``HITLRequest`` (``action_requests`` + ``review_configs``) with one
action; the answer is a ``HITLResponse`` (``{"decisions": [decision]}``) or a bare decision
(``per_call`` style). ``approve`` runs the call as the model wrote it, ``edit`` runs the
reviewer's ``edited_action["args"]`` (same tool only), ``reject`` returns a tool error with the
reviewer's message. Anything else is a rejection (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.messages import ToolMessage
from langgraph.errors import GraphInterrupt
from langgraph.types import interrupt

if TYPE_CHECKING:
    from guardrails.injection.judge import Finding
    from guardrails.injection.middleware import PromptInjectionMiddleware

__all__ = ["ask_reviewer"]

ALLOWED = ["approve", "edit", "reject"]


def ask_reviewer(
    guard: PromptInjectionMiddleware,
    request: Any,
    tool: str,
    findings: list[Finding],
    fields: dict[str, Any],
) -> Any:
    """The request to run (approved, or edited by the reviewer) or a refusal ``ToolMessage``."""
    call = request.tool_call
    args = dict(call.get("args") or {})
    reasons = "; ".join(f.describe() for f in findings[:5])
    payload = {
        "action_requests": [
            {
                "name": tool,
                "args": args,
                "description": (
                    "Prompt-injection guard: this call uses values that came from untrusted "
                    f"content. {reasons}. Approve only if this is what the user asked for."
                ),
            }
        ],
        "review_configs": [{"action_name": tool, "allowed_decisions": list(ALLOWED)}],
    }
    try:
        response = interrupt(payload)
    except GraphInterrupt:
        guard.audit("injection.interrupted", runtime=request.runtime, decision="interrupt",
                    **fields)  # fmt: skip
        raise
    decision = _decision(response)
    kind = decision.get("type") if decision is not None else None
    if kind == "approve":
        guard.audit("injection.approved", runtime=request.runtime, decision="approve", **fields)
        return request
    if kind == "edit":
        action = decision.get("edited_action") if decision is not None else None
        new_args = action.get("args") if isinstance(action, Mapping) else None
        same_tool = isinstance(action, Mapping) and action.get("name", tool) == tool
        if isinstance(new_args, Mapping) and same_tool:
            guard.audit("injection.approved", runtime=request.runtime, decision="edit", **fields)
            return request.override(tool_call={**call, "args": dict(new_args)})
        kind = "invalid"
    guard.audit("injection.blocked", runtime=request.runtime,
                decision="reject" if kind == "reject" else "invalid_decision",
                **fields)  # fmt: skip
    message = decision.get("message") if decision is not None else None
    if kind == "reject":
        text = f"User rejected the tool call for `{tool}`"
        text += (
            f" with reason: {message}"
            if message
            else (
                ". The tool was not executed. Do not retry this tool call unless the user "
                "explicitly requests it."
            )
        )
    else:
        text = (
            f"Error: the call to {tool!r} was not run: the reviewer's answer was not one of "
            f"{ALLOWED} (the guard fails closed)."
        )
    return ToolMessage(content=text, name=tool, tool_call_id=call.get("id"), status="error")


def _decision(response: Any) -> Mapping[str, Any] | None:
    if isinstance(response, Mapping):
        if "decisions" in response:
            # one action request, one decision: a list of any other length is no answer to
            # it, and a top-level ``type`` beside the list does not stand in for it
            decisions = response["decisions"]
            if (
                isinstance(decisions, list)
                and len(decisions) == 1
                and isinstance(decisions[0], Mapping)
            ):
                return decisions[0]
            return None
        if "type" in response:
            return response
    return None
