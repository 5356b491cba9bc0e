"""Routes: the board (read and post), liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .forms import PostForm, new_client_id
from .store import MessageStore

bp = Blueprint("board", __name__)


def _store() -> MessageStore:
    store: MessageStore = current_app.extensions["visitor_board.store"]
    return store


def _render_board(form: PostForm, cursor: str | None, status: int = 200) -> tuple[str, int]:
    page = _store().page(cursor)  # InvalidCursor / DataTierUnavailable become 400 / 503 pages
    return render_template("board.html", form=form, page=page, is_first_page=cursor is None), status


@bp.get("/")
def index() -> tuple[str, int]:
    form = PostForm()
    form.client_id.data = new_client_id()
    return _render_board(form, request.args.get("before") or None)


@bp.post("/")
def post() -> Response | tuple[str, int]:
    form = PostForm()
    if form.validate_on_submit():
        _store().post(form.client_id.data, form.name.data, form.message.data)
        flash("Thank you, your message is on the board.")
        # Post/Redirect/Get: reloading the result page must not resubmit.
        return redirect(url_for("board.index"), code=303)
    if not form.client_id.data or form.client_id.errors:
        form.client_id.data = new_client_id()
    # Errors are shown next to the fields with the visitor's input kept, above the newest messages.
    return _render_board(form, cursor=None, status=400)


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
