"""SOCKS proxies for the aiohttp transport, through aiohttp-socks (``pip install
aiohttp-socks``; the ``socks`` extra; imported only when a SOCKS proxy is used).

Each SOCKS proxy gets a pool of its own (a connector connects through one proxy): the
transport keeps one session per proxy URL and loop. Two things differ from aiohttp-socks
used alone, and why:

* **mylib's connection protocol**: aiohttp-socks makes its own protocol for a connection it
  opened; :class:`~mylib._transports.aiohttp._Handler` is swapped in (keeping theirs, which
  holds the stream writer that must live as long as the connection), so a connection
  through a proxy gets the same checks as a direct one (``Timeout.headers``, bodies after
  bodiless responses, resends on stale connections).
* **Errors**: every failure to connect through the proxy becomes a mylib error raised with
  no chained exception, since the chained ones (python-socks's, a ``UnicodeEncodeError``
  of the credentials) can carry the proxy's password in their arguments.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from typing import Any

from aiohttp.client_proto import ResponseHandler
from yarl import URL

from .._errors import (
    ConnectError,
    ConnectTimeout,
    Error,
    ProxyError,
    TLSError,
    redact_text,
    redact_url,
)
from .aiohttp import SENDING, _Connector, _Handler

__all__ = ["require_socks", "socks_connector"]


def require_socks() -> None:
    """Raise ImportError naming the extra when aiohttp-socks is missing."""
    try:
        import aiohttp_socks  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "a SOCKS proxy needs the aiohttp-socks package, which is not installed; install "
            "it with pip install aiohttp-socks"
        ) from exc


def socks_connector(proxy: str, **pool: Any) -> _Connector:
    """A pool whose connections go through the SOCKS proxy at ``proxy``."""
    connector = _connector_class()(**pool, **_settings(proxy))
    connector.proxy_url = proxy  # type: ignore[attr-defined]  # (_SocksConnector's)
    return connector


_SSLError = ssl.SSLError  # (the method below has a parameter named ssl)


@functools.cache
def _connector_class() -> type[_Connector]:
    """:class:`_Connector` through a SOCKS proxy (aiohttp-socks, imported on first use)."""
    import aiohttp_socks

    class _SocksConnector(_Connector, aiohttp_socks.ProxyConnector):
        r"""The pool of one SOCKS proxy. Its connections get mylib's protocol (the checks of
        :class:`_Handler`) like direct ones, and its failures are mylib errors naming the
        proxy without its credentials."""

        proxy_url = ""

        async def _connect_via_proxy(
            self, host: str, port: int, ssl: Any = None, timeout: float | None = None
        ) -> tuple[asyncio.Transport, ResponseHandler]:
            request = SENDING.get()
            try:
                transport, theirs = await super()._connect_via_proxy(host, port, ssl, timeout)
            except Exception as exc:
                failure = _failure(exc, self.proxy_url, host, port)
                if failure is None:
                    raise
                failure.request = request
                error: Error | None = failure
            else:
                error = None
            if error is not None:
                # Raised outside the except block, so that no chained exception (whose
                # frames and arguments may hold the proxy's password) goes with it.
                raise error
            ours: _Handler = self._factory()  # type: ignore[assignment]
            # aiohttp-socks's protocol holds the stream writer, which must live as long as
            # the connection; ours holds it in turn.
            ours.socks_protocol = theirs
            transport.set_protocol(ours)
            ours.connection_made(transport)
            return transport, ours

    return _SocksConnector


def _failure(exc: Exception, proxy: str, host: str, port: int) -> Error | None:
    """The mylib error for a failure to connect through a SOCKS proxy, or None (not one)."""
    import python_socks

    where = f"{redact_url(proxy)} to {host}:{port}"
    detail = redact_text(str(exc)) or type(exc).__name__
    if isinstance(exc, python_socks.ProxyTimeoutError):
        return ConnectTimeout(f"timed out connecting through the SOCKS proxy {where}: {detail}")
    if isinstance(exc, (python_socks.ProxyError, python_socks.ProxyConnectionError)):
        return ProxyError(f"proxy failed (SOCKS {where}): {detail}")
    if isinstance(exc, _SSLError):  # the TLS handshake with the target, through the proxy
        return TLSError(f"TLS failed ({host}:{port}, through {redact_url(proxy)}): {detail}")
    if isinstance(exc, socket.gaierror):  # socks5:// and socks4:// resolve names here
        return ConnectError(f"could not connect ({host}): name not resolved: {detail}")
    if isinstance(exc, EOFError):
        # A proxy that refuses (wrong credentials, a target it will not reach) may just
        # close the connection mid-handshake.
        return ProxyError(
            f"proxy failed (SOCKS {where}): the proxy closed the connection during the SOCKS "
            "handshake; are its credentials right?"
        )
    if isinstance(exc, OSError):
        return ProxyError(f"proxy failed (SOCKS {where}): {type(exc).__name__}: {detail}")
    if isinstance(exc, (UnicodeError, ValueError)):
        # The target's name cannot be sent (an IDNA label over 63 characters), or the
        # credentials cannot (checked when the proxy is given; this is the backstop).
        return ProxyError(
            f"proxy failed (SOCKS {where}): the SOCKS request could not be encoded "
            f"({type(exc).__name__})"
        )
    return None


def _settings(proxy: str) -> dict[str, Any]:
    import python_socks

    url = URL(proxy)
    kind = url.scheme.lower()
    return {
        "proxy_type": python_socks.ProxyType.SOCKS4
        if kind.startswith("socks4")
        else python_socks.ProxyType.SOCKS5,
        "host": url.host,
        "port": url.port or 1080,
        "username": url.user,
        "password": url.password,
        # socks5h and socks4a: the proxy resolves the name (as curl spells it).
        "rdns": kind in ("socks5h", "socks4a"),
    }
