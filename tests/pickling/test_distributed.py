"""``map(executor=...)`` over real worker processes: a spawned ``ProcessPoolExecutor`` and a
real Dask ``LocalCluster``, against the loopback origin, with silent exits checked in
``python -X dev`` subprocesses."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

import mylib
from tests._subproc import REPO_ROOT, assert_silent, run_python
from tests.client._cache_origin import CacheOrigin, origin
from tests.pickling.wrappers import tag_pid

__all__ = ["origin"]


@pytest.fixture(scope="module")
def pool() -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=spawn) as executor:
        yield executor


def _pids(origin: CacheOrigin, tag: str) -> set[str]:
    return {seen.get("X-Pid", "") for seen in origin.seen[("/fresh", tag)]}


def test_a_spawned_pool_answers_2000_urls_in_input_order_from_two_processes(
    origin: CacheOrigin, pool: concurrent.futures.ProcessPoolExecutor
) -> None:
    client = mylib.Client(origin.url, event_hooks={"request": [tag_pid]})
    urls = [f"/fresh?tag=pool&i={i}" for i in range(2000)]
    results = client.map("GET", urls, executor=pool, concurrency=20, batch_size=50)
    assert [r.url for r in results] == [f"{origin.url}{u}" for u in urls]
    assert sorted(r.json()["n"] for r in results) == list(range(1, 2001))
    assert origin.count("/fresh", "pool") == 2000
    pids = _pids(origin, "pool")
    assert len(pids) == 2 and str(os.getpid()) not in pids


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_pools_of_every_start_method_work_after_the_parent_used_its_loop(
    origin: CacheOrigin, method: str
) -> None:
    client = mylib.Client(origin.url)
    client.get(f"/fresh?tag=warm-{method}")  # the parent's I/O loop runs when workers start
    with concurrent.futures.ProcessPoolExecutor(
        2, mp_context=multiprocessing.get_context(method)
    ) as executor:
        results = client.map("GET", [f"/fresh?tag={method}&i={i}" for i in range(300)],
                             executor=executor, batch_size=50)  # fmt: skip
    assert [r.status_code for r in results] == [200] * 300
    assert origin.count("/fresh", method) == 300


def test_return_exceptions_keeps_each_failure_in_its_place(
    origin: CacheOrigin, pool: concurrent.futures.ProcessPoolExecutor
) -> None:
    client = mylib.Client(origin.url, timeout=10)
    urls = [
        "http://127.0.0.1:1/refused" if i % 10 == 3 else f"/fresh?tag=rx&i={i}" for i in range(300)
    ]
    results = client.map("GET", urls, executor=pool, return_exceptions=True, batch_size=40)
    for i, result in enumerate(results):
        if i % 10 == 3:
            assert isinstance(result, mylib.ConnectError)
            assert result.request.url.endswith("/refused")
        else:
            assert isinstance(result, mylib.Response) and result.status_code == 200
    assert origin.count("/fresh", "rx") == 270


def test_the_first_error_is_raised_in_the_caller_and_the_rest_cancelled(
    origin: CacheOrigin, pool: concurrent.futures.ProcessPoolExecutor
) -> None:
    client = mylib.Client(origin.url, timeout=10)
    urls = ["http://127.0.0.1:1/first", *(f"/fresh?tag=fe&i={i}" for i in range(20000))]
    with pytest.raises(mylib.ConnectError) as caught:
        client.map("GET", urls, executor=pool, batch_size=100)
    assert caught.value.request.url == "http://127.0.0.1:1/first"
    assert origin.count("/fresh", "fe") < 20000  # the batches not yet started never ran


def test_a_generator_far_larger_than_the_lookahead_is_pulled_as_results_arrive(
    origin: CacheOrigin, pool: concurrent.futures.ProcessPoolExecutor
) -> None:
    client = mylib.Client(origin.url)
    pulled = 0

    def urls() -> Iterator[str]:
        nonlocal pulled
        for i in range(20000):
            pulled += 1
            yield f"/fresh?tag=gen&i={i % 100}"

    ahead, seen = 0, 0
    for _, response in client.as_completed("GET", urls(), executor=pool, batch_size=200):
        seen += 1
        ahead = max(ahead, pulled - seen)
        assert response.status_code == 200
    assert seen == 20000
    assert ahead <= 5 * 200  # at most 2 batches per worker in flight, plus the one pulled


def test_an_async_client_maps_over_the_pool_too(
    origin: CacheOrigin, pool: concurrent.futures.ProcessPoolExecutor
) -> None:
    async def main() -> tuple[list[mylib.Response], list[int]]:
        client = mylib.AsyncClient(origin.url)
        urls = [f"/fresh?tag=async&i={i}" for i in range(300)]
        results = await client.map("GET", urls, executor=pool, batch_size=50)
        order = [i async for i, _ in client.as_completed("GET", urls, executor=pool)]
        return results, order

    results, order = asyncio.run(main())
    assert [r.url.rsplit("=", 1)[1] for r in results] == [str(i) for i in range(300)]
    assert sorted(order) == list(range(300))


def test_bad_executor_and_batch_size_name_the_problem(origin: CacheOrigin) -> None:
    client = mylib.Client(origin.url)
    with pytest.raises(TypeError, match=r"executor must be a concurrent\.futures\.Executor"):
        client.map("GET", ["/"], executor="pool")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        client.map("GET", ["/"], executor=concurrent.futures.ThreadPoolExecutor(1), batch_size=0)
    with pytest.raises(TypeError, match="a lambda or a function defined inside another"):
        mylib.Client(origin.url, event_hooks={"request": [lambda r: None]}).map(
            "GET", ["/"], executor=concurrent.futures.ThreadPoolExecutor(1)
        )


def test_a_dask_local_cluster_maps_2000_urls_and_shuts_down_in_silence(
    origin: CacheOrigin,
) -> None:
    proc = run_python(f"""
        import mylib
        from dask.distributed import Client, LocalCluster
        from tests.pickling.wrappers import tag_pid

        if __name__ == "__main__":
            client = mylib.Client({origin.url!r}, event_hooks={{"request": [tag_pid]}})
            urls = [f"/fresh?tag=dask&i={{i}}" for i in range(2000)]
            with LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                              dashboard_address=None) as cluster, Client(cluster) as dask:
                results = client.map("GET", urls, executor=dask, concurrency=20)
            assert [r.url for r in results] == [{origin.url!r} + u for u in urls]
            print(len(results))
    """, timeout=180)
    assert_silent(proc)
    assert proc.stdout == "2000\n" and origin.count("/fresh", "dask") == 2000
    assert len(_pids(origin, "dask")) == 2


def test_workers_and_the_parent_of_a_spawned_pool_exit_in_silence(origin: CacheOrigin) -> None:
    proc = run_python(f"""
        import concurrent.futures, multiprocessing
        import mylib

        if __name__ == "__main__":
            spawn = multiprocessing.get_context("spawn")
            client = mylib.Client({origin.url!r})
            with concurrent.futures.ProcessPoolExecutor(2, mp_context=spawn) as pool:
                results = client.map("GET", [f"/fresh?tag=silent&i={{i}}" for i in range(500)],
                                     executor=pool)
            print(sum(r.status_code == 200 for r in results))
    """, timeout=120)
    assert_silent(proc)
    assert proc.stdout == "500\n"


def test_ctrl_c_stops_a_distributed_map_and_leaves_no_worker_requesting(
    origin: CacheOrigin, tmp_path: os.PathLike[str]
) -> None:
    script = os.path.join(tmp_path, "crawl.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(f"""
import concurrent.futures, multiprocessing, sys
import mylib

if __name__ == "__main__":
    spawn = multiprocessing.get_context("spawn")
    client = mylib.Client({origin.url!r})
    urls = (f"/fresh?tag=ctrlc&i={{i}}" for i in range(10**7))
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=spawn) as pool:
        try:
            client.map("GET", urls, executor=pool, batch_size=200)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
""")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(  # its own process group, as a terminal's job is
        [sys.executable, script], cwd=REPO_ROOT, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while origin.count("/fresh", "ctrlc") < 500:
            assert time.monotonic() < deadline and child.poll() is None, "the crawl never ran"
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGINT)  # Ctrl-C at a terminal: the whole job
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 3 and "interrupted" in out
    # Every process of the job ends, workers included (the resource tracker and workers exit
    # once their parent has): then nobody is left to send a request.
    deadline = time.monotonic() + 30
    while _group_alive(child.pid):
        assert time.monotonic() < deadline, "a process of the interrupted job kept running"
        time.sleep(0.05)
    assert origin.count("/fresh", "ctrlc") < 10**7


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_one_progress_bar_in_the_caller_counts_items_across_workers(
    origin: CacheOrigin, pool: concurrent.futures.ProcessPoolExecutor,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = mylib.Client(origin.url)
    urls = [f"/fresh?tag=bar&i={i}" for i in range(250)]
    assert len(client.map("GET", urls, executor=pool, batch_size=50, progress=True)) == 250
    assert "250/250" in capsys.readouterr().err


def test_empty_input_and_a_batch_larger_than_it(
    origin: CacheOrigin, pool: concurrent.futures.ProcessPoolExecutor
) -> None:
    client = mylib.Client(origin.url)
    assert client.map("GET", [], executor=pool) == []
    results = client.map("GET", ["/fresh?tag=one"], executor=pool, batch_size=1000)
    assert [r.status_code for r in results] == [200]


def test_neither_dask_nor_ray_is_imported_unless_given(origin: CacheOrigin) -> None:
    proc = run_python(f"""
        import concurrent.futures, pickle, sys
        import mylib

        if __name__ == "__main__":
            client = mylib.Client({origin.url!r})
            print(len(pickle.dumps(client)))
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                client.map("GET", ["/fresh?tag=noimport"] * 5, executor=pool)
            print(sorted(m for m in ("dask", "distributed", "ray") if m in sys.modules))
    """)
    assert_silent(proc)
    size, imported = proc.stdout.splitlines()
    assert int(size) < 1000 and imported == "[]"


def test_concurrency_is_per_worker_even_with_threads() -> None:
    from tests.client._traffic import TrafficServer

    traffic = TrafficServer()
    try:
        client = mylib.Client(traffic.url)
        with concurrent.futures.ThreadPoolExecutor(4) as threads:
            client.map("GET", ["/slow?tag=pw"] * 40, executor=threads, concurrency=2,
                       batch_size=5)  # fmt: skip
        assert traffic.most_in_flight["pw"] <= 2  # one process: one batch at a time
    finally:
        traffic.stop()


def test_an_async_distributed_as_completed_pulls_only_as_it_is_read(
    origin: CacheOrigin, pool: concurrent.futures.ProcessPoolExecutor
) -> None:
    pulled = 0

    def urls() -> Iterator[str]:
        nonlocal pulled
        for i in range(100000):
            pulled += 1
            yield f"/fresh?tag=alook&i={i % 10}"

    async def main() -> int:
        client = mylib.AsyncClient(origin.url)
        results = client.as_completed("GET", urls(), executor=pool, batch_size=100)
        for _ in range(20):
            await anext(results)
        await results.aclose()
        return pulled

    assert asyncio.run(main()) <= 256 + 5 * 100  # the queue, plus the batches in flight


def test_two_identical_maps_at_once_over_dask_both_run_and_errors_stay_quiet(
    origin: CacheOrigin,
) -> None:
    proc = run_python(f"""
        import threading
        import mylib
        from dask.distributed import Client, LocalCluster

        if __name__ == "__main__":
            client = mylib.Client({origin.url!r})
            urls = [f"/fresh?tag=twice&i={{i}}" for i in range(200)]
            with LocalCluster(processes=True, n_workers=2, threads_per_worker=2,
                              dashboard_address=None) as cluster, Client(cluster) as dask:
                runs = [threading.Thread(target=client.map, args=("GET", urls),
                                         kwargs={{"executor": dask, "batch_size": 20}})
                        for _ in range(2)]
                for run in runs:
                    run.start()
                for run in runs:
                    run.join()
                try:
                    client.map("GET", ["http://127.0.0.1:1/"] + urls, executor=dask,
                               batch_size=20)
                except mylib.ConnectError as exc:
                    print("raised", exc.request.url)
    """, timeout=180)
    assert_silent(proc)
    assert proc.stdout == "raised http://127.0.0.1:1/\n"
    assert origin.count("/fresh", "twice") >= 400  # both maps ran every batch
