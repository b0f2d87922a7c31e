"""The promises of PII detection, part 8 (issue 29, the seed-13 sample of ``pii_detect``).

* **A field's name is context** (docs/pii.md): a value under a key named for its type
  (``phoneNumber``, ``customer_phone``, ``ssn``, ``cardNumber``, in any case style), in a JSON
  text or a tool call's arguments, is found like one written after that word, also for a name
  the scan has not met before; the same value under a neutral name is not (the name decides).
* **Overlaps are resolved among neighbours**: a value found inside another (an email in a URL's
  path) after an earlier, unrelated value is one match with the value around it; the words
  between the earlier value and it are never part of a match.
* **A candidate out of a checksum's range is text**: a Base58 run of an address's shape whose
  value is too large for the 25 bytes of an address, or a ``bc1`` run holding characters outside
  the bech32 alphabet (``b``, ``i``, ``o``, ``1``), is no address, and it never breaks the scan
  (a finder that raised would block the call as a detector error).
* **The longest number E.164 allows is a number**: 15 digits with its country code (a German
  toll-free number, phonenumbers' own example), written with ``+`` or ``00``, grouped or not.
  And the shortest: 6 digits after a phone word (``phone: +12 3456``, ``00`` not counted), not 5.
* **A bech32 address in upper case is an address** (BIP 173: QR codes write it so): found like
  its lower-case form; one in mixed case is not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage

from guardrails import PIIMiddleware
from guardrails.pii import detect
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool
from tests.test_promises_detect_3 import (
    CARD_ONLY_WITH_CONTEXT,
    PHONE_ONLY_WITH_CONTEXT,
    SSN_ONLY_WITH_CONTEXT,
)

TYPES = ["phone", "us_ssn", "credit_card", "crypto"]
# (field name, value, type): names of every case style, some met by no other test
NAMED = [
    ("phoneNumber", PHONE_ONLY_WITH_CONTEXT, "PHONE"),
    ("customer_mobile_phone", PHONE_ONLY_WITH_CONTEXT, "PHONE"),
    ("Fallback-Phone", PHONE_ONLY_WITH_CONTEXT, "PHONE"),
    ("ssn", SSN_ONLY_WITH_CONTEXT, "US_SSN"),
    ("spouseSocialSecurityNumber", SSN_ONLY_WITH_CONTEXT, "US_SSN"),
    ("cardNumber", CARD_ONLY_WITH_CONTEXT, "CREDIT_CARD"),
    ("backup_credit_card", CARD_ONLY_WITH_CONTEXT, "CREDIT_CARD"),
]


def _sent(content: str, mode: str) -> str:
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware(TYPES)])
    invoke(agent, {"messages": [HumanMessage(content)]}, mode)
    return str(model.requests[0]["messages"][-1].content)


@pytest.mark.parametrize(("name", "value", "tag"), NAMED)
def test_a_value_under_a_field_named_for_its_type_is_found(
    name: str, value: str, tag: str, mode: str
) -> None:
    sent = json.loads(_sent(json.dumps({name: value, "notes": "call me"}), mode))
    assert sent == {name: f"[REDACTED_{tag}]", "notes": "call me"}


@pytest.mark.parametrize(("name", "value", "tag"), NAMED)
def test_the_same_value_under_a_neutral_name_is_not_found(
    name: str, value: str, tag: str, mode: str
) -> None:
    content = json.dumps({"remarks": value})
    assert _sent(content, mode) == content


@pytest.mark.parametrize(("name", "value", "tag"), NAMED[:4])
def test_a_tool_argument_named_for_its_type_is_found(
    name: str, value: str, tag: str, mode: str
) -> None:
    received: list[dict[str, Any]] = []

    @tool
    def save(record: dict[str, Any]) -> str:
        """Save a record."""
        received.append(record)
        return "saved"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("save", {"record": {name: value}})]), "ok"]
    )
    agent = create_agent(
        model, tools=[save], middleware=[PIIMiddleware(TYPES, apply_to_tool_args=True)]
    )
    invoke(agent, {"messages": [HumanMessage("save it")]}, mode)
    assert received == [{name: f"[REDACTED_{tag}]"}]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        (
            "mail jane@example.com or see https://example.com/u/jane.doe@example.com today",
            ["jane@example.com", "https://example.com/u/jane.doe@example.com"],
        ),
        (
            "mail jane@example.com, see www.example.com/jane@example.com",
            ["jane@example.com", "www.example.com/jane@example.com"],
        ),
        (
            "a@example.com b@example.com then https://example.com/?to=c@example.com end",
            ["a@example.com", "b@example.com", "https://example.com/?to=c@example.com"],
        ),
    ],
)
def test_a_value_inside_another_after_an_earlier_value_keeps_the_words_between(
    text: str, values: list[str]
) -> None:
    assert [m["value"] for m in detect(text, ["email", "url"])] == values


#: the crypto pattern's longest runs (35 characters) with the largest digits: over 200 bits
TOO_LARGE = ["3" + "z" * 34, "3" + "zy" * 17, "3" + "x" * 34]
#: bc1 runs the crypto pattern takes whose characters are not all bech32
NOT_BECH32 = ["bc1q" + "b" * 35, "bc1qi" + "o" * 33, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kb8f3t4"]


@pytest.mark.parametrize("run", TOO_LARGE + NOT_BECH32)
def test_a_crypto_run_out_of_its_checksums_range_is_text(run: str, mode: str) -> None:
    assert detect(f"pay to {run} now", "crypto") == []
    assert _sent(f"pay to {run} now", mode) == f"pay to {run} now"


BECH32 = [
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
]


@pytest.mark.parametrize("address", BECH32)
def test_a_bech32_address_in_upper_case_is_found(address: str, mode: str) -> None:
    upper = address.upper()
    assert [m["value"] for m in detect(f"send to {upper} now", "crypto")] == [upper]
    assert _sent(f"send to {upper} now", mode) == "send to [REDACTED_CRYPTO] now"
    mixed = address[:10] + address[10:].upper()
    assert detect(f"send to {mixed} now", "crypto") == []


#: +49 800 1234567890: 2 + 13 digits, the E.164 maximum
LONGEST = [
    "+49 8001234567890",
    "+49 800 1234567890",
    "+49 800 123 456 7890",
    "+498001234567890",
    "0049 8001234567890",
    "0049 800 1234567890",
]


@pytest.mark.parametrize("number", LONGEST)
def test_a_number_of_fifteen_digits_is_found_whole(number: str, mode: str) -> None:
    assert [m["value"] for m in detect(f"call {number} now", "phone")] == [number]
    assert _sent(f"call {number} now", mode) == "call [REDACTED_PHONE] now"


@pytest.mark.parametrize("number", ["+12 3456", "+123 456", "+123456", "0012 3456"])
def test_a_number_of_six_digits_after_a_phone_word_is_found(number: str) -> None:
    assert [m["value"] for m in detect(f"phone: {number} now", "phone")] == [number]


@pytest.mark.parametrize("number", ["+12 345", "+1 2345", "0012 345"])
def test_five_digits_are_not_a_number_even_after_a_phone_word(number: str) -> None:
    assert detect(f"phone: {number} now", "phone") == []


# ------------------------------------------------------------ secrets in more of their shapes


def _secrets(text: str) -> list[str]:
    return [m["value"] for m in detect(text, "secret")]


@pytest.mark.parametrize(
    "text", ["<password>\n  line one\n  line two\n</password>", "<password>\n</password>"]
)
def test_an_element_of_several_lines_or_none_is_no_password(text: str) -> None:
    """docs/secrets.md: an element's text is read on one line (the bound keeps the scan linear)."""
    assert _secrets(text) == []


@pytest.mark.parametrize("q", ['"', "'"])
def test_an_empty_quoted_password_takes_nothing_after_it(q: str) -> None:
    """``password = ""`` holds no secret: the text that follows (another setting, a name) is
    not read as its value up to the next quote."""
    assert _secrets(f"password = {q}{q} and name = {q}bob smith{q}") == []


@pytest.mark.parametrize(
    "text",
    [
        'curl -u "admin:s3cretPa55" https://api.example.com',
        "curl -u 'admin:s3cretPa55' https://api.example.com",
        "curl -u admin:s3cretPa55 https://api.example.com",
        'curl --user="admin":"s3cretPa55" https://api.example.com',
    ],
)
def test_a_command_line_password_is_found_in_each_quoting(text: str) -> None:
    assert _secrets(text) == ["s3cretPa55"]


def test_two_private_keys_in_one_text_are_each_reported_whole() -> None:
    """Each block from its BEGIN line to its own END line: the first key is not cut at the
    second one's END, nor left without its END line."""
    k1 = (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA"
        + "B" * 60
        + "\n-----END RSA PRIVATE KEY-----"
    )
    k2 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIC" + "C" * 60 + "\n-----END EC PRIVATE KEY-----"
    assert _secrets(f"{k1}\n\nand the other one:\n\n{k2}") == [k1, k2]
