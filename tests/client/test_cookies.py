"""Cookies: a persistent jar per client that works for 127.0.0.1, and per-request cookies."""

from __future__ import annotations

from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


def test_jar_keeps_cookies_from_an_ip_host(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    c = make_client(verify=verify_for(any_server))
    r = c.get(any_server.url + "/cookies/set?flavour=oat")
    assert r.history[0].cookies == {"flavour": "oat"}
    assert c.get(any_server.url + "/cookies").json() == {"cookies": {"flavour": "oat"}}


def test_request_cookies_win_over_client_cookies_and_are_not_kept(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client(cookies={"a": "client", "b": "kept"})
    once = c.get(server.url + "/cookies", cookies={"a": "request"}).json()
    assert once == {"cookies": {"a": "request", "b": "kept"}}
    assert c.get(server.url + "/cookies").json() == {"cookies": {"a": "client", "b": "kept"}}
