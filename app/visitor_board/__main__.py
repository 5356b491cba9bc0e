"""`python -m visitor_board ...`: the console script through a given interpreter (what the unit runs)."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
