"""Promises of the shared storage's settings at their edges (issue 29: careless edits must fail).

A duration never reaches Redis as 0 ms (Redis reads 0 as "expire now"); the default ports are the
ones each scheme's servers listen on; timeouts and the latch accept their bounds and refuse one
step past them; ``memory://`` is exactly that, in any case. Through ``parse_storage`` and the
guardrails that take a ``storage=`` setting.
"""

from __future__ import annotations

from typing import Any

import pytest

from guardrails._storage import MAX_DURATION, MAX_LATCH, milliseconds, parse_storage
from guardrails.errors import GuardrailConfigError
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.rate_limits import RateLimitMiddleware
from guardrails.testing import ScriptedChatModel


@pytest.mark.parametrize(
    ("seconds", "ms"),
    [(0.0, 0), (-1.0, 0), (0.0000001, 1), (0.001, 1), (0.0011, 2), (1.0, 1000), (2.5, 2500)],
)
def test_milliseconds_round_up_and_never_turn_a_duration_into_zero(seconds: float, ms: int) -> None:
    assert milliseconds(seconds) == ms


@pytest.mark.parametrize(
    ("uri", "locations"),
    [
        ("redis://h", (("h", 6379),)),
        ("rediss://h:7000", (("h", 7000),)),
        ("redis+sentinel://a,b:26380/svc", (("a", 26379), ("b", 26380))),
        ("redis+cluster://a,b:7001", (("a", 6379), ("b", 7001))),
    ],
)
def test_default_ports_are_each_schemes_own(uri: str, locations: tuple[Any, ...]) -> None:
    assert parse_storage("storage", uri).locations == locations


@pytest.mark.parametrize("uri", ["memory://", "MEMORY://", "Memory://"])
def test_memory_in_any_case_is_memory(uri: str) -> None:
    spec = parse_storage("storage", uri)
    assert spec.is_memory and spec.label == "memory"


@pytest.mark.parametrize("uri", ["memory://x", "memory:///", "memory://?a=1"])
def test_memory_takes_nothing_after_the_scheme(uri: str) -> None:
    with pytest.raises(GuardrailConfigError, match="memory:// takes no host"):
        parse_storage("storage", uri)


@pytest.mark.parametrize("setting", ["connect_timeout", "read_timeout"])
def test_timeouts_accept_their_bounds_and_refuse_one_step_past(setting: str) -> None:
    assert getattr(parse_storage("s", "memory://", **{setting: MAX_LATCH}), setting) == MAX_LATCH
    assert getattr(parse_storage("s", "memory://", **{setting: 1e-9}), setting) == 1e-9
    for bad in (0, 0.0, -0.1, MAX_LATCH + 0.001):
        with pytest.raises(GuardrailConfigError, match=f"s_{setting}"):
            parse_storage("s", "memory://", **{setting: bad})


def test_the_latch_accepts_zero_and_its_cap_and_refuses_past_them() -> None:
    assert parse_storage("s", "memory://", latch=0).latch == 0
    assert parse_storage("s", "memory://", latch=MAX_LATCH).latch == MAX_LATCH
    for bad in (-0.001, MAX_LATCH + 0.001):
        with pytest.raises(GuardrailConfigError, match="s_latch"):
            parse_storage("s", "memory://", latch=bad)


def test_guardrails_pass_their_storage_settings_through_named() -> None:
    with pytest.raises(GuardrailConfigError, match="storage_read_timeout"):
        RateLimitMiddleware("1/minute", storage_read_timeout=0)
    with pytest.raises(GuardrailConfigError, match="storage_connect_timeout"):
        ModelFallbackMiddleware(ScriptedChatModel(default="x"), storage_connect_timeout=-1)
    mw = ModelFallbackMiddleware(
        ScriptedChatModel(default="x"), storage_read_timeout=0.25, storage_latch=0
    )
    assert (mw.storage_read_timeout, mw.storage_latch) == (0.25, 0.0)


def test_a_cooldown_of_exactly_the_longest_duration_is_accepted() -> None:
    model = ScriptedChatModel(default="x")
    assert ModelFallbackMiddleware(model, cooldown=MAX_DURATION).cooldown == MAX_DURATION
    with pytest.raises(GuardrailConfigError, match="cooldown"):
        ModelFallbackMiddleware(model, cooldown=MAX_DURATION * 1.001)
