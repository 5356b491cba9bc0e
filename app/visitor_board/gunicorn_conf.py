"""gunicorn's settings for the board, in one place: `visitor-board serve` runs gunicorn with this module,
and so does anyone running `gunicorn -c python:visitor_board.gunicorn_conf visitor_board.wsgi:app`.

Command-line flags override these (the host role passes --workers/--threads/--timeout/--graceful-timeout).
Under systemd socket activation (LISTEN_FDS set) gunicorn serves the inherited socket and no address is
bound here. This module imports nothing of the app at load time: gunicorn's master reads it, and code the
master has imported would be what new workers run after a HUP, instead of the new release.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger

wsgi_app = "visitor_board.wsgi:app"
worker_class = "gthread"
workers = 2
threads = 4
# Seconds a worker may spend on one request (or on booting) before the master replaces it.
timeout = 30
# Seconds old workers get to finish their requests on reload or stop.
graceful_timeout = 20
keepalive = 5
proc_name = "visitor-board"
# stdout/stderr, i.e. the journal under systemd.
accesslog = "-"
errorlog = "-"
# gunicorn 25+ opens a control socket by default; systemd (or the shell) is the control interface here.
control_socket_disable = True
logger_class = "visitor_board.gunicorn_conf.OneLineAccessLogger"
if not os.environ.get("LISTEN_FDS"):
    bind = [f"0.0.0.0:{os.environ.get('PORT', '3000')}"]


class OneLineAccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger whose access-log values (request line, headers) have controls escaped, as the
    app's own log does (visitor_board.logfmt), so a client cannot forge a record there either."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        # Imported here, in the worker, so a HUP picks up the new release's version of it.
        from visitor_board.logfmt import escape_controls

        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {k: escape_controls(v) if isinstance(v, str) else v for k, v in atoms.items()}
