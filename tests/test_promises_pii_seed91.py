"""The promises of PII handling, round 9 (issue 29, seed 91).

* **A model guarded again keeps its guards**: ``guard_model(guard_model(model, a), b)``
  hands the provider a request handled by ``a`` and by ``b``, sync and async (the second
  guard used to replace the first: ``a``'s values reached the provider raw), and each guard
  reads the request once (the model is not guarded twice over).
* **A model ``guard_model`` returned serves every agent call with its own guards**: as an
  agent's model under a ``PIIMiddleware``, each call gets the model's guards and the
  middleware's, and the work of a call does not grow with the calls before it (each call's
  guard used to be added to the model's own hop, for good: one more guard per call, run on
  every later call).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage

from guardrails import PIIMiddleware
from guardrails.pii import guard_model
from guardrails.testing import ScriptedChatModel

EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"


class _Counted:
    """A detector of ``EMP-`` ids that counts the texts it reads."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str) -> list[dict[str, Any]]:
        self.texts.append(text)
        at = text.find("EMP-")
        return [] if at < 0 else [{"start": at, "end": at + 10, "score": 1.0}]


def _call(model: Any, text: str, mode: str) -> Any:
    if mode == "sync":
        return model.invoke([HumanMessage(text)])
    return asyncio.run(model.ainvoke([HumanMessage(text)]))


def test_a_model_guarded_again_keeps_its_guards(mode: str) -> None:
    text = f"mail {EMAIL}, call {PHONE}, id EMP-123456"
    # the same guards given at once, for comparison: what the detector reads in one call
    once_model = ScriptedChatModel(default=AIMessage("ok"))
    once_ids = _Counted()
    once = guard_model(
        once_model,
        PIIMiddleware(["email"]),
        PIIMiddleware("employee_id", detector=once_ids),
        PIIMiddleware(["phone"]),
    )
    _call(once, text, mode)
    model = ScriptedChatModel(default=AIMessage("ok"))
    ids = _Counted()
    inner = guard_model(model, PIIMiddleware(["email"]), PIIMiddleware("employee_id", detector=ids))
    outer = guard_model(inner, PIIMiddleware(["phone"]))
    _call(outer, text, mode)
    sent = str(model.requests[-1]["messages"][0].content)
    assert EMAIL not in sent and PHONE not in sent and "EMP-123456" not in sent, sent
    assert sent == str(once_model.requests[-1]["messages"][0].content)
    # the request is read as often as under the guards given at once (not twice over)
    assert ids.texts == once_ids.texts
    # and the model guarded first still has its own guards alone
    ids.texts.clear()
    _call(inner, f"mail {EMAIL}, call {PHONE}, id EMP-654321", mode)
    sent = str(model.requests[-1]["messages"][0].content)
    assert EMAIL not in sent and "EMP-654321" not in sent and PHONE in sent, sent
    assert sum("EMP-654321" in t for t in ids.texts) == 1, ids.texts


def test_a_guarded_model_serves_each_agent_call_with_its_own_guards(mode: str) -> None:
    model = ScriptedChatModel(default=AIMessage("ok"))
    ids = _Counted()
    standing = guard_model(model, PIIMiddleware(["email"]))
    agent = create_agent(
        standing, middleware=[PIIMiddleware("employee_id", detector=ids), PIIMiddleware(["phone"])]
    )
    per_call: list[int] = []
    for i in range(4):
        ids.texts.clear()
        state = {"messages": [HumanMessage(f"mail {EMAIL}, call {PHONE}, id EMP-12345{i}")]}
        if mode == "sync":
            agent.invoke(state)
        else:
            asyncio.run(agent.ainvoke(state))
        sent = str(model.requests[-1]["messages"][0].content)
        assert EMAIL not in sent and PHONE not in sent and "EMP-" not in sent, sent
        per_call.append(len(ids.texts))
    assert len(set(per_call[1:])) == 1, per_call  # no call's guards stay for the next
    # the model alone still handles its own types only
    _call(standing, f"mail {EMAIL}, call {PHONE}, id EMP-999999", mode)
    sent = str(model.requests[-1]["messages"][0].content)
    assert EMAIL not in sent and PHONE in sent and "EMP-999999" in sent, sent


@pytest.mark.filterwarnings("ignore::guardrails.order.GuardrailOrderWarning")
@pytest.mark.parametrize("pii_first", [True, False])
def test_a_guarded_model_a_fallback_turns_to_keeps_its_guards(mode: str, pii_first: bool) -> None:
    """A fallback model that ``guard_model`` returned, swapped in around or inside a
    ``PIIMiddleware``, gets that call's guards and keeps its own."""
    from guardrails import ModelFallbackMiddleware

    failing = ScriptedChatModel(default=RuntimeError("provider down"))
    backup = ScriptedChatModel(default=AIMessage("ok"))
    pii = PIIMiddleware(["phone"])
    fallback = ModelFallbackMiddleware(guard_model(backup, PIIMiddleware(["email"])))
    agent = create_agent(failing, middleware=[pii, fallback] if pii_first else [fallback, pii])
    state = {"messages": [HumanMessage(f"mail {EMAIL}, call {PHONE}")]}
    if mode == "sync":
        agent.invoke(state)
    else:
        asyncio.run(agent.ainvoke(state))
    sent = str(backup.requests[-1]["messages"][0].content)
    assert EMAIL not in sent and PHONE not in sent, sent
