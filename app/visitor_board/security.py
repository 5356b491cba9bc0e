"""Response headers that keep the board safe to put on the internet."""

from __future__ import annotations

from flask import Flask, Response, request

# Everything is same-origin and there is no script at all; forms may only post back to us.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class UnsupportedFormType(Exception):
    """A POST whose body is not a browser form."""


def init_security(app: Flask) -> None:
    @app.before_request
    def require_form_body() -> None:
        # Only for requests that routed to a handler: a POST to a GET-only URL stays a 405.
        routed = request.routing_exception is None
        if request.method == "POST" and routed and request.mimetype not in _FORM_TYPES:
            raise UnsupportedFormType(request.mimetype or "none")

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if response.mimetype == "text/html":
            # Pages carry a per-visitor CSRF token and change with every post: never store them.
            headers["Cache-Control"] = "no-store"
        return response
