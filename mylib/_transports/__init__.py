"""Transports: the seam between mylib's request pipeline and whatever moves the bytes.

* :mod:`.base` -- :class:`AsyncTransport`, the interface (send one request, return a
  ``Response`` whose body is read, or unread behind a small body interface when streaming);
* :mod:`.aiohttp` -- :class:`AiohttpTransport`, the default engine, with its per-loop sessions
  (:mod:`.sessions`) and the one table that turns aiohttp's errors into mylib's;
* :mod:`.mock` -- :class:`MockTransport`, answers from a function (users' tests, and
  ``mylib.testing.Mocker``).

Only this folder imports aiohttp (a layering test checks it). A new engine, or a test double,
is one new module here.
"""

from .base import AsyncTransport, BytesBody
from .mock import MockTransport

__all__ = ["AsyncTransport", "BytesBody", "MockTransport"]
