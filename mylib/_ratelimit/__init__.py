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
  (Ctrl-C, a timeout) gives its slot back if nobody took one after it.
* **Waiting is part of the request**: it runs inside the call's total timeout, and a slot
  that would come only after the call's deadline is not taken: the call fails at once
  with a :class:`~mylib.TimeoutError` that says so (rather than sleeping until it expires).
* **The server's word pauses the origin for everyone**: a 429/503 with ``Retry-After``, or
  a quota header at zero remaining (``server.py``), moves the origin's pause to then. New
  reservations start after it, and waiters who reserved earlier check it when they wake
  and reserve again, so nobody goes before the pause ends.
* **Shared across processes**: with ``store=`` a Redis URL the same algorithm runs as one
  atomic Lua script on the Redis server's clock (``redis.py``); the pause is kept there
  too. The local state is then unused.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import TimeoutError, redact_url
from .._logging import log_rate_wait

if TYPE_CHECKING:
    from yarl import URL

    from .redis import RedisStore

__all__ = ["RateLimit", "RateLimits", "to_rate_limits"]

#: An origin: (scheme, host, port).
Origin = tuple[str, str, int]


class _State:
    __slots__ = ("paused_until", "tat")

    def __init__(self) -> None:
        self.tat = 0.0  # the theoretical arrival time of the next request (GCRA)
        self.paused_until = 0.0


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

    __slots__ = ("__weakref__", "_burst", "_lock", "_per", "_rate", "_redis", "_states", "_store")

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
        self._redis: RedisStore | None = None
        if store is not None:
            from .redis import RedisStore

            self._redis = RedisStore(store)

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

    async def wait_turn(
        self, origin: Origin, method: str, url: URL, deadline: float | None
    ) -> float:
        """Wait until a request to ``origin`` may go (each wait logged as it begins); the
        seconds waited.

        Raises:
            TimeoutError: the next slot comes after ``deadline`` (loop time); nothing waited.
        """
        interval = self._interval
        tolerance = interval * (self._burst - 1)
        loop = asyncio.get_running_loop()
        waited = 0.0
        while True:
            latest = None if deadline is None else deadline - loop.time()
            if self._redis is not None:
                wait, taken = await self._redis.reserve(origin, interval, tolerance, latest)
                slot = None
            else:
                wait, slot = self._reserve(origin, interval, tolerance, latest)
                taken = slot is not None
            if not taken:
                raise _too_late(self, url, wait)
            if wait <= 0:
                return waited
            log_rate_wait(method, url, wait, self)
            try:
                await asyncio.sleep(wait)
            except asyncio.CancelledError:
                if slot is not None:
                    self._give_back(origin, slot, interval)
                raise
            waited += wait
            paused = (
                await self._redis.paused_for(origin)
                if self._redis is not None
                else self._states[origin].paused_until - time.monotonic()
            )
            if paused <= 0:
                return waited
            # The server paused the origin while this request slept: reserve again, after it.

    def _reserve(
        self, origin: Origin, interval: float, tolerance: float, latest: float | None
    ) -> tuple[float, float | None]:
        """(seconds to wait, the slot's arrival time), or (seconds, None) when the slot
        would come later than ``latest`` seconds from now: then nothing is reserved."""
        with self._lock:
            now = time.monotonic()
            state = self._states.get(origin)
            if state is None:
                state = self._states[origin] = _State()
            start = max(now, state.paused_until)
            tat = max(state.tat, start)
            wait = max(tat - tolerance, start) - now
            if latest is not None and wait > 0 and wait > latest:
                return wait, None
            state.tat = tat + interval
            return wait, tat

    def _give_back(self, origin: Origin, slot: float, interval: float) -> None:
        with self._lock:
            state = self._states[origin]
            if state.tat == slot + interval:  # nobody reserved after this one
                state.tat = slot

    async def pause(self, origin: Origin, seconds: float) -> None:
        """The server asked for no requests to ``origin`` for ``seconds``."""
        if self._redis is not None:
            await self._redis.pause(origin, seconds)
            return
        with self._lock:
            state = self._states.get(origin)
            if state is None:
                state = self._states[origin] = _State()
            state.paused_until = max(state.paused_until, time.monotonic() + seconds)


def _rebuild(rate: float, per: float, burst: int, store: str | None) -> RateLimit:
    return RateLimit(rate, per, burst=burst, store=store)


def _too_late(limit: RateLimit, url: URL, wait: float) -> TimeoutError:
    return TimeoutError(
        f"timed out waiting for the rate limit: {limit!r} allows the next request to "
        f"{redact_url(url)} only in {wait:.2f} s, after this request's total timeout"
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
        key = host.strip().lower()
        if key == "*":
            default = one
        elif key.startswith("*."):
            patterns.append((key, one))
        elif "*" in key or "/" in key or ":" in key:
            raise ValueError(
                f"rate_limit key {host!r} is not a host name, '*.domain' or '*' (ports and "
                "schemes are not part of it: the limit applies to each origin of the host)"
            )
        else:
            by_host[key.rstrip(".")] = one
    # The most specific pattern first: "*.api.example.com" before "*.example.com".
    patterns.sort(key=lambda item: -len(item[0]))
    return RateLimits(by_host, tuple(patterns), default)


def _one(name: str, value: object) -> RateLimit:
    if isinstance(value, RateLimit):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return RateLimit(value)
    raise TypeError(
        f"{name} must be a mylib.RateLimit or a number of requests per second, "
        f"not {type(value).__name__}"
    )
