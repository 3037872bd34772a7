"""Retry policy: which failures are worth another attempt, and how long to wait first."""

from __future__ import annotations

import email.utils
import random
import time

from ._errors import ConnectError, RemoteProtocolError, TLSError
from ._models import Response, Retry

__all__ = ["retry_delay", "should_retry_error"]


def should_retry_error(exc: BaseException) -> bool:
    """Connection failures (nothing was sent, including a connect timeout, or the server
    dropped a kept-alive connection) are retried; read timeouts and errors mid-body are not,
    since the server may have acted. A failed TLS check is not retried either: a certificate
    that did not verify will not verify a moment later."""
    if isinstance(exc, TLSError):
        return False
    if isinstance(exc, ConnectError):
        return True
    return isinstance(exc, RemoteProtocolError) and not isinstance(exc, TimeoutError)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retry_delay(retry: Retry, attempt: int, response: Response | None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based)."""
    if response is not None and retry.respect_retry_after:
        after = parse_retry_after(response.headers.get("Retry-After"))
        if after is not None:
            return min(after, retry.max_backoff)
    backoff = retry.backoff_factor * (2 ** (attempt - 1))
    # Full jitter keeps many clients that failed together from retrying together.
    return min(retry.max_backoff, random.uniform(0, backoff))
