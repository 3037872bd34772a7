"""mylib's pytest plugin (registered through the ``pytest11`` entry point).

* the fixture ``mylib_mock``: a started :class:`mylib.testing.Mocker` for the test;
* the marker ``@pytest.mark.mylib_no_network`` and the option ``--mylib-no-network``: mylib's
  own engine refuses to send in the test, raising :class:`mylib.testing.NoMockAddress`;
  whatever answers without the network still does (``mylib_mock``, a ``Mocker``, a
  cassette replaying, a client made with a ``MockTransport``).

Importing this module imports nothing of mylib's engine until a test uses one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import Mocker

__all__ = ["mylib_mock"]

_MARKER = "mylib_no_network"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--mylib-no-network``: no test reaches the network through mylib."""
    parser.getgroup("mylib").addoption(
        "--mylib-no-network",
        action="store_true",
        default=False,
        help="make every mylib request that no mylib_mock registration answers fail with "
        "mylib.testing.NoMockAddress",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}: mylib requests in this test fail with NoMockAddress instead of "
        "reaching the network",
    )


@pytest.fixture
def mylib_mock() -> Iterator[Mocker]:
    """A started :class:`mylib.testing.Mocker`: register answers on it, as with
    requests_mock's ``requests_mock`` fixture."""
    from .testing import Mocker

    with Mocker() as mocker:
        yield mocker


@pytest.fixture(autouse=True)
def _mylib_no_network(request: pytest.FixtureRequest) -> Iterator[None]:
    wanted = request.config.getoption("--mylib-no-network") or (
        request.node.get_closest_marker(_MARKER) is not None
    )
    if not wanted:
        yield
        return
    from ._transports.mock import INSTALLED

    before, INSTALLED.block_network = INSTALLED.block_network, True
    try:
        yield
    finally:
        INSTALLED.block_network = before
