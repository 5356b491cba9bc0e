"""Friendly error pages in the board's style, with the request id so a report can be traced in the logs."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .cursor import InvalidCursor
from .requestlog import current_request_id
from .security import UnsupportedFormType
from .store import DataTierUnavailable
from .views import RETRY_AFTER_SECONDS, form_after_csrf_failure

log = logging.getLogger(__name__)

_PAGES: dict[int, tuple[str, str]] = {
    400: ("That request did not make sense", "Something in the request was not what the board expected."),
    404: ("Page not found", "There is nothing at this address. The board itself is on the front page."),
    405: ("Not allowed here", "This address does not accept that kind of request."),
    413: ("That was too much", "The message you sent was larger than the board accepts."),
    415: ("Unsupported form", "The board only accepts messages sent with its own form."),
    500: (
        "Something went wrong",
        "The board hit an unexpected problem. It has been logged; please try again.",
    ),
    503: (
        "The board is resting",
        "The board cannot reach its message store right now. Please try again in a few seconds.",
    ),
}


def _page(status: int, detail: str | None = None) -> tuple[str, int]:
    title, text = _PAGES.get(status, ("Something went wrong", "Please try again."))
    html = render_template(
        "error.html", status=status, title=title, text=detail or text, request_id=current_request_id()
    )
    return html, status


def init_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[str, int]:
        if request.endpoint == "board.post":
            # An expired or unverifiable form still holds what the visitor typed: give it back to them.
            return form_after_csrf_failure(expired="expired" in (error.description or ""))
        return _page(
            400,
            "Your form had expired or did not come from this board. Please go back, reload the page "
            "and send your message again.",
        )

    @app.errorhandler(InvalidCursor)
    def bad_cursor(error: InvalidCursor) -> tuple[str, int]:
        return _page(400, "That link to older messages is not valid. Start again from the newest messages.")

    @app.errorhandler(UnsupportedFormType)
    def unsupported_type(error: UnsupportedFormType) -> tuple[str, int]:
        return _page(415)

    @app.errorhandler(DataTierUnavailable)
    def data_tier_down(error: DataTierUnavailable) -> tuple[str, int, dict[str, str]]:
        log.warning("request_id=%s data tier unavailable: %s", current_request_id(), error)
        html, status = _page(503)
        return html, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int, dict[str, str]]:
        status = error.code or 500
        html, _ = _page(status)
        headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
        return html, status, headers

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int]:
        log.exception("request_id=%s unhandled error", current_request_id())
        return _page(InternalServerError.code)
