"""Generate pii_eval_faker.jsonl: a labeled evaluation set the detector was not written against.

Labeled by construction (each row says which values it planted, with their exact text):

* **faker**: chat and form text built from Faker in 13 locales (phones, cards, IBANs, emails, IPs,
  SSNs in each locale's own formats, with the locale's addresses, names and company names as
  filler, which are hard negatives in themselves: ZIP codes, house numbers, postcodes);
* **phonenumbers**: phonenumbers' own example numbers (fixed line and mobile) for every region,
  written in national, international and E.164 formats;
* **variant**: hand-written adversarial variants per kind (separators, case, encodings, unicode
  digits, zero-width characters, defanged IPs, glued prefixes, ...);
* **negative**: hard negatives that must not be reported (order ids, UUIDs, git SHAs,
  timestamps, versions, ZIP codes, tracking numbers, amounts, numbers failing Luhn or mod-97,
  never-issued SSNs).

Every row has a ``split``: ``dev`` (used while tuning the detector) or ``heldout`` (never looked
at while tuning: its own sentence templates, its own seed; only its totals are reported).
Faker phone extensions (``x1234``) are cut off: the label is the number a privacy team would
redact. Run: ``python tests/data/make_pii_eval_faker.py`` (seeded, reproducible).
"""

# ruff: noqa: E501  (long f-strings of generated sample text read better on one line)
from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import phonenumbers
from faker import Faker

OUT = Path(__file__).with_name("pii_eval_faker.jsonl")
LOCALES = [
    "en_US",
    "en_GB",
    "de_DE",
    "fr_FR",
    "en_IN",
    "ja_JP",
    "en_AU",
    "pt_BR",
    "he_IL",
    "zh_CN",
    "es_ES",
    "it_IT",
    "nl_NL",
]
NBSP = "\u00a0"
ZW = "\u200b"

# sentence templates per type and split: "{v}" is the value; "{f}" a filler phrase
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "phone": {
        "dev": [
            "call me at {v}",
            "my phone: {v}",
            "Tel. {v} ({f})",
            "{f}. Mobile {v}",
            "you can reach me on {v} after 6",
            "phone number {v}",
            "contact: {v}",
            "{f}, {v}",
            "Telefon: {v}",
            "Ring {v} if the courier is late",
        ],
        "heldout": [
            "Cell: {v}",
            "Please phone {v} tomorrow",
            "{f} / tel {v}",
            "WhatsApp {v}",
            "my number is {v}",
            "Numéro de téléphone : {v}",
            "fax {v}",
            "{v} is my mobile",
            "text me on {v}",
            "Name: {f}\nPhone: {v}",
        ],
    },
    "credit_card": {
        "dev": [
            "Charge my card {v} please",
            "card number: {v}",
            "{f} paid with {v}",
            "Visa {v} exp 04/27",
            "use {v} for the order",
        ],
        "heldout": [
            "CC {v}",
            "my credit card is {v}",
            "payment: {v} ({f})",
            "Here is the card: {v}",
            "{v} is the debit card",
        ],
    },
    "iban": {
        "dev": [
            "IBAN {v}",
            "Wire it to {v}",
            "{f}: account {v}",
            "my iban is {v}",
            "transfer to {v} by Friday",
        ],
        "heldout": [
            "Bankverbindung: {v}",
            "please pay into {v}",
            "IBAN: {v} ({f})",
            "refund to {v}",
            "{v} is the account",
        ],
    },
    "us_ssn": {
        "dev": [
            "SSN {v} for the form",
            "social security number {v}",
            "my ssn: {v}",
            "{f}, SSN {v}",
        ],
        "heldout": [
            "SSN: {v}",
            "Social Security No. {v}",
            "ssn={v}",
            "{f} (social security {v})",
        ],
    },
    "email": {
        "dev": [
            "mail {v} about it",
            "my email is {v}",
            "{f} <{v}>",
            "cc {v} on it",
            "send the invoice to {v} today",
        ],
        "heldout": [
            "Email: {v}",
            "reply to {v}",
            "contact {f} at {v}.",
            "({v})",
            "forward it to {v} please",
        ],
    },
    "ip": {
        "dev": [
            "the server at {v} is down",
            "blocked {v} in the firewall",
            "login from {v}",
            "{f} connected from {v}",
        ],
        "heldout": [
            "host {v} timed out",
            "client_ip={v}",
            "ssh admin@{v}",
            "[{v}] refused",
        ],
    },
}


def luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = [int(d) for d in body + check]
        total = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
        if total % 10 == 0:
            return body + check
    raise AssertionError


def luhn_broken(rng: random.Random, prefix: str, length: int) -> str:
    good = luhn_complete(rng, prefix, length)
    return good[:-1] + str((int(good[-1]) + 1 + rng.randrange(8)) % 10)


def group4(number: str, sep: str) -> str:
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def iban_with_check(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


class Builder:
    def __init__(self, split: str, seed: int) -> None:
        self.split = split
        self.rng = random.Random(seed)
        self.fakers = {}
        for i, loc in enumerate(LOCALES):
            fake = Faker(loc)
            fake.seed_instance(seed * 100 + i)
            self.fakers[loc] = fake
        self.rows: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ helpers
    def filler(self, loc: str) -> str:
        fake = self.fakers[loc]
        choice = self.rng.randrange(4)
        if choice == 0:
            return str(fake.name())
        if choice == 1:
            return str(fake.company())
        if choice == 2:
            return str(fake.address()).replace("\n", ", ")
        return str(fake.city())

    def sentence(self, kind: str, value: str, loc: str) -> str:
        template = self.rng.choice(TEMPLATES[kind][self.split])
        return template.replace("{f}", self.filler(loc)).replace("{v}", value)

    def add(self, parts: list[tuple[str, str | None]], source: str) -> None:
        """``parts``: (text, type or None) pieces joined by spaces; typed pieces are labels."""
        self.rows.append(
            {
                "text": " ".join(p for p, _ in parts),
                "entities": [],
                "split": self.split,
                "source": source,
                "_parts": parts,
            }
        )

    def add_sentence(self, kind: str, value: str, loc: str, source: str, extra: int = 1) -> None:
        """A labeled sentence of ``kind`` among ``extra`` PII-free filler sentences."""
        text = self.sentence(kind, value, loc)
        fillers = [self.plain(loc) for _ in range(extra)]
        pieces = [*fillers[: len(fillers) // 2], text, *fillers[len(fillers) // 2 :]]
        self.rows.append(
            {
                "text": " ".join(pieces),
                "entities": [{"type": kind, "value": value}],
                "split": self.split,
                "source": source,
            }
        )

    def plain(self, loc: str) -> str:
        fake = self.fakers[loc]
        pick = self.rng.randrange(3)
        if pick == 0:
            return f"{fake.name()} lives at {str(fake.address()).replace(chr(10), ', ')}."
        if pick == 1:
            return f"Meeting with {fake.company()} in {fake.city()} on {fake.date()}."
        return str(fake.sentence())

    # ------------------------------------------------------------------ faker values
    def faker_rows(self, per_locale: int) -> None:
        for loc in LOCALES:
            fake = self.fakers[loc]
            for _ in range(per_locale):
                phone = str(fake.phone_number()).split("x")[0].strip()
                self.add_sentence("phone", phone, loc, f"faker:{loc}")
                card = str(fake.credit_card_number())
                if self.rng.random() < 0.5:
                    card = group4(card, self.rng.choice([" ", "-"]))
                self.add_sentence("credit_card", card, loc, f"faker:{loc}")
                self.add_sentence("iban", str(fake.iban()), loc, f"faker:{loc}")
                self.add_sentence("email", str(fake.email()), loc, f"faker:{loc}")
                ip = str(fake.ipv4() if self.rng.random() < 0.7 else fake.ipv6())
                self.add_sentence("ip", ip, loc, f"faker:{loc}")
                if loc == "en_US":
                    for _ in range(3):
                        self.add_sentence("us_ssn", str(fake.ssn()), loc, "faker:en_US")

    # ------------------------------------------------------------------ phonenumbers' examples
    def example_rows(self) -> None:
        fmt = phonenumbers.PhoneNumberFormat
        regions = sorted(phonenumbers.SUPPORTED_REGIONS)
        # each split takes every region, with a different number type and format
        for i, region in enumerate(regions):
            kinds = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
            kind = kinds[(i + (self.split == "heldout")) % 2]
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            formats = [fmt.NATIONAL, fmt.INTERNATIONAL, fmt.E164]
            style = formats[(i + 2 * (self.split == "heldout")) % 3]
            value = phonenumbers.format_number(number, style)
            self.add_sentence("phone", value, "en_US", f"phonenumbers:{region}", extra=0)

    # ------------------------------------------------------------------ adversarial variants
    def variant_rows(self) -> None:
        rng = self.rng
        card_seps = [".", "/", "\t", "  ", " - ", NBSP, "\n", "-", " "]
        for sep in card_seps:
            for prefix, length in [("4", 16), ("51", 16), ("3528", 16), ("6011", 16)]:
                card = group4(luhn_complete(rng, prefix, length), sep)
                self.add_sentence("credit_card", card, "en_US", "variant:card_sep")
        for prefix in ["1800", "2131"]:  # JCB 15-digit
            self.add_sentence(
                "credit_card", luhn_complete(rng, prefix, 15), "en_US", "variant:jcb15"
            )
        for prefix in ["3500", "3512", "3590", "3599"]:  # JCB 16-digit outside 3528-3589
            card = group4(luhn_complete(rng, prefix, 16), " ")
            self.add_sentence("credit_card", card, "en_US", "variant:jcb16")
        for glue in ["card_", "ID-", "cc:", "pan="]:
            card = luhn_complete(rng, "4", 16)
            self.rows.append(self.row(f"saved {glue}{card} in the vault", "credit_card", card))
        full = luhn_complete(rng, "4", 16)
        wide = group4("".join(chr(0xFF10 + int(d)) for d in full), " ")
        self.add_sentence("credit_card", wide, "en_US", "variant:fullwidth")
        arabic = "".join(chr(0x0660 + int(d)) for d in luhn_complete(rng, "5", 16))
        self.add_sentence("credit_card", arabic, "en_US", "variant:arabic_digits")
        zw = luhn_complete(rng, "4", 16)
        self.add_sentence("credit_card", zw[:8] + ZW + zw[8:], "en_US", "variant:zero_width")

        for _ in range(3):
            ssn = self.ssn()
            bare = ssn.replace("-", "")
            self.rows.append(self.row(f"SSN: {bare}", "us_ssn", bare))
            self.rows.append(self.row(f"name,ssn,dob\nJane Roe,{bare},1980-02-03", "us_ssn", bare))
            sql = f"INSERT INTO people (name, ssn) VALUES ('Roe', '{bare}');"
            self.rows.append(self.row(sql, "us_ssn", bare))
            for sep_a, sep_b in [(".", "."), ("/", "/"), ("-", "."), (" ", "-")]:
                value = f"{bare[:3]}{sep_a}{bare[3:5]}{sep_b}{bare[5:]}"
                self.add_sentence("us_ssn", value, "en_US", "variant:ssn_sep")

        for country, bban in [("DE", "370400440532013000"), ("GB", "NWBK60161331926819")]:
            for _ in range(2):
                body = list(bban)
                rng.shuffle(body)
                iban = iban_with_check(country, "".join(body) if country == "DE" else bban)
                forms = [
                    iban.lower(),
                    iban[:2] + " " + iban[2:],
                    " ".join(iban[i : i + 2] for i in range(0, len(iban), 2)),
                    " ".join(iban[i : i + 3] for i in range(0, len(iban), 3)),
                    ".".join(iban[i : i + 4] for i in range(0, len(iban), 4)),
                    group4(iban, " ").lower(),
                    group4(iban, "\n"),
                    iban[:10].lower() + iban[10:],
                ]
                for form in forms:
                    self.add_sentence("iban", form, "de_DE", "variant:iban_form")

        for word in ["dev", "srv", "Tel Aviv", "build", "prev", "nav"]:
            ip = self.ipv4()
            self.rows.append(self.row(f"{word} {ip} refused the connection", "ip", ip))
        for ip in ["081.002.069.142", "010.000.000.001"]:
            self.rows.append(self.row(f"from {ip} again", "ip", ip))
        ip = self.ipv4()
        defanged = ip.replace(".", "[.]")
        self.rows.append(self.row(f"IOC: {defanged} (phishing)", "ip", defanged))
        mapped = "::ffff:" + self.ipv4()
        self.rows.append(self.row(f"peer {mapped} closed", "ip", mapped))

        for email in [
            "ops@build.internal",
            "jane.roe@payroll.corp",
            "printer@office.local",
            "sean.o'brien@example.ie",
            "josé.garcía@ejemplo.es",
            "müller@bücher.de",
            "用户@例子.中国",
        ]:
            self.add_sentence("email", email, "en_US", "variant:email_form")
        for enc in ["%40", "&#64;", NBSP + "@", "@\n", ZW + "@"]:
            value = f"jane.roe{enc}example.com"
            self.add_sentence("email", value, "en_US", "variant:email_encoded")

        for phone in [
            "020 7946 0958",
            "07700 900123",
            "01 42 68 53 00",
            "(11) 91234-5678",
            "03-3224-9999",
            "44 20 7946 0958",
            "030/12345678",
            "+49 30 1234-5678",
            "(02) 9876 5432",
            "+44 (0)20 7946 0958",
            "+1.650.253.0000",
        ]:
            self.add_sentence("phone", phone, "en_GB", "variant:phone_form")
        for phone in ["60-56-85-91", "0490 75 40 81", "416 60 039"]:
            self.rows.append(self.row(f"Phone: {phone}", "phone", phone))
        self.rows.append(self.row("phone:650-253-0000", "phone", "650-253-0000"))
        self.rows.append(self.row("reach us at tel:+16502530000", "phone", "+16502530000"))
        wide = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in "+44 20 7946 0958")
        self.add_sentence("phone", wide, "en_GB", "variant:fullwidth")
        arabic = "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in "050-123-4567")
        self.add_sentence("phone", arabic, "he_IL", "variant:arabic_digits")
        self.add_sentence("phone", f"+1{NBSP}415{NBSP}555{NBSP}0100", "en_US", "variant:nbsp")

    def row(self, text: str, kind: str, value: str) -> dict[str, Any]:
        return {
            "text": text,
            "entities": [{"type": kind, "value": value}],
            "split": self.split,
            "source": "variant",
        }

    def ssn(self) -> str:
        while True:
            area = self.rng.randrange(1, 900)
            if area != 666:
                return f"{area:03d}-{self.rng.randrange(1, 100):02d}-{self.rng.randrange(1, 10000):04d}"

    def ipv4(self) -> str:
        return ".".join(str(self.rng.randrange(1, 255)) for _ in range(4))

    # ------------------------------------------------------------------ hard negatives
    def negative_rows(self, count: int) -> None:
        rng = self.rng
        hex_ = "0123456789abcdef"
        makers: list[Callable[[], str]] = [
            lambda: f"Order #{rng.randrange(10**7, 10**9)} has shipped",
            lambda: f"order id ORD-{rng.randrange(2019, 2026)}-{rng.randrange(10**5, 10**6)}",
            lambda: (
                "request id "
                + "-".join("".join(rng.choice(hex_) for _ in range(n)) for n in (8, 4, 4, 4, 12))
            ),
            lambda: "commit " + "".join(rng.choice(hex_) for _ in range(40)),
            lambda: (
                f"at 2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} "
                f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
            ),
            lambda: f"ts={rng.randrange(1_600_000_000, 1_800_000_000)}",
            lambda: f"upgraded to v{rng.randrange(1, 20)}.{rng.randrange(30)}.{rng.randrange(30)}",
            lambda: (
                f"build {rng.randrange(1, 30)}.{rng.randrange(10)}.{rng.randrange(100)}."
                f"{rng.randrange(10000)}"
            ),
            lambda: f"ZIP {rng.randrange(10000, 99999)}",
            lambda: f"ZIP+4 {rng.randrange(10000, 99999)}-{rng.randrange(1000, 9999)}",
            lambda: (
                "tracking 1Z"
                + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
            ),
            lambda: (
                "USPS tracking "
                + " ".join("".join(rng.choice(string.digits) for _ in range(4)) for _ in range(5))
                + " 12"
            ),
            lambda: f"FedEx tracking number {rng.randrange(10**11, 10**12)}",
            lambda: (
                f"total ${rng.randrange(1, 99)},{rng.randrange(100, 999)}.{rng.randrange(100):02d}"
            ),
            lambda: (
                f"Betrag: {rng.randrange(1, 99)}.{rng.randrange(100, 999)},{rng.randrange(100):02d} €"
            ),
            lambda: f"price 1 {rng.randrange(100, 999)} {rng.randrange(100, 999)},00 EUR",
            lambda: "card " + group4(luhn_broken(rng, rng.choice(["4", "51", "6011"]), 16), " "),
            lambda: "ref " + luhn_broken(rng, "4", 16),
            lambda: "IBAN " + self.bad_iban(),
            lambda: (
                f"ssn {rng.choice(['000', '666'])}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}"
            ),
            lambda: (
                f"invoice INV-{rng.randrange(10**5, 10**6)} due {rng.randrange(1, 28)}/{rng.randrange(1, 12)}/2025"
            ),
            lambda: (
                f"ISBN 978-{rng.randrange(0, 9)}-{rng.randrange(100, 999)}-{rng.randrange(10000, 99999)}-{rng.randrange(10)}"
            ),
            lambda: (
                f"{rng.randrange(2, 99)} items, {rng.randrange(100, 9999)} units, {rng.randrange(10, 99)}% done"
            ),
            lambda: f"lat {rng.uniform(-90, 90):.6f}, lon {rng.uniform(-180, 180):.6f}",
        ]
        for i in range(count):
            loc = LOCALES[i % len(LOCALES)]
            text = f"{self.plain(loc)} {rng.choice(makers)()}. {self.plain(loc)}"
            self.rows.append(
                {"text": text, "entities": [], "split": self.split, "source": "negative"}
            )

    def bad_iban(self) -> str:
        good = iban_with_check("DE", "".join(self.rng.choice(string.digits) for _ in range(18)))
        wrong = (int(good[2:4]) + 1 + self.rng.randrange(90)) % 97 + 2
        return f"DE{wrong:02d}{good[4:]}" if f"{wrong:02d}" != good[2:4] else good[:-1] + "0"


def build() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for split, seed in (("dev", 20261201), ("heldout", 77031)):
        b = Builder(split, seed)
        b.faker_rows(per_locale=12)
        b.example_rows()
        b.variant_rows()
        b.negative_rows(400)
        rows.extend(b.rows)
    for row in rows:
        row.pop("_parts", None)
        for entity in row["entities"]:
            assert entity["value"] in row["text"], row
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
