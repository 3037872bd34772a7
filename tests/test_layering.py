"""The seams hold: who may import what, and who may touch the engine's insides.

Read from the source with ``ast``, so a rule is broken by the line that breaks it, not by a
test that happens to exercise it. Each rule is what lets a next feature be one new module:
a transport knows aiohttp so nothing else has to, the runtime knows no HTTP, the data
models know no engine, and the features talk to the engine only through its interface.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mylib
from mylib import _async_client

_PACKAGE = Path(mylib.__file__).parent


def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(_PACKAGE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(_PACKAGE.rglob("*.py"))
    }


MODULES = _modules()


def _imports(tree: ast.Module, where: str) -> list[str]:
    """Every module ``tree`` imports (any depth, TYPE_CHECKING included), as absolute names."""
    package = ["mylib", *where.split("/")[:-1]]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append(name)
            found.extend(f"{name}.{alias.name}" for alias in node.names)
    return found


def test_only_the_transports_import_aiohttp() -> None:
    offenders = {
        where: sorted({n for n in _imports(tree, where) if n.split(".")[0] == "aiohttp"})
        for where, tree in MODULES.items()
        if not where.startswith("_transports/")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_runtime_imports_nothing_from_mylib_outside_itself() -> None:
    offenders = {
        where: sorted(
            n for n in _imports(tree, where)
            if n.startswith("mylib") and not n.startswith("mylib._runtime")
        )
        for where, tree in MODULES.items()
        if where.startswith("_runtime/")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("where", ["_models.py", "_errors.py", "_decode.py"])
def test_the_data_modules_import_no_engine(where: str) -> None:
    engine = ("aiohttp", "mylib._async_client", "mylib._transports", "mylib._pipeline",
              "mylib._io", "mylib._runtime", "mylib._client")
    imported = _imports(MODULES[where], where)
    assert [n for n in imported if n.startswith(engine)] == []


def test_the_pipeline_does_not_know_the_aiohttp_transport() -> None:
    offenders = {
        where: [n for n in _imports(tree, where) if n.startswith("mylib._transports.aiohttp")]
        for where, tree in MODULES.items()
        if where.startswith("_pipeline/")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_io_registers_with_the_process() -> None:
    registrations = {
        where
        for where, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and (node.attr, getattr(node.value, "id", None))
        in {("register", "atexit"), ("register_at_fork", "os")}
    }
    assert registrations == {"_io.py"}


def _engine_private_names() -> set[str]:
    client = mylib.AsyncClient()
    names = {*vars(mylib.AsyncClient), *vars(client)}
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


FEATURES = ["_client.py", "_stream.py", "_map.py", "_download.py", "_wrap.py", "_api.py",
            "testing.py", "_cassette.py", "_pytest_plugin.py"]


@pytest.mark.parametrize("where", FEATURES)
def test_features_touch_no_private_attribute_of_the_engine(where: str) -> None:
    private = _engine_private_names()
    assert {"_config", "_transport", "_handler", "_state", "_send"} <= private  # the probe works
    touched = sorted(
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(MODULES[where])
        if isinstance(node, ast.Attribute)
        and node.attr in private
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    )
    assert touched == [], f"{where} reaches into the engine; use mylib._async_client's interface"


@pytest.mark.parametrize("where", ["_client.py", "_stream.py"])
def test_features_import_the_engine_interface_at_top_level(where: str) -> None:
    tree = MODULES[where]
    top = {n for node in tree.body for n in _imports(ast.Module([node], []), where)}
    assert "mylib._async_client" in top
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = _imports(ast.Module(list(fn.body), []), where)
            assert "mylib._async_client" not in inner, f"{fn.name} imports the engine lazily"


def test_the_engine_interface_the_features_use_is_documented() -> None:
    for name in _async_client.__all__:
        assert (getattr(_async_client, name).__doc__ or "").strip(), name


def test_no_install_hint_names_mylibs_extras() -> None:
    # A "mylib" on the public package index is somebody else's: `pip install 'mylib[x]'`
    # would install that. Hints name the real packages.
    offenders = sorted(
        where
        for where, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and "pip install 'mylib[" in node.value
    )
    assert offenders == []
