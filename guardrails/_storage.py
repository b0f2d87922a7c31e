"""Shared-state storage for guardrails: one URI grammar, bounded timeouts, one client per loop.

Rate limits, circuit breakers, thread budgets and vaults name their storage with the URI grammar
of the ``limits`` library:

* ``memory://``: this process only (the default);
* ``redis://[user:password@]host:port[/db]``: one Redis server; ``rediss://...`` over TLS;
* ``redis+unix:///path/to/redis.sock[?db=0]``: a Unix socket;
* ``redis+sentinel://[:password@]host:port[,host:port]/service[/db]``: the master of a Sentinel
  service;
* ``redis+cluster://host:port[,host:port]``: a Redis Cluster (startup nodes).

Any other scheme is refused at construction with the list above. Every Redis client built here has
a connect timeout and a read timeout (``connect_timeout``, ``read_timeout``; seconds, finite,
> 0), and at most one immediate reconnect when a pooled connection turns out dead (Redis came
back): a command never waits longer than about ``2 * connect_timeout + read_timeout``.

Sync clients are one per process (redis-py's pool is thread-safe; a forked child builds its own).
Async clients are one per running event loop: ``asyncio.run`` called many times, or loops in
several threads, each get their own client, closed when that loop shuts down its async
generators (``asyncio.run`` does) and dropped when the loop is closed or collected.

Example::

    from guardrails._storage import RedisConnector, parse_storage

    spec = parse_storage("storage", "redis://127.0.0.1:6379", connect_timeout=0.5,
                         read_timeout=0.5)
    connector = RedisConnector(spec)
    connector.sync().ping()
    # in a coroutine:  await (await connector.aclient()).ping()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import threading
import urllib.parse
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from guardrails import _validate as v
from guardrails.errors import GuardrailConfigError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "SCHEMES",
    "RedisConnector",
    "StorageSpec",
    "parse_storage",
    "storage_errors",
]

SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 1.0
MAX_CONNECTIONS = 32  # per process (sync) and per event loop (async)
_GRAMMAR = (
    "memory://, redis://host:port[/db], rediss://host:port[/db], redis+unix:///path.sock, "
    "redis+sentinel://host:port[,host:port]/service, redis+cluster://host:port[,host:port]"
)


@dataclass(frozen=True)
class StorageSpec:
    """A parsed, validated storage URI and its timeouts.

    Example::

        spec = parse_storage("storage", "memory://")
        spec.is_memory  # True
    """

    uri: str
    scheme: str
    connect_timeout: float
    read_timeout: float
    locations: tuple[tuple[str, int], ...] = ()
    path: str = ""
    username: str | None = None
    password: str | None = None
    query: tuple[tuple[str, str], ...] = ()

    @property
    def is_memory(self) -> bool:
        return self.scheme == "memory"

    @property
    def label(self) -> str:
        """The scheme: safe for audit events and messages (no host, no password)."""
        return self.scheme


def parse_storage(
    setting: str,
    uri: Any,
    *,
    connect_timeout: Any = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: Any = DEFAULT_READ_TIMEOUT,
) -> StorageSpec:
    """Validate a storage URI (the grammar above) and its timeouts; refuse anything else.

    Example::

        parse_storage("storage", "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster")
    """
    connect = v.number(f"{setting}_connect_timeout", connect_timeout, exclusive_minimum=True)
    read = v.number(f"{setting}_read_timeout", read_timeout, exclusive_minimum=True)
    if not isinstance(uri, str) or "://" not in uri:
        raise GuardrailConfigError(
            f"{setting} must be a storage URI, one of: {_GRAMMAR}; got {uri!r}"
        )
    scheme = uri.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        hint = ""
        if scheme == "unix":
            hint = " (write redis+unix:///path/to/redis.sock)"
        elif scheme.startswith("async+"):
            hint = " (no async+ prefix: the async client is chosen for you)"
        raise GuardrailConfigError(
            f"{setting} must be a storage URI, one of: {_GRAMMAR}; unknown scheme {scheme!r}"
            f"{hint} in {_redact(uri)!r}"
        )
    if scheme == "memory":
        if uri.lower() != "memory://":
            raise GuardrailConfigError(
                f"{setting}: memory:// takes no host, path or options; got {uri!r}"
            )
        return StorageSpec(uri, scheme, connect, read)
    try:
        import redis  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the redis extra
        raise GuardrailConfigError(
            f"{setting}={scheme}:// needs the redis client: pip install "
            "'guardrails-middleware[redis]'"
        ) from exc
    try:
        parsed = urllib.parse.urlparse(uri)
        netloc = parsed.netloc.rsplit("@", 1)[-1]
        locations: list[tuple[str, int]] = []
        if netloc:
            for loc in netloc.split(","):
                sub = urllib.parse.urlparse(f"fake://{loc.strip()}")
                if sub.hostname is None:
                    raise ValueError(f"missing host in {loc!r}")
                port = sub.port
                if port is None:
                    port = {"redis+sentinel": 26379}.get(scheme, 6379)
                locations.append((sub.hostname, port))
        username = urllib.parse.unquote(parsed.username) if parsed.username else None
        password = urllib.parse.unquote(parsed.password) if parsed.password else None
    except ValueError as exc:
        raise GuardrailConfigError(
            f"{setting}: cannot parse storage URI {_redact(uri)!r}: {exc}; expected {_GRAMMAR}"
        ) from exc
    query = tuple(urllib.parse.parse_qsl(parsed.query))
    spec = StorageSpec(
        uri, scheme, connect, read, tuple(locations), parsed.path, username, password, query
    )
    if scheme == "redis+unix" and not parsed.path:
        raise GuardrailConfigError(
            f"{setting}: redis+unix:// needs a socket path (redis+unix:///var/run/redis.sock)"
        )
    if scheme in ("redis", "rediss") and len(locations) > 1:
        raise GuardrailConfigError(
            f"{setting}: {scheme}:// takes one host; for several use redis+sentinel:// or "
            "redis+cluster://"
        )
    if scheme == "redis+sentinel" and (not locations or not parsed.path.strip("/")):
        raise GuardrailConfigError(
            f"{setting}: redis+sentinel:// needs sentinel hosts and a service name "
            "(redis+sentinel://host:26379[,host:26379]/mymaster)"
        )
    if scheme == "redis+cluster" and not locations:
        raise GuardrailConfigError(
            f"{setting}: redis+cluster:// needs at least one startup node "
            "(redis+cluster://host:7000[,host:7001])"
        )
    return spec


def _redact(uri: str) -> str:
    try:
        parsed = urllib.parse.urlparse(uri)
    except ValueError:
        return "<unparseable>"
    if parsed.password:
        return uri.replace(f":{parsed.password}@", ":***@")
    return uri


def storage_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the storage is unreachable, slow or broken" (never a decision).

    Example::

        except storage_errors():
            ...  # fail open or closed, audited
    """
    errors: list[type[BaseException]] = [OSError, TimeoutError, asyncio.TimeoutError]
    try:
        import redis.exceptions

        errors.append(redis.exceptions.RedisError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


@functools.lru_cache(maxsize=64)
def _sha(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8")).hexdigest()


async def _closer(client: Any) -> AsyncIterator[None]:
    """An async generator the loop registers: ``shutdown_asyncgens`` closes the client."""
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # closing must never raise at loop shutdown
            await client.aclose()


class RedisConnector:
    """Builds redis-py clients for one :class:`StorageSpec`.

    One sync client per process; one async client per running event loop (and so per thread),
    closed when ``asyncio.run`` shuts the loop down.

    Example::

        connector = RedisConnector(parse_storage("storage", "redis://127.0.0.1:6379"))
        connector.sync().incr("k")
    """

    def __init__(self, spec: StorageSpec) -> None:
        if spec.is_memory:
            raise GuardrailConfigError("memory:// has no Redis client")
        self.spec = spec
        self._lock = threading.Lock()
        self._sync: Any = None
        self._pid = 0
        self._loops: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], Any, Any]] = {}

    # ------------------------------------------------------------------ options
    def _options(self, aio: bool) -> dict[str, Any]:
        if aio:
            from redis.asyncio.retry import Retry
        else:
            from redis.retry import Retry  # type: ignore[assignment]
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError

        spec = self.spec
        options: dict[str, Any] = {
            "socket_connect_timeout": spec.connect_timeout,
            "socket_timeout": spec.read_timeout,
            # one immediate reconnect when a pooled connection is dead (Redis restarted);
            # never a retry on a timeout: the bound is connect + read timeout
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        }
        if spec.username:
            options["username"] = spec.username
        if spec.password:
            options["password"] = spec.password
        return options

    def _url(self) -> str:
        spec = self.spec
        if spec.scheme == "redis+unix":
            return "unix" + spec.uri[len("redis+unix") :]
        return spec.uri

    def _build(self, aio: bool) -> Any:
        spec = self.spec
        options = self._options(aio)
        if aio:
            import redis.asyncio as r
            from redis.asyncio.cluster import ClusterNode, RedisCluster
            from redis.asyncio.sentinel import Sentinel
        else:
            import redis as r  # type: ignore[no-redef]
            from redis.cluster import ClusterNode, RedisCluster  # type: ignore[assignment]
            from redis.sentinel import Sentinel  # type: ignore[assignment]
        if spec.scheme in ("redis", "rediss", "redis+unix"):
            # a bounded pool: a burst of calls shares MAX_CONNECTIONS connections instead of
            # opening one each (hundreds of connects at once starve a busy event loop); waiting
            # for a free connection is bounded too
            pool = r.BlockingConnectionPool.from_url(
                self._url(),
                max_connections=MAX_CONNECTIONS,
                timeout=spec.connect_timeout + spec.read_timeout,
                **options,
            )
            return r.Redis.from_pool(pool)
        if spec.scheme == "redis+sentinel":
            parts = [p for p in spec.path.split("/") if p]
            service = parts[0]
            db = int(parts[1]) if len(parts) > 1 else 0
            sentinel_kwargs = {
                "socket_connect_timeout": spec.connect_timeout,
                "socket_timeout": spec.read_timeout,
            }
            if spec.password:
                sentinel_kwargs["password"] = spec.password  # type: ignore[assignment]
            sentinel = Sentinel(
                list(spec.locations), sentinel_kwargs=sentinel_kwargs, db=db, **options
            )
            return sentinel.master_for(service)
        options.pop("retry")  # the cluster client has its own retry policy
        nodes = [ClusterNode(host, port) for host, port in spec.locations]
        return RedisCluster(startup_nodes=nodes, **options)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ clients
    def sync(self) -> Any:
        """The process's sync client (rebuilt after a fork)."""
        pid = os.getpid()
        client = self._sync
        if client is not None and self._pid == pid:
            return client
        with self._lock:
            if self._sync is None or self._pid != pid:
                self._sync = self._build(aio=False)
                self._pid = pid
            return self._sync

    async def aclient(self) -> Any:
        """The running loop's async client, built on first use in that loop."""
        loop = asyncio.get_running_loop()
        key = id(loop)
        entry = self._loops.get(key)
        if entry is not None and entry[0]() is loop and not loop.is_closed():
            return entry[1]
        with self._lock:
            self._prune()
            client = self._build(aio=True)
            closer = _closer(client)
            self._loops[key] = (weakref.ref(loop, self._forget(key)), client, closer)
        await closer.__anext__()  # the loop now tracks it: asyncio.run closes the client
        return client

    def _forget(self, key: int) -> Any:
        def drop(_: Any) -> None:
            self._loops.pop(key, None)

        return drop

    def _prune(self) -> None:
        for key, (ref, _, _) in list(self._loops.items()):
            loop = ref()
            if loop is None or loop.is_closed():
                self._loops.pop(key, None)

    # ------------------------------------------------------------------ scripts
    def eval(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script atomically (EVALSHA, EVAL when the server does not have it yet)."""
        from redis.exceptions import NoScriptError

        client = self.sync()
        sha = _sha(source)
        try:
            return client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(source, len(keys), *keys, *args)

    async def aeval(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """The async twin of :meth:`eval`, on the running loop's client."""
        from redis.exceptions import NoScriptError

        client = await self.aclient()
        sha = _sha(source)
        try:
            return await client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(source, len(keys), *keys, *args)

    def loop_count(self) -> int:
        """Async clients currently held (one per live event loop); for tests and metrics."""
        with self._lock:
            self._prune()
            return len(self._loops)
