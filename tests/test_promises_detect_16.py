"""The promises of PII detection, part 16 (phone words the red team found missing, round 9).

* **These words are phone context** (a number the phone rules leave to context is reported
  after them, and not without them): Finnish ``puh.`` (with its dot) and the case and
  possessive forms of ``puhelin`` / ``matkapuhelin`` / ``puhelinnumero`` (``puhelimeen``,
  ``puhelimella``, ``puhelinnumeroni``), Thai ``โทร.`` and ``โทร`` before a space, a colon or
  a digit, ``โทรสาร`` (fax), Bengali forms with endings (``ফোনে``, ``ফোনের``, ``মোবাইলে``),
  Urdu ``ٹیلیفون``.
* **A word of another meaning is not**: Finnish ``puh`` without its dot (an interjection),
  ``puhuja`` (a speaker); Thai ``โทร`` inside ``โทรทัศน์`` (a television) and ``ทรุดโทรม``.
* **A social insurance number's label is no phone label**: ``numéro d'assurance sociale``
  (Canada's SIN), ``numéro de sécurité sociale``, ``número de la seguridad social``: the
  ``numéro`` in them is not phone context, while ``numéro`` alone or ``numéro de téléphone``
  still is; these labels are SSN context (nine bare digits after them are a ``us_ssn``).
"""

from __future__ import annotations

import pytest

from guardrails.pii import detect
from guardrails.pii.context import field_context
from tests.test_promises_detect_13 import OTHER, PHONE, _placed, found

WORDS = [
    # Finnish
    "puh.",
    "Puh.",
    "puhelimeen",
    "puhelimella",
    "puhelimen",
    "puhelimessa",
    "puhelinta",
    "puhelinnumeroni",
    "puhelinnumeron",
    "matkapuhelimeen",
    "matkapuhelinnumero",
    # Thai
    "โทร.",
    "โทร",
    "โทรสาร",
    # Bengali
    "ফোনে",
    "ফোনের",
    "মোবাইলে",
    # Urdu
    "ٹیلیفون",
    "ٹیلیفون نمبر",
]


@pytest.mark.parametrize("label", WORDS)
def test_a_missing_phone_word_is_context(label: str) -> None:
    for text in _placed(label, PHONE):
        assert found(text) == [PHONE], text
        assert found(text.replace(label, "x")) == [], text


def test_thai_call_glued_to_a_number_is_context() -> None:
    assert found(f"โทร{PHONE}") == [PHONE]
    assert found(f"ติดต่อโทร {PHONE}") == [PHONE]
    assert found(f"ติดต่อโทร. {PHONE}") == [PHONE]


NOT_WORDS = [
    "puh",  # an interjection
    "Puh",
    "puhuja",  # a speaker
    "โทรทัศน์",  # a television
    "ทรุดโทรม",  # run down
    "ดูโทรทัศน์",
]


@pytest.mark.parametrize("label", NOT_WORDS)
def test_a_word_of_another_meaning_is_not_phone_context(label: str) -> None:
    for value in (PHONE, OTHER):
        for text in _placed(label, value):
            assert found(text) == [], text
    assert field_context(label) is None or found(field_context(label) + PHONE) == []


SIN_LABELS = [
    "numéro d'assurance sociale",
    "Numéro d’assurance sociale",
    "NUMÉRO D'ASSURANCE SOCIALE",
    "numero d assurance sociale",
    "numéro de sécurité sociale",
    "número de la seguridad social",
    "número de seguridad social",
    "número de segurança social",
    "numero di previdenza sociale",
]


@pytest.mark.parametrize("label", SIN_LABELS)
def test_a_social_insurance_label_is_not_phone_context(label: str) -> None:
    for text in _placed(label, PHONE):
        assert found(text) == [], text
    key = label.replace(" ", "_").replace("'", "").replace("’", "")
    context = field_context(key)
    assert context is not None  # a field name of an SSN-like id
    assert found(context + PHONE) == []


@pytest.mark.parametrize("label", [*SIN_LABELS, "social insurance number"])
def test_a_social_insurance_label_is_ssn_context(label: str) -> None:
    for text in _placed(label, "536221234"):
        assert [(m["type"], m["value"]) for m in detect(text, ["us_ssn", "phone"])] == [
            ("us_ssn", "536221234")
        ], text
    assert detect("reference 536221234", ["us_ssn"]) == []  # (bare digits need the label)


@pytest.mark.parametrize("label", ["numéro", "Numéro", "numéro de téléphone", "numero"])
def test_a_phone_numero_stays_phone_context(label: str) -> None:
    for text in _placed(label, PHONE):
        assert found(text) == [PHONE], text


def test_a_table_headed_by_a_social_insurance_column_is_not_phone_context() -> None:
    text = f"nom;numéro d'assurance sociale\nJean;{PHONE}\n"
    assert found(text) == []
    assert found(text.replace("d'assurance sociale", "de téléphone")) == [PHONE]
