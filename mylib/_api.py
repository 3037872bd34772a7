"""Module-level helpers: ``mylib.get(url)`` and friends over one lazily made default Client."""

from __future__ import annotations

import threading
from typing import Unpack

from ._client import Client
from ._models import Response
from ._types import RequestOptions, URLTypes

__all__ = ["delete", "get", "head", "options", "patch", "post", "put", "request"]

_default: Client | None = None
_default_lock = threading.Lock()


def _client() -> Client:
    global _default
    client = _default
    if client is None:
        with _default_lock:
            if _default is None:
                _default = Client()
            client = _default
    return client


def request(method: str, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
    """Send an HTTP request with the shared default client and return the response.

    Connections are pooled and reused across calls, and closed at exit. Options are those of
    :meth:`mylib.AsyncClient.request`.

    Example: ``mylib.request("GET", "https://example.com/api", params={"q": "x"}, timeout=5)``

    Raises:
        The exceptions of :meth:`mylib.Client.request`.
    """
    return _client().request(method, url, **options)


def get(url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
    """GET with the default client; options as for :func:`request`."""
    return _client().get(url, **options)


def options(url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
    """OPTIONS with the default client; options as for :func:`request`."""
    return _client().options(url, **options)


def head(url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
    """HEAD with the default client (redirects not followed unless asked)."""
    return _client().head(url, **options)


def post(url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
    """POST with the default client; options as for :func:`request`."""
    return _client().post(url, **options)


def put(url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
    """PUT with the default client; options as for :func:`request`."""
    return _client().put(url, **options)


def patch(url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
    """PATCH with the default client; options as for :func:`request`."""
    return _client().patch(url, **options)


def delete(url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
    """DELETE with the default client; options as for :func:`request`."""
    return _client().delete(url, **options)
