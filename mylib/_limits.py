"""Limits: the connection pool's size and how long idle connections are kept."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits", "describe_limit"]


def _check_count(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Limits {name} must be an int or None, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"Limits {name} must be 1 or more (None for no limit), not {value}")
    return value


@dataclass(frozen=True, slots=True)
class Limits:
    """The connection pool of a client's engine: how many connections it opens, and how long
    it keeps an idle one for the next request.

    Examples::

        Limits(max_connections=10)                  # at most 10 connections in all
        Limits(max_connections_per_host=2)          # ... and at most 2 to any one host
        Limits(keepalive_expiry=0)                  # a new connection for every request

    A request that finds every connection it may use busy waits for one to become free, and
    each such wait is logged at DEBUG. It waits as long as ``Timeout.pool`` allows
    (:class:`PoolTimeout`), and never past ``Timeout.total`` (whose :class:`TimeoutError`
    then says it was waiting for the pool); with neither, it ends with a PoolTimeout once
    no connection was released and none of the busy ones received a byte for
    ``Timeout.read`` (a stream left open and unread holds its connection).
    ``map(concurrency=...)`` above the limit is fine: the extra requests queue for
    connections, which keep coming free.

    Args:
        max_connections: Connections open at once, in all (``None``: no limit). Default 100.
        max_connections_per_host: Connections open at once to one (scheme, host, port)
            (``None``: only ``max_connections`` applies). Default None.
        keepalive_expiry: Seconds an idle connection is kept for reuse (``0``: none is
            kept; ``None``: until the server closes it). Default 15. Each SOCKS proxy a
            client uses has a pool of its own with these limits.

    Raises:
        TypeError: a value of the wrong type.
        ValueError: a count below 1, or a negative or infinite expiry.
    """

    max_connections: int | None = 100
    max_connections_per_host: int | None = None
    keepalive_expiry: float | None = 15.0

    def __post_init__(self) -> None:
        _check_count("max_connections", self.max_connections)
        _check_count("max_connections_per_host", self.max_connections_per_host)
        expiry = self.keepalive_expiry
        if expiry is not None:
            if isinstance(expiry, bool) or not isinstance(expiry, (int, float)):
                raise TypeError(
                    "Limits keepalive_expiry must be a number of seconds or None, "
                    f"not {type(expiry).__name__}"
                )
            if not math.isfinite(expiry) or expiry < 0:
                raise ValueError(
                    "Limits keepalive_expiry must be 0 or more seconds (None: until the "
                    f"server closes it), not {expiry!r}"
                )
            object.__setattr__(self, "keepalive_expiry", float(expiry))

    @classmethod
    def coerce(cls, value: object) -> Limits:
        """``value`` if it is a Limits, the default for None.

        Raises:
            TypeError: anything else.
        """
        if value is None:
            return DEFAULT_LIMITS
        if not isinstance(value, Limits):
            raise TypeError(f"limits must be a mylib.Limits, not {type(value).__name__}")
        return value


#: aiohttp's own defaults: 100 connections, no per-host limit, 15 s of keep-alive.
DEFAULT_LIMITS = Limits()


def describe_limit(limits: Limits, per_host: bool) -> str:
    """The limit that made a request wait, in words (for messages and the log)."""
    if per_host and limits.max_connections_per_host is not None:
        return f"Limits(max_connections_per_host={limits.max_connections_per_host})"
    return f"Limits(max_connections={limits.max_connections})"
