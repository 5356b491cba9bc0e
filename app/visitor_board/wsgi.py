"""WSGI entry point for gunicorn: `gunicorn -c python:visitor_board.gunicorn_conf visitor_board.wsgi:app`.

Exit codes tell gunicorn's master what to do with a worker that cannot start:
- 3 (gunicorn's "worker failed to boot") for a setting that is wrong: the master halts with the line.
- 1 for a dependency that did not answer in time (SSM): the master starts another worker while the
  others keep serving, so the service heals once SSM answers. `visitor-board serve` reads the secret once
  before the workers start, so its workers never depend on SSM.
"""

from __future__ import annotations

import sys

from .app import create_app
from .config import ConfigError
from .secret import SecretError

# gunicorn halts the whole server when a worker exits with this code, instead of respawning it forever.
_WORKER_BOOT_ERROR = 3
_WORKER_RETRY_LATER = 1

try:
    app = create_app()
except ConfigError as exc:
    for problem in exc.problems:
        print(f"visitor-board: {problem}", file=sys.stderr, flush=True)
    sys.exit(_WORKER_BOOT_ERROR)
except SecretError as exc:
    print(f"visitor-board: {exc}", file=sys.stderr, flush=True)
    sys.exit(_WORKER_RETRY_LATER if exc.transient else _WORKER_BOOT_ERROR)
