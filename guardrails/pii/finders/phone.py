"""Phone numbers in text: candidates of 6 to 15 digits in groups, international ones checked with
``phonenumbers`` and national ones with the configured regions' metadata
(:mod:`guardrails.pii.phones`); dates, IPv4 addresses, amounts, durations and id tails are not
phones; a number no rule accepts is reported next to a phone context word."""

from __future__ import annotations

import re
from collections.abc import Callable

from guardrails.pii.context import _GROUP, _ID_BEFORE, CONTEXT_BOOST, THRESHOLD, Span, _Scan
from guardrails.pii.phones import PhoneRules

_PHONE = re.compile(
    r"(?:(?:(?<![\w+])\+|(?<![\w.\-/])00)[ \t]?|(?<![\w.+/\-]))"
    r"\(?\d[\d \t().\-/]{4,22}\d(?![\dA-Za-z_])"
)
_DATE_SHAPE = re.compile(
    r"\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}(?!\d)|\d{1,2}[\-/.]\d{1,2}[\-/.](?:\d{4}|\d{2})(?![\d\-/.])"
)
_IP_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}$")
_TIME_AFTER = re.compile(r"\s?(?:am|pm|h|hrs|min|sec|ms|s|kg|km|mb|gb|%)\b", re.I)


def _phone_finder(rules: PhoneRules) -> Callable[[_Scan], list[Span]]:
    def find(scan: _Scan) -> list[Span]:
        text = scan.text
        out: list[Span] = []
        pos = 0
        while True:
            m = _PHONE.search(text, pos)
            if m is None:
                return out
            since = out[-1][1] if out else 0
            found = _phone_candidate(scan, rules, m.start(), m.end(), since)
            if found is None:
                pos = m.end()
            else:
                out.append(found)
                pos = found[1]

    return find


def _phone_candidate(
    scan: _Scan, rules: PhoneRules, start: int, end: int, since: int = 0
) -> Span | None:
    """Score ``text[start:end]``; when it fails, retry without its last one or two groups
    ("0207 946 0958 24 hours")."""
    text = scan.text
    raw = text[start:end]
    while raw.count("(") > raw.count(")"):  # "+65 6123 4567 (81697 ...": cut before the "("
        cut = raw.rfind("(")
        if cut <= 0:
            return None
        raw = raw[:cut].rstrip(" \t-./")
    end = start + len(raw)
    body = raw.lstrip("+ \t(")
    if _DATE_SHAPE.match(body) or _IP_SHAPE.match(body):
        return None  # a date, a timestamp or an IPv4 address
    groups = [g.span() for g in _GROUP.finditer(text, start, end)]
    if len(groups) > 9:
        return None  # digits scattered in prose, not a phone number
    total = [0]
    for g0, g1 in groups:
        total.append(total[-1] + g1 - g0)
    last = len(groups)
    best: Span | None = None
    for k in range(last, max(0, last - 3), -1):
        if k < last:  # only a short trailing group that breaks the grouping is dropped
            dropped = groups[k][1] - groups[k][0]
            if dropped > 2 or all(g1 - g0 == dropped for g0, g1 in groups[1:k]):
                break
        n = total[k]
        if n > 15:
            continue
        if n < 6:
            break
        stop = groups[k - 1][1]
        if stop < end and text[stop] == ")":
            stop += 1
        pieces = [text[g0:g1] for g0, g1 in groups[:k]]
        score = _phone_score(scan, rules, start, stop, pieces, since)
        score -= 0.1 * (last - k)  # a shorter reading must be clearly better
        if score >= THRESHOLD and (best is None or score > best[2]):
            best = (start, stop, score)
            if score >= 0.8:
                break
    return best


def _phone_score(
    scan: _Scan, rules: PhoneRules, start: int, end: int, groups: list[str], since: int = 0
) -> float:
    text = scan.text
    raw = text[start:end]
    digits = "".join(groups)
    n = len(digits)
    if not 6 <= n <= 15 or len(groups) > 7 or sum(len(g) == 1 for g in groups) > 2:
        return 0.0  # too short, too long, or digits scattered in prose
    if (
        "." in raw
        and " " not in raw
        and len(groups) > 3
        and max(map(len, groups)) <= 3
        and not all(len(g) == 2 for g in groups)  # "01.42.68.53.00" is French; "1.2.3.4.5" not
    ):
        return 0.0
    if raw.count("(") != raw.count(")"):
        return 0.0
    decimal = len(groups) == 2 and "." in raw and " " not in raw  # "33.641433", "9269.9510"
    if decimal and min(map(len, groups)) < 4:
        return 0.0
    after = text[end : end + 5]
    if after[:1] in (",", ".") and after[1:2].isdigit():
        return 0.0  # an amount: "1 234 567,89"
    international = raw.startswith("+") or (raw.startswith("00") and raw[2:3] in "123456789")
    # a unit after it ("12 30 h", "2 500 km") reads as a quantity: a national-looking number is
    # then a phone only with context; "+44 20 7946 0958 h" is still a phone
    quantity = bool(_TIME_AFTER.match(after)) and not international
    if not international and (
        [len(g) for g in groups] == [3, 2, 4] or _ID_BEFORE.search(text[max(0, start - 40) : start])
    ):
        return 0.0  # an SSN's shape, or the tail of an account number / IBAN
    if international:
        intl = digits[2:] if raw.startswith("00") else digits
        if "(0)" in raw:  # "+44 (0)20 7946 0958": the trunk prefix in brackets
            cut = raw.find("(0)")
            head = "".join(_GROUP.findall(raw[:cut]))
            tail = "".join(_GROUP.findall(raw[cut + 3 :]))
            intl = (head[2:] if raw.startswith("00") else head) + tail
        score = 0.9 if rules.international(intl) else 0.3
    else:
        if scan.negative(start):
            return 0.0  # "order 0207946095", "$ 415 555 0100"
        formatted = len(groups) > 1 or raw.startswith("(")
        score = 0.3
        if decimal:
            pass  # a phone only with context
        elif formatted and rules.with_country_code(groups[0], "".join(groups[1:])):
            score = 0.8  # "44 20 7946 0958": a country code written without "+"
        elif (rank := rules.national(digits)) is not None:
            if formatted and (n < 8 or (len(groups) == 2 and len(groups[1]) < 4)):
                score = 0.35  # "20210-261", "7038 01": a postcode or a house number as often
            elif formatted:
                score = 0.7 - 0.001 * rank  # the earlier a region is listed, the likelier
            elif n > 12:
                score = 0.0  # 13+ bare digits: an id or a card, not a national number
            elif digits[0] == "0" and digits[1] != "0" and n >= 9:
                score = 0.5  # "07700900123": a trunk prefix and a valid national number
            else:
                score = 0.35  # bare digits valid somewhere: context decides
    if quantity:
        score = min(score, 0.3)
    if score >= THRESHOLD:
        return score
    tel = text[max(0, start - 8) : start].lower().rstrip(" \t")
    if tel.endswith(("tel:", "phone:", "callto:", "sms:", "fax:")) or scan.context(
        "phone", start, end, since
    ):
        score += CONTEXT_BOOST
    return score
