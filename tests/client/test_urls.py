"""URLs: base_url joined the httpx way; params merged, request wins."""

from __future__ import annotations

import pytest

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


@pytest.mark.parametrize(
    ("base", "url", "expected"),
    [
        ("https://h/v1", "/x", "https://h/v1/x"),
        ("https://h/v1/", "x", "https://h/v1/x"),
        ("https://h/v1", "x?a=1", "https://h/v1/x?a=1"),
        ("https://h/v1", "https://other/y", "https://other/y"),
    ],
)
def test_base_url_join(base: str, url: str, expected: str) -> None:
    assert str(mylib.Client(base).build_request("GET", url).url) == expected


def test_base_url_and_params_over_the_network(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    c = make_client(any_server.url + "/anything", params={"a": "1", "b": "c"},
                    verify=verify_for(any_server))
    echo = c.get("/deep", params={"b": "r", "n": [1, 2]}).json()
    assert echo["path"] == "/anything/deep"
    assert echo["args"] == {"a": "1", "b": "r", "n": ["1", "2"]}
