"""``python -m mylib.stubgen``: write the ``.pyi`` stub of a module of ``make_sync`` twins.

The tool lives in ``mylib/_tools/stubgen.py``; this module only keeps its command name.
"""

from __future__ import annotations

import sys

from ._tools.stubgen import StubError, generate_stub, main

__all__ = ["StubError", "generate_stub", "main"]

if __name__ == "__main__":
    sys.exit(main())
