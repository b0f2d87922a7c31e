"""The write-back: the stored thread keeps what the provider got.

After a model call, the messages every ``PIIMiddleware`` of the call handled replace the
originals in graph state (same ids), whichever is listed first; a thread holding messages
without ids is written again whole. Example::

    replaced = write_back(request.state, original, hop, guard, handled, response)
    if replaced:
        update["messages"] = replaced
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from guardrails._state import state_get
from guardrails.pii.lasthop import _INPUT, Guard, LastHop

__all__ = ["OTHER_STATE_KEYS", "write_back"]

#: State keys other middleware write, from their own nodes (where no PIIMiddleware hook
#: runs), that hold what a person typed: handled with the history on the next model call and
#: written back when handling changed them. A new such key is a new row here.
OTHER_STATE_KEYS: dict[str, str] = {
    "hitl_edited_tool_calls": "HumanInTheLoopMiddleware: a reviewer's edited calls (name, args)",
}


def write_back(
    state: Any,
    original: list[BaseMessage],
    hop: LastHop | None,
    guard: Guard,
    handled: list[BaseMessage] | None,
    response: Any = None,
) -> list[BaseMessage]:
    """The stored messages as every guard of this call handles them (same ids), so the
    thread keeps what the provider got, whichever ``PIIMiddleware`` is listed first.

    ``handled`` is this middleware's own input scan, reused when it is the only guard."""
    guards = hop.guards if hop is not None else [guard]
    if not any(map(_INPUT, guards)):
        return []
    if handled is None or len(guards) != 1 or guards[0] is not guard:
        handled = original
        for g in guards:
            if g.input:
                handled = g.scan("input").messages(handled)
    if handled is original or not any(map(operator.is_not, handled, original)):
        return []  # (one handled message per original)
    # the pairs that changed, picked in C (a long history, one changed message)
    changed = list(
        itertools.compress(
            zip(handled, original, strict=True), map(operator.is_not, handled, original)
        )
    )
    messages = state_get(state, "messages") or []
    if any(new.id is None for new, _ in changed):
        return _rewrite(messages, changed, response)
    stored = _stored_ids(messages)
    return [new for new, _ in changed if new.id in stored]


_ID = operator.attrgetter("id")


def _stored_ids(messages: Sequence[Any]) -> set[Any]:
    """The ids of the stored thread's messages (a falsy id is no id)."""
    try:
        stored = set(map(_ID, messages))  # in C: every stored message has an ``id``
    except AttributeError:
        return {m.id for m in messages if getattr(m, "id", None)}
    stored.discard(None)
    stored.discard("")
    return stored


def _rewrite(messages: Sequence[Any], changed: Sequence[Any], response: Any) -> list[Any]:
    """The whole stored thread, handled, for a thread holding messages without ids (the
    caller's ``("user", ...)`` tuples in a deepagents graph, whose reducer assigns none): a
    message without an id cannot be replaced by id, so the thread is written again
    (``REMOVE_ALL_MESSAGES``), followed by this call's answer (whose own write the reset
    drops). Nothing when a changed message is not in the stored thread."""
    by_object = {id(old): new for new, old in changed}
    if not any(id(m) in by_object for m in messages if getattr(m, "id", None) is None):
        stored = {m.id for m in messages if getattr(m, "id", None)}
        return [new for new, _ in changed if new.id is not None and new.id in stored]
    from langchain_core.messages import RemoveMessage
    from langgraph.graph.message import REMOVE_ALL_MESSAGES

    answer = list(getattr(response, "result", None) or [])
    return [
        RemoveMessage(id=REMOVE_ALL_MESSAGES),
        *(by_object.get(id(m), m) for m in messages),
        *answer,
    ]
