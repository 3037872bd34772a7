"""What a server says about its rate limit, read from a response's headers.

Three families, all read the same way (how long until a request may go again):

* ``429 Too Many Requests`` or ``503 Service Unavailable`` with ``Retry-After`` (seconds or
  an HTTP date; RFC 9110): the origin is paused for that long.
* The IETF httpapi drafts: ``RateLimit: "default";r=0;t=30`` (the structured-field form,
  ``r`` requests remaining in the window, ``t`` seconds until it resets; several policies
  may be listed, the tightest binds), the earlier ``RateLimit: limit=100, remaining=0,
  reset=30``, and ``RateLimit-Remaining``/``RateLimit-Reset``; ``RateLimit-Policy``'s
  window ``w`` stands in for a missing reset.
* The common ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` (GitHub, Twitter and many
  more), whose reset is seconds from now or, for values that can only be that, a Unix time
  in seconds or milliseconds.

At zero remaining the origin waits for the reset: the slow-down comes *before* a 429.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping

__all__ = ["MAX_WAIT", "parse_retry_after", "server_wait"]

#: The longest pause a server's headers can impose (a day): a value beyond it is a server's
#: mistake (a reset given in the wrong unit), not a plan to wait for, and is ignored.
MAX_WAIT = 86_400.0
#: Resets above this are Unix times, not seconds from now (2001-09-09 and later).
_EPOCH = 1_000_000_000
_EARLIER_DRAFT = re.compile(r"\bremaining\s*=", re.IGNORECASE)
_PARAM = re.compile(r"(?:^|[;,\s])([a-z]+)\s*=\s*\"?(-?[0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # ("²".isdigit() is true, and no number)
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def server_wait(status: int, headers: Mapping[str, str]) -> tuple[float | None, str] | None:
    """``(seconds, why)`` the origin should wait before its next request, or None when the
    server said nothing of it. A wait the server asked for that cannot be meant (longer
    than :data:`MAX_WAIT`, negative, not a number) comes back as ``(None, why)``: ignored,
    and worth a log line."""
    if status in (429, 503) and "Retry-After" in headers:
        value = headers.get("Retry-After", "")
        after = parse_retry_after(value)
        if after is not None and after <= MAX_WAIT:
            return after, f"{status} with Retry-After"
        return None, f"{status} with Retry-After: {value[:40]!r}"
    remaining, reset, field = _quota(headers)
    if remaining is None or remaining > 0:
        return None
    if reset is None or not 0 <= reset <= MAX_WAIT:
        return None, f"{field} 0 with a reset of {reset!r}"
    return reset, f"{field} 0"


def _quota(headers: Mapping[str, str]) -> tuple[float | None, float | None, str]:
    """(remaining, seconds to reset, the header that said so), from whichever family the
    server sends."""
    field = headers.get("RateLimit")
    if field:
        remaining, reset = _structured(field)
        if remaining is not None:
            return remaining, reset if reset is not None else _policy_window(headers), (
                "RateLimit remaining"
            )
    for prefix in ("RateLimit-", "X-RateLimit-"):
        value = headers.get(prefix + "Remaining")
        if value is None:
            continue
        remaining_value = _number(value)
        if remaining_value is None:
            continue
        reset_value = _number(headers.get(prefix + "Reset", ""))
        if reset_value is not None and reset_value > _EPOCH:
            # a Unix time (seconds, or milliseconds when it is that large)
            now = time.time()
            reset_value = (reset_value / 1000 if reset_value > _EPOCH * 1000 else reset_value) - now
        if reset_value is None:
            reset_value = _policy_window(headers)
        return remaining_value, reset_value, prefix + "Remaining"
    return None, None, ""


def _structured(field: str) -> tuple[float | None, float | None]:
    """The tightest policy of a ``RateLimit`` field, either draft's syntax."""
    if _EARLIER_DRAFT.search(field):  # limit=100, remaining=0, reset=30: one policy
        params = {name.lower(): float(value) for name, value in _PARAM.findall(field)}
        return params.get("remaining"), params.get("reset")
    # Several policies ("burst";r=0;t=1, "daily";r=90;t=3600): the tightest binds, and
    # of those at zero the one whose reset comes last.
    lowest: float | None = None
    resets: list[float] = []
    for policy in field.split(","):
        params = {name.lower(): float(value) for name, value in _PARAM.findall(policy)}
        remaining = params.get("r")
        if remaining is None:
            continue
        if lowest is None or remaining < lowest:
            lowest = remaining
        if remaining <= 0 and "t" in params:
            resets.append(params["t"])
    if lowest is not None and lowest > 0:
        return lowest, None
    return lowest, max(resets) if resets else None


def _policy_window(headers: Mapping[str, str]) -> float | None:
    policy = headers.get("RateLimit-Policy")
    if not policy:
        return None
    windows = [float(v) for name, v in _PARAM.findall(policy) if name.lower() == "w"]
    return min(windows) if windows else None


def _number(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number else None  # NaN is no number
