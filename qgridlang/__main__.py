"""``python -m qgridlang``: the ``qglc`` command line."""

from __future__ import annotations

import sys

from qgridlang.cli import main

if __name__ == "__main__":
    sys.exit(main())
