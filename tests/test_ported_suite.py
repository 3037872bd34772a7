"""A requests_mock test module, ported to mylib by changing only imports and names.

``tests/ported/requests_mock_module.py.txt`` is written for requests and requests_mock
(fixture, context manager, class decorator, callbacks, history, matchers, exceptions). It
runs as it is under requests, then once more with the imports, the fixture name and the
exception names swapped for mylib's, and every test must pass both times.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests._subproc import REPO_ROOT

_MODULE = Path(__file__).parent / "ported" / "requests_mock_module.py.txt"

#: Everything the port changes: imports, the fixture's name, exception names.
PORT = (
    ("import requests_mock\n\nrequests_mock_module = requests_mock\n",
     "from mylib import testing as requests_mock_module\n"),
    ("requests_mock_module.exceptions.NoMockAddress", "requests_mock_module.NoMockAddress"),
    (re.compile(r"\brequests_mock\b"), "mylib_mock"),
    ("import requests\n", "import mylib as requests\n"),
    ("requests.exceptions.HTTPError", "requests.HTTPStatusError"),
    ("requests.exceptions.ConnectTimeout", "requests.ConnectTimeout"),
)


def _port(source: str) -> str:
    for old, new in PORT:
        source = old.sub(new, source) if isinstance(old, re.Pattern) else source.replace(old, new)
    return source


def _run(tmp_path: Path, source: str) -> str:
    (tmp_path / "test_ported.py").write_text(source)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )
    return proc.stdout + proc.stderr


def test_the_module_passes_under_requests_mock(tmp_path: Path) -> None:
    out = _run(tmp_path, _MODULE.read_text())
    assert "15 passed" in out, out


def test_the_ported_module_passes_under_mylib(tmp_path: Path) -> None:
    source = _port(_MODULE.read_text())
    assert "requests_mock" not in source.replace("requests_mock_module", "")
    out = _run(tmp_path, source)
    assert "15 passed" in out, out
