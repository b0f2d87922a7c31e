"""Scene: the provider sees ``<EMAIL_1>``, the ``send_email`` tool sends to the real address."""

from __future__ import annotations

from typing import IO

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from guardrails.pii import PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call

TITLE = "PII: pseudonymized for the provider, real for the tool"


def run(out: IO[str]) -> None:
    sent: list[str] = []

    @tool
    def send_email(to: str, subject: str) -> str:
        """Send an email."""
        sent.append(to)
        return f"email sent to {to}"

    model = ScriptedChatModel(
        responses=[
            AIMessage(
                "", tool_calls=[tool_call("send_email", {"to": "<EMAIL_1>", "subject": "Invoice"})]
            ),
            "Done: the invoice went to <EMAIL_1>.",
        ]
    )
    agent = create_agent(
        model,
        tools=[send_email],
        checkpointer=InMemorySaver(),
        middleware=[
            PIIMiddleware(
                ["email", "phone"],
                strategy="pseudonymize",
                restore_tools=["send_email"],
                restore_output=True,
            )
        ],
    )
    text = "Email the invoice to jane.doe@example.com"
    print(f"  [user] {text}", file=out)
    result = agent.invoke(
        {"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": "demo"}}
    )
    print(f"  the model saw:       {model.requests[0]['messages'][-1].content}", file=out)
    call = next(m for m in result["messages"] if isinstance(m, AIMessage) and m.tool_calls)
    print(f"  the model called:    send_email(to={call.tool_calls[0]['args']['to']!r})", file=out)
    print(f"  the tool sent to:    {sent[0]}", file=out)
    print(f"  the tool result the model saw: {model.requests[1]['messages'][-1].content}", file=out)
    print(f"  [assistant] {result['messages'][-1].content}", file=out)
