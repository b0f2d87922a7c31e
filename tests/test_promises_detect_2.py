"""The promises of secret detection (continued from test_promises_detect.py): every provider format
is found by its documented prefix and shape, a near-miss prefix is not a provider's token, and a
value under a secret-sounding name is reported exactly when it looks random (the documented
entropy thresholds, checked on both sides)."""

from __future__ import annotations

import base64
import json
import random
import string
import zlib

import pytest

from guardrails.pii import detect
from tests.test_promises_detect import _break_last, _faker, _grouped

_RNG = random.Random(29)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
UPPER_DIGITS = string.ascii_uppercase + string.digits
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def _github(prefix: str = "ghp_") -> str:
    """A GitHub token in its documented format: 30 random base62 characters and their CRC32 in
    base62 (computed here, independently of the detector)."""
    body = _rand(30)
    crc = zlib.crc32(body.encode())
    tail = ""
    while crc:
        crc, r = divmod(crc, 62)
        tail = B62[r] + tail
    return prefix + body + tail.rjust(6, "0")


def _b64url(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# (provider, token, the family type that must report it, or None)
TOKENS: list[tuple[str, str, str | None]] = [
    ("github", _github(), "github_token"),
    ("github oauth", _github("gho_"), "github_token"),
    ("aws", "AKIA" + _rand(16, UPPER_DIGITS), "aws_key"),
    ("aws session", "ASIA" + _rand(16, UPPER_DIGITS), "aws_key"),
    (
        "slack",
        f"xoxb-{_rand(11, string.digits)}-{_rand(13, string.digits)}-{_rand(24)}",
        "slack_token",
    ),
    ("stripe", "sk_live_" + _rand(24), "stripe_key"),
    ("stripe test", "sk_test_" + _rand(24), "stripe_key"),
    ("openai project", "sk-proj-" + _rand(64, URLSAFE), "openai_api_key"),
    ("anthropic", "sk-ant-api03-" + _rand(93, URLSAFE) + "AA", "anthropic_api_key"),
    ("google", "AIza" + _rand(35, URLSAFE), "google_api_key"),
    ("gitlab", "glpat-" + _rand(20, URLSAFE), None),
    ("npm", "npm_" + _rand(36), None),
    ("huggingface", "hf_" + _rand(34, string.ascii_letters), None),
    ("sendgrid", f"SG.{_rand(22, URLSAFE)}.{_rand(43, URLSAFE)}", None),
    ("digitalocean", "dop_v1_" + _rand(64, "0123456789abcdef"), None),
    ("groq", "gsk_" + _rand(52), None),
]


@pytest.mark.parametrize(("provider", "token", "family"), TOKENS, ids=[t[0] for t in TOKENS])
def test_a_provider_token_is_found_by_its_format_alone(
    provider: str, token: str, family: str | None
) -> None:
    text = f"deploy log: using {token} for the upload"
    assert [(m["type"], m["value"]) for m in detect(text, "secret")] == [("secret", token)]
    assert [m["value"] for m in detect(text, "api_key")] == [token]
    if family is not None:
        assert [m["value"] for m in detect(text, family)] == [token]
        others = [t for _, _, t in TOKENS if t is not None and t != family]
        assert detect(text, sorted(set(others))) == []  # one family, not another's


@pytest.mark.parametrize(
    ("token", "near_miss"),
    [
        (_github(), "ghx_"),
        ("AKIA" + _rand(16, UPPER_DIGITS), "AKIB"),
        ("sk_live_" + _rand(24), "sk_life_"),
        ("glpat-" + _rand(20, URLSAFE), "glpet-"),
        ("AIza" + _rand(35, URLSAFE), "AIzb"),
    ],
)
def test_a_near_miss_prefix_is_no_providers_token(token: str, near_miss: str) -> None:
    prefix = near_miss[: len(near_miss)]
    changed = prefix + token[len(prefix) :]
    assert detect(f"value {token} here", "api_key") != []
    assert detect(f"value {changed} here", "api_key") == []


def test_a_token_that_runs_on_is_not_its_format() -> None:
    aws = "AKIA" + _rand(16, UPPER_DIGITS)
    assert [m["value"] for m in detect(f"id {aws} x", "aws_key")] == [aws]
    assert detect(f"id {aws}Q7 x", "aws_key") == []  # 22 characters: no AWS key id
    assert detect(f"id X{aws} x", "aws_key") == []  # glued to a longer run


def test_a_jwt_needs_a_header_with_alg() -> None:
    payload = _b64url({"sub": "1234567890", "name": "Jane"})
    jwt = _b64url({"alg": "HS256", "typ": "JWT"}) + "." + payload + "." + _rand(43, URLSAFE)
    assert [m["value"] for m in detect(f"Bearer-less {jwt} end", "jwt")] == [jwt]
    no_alg = _b64url({"typ": "JWT", "kid": "k1"}) + "." + payload + "." + _rand(43, URLSAFE)
    assert detect(f"Bearer-less {no_alg} end", "jwt") == []


def test_a_private_key_block_is_found_whole() -> None:
    body = "\n".join(_rand(64, ALNUM + "+/") for _ in range(6))
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    found = detect(f"key:\n{pem}\nthanks", "private_key")
    assert [m["value"] for m in found] == [pem]
    public = pem.replace("PRIVATE", "PUBLIC")
    assert detect(f"key:\n{public}\nthanks", "private_key") == []


# ----------------------------------------------------------------------------- context: names


def _assigned(value: str, name: str = "secret_token") -> list[str]:
    return [m["value"] for m in detect(f'{name}: "{value}"', "secret")]


def test_a_value_under_a_secret_name_is_reported_when_it_looks_random() -> None:
    value = _rand(32)
    for name in ("client_secret", "API_KEY", "auth_token", "x-api-key", "stripeSecretKey"):
        assert _assigned(value, name) == [value], name
    for name in ("token_count", "api_key_id", "secret_name", "password_hash"):
        assert _assigned(value, name) == [], name


def test_the_entropy_threshold_of_mixed_values_is_2_8_bits() -> None:
    # seven distinct characters, each twice: log2(7) = 2.81 bits per character
    assert _assigned("a1b2c3da1b2c3d") == ["a1b2c3da1b2c3d"]
    # six distinct characters, each twice: log2(6) = 2.58 bits per character
    assert _assigned("a1b2c3a1b2c3") == []


def test_the_entropy_threshold_of_one_case_letters_is_3_5_bits() -> None:
    above = "kzvmqtrx" * 2 + "bnwy"  # 20 letters, 3.52 bits per character
    below = "kzvmqtrxp" * 2 + "bn"  # 20 letters, 3.42 bits per character
    assert _assigned(above) == [above]
    assert _assigned(above.upper()) == [above.upper()]
    assert _assigned(below) == []
    assert _assigned(above[:19]) == []  # one-case letters need 20 characters


@pytest.mark.parametrize(
    "value",
    ["${API_KEY}", "<your-api-key>", "xxxxxxxxxxxxxxxx", "changeme", "os.environ['KEY']", "str"],
)
def test_a_placeholder_under_a_secret_name_is_not_a_secret(value: str) -> None:
    assert _assigned(value, "api_key") == []
    assert _assigned(value, "password") == []


def test_a_password_takes_any_value_that_is_not_a_placeholder() -> None:
    assert _assigned("hunter2!", "password") == ["hunter2!"]
    assert _assigned("Tr0ub4dor&3", "DB_PASSWORD") == ["Tr0ub4dor&3"]
    assert _assigned("abc", "password") == []  # too short to be one
    assert [m["value"] for m in detect("postgres://app:s3cr3tP4ss@db:5432/x", "password")] == [
        "s3cr3tP4ss"
    ]


# ----------------------------------------------------------------------------- the detector


def test_a_match_containing_another_wins_even_over_a_higher_score() -> None:
    """Overlaps leave no fragment: a URL carrying a token is handled whole (the token alone
    scores higher, yet the URL around it would be left)."""
    token = _github()
    url = f"https://api.example.com/v1?key={token}&x=1"
    text = f"see {url} now"
    for types in (["url", "github_token"], ["github_token", "url"]):
        assert [(m["type"], m["value"]) for m in detect(text, types)] == [("url", url)]


@pytest.mark.parametrize("bad", [[], [""], "", [3], ["email", None]])
def test_a_type_list_that_names_no_type_is_refused(bad: object) -> None:
    from guardrails.errors import GuardrailConfigError
    from guardrails.pii import build_detector

    with pytest.raises(GuardrailConfigError, match="pii_type"):
        build_detector(bad)  # type: ignore[arg-type]


def test_a_custom_detector_that_returns_an_awaitable_is_refused() -> None:
    from guardrails.errors import GuardrailConfigError
    from guardrails.pii import build_detector

    async def find(text: str) -> list[dict[str, object]]:
        return [{"start": 0, "end": 1}]

    with pytest.raises(GuardrailConfigError, match="sync"):
        build_detector("ticket", detector=find)  # an async function: at construction
    find_later = build_detector("ticket", detector=lambda text: find(text))
    with pytest.raises(GuardrailConfigError, match="awaitable"):
        find_later("T-1")  # a plain function that returns a coroutine: when called


def test_a_custom_detector_span_outside_the_text_fails_closed() -> None:
    from guardrails.pii import build_detector

    find = build_detector("ticket", detector=lambda text: [{"start": 0, "end": len(text) + 5}])
    with pytest.raises(ValueError, match="outside"):
        find("T-1")


# ----------------------------------------------------------------------------- addresses

# public examples: the genesis block's address, BIP 13's P2SH example, BIP 173's and BIP 350's
# test vectors (bech32, bech32m)
BITCOIN = [
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
]


@pytest.mark.parametrize("address", BITCOIN)
def test_a_bitcoin_address_is_reported_only_with_a_valid_checksum(address: str) -> None:
    assert [m["value"] for m in detect(f"send to {address} now", "crypto")] == [address]
    last = address[-1]
    swap = "q" if last != "q" else "p"
    if address[0] in "13":
        swap = "z" if last != "z" else "y"
    broken = address[:-1] + swap
    assert detect(f"send to {broken} now", "crypto") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("host 81.2.69.142 down", "81.2.69.142"),
        ("host 255.255.255.255 down", "255.255.255.255"),
        ("host 2001:db8::1 down", "2001:db8::1"),
        ("host 256.1.1.1 down", None),
        ("host 81.2.69.1420 down", None),
        ("host 2001:db8:::1 down", None),
        ("host 1:2:3:4:5:6:7:8:9 down", None),
        ("upgraded to v1.2.3.4", None),
        ("upgraded to version 1.2.3.4", None),
    ],
)
def test_an_ip_address_must_be_a_valid_one(text: str, value: str | None) -> None:
    assert [m["value"] for m in detect(text, "ip")] == ([value] if value else [])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("nic 00:1A:2B:3C:4D:5E up", "00:1A:2B:3C:4D:5E"),
        ("nic 00-1a-2b-3c-4d-5e up", "00-1a-2b-3c-4d-5e"),
        ("nic 00:1A-2B:3C:4D:5E up", None),  # one separator throughout
        ("nic 00:1A:2B:3C:4D:5E:6F up", None),  # eight groups: no MAC
        ("see https://example.com/a up", "https://example.com/a"),
        ("see http://localhost:8080/x up", "http://localhost:8080/x"),
        ("see https://intranet/x up", None),  # a host without a dot
    ],
)
def test_mac_and_url_shapes(text: str, value: str | None) -> None:
    kind = "url" if "://" in text else "mac_address"
    assert [m["value"] for m in detect(text, kind)] == ([value] if value else [])


# ----------------------------------------------------------------------------- where users meet it


def _mixed_message() -> tuple[str, list[str]]:
    """A message with one value of each type (Faker's and phonenumbers' values) and the
    values that must not reach the model."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    fake = _faker("en_US", 7)
    card = fake.credit_card_number("visa16")
    ssn = next(s for s in (fake.ssn() for _ in range(50)) if not s.startswith("9"))
    iban = _faker("de_DE", 7).iban()
    email = fake.email()
    gb = phonenumbers.example_number_for_type("GB", PhoneNumberType.MOBILE)
    phone = phonenumbers.format_number(gb, PhoneNumberFormat.INTERNATIONAL)
    ip = fake.ipv4_public()
    text = (
        f"Hi, I'm moving. New card {_grouped(card)}, SSN {ssn}, pay into {_grouped(iban)}. "
        f"Mail me at {email} or call {phone}; my router is {ip}."
    )
    return text, [_grouped(card), ssn, _grouped(iban), email, phone, ip]


def test_no_value_reaches_the_model_through_a_real_agent(mode: str) -> None:
    from langchain.agents import create_agent

    from guardrails.pii import PIIMiddleware
    from guardrails.testing import ScriptedChatModel
    from tests.support import invoke

    text, values = _mixed_message()
    model = ScriptedChatModel(default="noted")
    types = ["credit_card", "us_ssn", "iban", "email", "phone", "ip"]
    agent = create_agent(model, middleware=[PIIMiddleware(types, strategy="redact")])
    invoke(agent, {"messages": [("user", text)]}, mode)
    sent = str(model.requests[0]["messages"][-1].content)
    for value in values:
        assert value not in sent
    for kind in types:
        assert f"[REDACTED_{kind.upper()}]" in sent
    assert sent.startswith("Hi, I'm moving. New card [REDACTED_CREDIT_CARD], SSN ")


@pytest.mark.slow  # four CLI processes
def test_the_scan_command_reports_and_checks(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(str(tmp_path))
    text, values = _mixed_message()
    dirty = folder / "dirty.txt"
    dirty.write_text(text + "\n", encoding="utf-8")
    clean = folder / "clean.txt"
    clean.write_text(f"card {_break_last(values[0])}, ssn 000-12-3456\n", encoding="utf-8")
    types = "credit_card,us_ssn,iban,email,phone,ip"

    def scan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "guardrails.cli", "scan", "--types", types, *args],
            capture_output=True,
            text=True,
            check=False,
        )

    out = scan("--check", str(dirty))
    assert out.returncode == 1
    for value in values:
        assert value not in out.stdout
    assert scan("--check", str(clean)).returncode == 0
    assert scan("--check", str(clean)).stdout.strip() == clean.read_text().strip()
