"""Rate limits: one budget per origin, shared by everything in the process that holds the same
:class:`RateLimit`, and paused when the server asks.

The invariants, and why they hold:

* **One budget per (RateLimit, origin), whatever the loop or thread.** A blocking client's
  requests run on mylib's I/O loop, an AsyncClient's on the caller's loops, a ``map`` on
  either; all of them take their slots from the same state, kept on the RateLimit object
  behind a ``threading.Lock`` (held for a few arithmetic operations, never across an
  await), on ``time.monotonic()`` (the clock every asyncio loop uses).
* **A slot is a reservation, not a poll** (the generic cell rate algorithm, GCRA): taking
  one computes, under the lock, the earliest time this request may go, and moves the
  origin's "theoretical arrival time" on by one interval (``per / rate``); the request then
  sleeps until its time with ``asyncio.sleep``. No loop wakes anyone, no timer polls, and
  ``burst`` is how far ahead of the schedule requests may run. A waiter that is cancelled
  (Ctrl-C, a timeout) gives its slot back if nobody reserved one after it.
* **Waiting is part of the request**: it runs inside the call's total timeout, and a slot
  that would come only after the call's deadline is not taken: the call fails at once
  with a :class:`~mylib.TimeoutError` that says so (rather than sleeping until it expires).
* **The server's word pauses the origin for everyone**: a 429/503 with ``Retry-After``, or
  a quota header at zero remaining (``server.py``), pauses the origin until then. Every
  slot already reserved moves on by the time the pause adds (the origin's ``shift``; a
  sleeping waiter reads it when it wakes and sleeps the rest), so they keep their order
  and none goes before the pause ends; and the bucket is empty after it, so the waiters do
  not burst into another 429.
* **Shared across processes**: with ``store=`` a Redis URL the same algorithm runs as one
  atomic Lua script on the Redis server's clock (``redis.py``); the pause is kept there
  too, and a waiter that finds one when it wakes reserves again after it (the order of
  waiters across a pause is not kept there). The local state is then unused.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import math
import threading
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import TimeoutError, redact_url
from .._logging import log_rate_wait

if TYPE_CHECKING:
    from yarl import URL

    from .redis import RedisStore

__all__ = ["RateLimit", "RateLimits", "fresh_rate_limit_locks", "to_rate_limits"]

#: An origin: (scheme, host, port).
Origin = tuple[str, str, int]


class _State:
    __slots__ = ("paused_until", "shift", "tat")

    def __init__(self) -> None:
        self.tat = 0.0  # the theoretical arrival time of the next request (GCRA)
        self.paused_until = 0.0
        #: Seconds the server's pauses have moved every waiter on by, in all.
        self.shift = 0.0


#: Origins a RateLimit keeps state for before it drops those whose slots are all past.
_PRUNE_AT = 1024
#: Every RateLimit, so that a forked child gets fresh locks (one held by a thread of the
#: parent at the fork would never be released in the child).
_ALL: weakref.WeakSet[RateLimit] = weakref.WeakSet()


def fresh_rate_limit_locks() -> None:
    """In a forked child: new locks for every RateLimit (``mylib/_io.py`` calls this)."""
    for limit in list(_ALL):
        limit._lock = threading.Lock()


class RateLimit:
    """At most ``rate`` requests per ``per`` seconds to each origin (scheme, host, port).

    Examples::

        mylib.Client(rate_limit=5)                               # 5 requests/s per origin
        mylib.Client(rate_limit=mylib.RateLimit(100, per=60))    # 100 a minute
        mylib.Client(rate_limit=mylib.RateLimit(10, burst=1))    # evenly spaced, 0.1 s apart
        mylib.Client(rate_limit={"api.github.com": mylib.RateLimit(5000, per=3600),
                                 "*": mylib.RateLimit(10)})
        mylib.RateLimit(5, store="redis://localhost:6379/0")     # one budget for many processes

    A token bucket per origin: up to ``burst`` requests may go at once, then one every
    ``per / rate`` seconds. Every attempt takes a slot (retries and redirects too), from
    every thread, every ``map`` and every client given this same object: share one
    RateLimit to share one budget. Waiting for a slot counts against the request's total
    timeout, is cancelled by Ctrl-C, and is logged at DEBUG.

    **It listens to the server**: a ``429``/``503`` with ``Retry-After`` pauses the origin
    for every waiter until then, and ``RateLimit``/``RateLimit-Remaining``/
    ``X-RateLimit-Remaining`` headers at zero make the origin wait for their reset before the
    next request (the IETF drafts' and the common ``X-`` forms); each pause is logged.

    Args:
        rate: Requests allowed per ``per`` seconds (more than 0).
        per: The period in seconds (default 1).
        burst: How many requests may go back to back (default: ``rate``, rounded up; 1
            spaces every request evenly).
        store: ``None`` (this process keeps the budget), or a ``redis://`` (``rediss://``,
            ``unix://``) URL: the budget and the server's pauses are kept in Redis, so all
            processes and machines that use the same URL share one budget per origin. Needs
            the ``redis`` package: ``pip install 'mylib[redis]'``.

    Raises:
        TypeError, ValueError: a value of the wrong type or out of range.
        ImportError: ``store`` is given and the ``redis`` package is not installed.
    """

    __slots__ = (
        "__weakref__", "_burst", "_lock", "_per", "_prune_at", "_rate", "_redis", "_states",
        "_store",
    )

    def __init__(
        self, rate: float, per: float = 1.0, *, burst: int | None = None, store: str | None = None
    ) -> None:
        self._rate = _positive("rate", rate)
        self._per = _positive("per", per)
        if burst is None:
            burst = max(1, math.ceil(self._rate))
        elif isinstance(burst, bool) or not isinstance(burst, int):
            raise TypeError(f"RateLimit burst must be an int, not {type(burst).__name__}")
        elif burst < 1:
            raise ValueError(f"RateLimit burst must be 1 or more, not {burst}")
        self._burst = burst
        self._store = store
        self._lock = threading.Lock()
        self._states: dict[Origin, _State] = {}
        self._prune_at = _PRUNE_AT
        self._redis: RedisStore | None = None
        if store is not None:
            from .redis import RedisStore

            self._redis = RedisStore(store)
        _ALL.add(self)

    @property
    def rate(self) -> float:
        """Requests allowed per :attr:`per` seconds."""
        return self._rate

    @property
    def per(self) -> float:
        """The period, in seconds."""
        return self._per

    @property
    def burst(self) -> int:
        """How many requests may go back to back."""
        return self._burst

    @property
    def store(self) -> str | None:
        """The Redis URL the budget is kept in, or None (this process)."""
        return self._store

    def __repr__(self) -> str:
        store = f", store={redact_url(self._store)!r}" if self._store is not None else ""
        return f"mylib.RateLimit({self._rate:g}, per={self._per:g}, burst={self._burst}{store})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The settings travel; the budget of this process does not (a Redis one is shared).
        return (_rebuild, (self._rate, self._per, self._burst, self._store))

    # -- the engine's side ------------------------------------------------------------------

    @property
    def _interval(self) -> float:
        return self._per / self._rate

    async def _wait_turn(
        self, origin: Origin, method: str, url: URL, deadline: float | None
    ) -> None:
        """Wait until a request to ``origin`` may go (each wait logged as it begins).

        Raises:
            TimeoutError: its turn comes after ``deadline`` (loop time); it did not wait.
        """
        if self._redis is not None:
            return await self._wait_turn_shared(origin, method, url, deadline)
        interval = self._interval
        loop = asyncio.get_running_loop()
        latest = None if deadline is None else deadline - loop.time()
        at, slot, shift = self._reserve(origin, interval, latest)
        while True:
            with self._lock:
                # A pause the server asked for since then moved every waiter on by as much.
                target = at + self._states[origin].shift - shift
            wait = target - time.monotonic()
            if wait <= 0:
                return None
            if deadline is not None and loop.time() + wait > deadline:
                raise _too_late(self, url, wait)
            log_rate_wait(method, url, wait, self)
            try:
                await asyncio.sleep(wait)
            except asyncio.CancelledError:
                self._give_back(origin, slot, interval, shift)
                raise

    def _reserve(
        self, origin: Origin, interval: float, latest: float | None
    ) -> tuple[float, float, float]:
        """Take the origin's next slot: (when it may go, the slot's arrival time, the
        origin's pause shift then), all on ``time.monotonic()``.

        Raises:
            TimeoutError: it would go later than ``latest`` seconds from now (nothing taken).
        """
        tolerance = interval * (self._burst - 1)
        with self._lock:
            now = time.monotonic()
            state = self._states.get(origin)
            if state is None:
                state = self._new_state(origin, now)
            tat = max(state.tat, now)
            at = max(tat - tolerance, now)
            if latest is not None and at - now > max(latest, 0.0):
                raise _too_late(self, None, at - now)
            state.tat = tat + interval
            return at, tat, state.shift

    def _new_state(self, origin: Origin, now: float) -> _State:
        if len(self._states) >= self._prune_at:
            # Origins whose last slot and pause are past hold nothing: a crawl meets many.
            for key in [k for k, v in self._states.items() if max(v.tat, v.paused_until) < now]:
                del self._states[key]
            self._prune_at = max(_PRUNE_AT, 2 * len(self._states))
        state = self._states[origin] = _State()
        return state

    def _give_back(self, origin: Origin, slot: float, interval: float, shift: float) -> None:
        with self._lock:
            state = self._states[origin]
            if state.shift == shift and state.tat == slot + interval:  # nobody came after
                state.tat = slot

    async def _pause(self, origin: Origin, seconds: float) -> None:
        """The server asked for no requests to ``origin`` for ``seconds``: every waiter
        moves on by the time the pause adds (keeping their order), and the bucket starts
        empty after it (no burst straight into another 429)."""
        if self._redis is not None:
            await self._redis.pause(origin, seconds)
            return
        with self._lock:
            now = time.monotonic()
            until = now + seconds
            state = self._states.get(origin) or self._new_state(origin, now)
            if until <= state.paused_until:
                return
            added = until - max(now, state.paused_until)
            state.paused_until = until
            state.shift += added
            state.tat = max(state.tat + added, until + self._interval * (self._burst - 1))

    async def _wait_turn_shared(
        self, origin: Origin, method: str, url: URL, deadline: float | None
    ) -> None:
        """:meth:`_wait_turn` with the budget in Redis: a pause found on waking means
        reserving again, after it."""
        assert self._redis is not None
        interval = self._interval
        tolerance = interval * (self._burst - 1)
        loop = asyncio.get_running_loop()
        while True:
            latest = None if deadline is None else deadline - loop.time()
            wait, taken = await self._redis.reserve(origin, interval, tolerance, latest)
            if not taken:
                raise _too_late(self, url, wait)
            if wait <= 0:
                return None
            log_rate_wait(method, url, wait, self)
            await asyncio.sleep(wait)
            if await self._redis.paused_for(origin) <= 0:
                return None


def _rebuild(rate: float, per: float, burst: int, store: str | None) -> RateLimit:
    return RateLimit(rate, per, burst=burst, store=store)


def _too_late(limit: RateLimit, url: URL | None, wait: float) -> TimeoutError:
    to = f" to {redact_url(url)}" if url is not None else ""
    return TimeoutError(
        f"timed out waiting for the rate limit: {limit!r} allows the next request{to} "
        f"only in {wait:.2f} s, after this request's total timeout"
    )


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"RateLimit {name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"RateLimit {name} must be a positive number, not {value!r}")
    return float(value)


class RateLimits:
    """The client's ``rate_limit=``: which :class:`RateLimit` governs a host (or none)."""

    __slots__ = ("_by_host", "_cache", "_default", "_patterns")

    def __init__(
        self,
        by_host: Mapping[str, RateLimit],
        patterns: tuple[tuple[str, RateLimit], ...],
        default: RateLimit | None,
    ) -> None:
        self._by_host = dict(by_host)
        self._patterns = patterns
        self._default = default
        self._cache: dict[str, RateLimit | None] = {}

    def for_host(self, host: str) -> RateLimit | None:
        """The limit for ``host`` (lower case): its own entry, else the first ``*.domain``
        pattern that matches, else ``"*"``'s."""
        host = host.rstrip(".")  # example.com. is example.com
        try:
            return self._cache[host]
        except KeyError:
            pass
        found = self._by_host.get(host)
        if found is None:
            found = next(
                (limit for pattern, limit in self._patterns if fnmatch.fnmatchcase(host, pattern)),
                self._default,
            )
        if len(self._cache) < 4096:  # hosts seen, bounded: a crawl meets many
            self._cache[host] = found
        return found

    def __repr__(self) -> str:
        entries = [*self._by_host.items(), *self._patterns]
        if self._default is not None:
            entries.append(("*", self._default))
        return "{" + ", ".join(f"{host!r}: {limit!r}" for host, limit in entries) + "}"


def to_rate_limits(value: object) -> RateLimits | None:
    """``rate_limit=`` checked: None, a number (requests per second per origin), a
    :class:`RateLimit`, or a mapping of host (``"api.example.com"``, ``"*.example.com"``,
    ``"*"`` for the rest) to a RateLimit or a number.

    Raises:
        TypeError, ValueError: naming the entry that is wrong.
    """
    if value is None:
        return None
    if isinstance(value, (RateLimit, int, float)) and not isinstance(value, bool):
        return RateLimits({}, (), _one("rate_limit", value))
    if not isinstance(value, Mapping):
        raise TypeError(
            "rate_limit must be a number (requests per second), a mylib.RateLimit or a dict "
            f"of host -> RateLimit, not {type(value).__name__}"
        )
    by_host: dict[str, RateLimit] = {}
    patterns: list[tuple[str, RateLimit]] = []
    default = None
    for host, limit in value.items():
        if not isinstance(host, str) or not host:
            raise TypeError(f"rate_limit keys must be host names, not {host!r}")
        one = _one(f"rate_limit[{host!r}]", limit)
        key = host.strip().lower().rstrip(".")
        if key.startswith("[") and key.endswith("]"):
            key = key[1:-1]  # an IPv6 literal as written in URLs
        if key == "*":
            default = one
        elif key.startswith("*."):
            patterns.append((key, one))
        elif "*" in key or "/" in key or (":" in key and not _is_ip(key)):
            raise ValueError(
                f"rate_limit key {host!r} is not a host name, '*.domain' or '*' (ports and "
                "schemes are not part of it: the limit applies to each origin of the host)"
            )
        else:
            by_host[key] = one
    # The most specific pattern first: "*.api.example.com" before "*.example.com".
    patterns.sort(key=lambda item: -len(item[0]))
    return RateLimits(by_host, tuple(patterns), default)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _one(name: str, value: object) -> RateLimit:
    if isinstance(value, RateLimit):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return RateLimit(value)
    raise TypeError(
        f"{name} must be a mylib.RateLimit or a number of requests per second, "
        f"not {type(value).__name__}"
    )
