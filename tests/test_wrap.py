"""make_sync (issue 4): an async class's blocking twin, living on mylib's I/O loop.

Exit behaviour (instances never closed, generators abandoned) is checked in children under
``python -X dev`` with an empty stderr; the rest runs in-process against the shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import json as jsonlib
import pathlib
import threading
from collections.abc import AsyncIterator
from typing import Any, Unpack

import pytest

import mylib
from mylib._io import BRIDGE
from mylib._types import RequestOptions, URLTypes
from tests._server import TestServer, pattern_bytes
from tests._subproc import assert_silent, run_python

# -- in-process ------------------------------------------------------------------------------


class Api(mylib.AsyncClient):
    """An API wrapper the way the docs say to write one."""

    calls: list[tuple[str, str]]

    async def status(self, code: int, *, timeout: float = 10) -> int:
        """The status the server answers /status/{code} with."""
        return (await self.get(f"/status/{code}", timeout=timeout)).status_code

    async def outer(self) -> list[str]:
        # Calls the async original: the instance on the loop is the async one.
        return [threading.current_thread().name, *(await self.inner())]

    async def inner(self) -> list[str]:
        return [threading.current_thread().name]

    async def numbers(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @property
    def answer(self) -> int:
        """A plain property."""
        return 42


SyncApi = mylib.make_sync(Api)


def test_blocking_methods_keep_signature_docstring_and_name() -> None:
    assert SyncApi.__name__ == "SyncApi"
    assert SyncApi.status.__doc__ == Api.status.__doc__
    assert inspect.signature(SyncApi.status) == inspect.signature(Api.status)
    assert inspect.signature(SyncApi) == inspect.signature(Api)
    assert not inspect.iscoroutinefunction(SyncApi.status)


def test_coroutine_method_blocks_and_returns_its_result(server: TestServer) -> None:
    api = SyncApi(server.url)
    # timeout= belongs to the method, not to the bridge call carrying it.
    assert api.status(204, timeout=5) == 204
    assert api.get("/get").status_code == 200  # inherited AsyncClient methods too


def test_async_originals_call_each_other_on_the_loop_not_the_wrappers() -> None:
    assert SyncApi().outer() == ["mylib-io", "mylib-io"]


def test_instance_is_built_on_the_io_loop() -> None:
    class NeedsALoop:
        def __init__(self) -> None:
            self.loop_thread = threading.current_thread().name
            self.lock = asyncio.Lock()
            asyncio.get_running_loop()  # raises outside a loop

        async def where(self) -> str:
            async with self.lock:
                return threading.current_thread().name

    obj = mylib.make_sync(NeedsALoop)()
    assert obj.loop_thread == "mylib-io"
    assert obj.where() == "mylib-io"


# -- an AsyncClient subclass gets mylib.Client's methods for what it inherits -----------------


class Overrides(mylib.AsyncClient):
    """Overrides ``get`` and ``request``; inherits everything else."""

    seen: list[str]

    async def get(self, url: URLTypes, **options: Unpack[RequestOptions]) -> mylib.Response:
        """The subclass's own get."""
        self.seen.append(f"get {url}")
        return await super().get(url, **options)

    async def request(
        self, method: str, url: URLTypes, **options: Unpack[RequestOptions]
    ) -> mylib.Response:
        self.seen.append(f"request {method} {url} {threading.current_thread().name}")
        return await super().request(method, url, **options)


SyncOverrides = mylib.make_sync(Overrides)


def test_stream_of_a_wrapped_subclass_is_the_blocking_stream(any_server: TestServer) -> None:
    api = SyncApi(any_server.url, verify=any_server.ca_path or True)
    with api.stream("GET", "/stream-bytes/100000?chunk_size=4096") as r:
        assert isinstance(r, mylib.StreamResponse)
        body = b"".join(r.iter_bytes())
    assert body == pattern_bytes(100_000)


def test_map_and_as_completed_of_a_wrapped_subclass(server: TestServer) -> None:
    api = SyncApi(server.url)
    urls = [f"/echo-id/{i}" for i in range(20)]
    responses = api.map("GET", urls, concurrency=4)
    assert [r.json()["id"] for r in responses] == [str(i) for i in range(20)]
    pairs = sorted((i, r.json()["id"]) for i, r in api.as_completed("GET", urls[:5]))
    assert pairs == [(i, str(i)) for i in range(5)]


def test_build_request_of_a_wrapped_subclass_makes_no_loop_call(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = SyncApi(server.url)

    def no_loop(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("build_request went to the I/O loop")

    monkeypatch.setattr(BRIDGE, "call", no_loop)
    request = api.build_request("GET", "/get", params={"a": "1"})
    assert isinstance(request, mylib.Request)
    assert str(request.url) == f"{server.url}/get?a=1"


def test_download_of_a_wrapped_subclass_writes_the_file(
    server: TestServer, tmp_path: pathlib.Path
) -> None:
    path = SyncApi(server.url).download("/bytes/5000", tmp_path / "f")
    assert path == tmp_path / "f"
    assert path.read_bytes() == pattern_bytes(5000)


def test_methods_the_subclass_overrides_stay_its_own(server: TestServer) -> None:
    api = SyncOverrides(server.url)
    api.seen = []
    assert SyncOverrides.get.__doc__ == Overrides.get.__doc__
    assert api.get("/get").status_code == 200
    assert api.seen == ["get /get", "request GET /get mylib-io"]
    # Inherited verbs are Client's, and Client's verbs call request on self: the override.
    api.seen.clear()
    assert api.post("/anything").status_code == 200
    assert api.head("/get").status_code == 200
    assert api.seen == ["request POST /anything mylib-io", "request HEAD /get mylib-io"]
    with api.stream("GET", "/bytes/10") as r:  # inherited: Client's
        assert b"".join(r.iter_bytes()) == pattern_bytes(10)


def test_the_twin_of_an_async_client_subclass_is_a_client_built_by_inheritance(
    server: TestServer,
) -> None:
    assert issubclass(SyncOverrides, mylib.Client) and issubclass(SyncApi, mylib.Client)
    # Inherited unchanged: the very function object of Client, not a copy or a forwarder.
    assert SyncOverrides.post is mylib.Client.post
    assert SyncOverrides.stream is mylib.Client.stream
    api = SyncOverrides(server.url)
    api.seen = []
    assert isinstance(api, mylib.Client) and not api.closed
    assert "_mylib_facade" not in dir(api)  # no second object standing in for it
    api.close()
    assert api.closed
    with pytest.raises(mylib.ClientClosedError):
        api.get("/get")


def test_make_sync_of_async_client_has_the_blocking_client_signatures() -> None:
    sync_client = mylib.make_sync(mylib.AsyncClient)
    names = [
        name
        for name, member in vars(mylib.Client).items()
        if not name.startswith("_") and inspect.isfunction(member)
    ]
    assert {"stream", "map", "as_completed", "download", "build_request", "get"} <= set(names)
    for name in names:
        ours, theirs = getattr(sync_client, name), getattr(mylib.Client, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name
        if name != "close":  # closing is make_sync's own, with its own docstring
            assert ours.__doc__ == theirs.__doc__, name
    assert inspect.signature(sync_client) == inspect.signature(mylib.Client)


def test_properties_and_attributes_pass_through(server: TestServer) -> None:
    api = SyncApi(server.url)
    assert api.answer == 42
    assert api.base_url == server.url
    api.calls = []
    assert api.calls == [] and api._mylib_state.instance.calls == []
    assert repr(api).startswith("<SyncApi base_url=")


def test_async_generator_becomes_a_generator() -> None:
    assert list(SyncApi().numbers(3)) == [0, 1, 2]


def test_with_closes_the_instance_and_later_use_raises_client_closed_error(
    server: TestServer,
) -> None:
    with SyncApi(server.url) as api:
        assert isinstance(api, SyncApi)
        assert api.status(200) == 200
    assert api.closed
    with pytest.raises(mylib.ClientClosedError, match="closed"):
        api.status(200)


def test_close_and_aclose_close_once() -> None:
    closes: list[str] = []

    class Closable:
        async def aclose(self) -> None:
            closes.append("aclose")

    obj = mylib.make_sync(Closable)()
    obj.close()
    obj.close()
    obj.aclose()
    assert closes == ["aclose"]
    assert obj.closed


def test_wrapper_garbage_collected_closes_its_instance() -> None:
    closes: list[str] = []

    class Closable:
        async def aclose(self) -> None:
            closes.append(threading.current_thread().name)

    obj = mylib.make_sync(Closable)()
    del obj
    gc.collect()
    assert closes == ["mylib-io"]


def test_aenter_failure_propagates_and_nothing_stays_open() -> None:
    class Broken:
        async def __aenter__(self) -> Broken:
            raise LookupError("cannot enter")

        async def __aexit__(self, *exc: object) -> None:
            raise AssertionError("never entered, so never exited")

    with pytest.raises(LookupError, match="cannot enter"), mylib.make_sync(Broken)():
        pass


def test_exception_in_with_block_reaches_aexit_in_the_same_task() -> None:
    seen: list[Any] = []

    class Recorder:
        @contextlib.asynccontextmanager
        async def scope(self) -> AsyncIterator[str]:
            task = asyncio.current_task()
            try:
                yield "inside"
            except KeyError as exc:
                seen.append((repr(exc), asyncio.current_task() is task))
                raise

    with pytest.raises(KeyError), mylib.make_sync(Recorder)().scope() as value:
        assert value == "inside"
        raise KeyError("boom")
    assert seen == [("KeyError('boom')", True)]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Api(), "needs a class, not Api"),
        (len, "needs a class"),
        (int, "int has none"),
        (type("NoAsync", (), {"method": lambda self: 1}), "NoAsync has none"),
    ],
)
def test_make_sync_rejects_non_classes_and_classes_without_coroutines(
    bad: Any, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        mylib.make_sync(bad)


# -- in a child under -X dev ------------------------------------------------------------------

_ASYNC_CLIENT_SUBCLASS = """
import asyncio, contextlib, os, threading
import mylib

records = []

class Api(mylib.AsyncClient):
    async def status(self, code):
        return (await self.get(f"/status/{code}")).status_code

    async def pages(self, n):
        try:
            for i in range(n):
                r = await self.get("/get", params={"page": i})
                yield r.json()["args"]["page"]
        finally:
            await asyncio.sleep(0)  # an await in finally: must run on a live loop
            records.append(("finally", threading.current_thread().name))

    @contextlib.asynccontextmanager
    async def scoped(self):
        async with asyncio.timeout(10):
            records.append(("enter", id(asyncio.current_task())))
            yield self
            records.append(("exit", id(asyncio.current_task())))

    async def aclose(self):
        print("aclose ran on", threading.current_thread().name)
        await super().aclose()

SyncApi = mylib.make_sync(Api)
api = SyncApi(os.environ["TEST_URL"])
print(api.status(201))
for page in api.pages(5):
    if page == "1":
        break
print(records.pop())
with api.scoped() as same:
    print("scoped yields the wrapper:", same is api)
(enter, a), (exit, b) = records
print(enter, exit, "same task:", a == b)
# never closed: the exit hook awaits aclose() on the loop before the sessions are swept
"""


def test_make_sync_over_async_client_subclass_generator_cm_and_close_at_exit(
    server: TestServer,
) -> None:
    proc = run_python(_ASYNC_CLIENT_SUBCLASS, env_extra={"TEST_URL": server.url})
    assert_silent(proc)
    assert proc.stdout.splitlines() == [
        "201",
        "('finally', 'mylib-io')",
        "scoped yields the wrapper: True",
        "enter exit same task: True",
        "aclose ran on mylib-io",
    ]


_PLAIN_CLASS_WITH_OWN_SESSION = """
import asyncio, contextlib, os, threading
import aiohttp
import mylib

records = []

class Plain:
    '''Seed 000's shape: owns its aiohttp session, made lazily inside the loop.'''

    def __init__(self, base):
        self.base = base
        self._session = None
        self._pending = set()

    async def _get_session(self):
        if self._session is None:
            self._session = aiohttp.ClientSession(self.base)
        return self._session

    async def fetch(self, path):
        session = await self._get_session()
        task = asyncio.current_task()
        self._pending.add(task)
        try:
            async with session.get(path) as r:
                return r.status
        finally:
            self._pending.discard(task)

    async def lines(self):
        session = await self._get_session()
        async with session.get("/stream-bytes/4096", params={"chunk_size": 64}) as r:
            try:
                async for chunk in r.content.iter_chunked(64):
                    yield len(chunk)
            finally:
                records.append(("finally", threading.current_thread().name))

    @contextlib.asynccontextmanager
    async def deadline(self, seconds):
        async with asyncio.timeout(seconds):
            records.append(("enter", id(asyncio.current_task())))
            yield await self.fetch("/get")
            records.append(("exit", id(asyncio.current_task())))

    async def aclose(self):
        if self._pending:  # seed 000: await pending tasks before closing
            await asyncio.wait(self._pending)
        if self._session is not None:
            await self._session.close()
        print("aclose ran on", threading.current_thread().name)

SyncPlain = mylib.make_sync(Plain)
plain = SyncPlain(os.environ["TEST_URL"])
print(plain.fetch("/get"))
for n in plain.lines():
    break  # the response is still open: the finally must close it on the loop
print(records.pop())
with plain.deadline(10) as status:
    print("status in block:", status)
(enter, a), (exit, b) = records
print(enter, exit, "same task:", a == b)
# never closed: without the exit hook, -X dev would print "Unclosed client session"
"""


def test_make_sync_over_plain_class_with_own_session_closes_it_at_exit(
    server: TestServer,
) -> None:
    proc = run_python(_PLAIN_CLASS_WITH_OWN_SESSION, env_extra={"TEST_URL": server.url})
    assert_silent(proc)
    assert proc.stdout.splitlines() == [
        "200",
        "('finally', 'mylib-io')",
        "status in block: 200",
        "enter exit same task: True",
        "aclose ran on mylib-io",
    ]


def test_asyncio_timeout_inside_sync_context_manager_fires_in_its_task() -> None:
    # The deadline belongs to the task that entered; with enter and exit in different tasks,
    # asyncio.timeout would cancel the wrong one or fail on exit.
    proc = run_python(
        """
        import asyncio, contextlib, threading
        import mylib

        class Slow:
            @contextlib.asynccontextmanager
            async def deadline(self, seconds):
                async with asyncio.timeout(seconds):
                    yield
                    await asyncio.Event().wait()  # the exit takes too long

        slow = mylib.make_sync(Slow)()
        try:
            with slow.deadline(0.05):
                pass
        except TimeoutError:
            print("timed out in __exit__")
        print("bridge still works:", mylib.run(asyncio.sleep(0, "yes")))
        """
    )
    assert_silent(proc)
    assert proc.stdout.splitlines() == ["timed out in __exit__", "bridge still works: yes"]


def test_generator_abandoned_without_close_is_closed_on_the_loop_at_gc() -> None:
    proc = run_python(
        """
        import asyncio, gc, threading
        import mylib

        where = []

        class Gen:
            async def items(self):
                try:
                    while True:
                        yield 1
                finally:
                    await asyncio.sleep(0)
                    where.append(threading.current_thread().name)

        it = mylib.make_sync(Gen)().items()
        next(it)
        del it
        gc.collect()
        print(where)
        """
    )
    assert_silent(proc)
    assert proc.stdout.strip() == "['mylib-io']"


class Signing(mylib.AsyncClient):
    """Signs every request it builds."""

    def build_request(
        self, method: str, url: URLTypes, **options: Unpack[RequestOptions]
    ) -> mylib.Request:
        request = super().build_request(method, url, **options)
        request.headers["X-Sig"] = f"signed {request.method}"
        return request


def test_an_overridden_build_request_builds_every_request_of_both_faces(
    server: TestServer, tmp_path: pathlib.Path
) -> None:
    async def async_paths() -> list[str]:
        client = Signing(server.url)
        seen = [(await client.get("/anything")).json()["headers"]["X-Sig"]]
        async with client.stream("GET", "/anything") as r:
            seen.append(jsonlib.loads(await r.aread())["headers"]["X-Sig"])
        seen += [r.json()["headers"]["X-Sig"] for r in await client.map("GET", ["/anything"])]
        path = await client.download("/anything", tmp_path / "a.json")
        seen.append(jsonlib.loads(path.read_text())["headers"]["X-Sig"])
        return seen

    assert asyncio.run(async_paths()) == ["signed GET"] * 4
    twin = mylib.make_sync(Signing)(server.url)
    seen = [twin.post("/anything").json()["headers"]["X-Sig"]]
    with twin.stream("GET", "/anything") as r:
        seen.append(jsonlib.loads(r.read())["headers"]["X-Sig"])
    seen += [r.json()["headers"]["X-Sig"] for r in twin.map("GET", ["/anything"])]
    path = twin.download("/anything", tmp_path / "b.json")
    seen.append(jsonlib.loads(path.read_text())["headers"]["X-Sig"])
    assert seen == ["signed POST", "signed GET", "signed GET", "signed GET"]
