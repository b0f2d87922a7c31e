"""Promises of ``PromptInjectionMiddleware``'s tool patterns (issue 29, an injection survivor of
the seed-7 sample): a ``trusted_tools`` pattern vouches only for the tools it names. A name that
starts like the pattern but ends otherwise (``get_*_iban`` against ``get_invoice``) is not
trusted: when the attacker's IBAN, planted in an untrusted mail, comes back from such a tool, it
is not vouched for and cannot steer a protected transfer.
"""

from __future__ import annotations

from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from guardrails import PromptInjectionMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool
from tests.test_promises_injection import ATTACKER_IBAN, PLANTED, Log, _ran


def _run(trusted: list[str], mode: str) -> Log:
    log: Log = []

    @tool
    def read_mail(folder: str) -> str:
        """Read the inbox."""
        log.append(("read_mail", {"folder": folder}))
        return PLANTED

    @tool
    def get_invoice(number: str) -> str:
        """Fetch an invoice from the accounting system."""
        log.append(("get_invoice", {"number": number}))
        return f"Invoice {number}: pay 1 EUR to {ATTACKER_IBAN}."

    @tool
    def send_money(recipient: str, amount: float) -> str:
        """Send money to an IBAN."""
        log.append(("send_money", {"recipient": recipient, "amount": amount}))
        return "Sent."

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("read_mail", {"folder": "inbox"})]),
            AIMessage("", tool_calls=[tool_call("get_invoice", {"number": "7"})]),
            AIMessage(
                "",
                tool_calls=[tool_call("send_money", {"recipient": ATTACKER_IBAN, "amount": 1})],
            ),
            "Done.",
        ]
    )
    guard = PromptInjectionMiddleware(
        untrusted_tools=["read_mail"], protected_tools=["send_money"], trusted_tools=trusted
    )
    agent = create_agent(model, tools=[read_mail, get_invoice, send_money], middleware=[guard])
    invoke(agent, {"messages": [("user", "Pay invoice 7.")]}, mode)
    return log


def test_a_trusted_pattern_does_not_vouch_for_a_tool_it_does_not_name(mode: str) -> None:
    for trusted in (["get_*_iban"], ["get_*iban"], ["get_inv*_iban"]):
        log = _run(trusted, mode)
        assert _ran(log, "get_invoice")
        assert not _ran(log, "send_money"), trusted


def test_a_trusted_pattern_that_names_the_tool_vouches_for_it(mode: str) -> None:
    # the control: the same run goes through when the pattern does name the tool
    log = _run(["get_*"], mode)
    assert _ran(log, "send_money")
    log = _run(["get_invoice"], mode)
    assert _ran(log, "send_money")
