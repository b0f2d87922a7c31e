"""The promises of PII detection, part 13 (the red team's missing phone words, round 8).

* **These words are phone context** (a number the phone rules leave to context is reported
  after them, and not without them): Portuguese ``telemóvel``, Russian ``сотовый``,
  ``мобильный`` and ``моб.``, Indonesian and Malay ``telp``, ``telepon``, ``no HP``, ``nomor
  HP``, ``ponsel``, Vietnamese ``SĐT``, ``số điện thoại``, ``điện thoại`` (also written without
  marks), Hungarian ``telefonszám`` and ``mobil``, Finnish ``puhelin``, ``puhelinnumero``,
  ``matkapuhelin``, Thai ``โทรศัพท์``, ``เบอร์โทร``, Bengali ``ফোন``, ``মোবাইল``, Urdu ``فون``,
  ``موبائل``, and ``msisdn``; as field names too (``no_hp``, ``noTelp``, ``mobilszám``).
* **A word of another meaning is not**: ``hp`` alone (a brand, hit points), ``моб`` without its
  dot, ``điện`` (electricity), and these words inside other words (``automobil``,
  ``Mobilität``, an earphone in Bengali, a microphone in Urdu).
"""

from __future__ import annotations

import pytest

from guardrails.pii import detect
from guardrails.pii.context import field_context

PHONE = "19 99 99 9"  # a number the phone rules leave to context
OTHER = "20 99 99 9"  # another


def found(text: str) -> list[str]:
    return [m["value"] for m in detect(text, ["phone"])]


def _placed(label: str, value: str) -> list[str]:
    """A label and its value as prose, as a label, as a JSON key, and mid-sentence."""
    return [
        f"{label}: {value}",
        f"{label} {value}",
        f'{{"{label}": "{value}"}}',
        f"Thanks! {label} {value}, see you.",
    ]


WORDS = [
    # Portuguese (Portugal)
    "telemóvel",
    "Telemóvel",
    "telemovel",
    "telemóveis",
    # Russian
    "сотовый",
    "Сотовый",
    "номер сотового",
    "мобильный",
    "моб.",
    "Моб. тел.",
    # Indonesian, Malay
    "telp",
    "Telp.",
    "telepon",
    "no HP",
    "No. HP",
    "no. hp",
    "nomor HP",
    "ponsel",
    "nomor ponsel",
    # Vietnamese
    "SĐT",
    "sđt",
    "sdt",
    "số điện thoại",
    "Số điện thoại",
    "so dien thoai",
    "điện thoại",
    "dien thoai",
    # Hungarian
    "telefonszám",
    "Telefonszáma",
    "telefonszámom",
    "mobil",
    "mobilszám",
    # Finnish
    "puhelin",
    "puhelinnumero",
    "matkapuhelin",
    "matkapuhelinnumero",
    # Thai
    "โทรศัพท์",
    "เบอร์โทร",
    "เบอร์โทรศัพท์",
    # Bengali
    "ফোন",
    "ফোন নম্বর",
    "মোবাইল",
    # Urdu
    "فون",
    "فون نمبر",
    "موبائل",
    # the GSM subscriber number
    "msisdn",
    "MSISDN",
]


@pytest.mark.parametrize("label", WORDS)
def test_a_missing_phone_word_is_context(label: str) -> None:
    for text in _placed(label, PHONE):
        assert found(text) == [PHONE], text
        # the same text without the word: the number is not a phone
        assert found(text.replace(label, "x")) == [], text


@pytest.mark.parametrize(
    "key",
    [
        "no_hp",
        "noHp",
        "NO_HP",
        "nomorHp",
        "noTelp",
        "no_telp",
        "nomor_ponsel",
        "msisdn",
        "telefonszám",
        "mobilszám",
        "puhelinnumero",
        "SĐT",
    ],
)
def test_a_field_name_holding_a_missing_word_is_context(key: str) -> None:
    context = field_context(key)
    assert context is not None, key
    assert found(context + PHONE) == [PHONE]


NOT_WORDS = [
    # "hp" alone: a brand, hit points; only "no HP" / "nomor HP" name a phone
    "hp",
    "HP",
    "hp laptop",
    "HP EliteBook",
    "hp left",
    # Russian "моб" without its dot (slang: a mob), and words holding it
    "моб",
    "моба",
    "мобилизация",
    # Vietnamese: electricity (bill), a dialogue
    "tiền điện",
    "hội thoại",
    # "mobil" and "telp" inside other words
    "automobil",
    "Automobil",
    "automobil 2024 model,",
    "immobil",
    "mobilitás",
    "Mobilität",
    "hotelp",
    # Bengali earphone, headphone; Urdu microphone, headphone
    "ইয়ারফোন",
    "হেডফোন",
    "مائیکروفون",
    "ہیڈفون",
]


@pytest.mark.parametrize("label", NOT_WORDS)
def test_a_word_of_another_meaning_is_not_phone_context(label: str) -> None:
    for value in (PHONE, OTHER):
        for text in _placed(label, value):
            assert found(text) == [], text
    assert field_context(label.replace(" ", "_")) is None, label
