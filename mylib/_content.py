"""Request bodies: ``json=``, ``data=``, ``content=`` and ``files=`` into what is sent.

Encoding runs in the caller's thread (``build_request``), never on the shared I/O loop, and
knows no engine: a multipart body is a :class:`Multipart` list of parts, which the transport
turns into its own form object when it sends.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json as jsonlib
import os
import stat
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ._errors import InvalidHeader

if TYPE_CHECKING:
    from multidict import CIMultiDict

__all__ = ["Multipart", "Part", "check_framing", "encode_body", "rewind", "rewind_marks"]


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart/form-data body: a field, or a file when it has a filename."""

    name: str
    value: Any
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True, repr=False)
class Multipart:
    """A multipart/form-data body, part by part (form fields first, then files). Encoded by
    the engine as it is sent (files are streamed, never read whole), so ``request.content``
    of a ``files=`` request is this, shown as what it holds, never the values."""

    parts: list[Part] = field(default_factory=list)

    def __repr__(self) -> str:
        fields = [part.name for part in self.parts if part.filename is None]
        files = [f"{part.name} ({part.filename})" for part in self.parts if part.filename]
        shown = "; ".join(
            label + ", ".join(names)
            for label, names in (("fields ", fields), ("files ", files))
            if names
        )
        return f"<multipart/form-data body: {shown or 'empty'}>"

_CONFLICTS = (
    ("json", "data"),
    ("json", "content"),
    ("json", "files"),
    ("data", "content"),
    ("content", "files"),
)


def _default_dumps(value: Any) -> bytes:
    try:
        text = jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        # json.dumps would write NaN/Infinity, which no JSON parser accepts (pandas data
        # holds them): refused before anything is sent.
        raise ValueError(
            f"json= holds NaN or Infinity, which JSON cannot represent ({exc}); replace them "
            "(e.g. with None) first"
        ) from None
    return text.encode("utf-8")


def encode_body(
    *,
    json: Any = None,
    data: Any = None,
    content: Any = None,
    files: Any = None,
    json_dumps: Callable[[Any], bytes | str] = _default_dumps,
) -> tuple[Any, str | None]:
    """(body, content type) for the given options; at most one kind of body may be given.

    Raises:
        TypeError: a body of an unsupported type, or two kinds of body at once.
    """
    given = {"json": json, "data": data, "content": content, "files": files}
    for first, second in _CONFLICTS:
        if given[first] is not None and given[second] is not None:
            raise TypeError(
                f"{first}= and {second}= cannot be used together: pick one kind of body"
            )
    if json is not None:
        encoded = json_dumps(json)
        return (encoded.encode("utf-8") if isinstance(encoded, str) else encoded,
                "application/json")
    if files is not None:
        return _multipart(files, data), None
    if data is not None:
        if isinstance(data, (bytes, bytearray, str)):
            return _raw(data, "data"), None
        if isinstance(data, (Mapping, list, tuple)):
            return urlencode(_form_pairs(data), doseq=True).encode("ascii"), (
                "application/x-www-form-urlencoded"
            )
        raise TypeError(
            f"data= must be a dict of form fields (or bytes/str), not {type(data).__name__}; "
            "use content= for a raw or streaming body"
        )
    if content is not None:
        return _raw(content, "content"), None
    return None, None


def _raw(value: Any, name: str) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, io.IOBase) or hasattr(value, "read"):
        return file_like(value, f"{name}=")
    if isinstance(value, AsyncIterable):
        return value
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return _aiter(value)
    raise TypeError(
        f"{name}= must be bytes, str, a file object or an iterable of bytes, "
        f"not {type(value).__name__}"
    )


def file_like(value: Any, field: str) -> Any:
    """A body read from ``value``, anything with ``read()``: a real file object as it is (the
    engine streams it, size known), a wrapper's file (``tempfile.NamedTemporaryFile``),
    else an async iterator over its ``read()`` (sync reads in a worker thread).

    Raises:
        ValueError: the file is closed (``field`` names where it was given).
    """
    if getattr(value, "closed", False) is True:
        raise ValueError(f"{field} is a closed file: open it again, or pass its bytes")
    inner = getattr(value, "file", None)
    if not isinstance(value, io.IOBase) and isinstance(inner, io.IOBase):
        value = inner  # a tempfile wrapper: its file, which the engine can size and stream
    if isinstance(value, io.IOBase):
        return value
    return _read_chunks(value)


#: How much a generic reader is asked for at a time.
_READ_SIZE = 1 << 16


async def _read_chunks(reader: Any) -> Any:
    read = reader.read
    if inspect.iscoroutinefunction(read):
        while chunk := await read(_READ_SIZE):
            yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        return
    loop = asyncio.get_running_loop()
    # A reader's read() may block (a file, a pipe): never on the shared loop.
    while chunk := await loop.run_in_executor(None, read, _READ_SIZE):
        yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk


async def _aiter(chunks: Iterable[Any]) -> Any:
    # A plain iterator is stepped on the loop; it must not block (e.g. a generator reading
    # a file is fine, one waiting on the network is not).
    for chunk in chunks:
        yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk


def _form_pairs(data: Any) -> list[tuple[str, Any]]:
    items = data.items() if isinstance(data, Mapping) else data
    return [(str(k), v) for k, v in items if v is not None]


def _multipart(files: Any, data: Any) -> Multipart:
    if not isinstance(files, Mapping):
        raise TypeError(f"files= must be a dict of field name -> file, not {type(files).__name__}")
    form = Multipart()
    if data is not None:
        if not isinstance(data, Mapping):
            raise TypeError("data= must be a dict of form fields when used with files=")
        for key, value in _form_pairs(data):
            for item in value if isinstance(value, (list, tuple)) else [value]:
                # bytes are sent as they are (str() would send the text "b'...'").
                form.parts.append(Part(key, item if isinstance(item, bytes) else str(item)))
    for name, spec in files.items():
        if spec is None:
            continue  # requests skips a None file too
        filename, fileobj, content_type = _file_spec(name, spec)
        form.parts.append(Part(name, fileobj, filename, content_type))
    return form


def _file_spec(name: str, spec: Any) -> tuple[str | None, Any, str | None]:
    content_type = None
    if isinstance(spec, tuple):
        if len(spec) not in (2, 3):
            raise TypeError(
                f"files[{name!r}] must be a file or (filename, file[, content_type])"
            )
        filename, fileobj = spec[0], spec[1]
        content_type = spec[2] if len(spec) == 3 else None
    else:
        fileobj = spec
        path = getattr(spec, "name", None)
        filename = os.path.basename(path) if isinstance(path, str) else name
    if isinstance(fileobj, str):
        fileobj = fileobj.encode("utf-8")
    elif not isinstance(fileobj, (bytes, bytearray)) and hasattr(fileobj, "read"):
        fileobj = file_like(fileobj, f"files[{name!r}]")
    if content_type is None and isinstance(fileobj, (bytes, bytearray)):
        content_type = "application/octet-stream"
    return filename, fileobj, content_type


# -- framing headers ---------------------------------------------------------------------------


def check_framing(headers: CIMultiDict[str], content: Any) -> None:
    """Refuse framing headers the wire could not honour, before anything is sent.

    The body's framing is mylib's to write: a ``Content-Length`` of the user's must be one
    number and match a body whose size is known (bytes, none, a regular file, a BytesIO);
    for a streamed body it is checked as the body is sent. A ``Transfer-Encoding`` may only
    be ``chunked``, which mylib then writes itself; never both (the request-smuggling shape).

    Raises:
        InvalidHeader: a framing header that does not fit the body (also a ValueError).
    """
    if "Transfer-Encoding" in headers:
        codings = headers.getall("Transfer-Encoding")
        if len(codings) > 1 or codings[0].strip().lower() != "chunked":
            raise InvalidHeader(
                f"Transfer-Encoding {', '.join(codings)!r} cannot be sent: mylib frames the "
                "body itself, and only 'chunked' may be asked for (to compress a body, "
                "compress it yourself and set Content-Encoding)"
            )
        if "Content-Length" in headers:
            raise InvalidHeader(
                "Transfer-Encoding and Content-Length cannot both be sent (a server and a "
                "proxy could read the body differently): keep one of them"
            )
        return
    if "Content-Length" not in headers:
        return
    lengths = set(headers.getall("Content-Length"))
    value = lengths.pop().strip()
    if lengths or not value.isdigit():
        raise InvalidHeader(
            f"Content-Length must be one number of bytes, not {headers.getall('Content-Length')}"
        )
    if isinstance(content, Multipart):
        raise InvalidHeader(
            "Content-Length cannot be set for a files= body: mylib computes its size"
        )
    size = body_size(content)
    if size is None and not isinstance(content, AsyncIterable):
        raise InvalidHeader(
            f"Content-Length {value} cannot be checked against this file (its size is "
            "unknown): leave the header out and the body is sent chunked"
        )
    if size is not None and size != int(value):
        raise InvalidHeader(
            f"Content-Length {value} does not match the body, which is {size} bytes: leave "
            "the header out (mylib sets it) or fix it"
        )


Marks = list[tuple[Any, int]]


def rewind_marks(content: Any) -> Marks | None:
    """Where each file of a body starts, so the body can be sent again (after a 307 or 308):
    ``[]`` when nothing needs rewinding (bytes, no body, a form of fields), ``None`` when it
    cannot be sent again (a stream, or a file that cannot seek)."""
    if content is None or isinstance(content, bytes):
        return []
    values = [part.value for part in content.parts] if isinstance(content, Multipart) else [
        content
    ]
    marks: Marks = []
    for value in values:
        if isinstance(value, (bytes, str)):
            continue
        try:
            if not (isinstance(value, io.IOBase) and value.seekable()):
                return None
            marks.append((value, value.tell()))
        except (OSError, ValueError):
            return None
    return marks


def rewind(marks: Marks) -> bool:
    """Put each file back where its body started; False if one could not be."""
    try:
        for file, position in marks:
            file.seek(position)
    except (OSError, ValueError):
        return False
    return True


def body_size(content: Any) -> int | None:
    """The bytes ``content`` will send, or None when only sending it tells (a stream)."""
    if content is None:
        return 0
    if isinstance(content, bytes):
        return len(content)
    if isinstance(content, io.BytesIO):
        return len(content.getbuffer()) - content.tell()
    try:
        info = os.fstat(content.fileno())
        if stat.S_ISREG(info.st_mode):
            return max(0, info.st_size - int(content.tell()))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    return None
