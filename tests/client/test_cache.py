"""The HTTP cache (``cache=``), end to end against a real loopback origin and real SQLite
files: what RFC 9111 says is stored, served, revalidated and invalidated; what mylib adds
(collapsing, only-if-cached, stale-if-error, credential safety); and that a broken store
only ever costs a request."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import pickle
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import mylib
from tests._subproc import assert_silent, run_python
from tests.client._cache_origin import CacheOrigin, origin
from tests.client._support import make_client

__all__ = ["make_client", "origin"]


@pytest.fixture
def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "http.sqlite"


def test_a_fresh_response_is_answered_from_the_cache_without_a_request(
    make_client: Any, origin: CacheOrigin, cache_file: Path
) -> None:
    client = make_client(origin.url, cache=mylib.Cache(cache_file))
    first = client.get("/fresh?tag=fresh")
    second = client.get("/fresh?tag=fresh")
    assert (first.from_cache, second.from_cache) == (False, True)
    assert first.json() == second.json() == {"n": 1}
    assert second.status_code == 200 and second.headers["Cache-Control"] == "max-age=3600"
    assert second.attempts == 0 and first.attempts == 1
    assert second.request.url == first.request.url and second.url == first.url
    assert origin.count("/fresh", "fresh") == 1
    assert cache_file.is_file()


def test_etag_revalidation_sends_if_none_match_and_serves_the_stored_body_on_304(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    first = client.get("/etag?tag=rv")
    again = client.get("/etag?tag=rv")
    assert first.text == again.text == "tagged body"
    assert (first.from_cache, first.revalidated) == (False, False)
    assert (again.from_cache, again.revalidated, again.status_code) == (True, True, 200)
    assert again.attempts == 1
    seen = origin.seen[("/etag", "rv")]
    assert len(seen) == 2 and "If-None-Match" not in seen[0]
    assert seen[1]["If-None-Match"] == '"v1"'


def test_last_modified_revalidation_sends_if_modified_since(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    client.get("/lastmod?tag=lm")
    again = client.get("/lastmod?tag=lm")
    assert again.text == "dated body" and again.revalidated
    assert origin.seen[("/lastmod", "lm")][1]["If-Modified-Since"].endswith("10:00:00 GMT")


def test_vary_accept_keeps_one_entry_per_accept_value(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    texts = [
        client.get("/vary?tag=v", headers={"Accept": accept}).text
        for accept in ("text/plain", "application/json", "text/plain", "application/json")
    ]
    assert texts == ["text/plain", "application/json", "text/plain", "application/json"]
    assert origin.count("/vary", "v") == 2


def test_no_store_is_never_stored(make_client: Any, origin: CacheOrigin) -> None:
    client = make_client(origin.url, cache=":memory:")
    answers = [client.get("/nostore?tag=ns") for _ in range(3)]
    assert [r.text for r in answers] == ["1", "2", "3"]
    assert not any(r.from_cache for r in answers)


def test_a_request_no_store_is_not_stored(make_client: Any, origin: CacheOrigin) -> None:
    client = make_client(origin.url, cache=":memory:")
    client.get("/fresh?tag=rns", headers={"Cache-Control": "no-store"})
    assert not client.get("/fresh?tag=rns").from_cache
    assert origin.count("/fresh", "rns") == 2


def test_max_age_1_expires_and_the_stale_entry_is_revalidated(
    make_client: Any, origin: CacheOrigin
) -> None:
    # The origin dates its answer 10 s back: with max-age=1 it is stored already stale, as
    # one stored a second ago would be now (no waiting on the clock).
    client = make_client(origin.url, cache=":memory:")
    client.get("/expired?tag=e")
    again = client.get("/expired?tag=e")
    assert again.text == "expired body" and again.revalidated
    assert origin.seen[("/expired", "e")][1]["If-None-Match"] == '"e1"'


def test_only_if_cached_gives_504_without_a_request_on_a_miss_and_the_entry_on_a_hit(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    only = {"Cache-Control": "only-if-cached"}
    miss = client.get("/fresh?tag=oic", headers=only)
    assert miss.status_code == 504 and not miss.from_cache
    assert origin.count("/fresh", "oic") == 0
    client.get("/fresh?tag=oic")
    hit = client.get("/fresh?tag=oic", headers=only)
    assert hit.status_code == 200 and hit.from_cache
    assert origin.count("/fresh", "oic") == 1


def test_a_request_no_cache_revalidates_a_fresh_entry(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    client.get("/fresh?tag=nc")
    forced = client.get("/fresh?tag=nc", headers={"Cache-Control": "no-cache"})
    assert forced.json() == {"n": 2} and not forced.from_cache
    assert origin.count("/fresh", "nc") == 2


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_an_unsafe_method_invalidates_what_is_stored_for_its_url(
    make_client: Any, origin: CacheOrigin, method: str
) -> None:
    client = make_client(origin.url, cache=":memory:")
    tag = f"inv-{method}"
    client.get(f"/fresh?tag={tag}")
    assert client.get(f"/fresh?tag={tag}").from_cache
    assert client.request(method, f"/fresh?tag={tag}").text == "changed"
    after = client.get(f"/fresh?tag={tag}")
    assert not after.from_cache and after.json() == {"n": 3}


def test_cache_false_on_a_request_neither_reads_nor_writes(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    client.get("/fresh?tag=off", cache=False)
    first = client.get("/fresh?tag=off")
    assert not first.from_cache  # the first was not stored
    assert not client.get("/fresh?tag=off", cache=False).from_cache  # nor read
    assert client.get("/fresh?tag=off").from_cache
    assert origin.count("/fresh", "off") == 3


def test_clear_empties_the_store(make_client: Any, origin: CacheOrigin, cache_file: Path) -> None:
    client = make_client(origin.url, cache=cache_file)
    client.get("/fresh?tag=clr")
    assert client.get("/fresh?tag=clr").from_cache
    client.cache.clear()
    assert not client.get("/fresh?tag=clr").from_cache
    assert origin.count("/fresh", "clr") == 2


def test_head_and_get_are_stored_apart(make_client: Any, origin: CacheOrigin) -> None:
    client = make_client(origin.url, cache=":memory:")
    head = client.head("/fresh?tag=hg")
    get = client.get("/fresh?tag=hg")
    assert head.content == b"" and not get.from_cache and get.json() == {"n": 2}
    assert client.head("/fresh?tag=hg").from_cache and client.get("/fresh?tag=hg").from_cache


# -- collapsing ------------------------------------------------------------------------------


class _Lines(logging.Handler):
    """Counts the mylib log lines that contain ``needle``, and wakes a waiter at ``wanted``."""

    def __init__(self, needle: str, wanted: int) -> None:
        super().__init__(logging.DEBUG)
        self.needle, self.wanted, self.count = needle, wanted, 0
        self.reached = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.count += 1
            if self.count >= self.wanted:
                self.reached.set()


def test_twenty_threads_asking_at_once_send_one_request(origin: CacheOrigin) -> None:
    client = mylib.Client(origin.url, cache=":memory:")
    logger = logging.getLogger("mylib")
    waiting = _Lines("waits for the identical request in flight", 19)
    logger.addHandler(waiting)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    results: list[mylib.Response] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            results.append(client.get("/wait?tag=t20"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    try:
        for thread in threads:
            thread.start()
        # The origin holds the one request until the 19 others are waiting for it.
        reached = waiting.reached.wait(30)
    finally:
        origin.release("t20")
        for thread in threads:
            thread.join(30)
        logger.removeHandler(waiting)
        logger.setLevel(level)
    assert reached, f"only {waiting.count} waited; {origin.count('/wait', 't20')} arrived"
    assert errors == []
    assert origin.count("/wait", "t20") == 1
    assert len(results) == 20 and {r.json()["n"] for r in results} == {1}
    assert sum(r.from_cache for r in results) == 19


def test_a_map_of_1000_urls_with_100_distinct_sends_100_requests(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    urls = [f"/fresh?tag=map&i={i % 100}" for i in range(1000)]
    results = client.map("GET", urls, concurrency=50)
    assert [r.url for r in results] == [f"{origin.url}{u}" for u in urls]
    assert sum(not r.from_cache for r in results) == 100
    assert origin.count("/fresh", "map") == 100


def test_as_completed_collapses_too(origin: CacheOrigin) -> None:
    client = mylib.Client(origin.url, cache=":memory:")
    urls = [f"/fresh?tag=asc&i={i % 10}" for i in range(200)]
    answers = list(client.as_completed("GET", urls, concurrency=20))
    assert len(answers) == 200 and origin.count("/fresh", "asc") == 10


def test_an_uncacheable_answer_lets_the_waiters_go_on_their_own(origin: CacheOrigin) -> None:
    client = mylib.Client(origin.url, cache=":memory:")
    results = client.map("GET", ["/nostore?tag=alone"] * 20, concurrency=20)
    assert sorted(int(r.text) for r in results) == list(range(1, 21))


# -- streams ------------------------------------------------------------------------------------


def test_a_stream_is_stored_once_read_to_the_end_and_a_stored_one_streams(
    origin: CacheOrigin, cache_file: Path
) -> None:
    client = mylib.Client(origin.url, cache=cache_file)
    with client.stream("GET", "/big?tag=s") as r:
        assert not r.from_cache
        first = b"".join(r.iter_bytes())
    assert len(first) == 4 << 20
    with client.stream("GET", "/big?tag=s") as r:
        assert r.from_cache
        again = b"".join(r.iter_bytes(65536))
    assert again == first and client.get("/big?tag=s").content == first
    assert origin.count("/big", "s") == 1


def test_a_stream_closed_early_is_not_stored(origin: CacheOrigin) -> None:
    client = mylib.Client(origin.url, cache=":memory:")
    with client.stream("GET", "/big?tag=early") as r:
        next(r.iter_bytes(1024))
    assert not client.get("/big?tag=early").from_cache
    assert origin.count("/big", "early") == 2


def test_an_async_stream_is_stored_and_served(origin: CacheOrigin) -> None:
    async def main() -> tuple[bool, bool, int]:
        client = mylib.AsyncClient(origin.url, cache=":memory:")
        async with client.stream("GET", "/big?tag=as") as r:
            size = len(await r.aread())
        async with client.stream("GET", "/big?tag=as") as again:
            body = b"".join([piece async for piece in again.aiter_bytes()])
        return r.from_cache, again.from_cache, size + len(body)

    assert asyncio.run(main()) == (False, True, 8 << 20)
    assert origin.count("/big", "as") == 1


# -- offline tolerance --------------------------------------------------------------------------


def test_stale_if_error_serves_the_stale_entry_when_the_server_is_down(
    make_client: Any, tmp_path: Path
) -> None:
    down = CacheOrigin()
    client = make_client(down.url, cache=mylib.Cache(tmp_path / "c.sqlite", stale_if_error=True))
    assert client.get("/expired?tag=down").text == "expired body"
    down.stop()
    served = client.get("/expired?tag=down")
    assert served.text == "expired body" and served.from_cache and not served.revalidated
    with pytest.raises(mylib.ConnectError):
        client.get("/expired?tag=other")  # nothing stored: the error stands


def test_stale_if_error_serves_the_stale_entry_on_a_5xx(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=mylib.Cache(":memory:", stale_if_error=True))
    client.get("/flaky?tag=5xx")
    served = client.get("/flaky?tag=5xx")
    assert served.status_code == 200 and served.text == "good body" and served.from_cache
    assert origin.count("/flaky", "5xx") == 2


def test_the_stale_if_error_directive_allows_it_without_the_option(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    allowed = {"tag": "dir", "cc": "stale-if-error=3600"}
    client.get("/flaky", params=allowed)
    assert client.get("/flaky", params=allowed).text == "good body"
    client.get("/flaky?tag=nodir")
    assert client.get("/flaky?tag=nodir").status_code == 503  # not allowed: the 503 stands


# -- safety -------------------------------------------------------------------------------------


def test_an_answer_to_credentials_is_stored_only_when_it_says_so(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:", auth=mylib.BearerAuth("token-1"))
    client.get("/fresh?tag=auth")
    assert not client.get("/fresh?tag=auth").from_cache  # max-age alone: not stored
    client.get("/public?tag=auth")
    assert client.get("/public?tag=auth").from_cache
    client.get("/private?tag=auth")
    assert client.get("/private?tag=auth").from_cache  # private, in a private cache
    # Another user's credentials never get the first one's answer.
    other = client.get("/private?tag=auth", auth=mylib.BearerAuth("token-2"))
    assert not other.from_cache and other.text == "2"


def test_a_shared_cache_never_stores_a_private_answer(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=mylib.Cache(":memory:", shared=True))
    client.get("/private?tag=shared")
    assert not client.get("/private?tag=shared").from_cache
    client.get("/public?tag=shared")
    assert client.get("/public?tag=shared").from_cache


def test_no_secret_reaches_the_file_or_the_log(
    origin: CacheOrigin, cache_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = mylib.Client(origin.url, cache=cache_file, auth=mylib.BearerAuth("tok-SECRET-1"))
    with caplog.at_level(logging.DEBUG):
        client.get("/public?tag=sec&api_key=key-SECRET-2")
        client.get("/cookie?tag=sec&session=cookie-SECRET-3")
        assert client.get("/public?tag=sec&api_key=key-SECRET-2").from_cache
        client.get("/fresh?tag=sec", cookies={"c": "jar-SECRET-4"})
    assert client.cookies["session"] == "cookie-SECRET-3"  # the jar got it, the store not
    del client
    stored = b"".join(p.read_bytes() for p in cache_file.parent.iterdir())
    assert b"SECRET" not in stored and len(stored) > 4096
    assert "SECRET" not in caplog.text and "Cache hit" in caplog.text


def _stderr_free_run(code: str, **env: str) -> str:
    proc = run_python(code, env_extra=env)
    assert_silent(proc)
    return proc.stdout


def test_a_corrupt_sqlite_file_falls_back_to_the_network_in_silence(
    origin: CacheOrigin, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"this is not a database" * 100)
    out = _stderr_free_run(f"""
        import logging, warnings
        warnings.simplefilter("error")
        import mylib
        lines = []
        class Keep(logging.Handler):
            def emit(self, record): lines.append(record.getMessage())
        logging.getLogger().addHandler(Keep())
        logging.getLogger("mylib").setLevel(logging.DEBUG)
        client = mylib.Client({origin.url!r}, cache={str(broken)!r})
        answers = [client.get("/fresh?tag=corrupt") for _ in range(3)]
        print([r.from_cache for r in answers], [r.json()["n"] for r in answers])
        print(sum("cannot be used" in line for line in lines))
    """)
    assert out.splitlines() == ["[False, False, False] [1, 2, 3]", "1"]
    assert broken.read_bytes().startswith(b"this is not a database")  # left as it was


def test_a_locked_sqlite_file_falls_back_to_the_network_in_silence(
    origin: CacheOrigin, tmp_path: Path
) -> None:
    locked = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        out = _stderr_free_run(f"""
            import mylib
            client = mylib.Client({origin.url!r}, cache={str(locked)!r})
            answers = [client.get("/fresh?tag=locked") for _ in range(2)]
            print([r.status_code for r in answers], [r.from_cache for r in answers])
        """)
    finally:
        holder.rollback()
        holder.close()
    assert out.splitlines() == ["[200, 200] [False, False]"]


# -- across processes ---------------------------------------------------------------------------


_NOTEBOOK = """
    import mylib
    client = mylib.Client({url!r}, cache=True)
    for page in range(5):
        client.get("/fresh", params={{"tag": "notebook", "page": page}}).raise_for_status()
    print(client.cache.location)
"""


def test_a_notebook_rerun_in_a_fresh_process_sends_nothing(
    origin: CacheOrigin, tmp_path: Path
) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    first = _stderr_free_run(_NOTEBOOK.format(url=origin.url), **env)
    assert origin.count("/fresh", "notebook") == 5
    second = _stderr_free_run(_NOTEBOOK.format(url=origin.url), **env)
    assert origin.count("/fresh", "notebook") == 5  # all five from the file
    assert first == second == f"{tmp_path / 'xdg' / 'mylib' / 'http-cache.sqlite'}\n"


def test_two_processes_share_a_redis_cache(origin: CacheOrigin, redis_url: str) -> None:
    code = f"""
        import mylib
        client = mylib.Client({origin.url!r}, cache={redis_url!r})
        print(client.get("/fresh?tag=redis").from_cache)
    """
    assert _stderr_free_run(code) == "False\n"
    assert _stderr_free_run(code) == "True\n"
    assert origin.count("/fresh", "redis") == 1


def test_a_redis_cache_clears_and_keeps_no_secret(origin: CacheOrigin, redis_url: str) -> None:
    import redis

    client = mylib.Client(origin.url, cache=redis_url, auth=mylib.BearerAuth("tok-SECRET-5"))
    client.get("/public?tag=redis-secret&token=q-SECRET-6")
    assert client.get("/public?tag=redis-secret&token=q-SECRET-6").from_cache
    server = redis.Redis.from_url(redis_url)
    keys = server.keys("*")
    assert keys and all(k.startswith(b"mylib-cache:") for k in keys)
    dumped = b"".join(
        b"".join(server.lrange(k, 0, -1)) if server.type(k) == b"list"
        else b"".join(server.zrange(k, 0, -1)) if server.type(k) == b"zset"
        else server.get(k) or b""
        for k in keys
    )  # fmt: skip
    assert b"SECRET" not in dumped and b"SECRET" not in b"".join(keys)
    client.cache.clear()
    assert server.keys("*") == []
    assert not client.get("/public?tag=redis-secret&token=q-SECRET-6").from_cache


# -- the rest of the surface ----------------------------------------------------------------------


def test_make_sync_wrappers_share_the_cache(origin: CacheOrigin) -> None:
    class Api:
        def __init__(self) -> None:
            self.http = mylib.AsyncClient(origin.url, cache=":memory:")

        async def item(self) -> bool:
            return (await self.http.get("/fresh?tag=wrap")).from_cache

    SyncApi = mylib.make_sync(Api)
    api = SyncApi()
    assert [api.item() for _ in range(3)] == [False, True, True]
    assert origin.count("/fresh", "wrap") == 1


def test_ttl_bounds_how_long_an_entry_is_kept(origin: CacheOrigin) -> None:
    client = mylib.Client(origin.url, cache=mylib.Cache(":memory:", ttl=0.3))
    client.get("/fresh?tag=ttl")
    deadline = time.monotonic() + 10
    while client.get("/fresh?tag=ttl").from_cache:  # max-age=3600, but ttl says 0.3 s
        assert time.monotonic() < deadline, "the entry outlived its ttl"
        time.sleep(0.05)
    assert origin.count("/fresh", "ttl") == 2


def test_a_cache_pickles_as_its_settings_and_says_where_it_is(tmp_path: Path) -> None:
    cache = mylib.Cache(tmp_path / "p.sqlite", ttl=60, shared=True)
    copy = pickle.loads(pickle.dumps(cache))
    assert (copy.location, copy.ttl, copy.shared, copy.stale_if_error) == (
        str(tmp_path / "p.sqlite"), 60.0, True, False
    )
    assert len(pickle.dumps(cache)) < 400
    shown = repr(mylib.Cache("redis://:hunter2@127.0.0.1:6379/0"))
    assert shown.startswith("mylib.Cache('redis://") and "hunter2" not in shown
    assert mylib.Client(cache=cache).cache is cache and mylib.Client().cache is None


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"ttl": -1}, ValueError, "ttl must be a positive number"),
        ({"ttl": "1"}, TypeError, "ttl must be a number"),
        ({"location": 5}, TypeError, "location must be a file path"),
        ({"location": "ftp://host/x"}, ValueError, "is not a cache location"),
        ({"shared": "yes"}, TypeError, "shared must be True or False"),
    ],
)
def test_bad_cache_options_name_the_problem(
    options: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        mylib.Cache(**options)


def test_bad_cache_values_on_client_and_request_name_the_problem(origin: CacheOrigin) -> None:
    with pytest.raises(TypeError, match=r"cache must be True, a mylib\.Cache"):
        mylib.Client(cache=3.5)  # type: ignore[arg-type]
    client = mylib.Client(origin.url, cache=":memory:")
    with pytest.raises(TypeError, match="cache must be True or False"):
        client.get("/fresh?tag=bad", cache="no")  # type: ignore[typeddict-item]


def test_without_hishel_the_error_names_the_extra() -> None:
    out = _stderr_free_run("""
        import sys
        sys.modules["hishel"] = None
        import mylib
        mylib.Client()  # no cache: nothing needs hishel
        try:
            mylib.Client(cache=True)
        except ImportError as exc:
            print(exc)
    """)
    assert "pip install 'hishel>=2,<3'" in out and "mylib[" not in out


def test_each_hit_miss_and_revalidation_is_one_debug_line(
    origin: CacheOrigin, caplog: pytest.LogCaptureFixture
) -> None:
    client = mylib.Client(origin.url, cache=":memory:")
    with caplog.at_level(logging.DEBUG, logger="mylib"):
        client.get("/fresh?tag=log")
        client.get("/fresh?tag=log")
        client.get("/etag?tag=log")
        client.get("/etag?tag=log")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Cache")]
    base = origin.url
    assert lines == [
        f"Cache miss: GET {base}/fresh?tag=log",
        f"Cache hit: GET {base}/fresh?tag=log",
        f"Cache miss: GET {base}/etag?tag=log",
        f"Cache stale, revalidating: GET {base}/etag?tag=log",
        f"Cache revalidated (304), stored body served: GET {base}/etag?tag=log",
    ]


def test_a_forked_child_opens_its_own_store_and_exits_in_silence(
    origin: CacheOrigin, cache_file: Path
) -> None:
    out = _stderr_free_run(f"""
        import os
        import mylib
        client = mylib.Client({origin.url!r}, cache={str(cache_file)!r})
        client.get("/fresh?tag=fork")
        pid = os.fork()
        if pid == 0:
            hit = client.get("/fresh?tag=fork")
            client.get("/fresh?tag=fork-child")
            os._exit(0 if hit.from_cache else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), client.get("/fresh?tag=fork-child").from_cache)
    """)
    assert out == "0 True\n"  # the child's hit came from the file; its store reached the parent
    assert origin.count("/fresh", "fork") == 1 and origin.count("/fresh", "fork-child") == 1


# -- review findings, each guarded ----------------------------------------------------------------


def test_a_new_200_to_a_revalidation_replaces_the_old_body_even_in_the_same_second(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    assert client.get("/ver?tag=v").text == "v1"
    origin.version = 2
    forced = client.get("/ver?tag=v", headers={"Cache-Control": "no-cache"})
    assert forced.text == "v2" and not forced.from_cache
    after = [client.get("/ver?tag=v") for _ in range(3)]
    assert [r.text for r in after] == ["v2"] * 3 and all(r.from_cache for r in after)


def test_the_set_cookie_of_a_304_is_never_stored(origin: CacheOrigin, cache_file: Path) -> None:
    client = mylib.Client(origin.url, cache=cache_file)
    client.get("/etag-cookie?tag=c&session=s304-SECRET")
    again = client.get("/etag-cookie?tag=c&session=s304-SECRET")
    assert again.revalidated and "Set-Cookie" not in again.headers
    assert client.cookies["session"] == "s304-SECRET"  # the jar got it from the 304
    third = client.get("/etag-cookie?tag=c&session=s304-SECRET")
    assert third.revalidated and "Set-Cookie" not in third.headers
    del client
    assert b"SECRET" not in b"".join(p.read_bytes() for p in cache_file.parent.iterdir())


def test_a_store_that_fails_prints_nothing_under_basicconfig(
    origin: CacheOrigin, tmp_path: Path
) -> None:
    path = tmp_path / "busy.sqlite"
    out = _stderr_free_run(f"""
        import logging, sqlite3
        logging.basicConfig()  # a handler of level NOTSET on the root, WARNING on the root
        import mylib
        client = mylib.Client({origin.url!r}, cache={str(path)!r})
        client.get("/fresh?tag=busy-first")  # the store is open and has its tables
        holder = sqlite3.connect({str(path)!r}, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process's long write
        r = client.get("/fresh?tag=busy")
        holder.rollback()
        print(r.status_code, r.from_cache, client.get("/fresh?tag=busy").from_cache)
    """)
    assert out == "200 False False\n"  # not stored while locked; the request still answered


def test_a_private_and_a_shared_cache_on_one_file_keep_apart(
    origin: CacheOrigin, cache_file: Path
) -> None:
    private = mylib.Client(origin.url, cache=mylib.Cache(cache_file))
    shared = mylib.Client(origin.url, cache=mylib.Cache(cache_file, shared=True))
    private.get("/private?tag=mix")
    assert private.get("/private?tag=mix").from_cache
    assert not shared.get("/private?tag=mix").from_cache  # never the private answer


def test_an_authenticated_post_invalidates_the_url_for_everyone(
    make_client: Any, origin: CacheOrigin
) -> None:
    cache = mylib.Cache(":memory:")
    anonymous = make_client(origin.url, cache=cache)
    anonymous.get("/fresh?tag=ap")
    assert anonymous.get("/fresh?tag=ap").from_cache
    writer = make_client(origin.url, cache=cache, auth=mylib.BearerAuth("w"))
    assert writer.post("/fresh?tag=ap").text == "changed"
    assert not anonymous.get("/fresh?tag=ap").from_cache


def test_stale_if_error_never_serves_what_must_be_revalidated(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=mylib.Cache(":memory:", stale_if_error=True))
    client.get("/mustreval?tag=mr")
    assert client.get("/mustreval?tag=mr").status_code == 503


def test_a_stale_answer_after_an_error_says_its_age_and_the_tries_made(
    origin: CacheOrigin,
) -> None:
    client = mylib.Client(origin.url, cache=mylib.Cache(":memory:", stale_if_error=True),
                          retries=mylib.Retry(total=2, backoff_factor=0))
    client.get("/flaky?tag=age")
    served = client.get("/flaky?tag=age")
    assert served.from_cache and served.text == "good body"
    assert int(served.headers["Age"]) >= 0 and served.attempts == 3


def test_a_cancelled_leader_hands_the_lead_to_one_waiter(origin: CacheOrigin) -> None:
    async def main() -> list[mylib.Response]:
        client = mylib.AsyncClient(origin.url, cache=":memory:")
        leader = asyncio.create_task(client.get("/wait?tag=cl"))
        while origin.count("/wait", "cl") < 1:
            await asyncio.sleep(0.01)
        waiting = _Lines("waits for the identical request in flight", 5)
        logger = logging.getLogger("mylib")
        logger.addHandler(waiting)
        level, _ = logger.level, logger.setLevel(logging.DEBUG)
        try:
            followers = [asyncio.create_task(client.get("/wait?tag=cl")) for _ in range(5)]
            while not waiting.reached.is_set():
                await asyncio.sleep(0.01)
            leader.cancel()
            while origin.count("/wait", "cl") < 2:  # one waiter took the lead
                await asyncio.sleep(0.01)
            origin.release("cl")
            return await asyncio.gather(*followers)
        finally:
            logger.removeHandler(waiting)
            logger.setLevel(level)

    answers = asyncio.run(main())
    assert origin.count("/wait", "cl") == 2
    assert sum(r.from_cache for r in answers) == 4


def test_a_range_request_is_never_answered_by_the_hot_set(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    client.get("/fresh?tag=rg")
    assert client.get("/fresh?tag=rg").from_cache  # now in the hot set too
    ranged = client.get("/fresh?tag=rg", headers={"Range": "bytes=0-1"})
    assert not ranged.from_cache and origin.count("/fresh", "rg") == 2


def test_max_body_size_binds_an_answer_from_the_cache(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    client.get("/big?tag=mb")
    with pytest.raises(mylib.ResponseTooLarge):
        client.get("/big?tag=mb", max_body_size=1000)
    assert origin.count("/big", "mb") == 1


def test_request_max_age_and_min_fresh_make_a_stored_answer_revalidate(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    client.get("/expired?tag=ma")  # stored 10 s old
    again = client.get("/expired?tag=ma", headers={"Cache-Control": "max-age=3600"})
    assert again.revalidated  # stale anyway
    client.get("/ver?tag=ma")
    fresh_enough = client.get("/ver?tag=ma", headers={"Cache-Control": "min-fresh=60"})
    assert fresh_enough.from_cache and not fresh_enough.revalidated
    too_old = client.get("/ver?tag=ma", headers={"Cache-Control": "min-fresh=7200"})
    assert too_old.revalidated and origin.count("/ver", "ma") == 2


def test_max_stale_with_only_if_cached_answers_offline_from_a_stale_entry(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    client.get("/expired?tag=ms")
    offline = client.get("/expired?tag=ms",
                         headers={"Cache-Control": "only-if-cached, max-stale"})
    assert offline.status_code == 200 and offline.from_cache and offline.text == "expired body"
    bounded = client.get("/expired?tag=ms",
                         headers={"Cache-Control": "only-if-cached, max-stale=1"})
    assert bounded.status_code == 504  # 9 s stale is more than it accepts
    assert origin.count("/expired", "ms") == 1


def test_the_callers_own_conditional_get_still_gets_its_304(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    tag = client.get("/ver?tag=cond").headers["ETag"]
    mine = client.get("/ver?tag=cond", headers={"If-None-Match": tag})
    assert mine.status_code == 304 and not mine.from_cache


def test_requests_whose_answer_cannot_be_stored_are_not_kept_waiting_again(
    origin: CacheOrigin,
) -> None:
    client = mylib.Client(origin.url, cache=":memory:")
    origin.release("np")
    assert client.get("/holdplain?tag=np").text == "1"  # not storable: remembered
    origin.hold_again("np")
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(client.get, "/holdplain?tag=np") for _ in range(10)]
        deadline = time.monotonic() + 30
        while origin.count("/holdplain", "np") < 11:  # all ten at the origin at once
            assert time.monotonic() < deadline, "requests were kept waiting for each other"
            time.sleep(0.01)
        origin.release("np")
        assert sorted(int(f.result().text) for f in futures) == list(range(2, 12))


def test_an_answer_that_could_never_be_used_is_not_stored(
    origin: CacheOrigin, cache_file: Path
) -> None:
    client = mylib.Client(origin.url, cache=cache_file)
    for _ in range(5):
        assert not client.get("/plain?tag=pl").from_cache
    with sqlite3.connect(cache_file) as db:
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (0,)


def test_a_hit_spells_header_names_as_the_server_did(
    make_client: Any, origin: CacheOrigin
) -> None:
    client = make_client(origin.url, cache=":memory:")
    live = client.get("/ver?tag=sp")
    hit = client.get("/ver?tag=sp")
    assert hit.from_cache and set(hit.headers) - {"Age"} == set(live.headers)
    assert "Cache-Control" in list(hit.headers)  # not hishel's "cache-control"


def test_a_location_that_cannot_be_a_file_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="is a folder"):
        mylib.Cache(tmp_path)
    with pytest.raises(ValueError, match="is a file, not a folder"):
        mylib.Cache(tmp_path / "afile" / "cache.sqlite")
    with pytest.raises(ValueError, match="not ''"):
        mylib.Cache("")


def test_clients_given_the_same_location_share_one_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, origin: CacheOrigin
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert mylib.Client(cache=True).cache is mylib.Client(cache=True).cache
    path = str(tmp_path / "one.sqlite")
    assert mylib.Client(cache=path).cache is mylib.AsyncClient(cache=path).cache
    assert mylib.Client(cache=":memory:").cache is not mylib.Client(cache=":memory:").cache
    client = mylib.Client(origin.url, cache=path)
    client.get("/fresh?tag=none")
    assert client.get("/fresh?tag=none", cache=None).from_cache  # None: as the client


def test_a_stored_response_streams_in_flat_memory(origin: CacheOrigin, cache_file: Path) -> None:
    import tracemalloc

    client = mylib.Client(origin.url, cache=cache_file)
    assert len(client.get("/big?tag=flat").content) == 4 << 20  # stored
    tracemalloc.start()
    try:
        with client.stream("GET", "/big?tag=flat") as r:
            assert r.from_cache
            size = sum(len(piece) for piece in r.iter_bytes(65536))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == 4 << 20 and peak < 3 << 20  # never the whole 4 MiB at once


def test_a_slow_store_never_holds_up_the_io_loop(origin: CacheOrigin, cache_file: Path) -> None:
    client = mylib.Client(origin.url, cache=cache_file)
    client.get("/fresh?tag=slow")  # the store is open
    store = client.cache._store  # type: ignore[union-attr]
    entered, release = threading.Event(), threading.Event()
    real = store.get_entries

    def stuck(key: str) -> Any:  # a disk that does not answer, until released
        entered.set()
        release.wait(30)
        return real(key)

    store.get_entries = stuck
    waiting = concurrent.futures.ThreadPoolExecutor(1).submit(client.get, "/fresh?tag=slow")
    try:
        assert entered.wait(30)
        # The same I/O loop still serves everyone else while the lookup waits for its disk.
        other = mylib.Client(origin.url)
        assert other.get("/plain?tag=slow", timeout=20).status_code == 200
        assert not waiting.done()
    finally:
        release.set()
    assert waiting.result(30).from_cache
