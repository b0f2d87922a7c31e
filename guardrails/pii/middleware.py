"""``PIIMiddleware``: redact, mask, hash or block PII before the model sees it.

Drop-in for LangChain's ``PIIMiddleware`` (same first five parameters and meaning), with one
hook pair and no extra graph nodes. Where it acts:

* ``apply_to_input`` (``wrap_model_call``): every message sent to the model (system, human, AI,
  tool; string content and the text blocks of list content; images untouched) is scanned. The
  provider only ever receives the handled text, and the handled messages also replace the
  originals in the stored thread state (same message ids), so the history never keeps the raw
  values either.
* ``apply_to_output``: the model's answer is handled before it enters state.
* ``apply_to_tool_results`` (``wrap_tool_call``): a tool's result is handled before it enters
  state (and so before the model sees it).
* ``apply_to_tool_args``: tool-call arguments are handled before the tool runs, and in the
  model's answer before it enters state.

``pseudonymize`` replaces each value by a placeholder stable within the thread (``<EMAIL_1>``),
keeps the mapping in private state (or a ``vault=``), restores real values in the arguments of
the tools that may have them, and pseudonymizes tool results again before they enter state.

``block`` raises :class:`~guardrails.errors.PIIDetectionError`; on input the request never
reaches the provider. A detector that crashes blocks too (fail closed), with a
``pii.detector_error`` event.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelResponse
from langchain.agents.middleware.types import ExtendedModelResponse, PrivateStateAttr
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.types import Command
from typing_extensions import NotRequired

from guardrails._core import IO, Call, Flow, ModelHook, Offload, ToolHook
from guardrails._state import merge_counts, state_get
from guardrails.audit import emit, identity
from guardrails.errors import GuardrailConfigError, PIIDetectionError
from guardrails.pii.detect import Detector, PIIMatch, build_detector
from guardrails.pii.pseudonym import Pseudonymizer, merge_vault, restore_text, restore_value
from guardrails.pii.vault import PseudonymVault

__all__ = ["PIIMiddleware", "apply_strategy"]

Strategy = Literal["redact", "mask", "hash", "block", "pseudonymize"]
_STRATEGIES = ("redact", "mask", "hash", "block", "pseudonymize")
_OFFLOAD_CHARS = 20_000
_VAULT_ATTEMPTS = 5
#: Tools whose arguments go to another model, not to the outside world: deepagents' ``task``
#: (its description becomes a subagent's prompt). Not restored unless named in restore_tools.
MODEL_FACING_TOOLS = frozenset({"task"})


def _mask(value: str) -> str:
    alnum = [i for i, c in enumerate(value) if c.isalnum()]
    keep = set(alnum[-4:]) if len(alnum) > 4 else set()
    return "".join(c if (i in keep or not c.isalnum()) else "*" for i, c in enumerate(value))


def _splice(text: str, matches: Sequence[PIIMatch], replace: Callable[[PIIMatch], str]) -> str:
    """``text`` with each match replaced by ``replace(match)``."""
    out: list[str] = []
    cursor = 0
    for match in sorted(matches, key=lambda m: m["start"]):
        out.append(text[cursor : match["start"]])
        out.append(replace(match))
        cursor = match["end"]
    out.append(text[cursor:])
    return "".join(out)


def apply_strategy(
    text: str, matches: Sequence[PIIMatch], strategy: str, hash_key: bytes | None = None
) -> str:
    """Replace each match in ``text`` by the strategy's output.

    Example::

        apply_strategy("card 4111 1111 1111 1111", matches, "mask")  # "card **** **** **** 1111"
    """

    def replace(match: PIIMatch) -> str:
        value, kind = match["value"], match["type"]
        if strategy == "redact":
            return f"[REDACTED_{kind.upper()}]"
        if strategy == "mask":
            return _mask(value)
        if strategy == "hash":
            if hash_key is not None:
                digest = hmac.new(hash_key, value.encode(), hashlib.sha256).hexdigest()
            else:
                digest = hashlib.sha256(value.encode()).hexdigest()
            return f"<{kind}_hash:{digest[:8]}>"
        raise ValueError(f"strategy {strategy!r} does not rewrite text")

    return _splice(text, matches, replace)


class PIIState(AgentState[Any]):
    """Private state: per middleware, how many messages were handled and the last one's id."""

    guardrails_pii_seen: NotRequired[
        Annotated[dict[str, list[Any]], PrivateStateAttr, merge_counts]
    ]
    guardrails_pii_vault: NotRequired[
        Annotated[dict[str, dict[str, str]], PrivateStateAttr, merge_vault]
    ]


SEEN_KEY = "guardrails_pii_seen"
#: Private state key of the pseudonym mapping: ``{middleware name: {placeholder: value}}``.
VAULT_KEY = "guardrails_pii_vault"


def _message_texts(messages: Sequence[Any]) -> list[str]:
    texts: list[str] = []
    for m in messages:
        if isinstance(m, BaseMessage):
            texts.append(str(m.content))
            if isinstance(m, AIMessage) and m.tool_calls:
                texts.append(str([c.get("args") for c in m.tool_calls]))
    return texts


def _restore_content(
    content: Any, mapping: Mapping[str, str], counts: dict[str, int], secrets: list[str]
) -> Any:
    if isinstance(content, str):
        return restore_text(content, mapping, counts, secrets)
    if isinstance(content, list):
        out: list[Any] = []
        for block in content:
            if isinstance(block, str):
                out.append(restore_text(block, mapping, counts, secrets))
            elif (
                isinstance(block, dict)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            ):
                out.append({**block, "text": restore_text(block["text"], mapping, counts, secrets)})
            else:
                out.append(block)
        return out
    return content


class PIIMiddleware(ModelHook, ToolHook, AgentMiddleware[Any, Any, Any]):
    """Detect PII and redact / mask / hash / block it; drop-in for LangChain's.

    ``pii_type`` is a name or a list of names, scanned together: ``email``, ``credit_card``,
    ``ip``, ``mac_address``, ``url``, ``phone``, ``iban``, ``us_ssn``, ``crypto``, ``date``,
    ``person`` and ``location`` (these two need ``nlp_model=``), any Presidio entity name, or your
    own name with a ``detector=`` (regex string, compiled pattern, callable(text) ->
    list[PIIMatch], Presidio ``EntityRecognizer``, or a list of literal values).

    ``hash`` is ``<email_hash:8 hex>``: keyed HMAC-SHA256 with ``hash_key`` (set one: an unkeyed
    hash of a 9-digit SSN is reversed by trying all 10^9 values in minutes).

    ``pseudonymize`` is reversible: each distinct value becomes a placeholder stable within the
    thread (``<EMAIL_1>``, ``<PHONE_2>``); the mapping stays in the thread's private state (or in
    ``vault=``). Tools receive the real values (only those named in ``restore_tools`` when it is
    set; others keep placeholders) and their results are pseudonymized again before they enter
    state; ``restore_output=True`` shows the user the final answer with real values.

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
        strategy: Strategy = "redact",
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
    ) -> None:
        super().__init__()
        if strategy not in _STRATEGIES:
            raise GuardrailConfigError(
                f"strategy must be one of {list(_STRATEGIES)}, got {strategy!r}"
            )
        pseudo_only = {
            "restore_tools": restore_tools is not None,
            "restore_output": bool(restore_output),
            "vault": vault is not None,
        }
        for setting, used in pseudo_only.items():
            if used and strategy != "pseudonymize":
                raise GuardrailConfigError(
                    f"{setting}= needs strategy='pseudonymize' (got strategy={strategy!r})"
                )
        if restore_tools is not None and (
            isinstance(restore_tools, str) or not all(isinstance(t, str) for t in restore_tools)
        ):
            raise GuardrailConfigError(
                f"restore_tools must be None (every tool) or a list of tool names, "
                f"got {restore_tools!r}"
            )
        if not isinstance(restore_output, bool):
            raise GuardrailConfigError(
                f"restore_output must be True or False, got {restore_output!r}"
            )
        if vault is not None and not isinstance(vault, PseudonymVault):
            raise GuardrailConfigError(
                "vault must be None (the mapping stays in graph state) or an object with "
                "get/add/aget/aadd (guardrails.pii.vault.PseudonymVault: MemoryVault, "
                f"RedisVault), got {type(vault).__name__}"
            )
        self.restore_tools: frozenset[str] | None = (
            None if restore_tools is None else frozenset(restore_tools)
        )
        self.restore_output = restore_output
        self.vault = vault
        self._detector: Detector = build_detector(pii_type, detector, nlp_model)
        self.pii_type = pii_type
        self.strategy = strategy
        self.detector = detector
        self.apply_to_input = apply_to_input
        self.apply_to_output = apply_to_output
        self.apply_to_tool_results = apply_to_tool_results
        self.apply_to_tool_args = apply_to_tool_args
        self._hash_key = hash_key.encode() if isinstance(hash_key, str) else hash_key
        if strategy == "hash" and not self._hash_key:
            warnings.warn(
                "PIIMiddleware(strategy='hash') without hash_key: an unkeyed SHA-256 of a value "
                "from a small space (an SSN, a phone number) is reversed by hashing every "
                "candidate; pass hash_key= to make the hash a keyed HMAC",
                UserWarning,
                stacklevel=2,
            )
        types = [pii_type] if isinstance(pii_type, str) else list(pii_type)
        self._name = name or f"PIIMiddleware[{','.join(types)}]"

    @property
    def name(self) -> str:
        return self._name

    # ------------------------------------------------------------------ the core
    def _find(self, text: str, where: str, runtime: Any) -> list[PIIMatch]:
        try:
            return self._detector(text)
        except Exception as exc:  # fail closed: nothing passes unscanned
            emit(
                "pii.detector_error",
                self.name,
                runtime=runtime,
                where=where,
                error=type(exc).__name__,
                decision="block",
            )
            raise PIIDetectionError(
                "detector_error", counts={"detector_error": 1}, where=where
            ) from exc

    def _handle_text(
        self,
        text: str,
        where: str,
        runtime: Any,
        found: dict[str, int],
        secrets: list[str],
        pseudo: Pseudonymizer | None = None,
    ) -> str:
        matches = self._find(text, where, runtime)
        if not matches:
            return text
        for m in matches:
            found[m["type"]] = found.get(m["type"], 0) + 1
            secrets.append(m["value"])
        if self.strategy == "block":
            return text
        if self.strategy == "pseudonymize":
            if pseudo is None:  # pragma: no cover - every pseudonymize path passes one
                raise RuntimeError("pseudonymize needs the thread's mapping")
            placeholder = pseudo.placeholder
            return _splice(text, matches, lambda m: placeholder(m["type"], m["value"]))
        return apply_strategy(text, matches, self.strategy, self._hash_key)

    def _handle_value(
        self,
        value: Any,
        where: str,
        runtime: Any,
        found: dict[str, int],
        secrets: list[str],
        pseudo: Pseudonymizer | None = None,
    ) -> Any:
        if isinstance(value, str):
            return self._handle_text(value, where, runtime, found, secrets, pseudo)
        if isinstance(value, Mapping):
            return {
                k: self._handle_value(v, where, runtime, found, secrets, pseudo)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._handle_value(v, where, runtime, found, secrets, pseudo) for v in value]
        return value

    def _handle_message(
        self,
        message: BaseMessage,
        where: str,
        runtime: Any,
        found: dict[str, int],
        secrets: list[str],
        args: bool,
        text: bool = True,
        pseudo: Pseudonymizer | None = None,
    ) -> BaseMessage:
        content = message.content
        new_content: Any = content
        if not text:
            pass
        elif isinstance(content, str):
            new_content = self._handle_text(content, where, runtime, found, secrets, pseudo)
        elif isinstance(content, list):
            blocks: list[Any] = []
            for block in content:
                if isinstance(block, str):
                    blocks.append(self._handle_text(block, where, runtime, found, secrets, pseudo))
                elif (
                    isinstance(block, dict)
                    and block.get("type") == "text"
                    and isinstance(block.get("text"), str)
                ):
                    blocks.append(
                        {
                            **block,
                            "text": self._handle_text(
                                block["text"], where, runtime, found, secrets, pseudo
                            ),
                        }
                    )
                else:
                    blocks.append(block)
            new_content = blocks
        update: dict[str, Any] = {}
        if new_content != content:
            update["content"] = new_content
        if args and isinstance(message, AIMessage) and message.tool_calls:
            calls = [
                {
                    **c,
                    "args": self._handle_value(
                        c["args"], "tool_args", runtime, found, secrets, pseudo
                    ),
                }
                for c in message.tool_calls
            ]
            if calls != message.tool_calls:
                update["tool_calls"] = calls
                update["invalid_tool_calls"] = message.invalid_tool_calls
                if message.additional_kwargs.get("tool_calls"):
                    update["additional_kwargs"] = {
                        k: v for k, v in message.additional_kwargs.items() if k != "tool_calls"
                    }
        return message.model_copy(update=update) if update else message

    def _report(
        self,
        where: str,
        runtime: Any,
        found: dict[str, int],
        secrets: list[str],
        tool: str | None = None,
    ) -> None:
        if not found:
            return
        if self.strategy == "pseudonymize":
            extra: dict[str, Any] = {"tool": tool} if tool is not None else {}
            emit(
                "pii.pseudonymized",
                self.name,
                runtime=runtime,
                where=where,
                entities=found,
                secrets=secrets,
                **extra,
            )
            return
        if self.strategy == "block":
            emit(
                "pii.blocked",
                self.name,
                runtime=runtime,
                where=where,
                entities=found,
                secrets=secrets,
            )
            raise PIIDetectionError(next(iter(found)), counts=found, where=where)
        emit(
            "pii.detected",
            self.name,
            runtime=runtime,
            where=where,
            entities=found,
            strategy=self.strategy,
            secrets=secrets,
        )

    def _scan_messages(
        self,
        messages: list[BaseMessage],
        runtime: Any,
        args: bool,
        pseudo: Pseudonymizer | None = None,
    ) -> tuple[list[BaseMessage], dict[str, int], list[str]]:
        found: dict[str, int] = {}
        secrets: list[str] = []
        matches = self._detector.matches
        handled = []
        for m in messages:
            content = m.content
            # fast path: a string already scanned and clean costs one cache lookup
            if isinstance(content, str) and not (args and getattr(m, "tool_calls", None)):
                try:
                    clean = not matches(content)
                except Exception:
                    clean = False  # let the full path report (and block) the detector error
                if clean:
                    handled.append(m)
                    continue
            handled.append(
                self._handle_message(m, "input", runtime, found, secrets, args, pseudo=pseudo)
            )
        return handled, found, secrets

    def _skip(self, state: Any, messages: list[BaseMessage]) -> int:
        """How many leading messages an earlier model call of this thread already handled.

        The state records how many messages the last call handled and the id of the last one;
        when the request still starts with that same message at that same place, they are
        skipped (they were replaced in state by their handled form). Anything else: rescan all.
        """
        mark = (state_get(state, SEEN_KEY) or {}).get(self.name)
        if not mark:
            return 0
        count, last_id = mark
        if 0 < count <= len(messages) and messages[count - 1].id == last_id:
            return int(count)
        return 0

    # ------------------------------------------------------------------ pseudonym mapping
    def _thread(self, runtime: Any) -> str:
        thread = identity(runtime).get("thread_id")
        if thread is None:
            raise GuardrailConfigError(
                "PIIMiddleware(vault=...) keys the mapping by thread: run the agent with "
                "config={'configurable': {'thread_id': ...}}"
            )
        return str(thread)

    def _load(self, state: Any, thread: str | None) -> Flow[dict[str, str]]:
        """The thread's mapping: from graph state, or from the vault."""
        if self.vault is None or thread is None:
            return dict((state_get(state, VAULT_KEY) or {}).get(self.name) or {})
        vault, name = self.vault, self.name
        mapping: dict[str, str] = yield IO(
            lambda: vault.get(thread, name), lambda: vault.aget(thread, name)
        )
        return mapping

    def _phase(self, box: list[Pseudonymizer], thread: str | None, work: Any) -> Flow[Any]:
        """Run ``work(pseudonymizer)`` (its result, or an :class:`Offload` to run); with a vault,
        store what it minted, and on a conflict (a concurrent writer took a number) reload the
        mapping and run it again."""
        for _ in range(_VAULT_ATTEMPTS):
            pseudo = box[0]
            before = set(pseudo.new)
            result = work(pseudo)
            if isinstance(result, Offload):
                result = yield result
            fresh = {k: v for k, v in pseudo.new.items() if k not in before}
            if self.vault is None or thread is None or not fresh:
                return result
            conflicts = yield IO(
                functools.partial(self.vault.add, thread, self.name, fresh),
                functools.partial(self.vault.aadd, thread, self.name, fresh),
            )
            if not conflicts:
                return result
            mapping = yield from self._load(None, thread)
            box[0] = Pseudonymizer(mapping, slot=pseudo.slot, texts=pseudo.texts)
        raise PIIDetectionError(
            "pseudonym_conflict", counts={"pseudonym_conflict": 1}, where="vault"
        )

    @staticmethod
    def _slot(request: Any) -> tuple[int, int]:
        """This tool call's place among the parallel calls of its AI message: (index, count)."""
        call_id = request.tool_call.get("id")
        messages = state_get(request.state, "messages") or []
        for message in reversed(messages):
            if isinstance(message, AIMessage) and message.tool_calls:
                ids = [c.get("id") for c in message.tool_calls]
                if call_id in ids:
                    return ids.index(call_id), len(ids)
        return 0, 1

    def _restore_output(self, response: Any, mapping: Mapping[str, str], runtime: Any) -> Any:
        result = list(response.result)
        final = next(
            (i for i in range(len(result) - 1, -1, -1) if isinstance(result[i], AIMessage)), None
        )
        if final is None or result[final].tool_calls:
            return response
        counts: dict[str, int] = {}
        secrets: list[str] = []
        message = result[final]
        content = _restore_content(message.content, mapping, counts, secrets)
        if not counts:
            return response
        result[final] = message.model_copy(update={"content": content})
        emit(
            "pii.restored",
            self.name,
            runtime=runtime,
            where="output",
            entities=counts,
            secrets=secrets,
        )
        return ModelResponse(result=result, structured_response=response.structured_response)

    # ------------------------------------------------------------------ hooks
    def _input_work(self, request: Any, messages: list[BaseMessage], skip: int) -> Any:
        system = request.system_message
        fresh = ([system] if system is not None else []) + messages[skip:]
        size = sum(len(str(m.content)) for m in fresh)

        def work(pseudo: Pseudonymizer | None) -> Any:
            args = (fresh, request.runtime, self.apply_to_tool_args, pseudo)
            if size > _OFFLOAD_CHARS:
                return Offload(self._scan_messages, args)
            return self._scan_messages(*args)

        return work

    def model_flow(self, request: Any) -> Flow[Any]:
        runtime = request.runtime
        replaced: list[BaseMessage] = []
        update: dict[str, Any] = {}
        pseudonymize = self.strategy == "pseudonymize"
        box: list[Pseudonymizer] = []
        thread: str | None = None
        if pseudonymize:
            thread = self._thread(runtime) if self.vault is not None else None
            mapping = yield from self._load(request.state, thread)
            everything = [request.system_message, *request.messages]
            box.append(Pseudonymizer(mapping, texts=lambda: _message_texts(everything)))
        if self.apply_to_input:
            messages: list[BaseMessage] = list(request.messages)
            skip = self._skip(request.state, messages)
            system = request.system_message
            work = self._input_work(request, messages, skip)
            if pseudonymize:
                handled, found, secrets = yield from self._phase(box, thread, work)
            else:
                scanned = work(None)
                if isinstance(scanned, Offload):
                    scanned = yield scanned
                handled, found, secrets = scanned
            self._report("input", runtime, found, secrets)
            new_system = handled[0] if system is not None else None
            new_messages = messages[:skip] + (handled[1:] if system is not None else handled)
            if found:
                replaced = [
                    new
                    for new, old in zip(new_messages, messages, strict=True)
                    if new is not old and new.id is not None
                ]
                request = request.override(messages=new_messages, system_message=new_system)
            if messages and messages[-1].id is not None:
                update[SEEN_KEY] = {self.name: [len(messages), messages[-1].id]}
        response: ModelResponse[Any] = yield Call(request)
        if self.apply_to_output or self.apply_to_tool_args:
            where = "output"
            found = {}
            secrets = []

            def handle_output(pseudo: Pseudonymizer | None) -> list[BaseMessage]:
                found.clear()  # a vault conflict runs this again: count once
                secrets.clear()
                return [
                    self._handle_message(
                        m,
                        where,
                        runtime,
                        found,
                        secrets,
                        self.apply_to_tool_args,
                        text=self.apply_to_output,
                        pseudo=pseudo,
                    )
                    if isinstance(m, AIMessage)
                    else m
                    for m in response.result
                ]

            if pseudonymize:
                result = yield from self._phase(box, thread, handle_output)
            else:
                result = handle_output(None)
            self._report(where, runtime, found, secrets)
            if found:
                response = ModelResponse(
                    result=result, structured_response=response.structured_response
                )
        if pseudonymize:
            if self.restore_output:
                response = self._restore_output(response, box[0].mapping, runtime)
            if self.vault is None and box[0].new:
                update[VAULT_KEY] = {self.name: dict(box[0].new)}
        if replaced:
            update["messages"] = replaced
        if update:
            return ExtendedModelResponse(model_response=response, command=Command(update=update))
        return response

    def tool_flow(self, request: Any) -> Flow[Any]:
        if self.strategy == "pseudonymize":
            return (yield from self._pseudonymize_tool(request))
        runtime = request.runtime
        if self.apply_to_tool_args:
            found: dict[str, int] = {}
            secrets: list[str] = []
            call = request.tool_call
            args = self._handle_value(call.get("args", {}), "tool_args", runtime, found, secrets)
            self._report("tool_args", runtime, found, secrets)
            if found:
                request = request.override(tool_call={**call, "args": args})
        result = yield Call(request)
        if not self.apply_to_tool_results:
            return result
        found = {}
        secrets = []
        handled = self._handle_result(result, runtime, found, secrets, None)
        self._report("tool_result", runtime, found, secrets)
        return handled

    def _handle_result(
        self,
        result: Any,
        runtime: Any,
        found: dict[str, int],
        secrets: list[str],
        pseudo: Pseudonymizer | None,
    ) -> Any:
        if isinstance(result, ToolMessage):
            return self._handle_message(
                result, "tool_result", runtime, found, secrets, False, pseudo=pseudo
            )
        if isinstance(result, Command) and isinstance(result.update, Mapping):
            update = dict(result.update)
            msgs = update.get("messages")
            if isinstance(msgs, list):
                update["messages"] = [
                    self._handle_message(
                        m, "tool_result", runtime, found, secrets, False, pseudo=pseudo
                    )
                    if isinstance(m, BaseMessage)
                    else m
                    for m in msgs
                ]
            return Command(
                graph=result.graph, goto=result.goto, resume=result.resume, update=update
            )
        return result

    def _pseudonymize_tool(self, request: Any) -> Flow[Any]:
        """Restore placeholders in the arguments (allowed tools), pseudonymize the result."""
        runtime = request.runtime
        call = request.tool_call
        tool = str(call.get("name"))
        thread = self._thread(runtime) if self.vault is not None else None
        mapping = yield from self._load(request.state, thread)
        state_messages = state_get(request.state, "messages") or []
        box = [
            Pseudonymizer(
                mapping, slot=self._slot(request), texts=lambda: _message_texts(state_messages)
            )
        ]
        args = call.get("args", {})
        if (
            tool in self.restore_tools
            if self.restore_tools is not None
            else tool not in MODEL_FACING_TOOLS
        ):
            counts: dict[str, int] = {}
            secrets: list[str] = []
            restored = restore_value(args, mapping, counts, secrets)
            if counts:
                emit(
                    "pii.restored",
                    self.name,
                    runtime=runtime,
                    where="tool_args",
                    tool=tool,
                    entities=counts,
                    secrets=secrets,
                )
                request = request.override(tool_call={**call, "args": restored})
        else:  # this tool never receives real values, not even ones the model wrote itself
            found: dict[str, int] = {}
            secrets = []

            def handle_args(pseudo: Pseudonymizer) -> Any:
                found.clear()
                secrets.clear()
                return self._handle_value(args, "tool_args", runtime, found, secrets, pseudo)

            handled_args = yield from self._phase(box, thread, handle_args)
            self._report("tool_args", runtime, found, secrets, tool)
            if found:
                request = request.override(tool_call={**call, "args": handled_args})
        result = yield Call(request)
        found = {}
        secrets = []

        def handle_result(pseudo: Pseudonymizer) -> Any:
            found.clear()
            secrets.clear()
            return self._handle_result(result, runtime, found, secrets, pseudo)

        handled = yield from self._phase(box, thread, handle_result)
        self._report("tool_result", runtime, found, secrets, tool)
        if self.vault is not None or not box[0].new:
            return handled
        entries = {VAULT_KEY: {self.name: dict(box[0].new)}}
        if isinstance(handled, ToolMessage):
            return Command(update={"messages": [handled], **entries})
        if isinstance(handled, Command) and isinstance(handled.update, Mapping):
            update = dict(handled.update)
            update[VAULT_KEY] = merge_vault(update.get(VAULT_KEY), entries[VAULT_KEY])
            return Command(
                graph=handled.graph, goto=handled.goto, resume=handled.resume, update=update
            )
        return handled  # pragma: no cover - a result we cannot attach state to
