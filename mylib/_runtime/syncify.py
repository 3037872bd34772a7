"""The generic async-to-blocking wrapping behind ``make_sync``: an async class's blocking twin.

The problem
-----------
A wrapper author writes ``class Api(mylib.AsyncClient)`` with ``async def get_foo(self)``
methods. Blocking users (scripts, notebooks) want ``SyncApi().get_foo()``. Running each call
with ``asyncio.run`` makes a new loop per call, so sessions bound to the old loop break; a
thread per call is worse. So the async instance is built on mylib's I/O loop and lives
there, and the blocking class only holds it and hops every call onto that loop.

Rules (each one a bug that some runtime wrapper shipped, see research/bridge-anchors.md):

- **The instance is built and used on the loop.** ``__init__`` runs there too, so an
  ``__init__`` that looks at the running loop, or makes a lock or a session, is on the right
  one. The sync object holds the async one; inside the loop, the async methods call each
  other (the instance *is* the async one), never the blocking wrappers.
- **Async generators** become generators: each step is one call on the loop, and the async
  generator is always ``aclose``d on the loop (on ``break``, on an error, on garbage
  collection), with a time bound; skipped while the interpreter finalizes.
- **Async context managers** (``__aenter__``/``__aexit__``, and methods returning one, e.g.
  ``@contextlib.asynccontextmanager``) run ``__aenter__`` and ``__aexit__`` in ONE task on the
  loop (anyio's ``wrap_async_context_manager`` pattern): that task enters, waits for the exit
  signal, then exits. Separate calls would run them in two tasks, which breaks
  ``asyncio.timeout``, task groups and context variables set in ``__aenter__``.
- **A base class may serve members.** :func:`sync_class` takes the twin's base class and the
  names it serves by plain inheritance; those are not wrapped. (``make_sync`` gives an
  ``AsyncClient`` subclass ``mylib.Client`` as its base this way; this module knows nothing
  of HTTP.)
- **Closing.** ``with`` on the wrapper closes the instance; so does ``close()``. At exit,
  every live wrapper's instance is closed (``aclose()`` or ``close()``) on the loop by
  :func:`close_live_instances`, which the owner runs as a bridge shutdown hook, before the
  sessions are swept; a wrapper collected earlier closes
  its instance from a finalizer.

Rejected: making the sync methods at instance creation by naming convention (fsspec's
``_ls`` -> ``ls``): grep then finds no method that runs, and types cannot follow. Types:
``make_sync`` returns a class built at runtime, so type checkers see it through a stub that
``python -m mylib.stubgen`` writes (see ``mylib/_tools/stubgen.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import sys
import threading
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, Final

from .bridge import Bridge, BridgeState

__all__ = ["Runtime", "SyncBase", "close_live_instances", "members", "sync_class", "wrapped_class"]

#: How long closing an abandoned async generator on the loop may take.
_ACLOSE_TIMEOUT: Final = 5.0
#: How long the exit hook waits for context managers left open to run their ``__aexit__``.
_OPEN_CM_GRACE: Final = 1.0

#: Marks the classes ``make_sync`` made; the value is the async class.
_WRAPPED_ATTR: Final = "__mylib_wrapped__"


class _Kind:
    """How a member of the async class is exposed on the blocking one."""

    COROUTINE = "coroutine"
    ASYNCGEN = "async generator"
    ASYNC_CM = "async context manager factory"
    METHOD = "plain method"
    PROPERTY = "property"


def _kind_of(member: Any) -> str | None:
    if isinstance(member, property):
        return _Kind.PROPERTY
    if isinstance(member, (staticmethod, classmethod)) or not callable(member):
        return None  # passes through via __getattr__
    if inspect.iscoroutinefunction(member):
        return _Kind.COROUTINE
    if inspect.isasyncgenfunction(member):
        return _Kind.ASYNCGEN
    if inspect.isasyncgenfunction(inspect.unwrap(member)):
        # @contextlib.asynccontextmanager: the decorated function wraps an async generator.
        return _Kind.ASYNC_CM
    if inspect.isfunction(member):
        return _Kind.METHOD
    return None


def members(cls: type) -> dict[str, tuple[str, Any]]:
    """Public members (and the async dunders) of ``cls`` and its bases, nearest first."""
    found: dict[str, tuple[str, Any]] = {}
    for klass in cls.__mro__[:-1]:  # not object
        for name, member in vars(klass).items():
            if name in found:
                continue
            if name.startswith("_") and name not in ("__aenter__", "__aexit__", "__aiter__"):
                continue
            kind = _kind_of(member)
            if kind is not None:
                found[name] = (kind, member)
    return found


# -- the state a wrapper shares with its finalizer -------------------------------------------


class Runtime:
    """Where wrapped instances live: the bridge to their loop, and the exception a closed
    instance (or a bridge that has shut down) is reported with."""

    __slots__ = ("bridge", "closed_error")

    def __init__(self, bridge: Bridge, closed_error: type[Exception]) -> None:
        self.bridge = bridge
        self.closed_error = closed_error


class _State:
    """The async instance and whether it was closed; never refers to the wrapper itself."""

    __slots__ = ("closed", "instance", "lock", "runtime")

    def __init__(self, instance: Any, runtime: Runtime) -> None:
        self.instance = instance
        self.runtime = runtime
        self.closed = False
        self.lock = threading.Lock()

    def take_for_closing(self) -> bool:
        """True exactly once: for whoever closes the instance."""
        with self.lock:
            if self.closed:
                return False
            self.closed = True
            return True


async def _close_instance(instance: Any) -> None:
    """Await the instance's ``aclose()``/``close()``, whichever it has (a coroutine or not)."""
    for name in ("aclose", "close"):
        method = getattr(instance, name, None)
        if callable(method):
            result = method()
            if inspect.isawaitable(result):
                await result
            return


#: Wrappers whose instances are closed at exit unless closed before.
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
#: Tasks of context managers that were entered and not yet exited.
_OPEN_CMS: set[asyncio.Task[Any]] = set()


async def close_live_instances() -> None:
    """The exit hook (the owner registers it with the bridge): exit the context managers
    still open, then close each live instance."""
    open_cms = [task for task in _OPEN_CMS if not task.done()]
    for task in open_cms:
        task.cancel()  # runs its __aexit__ with the CancelledError
    if open_cms:
        await asyncio.wait(open_cms, timeout=_OPEN_CM_GRACE)
    states = [w._mylib_state for w in list(_LIVE)]
    closing = [_close_instance(s.instance) for s in states if s.take_for_closing()]
    # Errors cannot be reported to anyone at exit, and one must not stop the others.
    await asyncio.gather(*closing, return_exceptions=True)


def _finalize_instance(state: _State) -> None:
    """A wrapper was collected: close its instance on the loop, never blocking for long."""
    if state.take_for_closing():
        instance = state.instance
        state.runtime.bridge.submit_from_finalizer(lambda: _close_instance(instance))


# -- calls on the loop ------------------------------------------------------------------------


async def _construct(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return cls(*args, **kwargs)


async def _invoke(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # The arguments travel as a tuple and a dict so that a ``timeout=`` meant for ``fn`` is
    # never taken by ``BRIDGE.call`` as its own.
    return await fn(*args, **kwargs)


async def _invoke_plain(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    result = fn(*args, **kwargs)
    if inspect.iscoroutine(result):
        return await result
    return result


def _on_loop(wrapper: Any, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
    """``fn(*args)`` on the loop of ``wrapper``'s runtime, blocking until it is done."""
    return _runtime(wrapper).bridge.call(fn, *args)


def _runtime(wrapper: Any) -> Runtime:
    runtime: Runtime = type(wrapper)._mylib_runtime
    return runtime


# -- async generators -> generators -----------------------------------------------------------


async def _step(agen: AsyncGenerator[Any, Any], value: Any) -> tuple[bool, Any]:
    # StopAsyncIteration is returned as data: raised out of a coroutine it would be an oddity
    # every layer in between must remember to pass through.
    try:
        return True, await agen.asend(value)
    except StopAsyncIteration:
        return False, None


async def _aclose(agen: AsyncGenerator[Any, Any]) -> None:
    await agen.aclose()


def _close_agen_on_loop(runtime: Runtime, agen: AsyncGenerator[Any, Any]) -> None:
    """Close ``agen`` on the loop; errors from its ``finally`` reach the caller."""
    bridge = runtime.bridge
    if sys.is_finalizing() or bridge.state is not BridgeState.RUNNING:
        return  # the exit sequence's shutdown_asyncgens closes it (or already did)
    if bridge.in_loop_thread():
        # Collected on the loop thread itself: waiting here would deadlock; schedule it.
        bridge.submit_from_finalizer(agen.aclose)
        return
    # The loop shut down meanwhile: it closed the generator.
    with contextlib.suppress(runtime.closed_error):
        bridge.call(_aclose, agen, timeout=_ACLOSE_TIMEOUT)


def _iterate(make_agen: Callable[[], Any], wrapper: Any) -> Generator[Any, Any, None]:
    """A generator stepping the async iterator ``make_agen()`` on the loop, always closed."""
    agen = _on_loop(wrapper, _invoke_plain, make_agen, (), {})
    if not inspect.isasyncgen(agen):
        agen = _as_asyncgen(agen)
    exhausted = False
    try:
        value = None
        while True:
            more, item = _on_loop(wrapper, _step, agen, value)
            if not more:
                exhausted = True
                return
            value = yield _translate(item, wrapper)
    finally:
        if not exhausted:
            _close_agen_on_loop(_runtime(wrapper), agen)


async def _as_asyncgen(iterable: Any) -> AsyncGenerator[Any, None]:
    """An async generator over any async iterable, so all are stepped and closed alike."""
    iterator = iterable.__aiter__()
    try:
        async for item in iterator:
            yield item
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


# -- async context managers -> context managers -----------------------------------------------


class _SyncContextManager:
    """Runs an async context manager's ``__aenter__`` and ``__aexit__`` in one task on the loop.

    Entering starts a task that awaits ``__aenter__``, hands the value over, waits for the
    exit signal and then awaits ``__aexit__``; leaving sends the signal and waits for it.
    """

    def __init__(self, make_acm: Callable[[], Any], wrapper: Any) -> None:
        self._make_acm = make_acm
        self._wrapper = wrapper
        self._task: asyncio.Task[bool] | None = None
        self._entered: asyncio.Future[Any] | None = None
        self._exit_signal: asyncio.Future[tuple[Any, Any, Any]] | None = None

    def __enter__(self) -> Any:
        if self._task is not None:
            raise RuntimeError("this context manager was already entered")
        return _translate(_on_loop(self._wrapper, self._enter), self._wrapper)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._task is None:
            return False
        try:
            return bool(_on_loop(self._wrapper, self._exit, exc_type, exc, tb))
        except _runtime(self._wrapper).closed_error:
            return False  # the exit sequence already ran __aexit__

    async def _run(self) -> bool:
        assert self._entered is not None and self._exit_signal is not None
        acm = self._make_acm()
        value = await type(acm).__aenter__(acm)
        self._entered.set_result(value)
        try:
            exc_type, exc, tb = await self._exit_signal
        except BaseException as error:  # cancelled at exit: exit with that
            exc_type, exc, tb = type(error), error, error.__traceback__
            await type(acm).__aexit__(acm, exc_type, exc, tb)
            raise
        return bool(await type(acm).__aexit__(acm, exc_type, exc, tb))

    async def _enter(self) -> Any:
        loop = asyncio.get_running_loop()
        self._entered = loop.create_future()
        self._exit_signal = loop.create_future()
        task = self._task = loop.create_task(self._run())
        _OPEN_CMS.add(task)
        task.add_done_callback(_OPEN_CMS.discard)
        try:
            await asyncio.wait([self._entered, task], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # Ctrl-C while entering: abandon the enter too
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise
        if self._entered.done():
            return self._entered.result()
        return task.result()  # __aenter__ failed: raises its exception

    async def _exit(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        assert self._task is not None and self._exit_signal is not None
        if not self._exit_signal.done():
            self._exit_signal.set_result((exc_type, exc, tb))
        return await self._task


# -- the blocking class -----------------------------------------------------------------------


def _translate(value: Any, wrapper: Any) -> Any:
    """The instance itself comes back as its wrapper (``__aenter__`` returning self)."""
    if wrapper is not None and value is object.__getattribute__(wrapper, "_mylib_state").instance:
        return wrapper
    return value


class SyncBase:
    """What every class :func:`sync_class` makes shares: the instance, closing, pass-through.

    A subclass may override :meth:`_mylib_adopt` to keep the instance under a name of its
    own too (the blocking ``Client`` keeps its engine as ``_engine``).
    """

    _mylib_state: _State
    _mylib_cms: list[_SyncContextManager]
    _mylib_runtime: Runtime
    __mylib_wrapped__: type

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._mylib_start(_on_loop(self, _construct, type(self).__mylib_wrapped__, args, kwargs))

    def __reduce__(self) -> tuple[Any, ...]:
        # The wrapped instance travels (when it pickles); the other side wraps it anew.
        return (_rebuild_twin, (type(self), self._mylib_instance()))

    def _mylib_start(self, instance: Any) -> None:
        state = _State(instance, type(self)._mylib_runtime)
        object.__setattr__(self, "_mylib_state", state)
        object.__setattr__(self, "_mylib_cms", [])
        self._mylib_adopt(instance)
        finalizer = weakref.finalize(self, _finalize_instance, state)
        finalizer.atexit = False  # the exit hook closes live ones, on the loop, in time
        _LIVE.add(self)

    def _mylib_adopt(self, instance: Any) -> None:
        """Called once with the instance just built on the loop."""

    def _mylib_instance(self) -> Any:
        state = self._mylib_state
        if state.closed:
            raise state.runtime.closed_error(
                f"this {type(self).__name__} has been closed; make a new one (there is no need "
                "to close it: mylib closes it when the program ends)"
            )
        return state.instance

    def __repr__(self) -> str:
        inner = repr(self._mylib_state.instance)
        name = type(self).__mylib_wrapped__.__name__
        if inner.startswith(f"<{name}"):
            return f"<{type(self).__name__}{inner[len(name) + 1 :]}"
        return f"<{type(self).__name__} of {inner}>"

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the class does not define: plain instance attributes.
        if name.startswith("_mylib_"):
            raise AttributeError(name)
        return getattr(self._mylib_state.instance, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name) and not isinstance(getattr(type(self), name), property):
            object.__setattr__(self, name, value)
        else:
            setattr(self._mylib_state.instance, name, value)

    @property
    def closed(self) -> bool:
        """True once this object was closed (``close()``, ``with``, or at exit)."""
        return self._mylib_state.closed

    def close(self) -> None:
        """Close the instance on the loop (its ``aclose()``/``close()``); idempotent, and
        never needed: mylib closes it when the program ends.

        Raises:
            Anything the instance's own close raises.
        """
        state = self._mylib_state
        if not state.take_for_closing():
            return
        _LIVE.discard(self)
        with contextlib.suppress(state.runtime.closed_error):  # exiting: the exit hook does it
            _on_loop(self, _invoke_plain, _close_instance, (state.instance,), {})

    def __enter__(self) -> Any:
        instance = self._mylib_instance()
        if not hasattr(type(instance), "__aenter__"):
            return self
        cm = _SyncContextManager(lambda: instance, self)
        value = cm.__enter__()
        self._mylib_cms.append(cm)
        return value

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if not self._mylib_cms:
            self.close()
            return False
        suppress = self._mylib_cms.pop().__exit__(exc_type, exc, tb)
        # __aexit__ is the class's own way of closing; do not close twice.
        if self._mylib_state.take_for_closing():
            _LIVE.discard(self)
        return suppress


def _blocking_method(name: str, kind: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """The blocking stand-in for ``original``, with its name, signature and docstring."""
    if kind in (_Kind.COROUTINE, _Kind.METHOD) and name in ("aclose", "close"):

        def method(self: SyncBase, *args: Any, **kwargs: Any) -> Any:
            state = self._mylib_state
            if not state.take_for_closing():
                return None
            _LIVE.discard(self)
            return _on_loop(self, _invoke_plain, getattr(state.instance, name), args, kwargs)

    elif kind == _Kind.COROUTINE:

        def method(self: SyncBase, *args: Any, **kwargs: Any) -> Any:
            bound = getattr(self._mylib_instance(), name)
            return _translate(_on_loop(self, _invoke, bound, args, kwargs), self)

    elif kind == _Kind.ASYNCGEN:

        def method(self: SyncBase, *args: Any, **kwargs: Any) -> Any:
            bound = getattr(self._mylib_instance(), name)
            return _iterate(lambda: bound(*args, **kwargs), self)

    elif kind == _Kind.ASYNC_CM:

        def method(self: SyncBase, *args: Any, **kwargs: Any) -> Any:
            bound = getattr(self._mylib_instance(), name)
            return _SyncContextManager(lambda: bound(*args, **kwargs), self)

    else:

        def method(self: SyncBase, *args: Any, **kwargs: Any) -> Any:
            bound = getattr(self._mylib_instance(), name)
            return _plain_result(_on_loop(self, _invoke_plain, bound, args, kwargs), self)

    return functools.wraps(original)(method)


def _plain_result(value: Any, wrapper: SyncBase) -> Any:
    """A plain method's result, made usable from blocking code if it is an async thing."""
    if hasattr(value, "__aenter__") and hasattr(value, "__aexit__"):
        return _SyncContextManager(lambda: value, wrapper)
    if hasattr(value, "__aiter__") and not hasattr(value, "__iter__"):
        return _iterate(lambda: value, wrapper)
    return _translate(value, wrapper)


def _passthrough_property(name: str, prop: property) -> property:
    def fget(self: SyncBase) -> Any:
        return _translate(getattr(self._mylib_state.instance, name), self)

    def fset(self: SyncBase, value: Any) -> None:
        setattr(self._mylib_state.instance, name, value)

    return property(fget, fset if prop.fset is not None else None, doc=prop.__doc__)


def _rebuild_twin(cls: type[SyncBase], instance: Any) -> SyncBase:
    twin = cls.__new__(cls)
    twin._mylib_start(instance)
    return twin


def _sync_name(name: str) -> str:
    if name.startswith("Async") and len(name) > 5 and name[5].isupper():
        return name[5:]
    return f"Sync{name}"


def _class_init(cls: type) -> Callable[..., None]:
    """``cls.__init__``, looked up the way ``cls(...)`` does."""
    init: Callable[..., None] = getattr(cls, "__init__")  # noqa: B009 (mypy's [misc] on cls.__init__)
    return init


def _init_method(cls: type) -> Callable[..., None]:
    # A fresh function per class: functools.wraps writes onto the function it is given.
    def __init__(self: SyncBase, *args: Any, **kwargs: Any) -> None:
        SyncBase.__init__(self, *args, **kwargs)

    return functools.wraps(_class_init(cls))(__init__)


def _iter_method(original: Callable[..., Any]) -> Callable[..., Any]:
    def __iter__(self: SyncBase) -> Generator[Any, Any, None]:
        instance = self._mylib_instance()
        return _iterate(lambda: original(instance), self)

    return __iter__


def sync_class(
    cls: type,
    runtime: Runtime,
    *,
    base: type[SyncBase] = SyncBase,
    inherited: frozenset[str] = frozenset(),
) -> type:
    """The blocking twin of the async class ``cls``, whose instances live on ``runtime``'s loop.

    ``base`` is the twin's base class (a subclass of :class:`SyncBase`); the public members
    named in ``inherited`` are not wrapped, so the twin gets them from ``base`` by plain
    inheritance.

    Raises:
        TypeError: ``cls`` is not a class, or has nothing asynchronous to wrap.
    """
    if not isinstance(cls, type):
        raise TypeError(f"make_sync() needs a class, not {type(cls).__name__} {cls!r}")
    found = members(cls)
    if hasattr(cls, "__aenter__"):
        found.setdefault("__aenter__", (_Kind.COROUTINE, cls.__aenter__))
    asynchronous = {_Kind.COROUTINE, _Kind.ASYNCGEN, _Kind.ASYNC_CM}
    if not any(kind in asynchronous for kind, _ in found.values()):
        raise TypeError(
            f"make_sync() needs a class with coroutine methods (async def), and "
            f"{cls.__qualname__} has none"
        )
    namespace: dict[str, Any] = {
        "__module__": cls.__module__,
        "__qualname__": _sync_name(cls.__qualname__),
        "__doc__": cls.__doc__,
        _WRAPPED_ATTR: cls,
        "_mylib_runtime": runtime,
        "__init__": _init_method(cls),
    }
    for name, (kind, member) in found.items():
        if name in ("__aenter__", "__aexit__") or name in inherited:
            continue  # __enter__/__exit__ of SyncBase run the former in one task
        if name == "__aiter__":
            namespace["__iter__"] = _iter_method(member)
        elif kind == _Kind.PROPERTY:
            namespace[name] = _passthrough_property(name, member)
        else:
            namespace[name] = _blocking_method(name, kind, member)
    return type(_sync_name(cls.__name__), (base,), namespace)


def wrapped_class(sync_cls: type) -> type | None:
    """The async class ``sync_cls`` was made from by :func:`sync_class`, or None."""
    wrapped = getattr(sync_cls, _WRAPPED_ATTR, None)
    return wrapped if isinstance(wrapped, type) else None
