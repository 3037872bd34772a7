"""map and as_completed (issue 5): order, concurrency, bounded memory, errors, Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Iterator

import pytest

import mylib
from mylib._map import lookahead
from mylib.testing import ANY, Mocker
from tests._server import TestServer
from tests._subproc import REPO_ROOT, _child_env


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def test_map_preserves_input_order_for_1000_requests(server: TestServer) -> None:
    client = mylib.Client(server.url)
    rs = client.map("GET", [f"/echo-id/{i}" for i in range(1000)], concurrency=50)
    assert [r.json()["id"] for r in rs] == [str(i) for i in range(1000)]


def test_map_runs_requests_concurrently_not_one_after_another(server: TestServer) -> None:
    client = mylib.Client(server.url)
    started = time.perf_counter()
    rs = client.map("GET", ["/delay/0.5"] * 20, concurrency=20)
    elapsed = time.perf_counter() - started
    assert all(r.status_code == 200 for r in rs)
    assert elapsed < 5, f"20 x 0.5 s at concurrency 20 took {elapsed:.1f} s"


def test_map_of_huge_generator_pulls_lazily_in_bounded_window(server: TestServer) -> None:
    # 10,000 rather than 100,000 items to keep the suite fast on a shared 2-core machine; the
    # window is what is checked, and it does not depend on the count.
    count, concurrency = 10_000, 20
    client = mylib.Client(server.url)
    produced = 0
    delivered = 0
    widest = 0

    def urls() -> Iterator[str]:
        nonlocal produced, widest
        for i in range(count):
            produced += 1
            widest = max(widest, produced - delivered)
            yield f"/echo-id/{i}"

    for _index, response in client.as_completed("GET", urls(), concurrency=concurrency):
        assert response.status_code == 200
        delivered += 1
    assert delivered == count
    assert widest <= lookahead(concurrency) + 1, widest


def test_map_of_100000_url_generator_stays_within_its_window_and_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 5: "a generator of 100,000 URLs runs with bounded memory".

    The subject is map's lazy, bounded pulling, not the network, so Mocker answers: it
    replaces only the engine's single-hop send, and everything of map (the job on the I/O
    loop, its workers, the exchanges, the pulling in this thread) runs as usual.
    """
    count, concurrency = 100_000, 20
    produced = delivered = widest = 0

    class CountingBar:
        # Stands in for tqdm: map reports each batch of results handed back to this thread,
        # which is what "completed" means for the window.
        def __init__(self, **_: object) -> None:
            pass

        def update(self, n: float = 1) -> None:
            nonlocal delivered
            delivered += int(n)

        def close(self) -> None:
            pass

    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=CountingBar))

    def urls() -> Iterator[str]:
        nonlocal produced, widest
        for i in range(count):
            produced += 1
            widest = max(widest, produced - delivered)
            yield f"/items/{i}"

    client = mylib.Client("https://api.test")
    with Mocker() as m:
        m.get(ANY, content=b"ok")
        rs = client.map("GET", urls(), concurrency=concurrency, progress=True)
    assert produced == delivered == len(rs) == count
    assert all(r.url == f"https://api.test/items/{i}" for i, r in enumerate(rs))
    assert widest <= lookahead(concurrency) + 1, widest


def test_map_accepts_requests_and_per_item_option_dicts(server: TestServer) -> None:
    client = mylib.Client(server.url)
    built = client.build_request("PUT", "/anything", json={"k": 1})
    rs = client.map(
        "GET", [built, {"url": "/anything", "method": "POST", "json": {"n": 2}}, "/get"],
        headers={"X-All": "yes"},
    )
    assert rs[0].json()["method"] == "PUT" and rs[0].json()["json"] == {"k": 1}
    assert rs[1].json()["method"] == "POST" and rs[1].json()["json"] == {"n": 2}
    assert rs[1].json()["headers"]["X-All"] == "yes" and rs[2].json()["path"] == "/get"


def test_map_return_exceptions_puts_errors_in_place(server: TestServer) -> None:
    client = mylib.Client(server.url)
    rs = client.map("GET", ["/echo-id/0", "/gone-midway", "/echo-id/2"], return_exceptions=True)
    assert rs[0].json() == {"id": "0"} and rs[2].json() == {"id": "2"}
    assert isinstance(rs[1], mylib.ReadError)


def test_map_first_error_cancels_in_flight_siblings(server: TestServer) -> None:
    tag = _tag()
    client = mylib.Client(server.url)
    urls = [f"/delay/30?tag={tag}-{i}" for i in range(3)] + ["/gone-midway"]
    with pytest.raises(mylib.ReadError):
        client.map("GET", urls, concurrency=4)
    for i in range(3):
        assert server.wait_for("cancelled", f"{tag}-{i}", timeout=10)


def test_bad_arguments_fail_before_anything_is_sent(server: TestServer) -> None:
    client = mylib.Client(server.url)
    before = sum(server.hits.values())
    with pytest.raises(ValueError):
        client.map("GET", ["/get"], concurrency=0)
    with pytest.raises(TypeError):
        client.map("GET", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="item 1"):
        client.map("GET", ["/get", 3.5, "/get"])
    with pytest.raises(TypeError, match="item 0"):
        client.map("GET", [{"json": {}}])
    with pytest.raises(TypeError):
        client.as_completed("GET", "/get")
    assert sum(server.hits.values()) == before


def test_progress_bar_counts_every_response(server: TestServer, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    client = mylib.Client(server.url)
    rs = client.map("GET", [f"/echo-id/{i}" for i in range(30)], progress=True)
    assert len(rs) == 30
    assert "30/30" in capsys.readouterr().err


def test_progress_without_tqdm_says_how_to_install(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match=r"pip install tqdm ipywidgets"):
        mylib.Client(server.url).map("GET", ["/get"], progress=True)


def test_as_completed_early_exit_cancels_the_rest(server: TestServer) -> None:
    tag = _tag()
    client = mylib.Client(server.url)
    urls = ["/echo-id/fast"] + [f"/delay/30?tag={tag}-{i}" for i in range(3)]
    results = client.as_completed("GET", urls, concurrency=4)
    index, response = next(results)
    assert index == 0 and response.status_code == 200
    for i in range(3):
        assert server.wait_for("started", f"{tag}-{i}", timeout=10)
    results.close()
    for i in range(3):
        assert server.wait_for("cancelled", f"{tag}-{i}", timeout=10)


def test_async_map_order_errors_and_async_iterables(server: TestServer) -> None:
    async def agen() -> object:
        for i in range(5):
            yield f"/echo-id/{i}"

    async def main() -> None:
        ac = mylib.AsyncClient(server.url)
        rs = await ac.map("GET", [f"/echo-id/{i}" for i in range(200)], concurrency=20)
        assert [r.json()["id"] for r in rs] == [str(i) for i in range(200)]
        rs = await ac.map("GET", agen())  # type: ignore[arg-type]
        assert [r.json()["id"] for r in rs] == [str(i) for i in range(5)]
        with pytest.raises(mylib.ReadError):
            await ac.map("GET", ["/gone-midway", "/get"])
        seen = sorted([i async for i, _ in ac.as_completed("GET", ["/get"] * 5)])
        assert seen == [0, 1, 2, 3, 4]
        with pytest.raises(ValueError):
            await ac.map("GET", ["/get"], concurrency=-1)

    asyncio.run(main())


@contextlib.contextmanager
def _python_child(code: str) -> Iterator[subprocess.Popen[str]]:
    """``python -X dev -c code``, its output piped; killed if the test leaves it running."""
    proc = subprocess.Popen(
        [sys.executable, "-X", "dev", "-c", code],
        cwd=REPO_ROOT, env=_child_env(None), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_ctrl_c_during_map_cancels_everything_in_flight(server: TestServer) -> None:
    tag = _tag()
    code = f"""
import mylib, sys
c = mylib.Client({server.url!r})
print("ready", flush=True)
try:
    c.map("GET", [f"/delay/30?tag={tag}-{{i}}" for i in range(5)], concurrency=5)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    assert c.get("/echo-id/after").json() == {{"id": "after"}}
    print("usable", flush=True)
"""
    with _python_child(code) as proc:
        for i in range(5):
            assert server.wait_for("started", f"{tag}-{i}", timeout=30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == "", err
    assert out.split() == ["ready", "KeyboardInterrupt", "usable"]
    for i in range(5):
        assert server.wait_for("cancelled", f"{tag}-{i}", timeout=10)


def test_ctrl_c_during_map_keeps_what_finished_in_map_interrupted(server: TestServer) -> None:
    tags = (_tag(), _tag())
    code = f"""
import mylib

async def said(response):  # on the loop, in the step that records the result
    if "echo-id" in response.url:
        print("got", flush=True)

c = mylib.Client({server.url!r}, event_hooks={{"response": [said]}})
def urls(tag):
    return [f"/echo-id/{{i}}" if i % 3 else f"/delay/30?tag={{tag}}-{{i}}" for i in range(12)]
try:
    c.map("GET", urls({tags[0]!r}), concurrency=12)
except mylib.MapInterrupted as stop:
    print(isinstance(stop, KeyboardInterrupt), stop.completed, flush=True)
    print([r.json()["id"] if r is not None else None for r in stop.results], flush=True)
yielded = 0
try:
    for i, r in c.as_completed("GET", urls({tags[1]!r}), concurrency=12):
        yielded += 1
except mylib.MapInterrupted as stop:
    print("as_completed", stop.completed, yielded + len(stop.results), flush=True)
"""
    lines = []
    with _python_child(code) as proc:
        assert proc.stdout is not None
        for tag in tags:  # the map, then the as_completed loop
            lines += [proc.stdout.readline() for _ in range(8)]  # the eight fast ones
            for i in range(0, 12, 3):
                assert server.wait_for("started", f"{tag}-{i}", timeout=30)
            proc.send_signal(signal.SIGINT)
            if tag == tags[0]:
                lines += [proc.stdout.readline() for _ in range(2)]
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == "", err
    finished = [None if i % 3 == 0 else str(i) for i in range(12)]
    assert lines == ["got\n"] * 8 + ["True 8\n", f"{finished}\n"] + ["got\n"] * 8
    assert out == "as_completed 8 8\n"
