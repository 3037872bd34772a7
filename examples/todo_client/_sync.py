"""The blocking twin of :class:`TodoClient`, made by mylib.make_sync.

Type checkers read ``_sync.pyi`` instead of this module; regenerate it after changing
``TodoClient``: ``python -m mylib.stubgen todo_client._sync`` (CI checks it with ``--check``).
"""

from __future__ import annotations

import mylib

from ._async import TodoClient

__all__ = ["SyncTodoClient"]

SyncTodoClient = mylib.make_sync(TodoClient)
