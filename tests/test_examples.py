"""Every example must run against the local demo API, exit 0 and print nothing to stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._subproc import REPO_ROOT, assert_silent, run_file

# demo_api.py is the server the examples talk to, not an example; _*.py are their helpers.
EXAMPLES = sorted(
    p
    for p in (REPO_ROOT / "examples").glob("*.py")
    if p.name != "demo_api.py" and not p.name.startswith("_")
)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_silently(example: Path) -> None:
    assert_silent(run_file(example, timeout=60))
