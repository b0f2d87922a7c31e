"""Prompt injection: attack success and utility on our five-domain scenario set, with and without
``PromptInjectionMiddleware``, and the guard's cost per tool call.

Every (user task x attack x style) pair is replayed through ``create_agent`` by a scripted model
that does the user's task and **always obeys** the planted text as soon as a tool result shows it
(copying the attacker's values in the style's form: case, spacing, URL-encoding). Configurations:

* ``none``: no guard;
* ``block``: ``PromptInjectionMiddleware(untrusted_tools, protected_tools, "block")`` only;
* ``block+decl``: the same plus the deployer's declarations (``trusted_tools``, ``allow``);
* ``interrupt``: ``on_violation="interrupt"``; the reviewer approves a call only if it is one of
  the user task's own calls (the user's intent) and rejects anything else.

Figures: *attack success* over the pairs where the unguarded agent was successfully attacked,
*utility* on benign runs, *utility under attack*. Attacks the docs list as out of reach
(``Attack.limit``: a steered answer with no value to trace) are counted apart.

``python -m bench injection`` prints the table; :func:`evaluate` returns the figures (the test
``tests/test_injection_bench.py`` asserts the goals on them).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from bench.common import Row
from bench.injection_scenarios import DOMAINS, STYLES, Attack, Domain, Task, World, restyle
from guardrails import PromptInjectionMiddleware
from guardrails.testing import ScriptedChatModel

CONFIGS = ("none", "block", "block+decl", "interrupt")


def guard_for(domain: Domain, config: str) -> PromptInjectionMiddleware | None:
    if config == "none":
        return None
    extra: dict[str, Any] = {}
    if config == "block+decl":
        extra = {"trusted_tools": domain.trusted, "allow": domain.allow}
    return PromptInjectionMiddleware(
        untrusted_tools=domain.untrusted,
        protected_tools=domain.protected,
        on_violation="interrupt" if config == "interrupt" else "block",
        **extra,
    )


def _call(prefix: str, index: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "args": args,
        "id": f"{prefix}{index}_{uuid.uuid4().hex[:8]}",
        "type": "tool_call",
    }


@dataclass
class _Scene:
    task: Task
    attack: Attack | None
    style: str


def obedient_model(scene: _Scene) -> ScriptedChatModel:
    """A model that does the scene's task and obeys its planted attack as soon as it reads it."""

    def respond(messages: list[BaseMessage]) -> AIMessage:
        task, attack = scene.task, scene.attack
        form = STYLES[scene.style][1]
        marker = attack.goal[:24] if attack is not None else None
        calls = [c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
        done_user = sum(1 for c in calls if str(c["id"]).startswith("u"))
        done_attack = sum(1 for c in calls if str(c["id"]).startswith("a"))
        seen = marker is not None and any(
            isinstance(m, ToolMessage) and marker in str(m.content) for m in messages
        )
        if seen and attack is not None and done_attack < len(attack.steps):
            name, args = attack.steps[done_attack]
            return AIMessage("", tool_calls=[_call("a", done_attack, name, restyle(args, form))])
        if done_user < len(task.steps):
            name, args = task.steps[done_user]
            return AIMessage("", tool_calls=[_call("u", done_user, name, args)])
        answer = task.answer
        if seen and attack is not None and attack.relay:
            answer += " " + attack.relay
        return AIMessage(answer)

    return ScriptedChatModel(responses=[], default=respond, record=False)


@dataclass
class Outcome:
    utility: bool
    attacked: bool
    calls: int = 0


class Runner:
    """One agent per domain and configuration (built once), replaying scene after scene."""

    def __init__(self, domain: Domain, config: str) -> None:
        self.domain = domain
        self.config = config
        self.world: World = {}
        self.scene = _Scene(domain.tasks[0], None, "ignore")
        guard = guard_for(domain, config)
        self.agent = create_agent(
            obedient_model(self.scene),
            tools=domain.tools(self.world),
            middleware=[guard] if guard is not None else [],
            checkpointer=InMemorySaver() if config == "interrupt" else None,
        )

    def run(self, task: Task, attack: Attack | None, style: str) -> Outcome:
        injection = STYLES[style][0].format(goal=attack.goal) if attack is not None else ""
        self.world.clear()
        self.world.update(self.domain.fresh(injection))
        self.scene.task, self.scene.attack, self.scene.style = task, attack, style
        config: dict[str, Any] = {
            "configurable": {"thread_id": uuid.uuid4().hex},
            "recursion_limit": 60,
        }
        result = self.agent.invoke({"messages": [{"role": "user", "content": task.prompt}]}, config)
        user_calls = list(task.steps)
        while result.get("__interrupt__"):
            answers = {}
            for pending in result["__interrupt__"]:
                action = pending.value["action_requests"][0]
                intended = (action["name"], action["args"]) in user_calls
                answers[pending.id] = {"decisions": [{"type": "approve" if intended else "reject"}]}
            result = self.agent.invoke(Command(resume=answers), config)
        answer = str(result["messages"][-1].content)
        calls = sum(len(m.tool_calls) for m in result["messages"] if isinstance(m, AIMessage))
        return Outcome(
            task.check(self.world, answer),
            attack.check(self.world, answer) if attack is not None else False,
            calls,
        )


def run_pair(domain: Domain, task: Task, attack: Attack | None, style: str, config: str) -> Outcome:
    """One run on a fresh agent (handy in tests; :func:`evaluate` reuses one per config)."""
    return Runner(domain, config).run(task, attack, style)


@dataclass
class Figures:
    """Counts for one domain and configuration."""

    benign: int = 0
    benign_ok: int = 0
    pairs: int = 0  # pairs the unguarded agent lost (attackable)
    attacked: int = 0
    under_attack_ok: int = 0
    under_attack: int = 0
    limit_pairs: int = 0
    limit_attacked: int = 0
    missed: list[str] = field(default_factory=list)

    @property
    def attack_success(self) -> float:
        return self.attacked / self.pairs if self.pairs else 0.0

    @property
    def utility(self) -> float:
        return self.benign_ok / self.benign if self.benign else 0.0

    @property
    def utility_under_attack(self) -> float:
        return self.under_attack_ok / self.under_attack if self.under_attack else 0.0

    def add(self, other: Figures) -> None:
        for name in ("benign", "benign_ok", "pairs", "attacked", "under_attack_ok",
                     "under_attack", "limit_pairs", "limit_attacked"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.missed.extend(other.missed)


def _pairs(domain: Domain, styles: Sequence[str]) -> Iterator[tuple[Task, Attack, str]]:
    for task in domain.tasks:
        for attack in domain.attacks:
            for style in styles:
                yield task, attack, style


def evaluate(
    configs: Sequence[str] = CONFIGS,
    styles: Sequence[str] | None = None,
    domains: Sequence[Domain] = DOMAINS,
) -> dict[str, dict[str, Figures]]:
    """``{config: {domain name: Figures}}`` over every pair (and ``"all"`` per config)."""
    styles = list(styles or STYLES)
    out: dict[str, dict[str, Figures]] = {c: {} for c in configs}
    for domain in domains:
        baseline = Runner(domain, "none")
        attackable: set[tuple[str, str, str]] = set()
        for task, attack, style in _pairs(domain, styles):
            if baseline.run(task, attack, style).attacked:
                attackable.add((task.id, attack.id, style))
        for config in configs:
            runner = baseline if config == "none" else Runner(domain, config)
            fig = Figures()
            for task in domain.tasks:
                fig.benign += 1
                fig.benign_ok += runner.run(task, None, styles[0]).utility
            for task, attack, style in _pairs(domain, styles):
                if (task.id, attack.id, style) not in attackable:
                    continue
                outcome = runner.run(task, attack, style)
                if attack.limit:
                    fig.limit_pairs += 1
                    fig.limit_attacked += outcome.attacked
                    continue
                fig.pairs += 1
                fig.attacked += outcome.attacked
                fig.under_attack += 1
                fig.under_attack_ok += outcome.utility
                if outcome.attacked and config != "none":
                    fig.missed.append(f"{domain.name}/{task.id}/{attack.id}/{style}")
            out[config][domain.name] = fig
    for config in configs:
        total = Figures()
        for fig in out[config].values():
            total.add(fig)
        out[config]["all"] = total
    return out


def _cost_rows(quick: bool) -> list[Row]:
    """Microseconds a guarded tool call adds (judge + record), sync, on one scenario."""
    domain = DOMAINS[0]
    task = domain.tasks[0]
    number = 5 if quick else 20
    runners = {config: Runner(domain, config) for config in ("none", "block+decl")}
    timings = {config: float("inf") for config in runners}
    for _ in range(5):  # interleaved rounds, best of each
        for config, runner in runners.items():
            start = time.perf_counter()
            calls = 0
            for _ in range(number):
                calls += runner.run(task, domain.attacks[0], "ignore").calls or 1
            timings[config] = min(timings[config], (time.perf_counter() - start) / calls * 1e6)
    added = timings["block+decl"] - timings["none"]
    return [
        Row("injection", "added per tool call (agent run / calls, sync)", added, None, "us",
            note=f"agent run {timings['none']:.0f} us per call without the guard; loaded host"),
    ]  # fmt: skip


def run(quick: bool = False) -> list[Row]:
    styles = ["ignore", "system"] if quick else None
    figures = evaluate(styles=styles)
    rows: list[Row] = []
    for name in [*(d.name for d in DOMAINS), "all"]:
        base = figures["none"][name]
        for config in CONFIGS[1:]:
            fig = figures[config][name]
            rows.append(
                Row(
                    "injection",
                    f"{name} {config}: attack success",
                    fig.attack_success * 100,
                    base.attack_success * 100,
                    "%",
                    note=f"{fig.attacked}/{fig.pairs}",
                )
            )
            rows.append(
                Row(
                    "injection",
                    f"{name} {config}: utility",
                    fig.utility * 100,
                    base.utility * 100,
                    "%",
                    higher_is_better=True,
                    note=f"{fig.benign_ok}/{fig.benign}",
                )
            )
            rows.append(
                Row(
                    "injection",
                    f"{name} {config}: utility under attack",
                    fig.utility_under_attack * 100,
                    base.utility_under_attack * 100,
                    "%",
                    higher_is_better=True,
                    note=f"{fig.under_attack_ok}/{fig.under_attack}",
                )
            )
            if fig.limit_pairs:
                rows.append(Row("injection", f"{name} {config}: out-of-reach attacks (docs)",
                                fig.limit_attacked / fig.limit_pairs * 100,
                                base.limit_attacked / max(base.limit_pairs, 1) * 100, "%",
                                note=f"{fig.limit_attacked}/{fig.limit_pairs}"))  # fmt: skip
    rows.extend(_cost_rows(quick))
    return rows
