"""Our limit errors are built, raised, re-raised and pickled exactly like LangChain's."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from langchain.agents.middleware.model_call_limit import (
    ModelCallLimitExceededError as LCModelCallLimitExceededError,
)
from langchain.agents.middleware.tool_call_limit import (
    ToolCallLimitExceededError as LCToolCallLimitExceededError,
)

from guardrails.errors import (
    GuardrailError,
    LimitExceededError,
    ModelCallLimitExceededError,
    ToolCallLimitExceededError,
)

MODEL_CASES = [
    (2, 0, 2, None),
    (0, 1, None, 1),
    (2, 1, 2, 1),
    (5, 3, 10, 3),
    (0, 0, None, None),  # nothing exceeded: LangChain still builds it
]
TOOL_CASES = [
    (3, 1, 2, None, None),
    (1, 4, None, 3, "search"),
    (5, 5, 4, 4, "fetch"),
    (0, 0, None, None, None),
]
MODEL_ATTRS = ("thread_count", "run_count", "thread_limit", "run_limit")
TOOL_ATTRS = (*MODEL_ATTRS, "tool_name")


@pytest.mark.parametrize("args", MODEL_CASES)
def test_model_limit_error_takes_langchains_positional_arguments(args: tuple[Any, ...]) -> None:
    theirs = LCModelCallLimitExceededError(*args)
    ours = ModelCallLimitExceededError(*args)
    assert str(ours) == str(theirs)
    assert ours.args == theirs.args
    for name in MODEL_ATTRS:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert isinstance(ours, LCModelCallLimitExceededError)
    assert isinstance(ours, GuardrailError)


@pytest.mark.parametrize("args", TOOL_CASES)
def test_tool_limit_error_takes_langchains_positional_arguments(args: tuple[Any, ...]) -> None:
    theirs = LCToolCallLimitExceededError(*args)
    ours = ToolCallLimitExceededError(*args)
    assert str(ours) == str(theirs)
    assert ours.args == theirs.args
    for name in TOOL_ATTRS:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert isinstance(ours, LCToolCallLimitExceededError)


def test_langchains_keyword_arguments_work_too() -> None:
    kwargs: dict[str, Any] = {"thread_count": 3, "run_count": 1, "thread_limit": 2, "run_limit": 5}
    assert str(ModelCallLimitExceededError(**kwargs)) == str(
        LCModelCallLimitExceededError(**kwargs)
    )
    kwargs["tool_name"] = "search"
    assert str(ToolCallLimitExceededError(**kwargs)) == str(LCToolCallLimitExceededError(**kwargs))
    # tool_name defaults to None, as in LangChain
    assert ToolCallLimitExceededError(3, 1, 2, None).tool_name is None


def test_which_limit_tripped_is_derived_from_langchains_arguments() -> None:
    exc = ModelCallLimitExceededError(2, 1, 2, 5)
    assert (exc.scope, exc.count, exc.limit, exc.unit) == ("thread", 2, 2, "calls")
    exc = ModelCallLimitExceededError(1, 3, 5, 3)
    assert (exc.scope, exc.count, exc.limit) == ("run", 3, 3)
    # tool limits trip on count > limit, model limits on count >= limit (LangChain's rules)
    tool = ToolCallLimitExceededError(2, 3, 2, 2, "x")
    assert (tool.scope, tool.count, tool.limit) == ("run", 3, 2)
    none = ToolCallLimitExceededError(1, 1, 2, 2)
    assert (none.scope, none.count, none.limit) == (None, None, None)
    assert isinstance(none, LimitExceededError)


def test_our_keyword_arguments_still_win() -> None:
    exc = ModelCallLimitExceededError(
        1, 1, None, None, message="run token limit 100 reached", scope="run", count=120,
        limit=100, unit="tokens",
    )  # fmt: skip
    assert str(exc) == "run token limit 100 reached"
    assert (exc.scope, exc.count, exc.limit, exc.unit) == ("run", 120, 100, "tokens")
    tool = ToolCallLimitExceededError(
        4, 1, 3, None, "t", message="m", scope="thread", count=4, limit=3
    )
    assert (str(tool), tool.tool_name, tool.count) == ("m", "t", 4)


@pytest.mark.parametrize(
    "exc",
    [
        ModelCallLimitExceededError(2, 1, 2, 1),
        ModelCallLimitExceededError(
            1, 1, None, None, message="tok", scope="run", count=9, limit=8, unit="tokens"
        ),
        ToolCallLimitExceededError(3, 1, 2, None, "search"),
        ToolCallLimitExceededError(
            3, 1, 2, None, message="custom", scope="thread", count=3, limit=2
        ),
    ],
    ids=["model", "model-custom", "tool", "tool-custom"],
)
def test_pickle_and_copy_keep_every_field(exc: LimitExceededError) -> None:
    """Errors cross process and thread-pool boundaries; LangChain's own cannot be unpickled."""
    for clone in (pickle.loads(pickle.dumps(exc)), copy.copy(exc), copy.deepcopy(exc)):
        assert type(clone) is type(exc)
        assert str(clone) == str(exc)
        assert clone.args == exc.args
        assert vars(clone) == vars(exc)


def test_code_that_rebuilds_and_reraises_keeps_working() -> None:
    """A handler written for LangChain's class: catch, rebuild from attributes, re-raise."""

    def handler(exc: LCToolCallLimitExceededError) -> None:
        raise type(exc)(
            exc.thread_count, exc.run_count, exc.thread_limit, exc.run_limit, exc.tool_name
        ) from exc

    original = ToolCallLimitExceededError(3, 1, 2, None, "search")
    with pytest.raises(ToolCallLimitExceededError) as info:
        try:
            raise original
        except LCToolCallLimitExceededError as exc:
            handler(exc)
    assert str(info.value) == str(original)
    assert info.value.__cause__ is original
