"""map: many requests at once, under a concurrency limit, from blocking or async code.

Shape of a run
--------------
A :class:`MapJob` lives on the loop: a queue of built requests and at most ``concurrency``
worker tasks that take from it and send. A *driver* feeds it and drains its results in one
step, :meth:`MapJob.exchange`: it hands over newly built requests, then waits until results
are ready (or the queue runs low) and gets back the results plus how many more requests the
job wants. The number of requests pulled but not yet handed back is held at
:func:`lookahead` (``concurrency + max(concurrency, 32)``), so a generator of millions of URLs
runs in bounded memory and no more than ``concurrency`` tasks ever exist.

* The blocking driver (``Client.map``/``Client.as_completed``) pulls from the user's iterable
  and builds the requests **in the caller's thread**, and each exchange is one hop onto the
  I/O loop carrying both directions. So a slow user generator never stalls the shared loop,
  request building (CPU work) stays off it, and progress bars are drawn in the caller's
  thread. Rejected: stepping the generator on the loop (a generator that reads a file or a
  database would stall every other request in the process), and a hop per request (the hop
  costs about as much as a loopback request).
* The async driver (``AsyncClient.map``/``as_completed``) runs on the caller's own loop and
  steps the iterable (sync or async) there, as any async code would.

Errors: unless ``return_exceptions`` is true, the first failure cancels every sibling at once
and is raised as is. A cancelled exchange (Ctrl-C in a blocking caller: the bridge cancels the
hop) cancels every worker before it ends, so the bridge's bounded wait for cleanup covers them.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from yarl import URL

from ._errors import Error, MapInterrupted
from ._models import Request, Response
from ._progress import make_bar, require_tqdm

if TYPE_CHECKING:
    from ._async_client import AsyncClient
    from ._runtime import Bridge

__all__ = [
    "MapJob",
    "MapResult",
    "check_concurrency",
    "check_items",
    "lookahead",
    "map_sync_iter",
]

#: One finished item: its index in the input and its Response, or the mylib error it raised
#: (only with ``return_exceptions=True``).
MapResult: TypeAlias = "tuple[int, Response | Error]"
Built: TypeAlias = "tuple[int, Request]"


def check_concurrency(concurrency: object) -> int:
    """``concurrency`` as an int >= 1.

    Raises:
        TypeError: not an int.
        ValueError: less than 1.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"concurrency must be an int, not {type(concurrency).__name__}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    return concurrency


def _check_item(index: int, item: object) -> None:
    if isinstance(item, (str, URL, Request)):
        return
    if isinstance(item, Mapping):
        if "url" not in item and not isinstance(item.get("request"), Request):
            raise TypeError(f"map() item {index} is a dict without a 'url' key")
        return
    raise TypeError(
        f"map() item {index} must be a URL (str), a mylib.Request or a dict of request "
        f"options with a 'url' key, not {type(item).__name__}"
    )


def check_items(urls: object, *, allow_async: bool = False) -> Iterator[Any] | AsyncIterator[Any]:
    """An iterator over ``urls``; a list or tuple has every item checked up front.

    Items of other iterables (generators) are checked as they are pulled.

    Raises:
        TypeError: ``urls`` is not iterable (a single str is refused too), or an item of a
            list/tuple is not a URL, Request or dict (the message names its index).
    """
    if isinstance(urls, (str, bytes, URL, Request, Mapping)):
        raise TypeError(
            f"map() needs an iterable of URLs or requests, not a single {type(urls).__name__}"
        )
    if allow_async and isinstance(urls, AsyncIterable):
        return aiter(urls)
    if not isinstance(urls, Iterable):
        raise TypeError(f"map() needs an iterable of URLs or requests, not {type(urls).__name__}")
    if isinstance(urls, (list, tuple)):
        for index, item in enumerate(urls):
            _check_item(index, item)
    return iter(urls)


def build_item(
    client: AsyncClient, method: str, index: int, item: object, options: Mapping[str, Any]
) -> Request:
    """The Request for one map() item: a URL, a Request (sent as is) or a dict of options.

    Raises:
        TypeError, ValueError, InvalidURL: the item is malformed (a note names its index).
    """
    _check_item(index, item)
    if isinstance(item, Request):
        return item
    try:
        if isinstance(item, Mapping):
            opts = {**options, **item}
            return client.build_request(opts.pop("method", method), opts.pop("url"), **opts)
        return client.build_request(method, item, **options)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        exc.add_note(f"(in map() item {index}: {item!r})")
        raise


def _pull(
    items: Iterator[Any], start: int, count: int, build: Callable[[int, Any], Request]
) -> tuple[list[Built], bool]:
    """Up to ``count`` built requests, and whether ``items`` ran out."""
    batch: list[Built] = []
    index = start
    for item in items:
        batch.append((index, build(index, item)))
        index += 1
        if len(batch) >= count:
            return batch, False
    return batch, True


class MapJob:
    """The loop side of a map(): a queue of requests and up to ``concurrency`` workers."""

    def __init__(self, client: AsyncClient, concurrency: int, return_exceptions: bool) -> None:
        self._send = client.send
        self._concurrency = concurrency
        self._return_exceptions = return_exceptions
        self._queue: collections.deque[Built] = collections.deque()
        self._has_work = asyncio.Event()
        self._wake = asyncio.Event()
        self._results: list[MapResult] = []
        #: What the last exchange handed back: kept until the next one, because a Ctrl-C
        #: can end the hop that carried them before they reached the caller.
        self._handed: list[MapResult] = []
        self._workers: set[asyncio.Task[None]] = set()
        self._idle = 0
        self._ended = False
        self._error: BaseException | None = None
        self._outstanding = 0
        #: How many requests may be pulled and not yet handed back.
        self._target = lookahead(concurrency)
        spare = self._target - concurrency
        #: Below this many queued requests the driver is asked for more.
        self._low = max(1, spare // 2)
        #: While the queue is healthy, hand back results in batches of at least this many:
        #: each exchange is a thread hop costing about as much as a loopback request, so it
        #: must carry many results (handing back every one or two cost 25% of throughput).
        self._batch = max(1, spare // 2)

    @property
    def want(self) -> int:
        """How many more requests the job would take now."""
        return 0 if self._ended else max(0, self._target - self._outstanding)

    def _push(self, new: list[Built], source_done: bool) -> None:
        self._queue.extend(new)
        self._outstanding += len(new)
        if new:
            self._has_work.set()
        while self._idle == 0 and len(self._workers) < min(self._concurrency, self._outstanding):
            task = asyncio.get_running_loop().create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._worker_done)
        if source_done and not self._ended:
            self._ended = True
            self._has_work.set()

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        self._workers.discard(task)
        self._wake.set()

    async def _work(self) -> None:
        queue, send = self._queue, self._send
        while True:
            if not queue:
                if self._ended:
                    return
                self._idle += 1
                self._has_work.clear()
                try:
                    await self._has_work.wait()
                finally:
                    self._idle -= 1
                continue
            index, request = queue.popleft()
            try:
                result: Response | Error = await send(request)
            except Error as exc:
                if not self._return_exceptions:
                    self._fail(exc)
                    return
                result = exc
            except Exception as exc:
                self._fail(exc)
                return
            self._results.append((index, result))
            if len(self._results) >= self._batch or len(queue) < self._low or self._ended:
                self._wake.set()

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        me = asyncio.current_task()
        for task in self._workers:
            if task is not me:
                task.cancel()
        self._wake.set()

    def _ready(self) -> bool:
        if self._error is not None or (self._ended and not self._workers):
            return True
        if not self._results:
            return not self._ended and len(self._queue) < self._low and self.want > 0
        return self._ended or len(self._results) >= self._batch or len(self._queue) < self._low

    async def exchange(
        self, new: list[Built], source_done: bool
    ) -> tuple[list[MapResult], int, bool]:
        """Queue ``new``; wait for results or hunger; return (results, want, finished).

        Raises:
            The first error (unless ``return_exceptions``), after cancelling every sibling.
        """
        self._handed = []  # the caller has the previous ones
        self._push(new, source_done)
        try:
            while not self._ready():
                self._wake.clear()
                await self._wake.wait()
        except asyncio.CancelledError:
            await self.aclose()
            raise
        if self._error is not None:
            await self.aclose()
            error, self._error = self._error, None
            raise error
        results, self._results = self._results, []
        self._handed = results
        self._outstanding -= len(results)
        finished = self._ended and not self._workers and not self._results
        return results, self.want, finished

    async def aclose(self) -> None:
        """Cancel every worker and wait until they have all ended. Idempotent."""
        self._ended = True
        workers = list(self._workers)
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)


def lookahead(concurrency: int) -> int:
    """How many items map() pulls ahead of the results it has handed back: ``concurrency``
    in flight plus a queue of ``max(concurrency, 32)`` so workers never starve between two
    exchanges. Bounded, whatever the length of the input."""
    return concurrency + max(concurrency, 32)


async def _new_job(client: AsyncClient, concurrency: int, return_exceptions: bool) -> MapJob:
    return MapJob(client, concurrency, return_exceptions)


def map_sync_iter(
    bridge: Bridge,
    client: AsyncClient,
    method: str,
    items: Iterator[Any],
    *,
    concurrency: int,
    return_exceptions: bool,
    options: Mapping[str, Any],
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[MapResult]:
    """The blocking driver: ``(index, result)`` pairs as they complete.

    Items are pulled and built in this (the caller's) thread; each exchange is one hop.
    """
    job = bridge.call(_new_job, client, concurrency, return_exceptions)

    def build(index: int, item: Any) -> Request:
        return build_item(client, method, index, item, options)

    pulled, want, exhausted = 0, job.want, False
    current: list[MapResult] = []
    given = 0  # of current
    in_hop = False
    try:
        while True:
            new: list[Built] = []
            if not exhausted and want > 0:
                new, exhausted = _pull(items, pulled, want, build)
                pulled += len(new)
            in_hop = True
            results, want, finished = bridge.call(job.exchange, new, exhausted)
            in_hop = False
            current, given = results, 0
            if on_batch is not None and results:
                on_batch(len(results))
            for result in results:
                given += 1
                yield result
            if finished:
                return
    except KeyboardInterrupt as exc:
        # What had finished and not reached the caller stays with the interrupt: the
        # results a cut-off hop carried, the rest of a batch, and those not handed back.
        if not job._ended or job._workers:
            bridge.call(job.aclose)
        # (A hop cut off before the job ran it leaves the previous batch as "handed": that
        # one the caller has.)
        unsent = job._handed if in_hop and job._handed is not current else current[given:]
        exc._mylib_unsent = [*unsent, *job._results]  # type: ignore[attr-defined]
        raise
    finally:
        if not job._ended or job._workers:
            bridge.call(job.aclose)


async def map_async_iter(
    client: AsyncClient,
    method: str,
    items: Iterator[Any] | AsyncIterator[Any],
    *,
    concurrency: int,
    return_exceptions: bool,
    options: Mapping[str, Any],
    on_batch: Callable[[int], None] | None = None,
) -> AsyncIterator[MapResult]:
    """The async driver, on the caller's loop: ``(index, result)`` pairs as they complete."""
    job = MapJob(client, concurrency, return_exceptions)
    pulled, want, exhausted = 0, job.want, False
    try:
        while True:
            new: list[Built] = []
            if not exhausted and want > 0:
                new, exhausted = await _apull(client, method, items, pulled, want, options)
                pulled += len(new)
            results, want, finished = await job.exchange(new, exhausted)
            if on_batch is not None and results:
                on_batch(len(results))
            for result in results:
                yield result
            if finished:
                return
    finally:
        await job.aclose()


async def _apull(
    client: AsyncClient,
    method: str,
    items: Iterator[Any] | AsyncIterator[Any],
    start: int,
    count: int,
    options: Mapping[str, Any],
) -> tuple[list[Built], bool]:
    def build(index: int, item: Any) -> Request:
        return build_item(client, method, index, item, options)

    if isinstance(items, Iterator):
        return _pull(items, start, count, build)
    batch: list[Built] = []
    index = start
    async for item in items:
        batch.append((index, build(index, item)))
        index += 1
        if len(batch) >= count:
            return batch, False
    return batch, True


def _place(out: list[Any], index: int, value: Any) -> None:
    if index >= len(out):
        out.extend([None] * (index + 1 - len(out)))
    out[index] = value


def _total(urls: object) -> int | None:
    try:
        return len(urls)  # type: ignore[arg-type]
    except TypeError:
        return None


def collect_sync(
    bridge: Bridge,
    client: AsyncClient,
    method: str,
    urls: Iterable[Any],
    *,
    concurrency: int,
    return_exceptions: bool,
    progress: bool,
    options: Mapping[str, Any],
    executor: Any = None,
    batch_size: int | None = None,
    traveller: Any = None,
) -> list[Any]:
    """Blocking ``map``: validate everything, run, return results in input order (over the
    ``executor``'s workers, with ``traveller`` the client they get, when one is given)."""
    concurrency = check_concurrency(concurrency)
    tqdm = require_tqdm(progress)
    items = check_items(urls)
    assert isinstance(items, Iterator)
    if executor is not None:
        from ._distributed import as_executor, check_batch_size, distributed_iter

        executor = as_executor(executor)
        check_batch_size(batch_size, concurrency)
    bar = make_bar(tqdm, total=_total(urls), desc=f"{method} x{_total(urls) or '?'}")
    out: list[Any] = []
    try:
        results = (
            map_sync_iter(
                bridge, client, method, items, concurrency=concurrency,
                return_exceptions=return_exceptions, options=options, on_batch=bar.update,
            )
            if executor is None
            else distributed_iter(
                traveller if traveller is not None else client, method, items,
                executor=executor, batch_size=batch_size, concurrency=concurrency,
                return_exceptions=return_exceptions, options=options, on_batch=bar.update,
            )
        )
        completed = 0
        try:
            for index, result in results:
                _place(out, index, result)
                completed += 1
        except KeyboardInterrupt as exc:
            for index, result in getattr(exc, "_mylib_unsent", ()):
                if index >= len(out) or out[index] is None:
                    _place(out, index, result)
                    completed += 1
            # (from None: the cut-off hop inside is noise to whoever pressed Ctrl-C)
            raise interrupted(out, completed, _total(urls)) from None
    finally:
        bar.close()
    return out


def interrupted(out: list[Any], completed: int, total: int | None) -> MapInterrupted:
    """The MapInterrupted of a ``map`` that had ``completed`` of ``total`` items in ``out``."""
    if total is not None and len(out) < total:
        out.extend([None] * (total - len(out)))
    return MapInterrupted(
        f"interrupted after {completed} of {total if total is not None else 'the'} requests "
        "finished; the error's .results holds them in input order (None: not finished)",
        results=out,
        completed=completed,
    )


def keep_count(results: Iterator[MapResult]) -> Iterator[MapResult]:
    """``results`` (an ``as_completed``), with Ctrl-C raised as :class:`MapInterrupted`."""
    completed = 0
    try:
        for result in results:
            completed += 1
            yield result
    except KeyboardInterrupt as exc:
        if isinstance(exc, MapInterrupted):
            raise
        unsent = list(getattr(exc, "_mylib_unsent", ()))
        raise MapInterrupted(
            f"interrupted after {completed + len(unsent)} requests finished ({completed} "
            "yielded; the error's .results holds the others' (index, result) pairs)",
            results=unsent,
            completed=completed + len(unsent),
        ) from None


async def collect_async(
    client: AsyncClient,
    method: str,
    urls: Iterable[Any] | AsyncIterable[Any],
    *,
    concurrency: int,
    return_exceptions: bool,
    progress: bool,
    options: Mapping[str, Any],
    executor: Any = None,
    batch_size: int | None = None,
) -> list[Any]:
    """Async ``map``: validate everything, run, return results in input order."""
    concurrency = check_concurrency(concurrency)
    tqdm = require_tqdm(progress)
    items = check_items(urls, allow_async=executor is None)
    if executor is not None:
        from ._distributed import as_executor, check_batch_size, distributed_aiter

        executor = as_executor(executor)
        check_batch_size(batch_size, concurrency)
    bar = make_bar(tqdm, total=_total(urls), desc=f"{method} x{_total(urls) or '?'}")
    out: list[Any] = []
    try:
        results = (
            map_async_iter(
                client, method, items, concurrency=concurrency,
                return_exceptions=return_exceptions, options=options, on_batch=bar.update,
            )
            if executor is None
            else distributed_aiter(
                client, method, items, executor=executor,  # type: ignore[arg-type]
                batch_size=batch_size, concurrency=concurrency,
                return_exceptions=return_exceptions, options=options, on_batch=bar.update,
            )
        )
        async for index, result in results:
            _place(out, index, result)
    finally:
        bar.close()
    return out
