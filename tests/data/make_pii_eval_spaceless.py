"""Generate pii_eval_spaceless.jsonl: values written right against Chinese, Japanese, Korean and
Thai text, from Faker's ja_JP, zh_CN, ko_KR and th_TH locales.

Labeled by construction (each row lists the values it planted, with their exact text). Each
locale has its own sentence templates per type, written the way the language writes them: no
space between the value and the words around it (``電話番号は03-3224-9999です``), and a few with
spaces or full-width punctuation. Hard negatives in the same scripts must not be reported: order
and invoice numbers, postcodes, dates, amounts, times, quantities.

Splits: ``dev`` (the templates looked at while writing the boundaries) and ``heldout`` (other
templates, another seed; only its totals are reported). Run:
``python tests/data/make_pii_eval_spaceless.py`` (seeded, reproducible).
"""

# ruff: noqa: E501  (sample text in four scripts, full-width punctuation on purpose)
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from faker import Faker

OUT = Path(__file__).with_name("pii_eval_spaceless.jsonl")
LOCALES = ("ja_JP", "zh_CN", "ko_KR", "th_TH")

# locale -> type -> split -> templates ("{v}": the value)
TEMPLATES: dict[str, dict[str, dict[str, list[str]]]] = {
    "ja_JP": {
        "phone": {
            "dev": ["電話番号は{v}です", "お電話は{v}までお願いします", "連絡先：{v}"],
            "heldout": [
                "携帯{v}に折り返してください",
                "TEL{v}（平日のみ）",
                "こちらの番号{v}へどうぞ",
            ],
        },
        "email": {
            "dev": ["メールは{v}です", "{v}宛に送ってください"],
            "heldout": ["詳細は{v}までご連絡ください", "担当者のアドレス：{v}。"],
        },
        "credit_card": {
            "dev": ["カード番号は{v}です"],
            "heldout": ["クレジットカード{v}で支払いました"],
        },
        "ip": {"dev": ["サーバーのIPは{v}です"], "heldout": ["接続元{v}からのアクセス"]},
        "iban": {"dev": ["振込先IBANは{v}です"], "heldout": ["口座{v}に送金しました"]},
    },
    "zh_CN": {
        "phone": {
            "dev": ["电话{v}谢谢", "我的手机号是{v}", "联系方式：{v}"],
            "heldout": ["请拨打{v}咨询", "有问题打{v}找我", "客服热线{v}全天服务"],
        },
        "email": {
            "dev": ["邮箱是{v}谢谢", "请发邮件到{v}"],
            "heldout": ["简历请投递至{v}，我们会尽快回复", "联系邮箱{v}。"],
        },
        "credit_card": {"dev": ["卡号{v}谢谢"], "heldout": ["用信用卡{v}付款"]},
        "ip": {"dev": ["IP是{v}吗"], "heldout": ["服务器地址{v}无法访问"]},
        "iban": {"dev": ["账户{v}收款"], "heldout": ["汇款到IBAN{v}即可"]},
    },
    "ko_KR": {
        "phone": {
            "dev": ["전화번호는{v}입니다", "연락처{v}로 연락주세요"],
            "heldout": [
                "휴대폰{v}으로 문자 주세요",
                "고객센터{v}에서 상담 가능합니다",
                "번호가{v}맞나요",
            ],
        },
        "email": {
            "dev": ["이메일은{v}입니다", "{v}로 보내주세요"],
            "heldout": ["문의는{v}에서 받습니다", "담당자 메일{v}확인 부탁드립니다"],
        },
        "credit_card": {"dev": ["카드번호{v}입니다"], "heldout": ["신용카드{v}로 결제했어요"]},
        "ip": {"dev": ["서버IP는{v}입니다"], "heldout": ["접속 주소{v}에서 오류"]},
        "iban": {"dev": ["계좌{v}로 송금"], "heldout": ["IBAN{v}입니다"]},
    },
    "th_TH": {
        "phone": {
            "dev": ["โทร{v}ครับ", "เบอร์โทรศัพท์{v}ค่ะ"],
            "heldout": ["ติดต่อได้ที่เบอร์{v}นะคะ", "มือถือ{v}ครับ", "สอบถามโทร{v}ได้ตลอด"],
        },
        "email": {
            "dev": ["อีเมล{v}ครับ", "ส่งมาที่{v}ค่ะ"],
            "heldout": ["ติดต่อทางอีเมล{v}ได้เลย", "อีเมลของฉันคือ{v}นะ"],
        },
        "credit_card": {"dev": ["บัตรเครดิต{v}ครับ"], "heldout": ["จ่ายด้วยบัตร{v}แล้ว"]},
        "ip": {"dev": ["ไอพี{v}ครับ"], "heldout": ["เซิร์ฟเวอร์{v}ล่ม"]},
        # no IBAN: Thailand does not use them (Faker's th_TH iban() is not a valid one)
    },
}

# hard negatives: "{n}" an order/invoice number, "{z}" a postcode, "{d}" a date, "{a}" an amount
NEGATIVES: dict[str, list[str]] = {
    "ja_JP": [
        "注文番号{n}の商品を発送しました",
        "〒{z}東京都港区",
        "{d}に届きます",
        "合計{a}円です",
        "会議は14:30からです",
        "在庫は1200個です",
    ],
    "zh_CN": [
        "订单号{n}已发货",
        "邮编{z}",
        "{d}到货",
        "总计{a}元",
        "会议14:30开始",
        "库存1200件",
    ],
    "ko_KR": [
        "주문번호{n}이 발송되었습니다",
        "우편번호{z}",
        "{d}에 도착합니다",
        "합계{a}원입니다",
        "회의는14:30에 시작",
        "재고는1200개입니다",
    ],
    "th_TH": [
        "หมายเลขคำสั่งซื้อ{n}จัดส่งแล้ว",
        "รหัสไปรษณีย์{z}",
        "ส่งถึงวันที่{d}",
        "รวม{a}บาท",
        "ประชุม14:30น.",
        "สินค้าคงเหลือ1200ชิ้น",
    ],
}


def value(fake: Faker, kind: str) -> str:
    if kind == "phone":
        return str(fake.phone_number()).split("x")[0].strip()
    if kind == "email":
        return str(fake.email())
    if kind == "credit_card":
        return str(fake.credit_card_number())
    if kind == "ip":
        return str(fake.ipv4_public())
    return str(fake.iban())


def rows(split: str, seed: int, per_template: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        for kind, splits in TEMPLATES[locale].items():
            for template in splits[split]:
                for _ in range(per_template):
                    v = value(fake, kind)
                    out.append(
                        {
                            "text": template.format(v=v),
                            "entities": [{"type": kind, "value": v}],
                            "split": split,
                            "source": f"faker:{locale}",
                        }
                    )
        for template in NEGATIVES[locale]:
            for _ in range(per_template):
                text = template.format(
                    n=str(rng.randrange(10**7, 10**10)),
                    z=str(fake.postcode()),
                    d=f"{rng.randrange(2020, 2030)}年{rng.randrange(1, 13)}月{rng.randrange(1, 29)}日"
                    if locale in ("ja_JP", "zh_CN")
                    else f"{rng.randrange(2020, 2030)}.{rng.randrange(1, 13):02d}.{rng.randrange(1, 29):02d}",
                    a=f"{rng.randrange(1000, 10**6):,}",
                )
                out.append(
                    {"text": text, "entities": [], "split": split, "source": f"negative:{locale}"}
                )
    return out


def main() -> None:
    data = rows("dev", 2025, 8) + rows("heldout", 7919, 12)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data))
    print(f"{len(data)} rows -> {OUT}")


if __name__ == "__main__":
    main()
