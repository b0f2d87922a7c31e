"""PII detection: accuracy on the Faker evaluation set (dev and held-out splits) beside
Presidio's pattern recognizers and LangChain's detectors, throughput vs LangChain's four
detectors, startup (first scan after constructing the middleware), 1 MB adversarial inputs per
type, and the per-turn cost of a 40-turn conversation; all in one run."""

from __future__ import annotations

import gc
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain.agents.middleware import PIIMiddleware as LCPIIMiddleware
from langchain.agents.middleware._redaction import BUILTIN_DETECTORS
from langchain_core.messages import HumanMessage

from bench.common import Row
from bench.pii_eval import evaluate
from guardrails.pii import PIIMiddleware, apply_strategy
from guardrails.pii.detect import build_detector

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "pii_eval_faker.jsonl"
SIX = ["email", "credit_card", "iban", "us_ssn", "ip", "phone"]
ALL = [*SIX, "url"]
#: LangChain's built-in detectors' types
LANGCHAIN_FOUR = ["email", "credit_card", "ip", "url"]
PRESIDIO = {
    "email": "EMAIL_ADDRESS",
    "credit_card": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "us_ssn": "US_SSN",
    "ip": "IP_ADDRESS",
    "phone": "PHONE_NUMBER",
    "url": "URL",
}
FILLER = [
    "Thanks, that makes sense. Can you summarise the meeting notes from yesterday?",
    "The deployment went fine; latency is down to 120 ms at p95 after the cache change.",
    "Let's move the review to Thursday afternoon, the design doc still needs two sections.",
    "I tried the new onboarding flow and the third step is confusing for first-time users.",
    "Please draft a short reply saying we will ship the fix in the next release.",
]


def _rows(split: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if split is None or r["split"] == split]


def _mixed_corpus(rows: list[dict[str, Any]]) -> list[str]:
    """Chat-like text: each labeled message among four PII-free ones."""
    rng = random.Random(7)
    out = []
    for row in rows:
        out.extend(rng.choice(FILLER) for _ in range(4))
        out.append(row["text"])
    return out


def _presidio() -> Callable[[str], list[dict[str, Any]]]:
    from presidio_analyzer import RecognizerRegistry
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    from guardrails.pii.detect import _tld

    class _Offline:  # Presidio's email check would fetch the suffix list from the network
        extract = staticmethod(_tld())

    email_recognizer.tldextract = _Offline  # type: ignore[attr-defined]

    registry = RecognizerRegistry()
    registry.load_predefined_recognizers()
    back = {v: k for k, v in PRESIDIO.items()}  # its phone recognizer uses phonenumbers
    recognizers = [
        r
        for r in registry.recognizers
        if set(r.supported_entities) & set(back) and type(r).__name__ != "SpacyRecognizer"
    ]

    def find(text: str) -> list[dict[str, Any]]:
        out = []
        for r in recognizers:
            for res in r.analyze(text, list(back), None):
                if res.score >= 0.3 and res.entity_type in back:
                    out.append({"type": back[res.entity_type], "value": text[res.start : res.end]})
        return out

    return find


def _langchain(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for kind in ("email", "credit_card", "ip", "url"):
        for m in BUILTIN_DETECTORS[kind](text):
            out.append({"type": kind, "value": m["value"]})
    return out


def forget_values() -> None:
    """Drop what detection memoized per value (card numbers, IBANs, domains, phone numbers,
    names) and the detectors built on it: a round then measures values seen for the first
    time, as new messages bring them, not a corpus replayed against warm memos."""
    from guardrails.pii.finders import cards, iban, net, secrets

    # the module: ``guardrails.pii.detect`` the attribute is the function of that name
    detect_module = importlib.import_module("guardrails.pii.detect")

    detect_module._builtin.cache_clear()
    detect_module._phone_rules.cache_clear()
    detect_module._shared_detector.cache_clear()
    for memo in (cards._card_score, iban.iban_ok, net._public_suffix, secrets._name_kind):
        memo.cache_clear()


Finder = Callable[[str], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class Paired:
    """Throughput of two finders on the same texts: the medians over rounds of each one's MB/s,
    and the median (with the quartiles and the extremes) of the per-round ratio ours / theirs."""

    ours: float
    theirs: float
    ratio: float
    quartiles: tuple[float, float]
    extremes: tuple[float, float]
    rounds: int

    def note(self) -> str:
        low, high = self.quartiles
        lo, hi = self.extremes
        return (
            f"median of {self.rounds} per-round ratios (quartiles {low:.2f}-{high:.2f}x, "
            f"range {lo:.2f}-{hi:.2f}x); CPU time of the thread, same texts interleaved "
            f"block by block in each round, values new to each round; {_load()}"
        )


#: texts per block: each round alternates ours and theirs block by block (order flipping each
#: block), so a change of load within a round hits both sides alike
BLOCK = 25


def _paired(ours: Callable[[], Finder], theirs: Finder, texts: list[str], rounds: int) -> Paired:
    """``rounds`` rounds over the same ``texts``; in each round both finders scan every text,
    interleaved block by block, timed by the CPU time of this thread (the machine is shared:
    wall time adds other jobs, process time adds other threads). Each round builds our detector
    anew after :func:`forget_values` (no round reuses what an earlier one memoized per value;
    the 50 warm-up texts are the only values it has seen). The ratio of each round compares the
    two sides under the same conditions; its median is the figure (best-of picks each side's
    luckiest round, and LangChain's figure alone moved 1.7x between rows of one idle run)."""
    size = sum(len(t.encode()) for t in texts)
    blocks = [texts[i : i + BLOCK] for i in range(0, len(texts), BLOCK)]
    clock = time.thread_time
    ratios: list[float] = []
    speeds: tuple[list[float], list[float]] = ([], [])
    for r in range(rounds):
        forget_values()
        sides = (ours(), theirs)
        for find in sides:
            for text in texts[:50]:  # warm up
                list(find(text))
        gc.collect()
        spent = [0.0, 0.0]
        for k, block in enumerate(blocks):
            for side in (0, 1) if (k + r) % 2 == 0 else (1, 0):
                find = sides[side]
                start = clock()
                for text in block:
                    list(find(text))
                spent[side] += clock() - start
        ratios.append(spent[1] / spent[0])
        speeds[0].append(size / spent[0] / 1e6)
        speeds[1].append(size / spent[1] / 1e6)
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return Paired(
        ours=statistics.median(speeds[0]),
        theirs=statistics.median(speeds[1]),
        ratio=statistics.median(ratios),
        quartiles=(quartiles[0], quartiles[2]),
        extremes=(min(ratios), max(ratios)),
        rounds=rounds,
    )


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} (1/5 min) on {os.cpu_count()} cores"


def _fresh(text: str) -> str:
    return "".join(list(text))  # a new string object, as a checkpoint load gives


def _conversation(turns: int) -> list[Any]:
    from langchain_core.messages import AIMessage

    history: list[Any] = []
    for i in range(turns):
        history.append(
            HumanMessage(
                f"turn {i}: write to user{i}@example.com about card 4111 1111 1111 1111. " * 3,
                id=f"h{i}",
            )
        )
        history.append(AIMessage("Sure, noted.", id=f"a{i}"))
    return history


def _time_call(label: str, seen: list[Any], ours: Any, theirs: Any, number: int) -> float:
    """Seconds per model call of one middleware over ``seen``, minus the history copy."""
    from langchain.agents.middleware import ModelRequest, ModelResponse
    from langchain_core.messages import AIMessage

    from guardrails._core import run_sync

    response = ModelResponse(result=[AIMessage("ok")])

    def copies() -> list[Any]:  # fresh message and string objects, as a checkpoint load gives
        return [m.model_copy(update={"content": _fresh(m.content)}) for m in seen]

    start = time.perf_counter()
    for _ in range(number):
        copies()
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(number):
        msgs = copies()
        if label == "ours":
            request = ModelRequest(  # the state an earlier model call of the thread left
                model=None,  # type: ignore[arg-type]
                messages=msgs,
                state={
                    "messages": msgs,
                    "guardrails_pii_seen": {ours.name: [len(msgs) - 1, msgs[-2].id]}
                    if len(msgs) > 1
                    else {},
                },
            )
            run_sync(ours.model_flow(request), lambda r: response)
        else:
            theirs.before_model({"messages": msgs}, None)
    return max(0.0, time.perf_counter() - start - baseline) / number


def _turn_costs(turns: int, number: int) -> dict[str, tuple[float, float]]:
    """Microseconds one model call costs each middleware at turn 1 and at turn ``turns``."""
    ours = PIIMiddleware(["email", "credit_card"])
    theirs = LCPIIMiddleware("email")
    history = _conversation(turns)
    out: dict[str, tuple[float, float]] = {}
    for label in ("ours", "langchain"):
        costs = []
        for upto in (1, turns):
            base = history[: 2 * upto - 1]
            # earlier turns were already handled: state holds their redacted text
            seen = [
                m
                if i == len(base) - 1
                else m.model_copy(
                    update={
                        "content": _fresh(
                            apply_strategy(m.content, ours._detector(m.content), "redact")
                        )
                    }
                )
                for i, m in enumerate(base)
            ]
            for m in seen:  # earlier model calls scanned these already
                ours._detector(m.content)
            costs.append(_time_call(label, seen, ours, theirs, number) * 1e6)
        out[label] = (costs[0], costs[1])
    return out


def _startup_ms(types: list[str] = SIX) -> tuple[float, float]:
    """Milliseconds of the first scan after constructing the middleware, in a fresh process
    (ours with ``types``; LangChain's PIIMiddleware('email'))."""
    code = (
        "import time\n"
        "from langchain_core.messages import HumanMessage\n"
        "from langchain.agents.middleware import PIIMiddleware as LC\n"
        "from guardrails.pii import PIIMiddleware\n"
        "text = 'mail jane.roe@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111'\n"
        f"mw = PIIMiddleware({types!r})\n"
        "t = time.perf_counter(); mw._detector(text); ours = time.perf_counter() - t\n"
        "lc = LC('email')\n"
        "t = time.perf_counter(); lc.before_model({'messages': [HumanMessage(text)]}, None)\n"
        "theirs = time.perf_counter() - t\n"
        "print(ours * 1e3, theirs * 1e3)\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    ours, theirs = (float(x) for x in out.stdout.split())
    return ours, theirs


def _slowdown() -> float:
    start = time.perf_counter()
    sum(range(10**7))
    return max(1.0, (time.perf_counter() - start) / 0.12)


def _adversarial(size: int) -> list[Row]:
    """Worst time per type over the adversarial inputs of tests/test_pii_detect_linear.py."""
    from tests.test_pii_detect_linear import adversarial

    inputs = {name: text[:size] for name, text in adversarial().items()}
    rows = []
    for kind in ["email", "credit_card", "iban", "us_ssn", "ip", "phone", "url", "mac_address"]:
        detector = build_detector(kind)
        worst, name, slow = 0.0, "", 1.0
        for label, text in inputs.items():
            factor = _slowdown()
            start = time.perf_counter()
            detector._scan(text)
            took = time.perf_counter() - start
            if took / factor > worst:
                worst, name, slow = took / factor, label, factor
        rows.append(
            Row(
                "pii",
                f"{size // 1000} KB adversarial, {kind}, worst input",
                worst,
                None,
                "s",
                note=f"{name}; idle-core equivalent (machine {slow:.1f}x slower at the time)",
            )
        )
    return rows


def _same_types(rows: list[dict[str, Any]], quick: bool, rounds: int) -> list[Row]:
    """Throughput on LangChain's own four types beside LangChain's detectors, and with every
    built-in type (normalization on), on the Faker set and on plain English chat text."""
    from guardrails.pii.detect import BUILTIN_TYPES

    every = sorted(set(BUILTIN_TYPES) - {"person", "location"})
    corpora = {
        "Faker set": [r["text"] for r in (rows[:600] if quick else rows)],
        "plain English chat": FILLER * (40 if quick else 200),
    }
    goals = {"lc": "goal >= 1.0x", "all": "goal >= 0.8x", "seven": "no goal of its own"}
    out = []
    for label, texts in corpora.items():
        for key, types in (("lc", LANGCHAIN_FOUR), ("seven", ALL), ("all", every)):
            paired = _paired(lambda t=types: build_detector(t)._scan, _langchain, texts, rounds)
            what = (
                "LangChain's 4 types"
                if key == "lc"
                else f"{len(types)} PII types"
                if key == "seven"
                else f"all {len(types)} built-in types (secrets too)"
            )
            out.append(
                Row(
                    "pii",
                    f"throughput, ours {what} vs LangChain's 4 detectors, {label}",
                    paired.ours,
                    paired.theirs,
                    "MB/s",
                    higher_is_better=True,
                    note=f"{goals[key]}; {paired.note()}",
                    share=1 / paired.ratio,
                )
            )
    return out


def run(quick: bool = False) -> list[Row]:
    rows = _rows()
    texts = _mixed_corpus(rows[:300] if quick else rows)
    presidio = _presidio()

    def ours_find() -> Finder:
        return build_detector(ALL)._scan  # measure detection, not the cache

    rounds = 4 if quick else 15
    vs_presidio = _paired(ours_find, presidio, texts, max(3, rounds // 3))
    vs_langchain = _paired(ours_find, _langchain, texts, rounds)
    ours = build_detector(ALL)
    result = _same_types(rows, quick, rounds)
    result += [
        Row(
            "pii",
            "throughput, all 7 types on, mixed chat text",
            vs_presidio.ours,
            vs_presidio.theirs,
            "MB/s",
            higher_is_better=True,
            note="theirs = Presidio pattern recognizers (same 7 entities); " + vs_presidio.note(),
            share=1 / vs_presidio.ratio,
        ),
        Row(
            "pii",
            "throughput: ours all 7 types vs LangChain's 4",
            vs_langchain.ours,
            vs_langchain.theirs,
            "MB/s",
            higher_is_better=True,
            note="theirs = LangChain email, credit_card, ip, url; goal >= 0.6x; "
            + vs_langchain.note(),
            share=1 / vs_langchain.ratio,
        ),
    ]
    for split in ("dev", "heldout"):
        part = _rows(split)
        s_ours = evaluate(part, ours, SIX)
        s_pres = evaluate(part, presidio, SIX)
        s_lc = evaluate(part, _langchain, SIX)
        for kind in SIX:
            lc = (
                f"LangChain {s_lc[kind].recall:.3f} / {s_lc[kind].precision:.3f}"
                if kind in ("email", "credit_card", "ip")
                else "LangChain: no detector"
            )
            result.append(
                Row(
                    "pii",
                    f"{split} recall {kind}",
                    s_ours[kind].recall,
                    s_pres[kind].recall,
                    "ratio",
                    higher_is_better=True,
                    note=f"{lc} (recall / precision); theirs = Presidio",
                )
            )
            result.append(
                Row(
                    "pii",
                    f"{split} precision {kind}",
                    s_ours[kind].precision,
                    s_pres[kind].precision,
                    "ratio",
                    higher_is_better=True,
                    note="hard negatives included; theirs = Presidio",
                )
            )
    from guardrails.pii.detect import BUILTIN_TYPES

    every = sorted(set(BUILTIN_TYPES) - {"person", "location"})
    for label, types in (("6 types", SIX), (f"all {len(every)} built-in types", every)):
        ours_ms, lc_ms = _startup_ms(types)
        result.append(
            Row(
                "pii",
                f"startup: first scan after constructing the middleware, {label}",
                ours_ms,
                lc_ms,
                "ms",
                note=f"fresh process; ours {label}, LangChain email only; goal < 20 ms",
            )
        )
    result.extend(_adversarial(100_000 if quick else 1_000_000))
    turns = 12 if quick else 40
    costs = _turn_costs(turns, 20 if quick else 200)
    ours_first, ours_last = costs["ours"]
    lc_first, lc_last = costs["langchain"]
    result.append(
        Row(
            "pii",
            f"model-call cost, turn {turns} / turn 1",
            ours_last / ours_first,
            lc_last / lc_first,
            "x",
            note=f"ours {ours_first:.0f}->{ours_last:.0f} us; LangChain(email) "
            f"{lc_first:.0f}->{lc_last:.0f} us (history copy subtracted)",
        )
    )
    from bench import pii_secrets  # the secret types beside detect-secrets (issue 26)

    result.extend(pii_secrets.run(quick))
    return result


if __name__ == "__main__":  # the throughput rows alone: python -m bench.bench_pii [--quick]
    from bench.common import print_table

    quick = "--quick" in sys.argv
    print_table(_same_types(_rows(), quick, 4 if quick else 15))
