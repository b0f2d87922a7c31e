"""Where ``PIIMiddleware(strategy="pseudonymize")`` keeps a thread's placeholder -> value mapping.

By default the mapping lives in graph state (a private key, checkpointed with the thread). Pass
``vault=`` to keep it outside the checkpoint instead: any object with the four methods of
:class:`PseudonymVault`. Two are shipped:

* :class:`MemoryVault`: a dict in this process (tests, single-process apps).
* :class:`RedisVault`: a Redis hash per thread with a TTL (``pip install
  guardrails-middleware[redis]``).

A vault keys mappings by ``(thread_id, namespace)``; the namespace is the middleware's ``name``.
``add`` is first-write-wins per placeholder and returns the placeholders that were already bound
to a *different* value, so two concurrent writers never silently rebind a placeholder: the
middleware reloads the mapping and numbers again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["MemoryVault", "PseudonymVault", "RedisVault"]


@runtime_checkable
class PseudonymVault(Protocol):
    """Storage for a thread's placeholder -> value mapping (sync and async).

    Example::

        class MyVault:
            def get(self, thread_id, namespace): return {...}
            def add(self, thread_id, namespace, entries): return []   # conflicting placeholders
            async def aget(self, thread_id, namespace): return self.get(thread_id, namespace)
            async def aadd(self, thread_id, namespace, entries): ...

        PIIMiddleware("email", strategy="pseudonymize", vault=MyVault())
    """

    def get(self, thread_id: str, namespace: str) -> dict[str, str]:
        """The mapping (placeholder -> value) of a thread; empty when unknown or expired."""
        ...

    def add(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
        """Bind new placeholders (first write wins); return those bound to another value."""
        ...

    async def aget(self, thread_id: str, namespace: str) -> dict[str, str]:
        """Async twin of :meth:`get`."""
        ...

    async def aadd(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
        """Async twin of :meth:`add`."""
        ...


class MemoryVault:
    """A process-local vault: a dict per (thread, namespace). Lost when the process exits.

    Example::

        vault = MemoryVault()
        PIIMiddleware("email", strategy="pseudonymize", vault=vault)
    """

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def get(self, thread_id: str, namespace: str) -> dict[str, str]:
        with self._lock:
            return dict(self._data.get((thread_id, namespace), {}))

    def add(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
        conflicts: list[str] = []
        with self._lock:
            current = self._data.setdefault((thread_id, namespace), {})
            for placeholder, value in entries.items():
                bound = current.setdefault(placeholder, value)
                if bound != value:
                    conflicts.append(placeholder)
        return conflicts

    async def aget(self, thread_id: str, namespace: str) -> dict[str, str]:
        return self.get(thread_id, namespace)

    async def aadd(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
        return self.add(thread_id, namespace, entries)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisVault:
    """A Redis hash per thread (``{prefix}{namespace}:{thread_id}``) that expires after ``ttl``.

    The TTL is idle time: every read and every write sets it again, so a thread in use keeps its
    mapping, and ``ttl`` seconds after its last model or tool call the mapping is gone. After
    that, placeholders in the thread's history cannot be restored any more (tools receive the
    placeholder text, never a wrong value), and values seen again get new numbers above the
    highest placeholder still visible in the conversation. ``ttl=None`` never expires.

    Pass ``url`` (``redis://host:port/db``), or ready clients (``client`` a ``redis.Redis``,
    ``async_client`` a ``redis.asyncio.Redis``).

    Example::

        vault = RedisVault("redis://localhost:6379/0", ttl=3600)
        PIIMiddleware(["email", "phone"], strategy="pseudonymize", vault=vault)
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        ttl: float | None = 86_400,
        prefix: str = "guardrails:pii:",
        client: Any = None,
        async_client: Any = None,
        storage_connect_timeout: float = 2.0,
        storage_read_timeout: float = 1.0,
    ) -> None:
        from guardrails._storage import MAX_DURATION, RedisConnector, parse_storage
        from guardrails.errors import GuardrailConfigError

        if url is None and client is None and async_client is None:
            raise GuardrailConfigError("RedisVault needs url= or client= / async_client=")
        if ttl is not None and (
            isinstance(ttl, bool)
            or not isinstance(ttl, (int, float))
            or not 0 < ttl <= MAX_DURATION  # NaN fails too; Redis keeps expiries in int64 ms
        ):
            raise GuardrailConfigError(
                f"RedisVault ttl must be > 0 and <= {MAX_DURATION:.0f} seconds (100 years) or "
                f"None, got {ttl!r}"
            )
        try:
            import redis
            import redis.asyncio  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise GuardrailConfigError(
                "RedisVault needs redis-py: pip install 'guardrails-middleware[redis]'"
            ) from exc
        self.url = url
        self.ttl = ttl
        self.prefix = prefix
        # url: the storage URI grammar of guardrails._storage (redis://, rediss://, redis+unix://,
        # redis+sentinel://, redis+cluster://), bounded timeouts, one async client per event loop
        self._connector = (
            RedisConnector(
                parse_storage(
                    "url",
                    url,
                    connect_timeout=storage_connect_timeout,
                    read_timeout=storage_read_timeout,
                )
            )
            if url is not None
            else None
        )
        self._client = client
        self._aclient = async_client

    def _key(self, thread_id: str, namespace: str) -> str:
        return f"{self.prefix}{namespace}:{thread_id}"

    def _ttl_ms(self) -> int | None:
        return None if self.ttl is None else max(1, int(self.ttl * 1000))

    async def _async(self) -> Any:
        if self._aclient is not None:
            return self._aclient
        if self._connector is None:
            raise RuntimeError("RedisVault has no async client: pass async_client= or url=")
        return await self._connector.aclient()  # this event loop's client, closed with it

    def _sync(self) -> Any:
        if self._client is not None:
            return self._client
        if self._connector is None:
            raise RuntimeError("RedisVault has no sync client: pass client= or url=")
        return self._connector.sync()

    # The sync and async paths queue the same commands and read the replies the same way;
    # only the client and the ``execute()`` call differ.
    def _queue_get(self, client: Any, thread_id: str, namespace: str) -> Any:
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(self._key(thread_id, namespace))
        self._queue_ttl(pipe, thread_id, namespace)
        return pipe

    def _queue_add(
        self, client: Any, thread_id: str, namespace: str, entries: Mapping[str, str]
    ) -> Any:
        key = self._key(thread_id, namespace)
        pipe = client.pipeline(transaction=True)
        for field, value in entries.items():
            pipe.hsetnx(key, field, value)
        pipe.hmget(key, list(entries))
        self._queue_ttl(pipe, thread_id, namespace)
        return pipe

    def _queue_ttl(self, pipe: Any, thread_id: str, namespace: str) -> None:
        ttl = self._ttl_ms()
        if ttl is not None:
            pipe.pexpire(self._key(thread_id, namespace), ttl)

    @staticmethod
    def _read_get(replies: list[Any]) -> dict[str, str]:
        return {_text(k): _text(v) for k, v in replies[0].items()}

    @staticmethod
    def _read_add(replies: list[Any], entries: Mapping[str, str]) -> list[str]:
        stored = replies[len(entries)]
        return [f for f, v in zip(entries, stored, strict=True) if _text(v) != entries[f]]

    # ------------------------------------------------------------------ sync
    def get(self, thread_id: str, namespace: str) -> dict[str, str]:
        return self._read_get(self._queue_get(self._sync(), thread_id, namespace).execute())

    def add(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
        if not entries:
            return []
        pipe = self._queue_add(self._sync(), thread_id, namespace, entries)
        return self._read_add(pipe.execute(), entries)

    # ------------------------------------------------------------------ async
    async def aget(self, thread_id: str, namespace: str) -> dict[str, str]:
        client = await self._async()
        return self._read_get(await self._queue_get(client, thread_id, namespace).execute())

    async def aadd(self, thread_id: str, namespace: str, entries: Mapping[str, str]) -> list[str]:
        if not entries:
            return []
        client = await self._async()
        pipe = self._queue_add(client, thread_id, namespace, entries)
        return self._read_add(await pipe.execute(), entries)
