"""A thread pool of daemon threads that still takes work while the interpreter shuts down.

``concurrent.futures.ThreadPoolExecutor`` refuses new work once ``threading._shutdown`` has
run, which is exactly when a user's non-daemon thread may still be making requests (and so
resolving host names through the loop's default executor). This one starts daemon workers on
demand and never joins them. It knows nothing of HTTP.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DaemonExecutor", "LazyPool"]

T = TypeVar("T")


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """A tiny executor of daemon threads for the loop's blocking helpers (``getaddrinfo``).

    ``ThreadPoolExecutor`` refuses new work once ``threading._shutdown`` has run, which is
    exactly when a non-daemon thread may still be making requests. These workers are started
    on demand, at most ``max_workers``, and never joined. (A subclass only because
    ``loop.set_default_executor`` insists on one; none of the base's machinery is used.)

    Bookkeeping, under ``_lock``: ``_pending`` counts queued items no worker has taken yet,
    ``_waiting`` counts workers free to take one (a new worker counts from its start). A
    worker is started only when more items wait than workers do, so a lookup never queues
    behind a busy worker while fewer than ``max_workers`` exist. (The first cut counted an
    "idle" credit per finished item, which overcounted whenever a backlog formed.)
    """

    def __init__(self, max_workers: int = 4, name: str = "io-worker") -> None:
        super().__init__(max_workers=1)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._max_workers = max_workers
        self._name = name
        self._workers = 0
        self._waiting = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("the I/O loop's executor has been shut down")
            wanted = self._pending >= self._waiting and self._workers < self._max_workers
            if not (wanted and not self._start_worker() and self._workers == 0):
                self._queue.put((future, fn, args, kwargs))
                self._pending += 1
                return future
        # No worker exists and none may start (Python 3.12.0/3.12.1 after the main thread
        # ended): run it right here, on the loop. A lookup briefly blocks the loop, which
        # beats failing a request that a non-daemon thread still makes.
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)
        return future

    def _start_worker(self) -> bool:
        self._workers += 1
        self._waiting += 1
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{self._workers}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:
            # No new threads while the interpreter finalizes (and, on 3.12.0/3.12.1, once
            # the main thread has ended); an existing worker, if any, takes the item later.
            self._workers -= 1
            self._waiting -= 1
            return False
        return True

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            with self._lock:
                self._waiting -= 1
                if item is not None:
                    self._pending -= 1
            if item is None:
                return
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)
            del future, fn, args, kwargs, item  # don't keep the last job alive while idle
            with self._lock:
                self._waiting += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            for _ in range(self._workers):
                self._queue.put(None)


class LazyPool:
    """A :class:`DaemonExecutor` made on first use (thread-safe), and forgotten in a forked
    child, whose copy has none of the parent's threads."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._pool: DaemonExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> DaemonExecutor:
        """The pool, made now if it is not yet."""
        with self._lock:
            if self._pool is None:
                self._pool = DaemonExecutor(max_workers=self._max_workers, name=self._name)
            return self._pool

    def forget_after_fork(self) -> None:
        """In a forked child: start afresh (the lock too: it may have been held)."""
        self._pool, self._lock = None, threading.Lock()
