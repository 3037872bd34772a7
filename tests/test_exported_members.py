"""``mylib.__all__`` is the public surface: sorted, complete, and every name owned by mylib."""

from __future__ import annotations

import inspect

import mylib


def _public_names() -> list[str]:
    return [
        name
        for name, value in vars(mylib).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    ]


def test_all_is_the_sorted_list_of_public_names() -> None:
    assert mylib.__all__ == sorted(mylib.__all__)
    assert set(mylib.__all__) == set(_public_names())


def test_every_exported_name_exists() -> None:
    missing = [name for name in mylib.__all__ if not hasattr(mylib, name)]
    assert missing == []


def test_exported_classes_and_functions_say_they_come_from_mylib() -> None:
    # Tracebacks and reprs must read mylib.TimeoutError, not mylib._errors.TimeoutError.
    wrong = {
        name: getattr(mylib, name).__module__
        for name in mylib.__all__
        if (inspect.isclass(getattr(mylib, name)) or inspect.isfunction(getattr(mylib, name)))
        and getattr(mylib, name).__module__ != "mylib"
    }
    assert wrong == {}


def test_every_exported_name_has_a_docstring() -> None:
    undocumented = [
        name for name in mylib.__all__ if not (inspect.getdoc(getattr(mylib, name)) or "").strip()
    ]
    assert undocumented == []


def test_public_api_contract_names_are_exported() -> None:
    # DESIGN.md's contract: code outside this repository relies on these names.
    contract = {
        "get", "post", "put", "patch", "delete", "head", "options", "request", "run",
        "Client", "AsyncClient", "Response", "Request", "Timeout", "Retry",
        "Error", "HTTPStatusError", "TransportError", "ConnectError", "ReadError",
        "TooManyRedirects", "TimeoutError", "ClientClosedError", "InvalidURL",
    }  # fmt: skip
    assert contract - set(mylib.__all__) == set()
