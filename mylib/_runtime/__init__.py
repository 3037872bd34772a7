"""The runtime: a daemon thread running an event loop, and blocking calls onto it.

It knows nothing of HTTP and imports nothing else from mylib (a layering test checks it):

* :mod:`.bridge` -- :class:`Bridge`, the loop thread, its calls, its exit sequence;
* :mod:`.executor` -- :class:`DaemonExecutor`, daemon worker threads that still take work
  while the interpreter shuts down, and :class:`LazyPool`, one made on first use;
* :mod:`.syncify` -- the generic async-to-blocking wrapping behind ``make_sync``.

What is process-wide (the one bridge instance, atexit, fork) is owned by ``mylib/_io.py``.
"""

from .bridge import Bridge, BridgeState
from .executor import DaemonExecutor, LazyPool

__all__ = ["Bridge", "BridgeState", "DaemonExecutor", "LazyPool"]
