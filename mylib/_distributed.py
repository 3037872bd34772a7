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
  in the caller) cancels every batch not yet started and is raised. Ctrl-C in the caller
  does the same. A batch already running finishes (a process pool cannot stop a running
  task); no new batch is sent, so the requests stop with it. At a terminal, Ctrl-C reaches
  the workers too, and their own ``map`` stops at once.
* **Engines are imported by nobody.** A ``dask.distributed.Client`` is recognized by its
  class's module and used through its own ``concurrent.futures`` executor; mylib imports
  neither Dask nor Ray.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import itertools
import pickle
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from ._map import MapResult

__all__ = ["as_executor", "check_batch_size", "distributed_aiter", "distributed_iter"]

#: The clients this worker process unpickled, by the digest of their bytes.
_WORKER_CLIENTS: dict[str, Any] = {}
_WORKER_LOCK = threading.Lock()


def as_executor(executor: object) -> concurrent.futures.Executor:
    """``executor`` as a ``concurrent.futures.Executor`` (a Dask client's own executor).

    Raises:
        TypeError: it is neither an executor nor a ``dask.distributed.Client``.
    """
    module = type(executor).__module__ or ""
    if module.split(".")[0] == "distributed" and hasattr(executor, "get_executor"):
        return executor.get_executor()  # type: ignore[no-any-return]
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
) -> list[MapResult]:
    """In a worker: ``map`` the batch on this process's copy of the client."""
    from ._async_client import AsyncClient
    from ._io import run

    with _WORKER_LOCK:
        client = _WORKER_CLIENTS.get(digest)
        if client is None:
            client = _WORKER_CLIENTS[digest] = pickle.loads(blob)
    if isinstance(client, AsyncClient):
        results = run(client.map(method, items, concurrency=concurrency,
                                 return_exceptions=return_exceptions, **options))  # fmt: skip
    else:
        results = client.map(method, items, concurrency=concurrency,
                             return_exceptions=return_exceptions, **options)  # fmt: skip
    return [(start + offset, result) for offset, result in enumerate(results)]


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
                if batch:
                    pending.add(pool.submit(
                        run_batch, blob, digest, method, start, batch, concurrency,
                        return_exceptions, dict(options),
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
                results: list[MapResult] = future.result()
                if on_batch is not None:
                    on_batch(len(results))
                yield from results
    finally:
        for future in pending:
            future.cancel()


async def distributed_aiter(
    client: Any, method: str, items: Iterator[Any], **kwargs: Any
) -> AsyncIterator[MapResult]:
    """:func:`distributed_iter` for async code: driven from a thread of its own, its results
    handed to the caller's loop; cancelling the caller stops it as Ctrl-C would."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop: concurrent.futures.Future[None] = concurrent.futures.Future()

    def hand(kind: str, value: Any) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the caller's loop is closed: nobody is left to hand it to
            return False
        return True

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
