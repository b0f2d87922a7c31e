"""PII promises of the vaults, the exporters and the detection cache (issue 29, area ``pii_flow``).

Stated through public APIs and real agents (sync and async), each one a careless edit would
break unnoticed otherwise:

* a pseudonym vault keys a mapping by thread *and* guardrail: a placeholder is restored only
  in the thread (and by the guardrail) that minted it; first write wins and a conflicting
  write is reported, in memory and in Redis; a Redis mapping's TTL is idle time (every read
  and every write sets it again, to the configured seconds);
* the exporters (``redactor``, ``pii_anonymizer``, ``PIISpanProcessor``) handle every string
  of what they export: keys, nested lists and tuples, every middleware they are given; a span's
  name, attributes, events, links and status; the span processor forwards the rest of its
  duties (start, ending, flush, shutdown) to the processor it wraps;
* the detection cache is keyed by the whole content: a long text edited after a clean verdict
  (same length, same first 256 characters) is scanned again.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage

from guardrails import PIIDetectionError, PIIMiddleware
from guardrails.pii import MemoryVault, RedisVault, detect
from guardrails.pii.observers import PIISpanProcessor, pii_anonymizer, redactor
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import invoke, tool

JANE = "jane.doe@example.com"
BOB = "bob@example.org"
PHONE = "+44 20 7946 0958"


def _cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def _vault(kind: str, request: pytest.FixtureRequest) -> Any:
    if kind == "memory":
        return MemoryVault()
    url = request.getfixturevalue("redis_url")
    return RedisVault(url, ttl=60, prefix=f"t3-{uuid.uuid4().hex[:8]}:")


# ------------------------------------------------------------------ the vault's keys


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_placeholder_is_restored_only_in_the_thread_that_minted_it(
    kind: str, mode: str, request: pytest.FixtureRequest
) -> None:
    """Two threads share one vault; each has its own <EMAIL_1>. The tool of thread b gets b's
    value for b's <EMAIL_1>, never a's (a vault keyed by the guardrail alone would hand it a's)."""
    sent: list[str] = []

    @tool
    def send_email(to: str) -> str:
        """Send an email."""
        sent.append(to)
        return "sent"

    model = ScriptedChatModel(
        default="done",
        responses=[
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>"})]),
            "sent",
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>"})]),
            "sent",
        ],
    )
    vault = _vault(kind, request)
    mw = PIIMiddleware("email", strategy="pseudonymize", restore_tools=["send_email"], vault=vault)
    agent = create_agent(model, tools=[send_email], middleware=[mw])
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    invoke(agent, {"messages": [HumanMessage(f"mail {JANE}")]}, mode, _cfg(a))
    invoke(agent, {"messages": [HumanMessage(f"mail {BOB}")]}, mode, _cfg(b))
    assert sent == [JANE, BOB]
    assert model.requests[2]["messages"][-1].content == "mail <EMAIL_1>"  # b numbers from 1


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_placeholder_of_another_thread_reaches_the_tool_as_text(
    kind: str, mode: str, request: pytest.FixtureRequest
) -> None:
    """A placeholder the model writes in a thread that never minted it is not a value there:
    the tool receives the placeholder text (fails closed), not another thread's value."""
    sent: list[str] = []

    @tool
    def send_email(to: str) -> str:
        """Send an email."""
        sent.append(to)
        return "sent"

    model = ScriptedChatModel(
        default="done",
        responses=[
            "noted",
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>"})]),
            "sent",
        ],
    )
    mw = PIIMiddleware(
        "email", strategy="pseudonymize", restore_tools=["send_email"], vault=_vault(kind, request)
    )
    agent = create_agent(model, tools=[send_email], middleware=[mw])
    invoke(agent, {"messages": [HumanMessage(f"remember {JANE}")]}, mode, _cfg(uuid.uuid4().hex))
    invoke(agent, {"messages": [HumanMessage("send it")]}, mode, _cfg(uuid.uuid4().hex))
    assert sent == ["<EMAIL_1>"]


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_two_guardrails_in_one_thread_keep_their_own_mappings(
    kind: str, mode: str, request: pytest.FixtureRequest
) -> None:
    """One vault, one thread, two pseudonymizing guardrails (their names are the namespaces):
    each restores only what it minted itself."""
    vault = _vault(kind, request)
    thread = uuid.uuid4().hex
    first = PIIMiddleware("email", strategy="pseudonymize", vault=vault, name="first")
    second = PIIMiddleware("email", strategy="pseudonymize", vault=vault, name="second")
    invoke(
        create_agent(ScriptedChatModel(default="ok"), middleware=[first]),
        {"messages": [HumanMessage(f"mail {JANE}")]},
        mode,
        _cfg(thread),
    )
    model = ScriptedChatModel(default="ok")
    invoke(
        create_agent(model, middleware=[second]),
        {"messages": [HumanMessage(f"mail {BOB}")]},
        mode,
        _cfg(thread),
    )
    # the second guardrail numbers from 1 in its own namespace: no conflict with the first
    assert model.requests[0]["messages"][-1].content == "mail <EMAIL_1>"
    assert vault.get(thread, "first") == {"<EMAIL_1>": JANE}
    assert vault.get(thread, "second") == {"<EMAIL_1>": BOB}


def _run_vault(vault: Any, mode: str, method: str, *args: Any) -> Any:
    if mode == "sync":
        return getattr(vault, method)(*args)
    return asyncio.run(getattr(vault, "a" + method)(*args))


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_vault_keeps_the_first_value_and_reports_a_conflict(
    kind: str, mode: str, request: pytest.FixtureRequest
) -> None:
    vault = _vault(kind, request)
    t = uuid.uuid4().hex
    assert _run_vault(vault, mode, "add", t, "ns", {"<EMAIL_1>": JANE}) == []
    # the same binding again, with a new one: nothing conflicts
    assert _run_vault(vault, mode, "add", t, "ns", {"<EMAIL_1>": JANE, "<EMAIL_2>": BOB}) == []
    assert _run_vault(vault, mode, "add", t, "ns", {}) == []
    # another value for a bound placeholder: reported, never rebound
    assert _run_vault(vault, mode, "add", t, "ns", {"<EMAIL_2>": JANE, "<EMAIL_3>": BOB}) == [
        "<EMAIL_2>"
    ]
    assert _run_vault(vault, mode, "get", t, "ns") == {
        "<EMAIL_1>": JANE,
        "<EMAIL_2>": BOB,
        "<EMAIL_3>": BOB,
    }
    assert _run_vault(vault, mode, "get", t, "other") == {}
    assert _run_vault(vault, mode, "get", "other", "ns") == {}


def test_a_memory_vault_hands_out_copies() -> None:
    """What ``get`` returns is the caller's: editing it never rebinds the stored mapping."""
    vault = MemoryVault()
    vault.add("t", "ns", {"<EMAIL_1>": JANE})
    got = vault.get("t", "ns")
    got["<EMAIL_1>"] = BOB
    assert vault.get("t", "ns") == {"<EMAIL_1>": JANE}


# ------------------------------------------------------------------ the Redis vault's TTL


def test_a_redis_vault_ttl_is_idle_time_set_again_on_every_read_and_write(
    redis_url: str, mode: str
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    vault = RedisVault(redis_url, ttl=1000, prefix="ttl3:")
    t = uuid.uuid4().hex
    key = f"ttl3:ns:{t}"
    _run_vault(vault, mode, "add", t, "ns", {"<EMAIL_1>": JANE})
    assert 999_000 < client.pttl(key) <= 1_000_000  # the configured seconds, in ms
    client.pexpire(key, 5_000)
    assert _run_vault(vault, mode, "get", t, "ns") == {"<EMAIL_1>": JANE}
    assert client.pttl(key) > 999_000, "a read did not set the TTL again"
    client.pexpire(key, 5_000)
    assert _run_vault(vault, mode, "add", t, "ns", {"<EMAIL_1>": JANE}) == []
    assert client.pttl(key) > 999_000, "a write did not set the TTL again"
    client.pexpire(key, 5_000)
    assert _run_vault(vault, mode, "add", t, "ns", {"<EMAIL_1>": BOB}) == ["<EMAIL_1>"]
    assert client.pttl(key) > 999_000, "a conflicting write did not set the TTL again"


def test_a_redis_vault_without_ttl_never_expires(redis_url: str, mode: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    vault = RedisVault(redis_url, ttl=None, prefix="ttl3n:")
    t = uuid.uuid4().hex
    _run_vault(vault, mode, "add", t, "ns", {"<EMAIL_1>": JANE})
    assert _run_vault(vault, mode, "get", t, "ns") == {"<EMAIL_1>": JANE}
    assert client.pttl(f"ttl3n:ns:{t}") == -1


def test_a_redis_vault_over_given_clients_reads_text(redis_url: str, mode: str) -> None:
    """Clients passed in (``client=`` / ``async_client=``, bytes replies by default) give the
    same mapping as a URL: text placeholders and values."""
    import redis
    import redis.asyncio

    t = uuid.uuid4().hex
    if mode == "sync":
        vault = RedisVault(client=redis.Redis.from_url(redis_url), ttl=60)
        assert vault.add(t, "ns", {"<EMAIL_1>": JANE}) == []
        assert vault.add(t, "ns", {"<EMAIL_1>": BOB}) == ["<EMAIL_1>"]
        assert vault.get(t, "ns") == {"<EMAIL_1>": JANE}
        return

    async def run() -> dict[str, str]:
        aclient = redis.asyncio.Redis.from_url(redis_url)
        try:
            vault = RedisVault(async_client=aclient, ttl=60)
            assert await vault.aadd(t, "ns", {"<EMAIL_1>": JANE}) == []
            assert await vault.aadd(t, "ns", {"<EMAIL_1>": BOB}) == ["<EMAIL_1>"]
            return await vault.aget(t, "ns")
        finally:
            await aclient.aclose()

    assert asyncio.run(run()) == {"<EMAIL_1>": JANE}


# ------------------------------------------------------------------ exporters


def test_redactor_handles_keys_nesting_and_every_middleware() -> None:
    scrub = redactor(PIIMiddleware("email"), PIIMiddleware("phone", strategy="block"))
    value = {
        JANE: {"phones": [PHONE, ("call", PHONE)], "n": 3},
        "note": f"mail {JANE} or call {PHONE}",
        "flag": True,
    }
    out = scrub(value)
    text = json.dumps(out)
    assert JANE not in text and PHONE not in text
    assert set(out) == {"[REDACTED_EMAIL]", "note", "flag"}
    inner = out["[REDACTED_EMAIL]"]
    assert inner["phones"] == ["[REDACTED_PHONE]", ("call", "[REDACTED_PHONE]")]
    assert inner["n"] == 3 and out["flag"] is True
    assert out["note"] == "mail [REDACTED_EMAIL] or call [REDACTED_PHONE]"


def test_pii_anonymizer_handles_run_inputs_outputs_and_metadata() -> None:
    anonymize = pii_anonymizer(PIIMiddleware(["email", "phone"], strategy="pseudonymize"))
    run = {
        "inputs": {"messages": [[{"content": f"mail {JANE}"}]]},
        "outputs": {"generations": [f"done, {PHONE}"]},
        "metadata": {"user_id": JANE, JANE: "seen"},
    }
    out = anonymize(run)
    assert isinstance(out, dict) and set(out) == {"inputs", "outputs", "metadata"}
    text = json.dumps(out)
    assert JANE not in text and PHONE not in text
    assert out["metadata"] == {"user_id": "[REDACTED_EMAIL]", "[REDACTED_EMAIL]": "seen"}


class _Inner:
    """A span processor that records what it is handed."""

    def __init__(self) -> None:
        self.started: list[Any] = []
        self.ending: list[Any] = []
        self.ended: list[Any] = []
        self.shut = 0
        self.flushed: list[int] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started.append(span)

    def _on_ending(self, span: Any) -> None:
        self.ending.append(span)

    def on_end(self, span: Any) -> None:
        self.ended.append(span)

    def shutdown(self) -> None:
        self.shut += 1

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flushed.append(timeout_millis)
        return len(self.flushed) == 1


def test_a_span_reaches_the_exporter_with_every_string_handled() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Link, Status, StatusCode

    inner = _Inner()
    provider = TracerProvider()
    provider.add_span_processor(PIISpanProcessor(inner, PIIMiddleware(["email", "phone"])))
    tracer = provider.get_tracer("t3")
    with tracer.start_as_current_span("parent") as parent:
        link = Link(parent.get_span_context(), {"linked": JANE, "count": 2})
        span = tracer.start_span(f"lookup {JANE}", links=[link])
        span.set_attribute("query", f"owner of {JANE}")
        span.set_attribute(f"user {JANE}", 1)
        span.set_attribute("phones", [PHONE, "none"])
        span.set_attribute("retries", 2)
        span.add_event(f"sent to {JANE}", {"to": PHONE, "size": 7})
        span.set_status(Status(StatusCode.ERROR, f"no mailbox {JANE}"))
        span.end()
    exported = next(s for s in inner.ended if s.name != "parent")
    assert exported.name == "lookup [REDACTED_EMAIL]"
    assert dict(exported.attributes) == {
        "query": "owner of [REDACTED_EMAIL]",
        "user [REDACTED_EMAIL]": 1,
        "phones": ("[REDACTED_PHONE]", "none"),
        "retries": 2,
    }
    (event,) = exported.events
    assert event.name == "sent to [REDACTED_EMAIL]"
    assert dict(event.attributes) == {"to": "[REDACTED_PHONE]", "size": 7}
    (out_link,) = exported.links
    assert dict(out_link.attributes) == {"linked": "[REDACTED_EMAIL]", "count": 2}
    assert out_link.context == parent.get_span_context()
    assert exported.status.status_code is StatusCode.ERROR
    assert exported.status.description == "no mailbox [REDACTED_EMAIL]"
    assert exported.context == span.get_span_context()
    # the processor's other duties reach the inner one
    assert len(inner.started) == 2 and len(inner.ending) == 2
    assert provider.force_flush() is True
    assert len(inner.flushed) == 1
    provider.shutdown()
    assert inner.shut == 1


def test_the_span_processor_returns_the_inner_flush_result() -> None:
    inner = _Inner()
    processor = PIISpanProcessor(inner, PIIMiddleware("email"))
    assert processor.force_flush(10) is True
    assert processor.force_flush() is False
    assert inner.flushed == [10, 30000]


# ------------------------------------------------------------------ the detection cache


@pytest.mark.parametrize("size", [256, 300, 600])
def test_a_long_text_edited_after_a_clean_verdict_is_scanned_again(size: int) -> None:
    """Same length, same first characters: only the end differs. The cache must key the whole
    content, or the edited text gets the first one's clean verdict."""
    tail = " mail " + JANE
    prefix = ("word " * 200)[: size - len(tail)]
    clean = prefix + " mail " + JANE.replace(".com", ",com")  # not an address
    edited = prefix + tail
    assert len(clean) == len(edited) == size
    assert detect(clean, ["email"]) == []
    assert [m["value"] for m in detect(edited, ["email"])] == [JANE]
    assert detect(clean, ["email"]) == []


def test_an_edited_long_message_is_refused_after_a_clean_one(mode: str) -> None:
    """Through an agent: a long clean message, then the same message with one address written
    over its last characters (same length) in the next turn, under block."""
    body = "please summarise the meeting notes " * 12
    clean = body + "x" * len(JANE)
    edited = body + JANE
    assert len(clean) == len(edited) > 256
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email", strategy="block")])
    invoke(agent, {"messages": [HumanMessage(clean)]}, mode)
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [HumanMessage(edited)]}, mode)
    assert model.calls == 1


def test_a_vault_protocol_object_of_our_own_is_used(mode: str) -> None:
    """Any object with get/add/aget/aadd is a vault: the guardrail reads and writes through it,
    keyed by the run's thread and its own name."""

    class Recording(MemoryVault):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[tuple[str, str, str]] = []

        def get(self, thread_id: str, namespace: str) -> dict[str, str]:
            self.calls.append(("get", thread_id, namespace))
            return super().get(thread_id, namespace)

        def add(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
            self.calls.append(("add", thread_id, namespace))
            return super().add(thread_id, namespace, entries)

    vault = Recording()
    agent = create_agent(
        ScriptedChatModel(default="ok"),
        middleware=[PIIMiddleware("email", strategy="pseudonymize", vault=vault, name="g")],
    )
    invoke(agent, {"messages": [HumanMessage(f"mail {JANE}")]}, mode, _cfg("t-own"))
    assert ("add", "t-own", "g") in vault.calls
    assert {c[1:] for c in vault.calls} == {("t-own", "g")}
    assert vault.get("t-own", "g") == {"<EMAIL_1>": JANE}


def test_the_detector_keeps_a_short_text_as_its_key_and_a_long_one_as_a_digest() -> None:
    """Up to 256 characters a text is its own key; a longer one is kept as a 16-byte digest,
    never as the raw text (the cache holds no long document)."""
    import hashlib

    from guardrails.pii.cache import entry_bytes
    from guardrails.pii.detect import build_detector

    detector = build_detector(["email"])
    for size in (255, 256, 257, 600):
        text = (uuid.uuid4().hex + " plain words ") * 30
        text = text[:size]
        before = detector.cache_bytes
        assert detector.matches(text) == ()
        grown = detector.cache_bytes - before
        if size <= 256:
            assert grown == entry_bytes(text, ()), size
        else:
            digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
            assert grown == entry_bytes(digest, ()), size
            assert grown < entry_bytes(text, ()), size


def _entry(start: int, end: int) -> tuple[Any, ...]:
    return ({"type": "email", "value": "v" * 10, "start": start, "end": end},)


def test_an_entry_counts_offsets_past_the_small_int_cache_only() -> None:
    """Offsets up to 256 are shared small ints (no memory of their own); past 256 each one
    is an object the entry keeps alive."""
    from guardrails.pii.cache import entry_bytes

    key = "k" * 40
    shared = entry_bytes(key, _entry(10, 20))
    assert entry_bytes(key, _entry(246, 256)) == shared  # both offsets <= 256
    assert entry_bytes(key, _entry(256, 256)) == shared
    one = entry_bytes(key, _entry(247, 257)) - shared
    assert one > 0  # the end past 256
    assert entry_bytes(key, _entry(257, 267)) - shared == 2 * one  # both past 256


def test_the_cache_evicts_the_least_recently_used_entry() -> None:
    from guardrails.pii.cache import _ByteLRU, entry_bytes

    one = entry_bytes("k00", ())
    cache = _ByteLRU(16 * one)  # room for exactly 16 such entries
    for i in range(16):
        cache.put(f"k{i:02d}", ())
    assert cache.bytes == 16 * one
    assert cache.get("k00") == ()  # used: now the most recent
    cache.put("k16", ())  # one too many: the least recently used goes
    assert cache.get("k01") is None
    assert cache.get("k00") == () and cache.get("k16") == ()
    assert cache.bytes == 16 * one


def test_the_cache_keeps_no_entry_over_a_sixteenth_of_its_cap() -> None:
    """One huge result is not kept (it would evict everything else)."""
    from guardrails.pii.cache import _ByteLRU, entry_bytes

    small = entry_bytes("a", ())
    cache = _ByteLRU(16 * small)
    cache.put("a", ())
    huge = tuple(_entry(300 + i, 320 + i)[0] for i in range(20))
    cache.put("b", huge)  # type: ignore[arg-type]
    assert cache.get("b") is None
    assert cache.get("a") == () and cache.bytes == small


# ------------------------------------------------------------------ the sink inventory


def test_every_inventory_cell_judged_now_matches_the_published_table() -> None:
    """docs/pii.md publishes each source x sink pair's status (and why, when not covered);
    ``cell()`` judged now, pair by pair, must say the same (the matrix of
    tests/test_pii_sinks.py is generated from it)."""
    from pathlib import Path

    from guardrails.pii.inventory import SINKS, SOURCES, STATUSES, cell

    page = (Path(__file__).parent.parent / "docs" / "pii.md").read_text()
    table = page[page.index("<!-- inventory:start -->") : page.index("<!-- inventory:end -->")]
    rows = {
        line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[2:-1]]
        for line in table.splitlines()
        if line.startswith("| `")
    }
    marks = {"covered": "yes", "echo": "echo", "declared": "declared", "open": "**no**"}
    for source in SOURCES:
        for sink, mark in zip(SINKS, rows[source], strict=True):
            c = cell(source, sink)
            assert c.status in STATUSES
            assert marks.get(c.status, "-") == mark, (source, sink, c)
            if c.status in {"open", "echo", "declared"}:
                assert f"- `{source}` -> `{sink}` ({c.status}): {c.how}" in table
            under = cell(source, sink, "pseudonymize (no vault)")
            if under != c:
                assert f"- under `pseudonymize (no vault)`: `{source}` -> `{sink}` " in table
    assert set(rows) == set(SOURCES)


# ------------------------------------------------------------------ the Redis vault's settings


@pytest.mark.parametrize("ttl", [0, -1, True, "60", float("nan"), float("inf"), 1e12])
def test_a_redis_vault_refuses_a_ttl_it_cannot_keep(ttl: Any) -> None:
    from guardrails import GuardrailConfigError

    with pytest.raises(GuardrailConfigError, match="RedisVault ttl must be > 0"):
        RedisVault("redis://127.0.0.1:1", ttl=ttl)


@pytest.mark.parametrize("ttl", [0.001, 1, 86_400.5, 100 * 365 * 86_400, None])
def test_a_redis_vault_takes_any_ttl_redis_can_keep(ttl: Any) -> None:
    assert RedisVault("redis://127.0.0.1:1", ttl=ttl).ttl == ttl


def test_a_redis_vault_without_a_client_for_the_mode_says_which_to_pass(redis_url: str) -> None:
    import redis
    import redis.asyncio

    sync_only = RedisVault(client=redis.Redis.from_url(redis_url))
    with pytest.raises(RuntimeError, match="async_client="):
        asyncio.run(sync_only.aget("t", "ns"))

    async def async_only() -> None:
        aclient = redis.asyncio.Redis.from_url(redis_url)
        try:
            vault = RedisVault(async_client=aclient)
            assert await vault.aget("t", "ns") == {}
            with pytest.raises(RuntimeError, match="client="):
                vault.get("t", "ns")
        finally:
            await aclient.aclose()

    asyncio.run(async_only())
