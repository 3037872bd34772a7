"""Type checkers see make_sync classes' blocking signatures, through ``mylib.stubgen`` stubs.

mypy runs in a child process on small files; the revealed types are asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests._subproc import REPO_ROOT

_EXAMPLES = REPO_ROOT / "examples"


def _mypy(cwd: Path, code: str, cache: Path, mypy_path: Path) -> str:
    (cwd / "check_me.py").write_text(textwrap.dedent(code), encoding="utf-8")
    # mylib is an editable install, which mypy cannot follow: give it the checkout.
    env = {**os.environ, "MYPYPATH": os.pathsep.join([str(mypy_path), str(REPO_ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
         "--cache-dir", str(cache), "check_me.py"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    return proc.stdout + proc.stderr


def _revealed(mypy_output: str) -> list[str]:
    marker = 'Revealed type is "'
    return [
        line.split(marker, 1)[1].rstrip('"')
        for line in mypy_output.splitlines()
        if marker in line
    ]


def _stubgen(module: str, cwd: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(REPO_ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "mylib.stubgen", module, *flags],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def test_example_stub_is_current_so_type_checkers_are_not_lied_to() -> None:
    proc = _stubgen("todo_client._sync", _EXAMPLES, "--check")
    assert proc.returncode == 0, (
        f"{proc.stderr}\nregenerate: cd examples && python -m mylib.stubgen todo_client._sync"
    )


def test_mypy_sees_blocking_signatures_of_the_example_wrapper(
    tmp_path: Path, mypy_cache: Path
) -> None:
    out = _mypy(
        tmp_path,
        """
        from todo_client import SyncTodoClient

        todos = SyncTodoClient("http://127.0.0.1:8000")
        reveal_type(todos.list_todos(done=True))
        reveal_type(todos.create_todo("x"))
        reveal_type(todos.iter_todos())
        reveal_type(todos.get("/todos"))
        with todos.scratch_todo("tmp") as scratch:
            reveal_type(scratch)
        with SyncTodoClient() as same:
            reveal_type(same)
        todos.create_todo(title=1)
        """,
        mypy_cache,
        _EXAMPLES,
    )
    todo = "TypedDict(todo_client._async.Todo, {'id': int, 'title': str, 'done': bool})"
    assert _revealed(out) == [
        f"list[{todo}]",
        todo,
        f"typing.Generator[{todo}, None, None]",
        "mylib._models.Response",
        todo,
        "todo_client._sync.SyncTodoClient",
    ], out
    errors = [line for line in out.splitlines() if "error:" in line]
    assert len(errors) == 1, out
    assert 'Argument "title" to "create_todo" of "SyncTodoClient"' in errors[0]
    assert "Coroutine" not in out, out


def test_stubgen_maps_each_kind_of_async_member_to_its_blocking_type(
    tmp_path: Path, mypy_cache: Path
) -> None:
    pkg = tmp_path / "wrapped"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "_api.py").write_text(
        textwrap.dedent(
            """
            from __future__ import annotations

            import contextlib
            from collections.abc import AsyncIterator
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from decimal import Decimal


            class Api:
                async def price(self, item: str, /, *, cents: bool = False) -> Decimal: ...

                async def pages(self) -> AsyncIterator[list[int]]:
                    yield [1]

                @contextlib.asynccontextmanager
                async def txn(self) -> AsyncIterator[Api]:
                    yield self

                @property
                def name(self) -> str:
                    return "api"

                async def __aenter__(self) -> Api:
                    return self

                async def __aexit__(self, *exc: object) -> None: ...
            """
        ),
        encoding="utf-8",
    )
    (pkg / "_sync.py").write_text(
        "import mylib\nfrom ._api import Api\n\nSyncApi = mylib.make_sync(Api)\n",
        encoding="utf-8",
    )
    proc = _stubgen("wrapped._sync", tmp_path)
    assert proc.returncode == 0 and (pkg / "_sync.pyi").exists(), proc.stderr
    out = _mypy(
        tmp_path,
        """
        from wrapped._sync import SyncApi

        api = SyncApi()
        reveal_type(api.price("x", cents=True))
        reveal_type(api.pages())
        reveal_type(api.name)
        with api.txn() as inner:
            reveal_type(inner)
        with api as entered:
            reveal_type(entered)
        api.close()
        """,
        mypy_cache,
        tmp_path,
    )
    assert _revealed(out) == [
        "decimal.Decimal",
        "typing.Generator[list[int], None, None]",
        "str",
        "wrapped._sync.SyncApi",
        "wrapped._sync.SyncApi",
    ], out
    assert "error:" not in out, out


def test_stubgen_refuses_a_module_without_make_sync_classes(tmp_path: Path) -> None:
    (tmp_path / "nothing_here.py").write_text("X = 1\n", encoding="utf-8")
    proc = _stubgen("nothing_here", tmp_path)
    assert proc.returncode == 2
    assert "no classes made by mylib.make_sync" in proc.stderr


def test_wrapped_async_client_subclass_is_typed_like_the_blocking_client(
    tmp_path: Path, mypy_cache: Path
) -> None:
    # make_sync serves the inherited stream/map/... with mylib.Client's methods; the stub must
    # say so (a StreamResponse with iter_bytes, not the async stream), and keep overrides.
    pkg = tmp_path / "restapi"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "_api.py").write_text(
        textwrap.dedent(
            """
            from __future__ import annotations

            from typing import Any

            import mylib


            class Api(mylib.AsyncClient):
                async def get(self, url: str, **options: Any) -> int:  # type: ignore[override]
                    return (await super().get(url, **options)).status_code
            """
        ),
        encoding="utf-8",
    )
    (pkg / "_sync.py").write_text(
        "import mylib\nfrom ._api import Api\n\nSyncApi = mylib.make_sync(Api)\n",
        encoding="utf-8",
    )
    proc = _stubgen("restapi._sync", tmp_path)
    assert proc.returncode == 0, proc.stderr
    calls = """
        with {c}.stream("GET", "/x") as r:
            reveal_type(r)
            reveal_type(r.iter_bytes())
        reveal_type({c}.map("GET", ["/a", "/b"], concurrency=4))
        reveal_type({c}.as_completed("GET", ["/a"]))
        reveal_type({c}.build_request("GET", "/x"))
        reveal_type({c}.download("/x", "f"))
        """
    out = _mypy(
        tmp_path,
        "import mylib\nfrom restapi._sync import SyncApi\n\n"
        "api = SyncApi()\nclient = mylib.Client()\n"
        + textwrap.dedent(calls.format(c="api"))
        + textwrap.dedent(calls.format(c="client"))
        + "reveal_type(api.get('/x'))\n",
        mypy_cache,
        tmp_path,
    )
    revealed = _revealed(out)
    assert len(revealed) == 13, out
    ours, theirs, overridden = revealed[:6], revealed[6:12], revealed[12]
    assert ours == theirs, out
    assert ours[0] == "mylib._stream.StreamResponse", out
    # Whatever Client.map is annotated with (list[Any] today: return_exceptions=True puts
    # errors in the list), not the list of an async call.
    assert ours[2] in ("list[Any]", "list[mylib._models.Response]"), out
    assert ours[4] == "mylib._models.Request", out
    assert overridden == "int", out
    assert "error:" not in out, out

