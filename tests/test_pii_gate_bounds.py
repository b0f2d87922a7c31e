"""Values right at the bound of a type's shortcut are found with every type on (issue 24 item 2).

With every built-in type on, each type skips a text that cannot hold a value of it: a card needs
12 digits in one run of digits and separators, an SSN 9, a phone number 6, a date or an IPv4
address 4, an IBAN its 2 check digits, a crypto address a digit. These are the shortest values
of each kind, each in a text whose other numbers are shorter still: the promise is that they
are found all the same (one digit fewer in a gate's bound and they are not).
"""

from __future__ import annotations

import pytest

from guardrails.pii.detect import BUILTIN_TYPES, build_detector

EVERY = sorted(set(BUILTIN_TYPES) - {"person", "location"})


def _iban_of_letters() -> str:
    """A GB IBAN whose body is all letters: its check digits are its only digits."""
    body = "WESTABCDEFGHIJKLMN"
    check = 98 - int("".join(str(int(c, 36)) for c in body + "GB00")) % 97
    return f"GB{check:02d}{body}"


SHORTEST = [
    ("credit_card", "501800000009"),  # Maestro, 12 digits
    ("credit_card", "5018 0000 0009"),
    ("us_ssn", "536-22-8726"),
    ("phone", "654321"),  # 6 digits next to "tel"
    ("date", "1/2/24"),
    ("date", "Jan 5, 2024"),
    ("ip", "8.8.8.8"),
    ("iban", _iban_of_letters()),
    ("crypto", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
]


@pytest.mark.parametrize(("kind", "value"), SHORTEST)
@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_the_shortest_value_of_each_kind_is_found_with_every_type_on(
    kind: str, value: str, order: str
) -> None:
    detect = build_detector(EVERY if order == "sorted" else EVERY[::-1])
    text = f"Ref 12, room 7: tel {value} (floor 3)."
    found = [(m["type"], m["value"]) for m in detect(text)]
    assert (kind, value) in found, found
