"""Debug logging on the ``"mylib"`` logger: method, URL, status, elapsed. Never bodies,
headers or secrets: the URL loses its user info, and query values whose names look like
credentials (``token``, ``api_key``, ``password``, ``signature``, ...) are masked.

Turn it on with ``logging.basicConfig()`` and
``logging.getLogger("mylib").setLevel(logging.DEBUG)``.
"""

from __future__ import annotations

import logging

from yarl import URL

from ._errors import redact_url

__all__ = ["logger", "safe_url"]

logger = logging.getLogger("mylib")

def safe_url(url: URL) -> str:
    """The URL for a log line: no user info, secret-looking query values replaced by ``***``."""
    return redact_url(url)


def log_request(method: str, url: URL, attempt: int) -> None:
    """``HTTP Request: GET https://h/x`` (with the attempt number when retrying)."""
    if logger.isEnabledFor(logging.DEBUG):
        again = f" (attempt {attempt})" if attempt > 1 else ""
        logger.debug("HTTP Request: %s %s%s", method, safe_url(url), again)


def log_response(method: str, url: URL, status: int, reason: str, elapsed: float) -> None:
    """``HTTP Response: GET https://h/x "200 OK" in 0.012 s``."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            'HTTP Response: %s %s "%d %s" in %.3f s',
            method, safe_url(url), status, reason, elapsed,
        )


def log_retry(method: str, url: URL, why: str, delay: float) -> None:
    """``Retrying GET https://h/x after 503 in 0.40 s``."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("Retrying %s %s after %s in %.2f s", method, safe_url(url), why, delay)


def log_failure(method: str, url: URL, error: BaseException, attempts: int) -> None:
    """``GET https://h/x failed after 3 attempts: ConnectError: connection refused ...``:
    the last failure, logged like the retries before it."""
    if logger.isEnabledFor(logging.DEBUG):
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        logger.debug("%s %s failed%s: %s: %s", method, safe_url(url), tries,
                     type(error).__name__, error)  # fmt: skip


def log_pool_wait(where: str, limit: str) -> None:
    """``Waiting for a free connection to h:443: all Limits(...) are in use``."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("Waiting for a free connection to %s: all %s are in use", where, limit)


def log_rate_wait(method: str, url: URL, wait: float, limit: object, paused: bool) -> None:
    """``GET https://h/x waits 0.40 s for its turn under mylib.RateLimit(...)`` (or for the
    end of the pause the server asked for)."""
    if logger.isEnabledFor(logging.DEBUG):
        why = "the end of the server's pause" if paused else f"its turn under {limit!r}"
        logger.debug("%s %s waits %.2f s for %s", method, safe_url(url), wait, why)


def log_rate_pause(url: URL, why: str, seconds: float) -> None:
    """``Pausing requests to https://h:443 for 1.00 s: the server sent 429 with Retry-After``."""
    if logger.isEnabledFor(logging.DEBUG):
        where = url.origin() if url.host else url
        logger.debug(
            "Pausing requests to %s for %.2f s: the server sent %s", safe_url(where), seconds, why
        )


def log_rate_ignored(url: URL, why: str) -> None:
    """``Not pausing requests to https://h:443: the server sent 429 with Retry-After: '1e9'``."""
    if logger.isEnabledFor(logging.DEBUG):
        where = url.origin() if url.host else url
        logger.debug(
            "Not pausing requests to %s: the server sent %s, which cannot be meant",
            safe_url(where), why,
        )  # fmt: skip


def log_resend(method: str, url: URL) -> None:
    """``Sending GET https://h/x again: the server had closed the kept-alive connection``."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "Sending %s %s again on another connection: the server had closed the "
            "kept-alive connection it went out on, before answering",
            method, safe_url(url),
        )  # fmt: skip


def log_cache(method: str, url: URL, what: str) -> None:
    """``Cache hit: GET https://h/x`` (or ``miss``, ``stale, revalidating``, ...)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("Cache %s: %s %s", what, method, safe_url(url))


def log_cache_problem(message: str) -> None:
    """A store that failed (the request went to the network instead), in one line."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("Cache: %s", message)
