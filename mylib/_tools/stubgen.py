"""Write the ``.pyi`` stub that lets type checkers see the blocking classes of make_sync.

``make_sync`` builds its class at runtime, so mypy and pyright cannot see its methods. Keep
the ``make_sync`` calls in a module of their own and generate that module's stub::

    # yourpkg/_sync.py
    SyncApi = mylib.make_sync(Api)

    $ python -m mylib.stubgen yourpkg._sync           # writes yourpkg/_sync.pyi
    $ python -m mylib.stubgen yourpkg._sync --check   # in CI: fails if the stub is stale

The stub declares each blocking class with the signatures of the async original: a coroutine
method ``async def f(...) -> T`` becomes ``def f(...) -> T``; an async generator yielding
``T`` becomes a method returning ``Generator[T, ...]``; an ``@asynccontextmanager`` method,
or one returning ``AbstractAsyncContextManager[T]``, returns ``AbstractContextManager[T]``;
properties stay properties. For a subclass of ``mylib.AsyncClient``, the methods make_sync
serves with ``mylib.Client``'s (those it inherits unchanged: ``get``, ``stream``, ``map``,
...) get ``Client``'s signatures, e.g. ``stream`` returns ``StreamContext``. The names the
annotations use are imported from where they are defined, found by reading the modules'
source (so names imported under ``TYPE_CHECKING`` work too). Since the stub replaces its
whole module for type checkers, the module should hold nothing but the ``make_sync`` calls
(other public names are reported as an error).

Rejected: a ``Protocol``/generic ``Sync[T]`` that maps coroutine methods to blocking ones
(Python's type system cannot express it), and a mypy plugin (mypy only, not pyright).
"""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib
import importlib.util
import inspect
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._runtime.syncify import _Kind, members, wrapped_class
from .._wrap import client_methods

__all__ = ["generate_stub", "main"]

#: Names the stub itself imports; an annotation using one of them for something else clashes.
_HEADER = {
    "AbstractContextManager": ("contextlib", "AbstractContextManager"),
    "Any": ("typing", "Any"),
    "Generator": ("collections.abc", "Generator"),
    "Iterator": ("collections.abc", "Iterator"),
    "Self": ("typing", "Self"),
    "TracebackType": ("types", "TracebackType"),
}
_ASYNC_ITERATORS = {"AsyncIterator", "AsyncIterable", "AsyncGenerator"}
_ASYNC_CMS = {"AbstractAsyncContextManager", "AsyncContextManager", "_AsyncGeneratorContextManager"}
_AWAITABLES = {"Coroutine", "Awaitable"}


class StubError(Exception):
    """The stub cannot be written (e.g. a name an annotation uses cannot be found)."""


# -- annotations ------------------------------------------------------------------------------


def _annotation_text(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty or annotation is inspect.Signature.empty:
        return None
    if isinstance(annotation, str):
        return annotation
    return inspect.formatannotation(annotation)


def _outer_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _args(node: ast.Subscript) -> list[ast.expr]:
    return list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]


def _translate(text: str | None, kind: str, own_names: set[str]) -> str:
    """The blocking return annotation for an async member's annotation ``text``."""
    if text is None:
        return {
            _Kind.ASYNCGEN: "Generator[Any, Any, None]",
            _Kind.ASYNC_CM: "AbstractContextManager[Any]",
        }.get(kind, "Any")
    node = ast.parse(text, mode="eval").body
    if kind in (_Kind.ASYNCGEN, _Kind.ASYNC_CM, _Kind.METHOD) and isinstance(node, ast.Subscript):
        outer, args = _outer_name(node.value), _args(node)
        if outer in _ASYNC_ITERATORS:
            item = _self_or(args[0], own_names)
            if kind == _Kind.ASYNC_CM:
                return f"AbstractContextManager[{item}]"
            sent = ast.unparse(args[1]) if len(args) > 1 else "None"
            return f"Generator[{item}, {sent}, None]"
        if outer in _ASYNC_CMS:
            return f"AbstractContextManager[{_self_or(args[0], own_names)}]"
        if outer in _AWAITABLES and kind == _Kind.METHOD:
            return _self_or(args[-1], own_names)
    return _self_or(node, own_names)


def _iterator_of(text: str | None, own_names: set[str]) -> str:
    """``Iterator[T]`` for an ``__aiter__`` annotated ``AsyncIterator[T]`` (or the like)."""
    node = ast.parse(text, mode="eval").body if text else None
    if isinstance(node, ast.Subscript) and _outer_name(node.value) in _ASYNC_ITERATORS:
        return f"Iterator[{_self_or(_args(node)[0], own_names)}]"
    return "Iterator[Any]"


def _self_or(node: ast.expr, own_names: set[str]) -> str:
    # The wrapper hands back itself where the async instance would be returned.
    text = ast.unparse(node)
    return "Self" if text in own_names else text


def _split_parameters(params: str) -> list[str]:
    """``params`` split at its top-level commas (not those inside brackets)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(params):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(params[start:index].strip())
            start = index + 1
    parts.append(params[start:].strip())
    return parts


def _parameters(fn: Callable[..., Any]) -> str:
    parts: list[str] = []
    seen_keyword_only = False
    params = list(inspect.signature(fn, eval_str=False).parameters.values())
    for index, param in enumerate(params):
        text = param.name
        annotation = _annotation_text(param.annotation)
        if param.kind is param.VAR_POSITIONAL:
            text, seen_keyword_only = f"*{text}", True
        elif param.kind is param.VAR_KEYWORD:
            text = f"**{text}"
        elif param.kind is param.KEYWORD_ONLY and not seen_keyword_only:
            parts.append("*")
            seen_keyword_only = True
        if annotation is not None and index > 0:
            text += f": {annotation}"
        if param.default is not param.empty:
            text += " = ..."
        parts.append(text)
        following = params[index + 1] if index + 1 < len(params) else None
        if param.kind is param.POSITIONAL_ONLY and (
            following is None or following.kind is not param.POSITIONAL_ONLY
        ):
            parts.append("/")
    return ", ".join(parts)


# -- where names come from --------------------------------------------------------------------


def _module_tree(module_name: str) -> ast.Module | None:
    try:
        source = inspect.getsource(importlib.import_module(module_name))
    except (OSError, TypeError, ImportError):
        return None
    return ast.parse(source)


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Statements at module level, including those under ``if``/``try`` (TYPE_CHECKING)."""
    out: list[ast.stmt] = []
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        out.append(node)
        if isinstance(node, ast.If | ast.Try):
            todo.extend(node.body + node.orelse)
            if isinstance(node, ast.Try):
                todo.extend(node.finalbody)
                for handler in node.handlers:
                    todo.extend(handler.body)
    return out


def _absolute(module_name: str, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    module = importlib.import_module(module_name)
    package = module_name if hasattr(module, "__path__") else module_name.rpartition(".")[0]
    base = importlib.util.resolve_name("." * level + (target or ""), package)
    return base


def _is_submodule(package: str, name: str) -> bool:
    try:
        if not hasattr(importlib.import_module(package), "__path__"):
            return False
        return importlib.util.find_spec(f"{package}.{name}") is not None
    except ImportError:
        return False


def _exports(module_name: str, name: str) -> bool:
    """True when ``module_name`` re-exports ``name`` explicitly (its ``__all__``)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    return name in getattr(module, "__all__", ())


def _binds(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name == name
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name
    return False


def _resolve(name: str, module_name: str, depth: int = 0) -> str | None:
    """An import line binding ``name`` as ``module_name`` sees it, or None for builtins."""
    tree = _module_tree(module_name) if depth < 20 else None
    for node in _top_level(tree) if tree is not None else []:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (alias.asname or alias.name.partition(".")[0]) == name:
                    suffix = f" as {alias.asname}" if alias.asname else ""
                    return f"import {alias.name}{suffix}"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) != name:
                    continue
                source = _absolute(module_name, node.level, node.module)
                if _is_submodule(source, alias.name):
                    return f"import {source}.{alias.name} as {name}"
                if not _exports(source, alias.name):
                    # Follow it to where it is defined, so a strict checker sees no implicit
                    # re-export; a module that star-imports it (decimal) is as far as it goes.
                    try:
                        line = _resolve(alias.name, source, depth + 1)
                    except StubError:
                        line = None
                    if line is not None and line.startswith("from "):
                        origin = line.split()[1]
                        source = origin
                suffix = f" as {name}" if alias.name != name else ""
                return f"from {source} import {alias.name}{suffix}"
        elif _binds(node, name):
            return f"from {module_name} import {name}"
    if hasattr(builtins, name):
        return None
    if tree is None:
        return f"from {module_name} import {name}"
    raise StubError(f"cannot find where {name!r} comes from (looked in {module_name})")


def _used_names(annotation: str) -> set[str]:
    return {
        node.id
        for node in ast.walk(ast.parse(annotation, mode="eval"))
        if isinstance(node, ast.Name)
    }


# -- the stub ---------------------------------------------------------------------------------


class _ClassStub:
    """The lines of one blocking class, and the names its annotations need."""

    def __init__(self, name: str, async_cls: type) -> None:
        self.name = name
        self.async_cls = async_cls
        self.lines: list[str] = []
        self.needs: dict[str, str] = {}  # name -> module whose view of the name counts
        self.own_names = {klass.__name__ for klass in async_cls.__mro__[:-1]} | {"Self"}

    def _need(self, text: str, module: str) -> None:
        for used in _used_names(text):
            if used not in _HEADER:
                self.needs.setdefault(used, module)

    def method(self, name: str, fn: Callable[..., Any], returns: str) -> None:
        params = _parameters(fn)
        for param in inspect.signature(fn, eval_str=False).parameters.values():
            text = _annotation_text(param.annotation)
            if text is not None:
                self._need(text, fn.__module__)
        self._need(returns, fn.__module__)
        line = f"    def {name}({params}) -> {returns}: ..."
        if len(line) > 100:  # one parameter a line, as a formatter would
            inner = "".join(f"        {part},\n" for part in _split_parameters(params))
            line = f"    def {name}(\n{inner}    ) -> {returns}: ..."
        self.lines.append(line)

    def prop(self, name: str, prop: property) -> None:
        fget = prop.fget
        returns = "Any"
        if fget is not None:
            returns = _translate(_annotation_text(inspect.signature(fget).return_annotation),
                                 _Kind.COROUTINE, self.own_names)
            self._need(returns, fget.__module__)
        self.lines.append("    @property")
        self.lines.append(f"    def {name}(self) -> {returns}: ...")
        if prop.fset is not None:
            takes = returns
            params = list(inspect.signature(prop.fset, eval_str=False).parameters.values())
            given = _annotation_text(params[-1].annotation) if len(params) == 2 else None
            if given is not None:  # a setter may take more than the getter returns
                takes = given
                self._need(takes, prop.fset.__module__)
            self.lines.append(f"    @{name}.setter")
            self.lines.append(f"    def {name}(self, value: {takes}) -> None: ...")

    def build(self) -> list[str]:
        cls = self.async_cls
        doc = f"The blocking twin of {cls.__module__}.{cls.__qualname__} (mylib.make_sync)."
        if inspect.getdoc(cls):
            doc += f"\n\n{inspect.getdoc(cls)}"
        doc = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        out = [f"class {self.name}:", textwrap.indent(f'"""{doc}\n"""', "    ")]
        init = getattr(cls, "__init__")  # noqa: B009 (mypy refuses cls.__init__)
        if init is object.__init__:
            self.lines.append("    def __init__(self) -> None: ...")
        else:
            self.method("__init__", init, "None")
        found = members(cls)
        served = client_methods(cls)
        for name, (kind, member) in sorted(found.items()):
            if name in served:
                # The twin inherits mylib.Client's method: its signature, as written.
                fn = served[name]
                returns = _annotation_text(inspect.signature(fn, eval_str=False).return_annotation)
                self.method(name, fn, returns or "Any")
            else:
                self._member(name, kind, member)
        if "close" not in found:
            self.lines.append("    def close(self) -> None: ...")
        if "closed" not in found:
            self.lines.append("    @property")
            self.lines.append("    def closed(self) -> bool: ...")
        self._context_manager(found)
        return out + self.lines

    def _member(self, name: str, kind: str, member: Any) -> None:
        if name in ("__aenter__", "__aexit__"):
            return
        if kind == _Kind.PROPERTY:
            self.prop(name, member)
            return
        annotation = _annotation_text(inspect.signature(member, eval_str=False).return_annotation)
        if name == "__aiter__":
            self.method("__iter__", member, _iterator_of(annotation, self.own_names))
            return
        if kind == _Kind.ASYNC_CM:
            annotation = _annotation_text(
                inspect.signature(inspect.unwrap(member), eval_str=False).return_annotation
            )
        self.method(name, member, _translate(annotation, kind, self.own_names))

    def _context_manager(self, members: dict[str, tuple[str, Any]]) -> None:
        enter = "Self"
        if "__aenter__" in members:
            fn = members["__aenter__"][1]
            text = _annotation_text(inspect.signature(fn, eval_str=False).return_annotation)
            enter = _translate(text, _Kind.COROUTINE, self.own_names) if text else "Any"
            self._need(enter, fn.__module__)
        self.lines.append(f"    def __enter__(self) -> {enter}: ...")
        self.lines.append(
            "    def __exit__(self, exc_type: type[BaseException] | None, "
            "exc: BaseException | None, tb: TracebackType | None) -> bool: ..."
        )


def generate_stub(module_name: str) -> str:
    """The text of the ``.pyi`` stub for the make_sync classes in ``module_name``.

    Example: ``Path("yourpkg/_sync.pyi").write_text(generate_stub("yourpkg._sync"))``

    Raises:
        ImportError: the module cannot be imported.
        StubError: the module has no make_sync classes, has other public names the stub
            would hide, or an annotation uses a name whose origin cannot be found.
    """
    module = importlib.import_module(module_name)
    classes: list[_ClassStub] = []
    others: list[str] = []
    for name, value in vars(module).items():
        wrapped = wrapped_class(value) if isinstance(value, type) else None
        if wrapped is not None:
            classes.append(_ClassStub(name, wrapped))
        elif (
            not name.startswith("_")
            and name in getattr(module, "__all__", [name])
            and getattr(value, "__module__", None) == module_name
        ):
            others.append(name)
    if not classes:
        raise StubError(f"{module_name} has no classes made by mylib.make_sync")
    if others:
        raise StubError(
            f"{module_name} also defines {', '.join(others)}, which its stub would hide from "
            "type checkers; keep only the make_sync calls in it"
        )
    bodies = [stub.build() for stub in classes]
    imports = _import_lines(classes)
    all_names = ", ".join(f'"{stub.name}"' for stub in classes)
    lines = [
        f"# Generated by `python -m mylib.stubgen {module_name}`; do not edit by hand.",
        "# ruff: noqa",
        "",
        *imports,
        "",
        f"__all__ = [{all_names}]",
    ]
    for body in bodies:
        lines += ["", "", *body]
    return "\n".join(lines) + "\n"


def _import_lines(classes: list[_ClassStub]) -> list[str]:
    plain: set[str] = set()
    froms: dict[str, set[str]] = {}
    for module, name in _HEADER.values():
        froms.setdefault(module, set()).add(name)
    bound: dict[str, str] = {}
    for stub in classes:
        for name, module in sorted(stub.needs.items()):
            line = _resolve(name, module)
            if line is None:
                continue
            if bound.setdefault(name, line) != line:
                raise StubError(f"{name!r} means two things: {bound[name]!r} and {line!r}")
            if line.startswith("import "):
                plain.add(line)
            else:
                _, source, _, what = line.split(" ", 3)
                froms.setdefault(source, set()).add(what)
    return sorted(plain) + [
        f"from {source} import {', '.join(sorted(names))}"
        for source, names in sorted(froms.items())
    ]


def _stub_path(module_name: str) -> Path:
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise StubError(f"cannot find the file of {module_name}")
    return Path(spec.origin).with_suffix(".pyi")


def main(argv: list[str] | None = None) -> int:
    """``python -m mylib.stubgen MODULE [--check | --stdout]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m mylib.stubgen",
        description="Write the .pyi stub of a module holding mylib.make_sync classes.",
    )
    parser.add_argument("module", help="dotted module name, e.g. yourpkg._sync")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="fail if the stub is stale")
    group.add_argument("--stdout", action="store_true", help="print instead of writing")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(Path.cwd()))
    try:
        text = generate_stub(options.module)
        path = _stub_path(options.module)
    except (ImportError, StubError) as exc:
        print(f"mylib.stubgen: {exc}", file=sys.stderr)
        return 2
    if options.stdout:
        sys.stdout.write(text)
    elif options.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"mylib.stubgen: {path} is stale; run without --check", file=sys.stderr)
            return 1
    else:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
