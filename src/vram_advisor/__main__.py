"""``python -m vram_advisor``: the same entry point as the ``vram-advisor`` console script."""

import sys

from vram_advisor.cli import main

sys.exit(main())
