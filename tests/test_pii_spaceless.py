"""Values written right against Chinese, Japanese, Korean and Thai text are found: their letters
are word characters to ``re``, and a boundary written as "not after a word character" missed
``電話番号は03-3224-9999です``. Measured on tests/data/pii_eval_spaceless.jsonl (Faker's ja_JP,
zh_CN, ko_KR and th_TH, held-out split), through a real agent, and on 1 MB adversarial inputs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent

from bench.pii_eval import evaluate
from guardrails import PIIMiddleware
from guardrails.pii import detect
from guardrails.pii.detect import build_detector
from tests.support import invoke
from tests.test_pii_detect_linear import BOUND_S, MB, _slowdown

TYPES = ["phone", "email", "credit_card", "ip", "iban", "url", "mac_address"]
DATA = Path(__file__).parent / "data" / "pii_eval_spaceless.jsonl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("電話番号は03-3224-9999です", ("phone", "03-3224-9999")),
        ("メールはtaro@example.jpです", ("email", "taro@example.jp")),
        ("电话13812345678谢谢", ("phone", "13812345678")),
        ("邮箱是li.wei@example.cn谢谢", ("email", "li.wei@example.cn")),
        ("이메일은kim@example.kr입니다", ("email", "kim@example.kr")),
        ("전화번호는02-312-3456입니다", ("phone", "02-312-3456")),
        ("อีเมลsomchai@example.co.thครับ", ("email", "somchai@example.co.th")),
        ("網址https://example.com/a是", ("url", "https://example.com/a")),
        ("MACは00:1A:2B:3C:4D:5Eです", ("mac_address", "00:1A:2B:3C:4D:5E")),
        ("IBANはGB82WEST12345698765432です", ("iban", "GB82WEST12345698765432")),
        ("連絡先：+81 3-3224-9999。", ("phone", "+81 3-3224-9999")),
        ("mail 用户@例子.中国 today", ("email", "用户@例子.中国")),  # written in those scripts
    ],
)
def test_a_value_against_spaceless_script_is_found(text: str, expected: tuple[str, str]) -> None:
    found = [(m["type"], m["value"]) for m in detect(text, TYPES)]
    assert found == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "id0312345678",  # glued to a Latin word: an identifier
        "user_taro@example.jpx",  # not a known top-level domain
        "注文番号12345678です",  # an order number
        "合計12,345円です",
        "会議は14:30からです",
    ],
)
def test_latin_words_and_hard_negatives_stay_quiet(text: str) -> None:
    assert detect(text, TYPES) == []


def _rows(split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if r["split"] == split]


def _totals(split: str) -> tuple[float, float]:
    types = ["phone", "email", "credit_card", "ip", "iban"]
    scores = evaluate(_rows(split), lambda t: detect(t, types), types)
    tp = sum(s.tp for s in scores.values())
    fp = sum(s.fp for s in scores.values())
    fn = sum(s.fn for s in scores.values())
    return tp / (tp + fn), tp / (tp + fp)


def test_heldout_recall_and_precision() -> None:
    """Held-out: recall 0.355 -> 0.804, precision 0.841 -> 0.997 (docs/performance.md)."""
    recall, precision = _totals("heldout")
    assert recall >= 0.78
    assert precision >= 0.99


def test_the_set_is_what_its_generator_writes() -> None:
    rows = _rows("dev") + _rows("heldout")
    assert len(rows) > 1000
    sources = {r["source"].split(":")[1] for r in rows}
    assert sources == {"ja_JP", "zh_CN", "ko_KR", "th_TH"}
    assert any(not r["entities"] for r in rows)  # hard negatives included


def test_the_middleware_redacts_it_before_the_model(mode: str, scripted: Any) -> None:
    model = scripted("了解しました")
    agent = create_agent(model, middleware=[PIIMiddleware(["phone", "email"])])
    invoke(
        agent,
        {"messages": [("user", "電話番号は03-3224-9999です、メールはtaro@example.jpです")]},
        mode,
    )
    sent = model.requests[0]["messages"][-1].content
    assert "03-3224-9999" not in sent and "taro@example.jp" not in sent
    assert "[REDACTED_PHONE]" in sent and "[REDACTED_EMAIL]" in sent


ADVERSARIAL = {
    "cjk_at": "あa@",
    "cjk_local": "は.a@b.",
    "cjk_digits": "電1",
    "cjk_dash": "は1-",
    "hangul_plus": "는+1 ",
    "thai_zero": "ก00",
    "cjk_url": "http://あ",
    "cjk_mac": "あ0a:",
    "cjk_iban": "はDE89",
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["email", "phone", "url", "mac_address", "ip", "iban"])
def test_spaceless_boundaries_stay_linear_on_1mb(kind: str) -> None:
    detector = build_detector(kind)
    slow = {}
    for name, unit in ADVERSARIAL.items():
        text = (unit * (MB // len(unit) + 1))[:MB]
        bound = BOUND_S * 3 * _slowdown()
        start = time.perf_counter()
        detector._scan(text)
        took = time.perf_counter() - start
        if took > bound:
            slow[name] = (round(took, 2), round(bound, 2))
    assert not slow, f"{kind}: 1 MB inputs over the bound (took, bound): {slow}"


@pytest.mark.parametrize(
    "text",
    [
        "jane@example.com\u4e00jane@example.com",
        "jane@example.com\u4e00\u4e00bob@example.org",
        "taro@example.jpです、hana@example.jpです",
        "連絡はtaro@example.jpまたはhana@example.jpへ",
        "a@example.com一" * 3,
    ],
)
def test_addresses_glued_by_spaceless_letters_are_each_found(text: str) -> None:
    """The letters cut off the end of one address may begin the next one (``a@x.com一b@y.org``):
    the search goes on from the cut, so the second address is found, not swallowed."""
    pii = PIIMiddleware("email")
    scan = pii.scan("input")
    out = scan.text(text)
    assert "@" not in out, out
    assert scan.found == {"email": text.count("@")}
