"""Authentication schemes: Basic, Bearer, Digest, and a protocol for your own.

An auth scheme is an object with an ``auth_flow(request)`` generator, the shape httpx uses:
it yields the request to send (usually after adding a header), receives the response, and may
yield another request (e.g. after a 401: a fresh token, a digest answer). ``auth_flow`` may be
an *async* generator (it can then await, e.g. refresh a token with an ``AsyncClient``) or a
plain generator (it must not block). Either way it runs on the event loop that sends the
request: mylib's I/O thread for :class:`~mylib.Client`, the caller's loop for
:class:`~mylib.AsyncClient`.

A plain callable ``auth=fn`` (``fn(request) -> request``, the requests shape) is also accepted;
it runs in a worker thread (``loop.run_in_executor``), so it may block, and may even call
mylib's blocking API, without stalling or deadlocking the loop.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import os
import re
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

from ._errors import InvalidHeader
from ._io import run_blocking
from ._models import Request, Response, has_line_break, is_token

__all__ = ["Auth", "BasicAuth", "BearerAuth", "DigestAuth", "FunctionAuth", "to_auth"]


class Auth:
    """Base class of auth schemes: override :meth:`auth_flow`.

    Example, a token that refreshes itself once when the server says 401::

        class RefreshingToken(mylib.Auth):
            def __init__(self, client: mylib.AsyncClient) -> None:
                self.client, self.token = client, None

            async def auth_flow(self, request):
                if self.token is None:
                    self.token = await self._fetch()
                request.headers["Authorization"] = f"Bearer {self.token}"
                response = yield request
                if response.status_code == 401:
                    self.token = await self._fetch()
                    request.headers["Authorization"] = f"Bearer {self.token}"
                    yield request

    ``auth_flow`` runs on the event loop that sends the request (mylib's I/O thread for the
    blocking Client): await freely, but do not block in it. A flow is driven once for each
    hop of a redirect chain (so a challenge is answered with the URL that sent it), around
    retries; a hop to another origin gets no auth at all. The responses a flow answered with
    another request are in the final response's ``history``.

    Raises:
        Whatever the flow raises reaches the caller unchanged.
    """

    def auth_flow(
        self, request: Request
    ) -> AsyncGenerator[Request, Response] | Generator[Request, Response, None]:
        """Yield the request to send; receive its response; optionally yield another."""
        return _just(request)

    def __repr__(self) -> str:
        # Subclasses hold secrets; never show their attributes.
        return f"<{type(self).__name__}>"


def _just(request: Request) -> Generator[Request, Response, None]:
    yield request


class BasicAuth(Auth):
    """HTTP Basic auth; ``auth=("user", "password")`` is the short form.

    Example: ``client.get(url, auth=mylib.BasicAuth("user", "pass"))``

    Raises:
        TypeError: user or password is not a str.
    """

    def __init__(self, username: str, password: str) -> None:
        if not isinstance(username, str) or not isinstance(password, str):
            raise TypeError("auth must be a (username, password) tuple of str")
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._header = f"Basic {token}"

    def auth_flow(self, request: Request) -> Generator[Request, Response, None]:
        """Add the ``Authorization: Basic ...`` header."""
        request.headers["Authorization"] = self._header
        yield request


class BearerAuth(Auth):
    """A bearer token: ``Authorization: Bearer <token>``.

    A bare string is not accepted as ``auth=`` (it could as well be ``"user:password"``);
    say which you mean.

    Example: ``mylib.Client(base_url, auth=mylib.BearerAuth(os.environ["API_TOKEN"]))``

    Raises:
        TypeError: the token is not a str.
        ValueError: the token is empty or contains a line break.
    """

    def __init__(self, token: str) -> None:
        if not isinstance(token, str):
            raise TypeError(f"BearerAuth token must be a str, not {type(token).__name__}")
        if not token or "\n" in token or "\r" in token:
            raise ValueError("BearerAuth token must be non-empty and on one line")
        self._header = f"Bearer {token}"

    def auth_flow(self, request: Request) -> Generator[Request, Response, None]:
        """Add the ``Authorization: Bearer ...`` header."""
        request.headers["Authorization"] = self._header
        yield request


class FunctionAuth(Auth):
    """Wraps ``auth=fn``: ``fn(request)`` returns the request to send.

    A plain function runs in a worker thread (it may block, or call mylib's blocking API);
    an ``async def`` function is awaited on the loop.
    """

    def __init__(self, fn: Callable[[Request], Any]) -> None:
        self._fn = fn

    async def auth_flow(self, request: Request) -> AsyncGenerator[Request, Response]:
        """Call the function once, before the first send."""
        if inspect.iscoroutinefunction(self._fn):
            result = await self._fn(request)
        else:
            result = await run_blocking(self._fn, request)
        yield result if isinstance(result, Request) else request


_CHALLENGE_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_HASHES: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA": hashlib.sha1,
    "SHA-256": hashlib.sha256,
    "SHA-512": hashlib.sha512,
}


class DigestAuth(Auth):
    """HTTP Digest auth (RFC 7616: MD5, SHA-256, SHA-512 and their ``-sess`` forms, qop=auth).

    The first request goes out without credentials; on a ``401`` with a Digest challenge it is
    sent again with the answer. The challenge is remembered, so later requests answer at once.
    A file body is rewound to be sent again; a streamed one (an iterator) cannot be: use
    bytes or a file that can seek with DigestAuth.

    Example: ``client.get(url, auth=mylib.DigestAuth("user", "pass"))``

    Raises:
        TypeError: user or password is not a str.
    """

    def __init__(self, username: str, password: str) -> None:
        if not isinstance(username, str) or not isinstance(password, str):
            raise TypeError("DigestAuth needs a username and password of type str")
        if has_line_break(username):
            raise InvalidHeader("DigestAuth's username holds a CR, LF or NUL, which cannot be sent")
        self._username = username.encode()
        self._password = password.encode()
        self._challenge: dict[str, str] | None = None
        self._count = 0

    def auth_flow(self, request: Request) -> Generator[Request, Response, None]:
        """Answer the server's Digest challenge (sending once more after a 401)."""
        if self._challenge is not None:
            request.headers["Authorization"] = self._answer(request, self._challenge)
        response = yield request
        if response.status_code != 401:
            return
        challenge = _parse_challenge(response.headers.getall("WWW-Authenticate", ()))
        if challenge is None:
            return
        self._challenge, self._count = challenge, 0
        request.headers["Authorization"] = self._answer(request, challenge)
        yield request

    def _answer(self, request: Request, challenge: dict[str, str]) -> str:
        algorithm = challenge.get("algorithm", "MD5").upper()
        hash_fn = _HASHES.get(algorithm.removesuffix("-SESS"), hashlib.md5)

        def digest(*parts: bytes) -> bytes:
            return hash_fn(b":".join(parts)).hexdigest().encode()  # type: ignore[no-any-return]

        self._count += 1
        nc = b"%08x" % self._count
        cnonce = hashlib.sha1(b"%d%s" % (time.time_ns(), os.urandom(8))).hexdigest()[:16].encode()
        realm, nonce = challenge.get("realm", "").encode(), challenge["nonce"].encode()
        uri = request.url.raw_path_qs.encode()
        ha1 = digest(self._username, realm, self._password)
        if algorithm.endswith("-SESS"):
            ha1 = digest(ha1, nonce, cnonce)
        ha2 = digest(request.method.encode(), uri)
        qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
        if "auth" in qops:
            answer = digest(ha1, nonce, nc, cnonce, b"auth", ha2)
        else:
            answer = digest(ha1, nonce, ha2)
        # Every value quoted and escaped (RFC 7616 section 3.4): a '"' in a user name, or in
        # what the server sent, must not end the value and start a field of its own.
        fields = [
            f"username={_quoted(self._username.decode())}",
            f"realm={_quoted(realm.decode())}",
            f"nonce={_quoted(nonce.decode())}",
            f"uri={_quoted(uri.decode())}",
            f"response={_quoted(answer.decode())}",
            f"algorithm={algorithm if is_token(algorithm) else 'MD5'}",
        ]
        if "opaque" in challenge:
            fields.append(f"opaque={_quoted(challenge['opaque'])}")
        if "auth" in qops:
            fields += ["qop=auth", f"nc={nc.decode()}", f"cnonce={_quoted(cnonce.decode())}"]
        return "Digest " + ", ".join(fields)


def _quoted(value: str) -> str:
    """A quoted-string: backslashes and quotes escaped, line breaks and NUL dropped."""
    value = value.replace("\r", "").replace("\n", "").replace("\x00", "")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_challenge(values: Any) -> dict[str, str] | None:
    for value in values:
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "digest":
            continue
        fields = {
            key.lower(): quoted if quoted else bare
            for key, quoted, bare in _CHALLENGE_RE.findall(rest)
        }
        if "nonce" in fields:
            return fields
    return None


def to_auth(value: object, name: str = "auth") -> Auth | None:
    """An :class:`Auth` from what ``auth=`` accepts.

    Raises:
        TypeError: anything else (a bare str is refused: use BearerAuth or a tuple).
    """
    if value is None or isinstance(value, Auth):
        return value
    if isinstance(value, tuple):
        if len(value) != 2 or not all(isinstance(part, str) for part in value):
            raise TypeError(f"{name} must be a (username, password) tuple of str")
        return BasicAuth(value[0], value[1])
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{name} must not be a bare string: use mylib.BearerAuth(token) for a token, "
            "or (username, password) for Basic auth"
        )
    if callable(value):
        return FunctionAuth(value)
    raise TypeError(
        f"{name} must be (username, password), a mylib.Auth (BearerAuth, DigestAuth, ...) "
        f"or a callable, not {type(value).__name__}"
    )


async def advance_flow(
    flow: AsyncGenerator[Request, Response] | Generator[Request, Response, None],
    response: Response | None,
) -> Request | None:
    """The flow's next request (None when it is done); sync and async flows alike."""
    try:
        if isinstance(flow, AsyncGenerator):
            if response is None:
                return await flow.__anext__()
            return await flow.asend(response)
        return next(flow) if response is None else flow.send(response)
    except (StopIteration, StopAsyncIteration):
        return None


async def close_flow(
    flow: AsyncGenerator[Request, Response] | Generator[Request, Response, None],
) -> None:
    """Close a flow, sync or async, whatever state it is in."""
    if isinstance(flow, AsyncGenerator):
        await flow.aclose()
    else:
        flow.close()
