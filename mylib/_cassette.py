"""Cassettes: record real exchanges once, replay them with no network (vcrpy's file format).

A :class:`Cassette` sits where :class:`~mylib.testing.Mocker` does, in front of every
client's own transport, so recording sends through the client's real engine (its TLS, its
proxy) and replaying answers above it: base_url, auth, redirects (each hop is its own
interaction), retries and hooks all run as they would against the server.

The file is vcrpy's YAML cassette (``interactions: [{request, response}]``, ``version: 1``),
so a cassette vcrpy recorded for requests replays here, and one recorded here replays under
vcrpy. Bodies are stored decoded: a recorded response loses its ``Content-Encoding`` (the
engine already decompressed it), and a vcrpy cassette's gzip or deflate body is decompressed
when it is replayed.

Modes, as vcrpy's ``record_mode``:

* ``"once"``: record if the file does not exist yet, else replay only;
* ``"none"``: replay only;
* ``"new_episodes"``: replay what matches, record what does not, and add it to the file;
* ``"all"``: record everything, replacing the file.

Each recorded interaction is played once, in order; a request that finds none left to play
and may not be recorded raises :class:`~mylib.testing.NoMockAddress`, naming the cassette.
Secrets never reach the file: Authorization, Cookie and Proxy-Authorization are always left
out of recorded requests, with whatever ``filter_headers`` adds (a response's Set-Cookie is
kept unless named there, so a login replays with its session), and ``filter_query_parameters``
are removed from recorded URLs, and ignored when matching. The file is written when the
cassette is left, only if something was recorded and the block did not raise (a failed run
never replaces a good cassette with part of one). PyYAML is needed (``pip install pyyaml``)
and imported only when a cassette is used.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._decorate import run_inside
from ._models import Request, Response
from ._transports import mock
from ._transports.base import AsyncTransport

__all__ = ["MODES", "Cassette", "cassette"]

T = TypeVar("T")

MODES = ("once", "none", "new_episodes", "all")
#: Request headers never written, whatever ``filter_headers`` adds.
_ALWAYS_FILTERED = frozenset({"authorization", "cookie", "proxy-authorization"})
_MATCHERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "method": lambda r: r["method"].upper(),
    "uri": lambda r: r["uri"],
    "scheme": lambda r: URL(r["uri"]).scheme,
    "host": lambda r: URL(r["uri"]).host,
    "port": lambda r: URL(r["uri"]).port,
    "path": lambda r: URL(r["uri"]).path,
    "query": lambda r: sorted(URL(r["uri"]).query.items()),
    "body": lambda r: _as_bytes(r.get("body")),
}


def _yaml() -> Any:
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "mylib.testing.cassette needs PyYAML: pip install pyyaml"
        ) from exc
    return yaml


def _as_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, dict):  # a response body: {"string": ...}
        body = body.get("string")
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body or b"")


def _as_text_or_bytes(body: bytes) -> str | bytes:
    # Text stays readable in the file; anything else is stored as YAML !!binary.
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _decompressed(body: bytes, encoding: str) -> bytes:
    """``body`` decoded, if it is still encoded: vcrpy keeps the Content-Encoding header
    of a response whose body its HTTP library had already decoded."""
    try:
        if encoding == "gzip":
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except zlib.error:
        return body  # already decoded
    raise ValueError(f"cannot replay a body with Content-Encoding {encoding!r}")


class Cassette:
    """Record and replay mylib's HTTP exchanges in a vcrpy-format YAML file.

    Use :func:`cassette` to make one; it is a context manager and a decorator.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: str = "once",
        *,
        match_on: Sequence[str] = ("method", "uri"),
        filter_headers: Iterable[str] = (),
        filter_query_parameters: Iterable[str] = (),
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"cassette mode must be one of {', '.join(MODES)}, not {mode!r}")
        unknown = [name for name in match_on if name not in _MATCHERS]
        if unknown:
            raise ValueError(
                f"cannot match on {', '.join(unknown)}; choose from {', '.join(_MATCHERS)}"
            )
        self.path = Path(path)
        self.mode = mode
        self.match_on = tuple(match_on)
        self.filter_headers = _ALWAYS_FILTERED | {name.lower() for name in filter_headers}
        self.filter_query_parameters = frozenset(filter_query_parameters)
        self._lock = threading.Lock()
        self._interactions: list[dict[str, Any]] = []
        self._played: set[int] = set()
        self._replayed = 0
        self._recorded = False
        self._record = False
        self._transport = _CassetteTransport(self)

    def __repr__(self) -> str:
        return f"<mylib.testing.Cassette {str(self.path)!r} mode={self.mode!r}>"

    # -- what is recorded and played --------------------------------------------------------

    @property
    def interactions(self) -> list[dict[str, Any]]:
        """The interactions loaded or recorded so far (vcrpy's shape)."""
        return self._interactions

    @property
    def play_count(self) -> int:
        """How many interactions were played back from the file (not counting recording)."""
        return self._replayed

    def _uri(self, url: URL) -> str:
        if self.filter_query_parameters:
            url = url.without_query_params(*self.filter_query_parameters)
        return str(url)

    def _request_record(self, request: Request) -> dict[str, Any]:
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            if name.lower() not in self.filter_headers:
                headers.setdefault(str(name), []).append(str(value))
        content = request.content
        body = None
        if isinstance(content, (bytes, bytearray)):
            body = _as_text_or_bytes(bytes(content))
        return {"body": body, "headers": headers, "method": request.method,
                "uri": self._uri(request.url.parsed)}

    def _key(self, record: dict[str, Any]) -> tuple[Any, ...]:
        if "uri" in record and self.filter_query_parameters:
            record = {**record, "uri": self._uri(URL(record["uri"]))}
        return tuple(_MATCHERS[name](record) for name in self.match_on)

    def _find(self, request: Request) -> dict[str, Any] | None:
        wanted = self._key(self._request_record(request))
        for index, interaction in enumerate(self._interactions):
            if index not in self._played and self._key(interaction["request"]) == wanted:
                self._played.add(index)
                self._replayed += 1
                return interaction["response"]  # type: ignore[no-any-return]
        return None

    def _response_from(self, record: dict[str, Any], request: Request) -> Response:
        status = record.get("status") or {}
        headers: CIMultiDict[str] = CIMultiDict()
        encoding = None
        for name, values in (record.get("headers") or {}).items():
            for value in values if isinstance(values, list) else [values]:
                if name.lower() == "content-encoding":
                    encoding = str(value).strip().lower()
                elif name.lower() != "content-length":
                    headers.add(name, str(value))
        body = _as_bytes(record.get("body"))
        if encoding not in (None, "identity"):
            body = _decompressed(body, encoding)
        return Response(
            int(status.get("code", 200)),
            reason=str(status.get("message", "")) or None,
            headers=CIMultiDictProxy(headers),
            content=body,
            request=request,
        )

    def _remember(self, request: Request, response: Response) -> None:
        headers: dict[str, list[str]] = {}
        for name, value in response.headers.items():
            # The body is stored decoded, so the encoding and its length no longer apply.
            if name.lower() in self.filter_headers or name.lower() in (
                "content-encoding", "content-length"
            ):
                continue
            headers.setdefault(str(name), []).append(str(value))
        record = {
            "request": self._request_record(request),
            "response": {
                "body": {"string": _as_text_or_bytes(response.content)},
                "headers": headers,
                "status": {"code": response.status_code, "message": response.reason},
            },
        }
        with self._lock:
            self._interactions.append(record)
            self._played.add(len(self._interactions) - 1)
            self._recorded = True

    # -- starting and stopping ----------------------------------------------------------------

    def start(self) -> Cassette:
        """Load the file (unless recording everything) and start answering requests."""
        yaml = _yaml()
        exists = self.path.exists()
        self._interactions, self._played, self._recorded = [], set(), False
        self._replayed = 0
        if exists and self.mode != "all":
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
            self._interactions = list(data.get("interactions") or [])
        self._record = self.mode in ("all", "new_episodes") or (self.mode == "once" and not exists)
        try:
            mock.install(self._transport)
        except RuntimeError:
            raise RuntimeError(
                "another mylib.testing.Mocker or cassette is already active"
            ) from None
        return self

    def stop(self, *, save: bool = True) -> None:
        """Stop answering requests, and write the file if anything was recorded (and
        ``save``)."""
        mock.uninstall(self._transport)
        if self._recorded and save:
            yaml = _yaml()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            text = yaml.safe_dump(
                {"interactions": self._interactions, "version": 1},
                default_flow_style=False, allow_unicode=True, sort_keys=True,
            )
            self.path.write_text(text, encoding="utf-8")

    def __enter__(self) -> Cassette:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(save=exc_type is None)

    def __call__(self, func: T) -> T:
        """Use as a decorator: the test runs inside the cassette.

        Raises:
            TypeError: ``func`` is a class (give each test its own cassette) or not callable.
        """
        if isinstance(func, type) or not callable(func):
            raise TypeError(
                f"cassette() decorates a test function, not {func!r}: give each test "
                "method its own cassette file"
            )
        return run_inside(func, lambda: self)  # type: ignore[return-value]


class _CassetteTransport(mock.MockTransport):
    """Answers from the cassette, or sends through the client's own transport to record."""

    def __init__(self, owner: Cassette) -> None:
        super().__init__(self._refuse)
        self._owner = owner

    @staticmethod
    def _refuse(request: Request) -> Response:
        raise RuntimeError("a cassette answers through intercept() only")

    async def intercept(
        self, request: Request, *, stream: bool, fallback: AsyncTransport
    ) -> Response:
        owner = self._owner
        with owner._lock:
            record = owner._find(request)
        if record is not None:
            response = owner._response_from(record, request)
        elif owner._record:
            response = await fallback.send(request, stream=False)
            owner._remember(request, response)
        else:
            raise mock.NoMockAddress(
                f"no interaction left in cassette {str(owner.path)!r} for {request.method} "
                f"{owner._uri(request.url.parsed)} (mode {owner.mode!r} does not record)",
                request=request,
            )
        return mock.answer_for(response, request, stream=stream) if stream else response


def cassette(
    path: str | os.PathLike[str],
    mode: str = "once",
    *,
    match_on: Sequence[str] = ("method", "uri"),
    filter_headers: Iterable[str] = (),
    filter_query_parameters: Iterable[str] = (),
) -> Cassette:
    """Record the HTTP exchanges made inside it to ``path`` once, then replay them.

    Example::

        @mylib.testing.cassette("tests/cassettes/users.yaml", filter_query_parameters=["key"])
        def test_users():
            assert fetch_users()[0]["name"] == "Ada"   # the network only on the first run

    Args:
        path: The YAML file (vcrpy's cassette format).
        mode: ``"once"`` (default), ``"none"``, ``"new_episodes"`` or ``"all"`` (see the
            module documentation).
        match_on: What a request must share with a recorded one: any of ``method``,
            ``uri``, ``scheme``, ``host``, ``port``, ``path``, ``query``, ``body``.
        filter_headers: More headers never written, request or response (case-insensitive;
            e.g. ``["X-Api-Key", "Set-Cookie"]``). Authorization, Cookie and
            Proxy-Authorization are always left out.
        filter_query_parameters: Query parameters removed from recorded URLs (and ignored
            when matching).

    Raises:
        ValueError: an unknown mode or matcher.
        ImportError: PyYAML is not installed (when the cassette is used).
        NoMockAddress: (from a request) nothing recorded matches and the mode does not
            record.
    """
    return Cassette(
        path, mode, match_on=match_on, filter_headers=filter_headers,
        filter_query_parameters=filter_query_parameters,
    )
