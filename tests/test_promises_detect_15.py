"""The promises of PII detection, part 15 (issue 29, round 9, seed 91).

* **A context word before a list of phone numbers covers every number of the list that is
  alike to the one before it**: numbers are alike when their lengths as written nationally
  differ by 4 digits or fewer, and a country code counts as the trunk prefix it stands for:
  after ``00`` four digits fewer (``0049 30 12345678`` is 10 digits nationally), after ``+``
  two fewer (``+49 30 123456`` is 8). A number that needs its context word and is alike to the
  international one before it is reported; one 5 digits unlike is not covered by the word
  before the list (it is a number of another kind).
"""

from __future__ import annotations

import pytest

from guardrails.pii import detect


def found(text: str) -> list[str]:
    return [m["value"] for m in detect(text, ["phone"])]


@pytest.mark.parametrize("gap", [", ", " / ", "; ", "\n"])
@pytest.mark.parametrize(
    ("first", "second"),
    [
        # "00" and a country code: 4 + 2 + 8 digits, 10 nationally; 9 is alike (1 apart)
        ("0049 30 12345678", "123456789"),
        # 4 + 2 + 7 digits, 9 nationally; 8 is alike
        ("0049 30 1234567", "12345678"),
        # 4 + 1 + 10 digits, 11 nationally; 8 is alike (3 apart)
        ("0033 1 23 45 67 89", "12345678"),
        # 4 + 2 + 6 digits, 8 nationally; 12 is alike (4 apart)
        ("0049 30 123456", "123456789012"),
        # 10 nationally; 6 is alike (4 apart)
        ("0049 30 12345678", "123456"),
        # "+" and a country code: 2 + 2 + 6 digits, 8 nationally; 12 is alike (4 apart)
        ("+49 30 123456", "123456789012"),
        # 2 + 2 + 4 + 4 digits, 10 nationally; 7 and 6 are alike
        ("+44 20 7946 0958", "1234567"),
        ("+44 20 7946 0958", "123456"),
    ],
)
def test_a_context_word_before_a_list_covers_each_number_alike(
    first: str, second: str, gap: str
) -> None:
    assert found(f"phone: {first}{gap}{second}") == [first, second]
    # (the control: without the word the second number is not a phone number)
    assert second not in found(f"{first}{gap}{second}")


@pytest.mark.parametrize("gap", [", ", "; "])
def test_a_number_unlike_the_one_before_it_is_not_covered_by_the_word_before_the_list(
    gap: str,
) -> None:
    # 11 digits and 6: 5 apart (the same 6 digits after a number of 10 are covered, above)
    assert found(f"phone: 030 1234 5678{gap}123456") == ["030 1234 5678"]
    assert found("phone: 123456") == ["123456"]  # (the control: the 6 digits are a number)


def test_a_callable_detector_s_spans_are_what_is_handled(mode: str) -> None:
    """A ``detector=`` callable's spans are the values handled, each of them, and only they."""
    from langchain.agents import create_agent
    from langchain_core.messages import AIMessage, HumanMessage

    from guardrails import PIIMiddleware
    from guardrails.testing import ScriptedChatModel
    from tests.support import invoke

    def employee_ids(text: str) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        at = text.find("EMP-")
        while at >= 0:
            out.append({"start": at, "end": at + 10, "score": 1.0})
            at = text.find("EMP-", at + 10)
        return out

    model = ScriptedChatModel(default=AIMessage("ok"))
    agent = create_agent(model, middleware=[PIIMiddleware("employee_id", detector=employee_ids)])
    invoke(agent, {"messages": [HumanMessage("ids EMP-123456 and EMP-654321, ref 42")]}, mode)
    sent = model.requests[-1]["messages"][0].content
    assert sent == "ids [REDACTED_EMPLOYEE_ID] and [REDACTED_EMPLOYEE_ID], ref 42", sent
