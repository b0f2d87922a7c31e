"""The promises of PII detection, part 5: the documented secret forms that no provider prefix
carries (docs/secrets.md, "Context" and the kinds fixed by name), Presidio entity types, and
the edges of the phone rules. Each test states one promise and names the careless edit it is
there to catch; all go through ``detect`` (the public API), never the finders' helpers.
"""

from __future__ import annotations

import base64

import pytest

from guardrails.pii import detect


def found(text: str, types: str | list[str]) -> list[str]:
    return [m["value"] for m in detect(text, types)]


# ----------------------------------------------------------------------------- Authorization


def test_a_long_random_basic_value_that_is_no_user_pass_is_still_a_credential() -> None:
    """docs/secrets.md: ``Authorization: Basic`` credentials, and a long random Basic value that
    does not decode to ``user:pass`` (16 characters or more and random-looking)."""
    userpass = base64.b64encode(b"jane:hunter2").decode()
    assert found(f"Authorization: Basic {userpass}", "password") == [userpass]
    assert found("Authorization: Basic Zk3Lm9Qx2Vb7Np4T", "secret") == ["Zk3Lm9Qx2Vb7Np4T"]
    assert found('"Authorization": "Basic Zk3Lm9Qx2Vb7Np4Tq"', "secret") == ["Zk3Lm9Qx2Vb7Np4Tq"]
    # 15 characters, or 16 that read as a word: not a credential without the user:pass shape
    assert found("Authorization: Basic Zk3Lm9Qx2Vb7Np4", "secret") == []
    assert found("Authorization: Basic realmrealmrealm1", "secret") == []


def test_a_bearer_token_of_no_known_format_is_a_generic_secret() -> None:
    assert found("Authorization: Bearer Zk3Lm9Qx2Vb7Np4T", "generic_secret") == ["Zk3Lm9Qx2Vb7Np4T"]
    assert found("Authorization: Bearer token", "secret") == []


# ----------------------------------------------------------------------------- assignments


def test_a_quoted_value_after_a_bare_space_counts_only_when_random() -> None:
    """docs/secrets.md: a quoted random value after a bare space (``apikey "v";``); a bare
    space binds a word value only to a CLI flag (``--token abc``)."""
    assert found('apikey "Zk3Lm9Qx2Vb7Np4T";', "secret") == ["Zk3Lm9Qx2Vb7Np4T"]
    assert found('password "Zk3$Lm9Qx2Vb7"', "secret") == ["Zk3$Lm9Qx2Vb7"]
    # a password name takes any value after "=" or ":", but after a bare space only a random one
    assert found('password "hunter22"', "secret") == []
    assert found('password="hunter22"', "secret") == ["hunter22"]
    assert found("--password hunter22", "secret") == ["hunter22"]
    assert found("the token expires tomorrow", "secret") == []


@pytest.mark.parametrize("end", ["token ", "api_key ", "password ", "--token ", "secret\t"])
def test_a_secret_name_at_the_very_end_of_a_text_is_no_secret_and_no_error(end: str) -> None:
    """A text that ends with a secret name and a space (a stream cut there, a log line) is
    scanned like any other: no finding, and no exception out of the detector."""
    assert found(f"rotate the {end}", "secret") == []
    assert found(end, ["secret", "email", "phone"]) == []


def test_a_key_name_takes_only_a_token_like_value() -> None:
    """A bare ``key`` name (an S3 object key, a cache key, a secret): only a token-like value of
    20 characters or more with letters and digits is a secret under it."""
    assert found('key: "a8Fk2Lm9Qz7Xw3Rt5Yp1Vb"', "secret") == ["a8Fk2Lm9Qz7Xw3Rt5Yp1Vb"]
    assert found('key: "a8Fk2Lm9Qz7Xw3Rt5Yp1"', "secret") == ["a8Fk2Lm9Qz7Xw3Rt5Yp1"]
    assert found('key: "a8Fk2Lm9Qz7Xw3Rt5Yp"', "secret") == []  # 19 characters
    assert found('key: "images/2024/photo.png"', "secret") == []
    assert found('key: "abcdefghijklmnopqrstuvwxyz"', "secret") == []  # no digit
    # a qualified name (api_key) needs no more than a random value of 8
    assert found('api_key: "a8Fk2Lm9Qz"', "secret") == ["a8Fk2Lm9Qz"]


# ----------------------------------------------------------------------------- sessions


def test_a_session_cookie_or_parameter_with_a_random_value_is_a_secret() -> None:
    """docs/secrets.md: ``_gitlab_session=``, ``PHPSESSID=``, ``JSESSIONID=``, ``connect.sid=``,
    ``session_id=`` with a random value."""
    value = "ab12cd34ef56gh78ij90kl12"
    for name in ("PHPSESSID", "JSESSIONID", "connect.sid", "session_id", "_gitlab_session"):
        assert found(f"Cookie: {name}={value}; path=/", "secret") == [value], name
    digits = "1234567890123456789012345"  # 24+ letters and digits, varied: an opaque id
    assert found(f"Set-Cookie: PHPSESSID={digits}", "secret") == [digits]
    # not random: a repeated character, a word, a short value
    for bad in ("111111111111111111111111", "deleteddeleteddeleted1", "abababababababababababab"):
        assert found(f"Cookie: session_id={bad}", "secret") == [], bad


# ----------------------------------------------------------------------------- Kubernetes secrets

MANIFEST = """apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
data:
# a comment at the left margin does not end the block
  # the database user and password, base64
  username: YWRtaW5pc3RyYXRvcg==
  cert: |
    TUlJQ2xqQ0NBWDRDQ1FEQXdJQkFnSUpBSnM=
  quoted: "QUJDREVGR0hJSktMTU5PUA=="
  plain: aaaaaaaaaaaaaaaa
stringData:
  api: Zk3Lm9Qx
  short: abc1234
  note: "changeme"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  username: YWRtaW5pc3RyYXRvcg==
"""


def test_every_value_of_a_kubernetes_secret_is_found_whatever_its_key() -> None:
    """docs/secrets.md: every value under ``data:`` (base64) / ``stringData:`` (8 characters or
    more, not a placeholder) of a ``kind: Secret`` manifest, also ``|`` blocks and quoted
    values; not a ConfigMap's."""
    values = found(MANIFEST, "secret")
    assert values == [
        "YWRtaW5pc3RyYXRvcg==",
        "TUlJQ2xqQ0NBWDRDQ1FEQXdJQkFnSUpBSnM=",
        "QUJDREVGR0hJSktMTU5PUA==",
        "Zk3Lm9Qx",
    ]
    assert found(MANIFEST.replace("\n", "\r\n"), "secret") == values  # CRLF line ends
    # the ConfigMap's username (same value, same key) is not reported: only the first one
    assert MANIFEST.count("YWRtaW5pc3RyYXRvcg==") == 2
    first = [m for m in detect(MANIFEST, "secret") if m["value"] == "YWRtaW5pc3RyYXRvcg=="]
    assert [m["start"] for m in first] == [MANIFEST.index("YWRtaW5pc3RyYXRvcg==")]


def test_a_secret_manifest_indented_by_one_space_is_read_line_by_line() -> None:
    manifest = "kind: Secret\ndata:\n user: YWRtaW5pc3RyYXRvcg==\n pass: czNjcjN0UGFzc3cwcmQ=\n"
    assert found(manifest, "secret") == ["YWRtaW5pc3RyYXRvcg==", "czNjcjN0UGFzc3cwcmQ="]
    crlf = manifest.replace("\n", "\r\n")
    assert found(crlf, "secret") == ["YWRtaW5pc3RyYXRvcg==", "czNjcjN0UGFzc3cwcmQ="]


# ----------------------------------------------------------------------------- private keys

BODY_LINE = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7aB3xY9Qz"


def test_a_key_cut_at_its_start_is_found_from_its_body_in_a_yaml_block() -> None:
    """docs/secrets.md: a block cut short is reported up to where its body stops; an END line
    whose BEGIN is not in the text (a key cut at its start, an indented YAML block) is
    reported from where its body starts."""
    text = f"tls:\n  key: |\n    {BODY_LINE}\n    {BODY_LINE}\n    -----END PRIVATE KEY-----\n"
    matches = detect(text, "private_key")
    assert [m["value"] for m in matches] == [
        f"{BODY_LINE}\n    {BODY_LINE}\n    -----END PRIVATE KEY-----"
    ]
    # spaces between words are not a key body: the body stops at them
    prose = f"the key was {BODY_LINE}{BODY_LINE}\n-----END PRIVATE KEY-----"
    assert found(prose, "private_key") == [f"{BODY_LINE}{BODY_LINE}\n-----END PRIVATE KEY-----"]


def test_a_key_cut_short_is_found_up_to_where_its_body_stops() -> None:
    text = f"-----BEGIN RSA PRIVATE KEY-----\n{BODY_LINE}\n{BODY_LINE}\n\n(the rest was cut)"
    assert found(text, "private_key") == [
        f"-----BEGIN RSA PRIVATE KEY-----\n{BODY_LINE}\n{BODY_LINE}"
    ]


# ----------------------------------------------------------------------------- Presidio entities


def test_a_presidio_entity_type_is_found_by_its_recognizer() -> None:
    """A type name that is not built in but is a Presidio entity with a pattern recognizer
    (the NHS number's published example, a US driver's licence) is detected with Presidio's own
    recognizer, offline."""
    assert found("nhs number 943 476 5919", "UK_NHS") == ["943 476 5919"]
    assert found("my NHS: 9434765919", "UK_NHS") == ["9434765919"]
    assert found("nhs number 943 476 5910", "UK_NHS") == []  # its checksum fails
    assert found("driver license: A1234567", "US_DRIVER_LICENSE") == ["A1234567"]


# ----------------------------------------------------------------------------- phones


def test_bare_digits_starting_with_00_are_no_trunk_prefix() -> None:
    """A trunk prefix is one ``0`` (``07700 900123``); ``00`` is the international prefix, and
    ``000...`` starts no country code: such bare digits are phones only with context."""
    for number in ("00037185619", "000980716073", "00078339459"):
        assert found(f"x {number} y", "phone") == [], number
        assert found(f"phone {number}", "phone") == [number], number
    assert found("x 07700900123 y", "phone") == ["07700900123"]


# ----------------------------------------------------------------------------- streams


def test_a_complete_secret_does_not_hold_back_the_stream_after_it() -> None:
    """A stream holds back a secret still arriving (an open-ended token), and only that: once
    the token is complete and text follows, the text after it is released as it comes (with
    the secret redacted), not kept until the stream ends."""
    from guardrails.pii import PIIMiddleware
    from guardrails.pii.stream import PIIStreamTransformer

    ghp = "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"
    text = f"config loaded; the token {ghp} was rotated. " + "Ordinary deploy log text. " * 12
    stream = PIIStreamTransformer(middleware=PIIMiddleware("secret", apply_to_tool_results=True))
    released = []
    for i in range(0, len(text), 16):
        data = {"event": "tool-output-delta", "tool_call_id": "c1", "delta": text[i : i + 16]}
        stream.process({"method": "tools", "params": {"data": data}})  # type: ignore[arg-type]
        released.append(data["delta"])
    out = "".join(released)
    assert ghp[:8] not in out
    assert out.startswith("config loaded; the token [REDACTED_SECRET] was rotated. Ordinary")
