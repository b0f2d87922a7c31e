"""The detectors' patterns written for speed find exactly what their plain forms find, and every
gate that lets a finder skip a text is implied by what the finder matches.

A pattern that starts with a look-behind (``(?<!\\d)\\d{3,19}``) makes Python's regex engine try
every position of the text; written first character first (``\\d(?<!\\d\\d)\\d{2,18}``) the engine
skips in C to the characters that can start a match. The plain forms are kept here, verbatim as
they were, as the specification: both forms must give the same matches (spans and groups) on
text we did not write (the Faker evaluation set, the secrets sets, Presidio-style and spaceless
rows), on the adversarial inputs of tests/test_pii_detect_linear.py, and on random text over the
characters each pattern cares about.

A gate (``_NEEDS``: "@" for an email, three dots for an IPv4 address, five separators for a MAC
address, "-p" or "-a" for a command-line password, ...) is checked the other way round: the
finder runs without its gate, and whenever it finds something the gate must have let the text
through.
"""

from __future__ import annotations

import functools
import json
import random
import re
from pathlib import Path

import pytest

from guardrails.pii import detect as _detect_function  # noqa: F401  (the package attribute)
from guardrails.pii.context import _Scan
from guardrails.pii.finders import cards, iban, net, phone, secrets, ssn
from guardrails.pii.finders.spaceless import SPACELESS, not_after, not_before
from guardrails.pii.normalize import ascii_digits, normalize
from tests.test_pii_detect_linear import _UNITS

#: whole sweeps over the evaluation sets and random text (~20 s idle): `make test-slow` and .ci/run
pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
detect_module = __import__("guardrails.pii.detect", fromlist=["_NEEDS"])

_SEP = r"(?:[ \t]{0,2}(?:\r?\n|[\-./])[ \t]{0,2}|[ \t]{1,2})"
#: the plain forms, as they were written before (the specification of the fast forms)
PLAIN: dict[str, tuple[str, int]] = {
    "phone": (
        r"(?:(?:"
        + not_after(r"\w+")
        + r"\+|"
        + not_after(r"\w.\-/")
        + r"00)[ \t]?|"
        + not_after(r"\w.+/\-")
        + r")\(?\d[\d \t().\-/]{4,22}\d(?![\dA-Za-z_])",
        0,
    ),
    "card": (rf"(?<!\d)\d{{3,19}}(?:{_SEP}\d{{3,19}}){{0,5}}(?:{_SEP}\d{{1,2}})?(?!\d)", 0),
    # the card pattern where 12 digits and separators in a row start (the finder skips shorter)
    "card_long": (
        rf"(?<!\d)(?=[\d \t\r\n\-./]{{12}})\d{{3,19}}(?:{_SEP}\d{{3,19}}){{0,5}}"
        rf"(?:{_SEP}\d{{1,2}})?(?!\d)",
        0,
    ),
    "ssn": (r"(?<![\d\-./])(\d{3})([ \-./]?)(\d{2})([ \-./]?)(\d{4})(?![\d\-]|[./]\d)", 0),
    "iban": (
        r"(?<![A-Za-z0-9])[A-Za-z]{2}[ \t]?\d[ \t.\-]?\d"
        r"(?:(?:[ \t]{1,2}|[.\-/]|[ \t]?\r?\n[ \t]?)?[A-Za-z0-9]{1,4}){2,9}",
        0,
    ),
    "ipv6": (
        not_after(r"\w:.") + r"(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{2,45}",
        0,
    ),
    "mac": (
        not_after(r"\w:-")
        + r"[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
        + not_before(r"\w:-"),
        0,
    ),
    "url": (
        not_after(r"@\w.")
        + r"(?:https?://|ftp://|www\.)[^\s<>\"'`"
        + SPACELESS
        + r"]+[^\s<>\"'`.,;:!?)\]"
        + SPACELESS
        + "]",
        re.I,
    ),
    "crypto": (
        r"(?<![A-Za-z0-9])(?:bc1[a-z0-9]{25,59}|BC1[A-Z0-9]{25,59}|[13][a-km-zA-HJ-NP-Z1-9]{25,34})"
        r"(?![A-Za-z0-9])",
        0,
    ),
    "date": (
        r"(?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}\.\d{1,2}\.\d{4}|"
        r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4})"
        r"(?!\d)",
        0,
    ),
}
FAST: dict[str, re.Pattern[str]] = {
    "phone": phone._PHONE,
    "card": cards._CARD,
    "card_long": cards._CARD_LONG,
    "ssn": ssn._SSN,
    "iban": iban._IBAN,
    "ipv6": net._IPV6,
    "mac": net._MAC,
    "url": net._URL,
    "crypto": net._CRYPTO,
    "date": detect_module._DATE,
}
#: characters each pattern cares about, for random text
ALPHABET = (
    "0123456789012345678901234567890123456789 .-/+()\t\n:@_%,;!?'\"<>"
    "abcdefABCDEFhHtTpPsSwWfFJanFebMarMayDecqQzZxXyYkKlLmMnNoO"
    "\u3042\u6f22\uac00\u0e01\u0660\u00e9\u017f\u212a"
)


_BITCOIN = (
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
)
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_HEX = "0123456789abcdefABCDEF"


def _value(rng: random.Random) -> str:
    """A random value of one of the shapes the patterns look for (valid or not)."""
    kind = rng.randrange(7)
    if kind == 0:  # a Bitcoin address shape (real ones: the genesis block's, BIP 13's, BIP 173's)
        if rng.random() < 0.3:
            return rng.choice(_BITCOIN)
        if rng.random() < 0.5:
            bech = "bc1" + "".join(
                rng.choice("qpzry9x8gf2tvdw0s3jn54khce6mua7l") for _ in range(rng.randrange(20, 64))
            )
            return bech.upper() if rng.random() < 0.3 else bech
        return rng.choice("13") + "".join(rng.choice(_B58) for _ in range(rng.randrange(22, 38)))
    if kind == 1:  # a MAC address shape
        sep = rng.choice(":-")
        return sep.join(
            "".join(rng.choice(_HEX) for _ in range(2)) for _ in range(rng.choice((5, 6, 6, 6, 7)))
        )
    if kind == 2:  # an IPv6 shape
        groups = [
            "".join(rng.choice(_HEX) for _ in range(rng.randrange(0, 5)))
            for _ in range(rng.randrange(2, 9))
        ]
        return ":".join(groups)
    if kind == 3:  # a date shape
        return rng.choice(
            ["2024-01-31", "1/2/24", "31.12.2023", "Jan 5, 2024", "March 12 2020", "12/31/2024"]
        )
    if kind == 4:  # a phone shape
        return rng.choice(["+", "00", "(", ""]) + " ".join(
            "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 5)))
            for _ in range(rng.randrange(2, 6))
        )
    if kind == 5:  # a URL shape
        return rng.choice(["http://", "HTTPS://", "ftp://", "Www.", "www."]) + rng.choice(
            ["a.io/x", "ex.com", "x"]
        )
    return rng.choice(
        [
            "DE89 3704 0044 0532 0130 00",
            "4111 1111 1111 1111",
            "078-05-1120",
            "GB82WEST12345698765432",
        ]
    )


def _rows(name: str) -> list[str]:
    path = DATA / name
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


@functools.cache
def corpus() -> list[str]:
    """Text we did not write, adversarial text, and random text over the patterns' characters."""
    texts = _rows("pii_eval_faker.jsonl") + _rows("pii_eval.jsonl")
    texts += _rows("pii_eval_spaceless.jsonl") + _rows("secrets_eval.jsonl")
    texts += _rows("secrets_outside.jsonl")
    texts += [(unit * (3000 // len(unit) + 1))[:3000] for unit in _UNITS.values()]
    rng = random.Random(24)
    for _ in range(3000):
        n = rng.randrange(1, 80)
        texts.append("".join(rng.choice(ALPHABET) for _ in range(n)))
    for _ in range(1500):  # values of each shape, between random neighbours
        left, right = (rng.choice(" \n,;:-x1(\u3042") for _ in range(2))
        texts.append(left + _value(rng) + right)
    # near-misses built from real values: a character inserted, dropped or swapped
    seeds = [t for t in texts[:4000] if any(c.isdigit() for c in t)]
    for text in rng.sample(seeds, min(2000, len(seeds))):
        i = rng.randrange(len(text))
        edit = rng.randrange(3)
        if edit == 0:
            text = text[:i] + rng.choice(ALPHABET) + text[i:]
        elif edit == 1:
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i] + rng.choice(ALPHABET) + text[i + 1 :]
        texts.append(text)
    return texts


def _matches(pattern: re.Pattern[str], text: str) -> list[tuple[object, ...]]:
    return [
        (m.span(), *(m.span(g) for g in range(1, pattern.groups + 1)))
        for m in pattern.finditer(text)
    ]


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_the_fast_form_finds_what_the_plain_form_finds(name: str) -> None:
    """On the normalized text (what the finders read) the fast form finds what the plain form
    finds, ``\\d`` and all; on the raw text, what the plain form with ``\\d`` written ``[0-9]``
    finds (:func:`ascii_digits`: the fast forms write it so; other scripts' digits never reach
    them)."""
    plain = re.compile(*PLAIN[name])
    plain_ascii = re.compile(ascii_digits(PLAIN[name][0]), PLAIN[name][1])
    fast = FAST[name]
    assert fast.groups == plain.groups
    found = 0
    for raw in corpus():
        for text, spec in ((normalize(raw).text, plain), (raw, plain_ascii)):
            expected = _matches(spec, text)
            assert _matches(fast, text) == expected, (name, text[:200])
            # a search from every offset too (the finders resume from where the last match ended)
            if len(text) < 100:
                for pos in range(1, len(text), 9):
                    m1, m2 = spec.search(text, pos), fast.search(text, pos)
                    assert (m1 and m1.span()) == (m2 and m2.span()), (name, text, pos)
            found += len(expected)
    assert found > 20  # the patterns are exercised, not only their misses


def test_the_plain_forms_read_other_scripts_digits_the_fast_forms_never_see() -> None:
    """The raw corpus holds digits of other scripts (the \\d of a plain form matches them, the
    [0-9] of a fast form does not), and its normalized form none: the comparison on normalized
    text above is the one that says what the finders find."""
    texts = corpus()
    assert any(re.search(r"[^\x00-\x7f]", "".join(re.findall(r"\d", t))) for t in texts)
    assert not any(
        re.search(r"[^\x00-\x7f]", "".join(re.findall(r"\d", normalize(t).text))) for t in texts
    )


def test_only_h_f_w_fold_to_the_first_letters_of_a_url() -> None:
    """The URL pattern's first class ``[hHfFwW]`` stands for ``(?i)[hfw]``: no other character
    matches those letters ignoring case (the Kelvin sign does for k, the long s for s)."""
    first = re.compile(r"(?i)[hfw]")
    assert {c for c in map(chr, range(0x110000)) if first.fullmatch(c)} == set("hHfFwW")


def _all_types() -> list[str]:
    from guardrails.pii.detect import BUILTIN_TYPES

    # the secret types share one gate (has_secrets): their case checks it for all of them
    return [
        *sorted(set(BUILTIN_TYPES) - {"person", "location"} - set(secrets.SECRET_TYPES)),
        "secrets",
    ]


def _builtin(name: str) -> object:
    return detect_module._builtin(name, detect_module.DEFAULT_REGIONS, net.DEFAULT_EMAIL_TLDS)


@pytest.mark.parametrize("name", _all_types())
def test_a_gate_lets_through_every_text_its_finder_matches_in(name: str) -> None:
    names = sorted(secrets.SECRET_TYPES) if name == "secrets" else [name]
    builtins = [_builtin(n) for n in names]
    hits = 0
    for text in corpus():
        scan = _Scan(normalize(text), text)
        found = [b for b in builtins if b.find(scan)]  # the finders alone, gates skipped
        if found:
            hits += 1
            for b in found:
                assert b.needs(_Scan(normalize(text), text)), (name, text[:200])
    assert hits > 0, f"no text of the corpus holds a {name}"


def test_the_command_line_password_gate_is_implied_by_its_pattern() -> None:
    for text in [
        *corpus(),
        "mysql -u root -pS3cret!x",
        "redis-cli -a hunter22x",
        "sshpass -p pw1 ssh",
    ]:
        if secrets._CLI_COMMAND_PASS.search(text):
            assert "-p" in text or "-a" in text, text


def test_an_ipv4_address_starts_a_run_of_digits_and_dots() -> None:
    """_ips tries the IPv4 pattern only where a run of digits and dots of 7 or more starts."""
    for text in corpus():
        plain = [m.span() for m in net._IPV4.finditer(text)]
        runs = [
            m.span()
            for run in net._IPV4_RUN.finditer(text)
            if (m := net._IPV4.match(text, run.start())) is not None
        ]
        assert runs == plain, text[:200]


def _one_finder_at_a_time(detector: object, text: str) -> list[tuple[str, str, int, int]]:
    """The detector's matches computed the plain way: every type's finder in the listed order
    (its gate, then its spans), the spans sorted by start, longest first, ties to the type listed
    first, overlaps resolved as ``_resolve`` does."""
    from guardrails.pii.context import THRESHOLD, _Builtin

    found: list[tuple[int, int, float, str]] = []
    scan = _Scan(normalize(text), text)
    for name, finder in detector.finders:  # type: ignore[attr-defined]
        assert isinstance(finder, _Builtin)
        if finder.needs(scan):
            for s, e, score in finder.find(scan):
                if score >= THRESHOLD:
                    found.append((*scan.norm.span(s, e), score, name))
    found.sort(key=lambda f: (f[0], f[0] - f[1]))
    kept: list[tuple[int, int, float, str]] = []
    for item in found:
        if kept and item[0] < kept[-1][1]:
            last = kept[-1]
            if item[1] <= last[1]:
                if item[:2] == last[:2] and item[2] > last[2]:
                    kept[-1] = item
            else:  # a partial overlap: one span over both, named by the higher score
                best = item if item[2] > last[2] else last
                kept[-1] = (last[0], item[1], best[2], best[3])
            continue
        kept.append(item)
    return [(name, text[s:e], s, e) for s, e, _, name in kept]


@pytest.mark.parametrize("order", ["sorted", "reversed", "shuffled"])
def test_the_detector_plan_finds_what_one_finder_at_a_time_finds(order: str) -> None:
    """The secret types share one step and steps may run in any order: the matches (and which
    type a span shared by several types is reported as) are those of one finder at a time."""
    from guardrails.pii.detect import build_detector

    names = [n for n in _all_types() if n != "secrets"] + sorted(secrets.SECRET_TYPES)
    names.sort()
    if order == "reversed":
        names.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(names)
    detector = build_detector(names)
    texts = corpus()[::3]
    found = 0
    for text in texts:
        got = [(m["type"], m["value"], m["start"], m["end"]) for m in detector._scan(text)]
        assert got == _one_finder_at_a_time(detector, text), text[:200]
        found += len(got)
    assert found > 500


def test_a_span_two_types_find_goes_to_the_type_listed_first_across_the_secret_step() -> None:
    """A Slack webhook is a URL and an API key: with ``url`` listed before ``api_key`` (and a
    secret type before both, so the secrets' shared step runs first) it is reported as a URL,
    as one finder at a time reports it."""
    from guardrails.pii.detect import build_detector

    text = "post to https://hooks.slack.com/services/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"
    for names, kind in ((["jwt", "url", "api_key"], "url"), (["jwt", "api_key", "url"], "api_key")):
        detector = build_detector(names)
        got = [(m["type"], m["value"]) for m in detector._scan(text)]
        assert got == [(kind, text[8:])], (names, got)
        assert [(t, v) for t, v, _, _ in _one_finder_at_a_time(detector, text)] == got


def _normalize_one_text_at_a_time(text: str) -> object:
    """normalize() as it was written before it remembered characters across texts (the
    specification): every character of the text sorted afresh."""
    import unicodedata

    from guardrails.pii import normalize as n

    special = bool(n._ANY_TOKEN.search(text))
    controls = any(c in n._ASCII_INVISIBLE for c in text)  # removed: NUL, BEL, ESC, DEL...
    if text.isascii() and not special and not controls:
        return n.Normalized(text)
    table: dict[int, str | None] = {}
    odd: list[str] = []
    for ch in set(text):
        if ch.isascii() and ch not in n._ASCII_INVISIBLE:
            continue
        folded = n._fold_uncached(ch)
        if len(folded) == 1 and not unicodedata.combining(ch):
            if folded != ch:
                table[ord(ch)] = folded
        else:
            odd.append(ch)
    if not special and not odd:
        return n.Normalized(text.translate(table))
    return None  # the rest of normalize() is shared: compared through its output below


_UNICODE = (
    "a1 .@-\u00e9\u00fc\u00df\u0130\u017f\u212a\uff11\uff20\u0660\u0967\u200b\u00ad\ufeff"
    "\u00a0\u202f\u2013\u2014\u2212\u3042\u6f22\u0301\u0308\ud55c\u2028\U0001d7ce\ufb01\u2460"
    "\x00\x1b\x7f\x9b\x1f"
)


def test_normalize_remembering_characters_gives_what_sorting_them_afresh_gives() -> None:
    from guardrails.pii import normalize as n

    rng = random.Random(11)
    texts = [t for t in corpus() if not t.isascii()]
    texts += [
        "".join(rng.choice(_UNICODE) for _ in range(rng.randrange(1, 40))) for _ in range(3000)
    ]
    for text in texts:
        got = n.normalize(text)
        expected = _normalize_one_text_at_a_time(text)
        if expected is not None:
            assert got == expected, text[:100]
        # offsets map back to the original whatever path was taken
        reference = "".join(
            n._fold_uncached(c) if not c.isascii() or c in n._ASCII_INVISIBLE else c for c in text
        )
        if not any(unicodedata_combining(c) for c in text) and not n._special(text):
            assert got.text == reference, text[:100]
        for i in range(0, len(got.text), 5):
            start, end = got.span(i, i + 1)
            assert 0 <= start < end <= len(text)


def unicodedata_combining(ch: str) -> bool:
    import unicodedata

    return bool(unicodedata.combining(ch))


def test_normalize_sorts_characters_past_its_memory_bound_per_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the memory of characters is full, new characters are still normalized (sorted for
    the text at hand), never taken as characters that need nothing."""
    from guardrails.pii import normalize as n

    # a memory that is full (its bound reached) and knows no character: every one is new
    monkeypatch.setattr(n, "_KNOWN", set(map(chr, range(128))))
    monkeypatch.setattr(n, "_CHANGED", {})
    monkeypatch.setattr(n, "_CHANGED_CHARS", set())
    monkeypatch.setattr(n, "_ODD", set(n._ASCII_INVISIBLE))  # (ASCII controls: removed)
    monkeypatch.setattr(n, "_SAME", set(map(chr, range(128))) - set(n._ASCII_INVISIBLE))
    monkeypatch.setattr(n, "_KNOWN_MAX", 0)
    for text in ("\U0001d7e4\U0001d7e5\U0001d7e6", "\u16a0\u00ad\u16a1 \U0001d7e7", "\u2167x"):
        fresh = _normalize_one_text_at_a_time(text)
        got = n.normalize(text)
        if fresh is not None:
            assert got == fresh
        assert len(n._KNOWN) == 128  # nothing remembered past the bound (ASCII only)
    assert n.normalize("\U0001d7e4\U0001d7e5\U0001d7e6").text == "234"
    assert n.normalize("\u16a0\u00ad\u16a1 \U0001d7e7").text == "\u16a0\u16a1 5"


@pytest.mark.parametrize("kind", ["phone", "credit_card", "us_ssn", "negative"])
def test_the_word_trie_finds_what_the_longest_first_alternation_finds(kind: str) -> None:
    from guardrails.pii import context
    from guardrails.pii.normalize import normalize

    listed = context.NEGATIVE_WORDS if kind == "negative" else context.CONTEXT_WORDS[kind]
    # the trie holds each word as the text is read: normalized, lower case
    words = sorted({normalize(w).text.lower() for w in listed})
    plain = re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)))
    fast = context._NEGATIVE_WORD_RE if kind == "negative" else context._CONTEXT_RES[kind]
    letters = " ".join(words)
    rng = random.Random(5)
    texts = [t.lower() for t in corpus()[::2]]
    texts += ["".join(rng.choice(letters) for _ in range(60)) for _ in range(3000)]
    texts += [letters, " ".join(sorted(words)), "".join(sorted(words, key=len))]
    found = 0
    for text in texts:
        expected = [m.span() for m in plain.finditer(text)]
        assert [m.span() for m in fast.finditer(text)] == expected, text[:200]
        found += len(expected)
    assert found > 100


def test_a_domain_ending_in_a_suffix_label_has_a_public_suffix() -> None:
    """The email check skips the public-suffix look-up when the top-level label is a rule of the
    list by itself: for every such label, the look-up agrees (and for every email domain of the
    corpus, the short path and the look-up give the same answer)."""
    labels = net.suffix_labels()
    assert {"com", "org", "uk", "de", "dev"} <= labels
    extract = net._tld()
    for label in sorted(labels):
        for domain in (f"example.{label}", f"a.b-c.{label}"):
            assert extract(domain).suffix, domain
    for text in corpus():
        for m in net._EMAIL.finditer(text):
            domain = m.group(4).lower()
            if domain.rsplit(".", 1)[-1] in labels:
                assert extract(domain).suffix, domain


def _cards_one_match_at_a_time(scan: _Scan) -> list[tuple[int, int, float]]:
    """The card finder's loop as it was written before (the specification): every match of the
    card pattern, the short ones skipped one by one in Python."""
    from guardrails.pii.context import _GROUP

    text = scan.text
    out: list[tuple[int, int, float]] = []
    pos = 0
    while True:
        m = cards._CARD.search(text, pos)
        if m is None:
            return out
        if m.end() - m.start() < 12:
            pos = m.end()
            continue
        groups = [(g.start(), g.end()) for g in _GROUP.finditer(text, m.start(), m.end())]
        found = cards._card_window(scan, groups, out[-1][1] if out else -1)
        if found is None:
            pos = m.end()
            continue
        out.append(found)
        pos = found[1]


def test_the_card_finder_finds_what_its_one_match_at_a_time_loop_finds() -> None:
    hits = 0
    for text in corpus():
        expected = _cards_one_match_at_a_time(_Scan(normalize(text), text))
        assert cards._cards(_Scan(normalize(text), text)) == expected, text[:200]
        hits += len(expected)
    assert hits > 100


def test_the_ipv6_search_from_colon_pairs_finds_what_finditer_finds() -> None:
    rng = random.Random(6)
    texts = list(corpus())
    texts += [":".join(rng.choice(["", "a", "1f", "::", "ab:", "x", " "]) for _ in range(9))]
    for text in texts:
        spans = [m.span() for m in net._IPV6.finditer(text)]
        assert [m.span() for m in net._ipv6_candidates(text)] == spans, text[:200]


def test_an_ipv6_address_has_eight_groups_or_a_double_colon_or_an_ipv4_tail() -> None:
    """The shape check the IP finder makes before ``ipaddress`` only drops what ``ipaddress``
    refuses: every candidate shape it skips is invalid."""
    import ipaddress

    rng = random.Random(8)
    for _ in range(20000):
        parts = [
            "".join(rng.choice(_HEX) for _ in range(rng.randrange(0, 5)))
            for _ in range(rng.randrange(3, 10))
        ]
        if rng.random() < 0.3:
            parts[-1] = "1.2.3.4"
        value = ":".join(parts)
        colons = value.count(":")
        if "::" in value or colons == 7 or (colons == 6 and "." in value):
            continue
        with pytest.raises(ValueError):
            ipaddress.IPv6Address(value)


def test_the_iin_table_answers_what_the_issued_ranges_answer() -> None:
    """The lookup by the first four digits gives what the ranges of ``_IIN`` give, for every
    head of four digits and every card length."""

    def by_ranges(digits: str) -> bool:  # the specification: each range, in turn
        n = len(digits)
        return any(
            n in lengths and low <= int(digits[:width]) <= high
            for low, high, width, lengths in cards._IIN
        )

    for head in range(10000):
        for n in range(12, 20):
            digits = f"{head:04d}" + "7" * (n - 4)
            assert cards._iin_ok(digits) == by_ranges(digits), digits


def test_the_date_pattern_reads_every_month_as_its_plain_form_does() -> None:
    """The fast date pattern tries each month by its remaining letters, then looks back at its
    capital: every month (abbreviated, in full, with a dot or a comma), its near misses (a
    capital or a letter changed, lower case) and each month's capital before another month's
    letters are read as the plain alternation reads them."""
    import calendar

    plain = re.compile(*PLAIN["date"])
    fast = FAST["date"]
    months = [calendar.month_name[i] for i in range(1, 13)]
    words = set(months) | {m[:3] for m in months} | {"Sept"}
    for word in list(words):
        words.add(word.lower())
        words.add(word.upper())
        for i in range(len(word)):
            for c in "aAJjFMmSpPrRyYnNlLuUgGeEbcCtToOvVdD":
                words.add(word[:i] + c + word[i + 1 :])
    found = 0
    for word in sorted(words):
        for tail in (" 5, 2024", ". 12 2020", " 31 1999", ", 2024", " 5,2024"):
            for head in ("", "x", "1", " ", "on "):
                text = f"{head}{word}{tail}"
                expected = _matches(plain, text)
                assert _matches(fast, text) == expected, text
                found += len(expected)
    assert found >= 12 * 2 * 2 * 5  # every month, short and long, in the forms that match
