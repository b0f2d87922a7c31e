"""Time windows and budgets for the rate limiter and the shared thread budget.

Two engines with one contract, :meth:`hit`: *check every limit, then charge every limit*, as one
atomic step (a call refused by one limit is charged to none):

* :class:`MemoryWindows`: this process, a lock, and bounded memory: keys idle for longer than the
  longest window are dropped (two generations rotated every window, O(1) per hit), so 200,000
  distinct ids cost nothing once they go quiet.
* :class:`RedisWindows`: one Lua script per hit on a Redis, Sentinel master or Cluster (keys of one
  hit share a hash slot); time comes from the Redis server (``TIME``), so processes with drifting
  clocks share one window. Keys expire with their window.

Strategies, as in ``limits``: ``moving-window`` (exact, a timestamp per admitted call),
``fixed-window`` (a counter per aligned window) and ``sliding-window-counter`` (the previous
window's count, weighted, plus the current one).

:class:`MemoryBudget` / :class:`RedisBudget` charge one unit against a cap atomically
("take one if fewer than ``limit`` were taken"), for budgets that must hold across concurrent
runs and processes.

Example::

    from limits import parse_many
    windows = MemoryWindows("moving-window", list(parse_many("2/second;100/day")))
    windows.hit("user:42")  # (True, 0.0), or (False, reset_at_epoch_seconds)
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from guardrails._core import IO
from guardrails._storage import (
    Prefetch,
    RedisConnector,
    ScriptStep,
    milliseconds,
    prefetched,
)

__all__ = ["MemoryBudget", "MemoryWindows", "RedisBudget", "RedisWindows"]

_MOVING, _FIXED, _SLIDING = "moving-window", "fixed-window", "sliding-window-counter"


def _spans(items: Sequence[Any]) -> list[tuple[int, float]]:
    """(amount, window seconds) of each ``limits.RateLimitItem``."""
    return [(int(item.amount), float(item.get_expiry())) for item in items]


def _tag(key: str) -> str:
    return key.replace("{", "(").replace("}", ")")


class _Generations:
    """A dict whose entries vanish once untouched for ``idle`` seconds (between 1x and 2x).

    Two generations: a hit moves its key into the current one; every ``idle`` seconds the
    current generation becomes the previous one and the previous one is dropped whole. O(1) per
    access, no per-entry bookkeeping, and the memory of quiet keys is returned to the allocator.
    """

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.current: dict[str, Any] = {}
        self.previous: dict[str, Any] = {}
        self.started = float("-inf")

    def __len__(self) -> int:
        return len(self.current) + len(self.previous)

    def rotate(self, now: float) -> None:
        if now - self.started < self.idle:
            return
        fresh = now - self.started < 2 * self.idle
        self.previous = self.current if fresh else {}
        self.current = {}
        self.started = now

    def get(self, key: str) -> Any:
        value = self.current.get(key)
        if value is None:
            value = self.previous.pop(key, None)
            if value is not None:
                self.current[key] = value
        return value


class MemoryWindows:
    """In-process windows for several limits, checked then charged together; bounded memory.

    Example::

        windows = MemoryWindows("fixed-window", list(parse_many("10/minute")))
        allowed, reset_at = windows.hit("global")
    """

    def __init__(
        self,
        strategy: str,
        items: Sequence[Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.strategy = strategy
        self.spans = _spans(items)
        self.clock = clock
        longest = max(window for _, window in self.spans)
        # a key untouched for this long has no state that could refuse a call
        self._keys = _Generations(longest * (2 if strategy == _SLIDING else 1))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def _fresh(self) -> list[Any]:
        if self.strategy == _MOVING:
            return [[] for _ in self.spans]  # timestamps of admitted calls, oldest first
        return [[0, 0, 0] for _ in self.spans]  # window index, count, previous count

    def hit(self, key: str) -> tuple[bool, float]:
        """Admit and charge one call on every limit, or refuse with the reset time (epoch s)."""
        with self._lock:
            now = self.clock()
            self._keys.rotate(now)
            states = self._keys.get(key)
            known = states is not None
            if states is None:
                states = self._fresh()
            reset = 0.0
            for (amount, window), state in zip(self.spans, states, strict=True):
                if self.strategy == _MOVING:
                    if state and state[0] <= now - window:
                        del state[: bisect.bisect_right(state, now - window)]
                    if len(state) >= amount:
                        reset = max(reset, state[len(state) - amount] + window)
                    continue
                index = int(now // window)
                if state[0] != index:
                    previous = state[1] if state[0] == index - 1 else 0
                    state[0], state[1], state[2] = index, 0, previous
                if self.strategy == _FIXED:
                    used = float(state[1])
                else:
                    weight = 1.0 - (now - index * window) / window
                    used = state[2] * weight + state[1]
                if used + 1 > amount:
                    reset = max(reset, (index + 1) * window)
            if reset:
                return False, reset
            for (amount, _), state in zip(self.spans, states, strict=True):
                if self.strategy == _MOVING:
                    state.append(now)
                    if len(state) > amount:
                        del state[: len(state) - amount]
                else:
                    state[1] += 1
            if not known:
                self._keys.current[key] = states
            return True, 0.0

    def io(self, key: str) -> IO:
        """:meth:`hit` as an operation (no I/O: the async path calls it directly)."""

        def sync() -> tuple[bool, float]:
            return self.hit(key)

        async def async_() -> tuple[bool, float]:
            return self.hit(key)

        return IO(sync, async_)


# Every script checks all its arguments before its first write: integers within what Lua's
# doubles hold exactly (a window is kept up to twice its length, so at most 2^52 ms).
HIT = ScriptStep(
    "hit",
    check="""
local strategy = ARGV[1]
if (strategy ~= 'moving-window' and strategy ~= 'fixed-window'
    and strategy ~= 'sliding-window-counter') or #ARGV ~= 1 + 2 * #KEYS then
  return 'windows: bad arguments'
end
for i = 2, #ARGV do
  local n = int(ARGV, i, 1)
  if n == nil or n > 4503599627370496 then
    return 'windows: bad arguments'
  end
end
""",
    run="""
local strategy = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local reset = 0
for i = 1, #KEYS do
  local amount = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local key = KEYS[i]
  if strategy == 'moving-window' then
    local entry = redis.call('LINDEX', key, amount - 1)
    if entry and tonumber(entry) > now - window then
      reset = math.max(reset, tonumber(entry) + window)
    end
  else
    local index = math.floor(now / window)
    local used = tonumber(redis.call('GET', key .. ':' .. index) or '0')
    if strategy == 'sliding-window-counter' then
      local previous = tonumber(redis.call('GET', key .. ':' .. (index - 1)) or '0')
      used = used + previous * (1 - (now - index * window) / window)
    end
    if used + 1 > amount then
      reset = math.max(reset, (index + 1) * window)
    end
  end
end
if reset > 0 then
  return {0, reset}
end
for i = 1, #KEYS do
  local amount = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local key = KEYS[i]
  if strategy == 'moving-window' then
    redis.call('LPUSH', key, now)
    redis.call('LTRIM', key, 0, amount - 1)
    redis.call('PEXPIRE', key, window)
  else
    local counter = key .. ':' .. math.floor(now / window)
    redis.call('INCR', counter)
    local keep = window
    if strategy == 'sliding-window-counter' then keep = 2 * window end
    redis.call('PEXPIRE', counter, keep)
  end
end
return {1, 0}
""",
    proceed="r[1] == 1",
)
_HIT = HIT.source


class RedisWindows:
    """The same windows in Redis: one atomic Lua script per hit, server time.

    Example::

        windows = RedisWindows("moving-window", items, connector, prefix="guardrails:rl:name")
    """

    def __init__(
        self, strategy: str, items: Sequence[Any], connector: RedisConnector, prefix: str
    ) -> None:
        self.strategy = strategy
        self.spans = _spans(items)
        self.connector = connector
        self.prefix = prefix
        self._args: list[Any] = [strategy]
        for amount, window in self.spans:
            self._args += [amount, milliseconds(window)]

    def keys(self, key: str) -> list[str]:
        base = f"{self.prefix}:{{{_tag(key)}}}"
        return [f"{base}:{amount}/{milliseconds(window)}ms" for amount, window in self.spans]

    @staticmethod
    def _done(raw: Any) -> tuple[bool, float]:
        return bool(int(raw[0])), int(raw[1]) / 1000.0

    def step(self, key: str) -> Prefetch:
        """This hit as a step of a composed stack's one-round-trip batch."""
        return Prefetch(
            self, self.connector, HIT, tuple(self.keys(key)), tuple(self._args), self._done
        )

    def io(self, key: str) -> IO:
        keys = self.keys(key)
        done = self._done

        def sync() -> tuple[bool, float]:
            found, value = prefetched(self, keys)
            if found:
                return value  # type: ignore[no-any-return]
            return done(self.connector.eval(_HIT, keys, self._args))

        async def async_() -> tuple[bool, float]:
            found, value = prefetched(self, keys)
            if found:
                return value  # type: ignore[no-any-return]
            return done(await self.connector.aeval(_HIT, keys, self._args))

        return IO(sync, async_)


class MemoryBudget:
    """An in-process counter per key with a cap: :meth:`take` one unit if below the cap.

    Keys idle for ``ttl`` seconds (up to twice that) are forgotten.

    Example::

        budget = MemoryBudget(ttl=86400)
        budget.take("thread:42", limit=10)  # (True, 1)
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._counts = _Generations(ttl)

    def take(self, key: str, limit: int) -> tuple[bool, int]:
        with self._lock:
            self._counts.rotate(self.clock())
            cell = self._counts.get(key)
            count = cell[0] if cell is not None else 0
            if count >= limit:
                return False, count
            if cell is None:
                self._counts.current[key] = [count + 1]
            else:
                cell[0] = count + 1
            return True, count + 1

    def io(self, key: str, limit: int) -> IO:
        def sync() -> tuple[bool, int]:
            return self.take(key, limit)

        async def async_() -> tuple[bool, int]:
            return self.take(key, limit)

        return IO(sync, async_)


TAKE = ScriptStep(
    "take",
    check="""
if int(ARGV, 1, 0) == nil or int(ARGV, 2, 1) == nil then
  return 'budget: bad arguments'
end
""",
    run="""
local limit, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= limit then
  return {0, count}
end
count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, count}
""",
    proceed="r[1] == 1",
)
_TAKE = TAKE.source


class RedisBudget:
    """:class:`MemoryBudget` in Redis (one Lua script: check and take atomically).

    Example::

        budget = RedisBudget(connector, prefix="guardrails:budget:name", ttl=86400)
    """

    def __init__(self, connector: RedisConnector, prefix: str, ttl: float) -> None:
        self.connector = connector
        self.prefix = prefix
        self.ttl_ms = milliseconds(ttl)

    @staticmethod
    def _done(raw: Any) -> tuple[bool, int]:
        return bool(int(raw[0])), int(raw[1])

    def _keys(self, key: str) -> list[str]:
        return [f"{self.prefix}:{{{_tag(key)}}}"]

    def step(self, key: str, limit: int) -> Prefetch:
        """This take as a step of a composed stack's one-round-trip batch."""
        keys = tuple(self._keys(key))
        return Prefetch(self, self.connector, TAKE, keys, (limit, self.ttl_ms), self._done)

    def io(self, key: str, limit: int) -> IO:
        keys = self._keys(key)
        args = [limit, self.ttl_ms]
        done = self._done

        def sync() -> tuple[bool, int]:
            found, value = prefetched(self, keys)
            if found:
                return value  # type: ignore[no-any-return]
            return done(self.connector.eval(_TAKE, keys, args))

        async def async_() -> tuple[bool, int]:
            found, value = prefetched(self, keys)
            if found:
                return value  # type: ignore[no-any-return]
            return done(await self.connector.aeval(_TAKE, keys, args))

        return IO(sync, async_)
