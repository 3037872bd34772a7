"""The hop: one attempt on the wire, with the event hooks and the log around it.

It is the end of the chain and calls the transport itself (a step of its own around the
transport would cost a coroutine frame per request for nothing). A transport installed for
every client (``mylib.testing.Mocker``, a cassette) answers before the client's own.

The cookies a response sets go into the client's jar here, from every response received.
Request hooks see the request just before it goes out, response hooks the response as soon
as its headers are in (for a stream, before its body is read), for every hop: redirects and
retries included. A response hook that raises closes an unread body before the error goes
on. The response gets the client's ``json_loads`` here, so ``json()`` decodes as configured
whatever transport made it, and the request it answers when the transport left that out.
Framing headers the user set (``Content-Length``, ``Transfer-Encoding``) are checked
against the body here, once for every transport. A body read whole that is larger than the
request's ``max_body_size`` is refused here too, whatever transport read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._content import check_framing
from .._errors import Error, body_too_large
from .._hooks import run_hooks
from .._logging import log_request, log_response
from .._transports.mock import INSTALLED, send_through

if TYPE_CHECKING:
    from .._models import Request, Response
    from . import Call

__all__ = ["send"]


async def send(request: Request, call: Call) -> Response:
    """One try: request hooks, the transport, logging, response hooks."""
    config = call.config
    if request._engine_headers:  # a response's request, sent again: as it was made
        request = _as_made(request)
    hooks = config.event_hooks
    if hooks["request"]:
        await run_hooks(hooks["request"], request)
    headers = request.headers
    if "Content-Length" in headers or "Transfer-Encoding" in headers:
        check_framing(headers, request.content)  # after the hooks, which may set them
    log_request(request.method, request.url.parsed, call.attempts)
    stack = INSTALLED.stack
    try:
        if not stack:
            response = await call.transport.send(request, stream=call.stream)
        else:
            response = await send_through(stack, request, call.stream, call.transport)
    except Error as exc:
        call.attempts += exc._resends  # the engine's, on its own errors
        call.resends += exc._resends
        raise
    # A transport may send again on its own when a kept-alive connection turns out to have
    # been closed by the server (mylib's engine does): those sends are attempts too.
    call.attempts += response.attempts - 1
    call.resends += response.attempts - 1
    if "Set-Cookie" in response.headers:  # every response's, a retried one's too
        config.cookies.extract(response.headers, request.url.parsed)
    if response.request is None:  # a transport's hand-made mylib.Response(...)
        response.request = request
        response.url = response.url or str(request.url)
    limit = request.max_body_size
    if limit is not None and len(response.content) > limit:
        # mylib's engine stops reading at the limit; a transport that read more anyway
        # (a mock, a user's transport) gets the same answer.
        response.close()
        raise body_too_large(limit, request)
    if config.json_loads is not None:
        response._json_loads = config.json_loads
    log_response(
        request.method,
        request.url.parsed,
        response.status_code,
        response.reason,
        response.elapsed.total_seconds(),
    )
    if hooks["response"]:
        try:
            await run_hooks(hooks["response"], response)
        except BaseException:
            response.close()
            raise
    return response


def _as_made(request: Request) -> Request:
    made = request._clone()
    made.headers = headers = request.headers.copy()
    for name in request._engine_headers:
        headers.popall(name, None)
    made._engine_headers = ()
    return made
