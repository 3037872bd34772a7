"""The Cookie header: built from a dict, and read back into one."""

from __future__ import annotations

from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie

from ._errors import InvalidHeader

__all__ = ["cookie_header", "parse_cookie_header"]


def cookie_header(cookies: Mapping[str, str]) -> str:
    """``{"a": "1", "b": "2"}`` -> ``"a=1; b=2"`` (values quoted where they must be)."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in cookies.items():
        try:
            jar[name] = value
        except CookieError as exc:
            raise InvalidHeader(
                f"cookies has the name {name!r}, which cannot be sent: {exc}"
            ) from exc
    return "; ".join(morsel.OutputString() for morsel in jar.values())


def parse_cookie_header(values: list[str]) -> dict[str, str]:
    """The name -> value pairs of one or more Cookie header values."""
    jar: SimpleCookie = SimpleCookie()
    for value in values:
        jar.load(value)
    return {name: morsel.value for name, morsel in jar.items()}
