"""The request pipeline: the policy steps between ``send()`` and the transport, in ONE order.

A step is ``async def step(send, request, call) -> Response``: it may change the request,
call ``send(request, call)`` (the rest of the chain) once, several times or not at all, and
look at or replace the response; aiohttp's client middlewares and httpx's send chain have
this shape. (``send`` comes first so that :func:`chain` can bind it positionally: a
``functools.partial`` with a keyword costs twice as much per call, measured.)
The order, written once::

    redirects -> auth -> cookies -> [cache] -> retries -> [rate limit] -> hop (-> transport)

(A step in brackets is in a client's chain only when the client uses it, so a feature that
is off costs nothing per request: :func:`steps_for`.)

* **redirects** follows 3xx hops, each a new request made by ``Request.replace`` with the
  credentials (and the request's ``auth``) dropped across origins (``redirects.py``).
* **auth** runs the request's auth flow for each hop, so a challenge is answered at the URL
  that sent it (a Digest ``uri`` is that hop's) and never past an origin the credentials
  were dropped at; the 401s it answered go into ``history`` (``auth.py``).
* **cookies** gives each hop the client's cookies for its URL (``cookies.py``); the hop
  keeps those every response sets.
* **cache** answers from the client's HTTP cache when RFC 9111 allows, and stores what
  may be stored (between cookies and retries: a fresh hit answers without an attempt, and
  each hop of a redirect chain is looked up on its own); it is in the chain only of a
  client with a ``cache`` (``cache.py``, over ``mylib/_cache``).
* **retries** sends again on connection failures and retryable statuses, with backoff and
  ``Retry-After``, never past the total timeout (``retry.py``).
* **rate limit** (inside retries, so every attempt takes a slot) waits for the origin's
  turn and pauses the origin when the server says so (``rate_limit.py``); it is in the
  chain only of a client with a ``rate_limit``.
* **hop** is one attempt and the end of the chain: request hooks, logging, the transport,
  response hooks (``hop.py``).

State: a step holds none. Everything that belongs to one ``send()`` (the client's config
and transport, the deadline, whether the caller streams, how many attempts the current hop
took) lives in the :class:`Call` made for it, because one ``AsyncClient`` serves several
loops and many tasks at once. The chain is composed once per client (:func:`chain`), so a
request pays one call per step and nothing else.

Who owns an unread body: with ``call.stream`` the transport returns responses with their
body still on the wire. A step that gets such a response and does not return it must finish
it: ``await response.aread()`` (read the rest, reuse the connection; redirects, retried
statuses and answered 401s are small as a rule) or ``response.close()`` on an error path.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from . import auth, cache, cookies, hop, rate_limit, redirects, retry

if TYPE_CHECKING:
    from yarl import URL

    from .._config import ClientConfig
    from .._models import Request, Response
    from .._transports.base import AsyncTransport

__all__ = ["ORDER", "Call", "Handler", "Step", "chain", "steps_for"]


@dataclass(slots=True)
class Call:
    """One ``send()``: what it runs with, when its total timeout ends, whether the final
    response comes back with its body unread (a stream), how many tries the current hop
    took, and where the caller's request went."""

    config: ClientConfig
    transport: AsyncTransport
    deadline: float | None
    stream: bool = False
    attempts: int = 0
    #: Of those, the sends the transport made again on its own (not counted as retries).
    resends: int = 0
    #: The URL of the request the caller made: cookies without a domain go only to its
    #: origin (not to a redirect's, nor to one an auth flow sends to first).
    origin: URL | None = None
    #: Loop time until which the rate limit paused the origin after the last response
    #: (its server asked), for the retry step's wait; 0.0: no pause.
    paused_until: float = 0.0


Handler = Callable[["Request", Call], Awaitable["Response"]]


class Step(Protocol):
    """A pipeline step: ``send`` is the rest of the chain."""

    def __call__(self, send: Handler, request: Request, call: Call) -> Awaitable[Response]: ...


#: The steps every client has, outermost first; the hop (one attempt on the transport)
#: comes after the last.
ORDER: tuple[Step, ...] = (redirects.step, auth.step, cookies.step, retry.step)


def steps_for(config: ClientConfig) -> tuple[Step, ...]:
    """The steps of a client with ``config``: :data:`ORDER` and the optional ones it uses,
    each in its place."""
    if config.rate_limit is None and config.cache is None:
        return ORDER
    steps: list[Step] = [redirects.step, auth.step, cookies.step]
    if config.cache is not None:
        steps.append(cache.step)
    steps.append(retry.step)
    if config.rate_limit is not None:
        steps.append(rate_limit.step)
    return tuple(steps)


def chain(steps: Sequence[Step] = ORDER, last: Handler = hop.send) -> Handler:
    """The handler that runs ``steps`` in order, then ``last``."""
    handler = last
    for step in reversed(steps):
        handler = functools.partial(step, handler)
    return handler
