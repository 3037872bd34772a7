"""Bad input: wrong types raise TypeError naming the option, impossible values ValueError,
conflicting options are refused saying which; for both clients and per request."""

from __future__ import annotations

from typing import Any

import pytest

import mylib

CLIENTS = [mylib.Client, mylib.AsyncClient]


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("base_url", 42),
        ("headers", 42),
        ("headers", {"X": 1}),
        ("params", 42),
        ("cookies", ["a"]),
        ("auth", 42),
        ("auth", ("user",)),
        ("timeout", "10"),
        ("timeout", True),
        ("retries", 1.5),
        ("retries", "3"),
        ("follow_redirects", "yes"),
        ("max_redirects", 2.0),
        ("verify", 1),
        ("cert", 42),
        ("cert", ("a", 1)),
        ("proxy", 42),
        ("trust_env", None),
        ("json_dumps", "dumps"),
        ("json_loads", 1),
        ("event_hooks", [print]),
    ],
)
def test_wrong_type_for_a_client_option_raises_type_error_naming_it(
    cls: Any, option: str, value: Any
) -> None:
    name = option.split("_")[0]  # e.g. "max_redirects" is named in full, "json_dumps" too
    with pytest.raises(TypeError, match=name):
        cls(**{option: value})


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout", -1),
        ("timeout", 0),
        ("timeout", float("nan")),
        ("retries", -1),
        ("max_redirects", -1),
    ],
)
def test_impossible_client_value_raises_value_error(cls: Any, option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=option.split("_")[0]):
        cls(**{option: value})


def test_impossible_timeout_and_retry_objects_raise_value_error() -> None:
    with pytest.raises(ValueError, match="connect"):
        mylib.Timeout(connect=-1)
    with pytest.raises(ValueError, match="retries"):
        mylib.Retry(total=-2)
    with pytest.raises(ValueError, match="max_backoff"):
        mylib.Retry(max_backoff=-1)


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("params", 42, TypeError),
        ("headers", 42, TypeError),
        ("cookies", "a=b", TypeError),
        ("auth", 42, TypeError),
        ("timeout", "1", TypeError),
        ("timeout", -1, ValueError),
        ("follow_redirects", 1, TypeError),
        ("data", 42, TypeError),
        ("content", 42, TypeError),
        ("files", [1], TypeError),
    ],
)
def test_bad_per_request_option_is_refused_naming_it(
    cls: Any, option: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=option.split("_")[0]):
        cls().build_request("GET", "http://example.com/", **{option: value})


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    "pair", [("json", "data"), ("json", "content"), ("data", "content"), ("json", "files")]
)
def test_conflicting_bodies_are_refused_saying_which(cls: Any, pair: tuple[str, str]) -> None:
    values = {"json": {"a": 1}, "data": {"b": "2"}, "content": b"x", "files": {"f": b"x"}}
    with pytest.raises(TypeError, match=f"{pair[0]}= and {pair[1]}="):
        cls().build_request("POST", "http://h/", **{k: values[k] for k in pair})


@pytest.mark.parametrize("cls", CLIENTS)
def test_unknown_option_is_refused(cls: Any) -> None:
    with pytest.raises(TypeError, match="verfy"):
        cls(verfy=False)
    with pytest.raises(TypeError, match="allow_redirects"):
        cls().build_request("GET", "http://h/", allow_redirects=False)


@pytest.mark.parametrize("url", ["ftp://h/x", "/relative", "http://", "not a url"])
def test_invalid_urls_raise_invalid_url(url: str) -> None:
    with pytest.raises(mylib.InvalidURL):
        mylib.Client().build_request("GET", url)


def test_client_and_async_client_take_the_same_options() -> None:
    import inspect

    sync = inspect.signature(mylib.Client.__init__).parameters
    async_ = inspect.signature(mylib.AsyncClient.__init__).parameters
    assert list(sync) == list(async_)
