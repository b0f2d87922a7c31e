"""The promises of PII detection, part 11 (the red team's context-word gaps: field names written
as one word, other languages' words and their endings, SSN labels).

* **A field's name is read as its words**: a context word glued to words of a name (``homephone``,
  ``PHONENUMBER``, ``Handynummer``, ``telefoonnummer``, JSON keys in any case or separator) is a
  context word; glued to letters that are no such words (``hotel``, ``microphone``,
  ``automobile``, Italian ``panno``) it is part of another word, as before.
* **A word keeps its endings**: a Latin-script word takes a plural (``teléfonos``,
  ``telefones``) and, seven letters or more, case endings (``telefoni``, ``numer telefonu``,
  ``telefonní``, ``cep telefonu``); a shorter word with an ending is another word (``mobilen``,
  ``phoneme``). An Arabic or Persian word keeps the article and the letters written against it
  (``رقم الهاتف``, ``هاتفي``), and nothing else.
* **Dutch, Polish, Czech, Turkish, Greek, Arabic, Persian and Korean words are context words.**
* **An SSN label is context even when it ends in ``id``** (``tax id``, ``taxpayerId``,
  ``SocSec``, ``TIN``), while ``id`` after any other word still says the number is an id.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from guardrails.errors import PIIDetectionError
from guardrails.pii import PIIMiddleware, detect
from guardrails.pii.context import field_context
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import tool

PHONE = "19 99 99 9"  # a number the phone rules leave to context
SSN = "536221234"  # nine bare digits: an SSN only next to an SSN word


def found(text: str, kind: str) -> list[str]:
    return [m["value"] for m in detect(text, [kind])]


def _placed(label: str, value: str) -> list[str]:
    """A label and its value as prose, as a label and as a JSON key."""
    return [f"{label}: {value}", f"{label} {value}", f'{{"{label}": "{value}"}}']


FIELD_NAMES = [
    "homephone",
    "mobilephone",
    "workphonenumber",
    "PHONENUMBER",
    "HOMEPHONE",
    "phone_number",
    "cellPhone",
    "customerPhoneNumber",
    "home-phone",
    "MOBILE_NUMBER",
    "payphone",
    "phoneno",
    "telnum",
    "Handynummer",
    "Mobilnummer",
    "Festnetznummer",
    "Telefonnummern",
    "telefoonnummer",
    "mobielnummer",
    "numerotelefono",
]


@pytest.mark.parametrize("label", FIELD_NAMES)
def test_a_field_name_holding_a_phone_word_is_context(label: str) -> None:
    for text in _placed(label, PHONE):
        assert found(text, "phone") == [PHONE], text


WORDS = [
    # endings
    "teléfonos",
    "telefones",
    "telefoni",
    "celulares",
    "mobiles",
    "handys",
    "contacts",
    # Dutch, Polish, Czech, Turkish
    "mobiel",
    "telefoon",
    "komórka",
    "numer telefonu",
    "telefonní číslo",
    "mobil",
    "cep telefonu",
    "telefonum",
    # Greek, Arabic, Persian, Korean
    "τηλέφωνο",
    "τηλεφώνου",
    "κινητό",
    "هاتف",
    "جوال",
    "رقم الهاتف",
    "بالهاتف",
    "هاتفي",
    "تلفن",
    "شماره تماس",
    "موبایل",
    "휴대폰",
    "전화번호",
]


@pytest.mark.parametrize("label", WORDS)
def test_a_phone_word_of_another_language_or_with_its_ending_is_context(label: str) -> None:
    for text in _placed(label, PHONE):
        assert found(text, "phone") == [PHONE], text


NOT_WORDS = [
    "hotel",
    "hotelroom",
    "motel",
    "intel",
    "microphone",
    "headphone",
    "xylophone",
    "phoneme",
    "automobile",
    "mobilen",
    "mobilee",
    "contactless",
    "hometel",
    "telno",
    "room",
    "roomnumber",
    "order no",
    "orderno",
    "invoice",
    "invoicenumber",
    "سهاتف",  # a letter that is no prefix
    "هاتفز",  # nor a suffix
]


@pytest.mark.parametrize("label", NOT_WORDS)
def test_a_word_that_merely_holds_a_phone_word_is_not_context(label: str) -> None:
    for text in _placed(label, PHONE):
        assert found(text, "phone") == [], text


def test_a_short_card_word_glued_to_a_short_word_is_not_context() -> None:
    card = "1234 5678 9012 3452"  # Luhn-valid, in no issued range: a card only with context
    assert found(f"pan {card}", "credit_card") == [card]
    assert found(f"panno {card}", "credit_card") == []  # Italian: a cloth


@pytest.mark.parametrize(
    "label",
    ["SocSec", "socsec", "soc sec", "social security no", "taxpayerId", "TIN", "tax id", "tax_id"],
)
def test_an_ssn_label_is_context(label: str) -> None:
    for text in _placed(label, SSN):
        assert found(text, "us_ssn") == [SSN], text


@pytest.mark.parametrize("label", ["order id", "id", "contact id", "invoice"])
def test_an_id_label_keeps_nine_digits_out_of_the_ssns(label: str) -> None:
    for text in _placed(label, SSN):
        assert found(text, "us_ssn") == [], text
    # an SSN word before the id label: the id label is what the number is
    assert found(f"ssn on file; {label} {SSN}", "us_ssn") == []


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("homePhoneNumber", True),
        ("HANDYNUMMER", True),
        ("telefoonnummer", True),
        ("SOCSEC", True),
        ("hotelRoom", False),
        ("microphone", False),
    ],
)
def test_a_structured_field_name_is_read_as_its_words(key: str, expected: bool) -> None:
    # the context a value under this key is scanned with (tool arguments, JSON payloads)
    context = field_context(key)
    assert (context is not None) is expected
    if context is not None:
        kind, value = ("us_ssn", SSN) if "SEC" in key else ("phone", PHONE)
        assert found(context + value, kind) == [value]


def _tool_ran(args: dict[str, str], mode: str) -> bool:
    """Whether a tool called with ``args`` ran behind PIIMiddleware(block) on tool arguments."""
    ran: list[dict[str, Any]] = []

    @tool
    def save(**kwargs: Any) -> str:
        """Save."""
        ran.append(kwargs)
        return "saved"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("save", args)])], default="done"
    )
    middleware = PIIMiddleware(["us_ssn", "phone"], strategy="block", apply_to_tool_args=True)
    agent = create_agent(model, tools=[save], middleware=[middleware])
    payload = {"messages": [("user", "save")]}
    try:
        agent.invoke(payload) if mode == "sync" else asyncio.run(agent.ainvoke(payload))
    except PIIDetectionError:
        return False
    return bool(ran)


@pytest.mark.parametrize(
    ("key", "value"),
    [("homephone", PHONE), ("HANDYNUMMER", PHONE), ("telefoonnummer", PHONE), ("taxpayerId", SSN)],
)
def test_a_value_under_a_glued_field_name_is_blocked_before_the_tool(
    key: str, value: str, mode: str
) -> None:
    assert not _tool_ran({key: value}, mode)
    assert _tool_ran({"hotelRoom": value}, mode)  # a name of no such words: not context
