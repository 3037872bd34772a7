"""Request bodies: json (pluggable dumps), form data, raw content, files, streamed uploads."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


def test_json_body_and_pluggable_dumps_and_loads(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    c = make_client(
        verify=verify_for(any_server),
        json_dumps=lambda v: json.dumps({"wrapped": v}),
        json_loads=lambda b, **kw: {"decoded": json.loads(b)["json"]},
    )
    r = c.post(any_server.url + "/anything", json={"a": 1})
    assert r.json() == {"decoded": {"wrapped": {"a": 1}}}


def test_form_data_and_raw_content(make_client: ClientFactory, server: TestServer) -> None:
    c = make_client()
    echo = c.post(server.url + "/anything", data={"k": "v", "m": ["1", "2"]}).json()
    assert echo["form"] == {"k": "v", "m": ["1", "2"]}
    assert c.put(server.url + "/anything", content="héllo").json()["body"] == "héllo"


def test_files_are_sent_as_multipart(make_client: ClientFactory, any_server: TestServer) -> None:
    c = make_client(verify=verify_for(any_server))
    echo = c.post(
        any_server.url + "/anything",
        data={"note": "x"},
        files={"a": ("a.txt", b"AAA", "text/plain"), "b": io.BytesIO(b"BBB")},
    ).json()
    assert echo["files"] == {"a": "AAA", "b": "BBB"} and echo["form"] == {"note": "x"}


def test_streamed_upload_from_a_file_object_and_an_iterator(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    c = make_client(verify=verify_for(any_server))
    payload = bytes(range(256)) * 300

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(payload), 7000):
            yield payload[i : i + 7000]

    for body in (io.BytesIO(payload), chunks()):
        echo = c.post(any_server.url + "/anything", content=body).json()
        assert echo["body"] == payload.decode("utf-8", "replace")
