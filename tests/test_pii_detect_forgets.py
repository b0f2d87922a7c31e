"""A scanned text is forgotten when its scan returns: no cache or memo of the package keeps it.

Detection memoizes per *value* (a card's digits, an IBAN, a phone number, a secret's name) and
per detector; it never keys a memo by the whole text it scans. A text is what a user or a tool
wrote, secrets and all: a cache keyed by it (an ``@functools.lru_cache`` slid onto a function
that receives the text, as happened once to ``_qualifier_before`` in the secrets finder) holds
up to ``maxsize`` whole scanned texts in memory, their secrets with them, long after the call
that scanned them.

The promise, seen from outside: after N distinct texts holding secrets are scanned (``detect``,
and a real agent under ``PIIMiddleware``), (1) nothing but the caller holds a reference to any
of them, and (2) no string that any ``functools`` cache of the package (or the middleware and
its detector) can reach holds any of them, or a copy of one (the scan may normalize a text into
a new string): each text carries a phrase of prose found in no other, and no cached string
holds that phrase.

One cache keys short texts by design, and is left out of the second test: each detector's
result cache (``guardrails/pii/cache.py``, docs/pii.md "Cost, cache and untrusted input") keys a
text of up to 256 characters by the text itself, bounded at 8 MiB; longer texts by a digest.
No ``functools`` cache of the package keys by any scanned text, short or long.
"""

from __future__ import annotations

import functools
import gc
import random
import string
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from langchain.agents import create_agent

from guardrails.pii import BUILTIN_TYPES, PIIMiddleware, detect
from guardrails.testing import ScriptedChatModel
from tests.support import invoke

#: every type found without an NLP model
TYPES = [t for t in BUILTIN_TYPES if t not in ("person", "location")]
N = 40


def _texts(seed: int, n: int = N, *, wide: bool = False) -> tuple[list[str], list[str]]:
    """``n`` distinct texts built at run time (never interned or shared), each holding secrets
    of several kinds (a bare ``key`` after a qualifier, a password assignment, an OpenAI key,
    an AWS key id, a bearer token, an email, a card, an IBAN, a phone number) and its own
    marker, three random words of prose (a name or value cache may hold a word, never a
    phrase); over 256 characters. ``wide``: written with full-width digits and accented prose,
    so the scan reads a normalized copy. Returns the texts and their markers."""
    rng = random.Random(seed)

    def tok(k: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(rng.choice(alphabet) for _ in range(k))

    texts, markers = [], []
    for i in range(n):
        marker = " ".join(tok(9, string.ascii_lowercase) for _ in range(3))
        card = "4111 1111 1111 1111" if i % 2 else "5555 5555 5555 4444"
        phone = f"+44 20 7946 0{rng.randrange(100, 999)}"
        if wide:
            phone = phone.translate({ord(d): 0xFF10 + int(d) for d in string.digits})
        prose = "Réunion à Zürich, café noir. " if wide else "Meeting notes, nothing else. "
        texts.append(
            f"{prose}{marker} says: my API key is {tok(32)}; db password = {tok(12)}!x; "
            f"OPENAI_API_KEY=sk-proj-{tok(48)} AKIA{tok(16, string.ascii_uppercase)} "
            f"Authorization: Bearer {tok(40)}\nwrite to user{i}@example.com, card {card}, "
            f"IBAN GB82 WEST 1234 5698 7654 32, call {phone}. " + prose * 4
        )
        markers.append(marker)
    return texts, markers


def _package_caches() -> list[Any]:
    """Every ``functools`` cache (``lru_cache``, ``cache``) of a function of the package at
    module or class level; those built per instance are reached through the objects the
    module-level ones return (a detector, its phone rules)."""
    found: dict[int, Any] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("guardrails") or module is None:
            continue
        for value in list(vars(module).values()):
            inner = vars(value).values() if isinstance(value, type) else ()
            for obj in (value, *inner):
                obj = getattr(obj, "__func__", obj)  # staticmethod, classmethod
                if isinstance(obj, functools._lru_cache_wrapper):
                    found[id(obj)] = obj
    return list(found.values())


def _strings(roots: list[Any], *, objects: bool = True) -> Iterator[str]:
    """The strings reachable from ``roots`` (caches: their keys and results, which a cache's
    ``tp_traverse`` hands to the collector) through containers and (``objects``) the
    package's own objects and the caches they hold."""
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(root, 0) for root in roots]
    while stack:
        obj, depth = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            yield obj
            continue
        if depth > 8:
            continue
        if isinstance(obj, functools._lru_cache_wrapper):
            skip = {id(vars(obj)), id(getattr(obj, "__wrapped__", None))}
            refs = [r for r in gc.get_referents(obj) if id(r) not in skip]
        elif isinstance(obj, (tuple, list, set, frozenset, dict)) or (
            objects and type(obj).__module__.startswith("guardrails")
        ):
            refs = gc.get_referents(obj)
        else:
            continue
        stack.extend((r, depth + 1) for r in refs)


def _held(roots: list[Any], markers: list[str], *, objects: bool = True) -> list[str]:
    joined = "\x00".join(_strings(roots, objects=objects))
    return [m for m in markers if m in joined]


def _refcounts(texts: list[str]) -> list[int]:
    return [sys.getrefcount(t) for t in texts]


@pytest.mark.parametrize("wide", [False, True], ids=["ascii", "normalized"])
def test_detect_keeps_no_scanned_text(wide: bool) -> None:
    texts, markers = _texts(61 + wide, wide=wide)
    assert min(len(t) for t in texts) > 256
    before = _refcounts(texts)
    found = [detect(t, TYPES) for t in texts]
    # the texts are read: each one's secrets are found (the scan did reach the finders)
    assert all(sum(f["type"] != "email" for f in one) >= 5 for one in found), found[0]
    del found
    assert _refcounts(texts) == before, "a scanned text is still referenced after its scan"
    assert _held(_package_caches(), markers) == []


def test_no_function_cache_keeps_a_short_scanned_text() -> None:
    # texts of under 256 characters (the detector's result cache keys these by themselves,
    # documented; the package's function caches never do)
    rng = random.Random(62)
    texts, markers = [], []
    for i in range(N):
        marker = " ".join(
            "".join(rng.choice(string.ascii_lowercase) for _ in range(9)) for _ in "abc"
        )
        key = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(32))
        texts.append(f"{marker}: my API key is {key}, mail me at user{i}@example.com")
        markers.append(marker)
    found = [detect(t, TYPES) for t in texts]
    assert all(len(t) < 256 and len(f) == 2 for t, f in zip(texts, found, strict=True)), found
    assert _held(_package_caches(), markers, objects=False) == []


@pytest.mark.slow  # a run leaves reference cycles: gc.collect() over a worker's whole heap
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_agent_under_pii_middleware_keeps_no_scanned_text(mode: str) -> None:
    texts, markers = _texts(71, 12)
    guard = PIIMiddleware(TYPES, strategy="redact")
    agent = create_agent(ScriptedChatModel(responses=["Done."] * len(texts)), middleware=[guard])
    before = _refcounts(texts)
    for text in texts:
        result = invoke(agent, {"messages": [{"role": "user", "content": text}]}, mode)
        sent = result["messages"][0].content
        assert "sk-proj-" not in sent and "example.com" not in sent, sent
        del result, sent
    del text
    gc.collect()
    assert _refcounts(texts) == before, "a scanned text is still referenced after the run"
    assert _held([*_package_caches(), guard], markers) == []
