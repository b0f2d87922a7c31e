"""The promises of PII detection, part 14 (issue 29, round 8, seed 81).

* **A context word in a script with spaces, written against text in a script without spaces,
  is a word of its own**: Japanese, Chinese and Thai write no space between words, so an
  English ``phone``, ``SSN`` or ``card`` right after a Japanese particle (``お問い合わせはphone``)
  stands on its own there, as it would after a space: the value it introduces is reported. A
  Latin letter glued to the same word still makes another word (``xphone``, ``phonex``).
"""

from __future__ import annotations

import pytest

from guardrails.pii import detect

PHONE = "19 99 99 9"  # a number the phone rules leave to context
SSN = "536221234"  # nine bare digits: an SSN only with context
CARD = "1234 5678 9012 3452"  # a Luhn-valid run reported only with context


def found(text: str, kind: str) -> list[str]:
    return [m["value"] for m in detect(text, [kind])]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (f"お問い合わせはphone {PHONE}", "phone", PHONE),  # Japanese (Hiragana)
        (f"请拨打phone {PHONE}", "phone", PHONE),  # Chinese
        (f"ติดต่อphone {PHONE}", "phone", PHONE),  # Thai
        (f"お客様のSSN {SSN}", "us_ssn", SSN),
        (f"顧客のssn: {SSN}", "us_ssn", SSN),
        (f"お支払いはcard {CARD}", "credit_card", CARD),
    ],
)
def test_a_context_word_against_text_written_without_spaces_is_context(
    text: str, kind: str, value: str
) -> None:
    assert found(text, kind) == [value]
    bare = text.replace("phone", "").replace("SSN", "").replace("ssn", "").replace("card", "")
    assert found(bare, kind) == []  # (the control: the value needs its word)


def test_a_latin_letter_glued_to_the_word_still_makes_another_word() -> None:
    assert found(f"xphone {PHONE}", "phone") == []
    assert found(f"お問い合わせはphonex {PHONE}", "phone") == []
