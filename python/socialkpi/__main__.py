"""``python -m socialkpi``: the same command line as ``socialkpi`` (see :mod:`socialkpi.cli`)."""

import sys

from socialkpi.cli import main

sys.exit(main())
