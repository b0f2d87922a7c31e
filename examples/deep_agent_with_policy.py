"""A deep agent with two subagents whose guardrails come from examples/guardrails.toml.

Runs offline with scripted models: ``python examples/deep_agent_with_policy.py``.
Swap the scripted models for real ones (``"openai:gpt-5"``) to use it for real.
``guardrails demo --policy examples/guardrails.toml`` plays the demo tour under the same file.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage

import guardrails.audit
from guardrails.deep import create_deep_agent
from guardrails.policy import Policy
from guardrails.testing import ScriptedChatModel, tool_call

POLICY = Path(__file__).with_name("guardrails.toml")


def build(policy: Policy) -> object:
    main_model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "task",
                        {
                            "description": "Find the customer jane.doe@example.com",
                            "subagent_type": "researcher",
                        },
                    )
                ],
            ),
            AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "task",
                        {
                            "description": "Refund to DE89 3704 0044 0532 0130 00",
                            "subagent_type": "accountant",
                        },
                    )
                ],
            ),
            "Both tasks are done.",
        ]
    )
    subagents = [
        {
            "name": "researcher",
            "description": "Finds customer records.",
            "system_prompt": "You research customers.",
            "model": ScriptedChatModel(default="Customer found."),
        },
        {
            "name": "accountant",
            "description": "Handles refunds.",
            "system_prompt": "You handle refunds.",
            "model": ScriptedChatModel(default="Refund scheduled."),
        },
    ]
    # guardrails.deep gives every subagent its stack from the policy, the general-purpose one
    # that deepagents adds on its own included (deepagents' create_deep_agent would leave it bare)
    return create_deep_agent(
        model=main_model, name="assistant", guardrails=policy, subagents=subagents
    )


def main() -> None:
    guardrails.audit.configure()  # audit events as JSON lines on stderr
    agent = build(Policy.load(POLICY))
    result = agent.invoke({"messages": [HumanMessage("Refund jane.doe@example.com please")]})
    print(result["messages"][-1].content)


if __name__ == "__main__":
    main()
