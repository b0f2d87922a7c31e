"""Same matches before and after a speed change of PII detection, byte for byte.

Every match (type, start, end, value) of several type sets on every text of ``tests/data``
(and pairs of them written one after the other), the Faker set of ``bench pii`` and Faker texts
of several locales made here with a fixed seed, written to a file; a second run compares::

    python -m bench.pii_same --write /tmp/before.json   # on the old code
    python -m bench.pii_same --check /tmp/before.json   # on the new code: exit 1 on a difference

Run both with the same Faker version (the generated texts depend on it).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "ja_JP",
           "zh_CN", "en_IN", "pl_PL", "en_AU", "sv_SE", "ko_KR"]  # fmt: skip


def type_sets() -> dict[str, tuple[list[str], dict[str, Any]]]:
    """The type sets compared (name: types, build_detector keyword arguments)."""
    from guardrails.pii.detect import BUILTIN_TYPES
    from guardrails.pii.finders.secrets import SECRET_TYPES

    every = sorted(set(BUILTIN_TYPES) - {"person", "location"})
    return {
        "every": (every, {}),
        "every-reversed": (every[::-1], {}),
        "langchain4": (["email", "credit_card", "ip", "url"], {}),
        "seven": (["email", "credit_card", "iban", "us_ssn", "ip", "phone", "url"], {}),
        "phone": (["phone"], {}),
        "phone-eu": (["phone"], {"regions": ["GB", "FR", "DE", "IT", "ES", "NL"]}),
        "phone-asia": (["phone", "credit_card"], {"regions": ["JP", "CN", "KR", "IN"]}),
        "digits": (["credit_card", "iban", "us_ssn", "date"], {}),
        "net": (["email", "ip", "mac_address", "url", "crypto"], {}),
        "secrets": (sorted(SECRET_TYPES), {}),
    }


def _data_texts() -> Iterator[str]:
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text = row.get("text")
            if isinstance(text, str):
                yield text


def _faker_texts(count: int) -> Iterator[str]:
    from faker import Faker

    rng = random.Random(24)
    fakers = [Faker(loc) for loc in LOCALES]
    for i, f in enumerate(fakers):
        f.seed_instance(24 + i)
    makers = [
        lambda f: f.phone_number(),
        lambda f: f.credit_card_number(),
        lambda f: f.iban(),
        lambda f: f.ssn(),
        lambda f: f.ipv4(),
        lambda f: f.ipv6(),
        lambda f: f.email(),
        lambda f: f.url(),
        lambda f: f.date_between(date(1950, 1, 1), date(2025, 12, 31)).isoformat(),
        lambda f: f.date_between(date(1950, 1, 1), date(2025, 12, 31)).strftime("%d/%m/%Y"),
        lambda f: f.mac_address(),
        lambda f: f.address(),
        lambda f: f.msisdn(),
        lambda f: f.sentence(),
        lambda f: f.numerify("#### #### #### ####"),
        lambda f: f.numerify("###-##-####"),
        lambda f: f.numerify("(###) ###-####"),
        lambda f: f.bothify("order ##########"),
        lambda f: f.password(length=16),
        lambda f: f.sha1(),
        lambda f: f.uuid4(),
    ]
    for _ in range(count):
        f = rng.choice(fakers)
        parts = [rng.choice(makers)(f) for _ in range(rng.randint(1, 4))]
        glue = rng.choice([" ", ", ", "\n", " call ", " card: ", " tel ", "/", " SSN ", " and "])
        yield glue.join(str(p) for p in parts)


def texts() -> list[str]:
    from bench.bench_pii import _mixed_corpus, _rows

    data = list(_data_texts())
    rng = random.Random(7)
    pairs = [rng.choice(data) + rng.choice([" ", "\n", ""]) + rng.choice(data) for _ in range(2000)]
    rows = _rows()
    return data + pairs + _mixed_corpus(rows) + list(_faker_texts(4000))


def run() -> dict[str, Any]:
    from guardrails.pii.detect import build_detector

    corpus = texts()
    out: dict[str, Any] = {"texts": len(corpus), "sets": {}}
    for name, (types, kwargs) in type_sets().items():
        det = build_detector(types, **kwargs)
        found = [[[m["type"], m["start"], m["end"], m["value"]] for m in det(t)] for t in corpus]
        digest = hashlib.sha256(json.dumps(found).encode()).hexdigest()
        out["sets"][name] = {"digest": digest, "matches": sum(map(len, found)), "found": found}
    out["corpus"] = hashlib.sha256(json.dumps(corpus).encode()).hexdigest()
    out["text_list"] = corpus
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("--write", "--check"):
        print(__doc__)
        return 2
    result = run()
    path = Path(argv[1])
    if argv[0] == "--write":
        path.write_text(json.dumps(result), encoding="utf-8")
        for name, s in result["sets"].items():
            print(f"{name:15} {s['matches']:7} matches  {s['digest'][:16]}")
        print(f"{result['texts']} texts written to {path}")
        return 0
    before = json.loads(path.read_text(encoding="utf-8"))
    if before["corpus"] != result["corpus"]:
        print("the texts differ (another Faker version?): not comparable")
        return 2
    bad = 0
    for name, s in result["sets"].items():
        old = before["sets"][name]
        same = old["digest"] == s["digest"]
        print(f"{name:15} {s['matches']:7} matches (before {old['matches']})  "
              f"{'same' if same else 'DIFFERENT'}")  # fmt: skip
        if not same:
            for i, (a, b) in enumerate(zip(old["found"], s["found"], strict=True)):
                if a != b:
                    bad += 1
                    if bad <= 20:
                        print(f"  text {i}: {result['text_list'][i][:120]!r}\n"
                              f"    before {a}\n    after  {b}")  # fmt: skip
    print(f"{result['texts']} texts; {'identical' if not bad else f'{bad} texts differ'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
