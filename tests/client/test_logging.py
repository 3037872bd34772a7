"""Logging on "mylib" at DEBUG: method, URL, status, elapsed; never secrets or bodies."""

from __future__ import annotations

import logging

import pytest

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


def test_debug_log_has_method_url_status_and_elapsed_but_no_secrets(
    make_client: ClientFactory, any_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mylib")
    url = any_server.url.replace("://", "://alice:hunter2@") + "/anything?api_key=SEKRIT&page=2"
    c = make_client(
        verify=verify_for(any_server),
        headers={"X-Api-Key": "HEADERSECRET"},
        cookies={"sid": "COOKIESECRET"},
    )
    c.post(url, json={"password": "BODYSECRET"})
    c.get(any_server.url + "/bearer", auth=mylib.BearerAuth("TOKENSECRET"))
    text = "\n".join(record.getMessage() for record in caplog.records if record.name == "mylib")
    assert "HTTP Request: POST" in text and '"200 OK" in' in text and "page=2" in text
    assert " s" in text  # elapsed
    for secret in ("hunter2", "SEKRIT", "HEADERSECRET", "COOKIESECRET", "BODYSECRET",
                   "TOKENSECRET", "alice"):
        assert secret not in text


def test_retries_are_logged(
    make_client: ClientFactory, server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mylib")
    make_client(retries=mylib.Retry(1, backoff_factor=0)).get(server.url + "/status/503")
    assert any("Retrying GET" in r.getMessage() for r in caplog.records)
    assert any("(attempt 2)" in r.getMessage() for r in caplog.records)


def test_nothing_is_logged_above_debug(
    make_client: ClientFactory, server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mylib")
    make_client().get(server.url + "/get")
    assert not [r for r in caplog.records if r.name == "mylib"]


def test_no_repr_shows_a_credential() -> None:
    # Found in review: the client's config had the default dataclass repr, which printed
    # static Authorization headers, cookies and the proxy's password.
    c = mylib.Client(
        "http://user:SECRET@api.example/v1",
        headers={"Authorization": "Bearer SECRET"},
        cookies={"sid": "SECRET"},
        proxy="http://p:SECRET@proxy.example:3128",
        auth=mylib.DigestAuth("u", "SECRET"),
    )
    shown = [
        repr(c),
        repr(c._engine),
        repr(c._engine._config),
        repr(c.build_request("GET", "/items")),
        repr(mylib.BasicAuth("u", "SECRET")),
        repr(mylib.BearerAuth("SECRET")),
    ]
    assert not [text for text in shown if "SECRET" in text]
