"""The promises of PII detection, part 7 (issue 29, the seed-11 sample of ``pii_detect``):
what a careless edit of a finder's bounds would drop, through ``detect`` only.

* a credential after an ``auth`` / ``bearer`` / ``basic`` name and any scheme word
  (``auth: Token …``, ``"auth": "ApiKey …"``): the value is found, not only ``Bearer`` ones;
* a private key cut short (no END line) is matched as far as it goes, its base64 padding (``=``)
  included;
* an IPv6 address written in full with an IPv4 tail (six colons, no ``::``) is one value,
  found whole (not its IPv4 tail alone).
"""

from __future__ import annotations

import pytest

from guardrails.pii import detect

TOKEN = "q8Zr2LmX4vN7pK1sT9wY"


def found(text: str, types: str | list[str]) -> list[str]:
    return [m["value"] for m in detect(text, types)]


@pytest.mark.parametrize(
    "text",
    [
        f"auth: Token {TOKEN}",
        f"auth: Digest {TOKEN}",
        f'{{"auth": "ApiKey {TOKEN}"}}',
        f"bearer: Token {TOKEN}",
        f"basic = Token {TOKEN}",
        f"X-Upstream-Authorization: Token {TOKEN}",
        f"auth: Bearer {TOKEN}",
    ],
)
def test_a_credential_after_an_auth_name_and_any_scheme_is_found(text: str) -> None:
    assert found(text, ["secret", "password", "api_key"]) == [TOKEN]


def test_a_weak_auth_value_without_a_scheme_is_not_a_credential() -> None:
    # the control: the scheme is what makes the word after it a credential
    assert found("auth: Token hello", ["secret", "password", "api_key"]) == []


_BODY = (
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7"
    "NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvuNMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s"
)


@pytest.mark.parametrize("padding", ["=", "==", ""])
def test_a_key_cut_short_is_matched_with_its_padding(padding: str) -> None:
    key = f"-----BEGIN PRIVATE KEY-----\n{_BODY}{padding}"
    for text in (f"key:\n{key}", f"key:\n{key}.", f"key:\n{key} ...\n"):
        assert found(text, "private_key") == [key], text


@pytest.mark.parametrize(
    "value",
    [
        "2001:db8:85a3:0:0:8a2e:81.2.69.142",
        "0:0:0:0:0:ffff:81.2.69.142",
        "64:ff9b:0:0:0:0:192.0.2.33",
    ],
)
def test_a_full_ipv6_with_an_ipv4_tail_is_one_value(value: str) -> None:
    assert found(f"peer {value} up", "ip") == [value]
