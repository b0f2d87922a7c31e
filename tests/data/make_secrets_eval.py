"""Generate secrets_eval.jsonl: a labeled evaluation set for the secret types.

Labeled by construction: each row lists the secret values it planted, with their exact text and
category (``api_key``, ``private_key``, ``jwt``, ``password``, ``generic_secret``). Values come from:

* **public examples** written by others: the ``examples`` of Nosey Parker's rule files
  (praetorian-inc/noseyparker, ``crates/noseyparker/data/default/builtin/rules/*.yml``: GitHub,
  AWS, Slack, Stripe, OpenAI, Anthropic, Google, GitLab, Twilio, Azure, generic passwords, HTTP
  auth, PostgreSQL URIs, PEM and JWT rules), the example keys of the providers' own docs (AWS
  ``AKIAIOSFODNN7EXAMPLE``, Stripe's docs test key, jwt.io's token, RFC 7617's Basic credentials,
  RFC 6750's bearer token); several of these were mutated by their authors (``ace5`` inserted),
  so they do not pass a provider's checksum and must be found by their structure;
* **documented formats**: values generated from each provider's published token format (prefix,
  alphabet, length; GitHub's CRC32 checksum in base62), JWTs built from real JSON headers, private
  keys generated with ``cryptography`` (PKCS#1, PKCS#8, OpenSSH, encrypted), passwords from Faker.

They are placed in the shapes agents see: chat, ``.env``, JSON tool arguments, Python / JS / Go /
Java / Ruby / shell code, curl commands, shell output, logs, YAML, TOML, Dockerfiles, connection
strings. **Hard negatives** (labeled with no entity): git SHAs, SHA-256 and MD5 digests, UUIDs,
password hashes (bcrypt, crypt), base64 images and file contents, public keys and certificates,
publishable keys (``pk_live_``), OAuth client ids, placeholders (``${{ secrets.X }}``,
``${VAR}``, ``<your-key>``, ``xxxx``, ``changeme``, ``os.environ[...]``), type annotations.

Every row has a ``split``: ``dev`` (used while tuning) or ``heldout`` (its own templates, its own
shapes, its own seed and the other half of each public example list; never looked at while
tuning, only its totals are reported). Run: ``python tests/data/make_secrets_eval.py``.
"""

# ruff: noqa: E501  (long sample values read better on one line)
from __future__ import annotations

import base64
import json
import random
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("secrets_eval.jsonl")
ALNUM = string.ascii_letters + string.digits
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"

# ------------------------------------------------------------------ public examples (not ours)
# (category, family, value, context names that fit it)
PUBLIC: list[tuple[str, str, str]] = [
    # Nosey Parker github.yml
    ("api_key", "github", "ghp_XIxB7KMNdAr3zqWtQqhE94qglHqOzn1D1stg"),
    ("api_key", "github", "ghp_4U3LSowpDx8XvYE7A8GH56oxU5aWnY2mzIbV"),
    ("api_key", "github", "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"),
    ("api_key", "github", "gho_psT9pqNFsehnc4se0ZzzR0HBxapxZD35hNHi"),
    ("api_key", "github", "gho_fq75OMU7UVbS9pTZmoCCzJT6TM5d1w099FgG"),
    ("api_key", "github", "ghu_16C7e42F292c69C2E7C10c838347Ae178B4a"),
    ("api_key", "github", "ghs_RguXIkihJjwHAP6eXEYxaPNvywurTr5IOAbg"),
    (
        "api_key",
        "github",
        "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c3CE1ccbF66C46812d16D5B1A9Dc86A1498",
    ),
    (
        "api_key",
        "github",
        "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",
    ),
    # AWS docs and Nosey Parker aws.yml
    ("api_key", "aws", "AKIAIOSFODNN7EXAMPLE"),
    ("api_key", "aws", "AKIAIDQJ6PTGDFFWYX7A"),
    ("api_key", "aws_secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("api_key", "aws_secret", "0qk+o7XctJMmG6ydO8537c9+TofLJU1K0PiVBXSg"),
    ("api_key", "aws_secret", "IwJz1SHMccAKUKuskdVoHFfkre73BTyF80nRmcWc"),
    # Nosey Parker slack.yml
    ("api_key", "slack", "xoxb-893582989554-899326518131-JRHeVv1o9Cf99fwDpuortR2D"),
    ("api_key", "slack", "xoxb-31446298938-537092655923-AeFmqVRV5nS3q028kmmHUFm3"),
    ("api_key", "slack", "xoxb-262541194339-1293084920079-Z21cXgXdDdZDABIcrdG3D9OF"),
    (
        "api_key",
        "slack",
        "xoxp-513768634356-513201028496-513937500594-185e196ace562dd6443b5d29b1d817c2",
    ),
    (
        "api_key",
        "slack",
        "xoxp-283316862324-298911817009-298923149681-44f585044dace54f5701618e97cd1c0b",
    ),
    (
        "api_key",
        "slack",
        "xoxp-113726990690-113803571044-155105854433-53ffb9d16ace50aa79aa1c425a68b131",
    ),
    ("api_key", "slack", "xoxb-153445930147-Tjy11gGxUW6Cf99YOYwtzG0K"),
    ("api_key", "slack", "xoxb-47834520726-N3otsrwj8Cf99cs8GhiRZsX1"),
    (
        "api_key",
        "slack",
        "https://hooks.slack.com/services/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",
    ),
    (
        "api_key",
        "slack",
        "https://hooks.slack.com/services/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",
    ),
    # Stripe (Nosey Parker stripe.yml; Stripe's docs test key)
    ("api_key", "stripe", "sk_live_dhhfUUyfrAace5dBAZ10JrAD"),
    ("api_key", "stripe", "sk_live_qdyFazIVmace52bThiOzbEVT"),
    ("api_key", "stripe", "sk_test_nxOdTTuEace5Ajbh3svpG32m"),
    ("api_key", "stripe", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
    # OpenAI, Anthropic (Nosey Parker)
    ("api_key", "openai", "sk-mxIt5s1tyfCJyIKHwrqOT4BlbkFJT3VVmv6VdSwB7XXIq1TO"),
    (
        "api_key",
        "anthropic",
        "sk-ant-api03-jSq6OMjv1syXaEUE0bvOckLe_GtCKy8lvZdko3eOJgV8TH-f2iyzRekyZNSby5d9ScikGYuqQhsrxML3X3N3rQ-XwQaQAAA",
    ),
    (
        "api_key",
        "anthropic",
        "sk-ant-api03-f-SD8UXTHZuL3dhlRLMzMh7sxOopjFG510MC0B6g5Whzu2gM6gYJrQUduYWWQkG8XvkjeVj-MfYvtzMBF7NXSg-W34tmAAA",
    ),
    # Google (Nosey Parker google.yml)
    ("api_key", "google", "AIzaSyB4sU8lU15bR_87qNb7eUVQN72_vv8mpbU"),
    ("api_key", "google", "AIzaSyBnAoO3VNVUco4MXf4enYCVBg6ZnpY49N-"),
    ("api_key", "google", "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"),
    ("api_key", "google", "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"),
    (
        "api_key",
        "google",
        "ya29.A0ARrdaM--PV_87ebjywDJpXKb77NBFJl16meVUapYdfNv6W6ZzCu947fNaPaRjbDbOIIcp6f49cMaX5ndK9TAFnKwlVqz3nrK9nLKqgyDIhYsIq47smcAIZkK56SWPx3X3DwAFqRu2UPojpd2upWwo-3uJrod",
    ),
    (
        "api_key",
        "google",
        "ya29.Ci_UA7aEsvT6-oVI8f96kvB6i8oO13WgdZUviLaCVtpEPYZqhQcQycR-u2X9xtmYGA",
    ),
    # GitLab, Twilio, Azure (Nosey Parker)
    ("api_key", "gitlab", "glpat-tFrjFXD7soVU2fqxuDMh"),
    ("api_key", "gitlab", "GR1348941_iAgdMy7a3NhZaa5oNoH"),
    ("api_key", "gitlab", "glptt-0d66598d696a02da33fb65e2a041f607c68ea50d"),
    ("api_key", "twilio", "SK9b4cc552783500ace5414a1ed3e9fd1a"),
    ("api_key", "twilio", "SK6e84981d07ace5c9df33e1ab043a2fb2"),
    (
        "api_key",
        "azure_storage",
        "6jqh42QQjWWBwoPGGR/Jr0PZjhBMZVbHm/gkhEfHvOj8aV6+oI8ed6ZAAwB5a6993WqyQDiuJJB0QpseJwqYxw==",
    ),
    (
        "api_key",
        "azure_storage",
        "NjEwGHd9+piK+iCi2C2XURWPmeDDjif9UKN1HAszYptL4iQ+yD7/dgjLMZc3VOpURsa53aJ4HZfbVWzL429C5g==",
    ),
    ("api_key", "azure_sas", "S8ii67l3Gd1Ba69az78iP9UksewzhjvUfh1DIuDs30w="),
    # generic secrets by context (Nosey Parker generic/google/twilio/github/jwt/azure rules)
    ("generic_secret", "generic", "6fb1cff7690db9ac066cadbbde8e3c078efdabcf"),
    ("generic_secret", "generic", "951bc382db9abad29c68634761dd6e19"),
    ("generic_secret", "generic", "37d02377a3e9d849e18704c3ec883f9c5787d857"),
    ("generic_secret", "generic", "fnhqAakzWrX-mtFQ4PRdMoy0"),
    ("generic_secret", "generic", "Ufvuj-d6alhwGKvvLh_8Nq0K"),
    ("generic_secret", "generic", "1QcFpNjHoAf4_XczYwhYicTl"),
    ("generic_secret", "generic", "l6LUelKF2BUtMLace5oShZSmRppadYqI"),
    ("generic_secret", "generic", "wbTs1SUt6Aace5eKeNCxuYvJa6PhaRd0"),
    ("generic_secret", "generic", "acb1ca5bc8d7fb2ef9f890f1be16d964"),
    ("generic_secret", "generic", "zpczok4kqgnw5prpfy3ehiylbqvgbjfkdiqkejsxqamy7qbkep7q"),
    ("generic_secret", "generic", "58oo4mvqr2tpw7b4w3loeckwfu5o6nw3sihfckvlwoxgqimlddza"),
    ("generic_secret", "generic", "iyfmob6xjrfmit67anxbot64umfx2clwx7dz5ynxi4q2z3uqegvq"),
    ("generic_secret", "bearer", "mF_9.B5f-4.1JqM"),  # RFC 6750
    # passwords (Nosey Parker generic.yml, postgres.yml)
    ("password", "password", "super$ecret"),
    ("password", "password", "1qay@WXS????"),
    ("password", "password", "`123QWERasdf"),
    ("password", "password", "abuser123456"),
    ("password", "password", "4ian1234"),
    ("password", "password", "52VeZqtHDCdAr5yM"),
    ("password", "password", "thisismypassword"),
    ("password", "password", "Pass123!@#"),
    ("password", "password", "Prestigitariu$"),
    ("password", "password", "Secret123"),
    ("password", "password", "blooberry"),
    ("password", "password", "vzihlaquknriqlht"),
    ("password", "password", "AP7JaG9ToerxBc6gWP5LcU2CNpb"),
    ("password", "password", "Pseg2020"),
    ("password", "password", "#gets0m3"),
    ("password", "password", "Rrhh1234"),
    # JWTs: jwt.io's example, Nosey Parker jwt.yml
    (
        "jwt",
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    (
        "jwt",
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJsb2dnZWRJbkFzIjoiYWRtaW4iLCJpYXQiOjE0MjI3Nzk2Mzh9.gzSraSYS8EXBxLN_oWnFSRgCzcmEmMjLiuyu5CSpyHI",
    ),
    (
        "jwt",
        "jwt",
        "eyJhbGciOiJIUzI1NiIsEnR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJlZiI6InFqcnVqc2lzY2Nzdnl2am5xdG5xIiwicm9sZSI6ImEub24iLCJpYXQiOjE2NTY1OTY0NjEsImV4cCI6MTk3MjE3MjQ2MX0.WQWcwBAQFNE259f2o8ruFln_UMLTFEnEaUD7KHrs9Aw",
    ),
]

#: The OpenSSH key body of Nosey Parker's pem.yml example (labelled there as an RSA key).
NP_PEM_BODY = """b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAlwAAAAdzc2gtcn
NhAAAAAwEAAQAAAIEAtDSHFO5tfN+jYMJuiNvBaplkSI3eFqKMLOvXyVu+dmSEic6xyKWQ
qjQiFpXogArvAq2tBxWOq7F+a6rNhDKdICD2amRwDHqKD1bzXVSZ5c1XnpCFsBiQaEyX2i
qyjScnntFHIpTCVHNxILDxsStocj64YS0C7hfCGVhft/Ts/O0AAAIQJOKnUyTip1MAAAAH
c3NoLXJzYQAAAIEAtDSHFO5tfN+jYMJuiNvBaplkSI3eFqKMLOvXyVu+dmSEic6xyKWQqj
QiFpXogArvAq2tBxWOq7F+a6rNhDKdICD2amRwDHqKD1bzXVSZ5c1XnpCFsBiQaEyX2iqy
jScnntFHIpTCVHNxILDxsStocj6Cf99C7hfCGVhft/Ts/O0AAAADAQABAAAAgBcaTN8gGi
VSPo3fH3CoS8mw1KyAk6JvQG1Z5xZHjsl65YsNVrmUkFFh0aT3nxEbVb0QKwineN0GKmD/
Ss3R91a573gzli7TJPFCHhhBbE7FRC4KQMTc1/UANwFYQVcfZ4n9IVHr3jiWToSY3XbC66
Zcd0sg+d+YRjIxUktuNFHBAAAAQQCOOKbSUJAWzcTDbxImwDCAfBMlEeMAnJrwobL/zxbT
GhKdnqnomoreFdYL8vOcOlwZG0hUKIA6AM1GsMzp6aCwAAAAQQDmAABpOQnkDy8v8kTDhP
dW3lAqRGOU4WRWj7WystQv/VjuJpceekhOyhNJBuNHDKZ3IT1agAZHIhhL+webE2S1AAAA
QQDIk4H1agCohlHUg50PcyKzE/zZ85Gw0ErTmgqIIGd4B1AqUtjwVe1qFoqHuZPtq2cbVF
1HTHh6GX//J6rKWVJZAAAAGWJsYXJzZW5AYnJhZGZvcmRzLW1icC5sYW4B"""

#: Hard negatives from public material: Nosey Parker's negative examples and hashes.yml,
#: the placeholder in its slack.yml, Stripe's publishable key there, Google client ids.
PUBLIC_NEGATIVES = [
    'export SLACK_TOKEN="xoxb-0000000000-0000000000000-xxxxxxxxxxxxxxxxxxxxxxxx"',
    "STRIPE_PUBLISHABLE_KEY=pk_test_aQbfVWeaCesES5FRSY7iIjk9",
    "      GOOGLE_OAUTH2_CLIENT_ID = '607830223128-4qgthc7ofdqce232dk690t5jgkm1ce33.apps.googleusercontent.com'",
    "                 'clientID' : '231545488769-4d1mcev9vifvlncrern52id2pqqf5u5l.apps.googleusercontent.com',",
    "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    "password_hash: $2y$12$atWJ1Nx6ep65tNx0YIJ4I.jzgI86znQbNRI3lF0qIt/XCYnEPxSc2",
    "root:$6$qoE2letU$wWPRl.PVczjzeMVgjiA8LLy2nOyZbf7Amj3qLIL978o18gbMySdKZ7uepq9tmMQXxyTIrS12Pln.2Q/6Xscao0:19000:0:99999:7:::",
    "$5$rounds=5000$GX7BopJZJxPc/KEK$le16UF8I2Anb.rOrn22AUPWvzUETDGefUmAV8AZkGcD",
    'password = "123"',
    "password = 'super$ecret' if False else None  # see vault",
    '"password": "$super$ecret",',
    'sb.append("MasterUserPassword: " + getMasterUserPassword() + ",");',
    'export PGPASSWORD="$gdcapi_db_password"',
    'define wget::authfetch($source,$destination,$user,$password="",$timeout="0",$verbose=false) {',
    "- echo 'export DATABASE_PASSWORD=\"'$PRECOMPILE_PASSWORD'\"' >> .env",
    '"password": "&lt;YOURPASSWROD&gt;"',
    'IAMUserChangePassword = "arn:aws:iam::aws:policy/IAMUserChangePassword"',
    'this.addPassword = "#add-password";',
    "echo 'password = '.$p['config']['daemon_password'].\"\\n\";",
    'usernameLabel:"Username or email:",passwordLabel:"Password:",rememberMeLabel:"Remember me:"',
    "AccountName=<YOUR_ACCOUNT_NAME>;\nAccountKey=<YOUR_ACCOUNT_KEY>;",
    "AccountName={2};AccountKey={3};",
    "SharedAccessKeyName=[Shared Access Key Name goes here];SharedAccessKey=[Shared Access key goes here];",
    "let accountName = $accountName;\nlet accountKey = $accountKey;",
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;EndpointSuffix=ai.contoso.com;",
    "az appconfig feature delete --connection-string Endpoint=https://contoso.azconfig.io;Id=xxx;Secret=xxx --feature color --label MyLabel",
    'it "sets the relation to nil" do\n  eye.eyeable.should be_nill\nend',
    "arn:aws:iam::123456789012:user/Development/product_1234/*",
    '"KeyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",',
]


# ------------------------------------------------------------------ documented formats


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b62(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(6, "0")


def github_token(rng: random.Random, prefix: str) -> str:
    body = rand(rng, ALNUM, 30)
    return f"{prefix}_{body}{b62(zlib.crc32(body.encode()))}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(rng: random.Random) -> str:
    alg = rng.choice(["HS256", "RS256", "ES256", "HS512", "PS256", "EdDSA"])
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if rng.random() < 0.4:
        header["kid"] = rand(rng, ALNUM, 16)
    if rng.random() < 0.3:
        header = {"typ": "JWT", "alg": alg}
    payload = {
        "sub": str(rng.randint(10**5, 10**9)),
        "iat": rng.randint(1_500_000_000, 1_800_000_000),
        rng.choice(["name", "email", "role", "scope", "aud"]): rng.choice(
            ["admin", "user@example.com", "read:all", "api", "Jane Doe"]
        ),
    }
    if rng.random() < 0.5:
        payload["exp"] = payload["iat"] + 3600
    sig_len = {"HS256": 32, "HS512": 64, "RS256": 256, "PS256": 256, "ES256": 64, "EdDSA": 64}[alg]
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{head}.{body}.{b64url(rng.randbytes(sig_len))}"


def formats(rng: random.Random) -> list[tuple[str, str, str]]:
    """(category, family, value) generated from each provider's documented format."""
    r = rng
    out = [
        ("api_key", "github", github_token(r, "ghp")),
        ("api_key", "github", github_token(r, "gho")),
        ("api_key", "github", github_token(r, "ghs")),
        ("api_key", "github", github_token(r, "ghu")),
        (
            "api_key",
            "github",
            f"github_pat_11{rand(r, string.ascii_uppercase + string.digits, 20)}_{rand(r, ALNUM, 59)}",
        ),
        ("api_key", "aws", "AKIA" + rand(r, string.ascii_uppercase + "234567", 16)),
        ("api_key", "aws", "ASIA" + rand(r, string.ascii_uppercase + "234567", 16)),
        ("api_key", "aws_secret", rand(r, B64, 40)),
        (
            "api_key",
            "slack",
            f"xoxb-{r.randint(10**10, 10**12)}-{r.randint(10**11, 10**13)}-{rand(r, ALNUM, 24)}",
        ),
        (
            "api_key",
            "slack",
            f"xoxp-{r.randint(10**10, 10**12)}-{r.randint(10**10, 10**12)}-{r.randint(10**11, 10**12)}-{rand(r, HEX, 32)}",
        ),
        (
            "api_key",
            "slack",
            f"xapp-1-A{rand(r, string.ascii_uppercase + string.digits, 10)}-{r.randint(10**12, 10**13)}-{rand(r, HEX, 64)}",
        ),
        (
            "api_key",
            "slack",
            f"https://hooks.slack.com/services/T{rand(r, string.ascii_uppercase + string.digits, 8)}/B{rand(r, string.ascii_uppercase + string.digits, 10)}/{rand(r, ALNUM, 24)}",
        ),
        ("api_key", "stripe", "sk_live_" + rand(r, ALNUM, r.choice([24, 99]))),
        ("api_key", "stripe", "sk_test_" + rand(r, ALNUM, r.choice([24, 99]))),
        ("api_key", "stripe", "rk_live_" + rand(r, ALNUM, r.choice([24, 99]))),
        ("api_key", "stripe", "whsec_" + rand(r, ALNUM, 32)),
        ("api_key", "openai", "sk-" + rand(r, ALNUM, 20) + "T3BlbkFJ" + rand(r, ALNUM, 20)),
        ("api_key", "openai", "sk-proj-" + rand(r, B64URL, 74) + "T3BlbkFJ" + rand(r, B64URL, 74)),
        (
            "api_key",
            "openai",
            "sk-svcacct-" + rand(r, B64URL, 74) + "T3BlbkFJ" + rand(r, B64URL, 74),
        ),
        ("api_key", "openai", "sk-admin-" + rand(r, B64URL, 74) + "T3BlbkFJ" + rand(r, B64URL, 74)),
        ("api_key", "anthropic", "sk-ant-api03-" + rand(r, B64URL, 93) + "AA"),
        ("api_key", "anthropic", "sk-ant-admin01-" + rand(r, B64URL, 93) + "AA"),
        ("api_key", "google", "AIza" + rand(r, B64URL, 35)),
        ("api_key", "google", "GOCSPX-" + rand(r, B64URL, 28)),
        ("api_key", "google", "ya29." + rand(r, B64URL, r.randint(60, 180))),
        ("api_key", "gitlab", "glpat-" + rand(r, B64URL, 20)),
        ("api_key", "gitlab", "glrt-" + rand(r, B64URL, 20)),
        ("api_key", "npm", "npm_" + rand(r, ALNUM, 36)),
        ("api_key", "pypi", "pypi-AgEIcHlwaS5vcmc" + rand(r, B64URL, r.randint(70, 160))),
        ("api_key", "huggingface", "hf_" + rand(r, string.ascii_letters, 34)),
        ("api_key", "sendgrid", "SG." + rand(r, B64URL, 22) + "." + rand(r, B64URL, 43)),
        ("api_key", "twilio", "SK" + rand(r, HEX, 32)),
        (
            "api_key",
            "shopify",
            r.choice(["shpat_", "shpss_", "shpca_", "shppa_"]) + rand(r, HEX, 32),
        ),
        ("api_key", "digitalocean", r.choice(["dop_v1_", "doo_v1_", "dor_v1_"]) + rand(r, HEX, 64)),
        ("api_key", "databricks", "dapi" + rand(r, HEX, 32)),
        ("api_key", "mailgun", "key-" + rand(r, HEX, 32)),
        ("api_key", "mailchimp", rand(r, HEX, 32) + f"-us{r.randint(1, 21)}"),
        ("api_key", "groq", "gsk_" + rand(r, ALNUM, 52)),
        ("api_key", "replicate", "r8_" + rand(r, ALNUM, 37)),
        ("api_key", "perplexity", "pplx-" + rand(r, ALNUM, 48)),
        ("api_key", "openrouter", "sk-or-v1-" + rand(r, HEX, 64)),
        (
            "api_key",
            "langsmith",
            f"lsv2_{r.choice(['pt', 'sk'])}_{rand(r, HEX, 32)}_{rand(r, HEX, 10)}",
        ),
        ("api_key", "linear", "lin_api_" + rand(r, ALNUM, 40)),
        ("api_key", "notion", "ntn_" + rand(r, ALNUM, 46)),
        ("api_key", "postman", f"PMAK-{rand(r, HEX, 24)}-{rand(r, HEX, 34)}"),
        ("api_key", "grafana", "glsa_" + rand(r, ALNUM, 32) + "_" + rand(r, HEX, 8)),
        ("api_key", "doppler", "dp.pt." + rand(r, ALNUM, 43)),
        ("api_key", "vault", "hvs." + rand(r, B64URL, 90)),
        ("api_key", "telegram", f"{r.randint(10**8, 10**10)}:AA{rand(r, B64URL, 33)}"),
        (
            "api_key",
            "atlassian",
            "ATATT3xFfGF0" + rand(r, B64URL, 170) + "=" + rand(r, HEX.upper(), 8),
        ),
        ("api_key", "supabase", "sbp_" + rand(r, HEX, 40)),
        ("api_key", "planetscale", "pscale_tkn_" + rand(r, B64URL, 43)),
        ("api_key", "dockerhub", "dckr_pat_" + rand(r, B64URL, 27)),
        ("api_key", "figma", "figd_" + rand(r, B64URL, 40)),
        ("api_key", "sentry", "sntrys_eyJpYXQiOjE3MDAwMDAwMDB9_" + rand(r, B64URL, 43)),
        ("api_key", "square", "EAAA" + rand(r, B64URL, 60)),
        ("api_key", "age", "AGE-SECRET-KEY-1" + rand(r, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)),
        ("api_key", "xai", "xai-" + rand(r, ALNUM, 80)),
        ("api_key", "airtable", "pat" + rand(r, ALNUM, 14) + "." + rand(r, HEX, 64)),
        ("api_key", "rubygems", "rubygems_" + rand(r, HEX, 48)),
        ("api_key", "azure_storage", rand(r, B64, 86) + "=="),
        ("jwt", "jwt", make_jwt(r)),
        ("jwt", "jwt", make_jwt(r)),
        ("jwt", "jwt", make_jwt(r)),
        ("generic_secret", "generic", rand(r, HEX, r.choice([32, 40, 64]))),
        ("generic_secret", "generic", rand(r, ALNUM, r.choice([24, 32, 40]))),
        ("generic_secret", "generic", rand(r, B64URL, r.choice([32, 43]))),
        (
            "generic_secret",
            "generic",
            base64.b64encode(r.randbytes(r.choice([24, 32, 48]))).decode(),
        ),
        (
            "generic_secret",
            "django",
            "django-insecure-"
            + rand(r, string.ascii_lowercase + string.digits + "!@#%^&*(-_=+)", 50),
        ),
        ("generic_secret", "bearer", rand(r, B64URL + ".", r.randint(24, 60)).strip(".")),
    ]
    return out


def password(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.35:
        return rand(rng, ALNUM + "!@#%^&*_-+=?", rng.randint(10, 24))
    if kind < 0.6:
        word = rng.choice(
            [
                "summer",
                "dragon",
                "sunshine",
                "monkey",
                "letmein",
                "falcon",
                "orange",
                "bluesky",
                "coffee",
                "tiger",
                "winter",
                "rocket",
            ]
        )
        return word.capitalize() + str(rng.randint(1, 9999)) + rng.choice(["!", "#", "", "?", "$"])
    if kind < 0.8:
        return "-".join(
            rng.choice(
                [
                    "correct",
                    "horse",
                    "battery",
                    "staple",
                    "violet",
                    "anchor",
                    "pepper",
                    "glacier",
                    "meadow",
                ]
            )
            for _ in range(rng.randint(3, 4))
        )
    return rand(rng, string.ascii_lowercase + string.digits, rng.randint(8, 16))


def private_keys(rng: random.Random) -> list[str]:
    """PEM / OpenSSH private keys generated with ``cryptography`` (seeded selection only)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    keys: list[str] = []
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=rng.choice([1024, 2048]))
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    enc = serialization.Encoding.PEM
    keys.append(
        rsa_key.private_bytes(
            enc, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
    )
    keys.append(
        rsa_key.private_bytes(
            enc, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    )
    keys.append(
        ec_key.private_bytes(
            enc, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
    )
    keys.append(
        ed_key.private_bytes(
            enc, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
    )
    keys.append(
        ec_key.private_bytes(
            enc, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        ).decode()
    )
    keys.append(
        "-----BEGIN RSA PRIVATE KEY-----\n" + NP_PEM_BODY + "\n-----END RSA PRIVATE KEY-----"
    )
    return [k.strip() for k in keys]


def public_key_texts() -> list[str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    pem = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    ssh_rsa = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    ssh_ed = (
        ed_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return [
        f"Here is the public key to add to the server:\n{pem}",
        f"cat ~/.ssh/id_rsa.pub\n{ssh_rsa} deploy@ci-runner",
        f"authorized_keys:\n  - {ssh_ed} alice@laptop",
        f'{{"name": "add_deploy_key", "args": {{"key": "{ssh_ed} bot@example.com", "read_only": true}}}}',
    ]


# ------------------------------------------------------------------ shapes

#: context names per family: the variable or header names a value is written under
NAMES: dict[str, list[str]] = {
    "github": ["GITHUB_TOKEN", "GH_TOKEN", "github_token", "token", "GITHUB_PAT"],
    "aws": ["AWS_ACCESS_KEY_ID", "aws_access_key_id", "AccessKeyId", "access_key"],
    "aws_secret": [
        "AWS_SECRET_ACCESS_KEY",
        "aws_secret_access_key",
        "SecretAccessKey",
        "aws_secret_key",
    ],
    "slack": ["SLACK_BOT_TOKEN", "slack_token", "SLACK_WEBHOOK_URL", "token"],
    "stripe": ["STRIPE_SECRET_KEY", "stripe_api_key", "Stripe.api_key", "secretKey"],
    "openai": ["OPENAI_API_KEY", "openai_api_key", "api_key", "apiKey"],
    "anthropic": ["ANTHROPIC_API_KEY", "anthropic_api_key", "api_key", "x-api-key"],
    "google": ["GOOGLE_API_KEY", "GOOGLE_CLIENT_SECRET", "access_token", "key"],
    "azure_storage": ["AccountKey", "AZURE_STORAGE_KEY", "storage_account_key"],
    "azure_sas": ["SharedAccessKey"],
    "generic": [
        "SECRET_KEY",
        "client_secret",
        "API_SECRET",
        "api_key",
        "APP_SECRET",
        "webhook_secret",
        "auth_token",
        "secret",
        "access_token",
        "MISTRAL_API_KEY",
        "COHERE_API_KEY",
        "SENTRY_AUTH_TOKEN",
        "encryption_key",
        "X-Api-Key",
        "CLOUDFLARE_API_TOKEN",
        "session_secret",
        "private_token",
    ],
    "django": ["SECRET_KEY", "DJANGO_SECRET_KEY"],
    "bearer": ["Authorization"],
    "password": [
        "password",
        "DB_PASSWORD",
        "POSTGRES_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "passwd",
        "pwd",
        "admin_password",
        "smtp_password",
        "REDIS_PASSWORD",
        "db_pass",
        "pass",
        "PGPASSWORD",
        "adminPassword",
        "keystore_password",
    ],
    "jwt": [
        "token",
        "access_token",
        "id_token",
        "JWT",
        "Authorization",
        "refresh_token",
        "SUPABASE_ANON_KEY",
    ],
}
DEFAULT_NAMES = ["API_KEY", "api_key", "token", "API_TOKEN", "access_token", "secret"]

FILLER = [
    "the build keeps failing on the integration step",
    "can you figure out why the request returns 401",
    "deploy is scheduled for Thursday",
    "this is from the staging box",
    "the job ran at 02:00 UTC and exited with status 1",
    "logs attached below",
]

# shape templates: {n} the name, {v} the value, {f} a filler phrase
SHAPES: dict[str, list[str]] = {
    "dev": [
        "{n}={v}",
        "export {n}={v}",
        '{n}="{v}"',
        '{{"tool": "http_request", "args": {{"url": "https://api.example.com/v1/items", "headers": {{"{n}": "{v}"}}}}}}',
        '{{"{n}": "{v}", "region": "eu-west-1", "timeout": 30}}',
        '{n} = "{v}"\nclient = Client({n_lower}={n})',
        "{n}: {v}",
        "{n}: '{v}'",
        "hey, {f}. my {n} is {v} if that helps",
        "I set {n} to {v} but {f}",
        "settings.py:\n    {n} = '{v}'\n    DEBUG = False",
        "docker run -e {n}={v} -p 8080:8080 myapp:latest",
        '{{"containerDefinitions": [{{"environment": [{{"name": "{n_upper}", "value": "{v}"}}]}}]}}',
        '{{"role": "tool", "content": "$ cat .env\\n{n}={v}\\nDEBUG=1\\n"}}',
        '<add key="{n}" value="{v}" />',
        "<{n_camel}>{v}</{n_camel}>",
        "GET https://api.example.com/v1/export?{n_lower}={v}&format=csv HTTP/1.1",
    ],
    "heldout": [
        "$ env | grep -i {n_grep}\n{n}={v}\nHOME=/home/app",
        "2026-11-30T08:14:22Z INFO  boot: loaded config {n}={v} pid=4412",
        "const {n_camel} = '{v}';\nmodule.exports = {{ {n_camel} }};",
        '{n_camel} := "{v}"\nclient := api.New({n_camel})',
        'private static final String {n_upper} = "{v}";',
        "config.{n_lower} = '{v}'  # {f}",
        "[default]\n{n_lower} = {v}\nregion = us-east-1",
        'env:\n  - name: {n_upper}\n    value: "{v}"',
        '$env:{n_upper} = "{v}"',
        "Here's what's in my .env ({f}):\n```\n{n}={v}\n```",
        "set -x\n+ {n_upper}={v} ./deploy.sh --prod",
        'tool_call: {{"name": "write_file", "arguments": {{"path": ".env", "content": "{n}={v}\\nPORT=3000\\n"}}}}',
    ],
}
#: shapes for values that carry their own format: no name needed around them
BARE: dict[str, list[str]] = {
    "dev": [
        "here is the key: {v} ({f})",
        "curl -s https://api.example.com/v1/me -H 'Authorization: Bearer {v}'",
        "can you check {v}? {f}",
        'requests.get(url, headers={{"Authorization": "token {v}"}})',
        "git clone https://x-access-token:{v}@github.com/acme/app.git",
    ],
    "heldout": [
        "> {f}\nuse {v} for now, I'll rotate it later",
        'curl "https://api.example.com/v2/search?q=test&key={v}"',
        "fetch(url, {{ headers: {{ Authorization: `Bearer {v}` }} }})",
        "ERROR 401 Unauthorized for token={v} (request id 7f3c2a)",
        "the old one was {v} - revoked?",
    ],
}
PASSWORD_SHAPES: dict[str, list[str]] = {
    "dev": [
        "postgres://app:{v}@db.internal:5432/orders",
        "mysql://root:{v}@127.0.0.1:3306/shop",
        "mongodb+srv://admin:{v}@cluster0.ab1cd.mongodb.net/test?retryWrites=true",
        "curl -u admin:{v} https://jenkins.example.com/api/json",
        "Server=tcp:sql01,1433;Database=Sales;User ID=sa;Password={v};Encrypt=True;",
        "my {n} is {v} but login fails",
        "machine ftp.example.com login deploy password {v}",
        "docker login -u ci-bot -p {v} registry.example.com",
    ],
    "heldout": [
        "redis://:{v}@cache.internal:6379/0",
        "amqp://guest:{v}@rabbit:5672/vhost",
        "DATABASE_URL=postgresql://deploy:{v}@10.0.3.12/app_prod",
        "mysql -h db -u root -p'{v}' -e 'show databases'",
        "jdbc:sqlserver://db:1433;databaseName=hr;user=hr_app;password={v}",
        "wget --user=ci --password='{v}' https://artifacts.example.com/build.tgz",
    ],
}
PEM_SHAPES: dict[str, list[str]] = {
    "dev": [
        "{f}, here is the key file:\n{v}\n",
        "$ cat ~/.ssh/id_rsa\n{v}\n$ ",
        "{json}",
    ],
    "heldout": [
        "tls:\n  key: |\n{indented}\n  cert: /etc/ssl/cert.pem",
        '{{"type": "service_account", "project_id": "demo-123", "private_key_id": "1a2b3c", "private_key": {escaped}, "client_email": "bot@demo-123.iam.gserviceaccount.com"}}',
        "read_file('deploy/key.pem') returned:\n{v}",
    ],
}
NEGATIVE_TEMPLATES: dict[str, list[Callable[[random.Random], str]]] = {}


def _neg_templates() -> list[Callable[[random.Random], str]]:
    def sha(r: random.Random, n: int) -> str:
        return rand(r, HEX, n)

    def uuid(r: random.Random) -> str:
        h = rand(r, HEX, 32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    return [
        lambda r: f"commit {sha(r, 40)}\nAuthor: Jane Roe <jane@example.com>\n\n    fix flaky test",
        lambda r: f"git checkout {sha(r, 7)} && git cherry-pick {sha(r, 40)}",
        lambda r: f"{sha(r, 64)}  dist/app-1.4.2.tar.gz",
        lambda r: f'"integrity": "sha512-{base64.b64encode(r.randbytes(64)).decode()}"',
        lambda r: f"image: ghcr.io/acme/api@sha256:{sha(r, 64)}",
        lambda r: f"request_id={uuid(r)} status=200 duration_ms={r.randint(3, 900)}",
        lambda r: (
            f'{{"id": "{uuid(r)}", "object": "customer", "created": {r.randint(1600000000, 1800000000)}}}'
        ),
        lambda r: f'ETag: "{sha(r, 32)}"',
        lambda r: f"md5sum report.pdf\n{sha(r, 32)}  report.pdf",
        lambda r: (
            f'<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{base64.b64encode(r.randbytes(90)).decode()}">'
        ),
        lambda r: (
            f'{{"name": "README.md", "encoding": "base64", "content": "{base64.b64encode(b"# Project " + r.randbytes(60)).decode()}"}}'
        ),
        lambda r: (
            "env:\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}"
        ),
        lambda r: "OPENAI_API_KEY=${OPENAI_API_KEY}\nDATABASE_URL=${DATABASE_URL}",
        lambda r: 'api_key = os.environ["OPENAI_API_KEY"]\npassword = os.getenv("DB_PASSWORD")',
        lambda r: "const stripe = new Stripe(process.env.STRIPE_SECRET_KEY);",
        lambda r: "ANTHROPIC_API_KEY=<your-api-key>\nSLACK_BOT_TOKEN=<your-bot-token>",
        lambda r: "API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nSECRET=changeme",
        lambda r: 'password: "changeme"\nadmin_password: "********"',
        lambda r: (
            "export AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX\nexport AWS_SECRET_ACCESS_KEY=YOUR_SECRET_ACCESS_KEY"
        ),
        lambda r: "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        lambda r: "Set OPENAI_API_KEY=sk-... in your shell, then run the script.",
        lambda r: (
            "class Settings(BaseModel):\n    password: str\n    api_key: Optional[str] = None\n    token: SecretStr"
        ),
        lambda r: "interface Credentials {\n  password: string;\n  apiKey?: string;\n}",
        lambda r: 'password = request.form["password"]\ntoken = await get_token(user)',
        lambda r: 'headers = {"Authorization": f"Bearer {token}"}',
        lambda r: 'curl -H "Authorization: Bearer $TOKEN" https://api.example.com/v1/me',
        lambda r: "Reset your password from the settings page; the token expires after one hour.",
        lambda r: "We rotate API keys every 90 days and never store passwords in plain text.",
        lambda r: "password=None, api_key=settings.API_KEY, token=token",
        lambda r: 'DB_PASSWORD=""\nAPI_TOKEN=',
        lambda r: "git clone git@github.com:acme/app.git && ssh -T git@github.com",
        lambda r: (
            f"https://{sha(r, 32)}@o{r.randint(10000, 999999)}.ingest.sentry.io/{r.randint(1000, 99999)}"
        ),
        lambda r: f"STRIPE_PUBLISHABLE_KEY=pk_live_{rand(r, ALNUM, 24)}",
        lambda r: f"container {sha(r, 12)} exited (137) after {r.randint(2, 90)}s",
        lambda r: (
            f'aws sts get-caller-identity\n{{"UserId": "AIDA{rand(r, string.ascii_uppercase, 16)}", "Account": "{r.randint(10**11, 10**12 - 1)}", "Arn": "arn:aws:iam::{r.randint(10**11, 10**12 - 1)}:user/ci"}}'
        ),
        lambda r: f"session id {uuid(r)}, trace {sha(r, 32)}, span {sha(r, 16)}",
        lambda r: "password: {{ .Values.db.password }}\ntoken: {{ vault_token }}",
        lambda r: "SECRET_KEY=your-secret-key-here\nAPI_KEY=your_api_key_here",
        lambda r: (
            f"Tests passed: {r.randint(100, 900)} (seed {r.randint(10**8, 10**9)}) in {r.random() * 60:.2f}s"
        ),
        lambda r: (
            f"The wifi network is Office-{r.randint(1, 9)} and the printer is on floor {r.randint(1, 5)}."
        ),
        lambda r: f"v{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 99)}+build.{sha(r, 8)}",
        lambda r: "Authorization: Bearer <token>\nX-API-Key: {API_KEY}",
        lambda r: "mysql://user:password@localhost:3306/db",
        lambda r: (
            f"Token usage: prompt_tokens={r.randint(10, 4000)} completion_tokens={r.randint(10, 900)} total_tokens={r.randint(4000, 5000)}"
        ),
        lambda r: (
            f"npm notice shasum: {sha(r, 40)}\nnpm notice integrity: sha512-{base64.b64encode(r.randbytes(20)).decode()}[...]"
        ),
    ]


# ------------------------------------------------------------------ builder


def _camel(name: str) -> str:
    parts = [p for p in name.replace("-", "_").replace(".", "_").lower().split("_") if p]
    return parts[0] + "".join(p.capitalize() for p in parts[1:]) if parts else "value"


def _escape_json(text: str) -> str:
    return json.dumps(text)


@dataclass
class Builder:
    split: str
    seed: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def row(self, text: str, entities: list[tuple[str, str]], source: str, shape: str) -> None:
        for _, value in entities:
            assert value in text, (value, text)
        self.rows.append(
            {
                "text": text,
                "entities": [{"type": t, "value": v} for t, v in entities],
                "split": self.split,
                "source": source,
                "shape": shape,
            }
        )

    def named(self, category: str, family: str, value: str, source: str) -> None:
        r = self.rng
        name = r.choice(NAMES.get(family, DEFAULT_NAMES))
        index = r.randrange(len(SHAPES[self.split]))
        template = SHAPES[self.split][index]
        if family == "bearer" or (name == "Authorization" and category == "jwt"):
            template = r.choice(
                [
                    "curl -H 'Authorization: Bearer {v}' https://api.example.com",
                    '{{"headers": {{"Authorization": "Bearer {v}"}}}}',
                ]
                if self.split == "dev"
                else [
                    "GET /v1/orders HTTP/1.1\nHost: api.example.com\nAuthorization: Bearer {v}\n",
                    "axios.get(url, { headers: { Authorization: 'Bearer {v}' } })".replace(
                        "{ ", "{{ "
                    ).replace(" }", " }}"),
                ]
            )
            index = -1
        text = template.format(
            n=name,
            v=value,
            f=r.choice(FILLER),
            n_lower=name.lower().replace("-", "_").replace(".", "_"),
            n_upper=name.upper().replace("-", "_").replace(".", "_"),
            n_camel=_camel(name),
            n_grep=name.split("_")[0].lower(),
        )
        self.row(text, [(category, value)], source, f"named{index}")

    def bare(self, category: str, value: str, source: str) -> None:
        r = self.rng
        index = r.randrange(len(BARE[self.split]))
        text = BARE[self.split][index].format(v=value, f=r.choice(FILLER))
        self.row(text, [(category, value)], source, f"bare{index}")

    def password_row(self, value: str, source: str) -> None:
        r = self.rng
        index = r.randrange(len(PASSWORD_SHAPES[self.split]))
        template = PASSWORD_SHAPES[self.split][index]
        if ("://" in template or "-u admin:" in template) and any(c in value for c in "@/:?# "):
            self.named("password", "password", value, source)
            return
        if (";" in template and ";" in value) or ("'" in template and "'" in value):
            self.named("password", "password", value, source)
            return
        text = template.format(v=value, n=r.choice(NAMES["password"]), f=r.choice(FILLER))
        self.row(text, [("password", value)], source, f"password{index}")

    def pem_row(self, key: str, source: str) -> None:
        r = self.rng
        index = r.randrange(len(PEM_SHAPES[self.split]))
        template = PEM_SHAPES[self.split][index]
        escaped = _escape_json(key + "\n")
        value = key
        if "{json}" in template:
            text = json.dumps(
                {"tool": "write_file", "args": {"path": "id_ed25519", "content": key + "\n"}}
            )
            value = json.dumps(key)[1:-1]
        elif "{escaped}" in template:
            text = template.format(escaped=escaped)
            value = escaped[1:-1].rstrip("\\n").removesuffix("\\n")
            value = json.dumps(key)[1:-1]
        elif "{indented}" in template:
            indented = "\n".join("    " + line for line in key.splitlines())
            text = template.format(indented=indented)
            value = indented.strip()
        else:
            text = template.format(v=key, f=r.choice(FILLER))
        self.row(text, [("private_key", value)], source, f"pem{index}")

    def build(self, public: list[tuple[str, str, str]], keys: list[str], rounds: int) -> None:
        r = self.rng
        for category, family, value in public:
            self.place(category, family, value, "public")
        for _ in range(rounds):
            for category, family, value in formats(r):
                self.place(category, family, value, f"format:{family}")
            for _ in range(6):
                self.password_row(password(r), "format:password")
            for _ in range(3):
                self.place("jwt", "jwt", make_jwt(r), "format:jwt")
            for category, family, value in formats(r)[-6:]:
                self.place(category, family, value, f"format:{family}")
        for key in keys:
            self.pem_row(key, "format:pem")
            self.pem_row(key, "format:pem")
        # two secrets in one text (an .env file, a tool result)
        for _ in range(rounds * 2):
            a = github_token(r, "ghp")
            b = "AKIA" + rand(r, string.ascii_uppercase + "234567", 16)
            c = rand(r, B64, 40)
            pw = password(r)
            if self.split == "dev":
                text = f"# .env\nGITHUB_TOKEN={a}\nAWS_ACCESS_KEY_ID={b}\nAWS_SECRET_ACCESS_KEY={c}\nDB_PASSWORD={pw}\nPORT=8080\n"
            else:
                text = f"read_file('.env.production')\n  1 | NODE_ENV=production\n  2 | GH_TOKEN={a}\n  3 | aws_access_key_id = {b}\n  4 | aws_secret_access_key = {c}\n  5 | POSTGRES_PASSWORD={pw}\n"
            self.row(
                text,
                [("api_key", a), ("api_key", b), ("api_key", c), ("password", pw)],
                "format:multi",
                "multi",
            )

    def place(self, category: str, family: str, value: str, source: str) -> None:
        needs_name = category in ("generic_secret", "password") or family in (
            "aws_secret",
            "azure_storage",
            "azure_sas",
            "twilio",
            "mailchimp",
            "telegram",
        )
        if category == "password":
            self.password_row(value, source)
        elif family == "bearer" or needs_name or self.rng.random() < 0.5:
            self.named(category, family, value, source)
        else:
            self.bare(category, value, source)

    def negatives(
        self, count: int, templates: list[Callable[[random.Random], str]], public: list[str]
    ) -> None:
        for text in public:
            self.row(text, [], "negative:public", "negative")
        for text in public_key_texts():
            self.row(text, [], "negative:public_key", "negative")
        for i in range(count):
            text = templates[i % len(templates)](self.rng)
            if self.rng.random() < 0.3:
                text = f"{self.rng.choice(FILLER)}:\n{text}"
            self.row(text, [], "negative", "negative")


def build() -> list[dict[str, Any]]:
    random.seed(0)
    rows: list[dict[str, Any]] = []
    templates = _neg_templates()
    for split, seed, half in (("dev", 20261206, 0), ("heldout", 60913, 1)):
        b = Builder(split, seed)
        public = [p for i, p in enumerate(PUBLIC) if i % 2 == half]
        keys = private_keys(b.rng) + private_keys(b.rng) + private_keys(b.rng)
        b.build(public, keys, rounds=10)
        neg_public = [t for i, t in enumerate(PUBLIC_NEGATIVES) if i % 2 == half]
        neg_templates = [t for i, t in enumerate(templates) if i % 3 != (2 if half == 0 else 0)]
        b.negatives(400, neg_templates, neg_public)
        rows.extend(b.rows)
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    by = {}
    for row in rows:
        key = (row["split"], "negative" if not row["entities"] else "positive")
        by[key] = by.get(key, 0) + 1
    print(f"wrote {len(rows)} rows to {OUT}: {by}")


if __name__ == "__main__":
    main()
