"""Client and AsyncClient mirror each other, method for method (STYLE.md, "Types once")."""

from __future__ import annotations

import inspect

import mylib

#: Names that differ on purpose: the close pair.
_PAIRS = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}


def _public(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") or name in _PAIRS or name in _PAIRS.values()
    }


def test_every_async_method_has_a_blocking_twin_with_the_same_parameters() -> None:
    sync_members = _public(mylib.Client)
    missing, differ = [], []
    for name, member in _public(mylib.AsyncClient).items():
        twin_name = _PAIRS.get(name, name)
        twin = sync_members.get(twin_name)
        if twin is None:
            missing.append(name)
            continue
        if callable(member) and not isinstance(member, type):
            ours = list(inspect.signature(member).parameters)
            theirs = list(inspect.signature(twin).parameters)  # type: ignore[arg-type]
            if ours != theirs:
                differ.append(f"{name}: {ours} != {theirs}")
    assert not missing, f"Client lacks: {missing}"
    assert not differ, "signatures differ:\n" + "\n".join(differ)


def test_every_blocking_method_has_an_async_twin() -> None:
    async_members = _public(mylib.AsyncClient)
    back = {v: k for k, v in _PAIRS.items()}
    missing = [
        name for name in _public(mylib.Client) if back.get(name, name) not in async_members
    ]
    assert not missing, f"AsyncClient lacks: {missing}"
