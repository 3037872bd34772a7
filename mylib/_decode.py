"""Turning body bytes into what a user reads: text, JSON, chunks and lines. No I/O.

One copy of each rule, used by :class:`~mylib.Response` and both stream faces, so they cannot
drift apart (0.1.0 had three copies, and a stream's ``text`` kept a UTF-8 BOM that
``Response.text`` stripped):

* **Text** decodes with the charset the response names (or one set by the user), else UTF-8;
  a UTF-8 byte-order mark is dropped either way, and undecodable bytes become U+FFFD.
* **JSON** decodes with the client's ``json_loads``, whatever the Content-Type says; a body
  that is not JSON raises :class:`~mylib.DecodingError` (a ``mylib.Error`` and a
  ``ValueError``) quoting the start of the body.

Everything here runs in the caller's thread, never on the shared I/O loop.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Mapping
from email.message import Message
from typing import TYPE_CHECKING, Any

from ._errors import DecodingError, redact_url

if TYPE_CHECKING:
    from ._models import Request

__all__ = [
    "LineSplitter",
    "Rechunker",
    "charset_of",
    "decode_json",
    "decode_text",
    "text_decoder",
]

#: How much of a body that is not JSON the error message quotes.
_QUOTE = 80


def charset_of(headers: Mapping[str, str]) -> str | None:
    """The Content-Type's charset, normalized (``"UTF8"`` -> ``"utf-8"``), or None when it is
    missing or unknown to Python."""
    content_type = headers.get("Content-Type")
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    if isinstance(charset, str):
        try:
            info = codecs.lookup(charset.strip("'\""))
        except LookupError:
            return None
        # A bytes-to-bytes or text-to-text codec (base64, zlib, rot13) is no charset: it
        # is treated as an unknown one. (CodecInfo has no public flag for it.)
        return info.name if getattr(info, "_is_text_encoding", True) else None
    return None


def _codec(encoding: str | None) -> str:
    # "utf-8-sig" decodes plain UTF-8 the same and drops a leading BOM.
    if encoding is None or encoding == "utf-8":
        return "utf-8-sig"
    return encoding


def decode_text(content: bytes, encoding: str | None) -> str:
    """``content`` as text in ``encoding`` (None: UTF-8), BOM dropped, bad bytes as U+FFFD.

    Raises:
        DecodingError: ``encoding`` is unknown, or not a text encoding, or failed anyway.
    """
    try:
        return content.decode(_codec(encoding), errors="replace")
    except (LookupError, UnicodeError, TypeError) as exc:
        raise DecodingError(f"the body cannot be decoded as {encoding!r}: {exc}") from exc


def text_decoder(encoding: str | None) -> codecs.IncrementalDecoder:
    """An incremental decoder that follows the rules of :func:`decode_text`.

    Raises:
        DecodingError: ``encoding`` is unknown.
    """
    try:
        return codecs.getincrementaldecoder(_codec(encoding))(errors="replace")
    except LookupError as exc:
        raise DecodingError(f"the body cannot be decoded as {encoding!r}: {exc}") from exc


def decode_json(
    content: bytes,
    loads: Callable[..., Any],
    *,
    url: str,
    request: Request | None,
    kwargs: Mapping[str, Any],
) -> Any:
    """``loads(content, **kwargs)``.

    Raises:
        DecodingError: the body is not valid JSON; the message quotes its start.
    """
    try:
        return loads(content, **kwargs)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        start = content[:_QUOTE].decode("utf-8", errors="replace")
        more = "..." if len(content) > _QUOTE else ""
        raise DecodingError(
            f"response body from {redact_url(url)} is not JSON "
            f"({exc}); it starts with {start!r}{more}",
            request=request,
        ) from exc


class Rechunker:
    """Cuts a sequence of byte pieces into chunks of exactly ``size`` (the last may be short).

    Raises:
        TypeError, ValueError: ``size`` is not None or an int of at least 1.
    """

    __slots__ = ("_buffer", "_size")

    def __init__(self, size: int | None) -> None:
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise TypeError(f"chunk_size must be an int or None, not {type(size).__name__}")
        if size is not None and size < 1:
            raise ValueError(f"chunk_size must be at least 1, not {size}")
        self._size = size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The whole chunks ``data`` completes; the rest waits for the next piece."""
        size = self._size
        if size is None:
            return [data] if data else []
        out: list[bytes] = []
        start = 0
        buffer = self._buffer
        if buffer:
            start = size - len(buffer)
            buffer += data[:start]
            if len(buffer) < size:
                return out
            out.append(bytes(buffer))
            buffer.clear()
        # Slices straight from the piece: one copy per chunk, as requests' iter_content.
        end = len(data) - (len(data) - start) % size
        out.extend([data[i : i + size] for i in range(start, end, size)])
        if end < len(data):
            buffer += data[end:]
        return out

    def flush(self) -> list[bytes]:
        """The short last chunk, if any."""
        out = [bytes(self._buffer)] if self._buffer else []
        self._buffer = bytearray()
        return out


class LineSplitter:
    """Splits text arriving in pieces into lines (without their endings), like requests."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        """The whole lines ``text`` completes."""
        if not text:
            return []
        lines = (self._pending + text).splitlines(keepends=True)
        # The last line may be incomplete, or end in "\r" with its "\n" still to come.
        self._pending = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        return [line.rstrip("\r\n") if line.endswith("\n") else line[:-1] for line in lines]

    def flush(self) -> list[str]:
        """The last line, if the text did not end with a line ending."""
        pending, self._pending = self._pending, ""
        if not pending:
            return []
        return pending.splitlines()
