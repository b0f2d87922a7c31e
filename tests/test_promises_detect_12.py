"""The promises of PII detection, part 12 (mutation testing, round 8: the seed-71 ``pii_detect``
sample's survivors).

* **A value a session parameter holds is named by its stronger reading** (an IBAN, a crypto
  address), whatever the order the types are listed in.
* **An identifier assigned to a password name in code is not a password.**
* **A token whose checksum holds is a token, whatever its random part spells.** A GitHub token
  (``ghp_`` and its kin) carries a CRC32 of its 30 random characters; when it holds, the token is
  reported even if those characters spell what a made-up example holds (``abcdefgh``, in any
  case): the heuristics that refuse such bodies are for formats without a check, and the same
  bodies with a checksum that does not hold are still refused.
"""

from __future__ import annotations

import random
import string
import zlib

import pytest

from guardrails.pii import detect

_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _github(prefix: str, random_part: str) -> str:
    """A GitHub token with a valid checksum (the base62 CRC32 of its 30 random characters)."""
    assert len(random_part) == 30
    crc, out = zlib.crc32(random_part.encode()), ""
    while crc:
        crc, r = divmod(crc, 62)
        out = _B62[r] + out
    return prefix + random_part + out.rjust(6, "0")


def _parts() -> list[str]:
    """Random parts that spell ``abcdefgh`` (a made-up example's marker, in any case) at the
    start, inside and at the end, in three cases."""
    rng = random.Random(71)
    mixed = string.ascii_letters + string.digits
    out = []
    for word in ("abcdefgh", "ABCDEFGH", "AbcDefGh"):
        for at in (0, 11, 22):
            rest = "".join(rng.choice(mixed) for _ in range(22))
            out.append(rest[:at] + word + rest[at:])
    return out


@pytest.mark.parametrize("prefix", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"])
@pytest.mark.parametrize("part", _parts())
def test_a_github_token_whose_checksum_holds_is_reported_whatever_it_spells(
    prefix: str, part: str
) -> None:
    token = _github(prefix, part)
    for text in (f"token: {token}", f"export GITHUB_TOKEN={token}", f"use {token} here"):
        assert [m["value"] for m in detect(text, ["github_token"])] == [token], text


def test_the_same_bodies_without_a_valid_checksum_stay_examples() -> None:
    # the control: with a wrong checksum the heuristics decide, and these bodies read as examples
    refused = 0
    for part in _parts():
        token = _github("ghp_", part)
        wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
        refused += not detect(f"token: {wrong}", ["github_token"])
    assert refused == len(_parts())


# ------------------------------------------------------------------ identifiers in code

#: a password name assigned an identifier: code moving a value around, not a password
CODE = [
    "password = new_password",
    "self.password = raw_password",
    "db_password = password_from_vault",
    "user_password = form_value",
    "password = request_password",
]


@pytest.mark.parametrize("line", CODE)
@pytest.mark.parametrize(
    "shape", ["{}", "def save(user):\n    {}\n    return user", "    {}  # keep it"]
)
def test_an_identifier_assigned_to_a_password_name_in_code_is_not_a_password(
    line: str, shape: str
) -> None:
    text = shape.format(line)
    assert detect(text, ["password"]) == [], text


def test_a_yaml_password_written_as_a_mixed_case_word_is_a_password() -> None:
    # the control: after ':' (YAML), a bare word with a capital inside is a password
    for value in ("myPassw0rd", "sunShine42", "tigerLily"):
        assert [m["value"] for m in detect(f"password: {value}", ["password"])] == [value]


# ------------------------------------------------------------------ a session parameter's value

#: values a structured type reads whole, which a session parameter may hold
STRONGER = {
    "MT84MALT011000012345MTLCAST001S": "iban",
    "FR1420041010050500013M02606": "iban",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq": "crypto",
    "1BoatSLRHtKNngkdXEeobR76b53LETtpyT": "crypto",
}


@pytest.mark.parametrize("value", list(STRONGER))
@pytest.mark.parametrize("order", ["structured first", "generic first"])
def test_a_value_a_session_parameter_holds_is_named_by_its_stronger_reading(
    value: str, order: str
) -> None:
    """A session id is a weak reading (a random-looking value after ``session=``): an IBAN or a
    crypto address given there is named as such, whichever type is listed first."""
    types = ["iban", "crypto", "generic_secret"]
    if order == "generic first":
        types.reverse()
    for text in (f"session_id={value}", f"Cookie: PHPSESSID={value}; path=/"):
        assert [(m["type"], m["value"]) for m in detect(text, types)] == [
            (STRONGER[value], value)
        ], text
