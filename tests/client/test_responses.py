"""Responses: text decoding, json() errors, links, cookies, elapsed, history, request, repr."""

from __future__ import annotations

import datetime

import pytest

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


def test_text_uses_the_charset_then_utf8(make_client: ClientFactory, server: TestServer) -> None:
    c = make_client()
    assert "Café" in c.get(server.url + "/text?charset=latin-1").text
    r = c.get(server.url + "/text?charset=")
    assert r.encoding is None and "Café" in r.text


def test_json_error_quotes_the_body_start(make_client: ClientFactory, server: TestServer) -> None:
    with pytest.raises(mylib.DecodingError, match="<!DOCTYPE html>"):
        make_client().get(server.url + "/html").json()


def test_response_attributes(make_client: ClientFactory, any_server: TestServer) -> None:
    r = make_client(verify=verify_for(any_server)).get(any_server.url + "/redirect/1")
    assert isinstance(r.elapsed, datetime.timedelta)
    assert r.request.method == "GET" and str(r.request.url).endswith("/get")
    assert len(r.history) == 1 and r.history[0].status_code == 302
    assert repr(r).startswith("<Response [200 OK]")
    assert r.ok and r.attempts == 1


def test_utf8_bom_is_not_part_of_the_text() -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    r = mylib.Response(
        status_code=200, reason="OK",
        headers=CIMultiDictProxy(CIMultiDict({"Content-Type": "text/plain"})),
        url="http://h/", content="\ufeffhé".encode(),
        request=mylib.Request("GET", "http://h/"), elapsed=datetime.timedelta(),
    )
    assert r.text == "hé"
