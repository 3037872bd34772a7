"""Helpers for testing code that uses mylib: :class:`Mocker`, requests_mock's surface for mylib.

Example::

    from mylib.testing import Mocker

    def test_fetch_user():
        with Mocker() as m:
            m.get("https://api.example.com/users/1", json={"id": 1, "name": "Ada"})
            m.post("https://api.example.com/users", status_code=201, json={"id": 2})
            assert fetch_user(1)["name"] == "Ada"          # your code, using mylib
            assert m.called_once and m.last_request.method == "GET"

The mock replaces only the network: it installs a :class:`~mylib.MockTransport` in front of
every client's own transport, so what mylib does above it (base_url joining, headers, auth,
redirects, retries, hooks, ``raise_for_status``) still runs, for the
blocking :class:`~mylib.Client`, :class:`~mylib.AsyncClient`, their streams and downloads,
and the module-level helpers alike, on whatever thread or loop they run (a stream gets the
mocked body in one piece). As in requests_mock, the most recent matching registration wins.
A request nothing matches raises :class:`NoMockAddress` (a :class:`mylib.ConnectError`, never
retried), so a test never reaches a real server by accident, unless the mocker was made with
``real_http=True``: then it goes to the network as usual. Mockers nest, as in requests_mock:
the innermost answers first, and what it does not match goes to the one outside it (or to a
client's own :class:`~mylib.MockTransport`).

A :class:`Mocker` is a context manager, a function decorator (sync or ``async def``; the
mocker comes as the last positional argument, or as the keyword ``kw`` names) and a class
decorator (each ``test*`` method is wrapped and the class stays a class, so a
``unittest.TestCase`` runs all its tests).
"""

from __future__ import annotations

import datetime
import http
import inspect
import json as jsonlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qs

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._cassette import Cassette, cassette
from ._decorate import run_inside
from ._errors import Error, redact_url
from ._models import Request, Response, Timeout
from ._transports import mock
from ._transports.aiohttp import translate
from ._transports.base import AsyncTransport

__all__ = ["ANY", "Cassette", "MockRequest", "Mocker", "NoMockAddress", "cassette"]

T = TypeVar("T")

#: The prefix of the methods a class decorator wraps, as in requests_mock.
TEST_PREFIX = "test"


class _Any:
    def __repr__(self) -> str:
        return "mylib.testing.ANY"


#: Matches any method or any URL: ``m.register_uri(ANY, ANY, status_code=503)``.
ANY: Any = _Any()


NoMockAddress = mock.NoMockAddress
NoMockAddress.__module__ = __name__


class MockRequest:
    """A request as the mock saw it, as found in ``request_history`` and ``last_request``,
    and as callbacks and ``additional_matcher`` get it."""

    def __init__(self, request: Request) -> None:
        self._request = request
        #: The HTTP method, upper case.
        self.method: str = request.method
        #: The full URL as a string.
        self.url: str = str(request.url)
        #: The headers sent (case-insensitive), as they were when this request was seen.
        self.headers: CIMultiDict[str] = CIMultiDict(request.headers)
        #: The body as bytes (None for no body, or for a streaming body).
        self.body: bytes | None = (
            bytes(request.content) if isinstance(request.content, (bytes, bytearray)) else None
        )
        #: The :class:`~mylib.Timeout` the request was sent with.
        self.timeout: Timeout = request.timeout

    @property
    def text(self) -> str | None:
        """The body decoded as UTF-8."""
        return None if self.body is None else self.body.decode("utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON."""
        return jsonlib.loads(self.body or b"", **kwargs)

    @property
    def query(self) -> str:
        """The query string, as sent (without the ``?``)."""
        return self._request.url.raw_query_string

    @property
    def qs(self) -> dict[str, list[str]]:
        """The query string parsed, each name to a list of values (like requests_mock)."""
        return parse_qs(self.query, keep_blank_values=True)

    @property
    def path(self) -> str:
        """The URL's path."""
        return self._request.url.path

    @property
    def scheme(self) -> str:
        """The URL's scheme."""
        return self._request.url.scheme

    @property
    def hostname(self) -> str:
        """The URL's host."""
        return self._request.url.host or ""

    @property
    def port(self) -> int | None:
        """The URL's port (the scheme's default when none is written)."""
        return self._request.url.port

    @property
    def netloc(self) -> str:
        """``host[:port]`` as written in the URL."""
        return self._request.url.raw_authority

    def __repr__(self) -> str:
        return f"<MockRequest {self.method} {redact_url(self.url)}>"


class _Cookies(dict[str, str]):
    """The cookies a callback sets: a dict, with requests' ``jar.set(name, value)`` too."""

    def set(self, name: str, value: str, **_: Any) -> None:
        """Set a cookie (requests' cookie-jar spelling; attributes are ignored)."""
        self[name] = value


class Context:
    """What a callback may set on the response it is making (as in requests_mock)."""

    def __init__(self, status_code: int, reason: str | None, headers: CIMultiDict[str],
                 cookies: _Cookies) -> None:
        #: The status to answer with.
        self.status_code = status_code
        #: The reason phrase; None for the standard one.
        self.reason = reason
        #: The response headers.
        self.headers = headers
        #: Cookies to set (name -> value).
        self.cookies = cookies


_ResponseSpec = Mapping[str, Any]
_SPEC_KEYS = frozenset(
    {"status_code", "reason", "headers", "json", "text", "content", "body", "exc", "cookies"}
)


class _Matcher:
    """One registration: what it matches, what it answers, and what it has seen."""

    def __init__(
        self,
        method: Any,
        url: Any,
        responses: Sequence[_ResponseSpec],
        *,
        complete_qs: bool,
        request_headers: Mapping[str, str] | None,
        additional_matcher: Callable[[MockRequest], bool] | None,
    ) -> None:
        for spec in responses:
            unknown = set(spec) - _SPEC_KEYS
            if unknown:
                raise TypeError(f"unknown mock response option(s): {', '.join(sorted(unknown))}")
        self.method = method if method is ANY else str(method).upper()
        self.url = url if url is ANY or isinstance(url, re.Pattern) else URL(str(url))
        self._responses = list(responses)
        self._complete_qs = complete_qs
        self._request_headers = dict(request_headers or {})
        self._additional = additional_matcher
        self.request_history: list[MockRequest] = []

    @property
    def called(self) -> bool:
        """True once it answered a request."""
        return bool(self.request_history)

    @property
    def called_once(self) -> bool:
        """True if it answered exactly one request."""
        return len(self.request_history) == 1

    @property
    def call_count(self) -> int:
        """How many requests it answered."""
        return len(self.request_history)

    @property
    def last_request(self) -> MockRequest | None:
        """The last request it answered."""
        return self.request_history[-1] if self.request_history else None

    def matches(self, request: Request, seen: MockRequest) -> bool:
        if self.method is not ANY and self.method != request.method:
            return False
        url = self.url
        if isinstance(url, re.Pattern):
            if url.search(str(request.url)) is None:
                return False
        elif url is not ANY and not _url_matches(url, request.url.parsed, self._complete_qs):
            return False
        for name, value in self._request_headers.items():
            if request.headers.get(name) != value:
                return False
        return self._additional is None or bool(self._additional(seen))

    def next_spec(self) -> _ResponseSpec:
        # Successive responses in order; the last one repeats, like requests_mock.
        return self._responses.pop(0) if len(self._responses) > 1 else self._responses[0]


def _url_matches(pattern: URL, actual: URL, complete_qs: bool) -> bool:
    if pattern.is_absolute():
        pattern_origin = (pattern.scheme, (pattern.host or "").lower(), pattern.port)
        if pattern_origin != (actual.scheme, (actual.host or "").lower(), actual.port):
            return False
    # "https://h" and "https://h/" are the same resource.
    if pattern.path.rstrip("/") != actual.path.rstrip("/"):
        return False
    wanted = parse_qs(pattern.raw_query_string, keep_blank_values=True)
    got = parse_qs(actual.raw_query_string, keep_blank_values=True)
    if complete_qs:
        return {k: sorted(v) for k, v in wanted.items()} == {k: sorted(v) for k, v in got.items()}
    return all(set(values) <= set(got.get(name, [])) for name, values in wanted.items())


def _build_response(spec: _ResponseSpec, request: Request, seen: MockRequest) -> Response:
    exc = spec.get("exc")
    if exc is not None:
        error = exc(f"mocked {getattr(exc, '__name__', 'error')}") if isinstance(exc, type) else exc
        translated = None if isinstance(error, Error) else translate(error, request)
        raise translated or error
    context = Context(
        int(spec.get("status_code", 200)),
        spec.get("reason"),
        CIMultiDict(spec.get("headers") or {}),
        _Cookies(spec.get("cookies") or {}),
    )
    body = _body(spec, seen, context)
    headers = context.headers
    for name, value in context.cookies.items():
        headers.add("Set-Cookie", f"{name}={value}; Path=/")
    reason = context.reason
    if reason is None:
        try:
            reason = http.HTTPStatus(context.status_code).phrase
        except ValueError:
            reason = ""
    return Response(
        status_code=context.status_code,
        reason=reason,
        headers=CIMultiDictProxy(headers),
        url=str(request.url),
        content=body,
        request=request,
        elapsed=datetime.timedelta(0),
    )


def _body(spec: _ResponseSpec, seen: MockRequest, context: Context) -> bytes:
    # A None body option counts as not given, as in requests_mock (json=None: no body).
    given = [key for key in ("json", "text", "content", "body") if spec.get(key) is not None]
    if len(given) > 1:
        raise TypeError(f"give only one of json=, text=, content=, body= (got {', '.join(given)})")
    if not given:
        return b""
    key = given[0]
    value = spec[key]
    if callable(value) and key != "body":
        value = value(seen, context)  # a callback, as in requests_mock: fn(request, context)
    headers = context.headers
    if key == "json":
        headers.setdefault("Content-Type", "application/json")
        return jsonlib.dumps(value).encode("utf-8")
    if key == "text":
        if not isinstance(value, str):
            raise TypeError(f"text= must be a str (or return one), not {type(value).__name__}")
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return value.encode("utf-8")
    if key == "body":
        value = value.read()
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{key}= must give bytes (use text= for str, json= for data)")
    return bytes(value)


class _Unmatched(Exception):
    """Raised by the Mocker's handler for a request no registration matches."""


class _MockerTransport(mock.MockTransport):
    """The Mocker's transport. What no registration matches goes on to what lies below:
    always when that is another mock (a Mocker inside the ``mylib_mock`` fixture, a client
    made with a MockTransport), to the network only with ``real_http=True``."""

    def __init__(self, owner: Mocker) -> None:
        super().__init__(owner._answer)
        self._owner = owner

    async def intercept(
        self, request: Request, *, stream: bool, fallback: AsyncTransport
    ) -> Response:
        try:
            return await self.send(request, stream=stream)
        except _Unmatched:
            if self._owner.real_http or (isinstance(fallback, mock.Below) and fallback.is_mock):
                return await fallback.send(request, stream=stream)
            raise NoMockAddress(
                f"no mock address: {request.method} {redact_url(request.url)}",
                request=request,
            ) from None


class Mocker:
    """Answer mylib requests from registrations instead of the network.

    Use it as a context manager (``with Mocker() as m:``), a function decorator (the test
    gets the mocker as its last argument, or as keyword ``kw``) or a class decorator (every
    ``test*`` method is wrapped). Register with ``m.get(url, ...)``, ``m.post``, ... or
    ``m.register_uri(method, url, ...)`` (alias ``m.request``), giving one response as
    keywords or a list of such dicts to answer successive calls:

    * ``status_code``, ``reason``, ``headers``, ``cookies``;
    * the body: ``json``, ``text``, ``content`` (bytes) or ``body`` (a file object); ``json``,
      ``text`` and ``content`` may be callbacks ``fn(request, context)`` that return it and
      may set ``context.status_code``, ``.headers``, ``.reason`` and ``.cookies``;
    * or ``exc``, an exception (class) to raise, translated into mylib's tree.

    ``url`` is a full URL (its query parameters must be present; all of them and no others
    with ``complete_qs=True``), a path (any host), a compiled regex, or :data:`ANY`.
    ``request_headers={...}`` must all be sent; ``additional_matcher(request)`` must return
    true. Each registration returns a matcher with ``called``, ``called_once``,
    ``call_count``, ``last_request`` and ``request_history``.

    Args:
        real_http: Let requests nothing matches go to the network (loopback in tests).
        kw: As a decorator, pass the mocker as this keyword instead of positionally.

    Raises:
        NoMockAddress: (from the request) nothing registered matches it.
        RuntimeError: a second Mocker is started while one is active.
    """

    def __init__(self, *, real_http: bool = False, kw: str | None = None) -> None:
        if not isinstance(real_http, bool):
            raise TypeError(f"real_http must be True or False, not {real_http!r}")
        self.real_http = real_http
        self._kw = kw
        self._matchers: list[_Matcher] = []
        self._lock = threading.Lock()
        #: Every request the mock saw, answered or not, oldest first.
        self.request_history: list[MockRequest] = []
        self._transport = _MockerTransport(self)

    # -- registering --------------------------------------------------------------------

    def register_uri(
        self,
        method: Any,
        url: Any,
        response_list: Sequence[_ResponseSpec] | None = None,
        *,
        complete_qs: bool = False,
        request_headers: Mapping[str, str] | None = None,
        additional_matcher: Callable[[MockRequest], bool] | None = None,
        **response: Any,
    ) -> _Matcher:
        """Answer ``method url`` with ``response`` (or each of ``response_list`` in turn).

        Raises:
            TypeError: an unknown response option, or both a list and keywords.
            ValueError: an empty response list.
        """
        if response_list is not None and response:
            raise TypeError("give either a response list or response keywords, not both")
        specs = list(response_list) if response_list is not None else [response]
        if not specs:
            raise ValueError("the response list is empty")
        matcher = _Matcher(
            method, url, specs, complete_qs=complete_qs, request_headers=request_headers,
            additional_matcher=additional_matcher,
        )
        with self._lock:
            self._matchers.append(matcher)
        return matcher

    request = register_uri

    def get(self, url: Any, response_list: Sequence[_ResponseSpec] | None = None,
            **kwargs: Any) -> _Matcher:
        """Register a GET; see :meth:`register_uri`."""
        return self.register_uri("GET", url, response_list, **kwargs)

    def post(self, url: Any, response_list: Sequence[_ResponseSpec] | None = None,
             **kwargs: Any) -> _Matcher:
        """Register a POST; see :meth:`register_uri`."""
        return self.register_uri("POST", url, response_list, **kwargs)

    def put(self, url: Any, response_list: Sequence[_ResponseSpec] | None = None,
            **kwargs: Any) -> _Matcher:
        """Register a PUT; see :meth:`register_uri`."""
        return self.register_uri("PUT", url, response_list, **kwargs)

    def patch(self, url: Any, response_list: Sequence[_ResponseSpec] | None = None,
              **kwargs: Any) -> _Matcher:
        """Register a PATCH; see :meth:`register_uri`."""
        return self.register_uri("PATCH", url, response_list, **kwargs)

    def delete(self, url: Any, response_list: Sequence[_ResponseSpec] | None = None,
               **kwargs: Any) -> _Matcher:
        """Register a DELETE; see :meth:`register_uri`."""
        return self.register_uri("DELETE", url, response_list, **kwargs)

    def head(self, url: Any, response_list: Sequence[_ResponseSpec] | None = None,
             **kwargs: Any) -> _Matcher:
        """Register a HEAD; see :meth:`register_uri`."""
        return self.register_uri("HEAD", url, response_list, **kwargs)

    def options(self, url: Any, response_list: Sequence[_ResponseSpec] | None = None,
                **kwargs: Any) -> _Matcher:
        """Register an OPTIONS; see :meth:`register_uri`."""
        return self.register_uri("OPTIONS", url, response_list, **kwargs)

    # -- what was seen ------------------------------------------------------------------

    @property
    def called(self) -> bool:
        """True once any request was made."""
        return bool(self.request_history)

    @property
    def called_once(self) -> bool:
        """True if exactly one request was made."""
        return len(self.request_history) == 1

    @property
    def call_count(self) -> int:
        """How many requests were made."""
        return len(self.request_history)

    @property
    def last_request(self) -> MockRequest | None:
        """The most recent request, or None."""
        return self.request_history[-1] if self.request_history else None

    def reset(self) -> None:
        """Forget the requests seen (registrations stay)."""
        with self._lock:
            self.request_history.clear()
            for matcher in self._matchers:
                matcher.request_history.clear()

    # -- answering ----------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        seen = MockRequest(request)
        with self._lock:
            self.request_history.append(seen)
            for matcher in reversed(self._matchers):
                if matcher.matches(request, seen):
                    matcher.request_history.append(seen)
                    spec = matcher.next_spec()
                    break
            else:
                raise _Unmatched
        return _build_response(spec, request, seen)

    # -- starting and stopping ----------------------------------------------------------

    def start(self) -> Mocker:
        """Start answering requests (``with`` does this)."""
        try:
            mock.install(self._transport)
        except RuntimeError:
            raise RuntimeError("this mylib.testing.Mocker is already active") from None
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

    def copy(self) -> Mocker:
        """A new, unstarted Mocker with the same options (what each decorated test gets)."""
        return type(self)(real_http=self.real_http, kw=self._kw)

    def __call__(self, obj: T) -> T:
        """Use as a decorator of a test function (sync or async) or of a test class."""
        if isinstance(obj, type):
            return self._decorate_class(obj)  # type: ignore[return-value]
        if not callable(obj):
            raise TypeError(f"Mocker() decorates a function or a class, not {obj!r}")
        return self._decorate_function(obj)  # type: ignore[return-value]

    def _decorate_class(self, cls: type) -> type:
        # dir(), not vars(): test methods a base class defines are wrapped too (on this class).
        for name in dir(cls):
            member = getattr(cls, name, None)
            if name.startswith(TEST_PREFIX) and inspect.isfunction(member):
                setattr(cls, name, self.copy()._decorate_function(member))
        return cls

    def _decorate_function(self, func: Callable[..., Any]) -> Callable[..., Any]:
        kw = self._kw

        def bind(
            mocker: Mocker, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> tuple[tuple[Any, ...], dict[str, Any]]:
            if kw is not None:
                return args, {**kwargs, kw: mocker}
            return (*args, mocker), kwargs

        return run_inside(func, self.copy, bind)
