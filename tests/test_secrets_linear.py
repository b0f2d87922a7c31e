"""Linear time for the secret types: 1 MB of input aimed at each secret pattern (repeated
prefixes, unterminated PEM blocks, JWT-like runs, names with no value, quotes never closed,
URL credentials never ending in ``@``) scans in bounded time, like every built-in type."""

from __future__ import annotations

import random
import string

import pytest

from guardrails.pii.detect import build_detector
from tests.test_pii_detect_linear import BOUND_S, MB, _slowdown


def _fill(unit: str) -> str:
    return (unit * (MB // len(unit) + 1))[:MB]


def secret_adversarial() -> dict[str, str]:
    rng = random.Random(11)
    b64 = string.ascii_letters + string.digits + "+/"
    out = {
        "ghp": _fill("ghp_"),
        "ghp_run": "ghp_" + "a" * (MB - 4),
        "sk_dash": _fill("sk-"),
        "sk_run": "sk-" + "A1b2" * (MB // 4),
        "sk_proj_run": "sk-proj-" + "x_" * (MB // 2),
        "akia": _fill("AKIA"),
        "xoxb": _fill("xoxb-1-"),
        # tokens and values cut short with "..." (a leak or a placeholder)
        "cut_tokens": _fill("sk-proj-abc123def456... "),
        "cut_token_run": _fill("ghp_aB3dE5fG7hJ9kL1mN3pQ..."),
        "cut_values": _fill("api_key=Xk9mQ2v... Authorization: Bearer Xk9mQ2vL7p... "),
        "begin": _fill("-----BEGIN RSA PRIVATE KEY-----\n"),
        "begin_body": "-----BEGIN PRIVATE KEY-----\n" + "A" * MB,
        "begin_end_mixed": _fill("-----BEGIN EC PRIVATE KEY-----AAAA-----END EC PRIVATE KEY"),
        "dashes": _fill("-"),
        "end_only": _fill("-----END PRIVATE KEY-----\n"),
        "body_then_end": "A" * (MB - 30) + "-----END PRIVATE KEY-----",
        "indent_then_end": _fill("    \n") + "-----END PRIVATE KEY-----",
        "eyj": _fill("eyJ"),
        "eyj_dots": _fill("eyJhbGciOiJIUzI1NiJ9."),
        "eyj_run": "eyJ" + "a" * (MB - 3),
        "password_eq": _fill("password="),
        "password_word": _fill("password "),
        "password_quote": _fill('password="'),
        "quote_open": 'api_key = "' + "a" * MB,
        "key_colon": _fill("key: "),
        "token_is": _fill("token is "),
        "bearer": _fill("Authorization: Bearer "),
        "bearer_run": "Authorization: Bearer " + "a." * (MB // 2),
        "basic": _fill("Basic "),
        "url_creds": _fill("://a:"),
        "url_run": "postgres://user:" + "p" * MB,
        "curl_u": _fill("-u a:"),
        "dash_p": _fill("-p'"),
        "b64_pem": "LS0tLS1CRUdJTi" + "A" * MB,
        "mailchimp": _fill("0123456789abcdef0123456789abcdef-us"),
        "telegram": _fill("123456789:AA"),
        "names": _fill("API_KEY_SECRET_TOKEN_PASSWORD_"),
        "mysql_flags": _fill("mysql -u a -p"),
        "mysql_run": "mysql " + "x" * MB,
        "xml_tag": _fill("<password>"),
        "xml_open": "<password>" + "a" * MB,
        "query": "?api_key=" + "a&b=" * (MB // 4),
        "netrc": _fill("login a password "),
        # forms added by the outside-cases round (tests/test_secrets_outside.py)
        "kube_data": "kind: Secret\n" + _fill("data:\n  k: QUJDREVGR0hJSktMTU5PUA==\n"),
        "kube_nested": "kind: Secret\ndata:\n" + _fill(" data:\n"),
        "kube_block": "kind: Secret\n" + _fill("data:\n  k: |\n"),
        "vault_s": _fill("s."),
        "vault_s_run": "s." + "Ab1" * (MB // 3),
        "curl_user_quoted": _fill('-u "a:'),
        "curl_user_mixed": _fill("--user a:'"),
        "scheme_word": _fill("Authorization: Api-Token "),
        "spaced_quote": _fill('apikey "'),
        "template_open": _fill("${{"),
        "template_run": "password = '${" + "a" * MB,
        "angle": _fill("<a"),
        "session": _fill("session="),
        "session_run": "PHPSESSID=" + "Ab1%" * (MB // 4),
        "telegram_bot": _fill("bot123456789:AA"),
        "password_semicolons": "DB_PASSWORD=" + "a;" * (MB // 2),
        "password_commas": _fill("password=a,b,"),
        # uniform over the 64 characters (256 bytes map 4 to each), built in C: this module
        # is imported by every collection, also when its slow tests do not run
        "random_b64": rng.randbytes(MB).translate(bytes(b64 * 4, "ascii")).decode("ascii"),
        "random_words": " ".join(
            rng.choices(["key", "token", "=", "secret:", "'x'", "pass", "ghp_", "sk-"], k=MB // 5)
        )[:MB],
    }
    return out


INPUTS = secret_adversarial()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_secret_scan_of_1mb_adversarial_input_is_bounded(name: str) -> None:
    detector = build_detector("secret")
    bound = BOUND_S * 3 * _slowdown()
    text = INPUTS[name]
    import time

    start = time.perf_counter()
    detector._scan(text)
    took = time.perf_counter() - start
    assert took <= bound, f"{name}: {took:.2f}s over the bound {bound:.2f}s"
