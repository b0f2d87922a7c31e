"""Promises of the order warnings (issue 29, round 7): a stack built now is judged on its own,
never silenced by one that is gone.

The warnings are given once per pair of middleware (``compose()`` / ``check_order()`` at
construction, the first call of a plain ``middleware=[...]`` list): the pack remembers what it
has said. What it remembers must be the objects, not their ``id()``: CPython hands a dead
object's id to the next object of the same size, so a stack built after an earlier one was
dropped (a server building one agent per request, a test suite) often gets the very ids of the
old one, and a memory keyed by ids took it for a stack already warned about: its real misorder
went unsaid. Each new stack here is built after the last was dropped and collected; the ids are
reused (counted), and every stack warns, through ``check_order`` and through a real agent's
first call, sync and async.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

import pytest
from langchain.agents import create_agent

from guardrails import ModelCallLimitMiddleware, ModelRetryMiddleware, check_order
from guardrails.order import GuardrailOrderWarning
from guardrails.testing import ScriptedChatModel
from tests.support import invoke

ROUNDS = 20


# Subclasses a user could write, padded to a size few other objects have: the allocator then
# hands a dropped instance's address (its id) to the next one at once, every time, as it does
# by chance for any object. The pad sizes differ, so the two never take each other's place.
class Retry(ModelRetryMiddleware):
    __slots__ = tuple(f"_pad{i}" for i in range(45))


class Limit(ModelCallLimitMiddleware):
    __slots__ = tuple(f"_pad{i}" for i in range(49))


def _order_warnings(run: Any) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return [str(w.message) for w in caught if issubclass(w.category, GuardrailOrderWarning)]


def _misorder(said: list[str]) -> bool:
    return any("should be listed before" in s and "count every retry" in s for s in said)


def _stacks(rounds: int) -> Any:
    """(retry, limit, their ids were a dropped pair's) for a new misordered pair per round,
    each built after the last was dropped and collected."""
    places: set[tuple[int, int]] = set()
    for _ in range(rounds):
        gc.collect()
        retry, limit = Retry(), Limit(run_limit=3)
        place = (id(retry), id(limit))
        yield retry, limit, place in places
        places.add(place)
        del retry, limit


@pytest.mark.slow  # 20 rounds of gc.collect() (12 s): a search for reused ids
def test_a_misordered_stack_warns_even_where_a_dropped_one_had_the_same_ids() -> None:
    reused = []
    for retry, limit, again in _stacks(ROUNDS):
        reused.append(again)
        assert _misorder(_order_warnings(lambda: check_order([retry, limit])))  # noqa: B023
        # the same live stack again: said once, not repeated
        assert _order_warnings(lambda: check_order([retry, limit])) == []  # noqa: B023
    if not any(reused):
        pytest.skip("the allocator reused no address here: the case could not be built")


@pytest.mark.slow  # 10 agents built and collected per mode (5-6 s each)
def test_every_new_agent_on_a_dropped_agents_ids_warns_at_its_first_call(mode: str) -> None:
    reused = []
    for retry, limit, again in _stacks(ROUNDS // 2):
        reused.append(again)
        agent = create_agent(
            ScriptedChatModel(responses=[], default="ok"), middleware=[retry, limit]
        )
        said = _order_warnings(lambda: invoke(agent, {"messages": [("user", "hi")]}, mode))  # noqa: B023
        assert _misorder(said)
        agent = None  # dropped with its middleware before the next round
    if not any(reused):
        pytest.skip("the allocator reused no address here: the case could not be built")


def test_what_was_seen_is_kept_only_while_its_objects_live() -> None:
    from guardrails.order import SeenOnce

    class Plain:
        pass

    class Slotted:  # no weak references: held while remembered
        __slots__ = ("n",)

    seen = SeenOnce(limit=8)
    a, b, s = Plain(), Plain(), Slotted()
    assert seen.first((a, b), "x")
    assert not seen.first((a, b), "x")
    assert seen.first((b, a), "x")  # order matters
    assert seen.first((a, b), "y")  # so does the value
    assert seen.first((a, s))
    assert not seen.first((a, s))
    size = len(seen)
    del b
    gc.collect()
    assert len(seen) == size - 3  # the entries of a dead object are dropped with it
    for _ in range(20):  # bounded
        seen.first((Plain(),))
    assert len(seen) <= 8
