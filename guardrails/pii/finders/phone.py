"""Phone numbers in text: candidates of 6 to 15 digits in groups, international ones checked with
``phonenumbers`` and national ones with the configured regions' metadata
(:mod:`guardrails.pii.phones`); dates, IPv4 addresses, amounts, durations and id tails are not
phones; a number no rule accepts is reported next to a phone context word."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from guardrails.pii.context import (
    _GROUP,
    CONTEXT_BOOST,
    THRESHOLD,
    Span,
    _Scan,
    glued,
    id_before,
)
from guardrails.pii.finders.spaceless import not_after_first
from guardrails.pii.normalize import ascii_digits
from guardrails.pii.phones import PhoneRules

# a letter of a script written without spaces (電話番号は03-...) is a boundary, like a space.
# A candidate: "+", "00" or nothing, then "(" or a digit; the pattern starts with its first
# character (a class the regex engine skips to) and checks what came before it afterwards,
# alternative by alternative in the same order (tests/test_pii_fast_patterns.py holds it to the
# plain form: not_after(\w+) "+" [ \t]? | not_after(\w.-/) "00" [ \t]? | not_after(\w.+/-))
_PHONE_REST = r"[\d \t().\-/]{4,22}\d(?![\dA-Za-z_])"
_PHONE = re.compile(
    ascii_digits(
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
)
_DATE_SHAPE = re.compile(
    ascii_digits(
        r"\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}(?!\d)|\d{1,2}[\-/.]\d{1,2}[\-/.](?:\d{4}|\d{2})(?![\d\-/.])"
    )
)
_IP_SHAPE = re.compile(ascii_digits(r"\d{1,3}(?:\.\d{1,3}){3}$"))
#: _DATE_SHAPE or _IP_SHAPE, in one match
_NOT_A_NUMBER = re.compile(f"(?:{_DATE_SHAPE.pattern})|(?:{_IP_SHAPE.pattern})")
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
        first = _PHONE.search(text)
        if first is None:
            return out  # no candidate: no state to set up
        sinces: list[int] = []  # per number found: where its context could start
        known = _Memo()
        pos = 0
        unsplit = 0  # where the run a split failed in ends
        listed = -1  # where a number written right after the one just found starts
        while True:
            m = _LISTED.match(text, listed) if listed >= 0 else None
            after_one = m is not None
            listed = -1
            if m is None:
                if first is not None:
                    m, first = first, None  # the search from 0, done above
                else:
                    m = _PHONE.search(text, pos)
                    if m is None:
                        return out
            start, end = m.span()
            raw = text[start:end]
            readings = _readings_of(rules, known, raw)
            since = out[-1][1] if out else 0
            found = None
            if out and readings and _LIST_GAP.fullmatch(text, since, start):
                # a list of numbers alike: a context word before the list covers all of it
                found = _best(scan, readings, start, sinces[-1], after_one)
                if found is not None and _alike(known, text, out[-1], found):
                    since = sinces[-1]
                else:
                    found = None
            if found is None and readings:
                found = _best(scan, readings, start, since, after_one)
            # the run may go on past the candidate (which stops at 24 characters, at a digit
            # not followed by another): more digits than one number holds, it may be two
            run = raw + text[end : _RUN_ON.match(text, end).end()]  # type: ignore[union-attr]
            if (
                len(run) > _MAX_DIGITS  # fewer characters than that: fewer digits too
                and (after_one or start >= unsplit)
                and not (after_one and found is not None and _alike(known, text, out[-1], found))
                and sum(known.layout(run)) > _MAX_DIGITS
            ):
                split = _split(scan, rules, known, run, start, since, after_one)
                if split is not None:
                    found, listed = split
                elif not after_one:
                    # not two numbers side by side: the rest of this run is not tried again
                    # (each character of a run is read by one split attempt at most)
                    unsplit = _RUN.match(text, start).end()  # type: ignore[union-attr]
            if found is not None:
                out.append(found)
                sinces.append(since)
                pos = found[1]
            elif not after_one:
                pos = end
            # a listed candidate that reads as no number: the search goes on from ``pos``

    return find


#: what parts the numbers of a list: a comma, a semicolon, a slash or a line break
_LIST_GAP = re.compile(r"[ \t]*[,;/\n]?[ \t]*")
#: a whole run of digits and separators
_RUN = re.compile(ascii_digits(r"[\d \t().\-/+]*"))
#: the run of digits and separators a candidate stops in (up to 24 characters more)
_RUN_ON = re.compile(ascii_digits(r"[\d \t().\-/]{0,24}"))
#: the most groups of digits a number is written in (_validated refuses more)
_MAX_GROUPS = 7
#: how unlike two numbers side by side may be (:func:`_unlike`)
_UNLIKE_MAX = 4
#: the most digits a phone number has (E.164)
_MAX_DIGITS = 15
#: what parts two numbers written side by side: a space or a slash between two groups (a
#: closing bracket of the first, an opening bracket of the second around it)
_PARTS = re.compile(r"\)?(?:[ \t]+|[ \t]*/[ \t]*)\(?")
#: a candidate that starts where a split says the next number starts (after a space or a slash,
#: where _PHONE does not start one: "12/05/2024" is not a phone number)
_LISTED = re.compile(ascii_digits(r"\(?\d" + _PHONE_REST))


#: two letters (an IBAN's country code) right before a run
_COUNTRY_BEFORE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[ \t]?$")


def _readings_of(rules: PhoneRules, memo: _Memo, raw: str) -> tuple[_Reading, ...]:
    readings = memo.readings.get(raw)
    if readings is None:
        readings = memo.readings[raw] = _readings(rules, raw)
    return readings


def _heads(raw: str) -> list[tuple[int, int]]:
    """Where a run of digit groups too long to be one number can part in two: per parting
    gap (a space or a slash between two groups) after 6 to 15 digits, the end of the head and
    where the next number starts, both from the start of ``raw``."""
    groups = [g.span() for g in _GROUP.finditer(raw)]
    out = []
    digits = singles = 0
    for k in range(min(len(groups) - 1, _MAX_GROUPS)):
        size = groups[k][1] - groups[k][0]
        digits += size
        singles += size == 1
        if digits > _MAX_DIGITS or singles > 2:
            break  # past what one number holds (_validated refuses it too)
        gap = raw[groups[k][1] : groups[k + 1][0]]
        opened = groups[k][0] > 0 and raw[groups[k][0] - 1] == "("
        # a bracketed group is an area code: it begins a number, never ends one
        if digits >= 6 and not opened and _PARTS.fullmatch(gap):
            out.append((groups[k][1] + (gap[0] == ")"), groups[k + 1][0] - (gap[-1] == "(")))
        if size >= 7:
            break  # a block of 7 digits or more ends a number ("+21312345678 2131 4977...")
    return out


class _Memo:
    """What depends on a candidate's characters only, per text scanned: a text that repeats
    one (adversarial input, a table) validates it once."""

    __slots__ = ("heads", "layouts", "readings")

    def __init__(self) -> None:
        self.readings: dict[str, tuple[_Reading, ...]] = {}
        self.heads: dict[str, list[tuple[int, int]]] = {}
        self.layouts: dict[str, tuple[int, ...]] = {}

    def layout(self, raw: str) -> tuple[int, ...]:
        """The lengths of the digit groups of ``raw``."""
        hit = self.layouts.get(raw)
        if hit is None:
            hit = self.layouts[raw] = tuple(map(len, _GROUP.findall(raw)))
        return hit


def _viable_heads(rules: PhoneRules, memo: _Memo, raw: str) -> list[tuple[int, int]]:
    """The parting gaps of ``raw`` (:func:`_heads`) whose head has a reading at all: those
    the rules accept without a context word first, then the longest."""
    heads = memo.heads.get(raw)
    if heads is None:
        scored = []
        for head_end, next_start in _heads(raw):
            readings = _readings_of(rules, memo, raw[:head_end])
            if readings:
                settled = max(r.score for r in readings) >= THRESHOLD
                scored.append((settled, head_end, next_start))
        scored.sort(reverse=True)  # settled by the rules first, then the longest
        heads = memo.heads[raw] = [(h, n) for _, h, n in scored]
    return heads


def _split(
    scan: _Scan,
    rules: PhoneRules,
    known: _Memo,
    raw: str,
    start: int,
    since: int,
    after_one: bool,
) -> tuple[Span, int] | None:
    """Two numbers side by side read as one run too long to be a number ("415-555-0132
    415-555-0199", "020 7946 0958 / 020 7946 0959"): the head that reads as a number whole, at
    a parting gap where what follows starts a number too (the highest score; of equal ones the
    longest head), and where that next number starts. A run that does not part into two numbers
    is not split, nor one in a card's layout (four groups of four digits first: "4111 1111 1111
    1112" is a mistyped card, not two numbers of eight digits), nor one right after a country
    code's two letters (an IBAN written in pairs of digits)."""
    if known.layout(raw)[:4] == (4, 4, 4, 4):
        return None
    if _COUNTRY_BEFORE.search(scan.text, max(0, start - 4), start):
        return None  # "DE 35 00 02 41 34 07 03 45 30 00": the body of an IBAN
    # heads the rules accept without context first, then the longest; of those whose reading
    # in place ends at the gap and whose next number stands, the one most alike to that number
    # (the first exactly alike ends the search)
    best: tuple[int, Span, int] | None = None
    for head_end, next_start in _viable_heads(rules, known, raw):
        found = _best(scan, known.readings[raw[:head_end]], start, since, after_one)
        if found is None or found[1] != start + head_end:
            continue  # not a number, or one without its last group: not where the run parts
        after = _stands(scan, rules, known, start + next_start, since)
        if after is None:
            continue
        gap = _unlike(known, scan.text, found, after)
        if gap == 0:
            return found, start + next_start
        if gap <= _UNLIKE_MAX and (best is None or gap < best[0]):
            best = (gap, found, start + next_start)
    return None if best is None else (best[1], best[2])


def _stands(
    scan: _Scan,
    rules: PhoneRules,
    known: _Memo,
    at: int,
    since: int,
) -> Span | None:
    """The number that starts at ``at`` (right after another one), if its candidate reads as
    one, whole or at a parting gap of its own (a third number may follow)."""
    m = _LISTED.match(scan.text, at)
    if m is None:
        return None
    raw = m.group()
    found = _best(scan, _readings_of(rules, known, raw), at, since, True)
    if found is not None or sum(known.layout(raw)) <= _MAX_DIGITS:
        return found
    for head_end, _ in _viable_heads(rules, known, raw):
        found = _best(scan, known.readings[raw[:head_end]], at, since, True)
        if found is not None:
            return found
    return None


def _alike(memo: _Memo, text: str, one: Span, other: Span) -> bool:
    """Two numbers listed side by side are alike (:func:`_unlike` within bounds)."""
    return _unlike(memo, text, one, other) <= _UNLIKE_MAX


def _unlike(memo: _Memo, text: str, one: Span, other: Span) -> int:
    """How unlike two numbers side by side are: 0 for the same groups, else the difference of
    their national lengths (a run that parts into a 12-digit and an 8-digit number is more
    likely one number of 20; "+49 30 123456 / 01512 3456789" differ by 4)."""
    a = memo.layout(text[one[0] : one[1]])
    b = memo.layout(text[other[0] : other[1]])
    if a == b:
        return 0
    return abs(_national_length(text, one, a) - _national_length(text, other, b))


def _national_length(text: str, span: Span, groups: tuple[int, ...]) -> int:
    """Digits of a number as written nationally, about: a country code after "+" or "00"
    stands for a trunk prefix, two digits fewer."""
    head = text[span[0] : span[0] + 2]
    return sum(groups) - (4 if head == "00" else 2 if head[:1] == "+" else 0)


#: 2 to 9 as 1: a candidate's shape (its separators, where its zeros and other digits are)
_SHAPE = str.maketrans("23456789", "11111111")
#: the most shapes a PhoneRules keeps the plans of (all are dropped when it is full)
SHAPES_KEPT = 4096

#: what the rules must say of a reading's digits: ``("i", lead, trunk)`` for an international
#: number (``trunk``: the group of a bracketed trunk "(0)", -1 for none), ``("n", formatted,
#: after)`` for a national one (``after``: its score once a region accepts it, ``None`` for
#: ``0.7 - 0.001 * rank``); a float: the score, no rule asked
_Verdict = float | tuple[Any, ...]
#: a reading of a shape: where it ends, international, its penalty, the spans of its digit
#: groups, its verdict
_Step = tuple[int, bool, float, tuple[tuple[int, int], ...], _Verdict]


def _readings(rules: PhoneRules, raw: str) -> tuple[_Reading, ...]:
    """The readings of a candidate that can reach ``THRESHOLD`` (with a context word if they
    need one), best first: all of it, then without its last one or two groups ("0207 946 0958
    24 hours"). Everything but what the rules say of its digits depends on the candidate's
    shape only (:data:`_SHAPE`): that part is worked out once per shape (:func:`_plan`)."""
    shapes: dict[str, tuple[_Step, ...]] = rules.shapes
    shape = raw.translate(_SHAPE)
    plan = shapes.get(shape)
    if plan is None:
        if len(shapes) >= SHAPES_KEPT:
            shapes.clear()
        plan = shapes[shape] = _plan(shape)
    out: list[_Reading] = []
    for stop, international, penalty, spans, verdict in plan:
        score = (
            verdict
            if verdict.__class__ is float
            else _decide(rules, verdict, [raw[g0:g1] for g0, g1 in spans])  # type: ignore[arg-type]
        )
        bound = score if score >= THRESHOLD else score + CONTEXT_BOOST
        if not international:  # followed by a unit it is capped, then context may raise it
            bound = max(bound, min(score, 0.3) + CONTEXT_BOOST)
        if bound - penalty >= THRESHOLD:
            out.append(_Reading(stop, score, international, penalty))
    return tuple(out)


def _plan(raw: str) -> tuple[_Step, ...]:
    """The readings of a candidate of this shape, each with its verdict (:func:`_verdict`)."""
    # "+65 6123 4567 (81697 ...": cut before the "("
    while "(" in raw and raw.count("(") > raw.count(")"):
        cut = raw.rfind("(")
        if cut <= 0:
            return ()
        raw = raw[:cut].rstrip(" \t-./")
    end = len(raw)
    if _NOT_A_NUMBER.match(raw.lstrip("+ \t(")):
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
    out: list[_Step] = []
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
        verdict = _verdict(raw[:stop], pieces, international)
        penalty = 0.1 * (last - k)
        if verdict.__class__ is float:  # no rule asked: whether it can reach the threshold
            score: float = verdict  # type: ignore[assignment]
            bound = score if score >= THRESHOLD else score + CONTEXT_BOOST
            if not international:
                bound = max(bound, min(score, 0.3) + CONTEXT_BOOST)
            if bound - penalty < THRESHOLD:
                continue
        out.append((stop, international, penalty, tuple(groups[:k]), verdict))
    return tuple(out)


def _validated(rules: PhoneRules, raw: str, groups: list[str], international: bool) -> float:
    """What the phone rules say of ``raw`` (split into digit ``groups``), context aside:
    0 when its shape says it is something else."""
    return _decide(rules, _verdict(raw, groups, international), groups)


def _decide(rules: PhoneRules, verdict: _Verdict, groups: list[str]) -> float:
    """The score of a reading with digit ``groups``: its verdict, asked of the rules."""
    if verdict.__class__ is float:
        return verdict  # type: ignore[return-value]
    digits = "".join(groups)
    if verdict[0] == "i":  # type: ignore[index]
        _, lead, trunk = verdict  # type: ignore[misc]
        # "+44 (0)20 7946 0958": a trunk prefix in brackets, not dialled from abroad; or the
        # number's own first digit ("+39 (0)2 1234 5678": Italy keeps it): either reading
        if trunk >= 0 and rules.international("".join(groups[:trunk] + groups[trunk + 1 :])[lead:]):
            return 0.9
        return 0.9 if rules.international(digits[lead:]) else 0.3
    _, formatted, after = verdict  # type: ignore[misc]
    if formatted and rules.with_country_code(groups[0], "".join(groups[1:])):
        return 0.8  # "44 20 7946 0958": a country code written without "+"
    rank = rules.national(digits)
    if rank is None:
        return 0.3
    return 0.7 - 0.001 * rank if after is None else after  # type: ignore[no-any-return]


def _verdict(raw: str, groups: list[str], international: bool) -> _Verdict:
    """What :func:`_validated` decides from the shape of ``raw`` (split into digit ``groups``)
    alone (a zero is told from other digits, the rest not): the score, or what to ask the
    rules (:data:`_Verdict`)."""
    digits = "".join(groups)
    n = len(digits) - (2 if international and raw.startswith("00") else 0)
    shape = groups
    trunk = international and "(0)" in raw
    at = -1
    if trunk:  # "+44 (0)20 7946 0958": the bracketed 0 is not a group of the number's own
        at = len(_GROUP.findall(raw[: raw.find("(0)")]))
        shape = groups[:at] + groups[at + 1 :]
    if not 6 <= n <= 15 or len(shape) > 7 or sum(len(g) == 1 for g in shape) > 2:
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
        return ("i", 2 if raw.startswith("00") else 0, at)
    if [len(g) for g in groups] == [3, 2, 4]:
        return 0.0  # an SSN's shape
    formatted = len(groups) > 1 or raw.startswith("(")
    if decimal:
        return 0.3  # a phone only with context
    after: float | None
    if formatted and (n < 8 or (len(groups) == 2 and len(groups[1]) < 4)):
        after = 0.35  # "20210-261", "7038 01": a postcode or a house number as often
    elif formatted:
        after = None  # 0.7 - 0.001 * rank: the earlier a region is listed, the likelier
    elif n > 12:
        after = 0.0  # 13+ bare digits: an id or a card, not a national number
    elif digits[0] == "0" and digits[1] != "0" and n >= 9:
        after = 0.5  # "07700900123": a trunk prefix and a valid national number
    else:
        after = 0.35  # bare digits valid somewhere: context decides
    return ("n", formatted, after)


#: URI schemes of a phone number ("tel:+1...", "sms: 0207...")
_SCHEMES = ("tel:", "phone:", "callto:", "sms:", "fax:")


def _scheme_before(text: str, start: int) -> bool:
    """A phone URI scheme right before ``start`` (spaces or tabs between), as a word of its
    own: ``hotel: 19 99 99 9`` holds no ``tel:``."""
    lo = max(0, start - 8)
    window = text[lo:start].rstrip(" \t")
    low = window.lower()
    for scheme in _SCHEMES:
        if low.endswith(scheme):
            at = lo + len(window) - len(scheme)
            return at <= 0 or not glued(text[at - 1])
    return False


def _best(
    scan: _Scan,
    readings: tuple[_Reading, ...],
    start: int,
    since: int,
    after_one: bool = False,
) -> Span | None:
    """The best reading of the candidate at ``start`` in its place: a context word raises a
    reading the rules do not settle; a unit after a national-looking number leaves it to context;
    an amount after it, an id or a negative word before it rule it out (unless ``after_one``:
    the number right before it is a phone number of its own, not an id it is the tail of).
    The cheap context look-up runs first: most candidates stop there."""
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
            if not (_scheme_before(text, start) or scan.context("phone", start, stop, since)):
                continue
            score += CONTEXT_BOOST
        if not (reading.international or after_one) and (
            id_before(text, max(0, start - 40), start) or scan.negative(start)
        ):
            continue  # the tail of an account number / IBAN; "order 0207946095", "$ 415 ..."
        score -= reading.penalty
        if score >= THRESHOLD and (best is None or score > best[2]):
            best = (start, stop, score)
            if score >= 0.8:
                break
    return best
