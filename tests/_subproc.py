"""Run Python in a child process under ``-X dev``, for exit-time and hang-prone behaviour.

A child's stderr is where "Unclosed client session", "Event loop is closed" and unraisable
exceptions surface at interpreter exit, so ``assert_silent`` insists on an empty one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["REPO_ROOT", "assert_silent", "run_file", "run_python"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def _child_env(env_extra: Mapping[str, str | None] | None) -> dict[str, str]:
    env = dict(os.environ)
    path = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["PYTHONIOENCODING"] = "utf-8"
    for key, value in (env_extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_file(
    path: str | os.PathLike[str],
    *,
    env_extra: Mapping[str, str | None] | None = None,
    timeout: float = 60,
    args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``python -X dev path *args`` from the repo root; ``None`` in ``env_extra`` unsets.

    Raises:
        subprocess.TimeoutExpired: the child ran longer than ``timeout`` (it is killed first).
    """
    return subprocess.run(
        [sys.executable, "-X", "dev", os.fspath(path), *args],
        cwd=REPO_ROOT,
        env=_child_env(env_extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def run_python(
    code: str,
    *,
    env_extra: Mapping[str, str | None] | None = None,
    timeout: float = 60,
    args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run dedented ``code`` under ``python -X dev``, from a file so tracebacks show its lines."""
    with tempfile.TemporaryDirectory(prefix="mylib-subproc-") as tmp:
        script = Path(tmp) / "snippet.py"
        script.write_text(textwrap.dedent(code), encoding="utf-8")
        return run_file(script, env_extra=env_extra, timeout=timeout, args=args)


def assert_silent(proc: subprocess.CompletedProcess[str], returncode: int = 0) -> None:
    """Assert the child exited with ``returncode`` and wrote nothing to stderr."""
    assert proc.returncode == returncode and proc.stderr == "", (
        f"exit code {proc.returncode} (wanted {returncode}), stderr should be empty\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
