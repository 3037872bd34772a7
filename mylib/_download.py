"""Downloads to a file that appears under its final name only when complete.

The body is streamed into a file beside the target (same folder, so the final ``os.replace``
is an atomic rename on the same file system) and renamed only once the whole body has arrived
and its length matches the full size the server announced. Whatever was at the target stays
untouched until then.

Two kinds of partial file:

* Without ``resume`` it is a fresh temporary file (random name), and any failure, Ctrl-C
  included, deletes it: nothing is left behind.
* With ``resume=True`` it is ``.<name>.part`` beside the target, and a failure *keeps* it.
  The next ``download(..., resume=True)`` of the same target asks for the rest with
  ``Range: bytes=<size>-``. Beside it, ``.<name>.part.if-range`` remembers the first
  response's validator (a strong ETag, else a Last-Modified the server could not have
  changed within its second), sent as ``If-Range`` so a resource that changed in between
  comes back whole (200) instead of being spliced onto the old bytes. Rejected: keeping the
  validator inside the partial file (it would no longer be a prefix of the body) or in
  extended attributes (not on every file system). A partial with no remembered validator is
  still continued, as ``curl -C -`` and ``wget -c`` do; the final length check is then the
  only guard. The sidecar holds only the header value, never the URL (signed URLs carry
  secrets, and change between calls).

What a response to a ranged request means is decided in one place, :func:`_decide`: a 206
starting at the partial's size is appended; a 200 (the server ignores Range, or If-Range did
not match) restarts from byte 0; a 416 whose complete length equals the partial's size means
the partial is already the whole file; any other 206/416 means the server will not continue
this partial, which is dropped and the request sent once more without Range.

File writes never run on mylib's shared I/O loop: the blocking download writes in the
caller's thread from the large batches the stream prefetches, the async one through
``loop.run_in_executor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import ReadError, redact_url
from ._models import Request, ResponseBase, stream_limit
from ._progress import Bar, make_bar, require_tqdm
from ._stream import AsyncStreamContext, StreamResponse, open_stream

if TYPE_CHECKING:
    from ._async_client import AsyncClient
    from ._runtime import Bridge

__all__ = ["download_async", "download_sync"]


def check_target(path: object) -> Path:
    """The target as a Path, checked before anything is sent.

    Raises:
        TypeError: ``path`` is not a str or path-like.
        FileNotFoundError: its folder does not exist.
        IsADirectoryError: it names an existing folder.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"download path must be a str or a path, not {type(path).__name__}")
    target = Path(path).expanduser()
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"cannot download to {str(target)!r}: the folder {str(folder)!r} does not exist"
        )
    if target.is_dir():
        raise IsADirectoryError(f"cannot download to {str(target)!r}: it is a folder")
    return target


def _check_resume(resume: object, request: Request) -> bool:
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False, not {type(resume).__name__}")
    if resume and "Range" in request.headers:
        raise ValueError("resume=True sends its own Range header; do not pass one")
    return resume


# -- what a response means (pure) -------------------------------------------------------------


class _Action(enum.Enum):
    """What a response to a (possibly ranged) download request means for the partial file."""

    #: Write the body from byte 0 (a 200, or any answer to a request without Range).
    RESTART = "restart"
    #: A 206 that continues exactly where the partial file ends: append the body.
    APPEND = "append"
    #: A 416 saying the resource is exactly as long as the partial file: nothing to fetch.
    COMPLETE = "complete"
    #: The server will not continue this partial file: drop it and ask again without Range.
    STALE = "stale"


_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", re.IGNORECASE)


def _content_range(response: ResponseBase) -> tuple[int | None, int | None]:
    """(first byte, complete length) from Content-Range; None for what it does not say."""
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if match is None:
        return None, None
    first, total = match.groups()
    return (int(first) if first else None), (None if total == "*" else int(total))


def _is_identity(response: ResponseBase) -> bool:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    return encoding in ("", "identity")


def _expected_length(response: ResponseBase) -> int | None:
    length = response.headers.get("Content-Length")
    if not _is_identity(response) or length is None or not length.isdigit():
        return None  # decompressed bodies have another length than the one announced
    return int(length)


def _decide(response: ResponseBase, offset: int) -> tuple[_Action, int | None]:
    """The action for ``response`` to a request for the bytes from ``offset`` on, and the
    complete length of the file when the response says it.

    Raises:
        HTTPStatusError: a 4xx/5xx status (other than the 416 of a ranged request).
    """
    status = response.status_code
    if offset and status == 416:
        _, total = _content_range(response)
        return (_Action.COMPLETE, total) if total == offset else (_Action.STALE, None)
    response.raise_for_status()
    if offset and status == 206:
        first, total = _content_range(response)
        if first != offset or not _is_identity(response):
            # Another range, or a compressed one (its offsets count other bytes).
            return _Action.STALE, None
        if total is None:
            length = _expected_length(response)
            total = None if length is None else offset + length
        return _Action.APPEND, total
    return _Action.RESTART, _expected_length(response)


def _validator(response: ResponseBase) -> str | None:
    """What to send as If-Range to continue this response's body later, or None.

    A strong ETag; else a Last-Modified at least a second older than Date (RFC 9110 13.1.5:
    a weak ETag, or a date the resource may have changed within, must not be used).
    """
    etag = response.headers.get("ETag", "").strip()
    if etag.startswith('"'):
        return etag
    modified, date = response.headers.get("Last-Modified"), response.headers.get("Date")
    if not modified or not date:
        return None
    try:
        strong = (parsedate_to_datetime(date) - parsedate_to_datetime(modified)).total_seconds()
    except (TypeError, ValueError):
        return None
    return modified.strip() if strong >= 1 else None


# -- the partial file (blocking: the caller's thread or an executor) --------------------------


def _unlink(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


class _PartFile:
    """Where a download's bytes go until the final rename.

    Every method but :meth:`request_for` does file I/O: call it in the caller's thread or
    through an executor, never on the shared loop.
    """

    def __init__(self, target: Path, resume: bool) -> None:
        self.target = target
        self.resume = resume
        if resume:
            self.name = str(target.with_name(f".{target.name}.part"))
            self._file = open(self.name, "ab")  # noqa: SIM115 (closed by finish/abandon)
        else:
            fd, self.name = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".part"
            )
            self._file = os.fdopen(fd, "wb")
        self._if_range_name = f"{self.name}.if-range"
        #: Bytes already in the file: a resumed download asks for the rest.
        self.offset = os.fstat(self._file.fileno()).st_size
        #: Bytes written by this call.
        self.written = 0
        self._if_range = self._recall() if self.offset else None

    def _recall(self) -> str | None:
        try:
            with open(self._if_range_name, encoding="latin-1") as file:
                value = file.read().strip()
        except OSError:
            return None
        return value if value.isprintable() else None  # never a header with a line break

    def request_for(self, base: Request) -> Request:
        """``base`` with the headers a resumable download needs (no I/O)."""
        if not self.resume:
            return base
        headers = base.headers.copy()
        # Offsets count the bytes as stored; a compressed body would count other bytes.
        headers["Accept-Encoding"] = "identity"
        changes: dict[str, Any] = {}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            if self._if_range:
                headers["If-Range"] = self._if_range
            limit = stream_limit(base.max_body_size)
            if limit is not None:
                # A limit given bounds the file, not each attempt at it: what is on disk
                # counts. (A server that ignores the Range and sends the whole file is held
                # to the same rest, so such a file may be refused a little early.)
                changes["max_body_size"] = max(0, limit - self.offset)
        return base.replace(headers=headers, **changes)

    def start(self, action: _Action, response: ResponseBase) -> None:
        """Get the file ready for the body that ``action`` calls for."""
        if action in (_Action.APPEND, _Action.COMPLETE):
            return
        if self.offset:
            self._file.seek(0)
            self._file.truncate()
            self.offset, self._if_range = 0, None
        if self.resume:
            validator = _validator(response) if action is _Action.RESTART else None
            if validator is None:
                _unlink(self._if_range_name)
            else:
                with open(self._if_range_name, "w", encoding="latin-1") as file:
                    file.write(validator)

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.written += len(chunk)

    def finish(self, response: ResponseBase, total: int | None) -> Path:
        """Check the length against ``total``, then rename the file into place.

        Raises:
            ReadError: the file is not ``total`` bytes long.
        """
        self._file.close()
        size = self.offset + self.written
        if total is not None and size != total:
            raise ReadError(
                f"download from {redact_url(response.url)} is incomplete: got {size} of "
                f"{total} bytes",
                request=response.request,
            )
        os.replace(self.name, self.target)
        if self.resume:
            _unlink(self._if_range_name)
        return self.target

    def abandon(self, exc: BaseException) -> None:
        """After a failure: delete the file, or with resume keep it if it holds any bytes."""
        with contextlib.suppress(OSError):
            self._file.close()
        if self.resume and self.offset + self.written:
            if isinstance(exc, Exception):
                exc.add_note(
                    f"the partial download is kept in {self.name!r}; call download(..., "
                    "resume=True) again to continue it"
                )
            return
        _unlink(self.name)
        if self.resume:
            _unlink(self._if_range_name)


# -- the two drivers ----------------------------------------------------------------------------


def _copy(chunks: Iterator[bytes], part: _PartFile, bar: Bar) -> None:
    try:
        bar.update(part.offset)
        for chunk in chunks:
            part.write(chunk)
            bar.update(len(chunk))
    finally:
        bar.close()


def download_sync(
    bridge: Bridge,
    client: AsyncClient,
    url: Any,
    path: object,
    *,
    progress: bool,
    chunk_size: int | None,
    resume: bool,
    options: dict[str, Any],
) -> Path:
    """The blocking download: stream on the loop, write in this thread, rename at the end."""
    target = check_target(path)
    tqdm = require_tqdm(progress)
    base = client.build_request("GET", url, **options)
    part = _PartFile(target, _check_resume(resume, base))
    try:
        # At most two rounds: STALE only follows a ranged request, and empties the file.
        while True:
            request = part.request_for(base)
            with StreamResponse(bridge.call(open_stream, client, request), bridge) as response:
                action, total = _decide(response, part.offset)
                part.start(action, response)
                if action is _Action.STALE:
                    continue
                if action is not _Action.COMPLETE:
                    bar = make_bar(tqdm, total=total, desc=target.name, unit="B")
                    _copy(response.iter_bytes(chunk_size), part, bar)
            return part.finish(response, total)
    except BaseException as exc:
        part.abandon(exc)
        raise


async def download_async(
    client: AsyncClient,
    url: Any,
    path: object,
    *,
    progress: bool,
    chunk_size: int | None,
    resume: bool,
    options: dict[str, Any],
) -> Path:
    """The async download: stream on this loop, write through the loop's executor."""
    target = check_target(path)
    tqdm = require_tqdm(progress)
    base = client.build_request("GET", url, **options)
    loop = asyncio.get_running_loop()
    part = await loop.run_in_executor(None, _PartFile, target, _check_resume(resume, base))
    try:
        while True:  # at most two rounds, as in download_sync
            async with AsyncStreamContext(client, part.request_for(base)) as response:
                action, total = _decide(response, part.offset)
                await loop.run_in_executor(None, part.start, action, response)
                if action is _Action.STALE:
                    continue
                if action is not _Action.COMPLETE:
                    bar = make_bar(tqdm, total=total, desc=target.name, unit="B")
                    await _acopy(response.aiter_bytes(chunk_size), part, bar)
            return await loop.run_in_executor(None, part.finish, response, total)
    except BaseException as exc:
        # Synchronously, as cancellation may be what brought us here: a close and an unlink.
        part.abandon(exc)
        raise


#: The async download hands the executor this much at a time: one thread hop per piece
#: (often 16-64 KiB) would be hundreds of hops per MB on the caller's loop.
_WRITE_BATCH = 1 << 20


async def _acopy(chunks: AsyncIterator[bytes], part: _PartFile, bar: Bar) -> None:
    loop = asyncio.get_running_loop()

    def write_all(batch: list[bytes]) -> None:
        for chunk in batch:
            part.write(chunk)

    pending: list[bytes] = []
    size = 0
    try:
        bar.update(part.offset)
        async for chunk in chunks:
            pending.append(chunk)
            size += len(chunk)
            if size >= _WRITE_BATCH:
                batch, written, pending, size = pending, size, [], 0
                await loop.run_in_executor(None, write_all, batch)
                bar.update(written)
        if pending:
            await loop.run_in_executor(None, write_all, pending)
            bar.update(size)
    finally:
        bar.close()
