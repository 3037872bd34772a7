"""A rate limit's budget kept in Redis, so that processes and machines share it.

The algorithm is the local one (``__init__.py``), run as a Lua script, which Redis executes
atomically, on the Redis server's clock (``TIME``), so clients on machines whose clocks
differ still agree. Keys, in microseconds, each expiring once it no longer matters: per
origin the pause the server asked for (every limit obeys it); per origin and limit
settings (``rate/per/burst``: limits that differ keep budgets apart) the theoretical
arrival time and the sliding window's recent slots.

The client is ``redis.asyncio``: no thread is blocked and no request waits behind another's
Redis round trip. Its connections belong to one event loop, so there is one client per loop,
made and closed like the engine's sessions (``mylib/_transports/sessions.py``): closed when
that loop shuts down, at exit, and forgotten in a forked child, all without a word.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._errors import TransportError, redact_text, redact_url
from .._transports.sessions import LoopSessions

if TYPE_CHECKING:
    from . import Origin

__all__ = ["RedisStore"]

_INSTALL_HINT = (
    "RateLimit(store='redis://...') needs the redis package, which is not installed; install "
    "it with pip install redis"
)

#: KEYS: arrival time, pause, the window's recent slots (a list, newest first). ARGV:
#: interval, tolerance, latest (µs; -1: no deadline), window (a count; 0: none), per (µs).
#: Returns {taken (1) or not (-1), the wait in µs, whether the origin is paused (1/0)}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local latest = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local per = tonumber(ARGV[5])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = math.max(now, pause)
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), start)
local at = math.max(tat - tolerance, start)
if window > 0 and redis.call('LLEN', KEYS[3]) >= window then
  local oldest = tonumber(redis.call('LINDEX', KEYS[3], window - 1))
  if oldest + per > at then
    at = oldest + per
    tat = at + tolerance
  end
end
local wait = at - now
local paused = 0
if pause > now then paused = 1 end
if latest >= 0 and wait > 0 and wait > latest then
  return {-1, wait, paused}
end
local nxt = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
if window > 0 then
  redis.call('LPUSH', KEYS[3], string.format('%.0f', at))
  redis.call('LTRIM', KEYS[3], 0, window - 1)
  redis.call('PEXPIRE', KEYS[3], math.ceil((at + per - now) / 1000) + 1000)
end
return {1, wait, paused}
"""

#: KEYS: pause, the pausing limit's arrival time. ARGV: seconds (µs), its tolerance (µs).
#: Moves the pause later, never earlier, and empties that limit's bucket after it.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = now + tonumber(ARGV[1])
if untl > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', untl), 'PX', math.ceil(ARGV[1] / 1000) + 1000)
  local empty = untl + tonumber(ARGV[2])
  if empty > tonumber(redis.call('GET', KEYS[2]) or '0') then
    redis.call('SET', KEYS[2], string.format('%.0f', empty), 'PX',
               math.ceil((empty - now) / 1000) + 1000)
  end
end
return 0
"""

#: KEYS: pause. Returns the µs left of it (0 or less: none).
_PAUSED_FOR = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return tonumber(redis.call('GET', KEYS[1]) or '0') - now
"""


def _redis_module() -> Any:
    try:
        import redis.asyncio
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return redis.asyncio


class _Connection:
    """One loop's Redis client and scripts, in the shape the session keepers close."""

    __slots__ = ("__weakref__", "client", "closed", "pause", "paused_for", "reserve")

    def __init__(self, url: str) -> None:
        # A Redis that does not answer must not hold requests forever (the URL's own
        # socket_timeout=... options win over these).
        self.client = _redis_module().from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self.reserve = self.client.register_script(_RESERVE)
        self.pause = self.client.register_script(_PAUSE)
        self.paused_for = self.client.register_script(_PAUSED_FOR)
        self.closed = False

    async def close(self) -> None:
        self.closed = True
        await self.client.aclose()


def _origin_key(origin: Origin) -> str:
    scheme, host, port = origin
    return f"mylib:ratelimit:{scheme}://{host}:{port}"


@contextlib.contextmanager
def _store_errors(url: str) -> Iterator[None]:
    """Redis's errors as a mylib error naming the store (its password left out)."""
    errors = _redis_module().RedisError
    try:
        yield
    except (errors, OSError) as exc:
        raise TransportError(
            f"the rate limit store {redact_url(url)} failed: "
            f"{redact_text(str(exc)) or type(exc).__name__}"
        ) from None


class RedisStore:
    """The budget of one RateLimit, in the Redis at ``url``."""

    __slots__ = ("__weakref__", "_connections", "_url")

    def __init__(self, url: object) -> None:
        if not isinstance(url, str):
            raise TypeError(f"RateLimit store must be a redis:// URL, not {type(url).__name__}")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                "RateLimit store must be a redis://, rediss:// or unix:// URL, "
                f"not {url.split('://')[0]!r}"
            )
        module = _redis_module()  # a missing package is named now, not at the first request
        try:  # a malformed URL too (parsing it does no I/O)
            module.ConnectionPool.from_url(url).make_connection()
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"RateLimit store {redact_url(url)!r} is not a usable Redis URL: "
                f"{redact_text(str(exc))}"
            ) from None
        self._url = url
        self._connections = LoopSessions(self, lambda: _Connection(url))

    async def reserve(
        self,
        budget: str,
        origin: Origin,
        interval: float,
        tolerance: float,
        window: int,
        per: float,
        latest: float | None,
    ) -> tuple[float, bool, bool]:
        """(seconds to wait, whether the slot was taken, whether the origin is paused), for
        the budget named ``budget`` (a limit's settings) at ``origin``."""
        connection = self._connections.get()
        base = _origin_key(origin)
        with _store_errors(self._url):
            taken, wait, paused = await connection.reserve(
                keys=(f"{base}:{budget}", f"{base}:pause", f"{base}:{budget}:recent"),
                args=(
                    round(interval * 1e6),
                    round(tolerance * 1e6),
                    -1 if latest is None else max(0, round(latest * 1e6)),
                    window,
                    round(per * 1e6),
                ),
            )
        return int(wait) / 1e6, int(taken) > 0, bool(int(paused))

    async def pause(self, budget: str, origin: Origin, seconds: float, tolerance: float) -> None:
        """No requests to ``origin`` for ``seconds``, from any process; the bucket of the
        budget ``budget`` is empty after it."""
        connection = self._connections.get()
        base = _origin_key(origin)
        with _store_errors(self._url):
            await connection.pause(
                keys=(f"{base}:pause", f"{base}:{budget}"),
                args=(max(1, round(seconds * 1e6)), round(tolerance * 1e6)),
            )

    async def paused_for(self, origin: Origin) -> float:
        """Seconds left of the origin's pause (0 or less: none)."""
        connection = self._connections.get()
        with _store_errors(self._url):
            return int(await connection.paused_for(keys=(f"{_origin_key(origin)}:pause",))) / 1e6
