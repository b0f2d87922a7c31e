"""LangGraph internals, each behind one function (canaries: tests/test_adapters.py).

Private names used here (langgraph 1.x):

* ``langgraph._internal._constants.CONFIG_KEY_SCRATCHPAD`` and the task scratchpad's
  ``get_null_resume(consume=False)`` -- whether a task runs on a resume that carries a value
  no ``interrupt`` has taken yet (the "null resume" of ``Command(resume=value)``).
"""

from __future__ import annotations

__all__ = ["null_resume_pending"]


def null_resume_pending() -> bool:
    """Whether the running task was started by ``Command(resume=value)`` (a single value).

    Upstream: ``langgraph._internal._constants.CONFIG_KEY_SCRATCHPAD``,
    ``PregelScratchpad.get_null_resume``. Outside a graph run: False.
    """
    from langgraph._internal._constants import CONFIG_KEY_SCRATCHPAD
    from langgraph.config import get_config

    try:
        configurable = get_config()["configurable"]
    except RuntimeError:  # outside a runnable context
        return False
    scratchpad = configurable.get(CONFIG_KEY_SCRATCHPAD)
    if scratchpad is None:
        return False
    return scratchpad.get_null_resume(False) is not None
