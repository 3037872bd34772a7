"""Request bodies: ``json=``, ``data=``, ``content=`` and ``files=`` into what is sent.

Encoding runs in the caller's thread (``build_request``), never on the shared I/O loop, and
knows no engine: a multipart body is a :class:`Multipart` list of parts, which the transport
turns into its own form object when it sends.
"""

from __future__ import annotations

import io
import json as jsonlib
import os
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

__all__ = ["Multipart", "Part", "encode_body"]


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart/form-data body: a field, or a file when it has a filename."""

    name: str
    value: Any
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class Multipart:
    """A multipart/form-data body, part by part (form fields first, then files)."""

    parts: list[Part] = field(default_factory=list)

_CONFLICTS = (
    ("json", "data"),
    ("json", "content"),
    ("json", "files"),
    ("data", "content"),
    ("content", "files"),
)


def _default_dumps(value: Any) -> bytes:
    return jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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
        return value  # aiohttp streams file objects in chunks
    if isinstance(value, AsyncIterable):
        return value
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return _aiter(value)
    raise TypeError(
        f"{name}= must be bytes, str, a file object or an iterable of bytes, "
        f"not {type(value).__name__}"
    )


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
                form.parts.append(Part(key, str(item)))
    for name, spec in files.items():
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
    if content_type is None and isinstance(fileobj, (bytes, bytearray)):
        content_type = "application/octet-stream"
    return filename, fileobj, content_type
