"""The promises of PII detection, part 4: every provider prefix, the outside secret set row by
row, the detector's results as a caller owns them, and overlaps.

Each provider token below is written from the provider's documented format (prefix, length,
alphabet), with a random body: dropping one prefix from the detector's list, narrowing one
alphabet or changing one length fails the test of that provider. The outside set
(tests/data/secrets_outside.jsonl, copied from gitleaks' and detect-secrets' own rule tests)
is held row by row here: an aggregate recall figure lets a whole small family go.

Everything goes through the public API (``detect``, ``build_detector``, ``PIIMiddleware``).
"""

from __future__ import annotations

import itertools
import json
import random
import string
import zlib
from pathlib import Path
from typing import Any

import pytest

from guardrails.pii import build_detector, detect

_RNG = random.Random(41)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits
LOWER_DIGITS = string.ascii_lowercase + string.digits
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
BECH32_UPPER = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def r(n: int, alphabet: str = ALNUM) -> str:
    """``n`` random characters; the first and last are letters or digits (a body that starts or
    ends with ``-`` or ``_`` would not be one word with what is around it)."""
    out = [_RNG.choice(alphabet) for _ in range(n)]
    for i in (0, -1):
        while not out[i].isalnum():
            out[i] = _RNG.choice(alphabet)
    return "".join(out)


def github(prefix: str) -> str:
    """GitHub's documented format: 30 random base62 characters and their CRC32 in base62."""
    body = r(30)
    crc = zlib.crc32(body.encode())
    tail = ""
    while crc:
        crc, rest = divmod(crc, 62)
        tail = B62[rest] + tail
    return prefix + body + tail.rjust(6, "0")


# (provider, token) in each provider's documented format
PROVIDER_TOKENS: list[tuple[str, str]] = [
    *[(f"github {p}", github(p)) for p in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")],
    ("github fine-grained", "github_pat_" + r(22) + "_" + r(59)),
    *[(f"aws {p}", p + r(16, UPPER_DIGITS)) for p in ("AKIA", "ASIA", "ABIA", "ACCA")],
    *[
        (f"slack {p}", f"{p}{r(11, string.digits)}-{r(13, string.digits)}-{r(24)}")
        for p in ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe-")
    ],
    ("slack refresh", f"xoxe.xoxp-1-{r(150)}"),
    ("slack app", f"xapp-1-A{r(10, UPPER_DIGITS)}-{r(13, string.digits)}-{r(64, HEX)}"),
    (
        "slack webhook",
        f"https://hooks.slack.com/services/T{r(8, UPPER_DIGITS)}/B{r(8, UPPER_DIGITS)}/{r(24)}",
    ),
    (
        "discord webhook",
        f"https://discord.com/api/webhooks/{r(18, string.digits)}/{r(68, URLSAFE)}",
    ),
    *[(f"stripe {p}", p + r(24)) for p in ("sk_live_", "sk_test_", "rk_live_", "rk_test_")],
    ("stripe webhook", "whsec_" + r(32)),
    ("elevenlabs", "sk_" + r(48, HEX)),
    ("anthropic", "sk-ant-api03-" + r(93, URLSAFE) + "AA"),
    ("anthropic admin", "sk-ant-admin01-" + r(93, URLSAFE) + "AA"),
    ("openrouter", "sk-or-v1-" + r(64, HEX)),
    *[
        (f"openai {p}", f"sk-{p}-{r(74, URLSAFE)}T3BlbkFJ{r(74, URLSAFE)}")
        for p in ("proj", "svcacct", "admin")
    ],
    ("openai legacy", f"sk-{r(20)}T3BlbkFJ{r(20)}"),
    ("openai 48", "sk-" + r(48)),
    ("google api key", "AIza" + r(35, URLSAFE)),
    ("google oauth client secret", "GOCSPX-" + r(28, URLSAFE)),
    ("google oauth access token", "ya29." + r(150, URLSAFE)),
    ("google refresh token", "1//0" + r(100, URLSAFE)),
    *[
        (f"gitlab {p}", p + r(20, URLSAFE))
        for p in (
            "glpat-",
            "glptt-",
            "glrt-",
            "gldt-",
            "glsoat-",
            "glcbt-",
            "glimt-",
            "glagent-",
            "gloas-",
            "glft-",
            "glffct-",
            "glwt-",
        )
    ],
    ("gitlab runner registration", "GR1348941" + r(20, URLSAFE)),
    ("npm", "npm_" + r(36)),
    ("pypi", "pypi-AgEIcHlwaS5vcmc" + r(70, URLSAFE)),
    ("huggingface", "hf_" + r(34, string.ascii_letters)),
    ("huggingface org", "api_org_" + r(34, string.ascii_letters)),
    ("sendgrid", f"SG.{r(22, URLSAFE)}.{r(43, URLSAFE)}"),
    ("twilio api key", "SK" + r(32, HEX)),
    *[(f"shopify {p}", p + r(32, HEX)) for p in ("shpat_", "shpca_", "shppa_", "shpss_")],
    *[(f"digitalocean {p}", p + r(64, HEX)) for p in ("dop_v1_", "doo_v1_", "dor_v1_")],
    ("databricks", "dapi" + r(32, HEX)),
    ("mailgun", "key-" + r(32, HEX)),
    ("groq", "gsk_" + r(52)),
    ("replicate", "r8_" + r(37)),
    ("perplexity", "pplx-" + r(48)),
    ("langsmith pt", f"lsv2_pt_{r(32, HEX)}_{r(10, HEX)}"),
    ("langsmith sk", f"lsv2_sk_{r(32, HEX)}_{r(10, HEX)}"),
    ("linear", "lin_api_" + r(40)),
    ("notion ntn", "ntn_" + r(46)),
    ("notion secret", "secret_" + r(43)),
    ("postman", f"PMAK-{r(24, HEX)}-{r(34, HEX)}"),
    ("grafana service account", f"glsa_{r(32)}_{r(8, HEX)}"),
    ("grafana cloud", "glc_" + r(60, ALNUM + "+/")),
    *[
        (f"doppler {p}", p + r(43))
        for p in ("dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit.")
    ],
    *[(f"vault {p}", p + r(90, URLSAFE)) for p in ("hvs.", "hvb.", "hvr.")],
    (
        "vault legacy",
        "s."
        + "".join(_RNG.sample(string.ascii_uppercase, 8))
        + "".join(_RNG.sample(string.ascii_lowercase, 8))
        + "".join(_RNG.sample(string.digits, 8)),
    ),
    ("atlassian api token", "ATATT3" + r(180, URLSAFE + "=")),
    ("bitbucket app password", "ATBB" + r(32)),
    ("supabase", "sbp_" + r(40, HEX)),
    ("supabase secret", "sb_secret_" + r(31, URLSAFE)),
    *[(f"planetscale {p}", f"pscale_{p}_" + r(43, URLSAFE)) for p in ("tkn", "pw", "oauth")],
    ("dockerhub", "dckr_pat_" + r(27, URLSAFE)),
    ("figma", "figd_" + r(40, URLSAFE)),
    ("sentry org", "sntrys_" + r(60)),
    ("sentry user", "sntryu_" + r(64, HEX)),
    ("square access", "EAAA" + r(60, URLSAFE)),
    ("square oauth", "sq0atp-" + r(22, URLSAFE)),
    ("square secret", "sq0csp-" + r(43, URLSAFE)),
    ("facebook", "EAA" + r(160)),
    ("age", "AGE-SECRET-KEY-1" + r(58, BECH32_UPPER)),
    ("xai", "xai-" + r(80)),
    ("airtable", f"pat{r(14)}.{r(64, HEX)}"),
    ("rubygems", "rubygems_" + r(48, HEX)),
    ("nuget", "oy2" + r(43, LOWER_DIGITS)),
    ("heroku", "HRKU-" + r(60, URLSAFE)),
    ("fly", "fo1_" + r(43, URLSAFE)),
    ("fly macaroon", "fm2_" + r(80)),
    *[(f"newrelic {p}", p + r(27, UPPER_DIGITS)) for p in ("NRAK-", "NRJS-", "NRII-")],
    ("dynatrace", f"dt0c01.{r(24, UPPER_DIGITS)}.{r(64, UPPER_DIGITS)}"),
    ("pulumi", "pul-" + r(40, HEX)),
    ("terraform cloud", f"{r(14)}.atlasv1.{r(67, URLSAFE)}"),
    ("cloudflare origin ca", f"v1.0-{r(24, HEX)}-{r(146, HEX)}"),
    ("mapbox", f"sk.eyJ{r(60, URLSAFE)}.{r(22, URLSAFE)}"),
    ("alibaba", "LTAI" + r(20)),
    ("tencent", "AKID" + r(32)),
    ("contentful", "CFPAT-" + r(43, URLSAFE)),
    ("readme", "rdme_" + r(70, LOWER_DIGITS)),
    ("prefect", "pnu_" + r(36)),
    ("sourcegraph", "sgp_" + r(40, HEX) + "_" + r(40, HEX)),
    ("circleci", "CCIPAT_" + r(22) + "_" + r(40, HEX)),
    ("firecrawl", "fc-" + r(32, HEX)),
    ("tavily", "tvly-" + r(32)),
    ("pinecone", "pcsk_" + r(70, URLSAFE)),
    ("e2b", "e2b_" + r(40, HEX)),
    ("resend", f"re_{r(8)}_{r(24)}"),
    ("fireworks", "fw_" + r(24)),
    ("jina", "jina_" + r(60, URLSAFE)),
    ("azure ad client secret", f"{r(3)}8Q~{r(34, ALNUM + '_~.-')}"),
]


def test_the_provider_list_covers_every_documented_family() -> None:
    """docs/secrets.md names these providers; each has at least one token above."""
    providers = {p.split()[0] for p, _ in PROVIDER_TOKENS}
    assert len(PROVIDER_TOKENS) >= 120
    for name in ("github", "aws", "slack", "stripe", "openai", "anthropic", "google", "gitlab"):
        assert name in providers


@pytest.mark.parametrize(
    ("provider", "token"), PROVIDER_TOKENS, ids=[p for p, _ in PROVIDER_TOKENS]
)
def test_every_provider_prefix_is_found_by_its_format(provider: str, token: str) -> None:
    for text in (
        f"deploy log: using {token} for the upload",
        f"export TOKEN={token}",
        f'{{"value": "{token}"}}',
        token,
    ):
        matches = detect(text, "secret")
        assert [m["value"] for m in matches] == [token], (provider, text)
        assert [m["value"] for m in detect(text, "api_key")] == [token], (provider, text)


# ----------------------------------------------------------------------------- the family types

FAMILIES = {
    "github_token": ["github ghp_", "github ghs_", "github fine-grained"],
    "aws_key": ["aws AKIA", "aws ASIA"],
    "stripe_key": ["stripe sk_live_", "stripe rk_test_"],
    "slack_token": ["slack xoxb-", "slack app", "slack webhook"],
    "google_api_key": ["google api key", "google oauth access token"],
    "openai_api_key": ["openai proj", "openai legacy"],
    "anthropic_api_key": ["anthropic", "anthropic admin"],
}
_BY_NAME = dict(PROVIDER_TOKENS)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_family_type_reports_its_own_family_and_no_other(family: str) -> None:
    for provider in FAMILIES[family]:
        token = _BY_NAME[provider]
        assert [m["value"] for m in detect(f"key {token} end", family)] == [token], provider
        assert [m["type"] for m in detect(f"key {token} end", family)] == [family]
        others = sorted(set(FAMILIES) - {family})
        assert detect(f"key {token} end", others) == [], provider


# ----------------------------------------------------------------------------- the outside set

OUTSIDE = Path(__file__).parent / "data" / "secrets_outside.jsonl"
ROWS: list[dict[str, Any]] = [
    json.loads(line) for line in OUTSIDE.read_text(encoding="utf-8").splitlines()
]
POSITIVE = [r for r in ROWS if r["secret"] is not None]


def test_every_outside_true_positive_is_covered_row_by_row() -> None:
    """Each gitleaks / detect-secrets true positive is covered by a finding (an aggregate
    recall bound lets one whole family drop; this does not)."""
    missed = []
    for row in POSITIVE:
        start = row["text"].index(row["secret"])
        end = start + len(row["secret"])
        if not any(f["start"] <= start and f["end"] >= end for f in detect(row["text"], "secret")):
            missed.append((row["source"], row["text"][:80]))
    assert len(POSITIVE) >= 90
    assert missed == []


# ------------------------------------------------------------------ results the caller owns


def test_a_caller_that_edits_the_results_does_not_change_the_next_answer() -> None:
    find = build_detector(["email", "credit_card"])
    text = "mail jane@example.com, card 4111 1111 1111 1111"
    first = find(text)
    expected = [dict(m) for m in first]
    first[0]["value"] = "nobody"
    first[0]["start"] = 0
    first[1]["type"] = "email"
    del first[1]["end"]
    first.clear()
    again = find(text)
    assert [dict(m) for m in again] == expected
    assert again is not first
    # and one caller's copy is not another's
    again[0]["value"] = "x"
    assert find(text)[0]["value"] == "jane@example.com"


def test_detect_results_are_the_callers_too() -> None:
    text = "ssn 536-22-1234 here"
    first = detect(text, "us_ssn")
    first[0]["start"] = 99
    first[0]["value"] = ""
    assert detect(text, "us_ssn") == [
        {"type": "us_ssn", "value": "536-22-1234", "start": 4, "end": 15}
    ]


# ----------------------------------------------------------------------------- overlaps


def test_two_values_of_different_types_side_by_side_are_both_found() -> None:
    text = "jane@example.com 4111 1111 1111 1111 536-22-1234 DE89370400440532013000"
    types = ["email", "credit_card", "us_ssn", "iban"]
    assert [m["type"] for m in detect(text, types)] == types
    for m in detect(text, types):
        assert text[m["start"] : m["end"]] == m["value"]


@pytest.mark.parametrize(
    ("text", "types"),
    [
        ("reach me: tel:+14155550132@example.com today", ["phone", "email"]),
        ("reach me: tel:+14155550132@example.com today", ["email", "phone"]),
        ("see https://example.com/x?mail=jane@example.org&y=1 now", ["email", "url"]),
    ],
)
def test_overlapping_values_leave_no_character_of_either_uncovered(
    text: str, types: list[str]
) -> None:
    """Whatever each type finds on its own is covered by the matches of the types together:
    a partial overlap becomes one span over both, never one of them with the other's tail."""
    together = detect(text, types)
    covered: set[int] = set()
    for m in together:
        assert text[m["start"] : m["end"]] == m["value"]
        covered.update(range(m["start"], m["end"]))
    alone = [m for kind in types for m in detect(text, kind)]
    assert len(alone) >= 2
    for m in alone:
        assert set(range(m["start"], m["end"])) <= covered, m
    # and the matches do not overlap one another
    spans = sorted((m["start"], m["end"]) for m in together)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_the_same_span_read_as_two_types_is_reported_once_by_the_better_reading() -> None:
    """Same span: the higher score names it, whatever order the types are listed in."""
    number = "4111111111111111"
    for types in (["phone", "credit_card"], ["credit_card", "phone"]):
        assert [(m["type"], m["value"]) for m in detect(f"card {number}", types)] == [
            ("credit_card", number)
        ]
    ssn = "536-22-1234"
    for types in (["phone", "us_ssn"], ["us_ssn", "phone"]):
        assert [(m["type"], m["value"]) for m in detect(f"phone or ssn {ssn}", types)] == [
            ("us_ssn", ssn)
        ]


def test_of_two_values_that_start_together_the_longer_names_the_match() -> None:
    """docs/pii.md: a match that contains the other wins. A Slack webhook URL with a query
    string: the URL (longer) is the match, whatever the secret's higher score and whatever
    order the types are listed in."""
    hook = "https://hooks.slack.com/services/T01ABCDEF/B01ABCDEF/aZ3kLm9Qx2Vb7Np4TwEr5Yu8"
    url = f"{hook}?thread=1&x=2"
    text = f"see {url} now"
    assert [m["value"] for m in detect(text, "slack_token")] == [hook]
    for types in (["url", "slack_token"], ["slack_token", "url"], ["secret", "url"]):
        assert [(m["type"], m["value"]) for m in detect(text, types)] == [("url", url)], types
