"""Routes: the board (read and post), liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .forms import PostForm, new_client_id
from .store import CLIENT_ID_RE, DataTierUnavailable, EditedResubmission, MessageStore, Page

bp = Blueprint("board", __name__)
RETRY_AFTER_SECONDS = 5
log = logging.getLogger(__name__)

EDITED_RESUBMISSION = (
    "This form had already been sent with a different text, so this version was not posted. "
    "Your text is kept below in a fresh form: send it to post it as a new message."
)
FORM_EXPIRED = "The form had expired, so nothing was posted. Your text is kept below: please send it again."
STORE_UNAVAILABLE = (
    "The board cannot store messages right now, so nothing was posted. "
    "Your text is kept below: please send it again in a few seconds."
)
FORM_NOT_VERIFIED = (
    "This form did not come from this board or is from an old page, so nothing was posted. "
    "Your text is kept below: please send it again."
)


def _store() -> MessageStore:
    store: MessageStore = current_app.extensions["visitor_board.store"]
    return store


def _render_board(form: PostForm, cursor: str | None, status: int = 200) -> tuple[str, int]:
    page = _store().page(cursor)  # InvalidCursor / DataTierUnavailable become 400 / 503 pages
    return render_template("board.html", form=form, page=page, is_first_page=cursor is None), status


def render_form_again(form: PostForm, status: int, problem: str | None = None) -> tuple[str, int]:
    """The board's first page with the visitor's input kept in the form, `problem` above it.

    When DynamoDB is down the form is shown without the messages, rather than losing what was typed."""
    page: Page | None
    try:
        page = _store().page(None)
    except DataTierUnavailable as exc:
        log.warning("messages not shown under a returned form: %s", exc)
        page = None
    html = render_template("board.html", form=form, page=page, is_first_page=True, problem=problem)
    return html, status


def form_after_csrf_failure(expired: bool) -> tuple[str, int]:
    """The form of a post whose CSRF check failed, with name and text kept and a fresh token; never stored."""
    form = PostForm()  # carries the input back; its token field renders a fresh token, it is not validated
    if not CLIENT_ID_RE.fullmatch(form.client_id.data or ""):
        form.client_id.data = new_client_id()
    return render_form_again(form, 400, FORM_EXPIRED if expired else FORM_NOT_VERIFIED)


@bp.get("/")
def index() -> tuple[str, int]:
    form = PostForm()
    form.client_id.data = new_client_id()
    return _render_board(form, request.args.get("before") or None)


@bp.post("/")
def post() -> Response | tuple[str, int]:
    form = PostForm()
    if form.validate_on_submit():
        try:
            _store().post(form.client_id.data, form.name.data, form.message.data)
        except EditedResubmission:
            form.client_id.data = new_client_id()
            return render_form_again(form, 409, EDITED_RESUBMISSION)
        except DataTierUnavailable as exc:
            log.warning("post not stored, data tier unavailable: %s", exc)
            html, status = render_form_again(form, 503, STORE_UNAVAILABLE)
            return Response(html, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}, mimetype="text/html")
        flash("Thank you, your message is on the board.")
        # Post/Redirect/Get: reloading the result page must not resubmit.
        return redirect(url_for("board.index"), code=303)
    if not form.client_id.data or form.client_id.errors:
        form.client_id.data = new_client_id()
    # Errors are shown next to the fields with the visitor's input kept, above the newest messages.
    return render_form_again(form, 400)


@bp.get("/healthz")
def healthz() -> Response:
    response = jsonify(status="ok", version=current_app.config["RELEASE_VERSION"])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    ready = _store().is_ready()
    response = jsonify(status="ready" if ready else "unavailable")
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ready else 503
