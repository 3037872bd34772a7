"""The redirect step, and its policy: the next request after a 3xx, by small named rules.

Each hop is a new request made with :meth:`Request.replace`, so every field carries over
unless a rule changes it: 303 (and 301/302 after a POST) become GET without a body, and a
307/308 sends the body again (a file from where it started, if it can seek);
``Authorization``, ``Cookie`` and ``Proxy-Authorization`` are dropped, and the request's own
``auth`` with them, when the target is another origin or the scheme drops from https to
http. The bodies of the redirect responses are read (small as a rule) and kept in
``history``. More than ``max_redirects`` hops raise :class:`~mylib.TooManyRedirects`, which
carries the last response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multidict import CIMultiDict
from yarl import URL

from .._content import Marks, rewind, rewind_marks
from .._errors import InvalidURL, TooManyRedirects, TransportError, redact_url
from .._models import Request, Response
from .._urls import should_strip_auth, to_url, validate_url

if TYPE_CHECKING:
    from . import Call, Handler

__all__ = ["next_request", "step"]

#: Sent only to the origin they were meant for.
_CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")
#: Describe a body that is not sent again once the method becomes GET.
_BODY_HEADERS = ("Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding")


def redirect_method(method: str, status: int) -> str:
    """The method after a redirect, as browsers and requests do it.

    303 turns anything but HEAD into GET; 301 and 302 turn POST into GET; 307 and 308 keep it.
    """
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


def redirect_url(request: Request, response: Response) -> URL:
    """The absolute target of the Location header, checked to be http(s).

    Raises:
        InvalidURL: the Location is malformed or not http(s).
    """
    location = response.headers["Location"]
    try:
        target = URL(response.url).join(to_url(location, "Location"))
    except ValueError as exc:
        raise InvalidURL(f"redirect to an invalid URL: {location!r}", request=request) from exc
    if not target.fragment and request.url.fragment:
        target = target.with_fragment(request.url.fragment)
    return validate_url(target)


def next_request(request: Request, response: Response, marks: Marks | None = None) -> Request:
    """The request to send after ``response``, a redirect answering ``request``; ``marks``
    are where the files of its body started (:func:`~mylib._content.rewind_marks`, taken
    before it was sent), so that a 307/308 sends them again from there.

    Raises:
        InvalidURL: the redirect target is not an http(s) URL.
        TransportError: a 307/308 asks to resend a body that was streamed and is gone.
    """
    url = redirect_url(request, response)
    method = redirect_method(request.method, response.status_code)
    headers = CIMultiDict(request.headers)
    content = request.content
    if method != request.method and method in ("GET", "HEAD"):
        content = None
        for name in _BODY_HEADERS:
            headers.popall(name, None)
    elif content is not None and not (marks is not None and rewind(marks)):
        raise TransportError(
            f"{response.status_code} redirect to {redact_url(url)} asks to resend the body, "
            "but it was streamed and cannot be replayed; send bytes or a file that can seek "
            "to allow it",
            request=request,
        )
    auth = request.auth
    if should_strip_auth(request.url.parsed, url):
        for name in _CREDENTIAL_HEADERS:
            headers.popall(name, None)
        auth = None
    headers.popall("Host", None)
    return request.replace(method=method, url=url, headers=headers, content=content, auth=auth)


async def step(send: Handler, request: Request, call: Call) -> Response:
    """Send ``request``, following redirects if it asks to."""
    history: list[Response] = []
    max_redirects = call.config.max_redirects
    while True:
        content = request.content
        # Taken before sending: sending moves a file to its end.
        marks = [] if content is None or type(content) is bytes else rewind_marks(content)
        response = await send(request, call)
        for answered in response.history:  # the 401s an auth flow answered on this hop
            answered.history = history[:]
            history.append(answered)
        if not (request.follow_redirects and response.is_redirect):
            response.history = history
            return response
        await response.aread()
        if len(history) >= max_redirects:
            response.history = history
            raise TooManyRedirects(
                f"exceeded {max_redirects} redirects "
                f"({request.method} {redact_url(request.url)})",
                request=request,
                response=response,
            )
        response.history = history[:]  # each hop shows the hops before it, as in requests
        history.append(response)
        request = next_request(request, response, marks)
