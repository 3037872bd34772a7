"""The I/O loop bridge on its own (``mylib._runtime``): no HTTP, a private Bridge per test."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mylib._runtime import Bridge, BridgeState, DaemonExecutor
from tests._subproc import assert_silent, run_python


class Closed(Exception):
    """What the test bridge raises once closed."""


class OnLoop(Exception):
    """What the test bridge raises for a blocking call on its own loop thread."""


@pytest.fixture
def bridge() -> Iterator[Bridge]:
    b = Bridge("test-bridge", closed_error=Closed, loop_thread_error=OnLoop)
    yield b
    b.close()


async def _raise(exc: BaseException) -> None:
    raise exc


async def _value(v: int) -> int:
    return v


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_in_a_coroutine_reaches_the_caller_and_the_loop_survives(
    bridge: Bridge, exc_type: type[BaseException]
) -> None:
    with pytest.raises(exc_type):
        bridge.call(_raise, exc_type())
    assert bridge.call(_value, 7) == 7
    assert bridge.state is BridgeState.RUNNING


def test_timeout_cancels_the_coroutine_on_the_loop(bridge: Bridge) -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError, match=r"timed out after 0\.05 s"):
        bridge.call(forever, timeout=0.05)
    assert cancelled.wait(10)
    assert bridge.call(_value, 1) == 1


def test_coroutines_own_timeout_error_is_not_taken_for_the_deadline(bridge: Bridge) -> None:
    with pytest.raises(TimeoutError, match="mine"):
        bridge.call(_raise, TimeoutError("mine"), timeout=30)


def test_blocking_call_from_the_loop_thread_raises_without_creating_the_coroutine(
    bridge: Bridge,
) -> None:
    made: list[str] = []

    async def inner() -> str:
        made.append("inner")
        return "never"

    async def outer() -> str:
        try:
            bridge.call(inner)
        except OnLoop as exc:
            return str(exc)
        return "no error"

    assert "deadlock" in bridge.call(outer)
    assert made == []


def test_calls_after_close_fail_fast(bridge: Bridge) -> None:
    bridge.call(_value, 1)
    bridge.close()
    with pytest.raises(Closed, match="shut down"):
        bridge.call(_value, 1)
    bridge.close()  # idempotent


def test_repr_shows_state(bridge: Bridge) -> None:
    assert "state=idle" in repr(bridge)
    bridge.call(_value, 1)
    assert "state=running" in repr(bridge)
    bridge.close()
    assert "state=closed" in repr(bridge) and "'test-bridge'" in repr(bridge)


def test_submit_from_finalizer_drops_work_while_the_interpreter_finalizes(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge.call(_value, 1)
    made: list[str] = []

    def cleanup() -> asyncio.Future[None]:
        made.append("cleanup")
        raise AssertionError("must not be called")

    monkeypatch.setattr(sys, "is_finalizing", lambda: True)
    bridge.submit_from_finalizer(cleanup)  # type: ignore[arg-type]
    assert made == []


def test_submit_from_finalizer_on_the_loop_thread_schedules_without_waiting(
    bridge: Bridge,
) -> None:
    ran = threading.Event()

    async def cleanup() -> None:
        ran.set()

    async def finalizer_on_loop() -> bool:
        bridge.submit_from_finalizer(cleanup)  # would deadlock if it waited here
        return ran.is_set()

    assert bridge.call(finalizer_on_loop) is False
    assert ran.wait(10)


def test_submit_from_finalizer_off_the_loop_waits_for_the_cleanup(bridge: Bridge) -> None:
    bridge.call(_value, 1)
    ran = threading.Event()

    async def cleanup() -> None:
        ran.set()

    bridge.submit_from_finalizer(cleanup)
    assert ran.is_set()


def test_finalizer_running_during_interpreter_finalization_never_hangs() -> None:
    proc = run_python(
        """
        import mylib
        from mylib._io import BRIDGE

        async def cleanup():
            print("ran")

        class Holder:
            def __del__(self):
                BRIDGE.submit_from_finalizer(cleanup)

        mylib.run(cleanup())  # the loop runs
        HOLDER = Holder()     # collected when module globals are cleared, after atexit
        """,
        timeout=60,
    )
    assert_silent(proc)
    assert proc.stdout == "ran\n"  # once, from mylib.run: the finalizer's work was dropped


# -- the resolver executor ----------------------------------------------------------------


def test_resolver_executor_runs_lookups_side_by_side_up_to_its_limit() -> None:
    executor = DaemonExecutor(max_workers=3, name="test-worker")
    try:
        release = threading.Event()
        # A backlog first: one worker, three quick items.
        for f in [executor.submit(lambda: None) for _ in range(3)]:
            f.result(10)
        started = threading.Semaphore(0)

        def blocked() -> None:
            started.release()
            release.wait(10)

        futures = [executor.submit(blocked) for _ in range(3)]
        for _ in range(3):  # all three run at once: none queued behind a busy worker
            assert started.acquire(timeout=10)
        release.set()
        for f in futures:
            f.result(10)
        assert executor._workers <= 3
    finally:
        executor.shutdown()


def test_resolver_executor_refuses_work_after_shutdown() -> None:
    executor = DaemonExecutor()
    executor.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        executor.submit(lambda: None)


@pytest.mark.parametrize("scheduled", [False, True], ids=["before-scheduling", "after"])
def test_ctrl_c_while_a_call_is_being_submitted_leaves_no_coroutine_never_awaited(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, scheduled: bool
) -> None:
    # Regression (issue 5, a flaky Ctrl-C download test): a KeyboardInterrupt landing between
    # creating the call's coroutines and getting the future back left them never awaited.
    import gc
    import warnings

    bridge.call(_value, 0)  # the loop is running
    ran: list[str] = []
    real_submit = asyncio.run_coroutine_threadsafe
    loop = bridge._loop
    assert loop is not None
    real_call_soon = loop.call_soon_threadsafe
    # When the call was scheduled, the loop is held until the bridge hands it the clean-up
    # (by then the call is marked abandoned): otherwise the work may start first, and a call
    # that started is cancelled, not undone, so whether it "ran" would be a race.
    gate = threading.Event()

    def call_soon(callback: Any, *args: Any, **kwargs: Any) -> Any:
        handle = real_call_soon(callback, *args, **kwargs)
        if getattr(callback, "__name__", "") == "reap_on_loop":
            gate.set()
        return handle

    async def work() -> None:
        ran.append("started")

    def interrupted_submit(coro: object, loop: asyncio.AbstractEventLoop) -> object:
        if scheduled:
            real_call_soon(gate.wait, 10)
            real_submit(coro, loop)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "call_soon_threadsafe", call_soon)
    monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", interrupted_submit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            bridge.call(work)
        monkeypatch.undo()
        assert bridge.call(_value, 7) == 7  # the loop ran whatever was scheduled, and lives
        gc.collect()
    never_awaited = [w for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == []
    assert ran == []  # the interrupted work never ran


def test_interrupt_main_stops_a_blocking_call_like_a_real_ctrl_c() -> None:
    # IDLE's Ctrl-C is _thread.interrupt_main(): no signal, only a flag Python checks between
    # bytecodes, so a blocking wait that never returns to Python never sees it (before: the
    # call ended only when its request did). The request is cancelled on the loop (the
    # server sees the disconnect) and the client goes on.
    proc = run_python(
        """
        import _thread, asyncio, threading, time
        import mylib
        from tests._raw import RawServer

        arrived = threading.Event()

        async def handler(conn):
            head = await conn.read_head()
            if b"/slow" in head:
                arrived.set()
                await conn.reader.read()  # silent until the client hangs up
                server.disconnected.set()
            else:
                await conn.send(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")

        server = RawServer(handler)
        client = mylib.Client(server.url, timeout=mylib.Timeout(read=90))

        pressed = []

        def press_ctrl_c():
            arrived.wait(30)
            pressed.append(time.monotonic())
            _thread.interrupt_main()

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        try:
            client.get("/slow")
            print("not interrupted")
        except KeyboardInterrupt:
            # "About a second", as a real Ctrl-C; 10 s is far from the 90 s the request
            # would otherwise take, and far from any scheduling hiccup.
            print("interrupted", "promptly" if time.monotonic() - pressed[0] < 10 else "late")
        print("server saw the disconnect:", server.disconnected.wait(30))
        print("then:", client.get("/fine").text)
        server.stop()
        """,
        timeout=60,
    )
    assert_silent(proc)
    assert proc.stdout.splitlines() == [
        "interrupted promptly",
        "server saw the disconnect: True",
        "then: ok",
    ]
