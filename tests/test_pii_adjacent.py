"""Values side by side: a value right after another, or after a short number, is found whole,
and two values that overlap leave no fragment of either (found by the lead's review of the
detector: a list of cards reported only its first card; "qty 2 <card>" reported none)."""

from __future__ import annotations

import pytest
from faker import Faker

from guardrails.pii import detect

_PROVIDERS = ["visa16", "mastercard", "amex", "discover", "jcb16", "diners"]


def _cards(seed: int) -> list[str]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return [fake.credit_card_number(card_type=p) for p in _PROVIDERS]


def _found(text: str, types: list[str]) -> list[tuple[str, str]]:
    return [(m["type"], m["value"]) for m in detect(text, types)]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("between", [" ", ", ", " and ", "\n", " / "])
def test_cards_side_by_side_are_each_found(seed: int, between: str) -> None:
    cards = _cards(seed)
    text = "cards on file: " + between.join(cards) + " thanks"
    assert _found(text, ["credit_card"]) == [("credit_card", c) for c in cards]


@pytest.mark.parametrize("before", ["qty 2 ", "v2 ", "room 12 ", "item 7: ", "#3 "])
def test_a_short_number_before_a_card_does_not_hide_it(before: str) -> None:
    for card in _cards(4):
        assert _found(f"{before}{card} please", ["credit_card"]) == [("credit_card", card)]


def test_an_iban_head_still_keeps_its_tail_from_reading_as_a_card() -> None:
    text = "IBAN DE89 3704 0044 0532 0130 00"
    assert _found(text, ["credit_card", "iban"]) == [("iban", "DE89 3704 0044 0532 0130 00")]


def test_overlapping_values_leave_no_fragment() -> None:
    """A phone number that runs into an e-mail address: one span over both, not the phone
    with "@example.com" left raw (or the e-mail with "tel:+1" left raw)."""
    text = "reach me: tel:+14155550132@example.com today"
    for types in (["phone", "email"], ["email", "phone"]):
        matches = detect(text, types)
        assert len(matches) == 1
        assert matches[0]["value"] == "+14155550132@example.com"
        assert text[matches[0]["start"] : matches[0]["end"]] == matches[0]["value"]


def test_no_card_of_a_list_reaches_the_model(mode: str) -> None:
    from langchain.agents import create_agent

    from guardrails.pii import PIIMiddleware
    from guardrails.testing import ScriptedChatModel
    from tests.support import invoke

    cards = _cards(5)
    model = ScriptedChatModel(default="noted")
    agent = create_agent(model, middleware=[PIIMiddleware("credit_card", strategy="redact")])
    invoke(agent, {"messages": [("user", "charge qty 2 " + " ".join(cards))]}, mode)
    sent = str(model.requests[0]["messages"][-1].content)
    for card in cards:
        assert card not in sent
    assert sent.count("[REDACTED_CREDIT_CARD]") == len(cards)
