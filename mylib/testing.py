"""Helpers for testing code that uses mylib: :class:`Mocker`, requests_mock's surface for mylib.

Example::

    from mylib.testing import Mocker

    def test_fetch_user():
        with Mocker() as m:
            m.get("https://api.example.com/users/1", json={"id": 1, "name": "Ada"})
            m.post("https://api.example.com/users", status_code=201, json={"id": 2})
            assert fetch_user(1)["name"] == "Ada"          # your code, using mylib
            assert m.called and m.last_request.method == "GET"

The mock replaces only the network: it installs a :class:`~mylib.MockTransport` in front of
every client's own transport, so what mylib does above it (base_url joining, headers, auth,
redirects, retries, hooks, ``raise_for_status``) still runs, for the
blocking :class:`~mylib.Client`, :class:`~mylib.AsyncClient`, their streams and downloads,
and the module-level helpers alike, on whatever thread or loop they run (a stream gets the
mocked body in one piece). As in requests_mock, the most recent matching registration wins.
A request nothing matches raises :class:`NoMockAddress` (a :class:`mylib.ConnectError`), so
a test never reaches a real server by accident.
"""

from __future__ import annotations

import datetime
import http
import json as jsonlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._errors import ConnectError, Error, redact_url
from ._models import Request, Response
from ._transports import mock
from ._transports.aiohttp import translate

__all__ = ["ANY", "MockRequest", "Mocker", "NoMockAddress"]


class _Any:
    def __repr__(self) -> str:
        return "mylib.testing.ANY"


#: Matches any method or any URL: ``m.register_uri(ANY, ANY, status_code=503)``.
ANY: Any = _Any()


class NoMockAddress(ConnectError):
    """A request was made that no registration of the active :class:`Mocker` matches."""


class MockRequest:
    """A request as the mock saw it, as found in ``request_history`` and ``last_request``."""

    def __init__(self, request: Request) -> None:
        self._request = request
        #: The HTTP method, upper case.
        self.method: str = request.method
        #: The full URL as a string.
        self.url: str = str(request.url)
        #: The headers sent (case-insensitive).
        self.headers: CIMultiDict[str] = request.headers
        #: The body as bytes (None for no body, or for a streaming body).
        self.body: bytes | None = (
            bytes(request.content) if isinstance(request.content, (bytes, bytearray)) else None
        )

    @property
    def text(self) -> str | None:
        """The body decoded as UTF-8."""
        return None if self.body is None else self.body.decode("utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON."""
        return jsonlib.loads(self.body or b"", **kwargs)

    @property
    def qs(self) -> dict[str, list[str]]:
        """The query string parsed, each name to a list of values (like requests_mock)."""
        return parse_qs(URL(self.url).raw_query_string, keep_blank_values=True)

    @property
    def path(self) -> str:
        """The URL's path."""
        return URL(self.url).path

    @property
    def hostname(self) -> str:
        """The URL's host."""
        return URL(self.url).host or ""

    def __repr__(self) -> str:
        return f"<MockRequest {self.method} {redact_url(self.url)}>"


_ResponseSpec = Mapping[str, Any]


class _Matcher:
    """One registration: what it matches, what it answers, and what it has seen."""

    def __init__(self, method: Any, url: Any, responses: Sequence[_ResponseSpec]) -> None:
        self.method = method if method is ANY else str(method).upper()
        self.url = url
        self._responses = list(responses)
        self.request_history: list[MockRequest] = []

    @property
    def called(self) -> bool:
        """True once it answered a request."""
        return bool(self.request_history)

    @property
    def call_count(self) -> int:
        """How many requests it answered."""
        return len(self.request_history)

    @property
    def last_request(self) -> MockRequest | None:
        """The last request it answered."""
        return self.request_history[-1] if self.request_history else None

    def matches(self, request: Request) -> bool:
        if self.method is not ANY and self.method != request.method:
            return False
        url = self.url
        if url is ANY:
            return True
        if isinstance(url, re.Pattern):
            return url.search(str(request.url)) is not None
        return _url_matches(URL(str(url)), request.url)

    def next_spec(self) -> _ResponseSpec:
        # Successive responses in order; the last one repeats, like requests_mock.
        return self._responses.pop(0) if len(self._responses) > 1 else self._responses[0]


def _url_matches(pattern: URL, actual: URL) -> bool:
    pattern_origin = (pattern.scheme, (pattern.host or "").lower(), pattern.port)
    actual_origin = (actual.scheme, (actual.host or "").lower(), actual.port)
    if pattern.is_absolute() and pattern_origin != actual_origin:
        return False
    # "https://h" and "https://h/" are the same resource.
    if pattern.path.rstrip("/") != actual.path.rstrip("/"):
        return False
    wanted = parse_qs(pattern.raw_query_string, keep_blank_values=True)
    got = parse_qs(actual.raw_query_string, keep_blank_values=True)
    return all(set(values) <= set(got.get(name, [])) for name, values in wanted.items())


def _build_response(spec: _ResponseSpec, request: Request) -> Response:
    unknown = set(spec) - {
        "status_code",
        "reason",
        "headers",
        "json",
        "text",
        "content",
        "exc",
        "cookies",
    }
    if unknown:
        raise TypeError(f"unknown mock response option(s): {', '.join(sorted(unknown))}")
    exc = spec.get("exc")
    if exc is not None:
        error = exc(f"mocked {getattr(exc, '__name__', 'error')}") if isinstance(exc, type) else exc
        translated = None if isinstance(error, Error) else translate(error, request)
        raise translated or error
    headers: CIMultiDict[str] = CIMultiDict(spec.get("headers") or {})
    body = _body(spec, headers)
    for name, value in (spec.get("cookies") or {}).items():
        headers.add("Set-Cookie", f"{name}={value}; Path=/")
    status = int(spec.get("status_code", 200))
    reason = spec.get("reason")
    if reason is None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return Response(
        status_code=status,
        reason=reason,
        headers=CIMultiDictProxy(headers),
        url=str(request.url),
        content=body,
        request=request,
        elapsed=datetime.timedelta(0),
    )


def _body(spec: _ResponseSpec, headers: CIMultiDict[str]) -> bytes:
    given = [key for key in ("json", "text", "content") if key in spec]
    if len(given) > 1:
        raise TypeError(f"give only one of json=, text=, content= (got {', '.join(given)})")
    if "json" in spec:
        headers.setdefault("Content-Type", "application/json")
        return jsonlib.dumps(spec["json"]).encode("utf-8")
    if "text" in spec:
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return str(spec["text"]).encode("utf-8")
    content = spec.get("content", b"")
    if not isinstance(content, (bytes, bytearray)):
        raise TypeError("content= must be bytes (use text= for str, json= for data)")
    return bytes(content)


class Mocker:
    """Answer mylib requests from registrations instead of the network.

    Use it as a context manager (``with Mocker() as m:``) or a decorator (the test gets the
    mocker as its last argument). Register with ``m.get(url, ...)``, ``m.post``, ... or
    ``m.register_uri(method, url, ...)``, giving one response as keywords (``status_code``,
    ``reason``, ``headers``, ``json`` | ``text`` | ``content``, ``cookies``, or ``exc`` to
    raise) or a list of such dicts to answer successive calls. ``url`` is a full URL (the
    registered query parameters must be present), a path (any host), a compiled regex, or
    :data:`ANY`. Each registration returns a matcher with ``called``, ``call_count``,
    ``last_request`` and ``request_history``.

    Raises:
        NoMockAddress: (from the request) nothing registered matches it.
        RuntimeError: a second Mocker is started while one is active.
    """

    def __init__(self) -> None:
        self._matchers: list[_Matcher] = []
        self._lock = threading.Lock()
        #: Every request answered (or refused), oldest first.
        self.request_history: list[MockRequest] = []
        self._transport = mock.MockTransport(self._answer)

    # -- registering --------------------------------------------------------------------

    def register_uri(
        self,
        method: Any,
        url: Any,
        response_list: Sequence[_ResponseSpec] | None = None,
        **response: Any,
    ) -> _Matcher:
        """Answer ``method url`` with ``response`` (or each of ``response_list`` in turn)."""
        if response_list is not None and response:
            raise TypeError("give either a response list or response keywords, not both")
        specs = list(response_list) if response_list is not None else [response]
        if not specs:
            raise ValueError("the response list is empty")
        matcher = _Matcher(method, url, specs)
        with self._lock:
            self._matchers.append(matcher)
        return matcher

    def get(
        self, url: Any, response_list: Sequence[_ResponseSpec] | None = None, **response: Any
    ) -> _Matcher:
        """Register a GET; see :meth:`register_uri`."""
        return self.register_uri("GET", url, response_list, **response)

    def post(
        self, url: Any, response_list: Sequence[_ResponseSpec] | None = None, **response: Any
    ) -> _Matcher:
        """Register a POST; see :meth:`register_uri`."""
        return self.register_uri("POST", url, response_list, **response)

    def put(
        self, url: Any, response_list: Sequence[_ResponseSpec] | None = None, **response: Any
    ) -> _Matcher:
        """Register a PUT; see :meth:`register_uri`."""
        return self.register_uri("PUT", url, response_list, **response)

    def patch(
        self, url: Any, response_list: Sequence[_ResponseSpec] | None = None, **response: Any
    ) -> _Matcher:
        """Register a PATCH; see :meth:`register_uri`."""
        return self.register_uri("PATCH", url, response_list, **response)

    def delete(
        self, url: Any, response_list: Sequence[_ResponseSpec] | None = None, **response: Any
    ) -> _Matcher:
        """Register a DELETE; see :meth:`register_uri`."""
        return self.register_uri("DELETE", url, response_list, **response)

    def head(
        self, url: Any, response_list: Sequence[_ResponseSpec] | None = None, **response: Any
    ) -> _Matcher:
        """Register a HEAD; see :meth:`register_uri`."""
        return self.register_uri("HEAD", url, response_list, **response)

    def options(
        self, url: Any, response_list: Sequence[_ResponseSpec] | None = None, **response: Any
    ) -> _Matcher:
        """Register an OPTIONS; see :meth:`register_uri`."""
        return self.register_uri("OPTIONS", url, response_list, **response)

    # -- what was seen ------------------------------------------------------------------

    @property
    def called(self) -> bool:
        """True once any request was made."""
        return bool(self.request_history)

    @property
    def call_count(self) -> int:
        """How many requests were made."""
        return len(self.request_history)

    @property
    def last_request(self) -> MockRequest | None:
        """The most recent request, or None."""
        return self.request_history[-1] if self.request_history else None

    # -- answering ----------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        seen = MockRequest(request)
        with self._lock:
            self.request_history.append(seen)
            for matcher in reversed(self._matchers):
                if matcher.matches(request):
                    matcher.request_history.append(seen)
                    spec = matcher.next_spec()
                    break
            else:
                raise NoMockAddress(
                    f"no mock address: {request.method} {redact_url(request.url)}",
                    request=request,
                )
        return _build_response(spec, request)

    # -- starting and stopping ----------------------------------------------------------

    def start(self) -> Mocker:
        """Start answering requests (``with`` does this)."""
        try:
            mock.install(self._transport)
        except RuntimeError:
            raise RuntimeError("another mylib.testing.Mocker is already active") from None
        return self

    def stop(self) -> None:
        """Stop answering requests and restore the network."""
        mock.uninstall(self._transport)

    def __enter__(self) -> Mocker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Use as a decorator: the test function gets the mocker as its last argument."""
        import functools

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)() as mocker:
                return func(*args, mocker, **kwargs)

        return wrapper
