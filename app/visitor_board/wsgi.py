"""WSGI entry point for gunicorn: `gunicorn visitor_board.wsgi:app`."""

from __future__ import annotations

import sys

from .app import create_app
from .config import ConfigError
from .secret import SecretError

# gunicorn halts the whole server when a worker exits with this code, instead of respawning it forever.
_WORKER_BOOT_ERROR = 3

try:
    app = create_app()
except ConfigError as exc:
    for problem in exc.problems:
        print(f"visitor-board: {problem}", file=sys.stderr, flush=True)
    sys.exit(_WORKER_BOOT_ERROR)
except SecretError as exc:
    print(f"visitor-board: {exc}", file=sys.stderr, flush=True)
    sys.exit(_WORKER_BOOT_ERROR)
