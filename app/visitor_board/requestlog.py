"""One log line per request, tied to a request id that is also returned in X-Request-Id."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request

log = logging.getLogger("visitor_board.request")
REQUEST_ID_HEADER = "X-Request-Id"
# Accept an id from a proxy in front of us so its logs and ours line up, but only a tame one.
_INCOMING_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def configure_logging() -> None:
    package_logger = logging.getLogger("visitor_board")
    if package_logger.level == logging.NOTSET:
        package_logger.setLevel(logging.INFO)
    if not package_logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        package_logger.addHandler(handler)


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
            "request_id=%s method=%s path=%s status=%d duration_ms=%.1f remote=%s",
            request_id,
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            request.remote_addr or "-",
        )
        return response
