"""Downloads to a file that appears under its final name only when complete.

The body is streamed into a temporary file beside the target (same folder, so the final
``os.replace`` is an atomic rename on the same file system) and renamed only once the whole
body has arrived and its length matches Content-Length. Any failure, Ctrl-C included, removes
the temporary file and leaves whatever was at the target untouched.

File writes never run on mylib's shared I/O loop: the blocking download writes in the
caller's thread from the large batches the stream prefetches, the async one through
``loop.run_in_executor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ._errors import ReadError, redact_url
from ._progress import make_bar, require_tqdm
from ._stream import AsyncStreamContext, StreamResponse, _StreamInfo, open_stream

if TYPE_CHECKING:
    from ._async_client import AsyncClient
    from ._bridge import Bridge

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


def _temp_file(target: Path) -> tuple[IO[bytes], str]:
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    return os.fdopen(fd, "wb"), name


def _expected_length(response: _StreamInfo) -> int | None:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    length = response.headers.get("Content-Length")
    if encoding not in ("", "identity") or length is None or not length.isdigit():
        return None  # decompressed bodies have another length than the one announced
    return int(length)


def _check_length(response: _StreamInfo, written: int) -> None:
    expected = _expected_length(response)
    if expected is not None and written != expected:
        raise ReadError(
            f"download from {redact_url(response.url)} is incomplete: got {written} of "
            f"{expected} bytes",
            request=response.request,
        )


def _discard(file: IO[bytes], name: str) -> None:
    with contextlib.suppress(OSError):
        file.close()
    with contextlib.suppress(OSError):
        os.unlink(name)


def download_sync(
    bridge: Bridge,
    client: AsyncClient,
    url: Any,
    path: object,
    *,
    progress: bool,
    chunk_size: int | None,
    options: dict[str, Any],
) -> Path:
    """The blocking download: stream on the loop, write in this thread, rename at the end."""
    target = check_target(path)
    tqdm = require_tqdm(progress)
    request = client._build("GET", url, **options)
    file, temp_name = _temp_file(target)
    try:
        with StreamResponse(bridge.call(open_stream, client, request), bridge) as response:
            response.raise_for_status()
            bar = make_bar(tqdm, total=_expected_length(response), desc=target.name, unit="B")
            written = 0
            try:
                for chunk in response.iter_bytes(chunk_size):
                    file.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
        _check_length(response, written)
        file.close()
        os.replace(temp_name, target)
    except BaseException:
        _discard(file, temp_name)
        raise
    return target


async def download_async(
    client: AsyncClient,
    url: Any,
    path: object,
    *,
    progress: bool,
    chunk_size: int | None,
    options: dict[str, Any],
) -> Path:
    """The async download: stream on this loop, write through the loop's executor."""
    target = check_target(path)
    tqdm = require_tqdm(progress)
    request = client._build("GET", url, **options)
    loop = asyncio.get_running_loop()
    file, temp_name = await loop.run_in_executor(None, _temp_file, target)
    try:
        async with AsyncStreamContext(client, request) as response:
            response.raise_for_status()
            bar = make_bar(tqdm, total=_expected_length(response), desc=target.name, unit="B")
            written = 0
            try:
                async for chunk in response.aiter_bytes(chunk_size):
                    await loop.run_in_executor(None, file.write, chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
        _check_length(response, written)
        await loop.run_in_executor(None, file.close)
        await loop.run_in_executor(None, os.replace, temp_name, target)
    except BaseException:
        _discard(file, temp_name)
        raise
    return target
