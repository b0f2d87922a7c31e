"""Phone numbers in text: candidates of 6 to 15 digits in groups, international ones checked with
``phonenumbers`` and national ones with the configured regions' metadata
(:mod:`guardrails.pii.phones`); dates, IPv4 addresses, amounts, durations and id tails are not
phones; a number no rule accepts is reported next to a phone context word."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from guardrails.pii.context import _GROUP, _ID_BEFORE, CONTEXT_BOOST, THRESHOLD, Span, _Scan
from guardrails.pii.finders.spaceless import not_after_first
from guardrails.pii.phones import PhoneRules

# a letter of a script written without spaces (電話番号は03-...) is a boundary, like a space.
# A candidate: "+", "00" or nothing, then "(" or a digit; the pattern starts with its first
# character (a class the regex engine skips to) and checks what came before it afterwards,
# alternative by alternative in the same order (tests/test_pii_fast_patterns.py holds it to the
# plain form: not_after(\w+) "+" [ \t]? | not_after(\w.-/) "00" [ \t]? | not_after(\w.+/-))
_PHONE_REST = r"[\d \t().\-/]{4,22}\d(?![\dA-Za-z_])"
_PHONE = re.compile(
    r"[+(\d](?:(?<=\+)"
    + not_after_first(r"\w+")
    + r"[ \t]?\(?\d"
    + _PHONE_REST
    + r"|(?<=0)"
    + not_after_first(r"\w.\-/")
    + r"0[ \t]?\(?\d"
    + _PHONE_REST
    + r"|(?<=\()"
    + not_after_first(r"\w.+/\-")
    + r"\d"
    + _PHONE_REST
    + r"|(?<=\d)"
    + not_after_first(r"\w.+/\-")
    + _PHONE_REST
    + r")"
)
_DATE_SHAPE = re.compile(
    r"\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}(?!\d)|\d{1,2}[\-/.]\d{1,2}[\-/.](?:\d{4}|\d{2})(?![\d\-/.])"
)
_IP_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}$")
_TIME_AFTER = re.compile(r"\s?(?:am|pm|h|hrs|min|sec|ms|s|kg|km|mb|gb|%)\b", re.I)


class _Reading(NamedTuple):
    """One way to read a candidate (all of it, or without a short trailing group)."""

    stop: int  #: where the reading ends, from the candidate's start
    score: float  #: what the validators give it, before context
    international: bool  #: written with ``+`` or ``00`` and a country code
    penalty: float  #: a shorter reading must be clearly better


def _phone_finder(rules: PhoneRules) -> Callable[[_Scan], list[Span]]:
    def find(scan: _Scan) -> list[Span]:
        text = scan.text
        out: list[Span] = []
        # a candidate's readings depend on its own characters only: a text that repeats one
        # (adversarial input, a table) validates it once
        known: dict[str, tuple[_Reading, ...]] = {}
        pos = 0
        while True:
            m = _PHONE.search(text, pos)
            if m is None:
                return out
            start, end = m.span()
            raw = text[start:end]
            readings = known.get(raw)
            if readings is None:
                readings = known[raw] = _readings(rules, raw)
            since = out[-1][1] if out else 0
            found = _best(scan, readings, start, since) if readings else None
            if found is None:
                pos = end
            else:
                out.append(found)
                pos = found[1]

    return find


def _readings(rules: PhoneRules, raw: str) -> tuple[_Reading, ...]:
    """The readings of a candidate that can reach ``THRESHOLD`` (with a context word if they
    need one), best first: all of it, then without its last one or two groups ("0207 946 0958
    24 hours"). Everything here depends on the candidate's characters only."""
    while raw.count("(") > raw.count(")"):  # "+65 6123 4567 (81697 ...": cut before the "("
        cut = raw.rfind("(")
        if cut <= 0:
            return ()
        raw = raw[:cut].rstrip(" \t-./")
    end = len(raw)
    body = raw.lstrip("+ \t(")
    if _DATE_SHAPE.match(body) or _IP_SHAPE.match(body):
        return ()  # a date, a timestamp or an IPv4 address
    groups = [g.span() for g in _GROUP.finditer(raw)]
    if len(groups) > 9:
        return ()  # digits scattered in prose, not a phone number
    total = [0]
    for g0, g1 in groups:
        total.append(total[-1] + g1 - g0)
    last = len(groups)
    international = raw.startswith("+") or (raw.startswith("00") and raw[2:3] in "123456789")
    # "00" stands for "+": it is not one of the number's at most 15 digits
    lead = 2 if international and raw.startswith("00") else 0
    out: list[_Reading] = []
    for k in range(last, max(0, last - 3), -1):
        if k < last:  # only a short trailing group that breaks the grouping is dropped
            dropped = groups[k][1] - groups[k][0]
            if dropped > 2 or all(g1 - g0 == dropped for g0, g1 in groups[1:k]):
                break
        n = total[k] - lead
        if n > 15:
            continue
        if n < 6:
            break
        stop = groups[k - 1][1]
        if stop < end and raw[stop] == ")":
            stop += 1
        pieces = [raw[g0:g1] for g0, g1 in groups[:k]]
        score = _validated(rules, raw[:stop], pieces, international)
        penalty = 0.1 * (last - k)
        bound = score if score >= THRESHOLD else score + CONTEXT_BOOST
        if not international:  # followed by a unit it is capped, then context may raise it
            bound = max(bound, min(score, 0.3) + CONTEXT_BOOST)
        if bound - penalty >= THRESHOLD:
            out.append(_Reading(stop, score, international, penalty))
    return tuple(out)


def _validated(rules: PhoneRules, raw: str, groups: list[str], international: bool) -> float:
    """What the phone rules say of ``raw`` (split into digit ``groups``), context aside:
    0 when its shape says it is something else."""
    digits = "".join(groups)
    n = len(digits) - (2 if international and raw.startswith("00") else 0)
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
    if international:
        intl = digits[2:] if raw.startswith("00") else digits
        if "(0)" in raw:  # "+44 (0)20 7946 0958": the trunk prefix in brackets
            cut = raw.find("(0)")
            head = "".join(_GROUP.findall(raw[:cut]))
            tail = "".join(_GROUP.findall(raw[cut + 3 :]))
            intl = (head[2:] if raw.startswith("00") else head) + tail
        return 0.9 if rules.international(intl) else 0.3
    if [len(g) for g in groups] == [3, 2, 4]:
        return 0.0  # an SSN's shape
    formatted = len(groups) > 1 or raw.startswith("(")
    if decimal:
        return 0.3  # a phone only with context
    if formatted and rules.with_country_code(groups[0], "".join(groups[1:])):
        return 0.8  # "44 20 7946 0958": a country code written without "+"
    rank = rules.national(digits)
    if rank is None:
        return 0.3
    if formatted and (n < 8 or (len(groups) == 2 and len(groups[1]) < 4)):
        return 0.35  # "20210-261", "7038 01": a postcode or a house number as often
    if formatted:
        return 0.7 - 0.001 * rank  # the earlier a region is listed, the likelier
    if n > 12:
        return 0.0  # 13+ bare digits: an id or a card, not a national number
    if digits[0] == "0" and digits[1] != "0" and n >= 9:
        return 0.5  # "07700900123": a trunk prefix and a valid national number
    return 0.35  # bare digits valid somewhere: context decides


def _best(scan: _Scan, readings: tuple[_Reading, ...], start: int, since: int) -> Span | None:
    """The best reading of the candidate at ``start`` in its place: a context word raises a
    reading the rules do not settle; a unit after a national-looking number leaves it to context;
    an amount after it, an id or a negative word before it rule it out. The cheap context
    look-up runs first: most candidates stop there."""
    text = scan.text
    best: Span | None = None
    for reading in readings:
        stop = start + reading.stop
        after = text[stop : stop + 5]
        if after[:1] in (",", ".") and after[1:2].isdigit():
            continue  # an amount: "1 234 567,89"
        score = reading.score
        # a unit after it ("12 30 h", "2 500 km") reads as a quantity: a national-looking
        # number is then a phone only with context; "+44 20 7946 0958 h" is still a phone
        if not reading.international and _TIME_AFTER.match(after):
            score = min(score, 0.3)
        if score < THRESHOLD:
            tel = text[max(0, start - 8) : start].lower().rstrip(" \t")
            if not (
                tel.endswith(("tel:", "phone:", "callto:", "sms:", "fax:"))
                or scan.context("phone", start, stop, since)
            ):
                continue
            score += CONTEXT_BOOST
        if not reading.international and (
            _ID_BEFORE.search(text[max(0, start - 40) : start]) or scan.negative(start)
        ):
            continue  # the tail of an account number / IBAN; "order 0207946095", "$ 415 ..."
        score -= reading.penalty
        if score >= THRESHOLD and (best is None or score > best[2]):
            best = (start, stop, score)
            if score >= 0.8:
                break
    return best
