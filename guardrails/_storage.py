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

**The health latch.** Every guardrail on one store (same URI) in a process shares one
:class:`StoreHealth`: after a timeout or a connection error the store counts as unreachable
for ``latch`` seconds (default 5; ``0`` turns the latch off), or until a background ``PING``
succeeds (every 0.2 s while latched), whichever comes first. While it is latched, a script
call raises :class:`StorageUnreachableError` at once, without I/O, and each guardrail decides
as its ``fail_open`` setting says (audited). When the interval ends, one call goes to the
store (the others keep deciding at once until it answers): success clears the latch, a
failure starts a new interval. A hung Redis so costs one read timeout per latch interval,
not one per command.

**Durations.** Every duration stored in Redis (TTLs, windows, cooldowns) must be at most
:data:`MAX_DURATION` (100 years): Redis keeps expiries in milliseconds in a signed 64-bit
integer and Lua reads numbers as doubles (exact up to 2**53); larger values are refused at
construction by :func:`duration`, and every script checks its arguments before it writes.

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
import contextvars
import functools
import hashlib
import math
import os
import threading
import time
import urllib.parse
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

from guardrails import _validate as v
from guardrails.errors import GuardrailConfigError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LATCH",
    "DEFAULT_READ_TIMEOUT",
    "MAX_DURATION",
    "SCHEMES",
    "Prefetch",
    "RedisConnector",
    "ScriptStep",
    "StorageSpec",
    "StorageUnreachableError",
    "StoreHealth",
    "arun_batch",
    "batch_source",
    "duration",
    "end_batch",
    "milliseconds",
    "parse_storage",
    "prefetched",
    "run_batch",
    "storage_errors",
]

SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 1.0
DEFAULT_LATCH = 5.0  # seconds a timeout or connection error marks the store unreachable
MAX_LATCH = 3600.0
#: The longest duration a guardrail keeps in storage (100 years, in seconds): Redis expiries
#: are milliseconds in a signed 64-bit integer, Lua numbers are doubles (exact to 2**53 ms);
#: 10x this (the breaker's failure memory) still fits both.
MAX_DURATION = 100 * 365.25 * 86400
PING_EVERY = 0.2  # seconds between background pings while a store is latched
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
    latch: float = DEFAULT_LATCH

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
    latch: Any = DEFAULT_LATCH,
) -> StorageSpec:
    """Validate a storage URI (the grammar above), its timeouts and latch; refuse anything else.

    Example::

        parse_storage("storage", "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster")
    """
    connect = v.number(
        f"{setting}_connect_timeout", connect_timeout, exclusive_minimum=True, maximum=MAX_LATCH
    )
    read = v.number(
        f"{setting}_read_timeout", read_timeout, exclusive_minimum=True, maximum=MAX_LATCH
    )
    latch_s = v.number(f"{setting}_latch", latch, maximum=MAX_LATCH)
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
        return StorageSpec(uri, scheme, connect, read, latch=latch_s)
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
        uri,
        scheme,
        connect,
        read,
        tuple(locations),
        parsed.path,
        username,
        password,
        query,
        latch_s,
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


def duration(setting: str, value: Any, *, minimum: float = 0.0) -> float:
    """A duration in seconds that every backend stores exactly: finite, ``>= minimum``, at most
    :data:`MAX_DURATION` (100 years); anything else is a :class:`GuardrailConfigError`.

    Example::

        duration("cooldown", 30)        # 30.0
        duration("cooldown", 1e300)     # GuardrailConfigError: cooldown must be ... <= 3.15576e+09
    """
    try:
        return v.number(setting, value, minimum=minimum, maximum=MAX_DURATION)
    except GuardrailConfigError as exc:
        raise GuardrailConfigError(
            f"{exc} (seconds; at most {MAX_DURATION:.0f}, 100 years: the longest expiry the "
            "storage keeps exactly)"
        ) from None


def milliseconds(seconds: float) -> int:
    """``seconds`` as whole milliseconds for Redis, rounded up (a positive duration never
    becomes 0, which Redis would read as "expire now")."""
    return max(1, math.ceil(seconds * 1000)) if seconds > 0 else 0


class StorageUnreachableError(ConnectionError):
    """The store is latched as unreachable (a recent timeout or connection error): decided
    at once, without I/O. One of :func:`storage_errors`.

    Example::

        except StorageUnreachableError:
            ...  # fail open or closed without waiting for a timeout
    """


def _unreachable() -> tuple[type[BaseException], ...]:
    """The errors that say "the store cannot be reached" (they trip the latch)."""
    errors: list[type[BaseException]] = [OSError, TimeoutError, asyncio.TimeoutError]
    try:
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


class StoreHealth:
    """The shared health of one store in this process: a latch, a probe, a background ping.

    Every :class:`RedisConnector` of one URI (so every guardrail on that store) uses the same
    instance; a forked child gets its own.

    Example::

        health = StoreHealth.of(spec)
        health.latched(spec.latch)   # True while the store counts as unreachable
    """

    _registry: ClassVar[dict[tuple[int, str], StoreHealth]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failed_at: float | None = None  # monotonic time of the last unreachable error
        self.error = ""
        self.window = 0.0  # the longest latch asked for by a caller since the last failure
        self.probe_until = 0.0
        self.trips = 0  # how many times the latch was set (tests, metrics)
        self.attempts = 0  # store commands sent (tests, metrics)
        self.skipped = 0  # commands decided at once by the latch (tests, metrics)
        self._pinging = False

    @classmethod
    def forget_all(cls) -> None:
        """Clear every store's latch in this process (tests: one test's outage is not the
        next one's)."""
        with cls._registry_lock:
            for health in cls._registry.values():
                health.ok()

    @classmethod
    def of(cls, spec: StorageSpec) -> StoreHealth:
        key = (os.getpid(), spec.uri)
        found = cls._registry.get(key)
        if found is None:
            with cls._registry_lock:
                found = cls._registry.setdefault(key, StoreHealth())
        return found

    def latched(self, latch: float) -> bool:
        """Whether a call with this ``latch`` interval must decide without the store now."""
        failed_at = self.failed_at
        if failed_at is None or latch <= 0:
            return False
        now = time.monotonic()
        if now < failed_at + latch:
            return True
        with self._lock:  # the interval is over: one call goes to the store, others wait
            if self.failed_at is None:
                return False
            if now < self.probe_until:
                return True
            self.probe_until = now + 2 * latch
            return False

    def admit(self, latch: float) -> None:
        """Raise :class:`StorageUnreachableError` when latched; count the attempt otherwise."""
        if self.latched(latch):
            self.skipped += 1
            raise StorageUnreachableError(
                f"the store is marked unreachable for up to {latch:g} s after {self.error}"
            )
        self.attempts += 1

    def ok(self) -> None:
        if self.failed_at is not None:
            with self._lock:
                self.failed_at = None
                self.probe_until = 0.0

    def failed(self, exc: BaseException, latch: float, ping: Any) -> None:
        """Record an unreachable error; start the background ping (``ping()`` raises or not)."""
        if latch <= 0:
            return
        with self._lock:
            if self.failed_at is None:
                self.window = 0.0
            self.failed_at = time.monotonic()
            self.error = type(exc).__name__
            self.window = max(self.window, latch)
            self.probe_until = 0.0
            self.trips += 1
            if self._pinging:
                return
            self._pinging = True
        threading.Thread(
            target=self._ping, args=(ping,), name="guardrails-storage-ping", daemon=True
        ).start()

    def _ping(self, ping: Any) -> None:
        try:
            while True:
                time.sleep(PING_EVERY)
                failed_at = self.failed_at
                if failed_at is None or time.monotonic() > failed_at + self.window:
                    return  # recovered, or the interval is over: the next call probes
                try:
                    ping()
                except Exception:
                    continue
                self.ok()
                return
        finally:
            with self._lock:
                self._pinging = False


# --------------------------------------------------------------------------- script steps
#: Lua helper every step may use: ``int(t, i, low)`` is ``t[i]`` as an integer within
#: ``[low, 2^53)`` or nil.
_PRELUDE = """
local function int(t, i, low)
  local n = tonumber(t[i])
  if n == nil or n ~= math.floor(n) or n < low or n > 9007199254740991 then
    return nil
  end
  return n
end
"""


@dataclass(frozen=True)
class ScriptStep:
    """One atomic storage operation as two Lua function bodies over ``(KEYS, ARGV)``.

    ``check`` returns an error text (or nothing) and never writes; ``run`` does the work.
    :attr:`source` is the standalone script (check, then run); :func:`batch_source` chains
    several steps in one script (every check first, then each run while the previous one's
    ``proceed`` expression, over its result ``r``, holds).

    Example::

        STEP = ScriptStep("echo", check="", run="return ARGV[1]")
        connector.eval(STEP.source, [], ["hi"])
    """

    name: str
    check: str
    run: str
    proceed: str = "true"

    @property
    def source(self) -> str:
        return _standalone(self)


@functools.lru_cache(maxsize=64)
def _standalone(step: ScriptStep) -> str:
    return (
        f"{_PRELUDE}\nlocal function check(KEYS, ARGV)\n{step.check}\nend\n"
        f"local function run(KEYS, ARGV)\n{step.run}\nend\n"
        "local bad = check(KEYS, ARGV)\n"
        "if bad then return redis.error_reply('ERR guardrails ' .. bad) end\n"
        "return run(KEYS, ARGV)\n"
    )


@functools.lru_cache(maxsize=64)
def batch_source(steps: tuple[ScriptStep, ...]) -> str:
    """One script running ``steps`` in order: ARGV is ``n, (nkeys, nargs) * n, args...``,
    KEYS every step's keys in order; returns the results of the steps that ran."""
    parts = [_PRELUDE]
    for i, step in enumerate(steps, start=1):
        parts.append(f"local function check{i}(KEYS, ARGV)\n{step.check}\nend")
        parts.append(f"local function run{i}(KEYS, ARGV)\n{step.run}\nend")
    parts.append(
        """
local n = tonumber(ARGV[1])
local spans = {}
local ki, ai = 1, 2 + 2 * n
for i = 1, n do
  local nk, na = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  spans[i] = {{unpack(KEYS, ki, ki + nk - 1)}, {unpack(ARGV, ai, ai + na - 1)}}
  ki, ai = ki + nk, ai + na
end
local bad"""
    )
    for i in range(1, len(steps) + 1):
        parts.append(
            f"bad = check{i}(spans[{i}][1], spans[{i}][2])\n"
            "if bad then return redis.error_reply('ERR guardrails ' .. bad) end"
        )
    parts.append("local out = {}\nlocal r")
    for i, step in enumerate(steps, start=1):
        parts.append(f"r = run{i}(spans[{i}][1], spans[{i}][2])\nout[{i}] = r")
        if i < len(steps):
            parts.append(f"if not ({step.proceed}) then return out end")
    parts.append("return out")
    return "\n".join(parts)


@dataclass(frozen=True)
class Prefetch:
    """A step a guardrail would run before its model call, offered to :func:`run_batch`.

    ``owner`` is the storage engine that will look the result up (by identity and keys);
    ``decode`` turns the raw script result into what the engine's operation returns.

    Example::

        token = run_batch([windows.step("user:42"), budget.step("g|thread-1", 10)])
        try:
            ...  # windows.io("user:42") now returns the fetched result, once
        finally:
            end_batch(token)
    """

    owner: object
    connector: RedisConnector
    step: ScriptStep
    keys: tuple[str, ...]
    args: tuple[Any, ...]
    decode: Any


_Box = dict[int, tuple[tuple[str, ...], Any]]
_PREFETCHED: contextvars.ContextVar[_Box | None] = contextvars.ContextVar(
    "guardrails_prefetched", default=None
)


def prefetched(owner: object, keys: Any) -> tuple[bool, Any]:
    """The result :func:`run_batch` fetched for ``owner`` with these ``keys``, once."""
    box = _PREFETCHED.get()
    if not box:
        return False, None
    entry = box.pop(id(owner), None)
    if entry is None or entry[0] != tuple(keys):
        return False, None
    return True, entry[1]


def _batch_call(batch: list[Prefetch]) -> tuple[str, list[str], list[Any]]:
    steps = tuple(p.step for p in batch)
    keys = [k for p in batch for k in p.keys]
    args: list[Any] = [len(batch)]
    for p in batch:
        args += [len(p.keys), len(p.args)]
    for p in batch:
        args += list(p.args)
    return batch_source(steps), keys, args


def _box(batch: list[Prefetch], raw: Any) -> _Box:
    box: _Box = {}
    for prefetch, result in zip(batch, raw or [], strict=False):
        box[id(prefetch.owner)] = (prefetch.keys, prefetch.decode(result))
    return box


def run_batch(batch: list[Prefetch]) -> contextvars.Token[_Box | None] | None:
    """Run ``batch`` in one round trip and publish the results to the engines (sync).

    Returns the token to :func:`end_batch` with, or None when the storage failed (each
    guardrail then does its own I/O and decides as usual).
    """
    source, keys, args = _batch_call(batch)
    try:
        raw = batch[0].connector.eval(source, keys, args)
    except storage_errors():
        return None
    return _PREFETCHED.set(_box(batch, raw))


async def arun_batch(batch: list[Prefetch]) -> contextvars.Token[_Box | None] | None:
    """The async twin of :func:`run_batch`."""
    source, keys, args = _batch_call(batch)
    try:
        raw = await batch[0].connector.aeval(source, keys, args)
    except storage_errors():
        return None
    return _PREFETCHED.set(_box(batch, raw))


def end_batch(token: contextvars.Token[_Box | None] | None) -> None:
    if token is not None:
        _PREFETCHED.reset(token)


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


_SHARED: dict[tuple[int, StorageSpec], RedisConnector] = {}
_SHARED_LOCK = threading.Lock()


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
        self.health = StoreHealth.of(spec)
        self._unreachable = _unreachable()
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

    @classmethod
    def shared(cls, spec: StorageSpec) -> RedisConnector:
        """The connector of ``spec`` in this process: guardrails on one store with the same
        timeouts share its clients and pools (and, whatever their timeouts, its health)."""
        key = (os.getpid(), spec)
        with _SHARED_LOCK:
            found = _SHARED.get(key)
            if found is None:
                found = _SHARED[key] = cls(spec)
            return found

    def _ping(self) -> None:
        self.sync().ping()

    # ------------------------------------------------------------------ scripts
    def eval(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script atomically (EVALSHA, EVAL when the server does not have it yet).

        Raises :class:`StorageUnreachableError` at once while the store is latched.
        """
        from redis.exceptions import NoScriptError

        self.health.admit(self.spec.latch)
        try:
            client = self.sync()
            sha = _sha(source)
            try:
                result = client.evalsha(sha, len(keys), *keys, *args)
            except NoScriptError:
                result = client.eval(source, len(keys), *keys, *args)
        except self._unreachable as exc:
            self.health.failed(exc, self.spec.latch, self._ping)
            raise
        self.health.ok()
        return result

    async def aeval(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """The async twin of :meth:`eval`, on the running loop's client."""
        from redis.exceptions import NoScriptError

        self.health.admit(self.spec.latch)
        try:
            client = await self.aclient()
            sha = _sha(source)
            try:
                result = await client.evalsha(sha, len(keys), *keys, *args)
            except NoScriptError:
                result = await client.eval(source, len(keys), *keys, *args)
        except self._unreachable as exc:
            self.health.failed(exc, self.spec.latch, self._ping)
            raise
        self.health.ok()
        return result

    def loop_count(self) -> int:
        """Async clients currently held (one per live event loop); for tests and metrics."""
        with self._lock:
            self._prune()
            return len(self._loops)
