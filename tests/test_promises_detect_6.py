"""The promises of PII detection, part 6: the shapes docs/pii.md ("What is recognised") lists
for each type, on both sides (what is a value and what is not), every documented type name,
and the bounds of the phone rules and of the negative words. Through ``detect`` only.
"""

from __future__ import annotations

import pytest

from guardrails.pii import BUILTIN_TYPES, detect


def found(text: str, types: str | list[str]) -> list[str]:
    return [m["value"] for m in detect(text, types)]


SHAPES = [
    # emails: Unicode local parts and IDN domains, apostrophes, tags, a line break around @
    ("email", "mail müller@bücher.de ok", "müller@bücher.de"),
    ("email", "mail sean.o'brien@example.ie ok", "sean.o'brien@example.ie"),
    ("email", "mail jane+tag@example.com ok", "jane+tag@example.com"),
    ("email", "mail jane.roe@sub.example.co.uk ok", "jane.roe@sub.example.co.uk"),
    ("email", "mail jane\n@example.com ok", "jane\n@example.com"),
    ("email", "mail 用户@例子.中国 ok", "用户@例子.中国"),
    ("email", "ping @example.com", None),  # a handle after a word
    ("email", "logo@2x.png", None),  # no such top-level domain
    # IPs: after any word, leading zeros; IPv6 in every form, IPv4-mapped whole
    ("ip", "host 081.002.069.142 up", "081.002.069.142"),
    ("ip", "dev 81.2.69.142 up", "81.2.69.142"),
    ("ip", "Tel Aviv 81.2.69.142", "81.2.69.142"),
    ("ip", "ip fe80::1ff:fe23:4567:890a up", "fe80::1ff:fe23:4567:890a"),
    (
        "ip",
        "ip 2001:0db8:85a3:0000:0000:8a2e:0370:7334 up",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    ),
    ("ip", "ip ::ffff:81.2.69.142 up", "::ffff:81.2.69.142"),
    ("ip", "ip ::1 up", "::1"),
    ("ip", "ip 1.2.3.4.5", None),  # inside a longer dotted run
    ("ip", "release 1.2.3.4", None),
    ("ip", "v1.2.3.4", None),
    # URLs: http(s), ftp, www., with user information, a port, an IPv6 host; the closing
    # bracket or full stop of the sentence is not part of it
    ("url", "see ftp://files.example.com/x ok", "ftp://files.example.com/x"),
    ("url", "see www.example.com/path ok", "www.example.com/path"),
    ("url", "see HTTPS://EXAMPLE.COM/A ok", "HTTPS://EXAMPLE.COM/A"),
    ("url", "(see https://example.com/a).", "https://example.com/a"),
    (
        "url",
        "see http://user:pw@example.com:8080/p?q=1 ok",
        "http://user:pw@example.com:8080/p?q=1",
    ),
    ("url", "see https://jane@example.com/x ok", "https://jane@example.com/x"),
    ("url", "see http://[2001:db8::1]:8080/x ok", "http://[2001:db8::1]:8080/x"),
    ("url", "see https://example.com?x=1 ok", "https://example.com?x=1"),
    ("url", "see https://intranet/x up", None),  # a host without a dot
    # dates
    ("date", "on 2024-05-13 ok", "2024-05-13"),
    ("date", "on 13.05.2024 ok", "13.05.2024"),
    ("date", "on May 13, 2024 ok", "May 13, 2024"),
    ("date", "on 5/13/24 ok", "5/13/24"),
]


@pytest.mark.parametrize(("kind", "text", "value"), SHAPES, ids=[s[1] for s in SHAPES])
def test_each_documented_shape(kind: str, text: str, value: str | None) -> None:
    assert found(text, kind) == ([value] if value else [])


#: docs/pii.md and docs/secrets.md: the built-in type names (person and location need a model)
DOCUMENTED_TYPES = {
    "email": "mail jane@example.com",
    "credit_card": "card 4111 1111 1111 1111",
    "ip": "host 81.2.69.142",
    "mac_address": "nic 00:1A:2B:3C:4D:5E",
    "url": "see https://example.com/a",
    "phone": "call +44 20 7946 0958",
    "iban": "iban DE89 3704 0044 0532 0130 00",
    "us_ssn": "ssn 536-22-1234",
    "crypto": "send 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    "date": "on 2024-05-13",
    "secret": "token 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",
    "api_key": "token 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",
    "github_token": "token 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",
    "aws_key": "id AKIAQ7ZK3M5XW2PLR4TN",
    "password": "password: hunter2!x",
    "generic_secret": "client_secret: Zk3Lm9Qx2Vb7Np4T",
    "private_key": "-----BEGIN PRIVATE KEY-----\n"
    + "MIIEvQIBADANBgkqhkiG9w0BAQEF" * 3
    + "\n-----END PRIVATE KEY-----",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@pytest.mark.parametrize("kind", sorted(DOCUMENTED_TYPES))
def test_every_documented_type_name_is_built_in_and_finds_its_kind(kind: str) -> None:
    assert kind in BUILTIN_TYPES
    assert len(found(DOCUMENTED_TYPES[kind], kind)) == 1
    # and it finds it in a list of every type too
    assert kind in {m["type"] for m in detect(DOCUMENTED_TYPES[kind], [kind, "email", "url"])}


def test_person_and_location_need_a_model_and_say_so() -> None:
    from guardrails.errors import GuardrailConfigError
    from guardrails.pii import build_detector

    for kind in ("person", "location"):
        assert kind in BUILTIN_TYPES
        with pytest.raises(GuardrailConfigError, match="nlp_model"):
            build_detector(kind)


# ----------------------------------------------------------------------------- phone shapes


def test_a_short_formatted_number_is_a_phone_only_with_context() -> None:
    """docs/pii.md: a postcode or a house number as often ("20210-261", "7038 01")."""
    for value in ("20210-261", "7038 01"):
        assert found(f"x {value} y", "phone") == [], value
        assert found(f"phone {value}", "phone") == [value], value


@pytest.mark.parametrize(
    "text", ["phone 1 2 3 4 5 6 7 8", "phone 12 3 4 5 67", "call 1 22 3 44 5 6"]
)
def test_digits_scattered_in_prose_are_no_phone_even_with_context(text: str) -> None:
    assert found(text, "phone") == []


# ----------------------------------------------------------------------------- negative words


def test_a_negative_word_counts_when_it_ends_at_most_20_characters_before_the_number() -> None:
    """docs/pii.md: the words right before a number: ending at most 20 characters before it,
    with nothing but separators (spaces, ``#``, ``:``, ``.``, ``-``, ``no``, ``number``) between."""
    value = "536221234"
    assert found("ssn order" + " " * 20 + value, "us_ssn") == []
    assert found("ssn order" + " " * 21 + value, "us_ssn") == [value]
    assert found(f"ssn order number: {value}", "us_ssn") == []
    assert found(f"ssn order nr. {value}", "us_ssn") == []
    assert found(f"ssn order - #{value}", "us_ssn") == []
    assert found(f"ssn order of {value}", "us_ssn") == [value]  # a word between


# ----------------------------------------------------------------------------- XML elements


def test_an_xml_element_under_a_secret_name_is_read_up_to_513_characters() -> None:
    """docs/secrets.md: ``<password>...</password>``, text of up to 513 characters on one line
    (the bound keeps the scan linear)."""
    body = "Zk3Lm9Qx2Vb7Np4T" * 40
    for name in ("password", "client_secret"):
        for n in (8, 256, 512, 513):
            text = f"<{name}>{body[:n]}</{name}>"
            assert found(text, "secret") == [body[:n]], (name, n)
        assert found(f"<{name}>{body[:514]}</{name}>", "secret") == [], name
        assert found(f"<{name}>{body[:20]}\n</{name}>", "secret") == [], name  # not one line


# ----------------------------------------------------------------------------- card groups


def test_card_groups_are_3_digits_or_more_with_a_short_tail_only_after_fours() -> None:
    """docs/pii.md: groups of 3 digits or more; a short last group only after groups of four
    (``3056-9309-0259-04``); a group of more than 8 digits is the start of no grouped card."""

    def cards(text: str) -> list[str]:
        return found(text, "credit_card")

    assert cards("card 4111 111 111 111 111") == ["4111 111 111 111 111"]
    assert cards("x 3056-9309-0259-04 y") == ["3056-9309-0259-04"]
    assert cards("card 41 11 11 11 11 11 11 11") == []
    assert cards("x 30569-30902-59-04 y") == []
    assert cards("x 305-693-090-259-04 y") == []
    assert cards("card 4111 1111 1111 111 1") == []
    assert cards("x 411111111 1111111 y") == []
    assert cards("x 411111111111 1111 y") == []
