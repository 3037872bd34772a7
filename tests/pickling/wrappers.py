"""Importable classes for the pickling tests (pickle finds classes by module and name)."""

from __future__ import annotations

from typing import Any

import mylib

__all__ = ["Api", "SyncApi"]


class Api(mylib.AsyncClient):
    """An API wrapper with an attribute of its own."""

    def __init__(self, base_url: str, token: str = "t") -> None:
        super().__init__(base_url, auth=mylib.BearerAuth(token))
        self.token = token

    async def fresh(self, tag: str) -> Any:
        """One JSON page."""
        return (await self.get("/fresh", params={"tag": tag})).raise_for_status().json()


SyncApi = mylib.make_sync(Api)


def child(blob: bytes, base_url: str) -> bytes:
    """Run in a spawned process: use what arrived, and send back what a worker would."""
    import pickle

    objs = pickle.loads(blob)
    out: dict[str, Any] = {"types": {k: type(v).__name__ for k, v in objs.items()}}
    out["client"] = objs["client"].get("/fresh?tag=child").json()
    out["cookie"] = objs["client"].cookies.get("k")
    out["headers"] = objs["client"].get("/fresh?tag=child").request.headers.get("X-Mine")
    out["async"] = mylib.run(objs["async"].get("/fresh?tag=child-async")).json()
    out["sync_api"] = (objs["sync_api"].fresh("child-api"), objs["sync_api"].token)
    out["response"] = objs["response"]
    try:
        objs["client"].get("/nothing").raise_for_status()
    except mylib.HTTPStatusError as exc:
        out["status_error"] = exc
    try:
        mylib.Client().get(base_url.rsplit(":", 1)[0] + ":1/", timeout=5)
    except mylib.ConnectError as exc:
        out["connect_error"] = exc
    return pickle.dumps(out)


def tag_pid(request: mylib.Request) -> None:
    """A request hook that says which process sent the request (it pickles: module level)."""
    import os

    request.headers["X-Pid"] = str(os.getpid())
