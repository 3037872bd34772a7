"""``map(..., executor=...)``: the items cut into batches, each batch a ``map`` on the client
as unpickled in a worker process of a ``concurrent.futures`` executor or a Dask cluster.

The invariants, and why they hold:

* **The client travels as its configuration.** It is pickled once in the caller (a few
  hundred bytes: options, cookies, never connections) and those bytes go with every batch.
  A worker process unpickles a given client once and keeps it (by the digest of its bytes),
  so a worker's batches share its connections, on that process's own I/O loop; the worker
  ends its loop, silently, when its process exits.
* **Bounded lookahead.** Items are pulled from the caller's iterable one batch at a time, and
  at most ``2 x workers`` batches are submitted and not yet returned, so a generator of a
  million URLs is never materialized; results are held only until they are handed on.
* **Input order.** Each result carries its input index; ``map`` places it, ``as_completed``
  yields it as its batch completes.
* **Errors and Ctrl-C.** Unless ``return_exceptions`` is true, a batch's error (which
  pickles with its ``.response`` and ``.request``, so ``except mylib.HTTPStatusError`` works
  in the caller; it comes back as a value, so no engine logs a failed task) cancels every
  batch not yet started and is raised. Ctrl-C in the caller does the same. A batch already
  running finishes (a process pool cannot stop a running task, and Dask logs one it is made
  to drop: its batches in flight are waited for); no new batch is sent, so the requests
  stop with it. At a terminal, Ctrl-C reaches the workers too, and their own ``map`` stops
  at once.
* **Engines are imported by nobody.** A ``dask.distributed.Client`` is recognized by its
  class's module and used through its own ``concurrent.futures`` executor; mylib imports
  neither Dask nor Ray.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import hashlib
import itertools
import pickle
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from ._map import MapResult
from ._models import Request

__all__ = ["as_executor", "check_batch_size", "distributed_aiter", "distributed_iter"]

#: The clients this worker process unpickled, by the digest of their bytes, newest last;
#: each with a lock that runs its batches one at a time (``concurrency`` is per worker, even
#: where a worker runs several tasks at once). The oldest is closed past a few.
_WORKER_CLIENTS: collections.OrderedDict[str, tuple[Any, threading.Lock]] = (
    collections.OrderedDict()
)
_WORKER_LOCK = threading.Lock()
_WORKER_KEEPS = 4


class _Failed:
    """A batch's error, returned rather than raised: an engine that logs a failed task (Dask
    prints "Compute Failed" with a traceback) stays quiet; the caller raises it."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Failed, (self.error,))


def as_executor(executor: object) -> concurrent.futures.Executor:
    """``executor`` as a ``concurrent.futures.Executor`` (a Dask client's own executor).

    Raises:
        TypeError: it is neither an executor nor a ``dask.distributed.Client``.
    """
    module = type(executor).__module__ or ""
    if module.split(".")[0] == "distributed" and hasattr(executor, "get_executor"):
        # pure=False: Dask would otherwise run identical batches (same client, same items)
        # of two maps at once only once.
        return executor.get_executor(pure=False)  # type: ignore[no-any-return]
    if isinstance(executor, concurrent.futures.Executor) or callable(
        getattr(executor, "submit", None)
    ):
        return executor  # type: ignore[return-value]
    raise TypeError(
        "executor must be a concurrent.futures.Executor (such as a ProcessPoolExecutor) or "
        f"a dask.distributed.Client, not {type(executor).__name__}"
    )


def check_batch_size(batch_size: object, concurrency: int) -> int:
    """``batch_size`` as an int >= 1; None: ten items per request in flight, at least 100.

    Raises:
        TypeError: not an int.
        ValueError: less than 1.
    """
    if batch_size is None:
        return max(100, 10 * concurrency)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, not {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    return batch_size


def _workers_of(executor: concurrent.futures.Executor) -> int:
    client = getattr(executor, "_client", None)  # Dask's executor
    if client is not None and callable(getattr(client, "nthreads", None)):
        return max(1, len(client.nthreads()))
    workers = getattr(executor, "_max_workers", None)
    return workers if isinstance(workers, int) and workers > 0 else 4


def run_batch(
    blob: bytes,
    digest: str,
    method: str,
    start: int,
    items: list[Any],
    concurrency: int,
    return_exceptions: bool,
    options: Mapping[str, Any],
    call: str,
) -> list[MapResult] | _Failed:
    """In a worker: ``map`` the batch on this process's copy of the client (``call`` names
    the caller's ``map``, so that no engine takes two batches for one)."""
    from ._async_client import AsyncClient
    from ._io import run

    try:
        client, lock = _worker_client(blob, digest)
        with lock:
            mapped = client.map(
                method, items, concurrency=concurrency, return_exceptions=return_exceptions,
                **options,
            )
            results = run(mapped) if isinstance(client, AsyncClient) else mapped
    except Exception as exc:
        return _Failed(exc)
    return [(start + offset, result) for offset, result in enumerate(results)]


def _worker_client(blob: bytes, digest: str) -> tuple[Any, threading.Lock]:
    from ._async_client import AsyncClient
    from ._io import run

    with _WORKER_LOCK:
        kept = _WORKER_CLIENTS.get(digest)
        if kept is not None:
            _WORKER_CLIENTS.move_to_end(digest)
            return kept
        kept = _WORKER_CLIENTS[digest] = (pickle.loads(blob), threading.Lock())
        while len(_WORKER_CLIENTS) > _WORKER_KEEPS:  # the caller's cookies changed, say
            _, (old, old_lock) = _WORKER_CLIENTS.popitem(last=False)
            with contextlib.suppress(Exception), old_lock:
                run(old.aclose()) if isinstance(old, AsyncClient) else old.close()
        return kept


def distributed_iter(
    client: Any,
    method: str,
    items: Iterator[Any],
    *,
    executor: object,
    batch_size: int | None,
    concurrency: int,
    return_exceptions: bool,
    options: Mapping[str, Any],
    on_batch: Callable[[int], None] | None = None,
    stop: concurrent.futures.Future[None] | None = None,
) -> Iterator[MapResult]:
    """``(index, result)`` pairs as the batches complete (see the module's docstring).

    ``stop``, once done, ends the iteration as Ctrl-C would (the async driver's cancel).

    Raises:
        TypeError: a bad ``executor`` or ``batch_size``, or a client or options that cannot
            be pickled (the message says which).
    """
    pool = as_executor(executor)
    size = check_batch_size(batch_size, concurrency)
    # Dask cannot stop a task that runs, and a worker logs each one cancelled (or released)
    # while it does: after an error or Ctrl-C its batches in flight (at most two per worker)
    # are waited for, their answers dropped. A second Ctrl-C ends the wait.
    cancels = (type(pool).__module__ or "").split(".")[0] != "distributed"
    call = uuid.uuid4().hex
    blob = pickle.dumps(client)
    try:
        pickle.dumps(dict(options))
    except Exception as exc:
        raise TypeError(f"map(executor=...) sends its options to the workers: {exc}") from exc
    digest = hashlib.sha256(blob).hexdigest()
    room = 2 * _workers_of(pool)
    pending: set[concurrent.futures.Future[Any]] = set()
    start, exhausted = 0, False
    try:
        while True:
            while not exhausted and len(pending) < room:
                batch = list(itertools.islice(items, size))
                exhausted = len(batch) < size
                for offset, item in enumerate(batch):
                    if isinstance(item, Request) and not isinstance(
                        item.content, (bytes, bytearray, type(None))
                    ):
                        raise TypeError(
                            f"map() item {start + offset} is a Request with a streamed body, "
                            "which cannot be sent to another process; give its body as bytes"
                        )
                if batch:
                    pending.add(pool.submit(
                        run_batch, blob, digest, method, start, batch, concurrency,
                        return_exceptions, dict(options), call,
                    ))  # fmt: skip
                    start += len(batch)
            if not pending:
                return
            waiting = pending if stop is None else {*pending, stop}
            done, _ = concurrent.futures.wait(
                waiting, return_when=concurrent.futures.FIRST_COMPLETED
            )
            if stop is not None and stop.done():
                return
            for future in done:
                pending.discard(future)
                results: list[MapResult] | _Failed = future.result()
                if isinstance(results, _Failed):
                    raise results.error
                if on_batch is not None:
                    on_batch(len(results))
                yield from results
    finally:
        if cancels:
            for future in pending:
                future.cancel()
        elif pending:
            concurrent.futures.wait(pending)


async def distributed_aiter(
    client: Any, method: str, items: Iterator[Any], **kwargs: Any
) -> AsyncIterator[MapResult]:
    """:func:`distributed_iter` for async code: driven from a thread of its own, its results
    handed to the caller's loop; cancelling the caller stops it as Ctrl-C would."""
    loop = asyncio.get_running_loop()
    # Bounded: the driver waits for the caller to take results (a lookahead as map's).
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=256)
    stop: concurrent.futures.Future[None] = concurrent.futures.Future()

    def hand(kind: str, value: Any) -> bool:
        if stop.done():
            return False
        try:
            put = asyncio.run_coroutine_threadsafe(queue.put((kind, value)), loop)
        except RuntimeError:
            return False  # the caller's loop is closed: nobody is left to take it
        while True:
            try:
                put.result(timeout=1.0)
                return not stop.done()
            except concurrent.futures.TimeoutError:
                if stop.done() or loop.is_closed():  # (a loop that ended without a word)
                    put.cancel()
                    return False
            except concurrent.futures.CancelledError:
                return False

    def drive() -> None:
        try:
            for result in distributed_iter(client, method, items, stop=stop, **kwargs):
                if not hand("result", result):
                    return
        except BaseException as exc:
            hand("error", exc)
        else:
            hand("end", None)

    thread = threading.Thread(target=drive, name="mylib-distributed-map", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        if not stop.done():
            stop.set_result(None)
        while not queue.empty():  # a put the driver waits on completes; it then sees stop
            queue.get_nowait()
