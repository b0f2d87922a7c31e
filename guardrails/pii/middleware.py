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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Annotated, Any

from langchain.agents.middleware import AgentState, ModelResponse
from langchain.agents.middleware.types import ExtendedModelResponse, PrivateStateAttr
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langgraph.types import Command
from typing_extensions import NotRequired

from guardrails._adapters.langchain import is_model_node_handler, override_request
from guardrails._core import (
    _ENCLOSING,
    Call,
    Flow,
    Guardrail,
    Hook,
    Sleep,
    SyncAsync,
    _enter,
    run_async,
    run_sync,
)
from guardrails.errors import GuardrailConfigError, PIIDetectionError
from guardrails.pii.detect import Detector, build_detector
from guardrails.pii.lasthop import Guard, LastHop, guarded, hop_of
from guardrails.pii.mapping import MappingPhases
from guardrails.pii.pseudonym import (
    Pseudonymizer,
    merge_vault,
    message_texts,
    read_back,
    run_thread,
)
from guardrails.pii.scan import Scan
from guardrails.pii.strategies import (
    MASK_STYLES,
    Strategy,
    apply_strategy,
    build_strategy,
    check_secret_settings,
)
from guardrails.pii.subagents import unguarded_subagent
from guardrails.pii.tool_side import MODEL_FACING_TOOLS, VAULT_KEY, ToolSide
from guardrails.pii.vault import PseudonymVault
from guardrails.pii.writeback import write_back

__all__ = ["MODEL_FACING_TOOLS", "VAULT_KEY", "PIIMiddleware", "apply_strategy"]


def _no_audit(*args: Any, **kwargs: Any) -> None:
    return None


#: The wait that hands the event loop a turn between two chunks of a long text.
_TURN = 1e-6


async def _in_async() -> bool:
    return True


#: ``True`` when the flow is driven by ``run_async``, ``False`` by ``run_sync``.
_IS_ASYNC = SyncAsync(lambda: False, _in_async)


class PIIState(AgentState[Any]):
    """Private state: the pseudonym mapping per middleware (when no vault is set)."""

    guardrails_pii_vault: NotRequired[
        Annotated[dict[str, dict[str, str]], PrivateStateAttr, merge_vault]
    ]


class PIIMiddleware(
    ToolSide,
    MappingPhases,
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
        self._name = name or f"PIIMiddleware[{','.join(types)}]"
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

    # ------------------------------------------------------------------ scans
    def scan(
        self,
        where: str,
        runtime: Any = None,
        pseudo: Pseudonymizer | None = None,
        known: dict[str, Any] | None = None,
    ) -> Scan:
        """A fresh :class:`~guardrails.pii.scan.Scan` of this middleware's types."""
        scan = Scan(self._detector, self._strategy, self.audit, where, runtime, pseudo)
        if known is not None:
            scan.known = known
        if where == "tool_result" and pseudo is not None and pseudo.mapping:
            scan.literals = read_back(pseudo.mapping)  # real values a tool hands back, transformed
        return scan

    def export_scan(self) -> Scan:
        """A scan for exporters (:mod:`guardrails.pii.observers`): this middleware's
        detector; its strategy, except that ``block`` and ``pseudonymize`` become ``redact``
        (an exporter cannot refuse a span or keep a thread's mapping); no audit events."""
        strategy = self._strategy
        if strategy.needs_mapping or not strategy.rewrites:
            strategy = self._export_strategy
        return Scan(self._detector, strategy, _no_audit, "export", None, None)

    @functools.cached_property
    def _export_strategy(self) -> Strategy:
        return build_strategy("redact")

    def _prefetch(
        self, known: dict[str, Any], messages: Sequence[Any], extra: Any = None
    ) -> Flow[None]:
        """Long texts scanned one chunk at a time, giving the event loop a turn after each.
        Only in async: a sync run has no loop to give turns to, and its scan computes long
        texts in place (the walk that looks for them would be spent for nothing)."""
        if not (yield _IS_ASYNC):
            return
        yield from self._ahead(known, messages, extra)

    def _ahead(
        self, known: dict[str, Any], messages: Sequence[Any], extra: Any = None, **more: Any
    ) -> Flow[None]:
        """:meth:`~guardrails.pii.scan.Scan.prefetch` on the event loop, a turn after each
        slice."""
        for _ in self.scan("prefetch", known=known).prefetch(messages, extra, **more):
            yield Sleep(_TURN)

    def _guard(self, runtime: Any, box: list[Pseudonymizer]) -> Guard:
        guard = Guard(
            scan=lambda where: self.scan(where),
            input=self.apply_to_input,
            output_text=self.apply_to_output,
            output_calls=self.apply_to_output or self.apply_to_tool_args,
            refuse_unscannable=self.refuse_unscannable,
            detector=self._detector,
        )
        known, produced = guard.known, guard.produced

        def scan(where: str) -> Scan:
            # reads the guard's containers, not the guard: no reference cycle (a cycle per
            # model call keeps the request's runtime alive until the collector runs)
            shared = self.scan(where, runtime, box[0] if box else None, known)
            shared.produced = produced
            return shared

        guard.scan = scan
        return guard

    @staticmethod
    def _shared(scan: Scan, guard: Guard) -> Scan:
        """``scan`` as one pass of ``guard``'s call: what it writes is never scanned again."""
        scan.produced = guard.produced
        return scan

    def standalone_guard(self) -> Guard:
        """This middleware's input handling for a model called outside an agent's model node
        (:func:`~guardrails.pii.lasthop.guard_model`)."""
        if self._strategy.needs_mapping:
            raise GuardrailConfigError(
                "guard_model cannot use strategy='pseudonymize' (the mapping belongs to a "
                "thread); give the summarizer's or selector's model a redact/mask/hash/block "
                "PIIMiddleware"
            )
        return self._guard(None, [])

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

    # ------------------------------------------------------------------ model calls
    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        token = _enter(self, "model", request)
        try:
            flow = self._model_flow(request, is_model_node_handler(handler))
            return run_sync(flow, handler, self._sleep)
        finally:
            _ENCLOSING.reset(token)

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        token = _enter(self, "model", request)
        try:
            flow = self._model_flow(request, is_model_node_handler(handler))
            return await run_async(flow, handler, self._asleep)
        finally:
            _ENCLOSING.reset(token)

    def model_flow(self, request: Any) -> Flow[Any]:
        return self._model_flow(request, False)

    def _model_flow(self, request: Any, at_node: bool) -> Flow[Any]:
        """The model call; ``at_node``: the handler is the agent's model node itself
        (nothing else runs between this pass and the model: see :attr:`Guard.handed`)."""
        runtime = request.runtime
        if request.tools and self.apply_to_input:
            why = unguarded_subagent(request.tools, self)
            if why is not None:
                self.audit("pii.blocked", runtime=runtime, where="subagent", reason=why)
                raise GuardrailConfigError(
                    f"{why}. Build the agent with guardrails.deep.create_deep_agent("
                    f"guardrails=[...]) (every subagent, the general-purpose one included, "
                    f"gets the guardrail), or list this {self.name} in each subagent's "
                    "middleware"
                )
        update: dict[str, Any] = {}
        box: list[Pseudonymizer] = []
        thread: str | None = None
        if self._strategy.needs_mapping:
            thread = run_thread(runtime) if self.vault is not None else None
            mapping = yield from self._load(request.state, thread)
            everything = [request.system_message, *request.messages]
            box.append(Pseudonymizer(mapping, texts=lambda: message_texts(everything)))
        # the last hop: a guarded model shared by every PIIMiddleware of this call
        hop = hop_of(request.model)
        changes: dict[str, Any] = {}  # of the request, made once before the call
        if hop is None and isinstance(request.model, BaseChatModel):
            hop = LastHop()
            changes["model"] = guarded(request.model, hop)
        guard = self._guard(runtime, box)
        if hop is not None:
            hop.guards.append(guard)
        original: list[BaseMessage] = list(request.messages)
        handled_messages: list[BaseMessage] | None = None
        if self.apply_to_input:
            system = request.system_message
            fresh = ([system] if system is not None else []) + original
            scans: list[Scan] = []

            def work(pseudo: Pseudonymizer | None, defer: list[str] | None = None) -> Any:
                scan = self._shared(self.scan("input", runtime, pseudo, guard.known), guard)
                scan.defer = defer
                scans[:] = [scan]
                return scan.messages(fresh)

            if box or not (yield _IS_ASYNC):
                if box:  # pseudonymize in async: a pass mints placeholders, never thrown away
                    yield from self._prefetch(guard.known, fresh)
                handled = yield from self._run(box, thread, work)
            else:  # async: one pass, unless it leaves long texts to compute a slice at a time
                deferred: list[str] = []
                handled = work(None, deferred)
                if deferred:
                    yield from self._ahead(guard.known, (), texts=deferred)
                    handled = work(None)
            scans[0].report(refuse_unscannable=self.refuse_unscannable)
            if at_node:
                guard.handed = handled
            handled_messages = handled[1:] if system is not None else handled
            if scans[0].found:
                changes["messages"] = handled_messages
                changes["system_message"] = handled[0] if system is not None else None
        if changes:
            request = override_request(request, **changes)
        response: ModelResponse[Any] = yield Call(request)
        if self.apply_to_output or self.apply_to_tool_args:
            response = yield from self._output(response, runtime, box, thread, guard.known)
        if self._strategy.needs_mapping:
            if hop is not None:  # placeholders minted at the last hop
                conflicts = yield from self._store(thread, dict(box[0].new))
                if conflicts:
                    raise PIIDetectionError(
                        "pseudonym_conflict", counts={"pseudonym_conflict": 1}, where="vault"
                    )
            if self.restore_output:
                response = self._restore_output(response, box[0].mapping, runtime)
            if self.vault is None and box[0].new:
                update[VAULT_KEY] = {self.name: dict(box[0].new)}
        replaced = write_back(request.state, original, hop, guard, handled_messages, response)
        if replaced:
            update["messages"] = replaced
        if update:
            return ExtendedModelResponse(model_response=response, command=Command(update=update))
        return response

    def _output(
        self,
        response: Any,
        runtime: Any,
        box: list[Pseudonymizer],
        thread: str | None,
        known: dict[str, Any],
    ) -> Flow[Any]:
        """The answer handled (a backstop: the guarded model already handled what it made)."""
        yield from self._prefetch(known, response.result, response.structured_response)
        scans: list[Scan] = []

        def work(pseudo: Pseudonymizer | None) -> Any:
            scan = self.scan("output", runtime, pseudo, known)
            scans[:] = [scan]
            # every message of the answer (a middleware may answer with more than one): its
            # text under apply_to_output, tool-call fields under either setting
            result = [
                scan.message(
                    m,
                    text=self.apply_to_output,
                    calls=self.apply_to_output or self.apply_to_tool_args,
                    json_text=True,
                )
                for m in response.result
            ]
            structured = response.structured_response
            if self.apply_to_output and structured is not None:
                structured = scan.structured(structured)
            return result, structured

        result, structured = yield from self._run(box, thread, work)
        scans[0].report()
        if scans[0].found:
            return ModelResponse(result=result, structured_response=structured)
        return response
