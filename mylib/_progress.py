"""Optional tqdm progress bars for ``map`` and ``download``, updated from the caller's side.

Bars are updated in batches by the code that drains results (the caller's thread for the
blocking client), never by callbacks on mylib's shared I/O loop, so drawing a bar costs that
loop nothing. ``tqdm.auto`` picks a widget in Jupyter and a text bar elsewhere.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Bar", "make_bar", "require_tqdm"]

# The packages themselves, never mylib's extras: a "mylib" on the public index is somebody
# else's (from a checkout, pip install -e '.[progress]' brings them).
_INSTALL_HINT = (
    "progress=True needs tqdm, which is not installed; install it with "
    "pip install tqdm ipywidgets (ipywidgets draws the bar as a widget in Jupyter)"
)


class Bar(Protocol):
    """What mylib needs of a progress bar (tqdm's own methods)."""

    def update(self, n: float = 1) -> Any: ...

    def close(self) -> None: ...


class _NoBar:
    """Stands in when no progress is wanted, so callers need no ``if``."""

    def update(self, n: float = 1) -> None:
        return None

    def close(self) -> None:
        return None


def _check_progress(progress: object) -> bool:
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, not {type(progress).__name__}")
    return progress


def require_tqdm(progress: object) -> Any:
    """tqdm.auto's ``tqdm`` class when ``progress`` is True, else None.

    Call it before anything is sent, so a missing tqdm fails fast.

    Raises:
        TypeError: ``progress`` is not a bool.
        ImportError: ``progress`` is True and tqdm is not installed (the message says how
            to install it).
    """
    if not _check_progress(progress):
        return None
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return tqdm


def make_bar(tqdm: Any, *, total: float | None, desc: str, unit: str = "it") -> Bar:
    """A bar from the class :func:`require_tqdm` returned, or a no-op bar for None."""
    if tqdm is None:
        return _NoBar()
    extra = {"unit_scale": True, "unit_divisor": 1024} if unit == "B" else {}
    bar: Bar = tqdm(total=total, desc=desc, unit=unit, **extra)
    return bar
