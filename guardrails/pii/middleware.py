"""``PIIMiddleware``: redact, mask, hash, block or pseudonymize PII before the model sees it.

Drop-in for LangChain's ``PIIMiddleware`` (same first five parameters and meaning), with one
hook pair and no extra graph nodes. Where it acts:

* ``apply_to_input`` (``wrap_model_call``): on *every* model call, every string of every
  message the provider receives (all content block types, names, tool-call arguments of every
  kind, numbers as text) and the request's own fields (``user``, ...), keyed by content (a
  message already scanned costs one cache lookup), never skipped by id or position. The
  request is scanned again right before the provider call (:mod:`guardrails.pii.lasthop`), so
  text added by middleware listed after this one is covered too. The handled messages replace
  the originals in the stored thread (same ids); with several ``PIIMiddleware`` every one's
  handling is what the thread keeps.
* ``apply_to_output``: the model's answer (text, tool calls, ``structured_response``,
  streamed tokens) is handled before any stream or state sees it.
* ``apply_to_tool_results`` (``wrap_tool_call``): a tool's result (content, artifact) is
  handled before it enters state (and so before the model sees it).
* ``apply_to_tool_args``: tool-call arguments are handled before the tool runs.

With ``apply_to_output`` or ``apply_to_tool_results``, a stream transformer also handles
``stream_events(version="v3")`` (see :mod:`guardrails.pii.stream`).

``block`` raises :class:`~guardrails.errors.PIIDetectionError` before anything is sent or
streamed. A detector that crashes blocks too (fail closed), with a ``pii.detector_error`` event.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from langchain.agents.middleware import AgentState
from langchain.agents.middleware.types import PrivateStateAttr
from typing_extensions import NotRequired

from guardrails._core import (
    Guardrail,
    Hook,
)
from guardrails._validate import middleware_name
from guardrails.errors import GuardrailConfigError
from guardrails.pii.detect import Detector, build_detector
from guardrails.pii.mapping import MappingPhases
from guardrails.pii.model_side import ModelSide
from guardrails.pii.pseudonym import (
    merge_vault,
)
from guardrails.pii.scans import Scans
from guardrails.pii.strategies import (
    MASK_STYLES,
    Strategy,
    apply_strategy,
    build_strategy,
    check_secret_settings,
)
from guardrails.pii.tool_side import MODEL_FACING_TOOLS, VAULT_KEY, ToolSide
from guardrails.pii.vault import PseudonymVault

__all__ = ["MODEL_FACING_TOOLS", "VAULT_KEY", "PIIMiddleware", "apply_strategy"]


class PIIState(AgentState[Any]):
    """Private state: the pseudonym mapping per middleware (when no vault is set)."""

    guardrails_pii_vault: NotRequired[
        Annotated[dict[str, dict[str, str]], PrivateStateAttr, merge_vault]
    ]


class PIIMiddleware(
    ModelSide,
    ToolSide,
    MappingPhases,
    Scans,
    Guardrail,
    kind="pii",
    hooks=("model", "tool"),
    events=(
        "pii.detected",
        "pii.blocked",
        "pii.detector_error",
        "pii.pseudonymized",
        "pii.restored",
    ),
):
    """Detect PII and redact / mask / hash / block / pseudonymize it; drop-in for LangChain's.

    ``pii_type`` is a name or a list of names, scanned together: ``email``, ``credit_card``,
    ``ip``, ``mac_address``, ``url``, ``phone``, ``iban``, ``us_ssn``, ``crypto``, ``date``,
    ``person`` and ``location`` (these two need ``nlp_model=``), any Presidio entity name, or your
    own name with a ``detector=`` (regex string, compiled pattern, callable(text) ->
    list[PIIMatch], Presidio ``EntityRecognizer``, or a list of literal values). An unknown name
    without a detector raises ``GuardrailConfigError("Unknown PII type: ...")``.

    ``mask`` writes LangChain's format (``user@****.com``); ``mask_style="shape"`` keeps the
    value's shape instead. ``hash`` is ``<email_hash:8 hex>``: keyed HMAC-SHA256 with
    ``hash_key`` (set one: an unkeyed hash of a 9-digit SSN is reversed in minutes).

    ``pseudonymize`` is reversible: each distinct value becomes a placeholder stable within the
    thread (``<EMAIL_1>``); the mapping stays in the thread's private state (or in ``vault=``,
    keyed by the run's ``configurable.thread_id``). Only the tools named in ``restore_tools``
    receive the real values (none by default); every tool's result is pseudonymized again
    before it enters state, including the thread's real values handed back transformed
    (reversed, spaced, re-cased, hex, base64, URL-encoded); ``restore_output=True`` shows the
    user the final answer with real values.

    ``refuse_unscannable=True`` blocks requests carrying payloads that cannot be scanned
    (binary images, audio, PDFs).

    ``regions=["GB", "FR"]`` sets the regions whose national phone formats are recognised
    (default ``guardrails.pii.detect.DEFAULT_REGIONS``); ``email_tlds=`` the top-level domains
    accepted in emails besides the public suffix list (see docs/pii.md, Detection).

    Example::

        agent = create_agent(model, tools=tools, middleware=[
            PIIMiddleware(["email", "phone", "credit_card"], strategy="redact",
                          apply_to_tool_results=True),
            PIIMiddleware("us_ssn", strategy="block"),
            PIIMiddleware("employee_id", detector=r"EMP-\\d{6}", strategy="hash", hash_key=b"k"),
        ])
        # the provider sees "<EMAIL_1>", send_email receives jane@example.com
        PIIMiddleware(["email", "phone"], strategy="pseudonymize", restore_tools=["send_email"])
    """

    state_schema = PIIState

    def __init__(
        self,
        pii_type: str | Sequence[str],
        *,
        strategy: str = "redact",
        detector: Any = None,
        apply_to_input: bool = True,
        apply_to_output: bool = False,
        apply_to_tool_results: bool = False,
        apply_to_tool_args: bool = False,
        hash_key: str | bytes | None = None,
        nlp_model: str | None = None,
        name: str | None = None,
        restore_tools: Sequence[str] | None = None,
        restore_output: bool = False,
        vault: PseudonymVault | None = None,
        mask_style: str = "langchain",
        refuse_unscannable: bool = False,
        regions: Sequence[str] | None = None,
        email_tlds: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        flags = {
            "apply_to_input": apply_to_input,
            "apply_to_output": apply_to_output,
            "apply_to_tool_results": apply_to_tool_results,
            "apply_to_tool_args": apply_to_tool_args,
            "restore_output": restore_output,
            "refuse_unscannable": refuse_unscannable,
        }
        for setting, flag in flags.items():
            if not isinstance(flag, bool):
                raise GuardrailConfigError(f"{setting} must be True or False, got {flag!r}")
        if mask_style not in MASK_STYLES:
            raise GuardrailConfigError(
                f"mask_style must be one of {list(MASK_STYLES)}, got {mask_style!r}"
            )
        key = hash_key.encode() if isinstance(hash_key, str) else hash_key
        self._strategy: Strategy = build_strategy(strategy, hash_key=key, mask_style=mask_style)
        # secret types: hash needs a key; pseudonymize restores into declared tools only
        restore_tools = check_secret_settings(pii_type, strategy, key, restore_tools)
        self._strategy.validate(
            {"restore_tools": restore_tools, "restore_output": restore_output, "vault": vault}
        )
        if restore_tools is not None and (
            isinstance(restore_tools, str) or not all(isinstance(t, str) for t in restore_tools)
        ):
            raise GuardrailConfigError(
                f"restore_tools must be None (no tool) or a list of tool names, "
                f"got {restore_tools!r}"
            )
        if vault is not None and not isinstance(vault, PseudonymVault):
            raise GuardrailConfigError(
                "vault must be None (the mapping stays in graph state) or an object with "
                "get/add/aget/aadd (guardrails.pii.vault.PseudonymVault: MemoryVault, "
                f"RedisVault), got {type(vault).__name__}"
            )
        try:
            self._detector: Detector = build_detector(
                pii_type, detector, nlp_model, regions=regions, email_tlds=email_tlds
            )
        except GuardrailConfigError as exc:
            if "not a built-in type" in str(exc) and "Unknown PII type" not in str(exc):
                raise GuardrailConfigError(f"Unknown PII type: {exc}") from exc
            raise
        types = [pii_type] if isinstance(pii_type, str) else list(pii_type)
        if detector is None and {"email", "url"} & set(types):
            # the domain check builds its public-suffix table on first use (~1 s): here, not
            # on the event loop in the middle of a run
            self._detector.matches("warm-up: x@example.com www.example.com/a")
        self.restore_tools: frozenset[str] | None = (
            None if restore_tools is None else frozenset(restore_tools)
        )
        self.restore_output = restore_output
        self.vault = vault
        self.pii_type = pii_type
        self.strategy = strategy
        self.detector = detector
        self.mask_style = mask_style
        self.refuse_unscannable = refuse_unscannable
        self.apply_to_input = apply_to_input
        self.apply_to_output = apply_to_output
        self.apply_to_tool_results = apply_to_tool_results
        self.apply_to_tool_args = apply_to_tool_args
        self._hash_key = key
        types = [pii_type] if isinstance(pii_type, str) else list(pii_type)
        self._name = middleware_name(name, f"PIIMiddleware[{','.join(types)}]")
        if not self._strategy.needs_mapping:
            # no pseudonym mapping to keep: no state channel for it (a channel costs every
            # step of every run of the graph)
            self.state_schema = AgentState  # type: ignore[assignment]
        if apply_to_output or apply_to_tool_results:
            from guardrails.pii.stream import PIIStreamTransformer

            self.transformers = (functools.partial(PIIStreamTransformer, middleware=self),)

    @property
    def name(self) -> str:
        return self._name

    def active_hooks(self) -> Iterable[Hook]:
        tools = self.apply_to_tool_args or self.apply_to_tool_results
        if tools or self._strategy.needs_mapping:
            return ("model", "tool")
        return ("model",)

    def guard_deep_agent(self, setup: Any) -> None:
        """``guardrails.deep.create_deep_agent`` gives this middleware to the main agent and to
        every declarative subagent (the general-purpose one included). A compiled subagent is
        a graph it cannot enter: its model would see raw values, so the setup is refused."""
        if setup.compiled:
            name = sorted(setup.compiled)[0]
            raise GuardrailConfigError(
                f"compiled subagent {name!r}: {self.name} cannot reach inside a compiled graph, "
                "so its model would see raw values; build it with this PIIMiddleware in its own "
                "middleware list and pass it as a declarative subagent spec instead"
            )

    # the model hook pair is written by ModelSide (the base would generate its own otherwise)
    wrap_model_call = ModelSide.wrap_model_call
    awrap_model_call = ModelSide.awrap_model_call
