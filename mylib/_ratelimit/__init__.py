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
import collections
import fnmatch
import ipaddress
import math
import numbers
import re
import threading
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import TimeoutError, redact_url
from .._logging import log_rate_wait

if TYPE_CHECKING:
    from .._models import Request
    from .redis import RedisStore

__all__ = ["RateLimit", "RateLimits", "fresh_rate_limit_locks", "to_rate_limits"]

#: An origin: (scheme, host, port).
Origin = tuple[str, str, int]


class _State:
    __slots__ = ("gone_tat", "paused_until", "pending", "recent", "shift", "tat")

    def __init__(self, window: int) -> None:
        self.tat = 0.0  # the theoretical arrival time of the next request (GCRA)
        self.paused_until = 0.0
        #: Seconds the server's pauses have moved every waiter on by, in all.
        self.shift = 0.0
        #: Reservations whose requests have neither gone nor been cancelled.
        self.pending = 0
        #: ``tat`` as it was after the latest reservation whose request went.
        self.gone_tat = 0.0
        #: When the last ``window`` reservations go (the sliding window's memory).
        self.recent: collections.deque[float] | None = (
            collections.deque(maxlen=window) if window else None
        )


class _TooLate(Exception):
    """A slot later than the caller's deadline (nothing was reserved)."""

    def __init__(self, wait: float, paused: bool) -> None:
        super().__init__(wait, paused)
        self.wait = wait
        self.paused = paused


#: A host name as a key of ``rate_limit={...}`` (lower case, no trailing dot).
_LABEL = r"\w(?:[\w-]*\w)?"  # (\w: letters of any script, digits, underscores)
_HOST_KEY = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
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
    ``per / rate`` seconds, and never more than ``rate`` (or ``burst``, if larger) within
    any ``per`` seconds, as an API's "10 requests per second" means. Every attempt takes a
    slot (retries and redirects too), from every thread, every ``map`` and every client
    given this same object (copies are the same object): share one RateLimit to share one
    budget. Waiting for a slot counts against the request's total timeout (not against
    ``response.elapsed``, which times the exchange), is cancelled by Ctrl-C, and is logged
    at DEBUG.

    **It listens to the server**: a ``429``/``503`` with ``Retry-After`` pauses the origin
    (all of it: an API with separate quotas per resource pauses as a whole) for every
    waiter until then, and ``RateLimit``/``RateLimit-Remaining``/
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
            the ``redis`` package: ``pip install redis``.

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
        elif isinstance(burst, bool) or not isinstance(burst, numbers.Integral):
            raise TypeError(f"RateLimit burst must be an int, not {type(burst).__name__}")
        elif burst < 1:
            raise ValueError(f"RateLimit burst must be 1 or more, not {burst}")
        self._burst = int(burst)
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

    @property
    def _window(self) -> int:
        """How many requests the sliding window allows per :attr:`_span`."""
        return max(int(self._rate), self._burst)

    @property
    def _span(self) -> float:
        """The sliding window's length: ``per`` and a margin (1 %, at most 50 ms), so that
        the network's jitter cannot bunch ``window + 1`` requests into one of the server's
        windows of ``per`` seconds."""
        return self._per + min(0.01 * self._per, 0.05)

    async def _wait_turn(self, origin: Origin, request: Request, deadline: float | None) -> None:
        """Wait until ``request`` may go to ``origin`` (each wait logged as it begins).

        Raises:
            TimeoutError: its turn comes after ``deadline`` (loop time); it did not wait.
        """
        if self._redis is not None:
            return await self._wait_turn_shared(origin, request, deadline)
        interval = self._interval
        loop = asyncio.get_running_loop()
        latest = None if deadline is None else deadline - loop.time()
        try:
            at, slot, shift = self._reserve(origin, interval, latest)
        except _TooLate as late:
            raise _too_late(self, request, late.wait, late.paused) from None
        if not slot:
            return None  # its turn is now (the common case: no waiting, nothing to undo)
        went = False
        try:
            while True:
                with self._lock:
                    state = self._states[origin]
                    # A pause the server asked for since then moved every waiter on as much.
                    target = at + state.shift - shift
                    paused = state.paused_until > time.monotonic()
                wait = target - time.monotonic()
                if wait <= 0:
                    went = True
                    return None
                if deadline is not None and loop.time() + wait > deadline:
                    raise _too_late(self, request, wait, paused)
                log_rate_wait(request.method, request.url.parsed, wait, self, paused)
                await asyncio.sleep(wait)
        finally:
            self._done(origin, slot, interval, shift, went)

    def _reserve(
        self, origin: Origin, interval: float, latest: float | None
    ) -> tuple[float, float, float]:
        """Take the origin's next slot: (when it may go, the slot's arrival time, the
        origin's pause shift then), all on ``time.monotonic()``; an arrival time of 0.0
        means it goes now and is done with (nothing to wait for or give back).

        Raises:
            _TooLate: it would go later than ``latest`` seconds from now (nothing taken).
        """
        tolerance = interval * (self._burst - 1)
        with self._lock:
            now = time.monotonic()
            state = self._states.get(origin)
            if state is None:
                state = self._new_state(origin, now)
            tat = max(state.tat, now)
            at = max(tat - tolerance, now)
            recent = state.recent
            if recent is not None:
                span = self._span
                while recent and recent[0] + span <= now:
                    recent.popleft()  # out of the window: it holds the last ``span`` only
            if recent is not None and len(recent) == recent.maxlen and recent[0] + span > at:
                # The bucket would let this one go, but it would make more than the window
                # allows within ``per`` seconds: it goes when the oldest of them leaves it,
                # and the bucket is spent (the rest follow at the steady pace).
                at = recent[0] + span
                tat = at + tolerance
            if latest is not None and at - now > max(latest, 0.0):
                raise _TooLate(at - now, state.paused_until > now)
            state.tat = tat + interval
            if recent is not None:
                recent.append(at)
            if at <= now:
                state.gone_tat = max(state.gone_tat, tat + interval)
                return at, 0.0, state.shift
            state.pending += 1
            return at, tat, state.shift

    def _done(self, origin: Origin, slot: float, interval: float, shift: float, went: bool) -> None:
        """A reserved request went, or was cancelled: a cancelled one's slot is given back
        when nobody reserved after it, or when nobody else is waiting at all (Ctrl-C on a
        ``map`` cancels every waiter: the next request then goes as if none had waited)."""
        with self._lock:
            state = self._states[origin]
            state.pending -= 1
            moved = state.shift - shift
            if went:
                state.gone_tat = max(state.gone_tat, slot + interval + moved)
                return
            if state.pending == 0:  # nobody waits any more: as if none had
                now = time.monotonic()
                state.tat = state.gone_tat
                if state.paused_until > now:  # the server's pause stays
                    empty = state.paused_until + interval * (self._burst - 1)
                    state.tat = max(state.tat, empty)
                if state.recent:
                    kept = [at for at in state.recent if at <= now]  # those that went
                    state.recent.clear()
                    state.recent.extend(kept)
            elif not moved and state.tat == slot + interval:  # the last one reserved
                state.tat = slot
                if state.recent:
                    state.recent.pop()

    def _new_state(self, origin: Origin, now: float) -> _State:
        if len(self._states) >= self._prune_at:
            # Origins whose last slot and pause are past hold nothing: a crawl meets many.
            for key in [
                k
                for k, v in self._states.items()
                if not v.pending and max(v.tat, v.paused_until) < now
            ]:
                del self._states[key]
            self._prune_at = max(_PRUNE_AT, 2 * len(self._states))
        state = self._states[origin] = _State(self._window)
        return state

    async def _pause(self, origin: Origin, seconds: float) -> None:
        """The server asked for no requests to ``origin`` for ``seconds``: every waiter
        moves on by the time the pause adds (keeping their order), and the bucket starts
        empty after it (no burst straight into another 429)."""
        if self._redis is not None:
            await self._redis.pause(
                self._budget_key, origin, seconds, self._interval * (self._burst - 1)
            )
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
            if state.recent:
                moved = [at + added if at > now else at for at in state.recent]
                state.recent.clear()
                state.recent.extend(moved)

    async def _wait_turn_shared(
        self, origin: Origin, request: Request, deadline: float | None
    ) -> None:
        """:meth:`_wait_turn` with the budget in Redis: a pause found on waking means
        reserving again, after it."""
        assert self._redis is not None
        interval = self._interval
        tolerance = interval * (self._burst - 1)
        loop = asyncio.get_running_loop()
        while True:
            latest = None if deadline is None else deadline - loop.time()
            wait, taken, paused = await self._redis.reserve(
                self._budget_key, origin, interval, tolerance, self._window, self._span, latest
            )
            if not taken:
                raise _too_late(self, request, wait, paused)
            if wait <= 0:
                return None
            log_rate_wait(request.method, request.url.parsed, wait, self, paused)
            await asyncio.sleep(wait)
            if await self._redis.paused_for(origin) <= 0:
                return None

    @property
    def _budget_key(self) -> str:
        """What tells this limit's budget in a shared store from other limits' budgets for
        the same origin (its settings); the server's pauses are the origin's, shared."""
        return f"{self._rate:g}/{self._per:g}/{self._burst}"

    def __copy__(self) -> RateLimit:
        return self  # one budget: a copy of a configuration must not double the rate

    def __deepcopy__(self, memo: dict[int, Any]) -> RateLimit:
        return self


def _rebuild(rate: float, per: float, burst: int, store: str | None) -> RateLimit:
    return RateLimit(rate, per, burst=burst, store=store)


def _too_late(limit: RateLimit, request: Request, wait: float, paused: bool) -> TimeoutError:
    why = (
        "the server asked for a pause in requests to this origin (429 with Retry-After, or "
        "a quota at zero), and it ends"
        if paused
        else f"{limit!r} allows the next request to this origin"
    )
    return TimeoutError(
        f"timed out waiting for the rate limit ({request.method} "
        f"{redact_url(request.url)}): {why} only in {wait:.2f} s, after this request's "
        "total timeout; nothing was sent",
        request=request,
    )


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"RateLimit {name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"RateLimit {name} must be a positive number, not {value!r}")
    return number


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
    if isinstance(value, (RateLimit, numbers.Real)) and not isinstance(value, bool):
        return RateLimits({}, (), _one("rate_limit", value))
    if not isinstance(value, Mapping):
        raise TypeError(
            "rate_limit must be a number (requests per second), a mylib.RateLimit or a dict "
            f"of host -> RateLimit, not {type(value).__name__}"
        )
    by_host: dict[str, RateLimit] = {}
    patterns: list[tuple[str, RateLimit]] = []
    seen: dict[str, str] = {}
    default = None
    for host, limit in value.items():
        if not isinstance(host, str) or not host:
            raise TypeError(f"rate_limit keys must be host names, not {host!r}")
        one = _one(f"rate_limit[{host!r}]", limit)
        key = host.strip().lower().rstrip(".")
        if key.startswith("[") and key.endswith("]"):
            key = key[1:-1]  # an IPv6 literal as written in URLs
        if key in seen:
            raise ValueError(f"rate_limit names {host!r} twice (as {seen[key]!r} too)")
        seen[key] = host
        if key == "*":
            default = one
        elif key.startswith("*.") and _HOST_KEY.fullmatch(key[2:]):
            patterns.append((key, one))
        elif _HOST_KEY.fullmatch(key) or _is_ip(key):
            by_host[key] = one
        else:
            raise ValueError(
                f"rate_limit key {host!r} is not a host name, '*.domain' or '*' (ports and "
                "schemes are not part of it: the limit applies to each origin of the host)"
            )
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
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return RateLimit(float(value))
    raise TypeError(
        f"{name} must be a mylib.RateLimit or a number of requests per second, "
        f"not {type(value).__name__}"
    )
