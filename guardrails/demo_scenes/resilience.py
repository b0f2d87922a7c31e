"""Scene: a model that is rate limited, then down; retry and fallback keep the agent answering."""

from __future__ import annotations

from typing import IO

from langchain.agents import create_agent
from langchain_core.exceptions import ModelAPIError, ModelRateLimitError
from langchain_core.messages import HumanMessage

from guardrails.fallback import ModelFallbackMiddleware
from guardrails.retry import ModelRetryMiddleware
from guardrails.testing import ScriptedChatModel

TITLE = "Retry and fallback: a rate-limited model, then a dead one"


def run(out: IO[str]) -> None:
    primary = ScriptedChatModel(
        model_name="primary-model",
        responses=[ModelRateLimitError("429 Too Many Requests"), "Paris is the capital."],
        default=None,
    )
    primary.default = ModelAPIError("503 Service Unavailable")
    backup = ScriptedChatModel(
        model_name="backup-model",
        default=lambda messages: f"(backup model) I can answer {messages[-1].content!r}",
    )
    # inside a fallback, a retry must re-raise when it gives up, so the fallback can take over
    retry = ModelRetryMiddleware(
        max_retries=1, initial_delay=0.01, jitter=False, on_failure="error"
    )
    agent = create_agent(
        primary,
        middleware=[
            ModelFallbackMiddleware(backup, failure_threshold=2, cooldown=60),
            retry,
        ],
    )
    for question in (
        "Capital of France?",
        "Capital of Italy?",
        "Capital of Spain?",
        "Capital of Peru?",
    ):
        answer = agent.invoke({"messages": [HumanMessage(question)]})["messages"][-1].content
        print(f"  {question} -> {answer}", file=out)
    print(
        f"  primary model called {primary.calls} times, backup {backup.calls} times "
        "(the circuit opened after 2 failures)",
        file=out,
    )
