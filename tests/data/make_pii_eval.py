"""Generate pii_eval.jsonl: a labeled, seeded evaluation set of chat-like text.

Positives use valid values in international formats (Luhn-valid cards of every length 12-19,
IBANs with correct checksums, issuable SSNs, IPv4/IPv6, phone numbers of many regions formatted
the way people write them). Hard negatives sit in the same texts: Luhn-invalid numbers, IBANs
with a wrong checksum, never-issued SSNs, UUIDs, git hashes, version strings, order numbers,
timestamps. Run: python tests/data/make_pii_eval.py
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import phonenumbers

rng = random.Random(20261122)


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = [int(d) for d in body + check]
        total = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
        if total % 10 == 0:
            return body + check
    raise AssertionError


def luhn_broken(prefix: str, length: int) -> str:
    good = luhn_complete(prefix, length)
    last = (int(good[-1]) + 1 + rng.randrange(8)) % 10
    return good[:-1] + str(last)


def group(number: str, sep: str) -> str:
    if len(number) == 15:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


CARD_PREFIXES = [
    ("4", 16),
    ("4", 13),
    ("4", 19),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("2500", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("36", 14),
    ("3528", 16),
    ("6759", 12),
    ("6304", 18),
    ("62", 17),
]


def card() -> str:
    prefix, length = rng.choice(CARD_PREFIXES)
    n = luhn_complete(prefix, length)
    return group(n, rng.choice([" ", "-", ""])) if length in (15, 16) else n


IBAN_SPECS = {"DE": 18, "GB": 18, "FR": 23, "ES": 20, "NL": 14, "IT": 23, "CH": 17, "BE": 12}


def _iban_check(country: str, bban: str) -> str:
    moved = bban + country + "00"
    numeric = "".join(str(int(c, 36)) for c in moved)
    return f"{98 - int(numeric) % 97:02d}"


def _bban(country: str) -> str:
    n = IBAN_SPECS[country]
    if country == "GB":
        return "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            rng.choice(string.digits) for _ in range(14)
        )
    if country == "NL":
        return "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            rng.choice(string.digits) for _ in range(10)
        )
    if country in ("FR", "IT"):
        body = "".join(rng.choice(string.digits) for _ in range(n))
        if country == "IT":
            body = rng.choice(string.ascii_uppercase) + body[1:]
        return body
    return "".join(rng.choice(string.digits) for _ in range(n))


def iban(valid: bool = True) -> str:
    country = rng.choice(list(IBAN_SPECS))
    bban = _bban(country)
    check = _iban_check(country, bban)
    if not valid:
        check = f"{(int(check) + 1 + rng.randrange(50)) % 97 + 2:02d}"
    value = country + check + bban
    if rng.random() < 0.6:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def ssn(valid: bool = True) -> str:
    if valid:
        area = rng.choice([a for a in range(1, 900) if a != 666])
        groupn, serial = rng.randrange(1, 100), rng.randrange(1, 10000)
    else:
        area, groupn, serial = rng.choice(
            [(0, 12, 3456), (666, 12, 3456), (123, 0, 4567), (234, 56, 0)]
        )
    sep = rng.choice(["-", " "])
    return f"{area:03d}{sep}{groupn:02d}{sep}{serial:04d}"


def ipv4() -> str:
    return ".".join(str(rng.randrange(1, 255)) for _ in range(4))


def ipv6() -> str:
    parts = [f"{rng.randrange(0, 65536):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return ":".join(parts)
    return ":".join(parts[:3]) + "::" + ":".join(parts[6:])


REGIONS = ["US", "GB", "DE", "FR", "IN", "BR", "AU", "JP", "ES", "IT", "NL", "CA", "MX", "SG"]


def phone() -> str:
    region = rng.choice(REGIONS)
    number = phonenumbers.example_number_for_type(
        region,
        rng.choice([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]),
    )
    fmt = phonenumbers.PhoneNumberFormat
    if region == "US" and rng.random() < 0.5:
        national = str(number.national_number)
        return rng.choice(
            [
                f"({national[:3]}) {national[3:6]}-{national[6:]}",
                f"{national[:3]}-{national[3:6]}-{national[6:]}",
                f"{national[:3]}.{national[3:6]}.{national[6:]}",
            ]
        )
    return phonenumbers.format_number(number, rng.choice([fmt.INTERNATIONAL, fmt.E164]))


FIRST = ["jane", "li.wei", "o.connor", "maria", "k.tanaka", "ahmed", "sven", "priya", "tom"]
DOMAINS = [
    "example.com",
    "mail.co.uk",
    "corp.io",
    "uni-heidelberg.de",
    "startup.ai",
    "gmail.com",
    "example.org",
    "post.fr",
]


def email() -> str:
    return f"{rng.choice(FIRST)}{rng.choice(['', '+billing', '42', '_x'])}@{rng.choice(DOMAINS)}"


def url() -> str:
    return rng.choice(["https://", "http://", "www."]) + rng.choice(
        ["shop.example.com/cart?id=7", "docs.acme.io/guide", "example.org", "intranet.corp.io/x/y"]
    )


NEGATIVES = [
    lambda: f"order #{rng.randrange(10**7, 10**8)}",
    lambda: f"ticket {luhn_broken('4', 16)}",
    lambda: f"ref {group(luhn_broken('5', 16), ' ')}",
    lambda: f"account {iban(valid=False)}",
    lambda: f"id {ssn(valid=False)}",
    lambda: (
        f"request id {rng.getrandbits(128):032x}"[:0]
        + "request id "
        + "-".join(
            [
                f"{rng.getrandbits(32):08x}",
                f"{rng.getrandbits(16):04x}",
                f"4{rng.getrandbits(12):03x}",
                f"a{rng.getrandbits(12):03x}",
                f"{rng.getrandbits(48):012x}",
            ]
        )
    ),
    lambda: f"commit {rng.getrandbits(160):040x}",
    lambda: (
        f"upgraded to version {rng.randrange(1, 9)}.{rng.randrange(0, 30)}."
        f"{rng.randrange(0, 30)}.{rng.randrange(0, 99)}"
    ),
    lambda: (
        f"at 2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} "
        f"{rng.randrange(0, 24):02d}:{rng.randrange(0, 60):02d}:{rng.randrange(0, 60):02d}"
    ),
    lambda: f"costs ${rng.randrange(10, 9999)}.{rng.randrange(0, 99):02d}",
    lambda: f"tracking {rng.randrange(10**11, 10**12)}",
]

TEMPLATES = {
    "email": ["Please send the invoice to {v} today.", "my email is {v}", "cc {v} on it"],
    "credit_card": ["Charge my card {v} for the order.", "card number: {v}", "use {v} pls"],
    "iban": ["Wire it to {v}.", "IBAN {v} (business account)", "my iban is {v}"],
    "us_ssn": ["SSN {v} for the form", "social security number {v}", "my ssn: {v}"],
    "ip": ["the server at {v} is down", "blocked {v} in the firewall", "login from {v}"],
    "phone": ["call me at {v}", "my number is {v}.", "text {v} when you land"],
    "url": ["see {v} for details", "the link is {v}", "open {v} please"],
}
MAKERS = {
    "email": email,
    "credit_card": card,
    "iban": iban,
    "us_ssn": ssn,
    "ip": lambda: ipv4() if rng.random() < 0.6 else ipv6(),
    "phone": phone,
    "url": url,
}


def sample() -> dict[str, object]:
    parts: list[str] = []
    entities: list[dict[str, str]] = []
    for _ in range(rng.randrange(1, 4)):
        kind = rng.choice(list(MAKERS))
        value = MAKERS[kind]()
        parts.append(rng.choice(TEMPLATES[kind]).format(v=value))
        entities.append({"type": kind, "value": value})
    for _ in range(rng.randrange(0, 3)):
        parts.append(f"Also {rng.choice(NEGATIVES)()}.")
    rng.shuffle(parts)
    return {"text": " ".join(parts), "entities": entities}


def main() -> None:
    out = Path(__file__).with_name("pii_eval.jsonl")
    with out.open("w") as fh:
        for _ in range(1200):
            fh.write(json.dumps(sample()) + "\n")
        for _ in range(300):  # PII-free texts made only of look-alikes
            text = " ".join(f"Note {rng.choice(NEGATIVES)()}." for _ in range(rng.randrange(1, 4)))
            fh.write(json.dumps({"text": text, "entities": []}) + "\n")


if __name__ == "__main__":
    main()
