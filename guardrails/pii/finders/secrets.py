"""Secrets and credentials: provider API keys and tokens, private keys, JWTs, passwords and
generic secrets written under a secret-sounding name.

Four kinds of evidence, each found in linear time:

* **structure**: a provider's documented token format, found by its literal prefix (one search
  for every prefix at once, then the rule's own pattern at that position): GitHub (its CRC32
  checksum in base62 checked), AWS access key ids, Slack, Stripe, OpenAI, Anthropic, Google,
  GitLab and about sixty other SaaS formats (:data:`RULES`);
* **armor**: PEM / OpenSSH / PGP private key blocks (``-----BEGIN ... PRIVATE KEY-----`` paired
  with the nearest ``-----END``; a block cut short is reported up to where its body stops), a
  private key PEM base64-encoded once more (``LS0tLS1CRUdJTi...``, Kubernetes secrets);
* **JWTs**: three base64url parts whose header decodes to a JSON object carrying ``"alg"``;
* **context**: a value assigned to a secret-sounding name (``password=``, ``"api_key":``,
  ``client_secret:``, ``--token``, ``Authorization: Bearer``, ``the password is '...'``), the
  password of a URL (``scheme://user:pass@host``) or of ``curl -u user:pass``; such a value must
  not be a placeholder (``${X}``, ``<your-key>``, ``xxxx``, ``changeme``, ``os.environ[...]``,
  a type name, an identifier) and, for names other than passwords, must look random (length,
  character classes, entropy).

Hashes, git SHAs, UUIDs, public keys and base64 payloads carry none of this evidence and are
not reported. Every pattern starts at a literal or at the start of a run it repeats, and each
repetition is bounded, so a scan is linear in the text.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import math
import re
import string
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from guardrails.pii.context import Span, _Scan

__all__ = [
    "FAMILY_TYPES",
    "RULES",
    "SECRET_CATEGORIES",
    "SECRET_TYPES",
    "Secret",
    "find_secrets",
    "github_checksum_ok",
    "secret_finder",
    "secret_prefix",
]

#: The categories every secret falls in (each is also a type name of its own).
SECRET_CATEGORIES = ("api_key", "private_key", "jwt", "password", "generic_secret")
#: Provider-family types: an ``api_key`` of these families only.
FAMILY_TYPES: dict[str, frozenset[str]] = {
    "github_token": frozenset({"github"}),
    "aws_key": frozenset({"aws", "aws_secret"}),
    "stripe_key": frozenset({"stripe"}),
    "slack_token": frozenset({"slack"}),
    "google_api_key": frozenset({"google"}),
    "openai_api_key": frozenset({"openai"}),
    "anthropic_api_key": frozenset({"anthropic"}),
}
#: Every secret type name and the Presidio-style entity name it stands for.
SECRET_TYPES: dict[str, str] = {
    "secret": "SECRET",
    **{c: c.upper() for c in SECRET_CATEGORIES},
    **{f: f.upper() for f in FAMILY_TYPES},
}


def _words(*lines: str) -> frozenset[str]:
    return frozenset(" ".join(lines).split())


_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


@dataclass(frozen=True)
class Secret:
    """One secret found: ``[start, end)`` in the scanned text, its category and family."""

    start: int
    end: int
    category: str
    family: str
    score: float


@dataclass(frozen=True)
class Rule:
    """A provider format: ``anchor`` (a literal it starts with) and its full ``pattern``."""

    family: str
    anchor: str
    pattern: str
    category: str = "api_key"
    check: Callable[[str], bool | None] | None = None  # True: valid, False: reject, None: unknown


def github_checksum_ok(token: str) -> bool:
    """GitHub's token checksum: the last 6 characters are the CRC32 of the 30 random
    characters before them, in base62 (``ghp_`` / ``gho_`` / ``ghu_`` / ``ghs_`` / ``ghr_``)."""
    body = token[4:]
    if len(body) != 36:
        return False
    crc = zlib.crc32(body[:30].encode())
    out = ""
    while crc:
        crc, r = divmod(crc, 62)
        out = _B62[r] + out
    return out.rjust(6, "0") == body[30:]


def _mixed(token: str) -> bool | None:
    """Random base62: upper, lower and digits (``s.DefaultListableBeanFactory`` is not)."""
    body = token[2:]
    ok = any(c.isupper() for c in body) and any(c.islower() for c in body)
    return None if ok and any(c.isdigit() for c in body) else False


def _github(token: str) -> bool | None:
    return True if github_checksum_ok(token) else None


_A = "A-Za-z0-9"
_U = r"A-Za-z0-9_\-"  # base64url
#: Provider formats (sources: the providers' docs, gitleaks' and Nosey Parker's rule sets).
RULES: tuple[Rule, ...] = (
    Rule("github", "ghp_|gho_|ghu_|ghs_|ghr_", rf"gh[pousr]_[{_A}]{{36,251}}", check=_github),
    Rule("github", "github_pat_", rf"github_pat_[{_A}_]{{70,255}}"),
    Rule("aws", "AKIA", r"AKIA[A-Z0-9]{16}"),
    Rule("aws", "ASIA", r"ASIA[A-Z0-9]{16}"),
    Rule("aws", "ABIA", r"ABIA[A-Z0-9]{16}"),
    Rule("aws", "ACCA", r"ACCA[A-Z0-9]{16}"),
    Rule("slack", "xoxa-|xoxb-|xoxp-|xoxo-|xoxs-|xoxr-|xoxe-", rf"xox[abposre]-[{_A}-]{{20,250}}"),
    Rule("slack", "xoxe.", rf"xoxe\.xox[bp]-[{_A}-]{{20,250}}"),
    Rule("slack", "xapp-", rf"xapp-[{_A}/+-]{{20,250}}"),
    Rule(
        "slack",
        "https://hooks.slack.com/",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,120}",
    ),
    Rule(
        "discord",
        "https://discord",
        r"https://discord(?:app)?\.com/api/webhooks/\d{5,30}/[\w-]{40,100}",
    ),
    Rule("stripe", "sk_live_|sk_test_", rf"sk_(?:live|test)_[{_A}]{{10,247}}"),
    Rule("stripe", "rk_live_|rk_test_", rf"rk_(?:live|test)_[{_A}]{{10,247}}"),
    Rule("stripe", "whsec_", r"whsec_[A-Za-z0-9+/=]{24,}"),
    Rule("elevenlabs", "sk_", r"sk_[a-f0-9]{48}"),
    Rule("anthropic", "sk-ant-", rf"sk-ant-(?:api|admin|oat|sid)\d\d-[{_U}]{{80,200}}"),
    Rule("openrouter", "sk-or-", r"sk-or-v1-[a-f0-9]{64}"),
    Rule("openai", "sk-", rf"sk-(?:proj|svcacct|admin|None)-[{_U}]{{40,250}}"),
    Rule("openai", "sk-", rf"sk-[{_A}]{{20}}T3BlbkFJ[{_A}]{{20}}"),
    Rule("openai", "sk-", rf"sk-[{_A}]{{48}}"),
    Rule("sk", "sk-", rf"sk-[{_U}]{{32,200}}"),
    Rule("google", "AIza", rf"AIza[{_U}]{{35}}"),
    Rule("google", "GOCSPX-", rf"GOCSPX-[{_U}]{{28}}"),
    Rule("google", "ya29.", rf"ya29\.[{_U}.]{{20,2048}}"),
    Rule("google", "1//0", rf"1//0[{_U}]{{40,512}}"),
    Rule(
        "gitlab",
        "glpat-|glptt-|glrt-|gldt-|glsoat-|glcbt-|glimt-|glagent-|gloas-|glft-|glffct-|glwt-",
        rf"gl(?:pat|ptt|rt|dt|soat|cbt|imt|agent|oas|ft|ffct|wt)-[{_U}.]{{20,300}}",
    ),
    Rule("gitlab", "GR1348941", rf"GR1348941[{_U}]{{20,}}"),
    Rule("npm", "npm_", rf"npm_[{_A}]{{36}}"),
    Rule("pypi", "pypi-", rf"pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[{_U}]{{50,1000}}"),
    Rule("huggingface", "hf_", r"hf_[A-Za-z]{34}"),
    Rule("huggingface", "api_org_", r"api_org_[A-Za-z]{34}"),
    Rule("sendgrid", "SG.", rf"SG\.[{_U}]{{22}}\.[{_U}]{{43}}"),
    Rule("twilio", "SK", r"SK[0-9a-f]{32}"),
    Rule("shopify", "shpat_|shpca_|shppa_|shpss_", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    Rule("digitalocean", "dop_v1_|doo_v1_|dor_v1_", r"do[opr]_v1_[a-f0-9]{64}"),
    Rule("databricks", "dapi", r"dapi[a-f0-9]{32}(?:-\d)?"),
    Rule("mailgun", "key-", r"key-[0-9a-f]{32}"),
    Rule("groq", "gsk_", rf"gsk_[{_A}]{{52}}"),
    Rule("replicate", "r8_", rf"r8_[{_A}]{{37}}"),
    Rule("perplexity", "pplx-", rf"pplx-[{_A}]{{48}}"),
    Rule("langsmith", "lsv2_", r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"),
    Rule("linear", "lin_api_", rf"lin_api_[{_A}]{{40}}"),
    Rule("notion", "ntn_", rf"ntn_[{_A}]{{40,50}}"),
    Rule("notion", "secret_", rf"secret_[{_A}]{{43}}"),
    Rule("postman", "PMAK-", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    Rule("grafana", "glsa_", rf"glsa_[{_A}]{{32}}_[a-f0-9]{{8}}"),
    Rule("grafana", "glc_", r"glc_[A-Za-z0-9+/]{32,400}={0,2}"),
    Rule(
        "doppler",
        "dp.pt.|dp.st.|dp.sa.|dp.ct.|dp.scim.|dp.audit.",
        rf"dp\.(?:pt|st|sa|ct|scim|audit)\.[{_A}]{{40,44}}",
    ),
    Rule("vault", "hvs.|hvb.|hvr.", rf"hv[sbr]\.[{_U}]{{24,}}"),
    Rule("vault", "s.", rf"s\.[{_A}]{{24}}", check=_mixed),  # pre-1.10 service tokens
    Rule("atlassian", "ATATT3", r"ATATT3[A-Za-z0-9_=-]{150,}"),
    Rule("atlassian", "ATBB", r"ATBB[A-Za-z0-9_=.-]{32,}"),
    Rule("supabase", "sbp_", r"sbp_[a-f0-9]{40}"),
    Rule("supabase", "sb_secret_", rf"sb_secret_[{_U}]{{20,}}"),
    Rule("planetscale", "pscale_", rf"pscale_(?:tkn|pw|oauth)_[{_U}.]{{32,64}}"),
    Rule("dockerhub", "dckr_pat_", rf"dckr_pat_[{_U}]{{27}}"),
    Rule("figma", "figd_", rf"figd_[{_U}]{{40}}"),
    Rule("sentry", "sntrys_|sntryu_", r"sntry[su]_[A-Za-z0-9_=+/-]{40,}"),
    Rule("square", "EAAA", rf"EAAA[{_U}]{{60}}"),
    Rule("square", "sq0atp-|sq0csp-", r"sq0(?:atp-[\w-]{22}|csp-[\w-]{43})"),
    Rule("facebook", "EAA", rf"EAA[{_A}]{{100,}}"),
    Rule("age", "AGE-SECRET-KEY-1", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    Rule("xai", "xai-", rf"xai-[{_A}]{{70,90}}"),
    Rule("airtable", "pat", rf"pat[{_A}]{{14}}\.[a-f0-9]{{64}}"),
    Rule("rubygems", "rubygems_", r"rubygems_[a-f0-9]{48}"),
    Rule("nuget", "oy2", r"oy2[a-z0-9]{43}"),
    Rule("heroku", "HRKU-", rf"HRKU-[{_U}]{{40,80}}"),
    Rule("fly", "fo1_", rf"fo1_[{_U}]{{43}}"),
    Rule("fly", "fm2_", r"fm2_[A-Za-z0-9+/=,_-]{40,}"),
    Rule("newrelic", "NRAK-|NRJS-|NRII-", r"NR(?:AK|JS|II)-[A-Za-z0-9]{19,27}"),
    Rule("dynatrace", "dt0c01.", r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"),
    Rule("pulumi", "pul-", r"pul-[a-f0-9]{40}"),
    # <14>.atlasv1.<60-70>: found by its literal, then read from its 14-character head (_HEADS)
    Rule("terraform", ".atlasv1.", rf"(?:[{_A}]{{14}})?\.atlasv1\.[{_U}=]{{60,70}}"),
    Rule("cloudflare", "v1.0-", r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
    Rule("mapbox", "sk.eyJ", rf"sk\.eyJ[{_U}]{{20,}}\.[{_U}]{{20,}}"),
    Rule("alibaba", "LTAI", rf"LTAI[{_A}]{{12,20}}"),
    Rule("tencent", "AKID", rf"AKID[{_A}]{{32}}"),
    Rule("contentful", "CFPAT-", rf"CFPAT-[{_U}]{{43}}"),
    Rule("readme", "rdme_", r"rdme_[a-z0-9]{70}"),
    Rule("prefect", "pnu_", rf"pnu_[{_A}]{{36}}"),
    Rule("sourcegraph", "sgp_", r"sgp_[A-Za-z0-9_]{40,}"),
    Rule("circleci", "CCIPAT_", rf"CCIPAT_[{_U}]{{20,}}"),
    Rule("firecrawl", "fc-", r"fc-[a-f0-9]{32}"),
    Rule("tavily", "tvly-", rf"tvly-[{_U}]{{32,}}"),
    Rule("pinecone", "pcsk_", rf"pcsk_[{_U}]{{50,}}"),
    Rule("e2b", "e2b_", r"e2b_[a-f0-9]{40}"),
    Rule("resend", "re_", rf"re_[{_A}]{{8}}_[{_A}]{{24}}"),
    Rule("fireworks", "fw_", rf"fw_[{_A}]{{24}}"),
    Rule("jina", "jina_", rf"jina_[{_U}]{{50,}}"),
    # Azure AD client secrets: three characters, a digit, "Q~" and 31 to 34 more (_HEADS)
    Rule("azure_ad", "Q~", r"(?:[A-Za-z0-9_~.]{3}\d)?Q~[A-Za-z0-9_~.-]{31,34}"),
)

_TAIL_CHARS = frozenset(string.ascii_letters + string.digits + "_-")
_ANCHOR_BEFORE = frozenset(string.ascii_letters + string.digits + "_-")


def _trie_regex(words: list[str]) -> str:
    """An alternation of literals as a trie (the engine never tries a prefix twice)."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def alternation(node: dict) -> str:  # type: ignore[type-arg]
        alts = []
        optional = False
        for ch, child in sorted(node.items()):
            if ch == "":
                optional = True
                continue
            alts.append(re.escape(ch) + alternation(child))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and not optional else "(?:" + "|".join(alts) + ")"
        return body + ("?" if optional and alts else "")

    return alternation(trie)


_BY_ANCHOR: dict[str, list[tuple[Rule, re.Pattern[str]]]] = {}
for _rule in RULES:
    for _anchor in _rule.anchor.split("|"):
        _BY_ANCHOR.setdefault(_anchor, []).append((_rule, re.compile(_rule.pattern)))
_ANCHORS = re.compile(_trie_regex(sorted(_BY_ANCHOR, key=len, reverse=True)))
# an anchor that is a prefix of another (``sk-`` / ``sk-ant-``) is tried as both
_PREFIXED = {
    a: sorted([b for b in _BY_ANCHOR if b != a and b.startswith(a)], key=len, reverse=True)
    for a in _BY_ANCHOR
}

#: anchors that stand inside their token, after a head of fixed width and shape: the token is
#: read from the head's start
_HEADS: dict[str, tuple[int, re.Pattern[str]]] = {
    ".atlasv1.": (14, re.compile(r"[A-Za-z0-9]{14}")),
    "Q~": (4, re.compile(r"[A-Za-z0-9_~.]{3}\d")),
}

#: prefixes also common at the start of ordinary values (not a claim of a provider's format)
_LOOSE_ANCHORS = frozenset({"sk-", "sk_", "SK", "pk_", "s.", "1//0"})

# ----------------------------------------------------------------------------- value checks

_PLACEHOLDER_WORDS = _words(
    "password passwd secret token key apikey api_key changeme change_me changeit null none",
    "nil undefined true false empty redacted hidden masked required optional string str int",
    "bool bytes number any object xxx todo tbd n/a na test testing dummy example sample",
    "placeholder default value foo bar baz qux secretstr secret_key your_key mysecret",
    "mypassword pass password123 admin root user username env environ getenv config settings",
    "abc abc123 123456 12345678 bearer basic token_here",
)
_PLACEHOLDER_MARKERS = (
    "your_",
    "your-",
    "yourkey",
    "yoursecret",
    "yourtoken",
    "yourpassword",
    "your ",
    "_here",
    "-here",
    " here",
    "replace_me",
    "replace-me",
    "replaceme",
    "insert_",
    "insert-",
    "enter_",
    "enter-",
    "xxxx",
    "****",
    "....",
    "\u2026",
    "####",
    "process.env",
    "os.environ",
    "os.getenv",
    "getenv(",
    "env(",
    "env[",
    "example_",
    "_example",
    "dummy",
    "placeholder",
    "redacted",
    "changeme",
    "<your",
    "secrets.",
    "abcdefgh",
    "qwerty",
    "fake",
)
_MARKERS = re.compile(_trie_regex(list(_PLACEHOLDER_MARKERS)))
#: a template expression: ``${NAME}``, ``${{ secrets.X }}``, ``{{ .Values.x }}``, ``%(name)s``,
#: ``<your key>``, ``$(cat file)``. Inside: names, dots, spaces, pipes, quotes, calls; a value
#: that merely contains ``${`` or ``>`` among random characters is not one.
_TEMPLATE = re.compile(
    r"\$\{\{?[\w.\-\s|:\"'()/,=!]*\}\}?|\{\{-?[\w.\-\s|:\"'()/,=!$]*\}\}|%\([\w.]*\)"
    r"|<[^<>\n]{1,80}>|\$\([^()\n]{1,200}\)|#\{[\w.\-\s|:\"'()]*\}"
)
#: the body of a prefixed token that reads as words: ``my-bot-token``, ``Slack_BOT_TOKEN``,
#: ``SlackAppConfigurationAccessTokenHere``, ``RANDOMSTRINGHERE``
_WORDY_PART = re.compile(r"(?:[A-Z]?[a-z]{2,}|[A-Z]{2,})")
_CODE_VALUE = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[[^\]]*\]|\(.*\))+")
_IDENT = re.compile(r"[A-Za-z_]+")


_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def _alnum_count(text: str) -> int:
    return len(_NOT_ALNUM.sub("", text))


def _diverse(value: str) -> bool:
    """Not one or two characters repeated (``xxxx``, ``0000-0000``, ``abababab``)."""
    distinct = sum(1 for c in set(value) if c.isalnum())
    return distinct >= max(4, min(10, len(value) // 4))


#: a value cut short: ``...`` or ``…`` at its end
_CUT_MARKS = ("...", "\u2026")
#: the part before the dots that makes a cut value a leak, not a placeholder
TRUNCATED_MIN = 12
#: the same after a loose prefix (``sk-``) with no provider's format after it
TRUNCATED_LOOSE_MIN = 20


def truncated_leak(head: str) -> bool:
    """The part of a value before its closing ``...`` is itself a secret-like value: at least
    :data:`TRUNCATED_MIN` characters and random-looking (:func:`random_looking`: not a
    placeholder, a word, a path, one or two characters repeated). ``Xk9mQ2vL7pRtZ8...`` and
    ``sk-proj-abc123def456...`` are; ``sk-...``, ``xxx...``, ``YOUR_API_KEY...``,
    ``hunter2...`` are not."""
    return len(head) >= TRUNCATED_MIN and random_looking(head)


def placeholder(value: str) -> bool:
    """A value that stands for a secret without being one (``${X}``, ``<your-key>``,
    ``xxxx``, ``changeme``, ``os.environ[...]``, a type name). A value cut short with ``...``
    is one unless the part before the dots is a leak of its own (:func:`truncated_leak`)."""
    value = value.strip("'\"` ")
    if value.endswith(_CUT_MARKS):
        return not truncated_leak(value.rstrip(".\u2026"))
    low = value.lower()
    if low in _PLACEHOLDER_WORDS:
        return True
    if value.startswith("{") and not value.startswith("{{"):
        if not value.endswith("}"):
            return True
        # {password} is a template; {ZqL5kVrX1n8tA2} is a value in literal braces
        inner = value[1:-1]
        return not inner or "{" in inner or "}" in inner or not random_looking(inner)
    if value.startswith("<") or value.endswith(">"):
        return True  # <user:password>, <Openverse API token>
    if value.startswith(("$", "%", "[", "&lt;", "#{", "@")):
        if value.startswith("$") and not value.startswith(("${", "$(")) and "$" not in value[1:]:
            return True  # $VAR, $1
        if not value.startswith(("${", "$(", "%(")) or _TEMPLATE.search(value):
            return True
    if _MARKERS.search(low) or _TEMPLATE.search(value):
        return True
    return not _diverse(value)


def _wordy(body: str) -> bool:
    """A token body whose longest ``-`` part is made of words, not random characters."""
    body = max(body.split("-"), key=len)
    parts = [p for p in re.split(r"[_.]|(?<=[a-z])(?=[A-Z])", body) if p]
    if not parts or any(c.isdigit() for c in body):
        return False
    return all(_WORDY_PART.fullmatch(p) for p in parts) and (len(parts) >= 2 or body.isupper())


def _entropy(value: str) -> float:
    n = len(value)
    return -sum(k / n * math.log2(k / n) for k in Counter(value).values())


def _classes(value: str) -> int:
    return (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )


_EMAIL_LIKE = re.compile(r"[^@\s]+@[\w-]+(?:\.[\w-]+)+")
_PATH = re.compile(r"(?:~|\.{1,2})?/?[\w.-]+(?:/[\w.-]+)+/?")
_FILE_NAME = re.compile(r"[\w-]+\.(?:pem|key|json|txt|crt|p12|pfx|env|yaml|yml)")
_WORDS = re.compile(
    r"[a-z]+(?:[-_.][a-z]+)+|(?:[A-Z][a-z]+){2,}|[A-Za-z][a-z]+(?:[-_.][A-Za-z][a-z]+)+|"
    r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z][a-z0-9]*(?:_[a-z0-9]+)+"  # NAME_LIKE_THIS, name_like_this
)


def random_looking(value: str) -> bool:
    """Long enough, several character classes or hex-like, and not a word or a path."""
    if len(value) < 8 or " " in value or (len(value) < 20 and value.isalpha()):
        return False  # cheap rejections first: most candidates are words
    if placeholder(value):
        return False
    if value.startswith(("http://", "https://")) or _EMAIL_LIKE.fullmatch(value):
        return False
    if _PATH.fullmatch(value) and sum(c.isupper() for c in value) <= 2:
        return False
    if value.isdigit() or (value.isalpha() and (value.islower() or value.isupper())):
        return len(value) >= 20 and value.isalpha() and _entropy(value) >= 3.5
    if _FILE_NAME.fullmatch(value) or _WORDS.fullmatch(value):  # key.pem, kebab-or-snake-words
        return False
    return _classes(value) >= 2 and _entropy(value) >= 2.8


# ----------------------------------------------------------------------------- structured finders


#: a run of the characters some provider's token can hold (``\w`` and ``+,-./:=~``: every
#: character class and literal of the rules' patterns), as long as the shortest token (16,
#: ``LTAI`` and 12): a text without one holds no prefixed token, and the anchor search below is
#: skipped. tests/test_pii_fast_gates.py derives both from the rules' patterns (so a new rule
#: that needs another character or a shorter token fails it until they are updated here).
_TOKEN_RUN_LENGTH = 16
_TOKEN_RUN_PATTERN = rf"(?<![\w+,\-./:=~])[\w+,\-./:=~]{{{_TOKEN_RUN_LENGTH}}}"
_TOKEN_RUN: re.Pattern[str] | None = re.compile(_TOKEN_RUN_PATTERN)


#: the whole runs _TOKEN_RUN finds the start of: a token (its anchor too: every anchor is made
#: of the run's characters) stands inside one of them, so the anchors are searched there only
_TOKEN_RUNS = re.compile(_TOKEN_RUN_PATTERN[:-1] + ",}")


def _anchor_matches(text: str) -> list[re.Match[str]]:
    """``_ANCHORS.finditer(text)`` where a token can stand: inside the runs of token characters
    as long as the shortest token (an anchor never straddles a run's end, so the matches there
    are those of the whole text); the whole text when the gate is off (the tests' long way)."""
    if _TOKEN_RUN is None:
        return list(_ANCHORS.finditer(text))
    # no whitespace-free stretch that long (split and len in C) settles most texts
    if max(map(len, text.split()), default=0) < _TOKEN_RUN_LENGTH:
        return []
    found: list[re.Match[str]] = []
    for run in _TOKEN_RUNS.finditer(text):
        found += _ANCHORS.finditer(text, run.start(), run.end())
    return found


def _prefixed(text: str) -> list[Secret]:
    out: list[Secret] = []
    pos = 0
    for m in _anchor_matches(text):
        start = m.start()
        if start < pos:
            continue
        anchor = m.group()
        if start and text[start - 1] in _ANCHOR_BEFORE:
            head = _HEADS.get(anchor)
            if head is None:
                continue
            start -= head[0]
            if (
                start < pos
                or not head[1].fullmatch(text, start, start + head[0])
                or (start and text[start - 1] in _ANCHOR_BEFORE)
            ):
                continue
        for candidate in (*_PREFIXED[anchor], anchor):
            if candidate != anchor and not text.startswith(candidate, start):
                continue
            hit = _try_rules(text, start, candidate)
            if hit is not None:
                out.append(hit)
                pos = hit.end
                break
        else:
            hit = _truncated_token(text, start, anchor)
            if hit is not None:
                out.append(hit)
                pos = hit.end
    return out


#: a token's characters, as far as they go (then ``...`` for a token cut short)
_TOKEN_BODY = re.compile(r"[A-Za-z0-9_\-]*")
#: what comes after a loose anchor (``sk-``, ``sk_``) in a provider's own format: only with it
#: is a token cut short that provider's (``sk-proj-abc123def456...``; ``sk-abc123...`` is not)
_LOOSE_FORMATS = {
    "sk-": ("proj-", "svcacct-", "admin-", "ant-", "or-"),
    "sk_": ("live_", "test_"),
}


def _truncated_token(text: str, start: int, anchor: str) -> Secret | None:
    """A prefixed token cut short with ``...`` (``sk-proj-abc123def456...``,
    ``ghp_aB3dE5fG7hJ9kL1mN3pQ...``): reported up to the dots when the longest part of its
    body (between ``-`` / ``.``: ``xoxb-<team>-<user>-<random>``) is a leak of its own
    (:func:`truncated_leak`: 12 characters or more, random-looking: not words, not a marked or
    masked example). After a loose anchor (``sk-``, ``SK``, ``s.``) without a provider's format
    (``sk-proj-``, ``sk_live_``) the part needs :data:`TRUNCATED_LOOSE_MIN`. An anchor is
    read only where no token character comes before it, so the bodies read here never overlap
    (linear time)."""
    end = _TOKEN_BODY.match(text, start + len(anchor)).end()  # type: ignore[union-attr]
    if not text.startswith(_CUT_MARKS, end):
        return None
    body = text[start + len(anchor) : end]
    rule = _BY_ANCHOR[anchor][0][0]
    shortest = TRUNCATED_MIN
    if anchor in _LOOSE_ANCHORS:
        fmt = next((f for f in _LOOSE_FORMATS.get(anchor, ()) if body.startswith(f)), None)
        if fmt is None:
            # no provider's format: the anchor's most general rule, and a longer random part
            rule, shortest = _BY_ANCHOR[anchor][-1][0], TRUNCATED_LOOSE_MIN
        else:
            body = body[len(fmt) :]
    part = max(re.split(r"[-.]", body), key=len)
    if len(part) < shortest or not truncated_leak(part):
        return None
    return Secret(start, end, rule.category, rule.family, 0.85)


def _try_rules(text: str, start: int, anchor: str) -> Secret | None:
    for rule, pattern in _BY_ANCHOR[anchor]:
        m = pattern.match(text, start)
        if m is None:
            continue
        end = m.end()
        if end < len(text) and text[end] in _TAIL_CHARS:
            continue  # the token runs on: not this format
        if text.startswith(("##", "**"), end):
            continue  # xoxp-5723...-#### : a masked example, not a token
        value = m.group()
        verdict = rule.check(value) if rule.check else None
        if verdict is False:
            continue
        body = value[len(anchor) :]
        # a marker in a one-case body (AKIAIOSFODNN7EXAMPLE); a mixed-case random body may
        # spell one by chance (...lFaKe)
        marked = "abcdefgh" in body.lower() or (
            (body.isupper() or body.islower()) and _MARKERS.search(body.lower())
        )
        if verdict is None and (not _diverse(body) or marked or _wordy(body)):
            continue  # ghp_xxxx..., AKIAIOSFODNN7EXAMPLE, xoxb-my-bot-token
        if rule.family == "sk" and not random_looking(value[3:]):
            continue
        return Secret(start, end, rule.category, rule.family, 0.97 if verdict else 0.9)
    return None


_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{0,40}?)PRIVATE KEY( BLOCK)?-----")
_END = re.compile(r"-----END [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY_CHARS = re.compile(r"[A-Za-z0-9+/=\s\"',\\:.\-]*")
_PEM_RUN = re.compile(r"(?:[A-Za-z0-9+/=\s\"',:.]|\\[rn])*")
_B64_PEM = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{40,}={0,2}")
MAX_PEM = 64 * 1024


_PEM_RUN_CHARS = frozenset(string.ascii_letters + string.digits + "+/=\"'\r\n\\")


def _pem_tails(text: str, ends: list[re.Match[str]], blocks: list[tuple[int, int]]) -> list[Secret]:
    """An END line whose BEGIN is not in the text (a long text scanned in chunks, a key cut at
    its start): the body before it, back to where the body run starts."""
    out: list[Secret] = []
    for e in ends:
        if any(s <= e.start() < t for s, t in blocks):
            continue
        start = e.start()
        limit = max(0, start - MAX_PEM, max((t for _, t in blocks if t <= start), default=0))
        while start > limit:
            c = text[start - 1]
            if c in _PEM_RUN_CHARS:
                start -= 1
            elif c in " \t":  # indentation only (a YAML block), never spaces between words
                k = start - 1
                while k > limit and text[k - 1] in " \t":
                    k -= 1
                if k > limit and text[k - 1] != "\n":
                    break
                start = k
            else:
                break
        while start < e.start() and not text[start].isalnum():
            start += 1
        if _alnum_count(text[start : e.start()]) >= 40:
            out.append(Secret(start, e.end(), "private_key", "pem", 0.9))
    return out


def _pem_blocks(text: str) -> list[Secret]:
    out: list[Secret] = []
    if "-----BEGIN" in text or "-----END" in text:
        begins = list(_BEGIN.finditer(text))
        ends = list(_END.finditer(text))
        j = 0
        used_until = 0
        for b_index, b in enumerate(begins):
            if b.start() < used_until:
                continue
            nxt = begins[b_index + 1].start() if b_index + 1 < len(begins) else len(text)
            while j < len(ends) and ends[j].start() < b.end():
                j += 1
            if j < len(ends) and ends[j].start() <= nxt and ends[j].start() - b.end() <= MAX_PEM:
                body = text[b.end() : ends[j].start()]
                if _PEM_BODY_CHARS.fullmatch(body) and _alnum_count(body) >= 40:
                    out.append(Secret(b.start(), ends[j].end(), "private_key", "pem", 0.97))
                    used_until = ends[j].end()
                    continue
            # no END: the body as far as it goes (a key cut short still is a key)
            run = _PEM_RUN.match(text, b.end(), min(nxt, b.end() + MAX_PEM))
            assert run is not None
            stop = run.end()
            while stop > b.end() and not text[stop - 1].isalnum() and text[stop - 1] != "=":
                stop -= 1
            if _alnum_count(text[b.end() : stop]) >= 40:
                out.append(Secret(b.start(), stop, "private_key", "pem", 0.9))
                used_until = stop
        out.extend(_pem_tails(text, ends, [(s.start, s.end) for s in out]))
    if "LS0tLS1CRUdJTi" in text:
        for m in _B64_PEM.finditer(text):
            try:
                # whole 4-character groups only: a run cut one past a group (57 characters)
                # has a last character no padding makes decodable
                head = base64.b64decode(m.group()[: min(60, len(m.group())) // 4 * 4])
            except (binascii.Error, ValueError):
                continue
            if b"PRIVATE KEY" in head:
                out.append(Secret(m.start(), m.end(), "private_key", "pem_base64", 0.95))
    return out


_EYJ = re.compile("eyJ")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,4096}\.ey[A-Za-z0-9_-]{6,16384}(?:\.[A-Za-z0-9_-]{0,4096})?")
_JWT_BEFORE = frozenset(string.ascii_letters + string.digits + "_-.")


def _b64url_decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return b""


def jwt_ok(token: str) -> bool:
    """A JWT's structure: the header decodes to a JSON object with ``"alg"``, the payload to a
    JSON object."""
    parts = token.split(".")
    if len(parts) not in (2, 3):
        return False  # header.payload[.signature]: an unsigned token is still a credential
    header = _b64url_decode(parts[0]).lstrip()
    payload = _b64url_decode(parts[1]).lstrip()
    return header.startswith(b"{") and b'"alg"' in header and payload.startswith(b"{")


def _jwts(text: str) -> list[Secret]:
    out: list[Secret] = []
    if "eyJ" not in text:
        return out
    for e in _EYJ.finditer(text):
        start = e.start()
        if start and text[start - 1] in _JWT_BEFORE:
            continue  # inside a longer run: only a run's start is tried (linear time)
        m = _JWT.match(text, start)
        if m is None:
            continue
        end = m.end()
        if end < len(text) and (text[end] in _TAIL_CHARS or text[end] == "."):
            continue
        if jwt_ok(m.group()):
            out.append(Secret(start, end, "jwt", "jwt", 0.95))
    return out


# ----------------------------------------------------------------------------- context finders

#: Words in a name that say its value is a secret. A password-like name takes any value that is
#: not a placeholder; other names need a random-looking value.
_PASSWORD_WORDS = ("password", "passwd", "passphrase", "pwd", "pass", "pw")
_SECRET_WORDS = (
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "auth",
    "credential",
    "credentials",
    "privatekey",
    "private_key",
    "signingkey",
    "signing_key",
    "encryptionkey",
    "encryption_key",
    "masterkey",
    "master_key",
    "accountkey",
    "sharedaccesskey",
    "subscription-key",
    "subscriptionkey",
    "appkey",
    "app_key",
    "clientkey",
    "client_key",
    "servicekey",
    "service_key",
    "licensekey",
    "license_key",
    "key",
    "bearer",
    "sig",
    "sas",
    "salt",
)
#: searched in the lower-cased text (a literal trie: much faster than an ignore-case pattern)
_NAME_WORD_LIST = [
    "pass",
    "pwd",
    "pw",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "bearer",
    "basic",
]
_NAME_WORDS = re.compile(_trie_regex(_NAME_WORD_LIST))
#: Parts of a name (split at ``_ - .`` and camelCase) that say it holds something else.
_NOT_SECRET_PARTS = _words(
    "hash hashed digest checksum sha sha1 sha256 sha512 md5 fingerprint id ids name names",
    "type types url uri urls endpoint path file dir length len expiry expires expiration",
    "expire ttl count limit max min size timeout usage prompt label field placeholder hint",
    "policy public pub publishable idempotency cache sort partition primary foreign reset",
    "forgot confirm confirmation verify verification strength rule rules regex pattern input",
    "msg message error errors valid validation validator required enabled disabled at date",
    "time format prefix suffix mask masked column header headers tokens tokenizer secretary",
    "manager store provider service class helper util utils request response schema model",
    "param params arg args test tests spec mock fake example sample description desc title",
    "text display visible hidden show toggle icon button form page view route handler",
    "callback endpoint method scope scopes version rotation rotate generator generate ref",
    "refs bucket region env mode level page next cursor continuation pagination sync etag nonce",
    "rate ratio percent pct score fail fails failed total num number threshold status state",
    "result results",
)
_PASSWORD_PARTS = frozenset({"pwd", "pass", "pw", "pword", "passwd", "pswd"})
_KEY_QUALIFIERS = _words(
    "api access private signing encryption master account shared subscription app client",
    "service license secret auth storage deploy admin webhook stripe openai anthropic google",
    "aws azure gcp mistral cohere groq session jwt hmac cookie consumer",
)
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_-.")
_ASSIGN = re.compile(
    r"""(?P<close>\[\]|["'`]?\]?)[ \t]{0,8}"""
    r"""(?:(?P<op>:=|=>|=|:|,|->|\?=)|(?P<value_attr>\s+value\s*=)|"""
    r"""(?P<is>[ \t]+(?:is|was|to|are|:)[ \t]+)|(?P<flag>[ \t]+))[ \t]{0,8}(?:@(?=["']))?"""
)
_TAG_OPEN = re.compile(r"(?P<op>>)")
_NETRC = re.compile(r"\blogin[ \t]+\S+[ \t]+$")
_PAIR_VALUE = re.compile(
    r"""(?P<close>["']?)[ \t]*[,;]?[ \t]*(?:\r?\n[ \t]*-?[ \t]*)?["']?(?i:value)["']?[ \t]*"""
    r"""(?P<op>[:=])[ \t]*"""
)
_SCHEME = re.compile(r"(?i)([a-z][a-z0-9-]{1,30})[ \t]+")
_ESCAPE = re.compile(r'\\[nrt"]')
_NEXT_PARAM = re.compile(r"&(?:amp;)?[A-Za-z_][\w.\-\[\]]{0,40}=")
_OPEN = {")": "(", "]": "[", "}": "{"}
_QUOTED = {'"': '"', "'": "'", "`": "`"}
_UNQUOTED = re.compile(r"""[^\s'"`,;<>(){}\[\]]{1,512}""")
_UNQUOTED_PASSWORD = re.compile(r"""[^\s'"`,;]{1,256}""")
_NEXT_KEY = re.compile(r"[A-Za-z_][\w.\- ]{0,40}=")
_TYPE_WORD = re.compile(r"(?:[A-Z][a-z]+)+(?:\[.*\])?\??|[a-z]+\[.*\]|[a-z]+\??")


def _name_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The identifier around a secret word: letters, digits, ``_ - .`` up to 48 each way."""
    left = start
    limit = max(0, start - 48)
    while left > limit and text[left - 1] in _NAME_CHARS:
        left -= 1
    right = end
    limit = min(len(text), end + 48)
    while right < limit and text[right] in _NAME_CHARS:
        right += 1
    return left, right


_NAME_SPLIT = re.compile(r"[_\-.]|(?<=[a-z0-9])(?=[A-Z])")


def _qualifier_before(text: str, left: int) -> bool:
    """The word right before a bare ``key`` (spaces or tabs between) says what key it is:
    ``API key``, ``secret key``, ``Stripe key`` (a word of :data:`_KEY_QUALIFIERS`)."""
    end = left
    while end > 0 and left - end < 8 and text[end - 1] in " \t":
        end -= 1
    if end == left:
        return False
    start = end
    while start > 0 and end - start <= 16 and text[start - 1] in _ASCII_LETTERS:
        start -= 1
    if start > 0 and text[start - 1].isalpha():
        return False  # glued to a longer word
    return text[start:end].lower() in _KEY_QUALIFIERS


_ASCII_LETTERS = frozenset(string.ascii_letters)


@functools.lru_cache(maxsize=4096)
def _name_kind(name: str) -> str | None:
    """``password`` / ``secret`` / ``weak`` (the bare word ``key``) / None, from the parts of
    a name (``DB_PASSWORD``, ``stripeSecretKey``, ``x-api-key``, ``Authorization``)."""
    parts = [p.lower() for p in _NAME_SPLIT.split(name.strip("-_.")) if p]
    if not parts or any(p in _NOT_SECRET_PARTS for p in parts):
        return None
    if any("password" in p or "passwd" in p or "passphrase" in p for p in parts) or any(
        p in _PASSWORD_PARTS for p in parts
    ):
        return "password"
    if any(
        "secret" in p
        or p.startswith("token")
        or p.endswith("token")
        or "apikey" in p
        or p.startswith("credential")
        or p.endswith("authorization")
        or p == "auth"
        for p in parts
    ):
        return "secret"
    if parts[-1] in ("key", "keys") or parts[-1].endswith("key"):
        if len(parts) == 1:
            joined = parts[0]
            if joined in ("key", "keys"):
                return "weak"
            return "secret" if any(joined.startswith(q) for q in _KEY_QUALIFIERS) else None
        return "secret" if parts[-2] in _KEY_QUALIFIERS or len(parts) >= 2 else None
    if parts[-1] in ("sig", "sas") or parts in (["bearer"], ["basic"]):
        return "secret"
    return None


def _read_value(text: str, pos: int, password: bool) -> tuple[int, int, bool] | None:
    """The value starting at ``pos``: quoted (to its closing quote on the same line) or bare."""
    if pos >= len(text):
        return None
    q = text[pos]
    if q in _QUOTED:
        close = text.find(q, pos + 1, pos + 514)
        nl = text.find("\n", pos + 1, pos + 514)
        if close < 0 or (0 <= nl < close):
            return None
        return pos + 1, close, True
    m = _UNQUOTED_PASSWORD.match(text, pos)
    if m is None:
        return None
    end = m.end()
    # DB_PASSWORD=zJBm;@U,x : a ; or , inside a password, unless another key=value follows
    # (Server=h;Password=p;Database=d) or the line ends there (password = abc;)
    while (
        password
        and end < len(text)
        and text[end] in ",;"
        and end - pos < 256
        and (nxt := _UNQUOTED_PASSWORD.match(text, end + 1, min(len(text), pos + 257))) is not None
        and _NEXT_KEY.match(text, end + 1) is None
    ):
        end = nxt.end()
    escape = _ESCAPE.search(text, pos, end)
    if escape is not None:  # JSON-escaped text: "NAME=value\nPORT=3000"
        end = escape.start()
    param = _NEXT_PARAM.search(text, pos, end)
    if param is not None:  # a query string: ?api_key=VALUE&format=json
        end = param.start()
    tag = text.find("</", pos, end)
    if tag >= 0:  # <password>VALUE</password>
        end = tag
    while (
        end > pos
        and text[end - 1] in ")]}"
        and text.count(_OPEN[text[end - 1]], pos, end) < text.count(text[end - 1], pos, end)
    ):
        end -= 1
    cut = end
    while end > pos and text[end - 1] in ".:" and not password:
        end -= 1
    if cut - end >= 3 and text.startswith("...", end) and not truncated_leak(text[pos:end]):
        end = cut  # cut short: judged with its dots (placeholder), not as a shorter value
    return pos, end, False


def _element(text: str, pos: int) -> tuple[int, int, bool] | None:
    """An XML element's text: up to the next ``<`` on the same line."""
    close = text.find("<", pos, pos + 514)
    nl = text.find("\n", pos, pos + 514)
    if close < 0 or (0 <= nl < close):
        return None
    return pos, close, True


def _assignments(text: str, taken: list[tuple[int, int]]) -> list[Secret]:
    out: list[Secret] = []
    seen_until = 0
    lower = text.lower()
    if len(lower) != len(text):  # a few characters change length when lowered
        lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    if not any(map(lower.__contains__, _NAME_WORD_LIST)):
        return out  # a substring test per word, the loop in C too, settles most texts
    for m in _NAME_WORDS.finditer(lower):
        if m.start() < seen_until:
            continue
        left, right = _name_bounds(text, m.start(), m.end())
        seen_until = right
        name = text[left:right]
        kind = _name_kind(name)
        if kind is None:
            continue
        if kind == "weak" and _qualifier_before(text, left):
            kind = "secret"  # "my API key is ...": the word before names the key's kind
        # {"name": "DB_PASSWORD", "value": "..."} / - name: X\n  value: ... / key=".." value=".."
        a = _PAIR_VALUE.match(text, right) or _ASSIGN.match(text, right)
        if left and text[left - 1] == "<" and text.startswith(">", right):
            a = _TAG_OPEN.match(text, right)  # <password>value</password>
        if a is None:
            continue
        groups = a.groupdict()
        flag = groups.get("flag") is not None
        if flag and _NETRC.search(text, max(0, left - 120), left) and kind == "password":
            flag = False  # machine host login me password VALUE (.netrc)
        spaced_quote = False
        if flag and not (
            name.startswith("-")
            or name.lower() in ("bearer", "basic", "authorization")
            or (left and text[left - 1] == "-")
        ):
            if not (a.end() < len(text) and text[a.end()] in _QUOTED):
                continue  # "token expires" — a bare space binds only CLI flags (--token abc)
            spaced_quote = True  # apikey "…"; (nginx, Tcl, shell): only a random value
        if groups.get("is") is not None and kind == "weak":
            continue
        if groups.get("op") == "," and not groups.get("close"):
            continue  # "password, token" — a list, unless a quoted name: ('API_KEY', '...')
        pos = a.end()
        # Authorization: Bearer xyz / "Authorization": "Bearer xyz"
        quote = text[pos] if pos < len(text) and text[pos] in _QUOTED else ""
        inner = pos + len(quote)
        scheme = _SCHEME.match(text, inner)
        password = kind == "password"
        category = "password" if password else "generic_secret"
        if scheme is not None and (
            name.lower() in ("authorization", "auth", "proxy-authorization", "bearer", "basic")
            or name.lower().endswith("authorization")
        ):
            word = scheme.group(1).lower()
            v = _UNQUOTED.match(text, scheme.end())
            if v is None:
                continue
            start, end = v.start(), v.end()
            seen_until = max(seen_until, end)
            cut = end
            while end > start and text[end - 1] in ".:!?":
                end -= 1
            value = text[start:end]
            if text.startswith("...", end, cut) and not truncated_leak(value):
                continue  # a token cut short before it says much: a placeholder
            if word == "basic":
                decoded = _b64_text(value)
                if placeholder(value):
                    continue
                if decoded is not None and ":" in decoded:
                    category = "password"
                elif not (len(value) >= 16 and random_looking(value)):
                    continue  # not user:pass; a long random value is still a credential
            elif not random_looking(value) and not (
                len(value) >= 12 and _classes(value) >= 3 and not placeholder(value)
            ):
                continue
            out.append(Secret(start, end, category, "bearer", 0.8))
            continue
        read = _read_value(text, pos, password) if groups.get("op") != ">" else _element(text, pos)
        if read is None:
            continue
        start, end, quoted = read
        value = text[start:end]
        if spaced_quote and not random_looking(value):
            continue
        if not value or not _value_ok(value, name, kind, quoted, a):
            # a long value is read once: the names inside it are not tried again (linear
            # time); a short one may be a name itself (<add key="API_KEY" value="...">)
            if end - start >= 64:
                seen_until = max(seen_until, end)
            continue
        family = "generic"
        low = name.lower().replace("_", "").replace("-", "")
        if (
            ("aws" in low and "secret" in low) or "secretaccesskey" in low
        ) and _AWS_SECRET.fullmatch(value):
            category, family = "api_key", "aws_secret"
        elif low.endswith(("accountkey", "storagekey", "sharedaccesskey")) and len(value) >= 40:
            category, family = "api_key", "azure_sas" if "shared" in low else "azure_storage"
        out.append(Secret(start, end, category, family, 0.8))
        seen_until = max(seen_until, end)
    return out


def _value_ok(value: str, name: str, kind: str, quoted: bool, a: re.Match[str]) -> bool:
    if kind == "password" and value.endswith(_CUT_MARKS):
        # a password name takes any value that is not a placeholder: what stands before the
        # dots (an ellipsis ending the sentence, or a value cut short) is judged as itself
        # (a provider's prefix before the dots is a token cut short: judged as one, below)
        head = value.rstrip(".\u2026")
        if not _ANCHORS.match(head):
            return bool(head) and _value_ok(head, name, kind, quoted, a)
    if len(value) < (4 if kind == "password" else 16 if kind == "weak" else 8):
        return False
    squash = value.lower().replace("-", "").replace("_", "")
    if placeholder(value) or squash in name.lower().replace("-", "").replace("_", ""):
        return False
    if _CODE_VALUE.fullmatch(value) and not quoted:
        return False  # settings.API_KEY, getToken(), env["X"]
    if not quoted and _CALL.match(value):
        return False  # getpass(), values[0]
    if value.startswith("arn:") or "://" in value:
        return False  # an ARN or a URL (a password inside a URL is found on its own)
    anchor = _ANCHORS.match(value)
    if anchor is not None and anchor.group() not in _LOOSE_ANCHORS and not _prefixed(value):
        return False  # "xoxp-1234567890": a provider's prefix on a value that fails its format
    groups = a.groupdict()
    op = groups.get("op")
    if kind == "password":
        if len(value) < 4 or _NUMBER.fullmatch(value):
            return False  # "pass_rate: 0.93"
        if value.startswith("$") or value.startswith(("sha", "pbkdf2", "argon2", "{SSHA}", "md5")):
            return False
        if not quoted:
            if _TYPE_WORD.fullmatch(value) and op == ":":
                return False  # password: Optional[str], password: String
            if _IDENT.fullmatch(value):
                # a bare word: an identifier in code, unless an env-style line (NAME=word)
                env_line = (
                    (op == "=" and a.start() == a.end() - 1 and name.isupper())
                    or bool(groups.get("is"))
                    or groups.get("flag") is not None  # --password word, netrc
                )
                yaml_like = op == ":" and not value[0].isupper() and value.islower() is False
                if not (env_line or yaml_like):
                    return False
        return True
    if kind == "weak" and not (
        _WEAK_VALUE.fullmatch(value)
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    ):
        return False  # "key": an S3 object key, a cache key, a path: only a token-like value
    if not random_looking(value):
        return False
    return not (not quoted and op == ":" and _TYPE_WORD.fullmatch(value))


_CALL = re.compile(r"[A-Za-z_][\w.]*[(\[]")
_NUMBER = re.compile(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?%?|\d+%")
_WEAK_VALUE = re.compile(r"[A-Za-z0-9+=_\-]{20,}")
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")


def _b64_text(value: str) -> str | None:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


_URL_CREDS = re.compile(r"://([^\s:/@'\"<>]{0,128}):([^\s@/'\"<>]{1,256})@(?=[\w\[])")
#: curl -u user:pass, -u 'user:pass', -u ":pass", --user kevin:'pass', --user "u":"p"
_CLI_USER = re.compile(
    r"(?:-u|--user)(?:[ \t]+|=)(?:(['\"])[^\s:'\"]{0,128}:([^'\"\n]{1,256})\1"
    r"|(['\"]?)[^\s:'\"]{1,128}\3:(['\"]?)([^\s'\"]{1,256})\4)"
)
_CLI_PASS = re.compile(r"(?<![\w-])-p'([^'\n]{3,128})'|(?<![\w-])-p\"([^\"\n]{3,128})\"")
#: a password flag of a command known to take one: sshpass -p X, docker login -p X,
#: mysql -pX / -p X, redis-cli -a X, htpasswd -b file user X
_CLI_COMMAND_PASS = re.compile(
    r"\b(?:sshpass|docker login|podman login|mysql|mysqldump|mysqladmin|redis-cli)\b"
    r"[^\n|;&]{0,120}?[ \t](?:-p|-a|--pass)[ \t]?([^\s'\"-][^\s'\"]{2,127})"
)


def _url_credentials(text: str) -> list[Secret]:
    out: list[Secret] = []
    if "://" not in text and "-u" not in text and "-p" not in text and "-a" not in text:
        return out  # what each search below needs (most texts hold none of them)
    if "://" in text:
        for m in _URL_CREDS.finditer(text):
            value = m.group(2)
            if (
                len(value) >= 3
                and not placeholder(value)
                and value.lower() not in ("password", "pass", "pwd", "secret")
            ):
                out.append(Secret(m.start(2), m.end(2), "password", "url", 0.85))
    if "-u" in text:
        for m in _CLI_USER.finditer(text):
            g = 2 if m.group(2) is not None else 5
            value = m.group(g)
            if (
                len(value) >= 3
                and not placeholder(value)
                and value.lower() not in ("password", "pass")
            ):
                out.append(Secret(m.start(g), m.end(g), "password", "cli", 0.85))
    # the flag is " -p", " -a" or " --pass": a text without "-p" or "-a" has none
    for m in _CLI_COMMAND_PASS.finditer(text) if "-p" in text or "-a" in text else ():
        value = m.group(1)
        if not placeholder(value) and not value.isdigit():
            out.append(Secret(m.start(1), m.end(1), "password", "cli", 0.85))
    if "-p" in text:
        for m in _CLI_PASS.finditer(text):
            g = 1 if m.group(1) is not None else 2
            if not placeholder(m.group(g)):
                out.append(Secret(m.start(g), m.end(g), "password", "cli", 0.85))
    return out


_SPECIAL: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("-us", re.compile(r"(?<![A-Za-z0-9])[0-9a-f]{32}-us\d{1,2}(?![A-Za-z0-9])"), "mailchimp"),
    (
        ":AA",
        # also in the Bot API's URL form: https://api.telegram.org/bot<token>/getMe
        re.compile(r"(?:(?<=bot)|(?<![A-Za-z0-9]))\d{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])"),
        "telegram",
    ),
)


#: a session cookie or parameter: _gitlab_session=, PHPSESSID=, JSESSIONID=, connect.sid=,
#: session_id= (a literal search, then the value: linear time)
_SESSION = re.compile(r"(?i)(?:session(?:_?id)?|sessid|\.sid)=([^\s;,\"'&<>]{16,512})")


def _sessions(text: str) -> list[Secret]:
    low = text.lower()
    if "sess" not in low and ".sid" not in low:
        return []
    out: list[Secret] = []
    for m in _SESSION.finditer(text):
        value = m.group(1)
        if random_looking(value) or (len(value) >= 24 and value.isalnum() and _diverse(value)):
            out.append(Secret(m.start(1), m.end(1), "generic_secret", "session", 0.8))
    return out


_SPECIAL_NEEDLES = tuple(needle for needle, _, _ in _SPECIAL)


def _special(text: str) -> list[Secret]:
    out: list[Secret] = []
    if not any(map(text.__contains__, _SPECIAL_NEEDLES)):
        return out  # most texts hold no needle
    for needle, pattern, family in _SPECIAL:
        if needle in text:
            out.extend(
                Secret(m.start(), m.end(), "api_key", family, 0.9) for m in pattern.finditer(text)
            )
    return out


# ----------------------------------------------------------------------------- Kubernetes

# (a manifest with CRLF line ends reads the same: "\r" before each line end)
_KIND_SECRET = re.compile(r"(?im)^[ \t]*kind:[ \t]*[\"']?secret[\"']?[ \t\r]*$")
_DOC_SEP = re.compile(r"(?m)^---")
_DATA_BLOCK = re.compile(r"(?m)^([ \t]*)(data|stringData):[ \t\r]*$")
_DATA_ITEM = re.compile(r"([ \t]+)[\w.\-]+:[ \t]*(?:([|>][-+]?)[ \t\r]*$)?")
_B64_VALUE = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")


def _kube_secrets(text: str) -> list[Secret]:
    """The values under ``data:`` / ``stringData:`` of a ``kind: Secret`` manifest (base64 of
    the secret, whatever its key is called: ``key:``, ``extra:``, ``.dockercfg:``)."""
    if "ind:" not in text or "ata:" not in text:
        return []
    kinds = [m.start() for m in _KIND_SECRET.finditer(text)]
    if not kinds:
        return []
    seps = [m.start() for m in _DOC_SEP.finditer(text)]
    out: list[Secret] = []
    scanned = 0
    for block in _DATA_BLOCK.finditer(text):
        if block.start() < scanned:
            continue  # a nested data: inside a block read before (linear time)
        doc = bisect.bisect_right(seps, block.start())
        lo = seps[doc - 1] if doc else 0
        hi = seps[doc] if doc < len(seps) else len(text)
        i = bisect.bisect_left(kinds, lo)
        if i >= len(kinds) or kinds[i] >= hi:
            continue  # kind: ExternalSecret, SopsSecret, ConfigMap: not this
        indent = len(block.group(1).expandtabs())
        base64_only = block.group(2) == "data"
        pos = block.end() + 1
        while pos < len(text):
            nl = text.find("\n", pos)
            line_end = nl if nl >= 0 else len(text)
            line = text[pos:line_end]
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                if len(line.expandtabs()) - len(line.expandtabs().lstrip()) <= indent:
                    break
                item = _DATA_ITEM.match(text, pos, line_end)
                if item is not None:
                    vstart = item.end()
                    if item.group(2):  # key: |  -> the value is on the next line
                        nxt = text.find("\n", line_end + 1)
                        vline_end = nxt if nxt >= 0 else len(text)
                        vstart = line_end + 1
                        while vstart < vline_end and text[vstart] in " \t":
                            vstart += 1
                        line_end = vline_end
                    vend = line_end
                    while vend > vstart and text[vend - 1] in " \t\r":
                        vend -= 1
                    if vend > vstart and text[vstart] in "'\"" and text[vend - 1] == text[vstart]:
                        vstart, vend = vstart + 1, vend - 1
                    value = text[vstart:vend]
                    if base64_only:
                        found = bool(_B64_VALUE.fullmatch(value)) and _diverse(value)
                    else:
                        found = len(value) >= 8 and not placeholder(value)
                    if found:
                        out.append(Secret(vstart, vend, "generic_secret", "kubernetes", 0.85))
            pos = line_end + 1
        scanned = pos
    return out


# ----------------------------------------------------------------------------- entry points


def find_secrets(text: str) -> list[Secret]:
    """Every secret in ``text``, overlaps resolved (structure over context, longer first)."""
    strong = _pem_blocks(text) + _jwts(text) + _prefixed(text) + _special(text)
    kept: list[Secret] = []
    if strong:
        strong.sort(key=lambda s: (s.start, -s.end))
        for s in strong:
            if kept and s.start < kept[-1].end:
                continue
            kept.append(s)
    taken = [(s.start, s.end) for s in kept]
    weak = _url_credentials(text) + _assignments(text, taken) + _kube_secrets(text)
    weak += _sessions(text)
    if not weak:
        return kept  # sorted by start already (the strong ones do not overlap)
    starts = [t[0] for t in taken]
    last_end = -1
    for s in sorted(weak, key=lambda s: (s.start, -s.end)):
        if s.start < last_end:
            continue  # inside the context secret kept before
        i = bisect.bisect_right(starts, s.end) - 1
        if i >= 0 and taken[i][1] > s.start:
            continue  # overlaps a structured secret: that one stands
        kept.append(s)
        last_end = s.end
    kept.sort(key=lambda s: s.start)
    return kept


def scan_secrets(scan: _Scan) -> list[Secret]:
    """``find_secrets`` once per scanned text, whatever number of secret types asks for it
    (kept on the scan, which lives as long as the text is being scanned)."""
    found: list[Secret] | None = scan.secrets
    if found is None:
        found = scan.secrets = find_secrets(scan.text)
    return found


def has_secrets(scan: _Scan) -> bool:
    """The text holds a secret of some category (found once per text, for every secret type):
    the gate of each secret type, so a text without one costs the other types nothing."""
    return bool(scan_secrets(scan))


def secret_filter(name: str) -> Callable[[Secret], bool]:
    """Which secrets are of the secret type ``name`` (``secret``: all of them)."""
    return _wanted(name)


def _wanted(name: str) -> Callable[[Secret], bool]:
    if name == "secret":
        return lambda s: True
    if name in FAMILY_TYPES:
        families = FAMILY_TYPES[name]
        return lambda s: s.family in families
    return lambda s: s.category == name


def secret_finder(name: str) -> Callable[[_Scan], list[Span]]:
    """The finder of one secret type (``secret`` for all of them)."""
    wanted = _wanted(name)

    def find(scan: _Scan) -> list[Span]:
        return [(s.start, s.end, s.score) for s in scan_secrets(scan) if wanted(s)]

    return find


_MASK_PREFIXES = sorted(
    {a for r in RULES for a in r.anchor.split("|") if not a.startswith(("https://", "."))}
    | {
        "sk-proj-",
        "sk-svcacct-",
        "sk-admin-",
        "sk-ant-api03-",
        "sk-ant-admin01-",
        "sk-or-v1-",
        "sk_live_",
        "sk_test_",
        "rk_live_",
        "rk_test_",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "xoxe-",
        "xoxr-",
        "glpat-",
        "https://hooks.slack.com/",
        "https://discord.com/api/webhooks/",
        "eyJ",
    },
    key=len,
    reverse=True,
)


def secret_prefix(value: str) -> str:
    """The recognisable, non-secret prefix of a secret (``sk-proj-``, ``ghp_``, ``AKIA``, a PEM
    header), or ``""``: what ``mask`` keeps."""
    m = _BEGIN.match(value)
    if m is not None:
        return m.group()
    for prefix in _MASK_PREFIXES:
        if value.startswith(prefix) and len(value) > len(prefix) + 8:
            return prefix
    return ""


#: How much text a stream holds back at most for a secret that may still be growing.
OPEN_LIMIT = 8 * 1024
_OPEN_TAIL = " \t\r\n\"'`"


def open_secret_start(text: str) -> int:
    """Where a secret that reaches the end of ``text`` starts (``len(text)`` when none).

    A stream releases text as it arrives: a token of open length (``sk-proj-...``, a PEM body)
    matches as soon as enough of it has arrived, and the rest would follow unhandled. Streams
    hold the text back from here until the secret is complete (at most :data:`OPEN_LIMIT`).
    """
    start = max(0, len(text) - OPEN_LIMIT)
    window = text[start:]
    if not window:
        return len(text)
    for s in reversed(find_secrets(window)):
        if not window[s.end :].strip(_OPEN_TAIL):
            return start + s.start
    return len(text)
