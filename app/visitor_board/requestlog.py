"""One log line per request, tied to a request id that is also returned in X-Request-Id.

The line is logfmt (see logfmt.py): every value a client controls (path, query string, User-Agent) is
quoted and escaped, so it can neither add a field nor start a new record.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request

from .logfmt import field, one_line_handler

log = logging.getLogger("visitor_board.request")
REQUEST_ID_HEADER = "X-Request-Id"
# Accept an id from a proxy in front of us so its logs and ours line up, but only a tame one.
_INCOMING_ID_RE = re.compile(r"[A-Za-z0-9._-]{8,64}")


def configure_logging() -> None:
    """INFO and up from the app's loggers, one line per record, unless the host process set logging up."""
    package_logger = logging.getLogger("visitor_board")
    if package_logger.level == logging.NOTSET:
        package_logger.setLevel(logging.INFO)
    if not package_logger.handlers and not logging.getLogger().handlers:
        package_logger.addHandler(one_line_handler(sys.stderr))


def current_request_id() -> str:
    return str(g.get("request_id", "-"))


def init_request_log(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _INCOMING_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        request_id = current_request_id()
        response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        duration_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
        log.info(
            "request_id=%s method=%s path=%s status=%d duration_ms=%.1f remote=%s query=%s user_agent=%s",
            request_id,
            field(request.method),
            field(request.path),
            response.status_code,
            duration_ms,
            field(request.remote_addr),
            field(request.query_string.decode("latin-1")),
            field(request.headers.get("User-Agent")),
        )
        return response
