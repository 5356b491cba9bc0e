"""The board's routes, statuses, headers and footer, through the Flask test client against moto."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from board_helpers import TEST_IDENTITY, parse_board, post_message
from flask import Flask
from flask.testing import FlaskClient
from visitor_board.security import CONTENT_SECURITY_POLICY
from visitor_board.version import release_version


def test_empty_board_renders_form_and_footer(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = parse_board(response.text)
    assert page.message_ids == []
    assert "No messages yet" in response.text
    assert {"csrf_token", "client_id", "name"} <= set(page.inputs)
    assert page.served_by == f"{TEST_IDENTITY.instance_id} ({TEST_IDENTITY.availability_zone})"
    assert page.release == release_version() == "1.0.0"
    assert page.older_href is None


def test_post_redirects_and_message_appears(client: FlaskClient) -> None:
    response = post_message(client, "Ada", "Hello from the test suite")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    board = client.get("/")
    page = parse_board(board.text)
    assert page.authors == ["Ada"]
    assert page.texts == ["Hello from the test suite"]
    assert "your message is on the board" in board.text
    # The thank-you notice is shown once, not on every later view.
    assert "your message is on the board" not in client.get("/").text


def test_newest_message_first(client: FlaskClient) -> None:
    for i in range(3):
        assert post_message(client, f"visitor {i}", f"message {i}").status_code == 303
    page = parse_board(client.get("/").text)
    assert page.texts == ["message 2", "message 1", "message 0"]


def test_unicode_is_kept(client: FlaskClient) -> None:
    name, text = "Zoë 山田 🦆", "שלום — مرحبا — こんにちは\nsecond line 👋"
    assert post_message(client, name, text).status_code == 303
    page = parse_board(client.get("/").text)
    assert page.authors == [name]
    assert page.texts == [text]


def test_security_headers_on_pages(client: FlaskClient) -> None:
    for response in (client.get("/"), client.get("/nope"), client.get("/healthz")):
        headers = response.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none' covers scripts
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script_or_style(client: FlaskClient) -> None:
    html = client.get("/").text.lower()
    assert "<script" not in html
    assert "<style" not in html
    assert " style=" not in html
    assert 'name="viewport"' in html


def test_session_cookie_flags(client: FlaskClient) -> None:
    cookie = client.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_static_stylesheet(client: FlaskClient) -> None:
    html = client.get("/").text
    assert "/static/style.css?v=1.0.0" in html
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/static/favicon.svg").status_code == 200


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "version": "1.0.0"}


def test_readyz_when_table_exists(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready"}


def test_readyz_and_board_when_table_missing(make_app) -> None:
    client = make_app(create=False).test_client()
    assert client.get("/readyz").status_code == 503
    response = client.get("/")
    assert response.status_code == 503
    assert "The board is resting" in response.text
    assert response.headers["Retry-After"] == "5"


def test_healthz_does_not_touch_the_data_tier(make_app) -> None:
    client = make_app(create=False).test_client()
    assert client.get("/healthz").status_code == 200


def test_not_found_page(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "served by" in response.text
    assert response.headers["X-Request-Id"] in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/"), ("DELETE", "/"), ("PATCH", "/"), ("POST", "/healthz"), ("POST", "/readyz")],
)
def test_method_not_allowed_page(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method, data={"x": "y"})
    assert response.status_code == 405
    assert "Not allowed here" in response.text
    assert "GET" in response.headers["Allow"]


def test_head_request(client: FlaskClient) -> None:
    response = client.head("/")
    assert response.status_code == 200
    assert response.data == b""


def test_internal_error_page(app: Flask) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("kaboom")

    app.config["TESTING"] = False  # let the error handler answer instead of re-raising
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "kaboom" not in response.text  # no internals leak to visitors


def test_request_id_is_generated_and_logged(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="visitor_board.request"):
        response = client.get("/healthz")
    request_id = response.headers["X-Request-Id"]
    assert len(request_id) == 32
    lines = [r.getMessage() for r in caplog.records if r.name == "visitor_board.request"]
    assert len(lines) == 1
    assert f"request_id={request_id}" in lines[0]
    assert "method=GET path=/healthz status=200" in lines[0]


def test_request_id_from_proxy_is_kept_only_if_tame(client: FlaskClient) -> None:
    good = client.get("/healthz", headers={"X-Request-Id": "edge-1234abcd"})
    assert good.headers["X-Request-Id"] == "edge-1234abcd"
    bad = client.get("/healthz", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert "<" not in bad.headers["X-Request-Id"]
    assert len(bad.headers["X-Request-Id"]) == 32


def test_one_log_line_per_request_even_on_errors(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="visitor_board.request"):
        client.get("/missing")
        client.delete("/")
    lines = [r.getMessage() for r in caplog.records if r.name == "visitor_board.request"]
    assert [line.split(" status=")[1].split()[0] for line in lines] == ["404", "405"]


def test_only_query_getitem_putitem_describetable_in_request_paths(app: Flask) -> None:
    """No Scan anywhere: record every DynamoDB operation the app makes while serving."""
    store = app.extensions["visitor_board.store"]
    operations: list[str] = []
    for client in (store._client, store._probe_client):
        client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
        )
    test_client = app.test_client()
    post_message(test_client, "Ada", "one")
    post_message(test_client, "Ada", "two")
    test_client.get("/")
    test_client.get("/readyz")
    assert set(operations) <= {"Query", "GetItem", "PutItem", "DescribeTable"}
    assert "Scan" not in operations


@pytest.mark.parametrize(
    ("setting", "proto", "secure"),
    [
        (True, "http", True),
        (False, "https", False),
        # auto: Secure exactly when the visitor's request came over https (nginx's X-Forwarded-Proto,
        # trusted for one hop); a host still serving http keeps a session a browser will send back.
        ("auto", "https", True),
        ("auto", "http", False),
    ],
)
def test_session_cookie_secure_setting(
    make_app: Callable[..., Flask], setting: bool | str, proto: str, secure: bool
) -> None:
    app = make_app(session_cookie_secure=setting, trusted_proxy_hops=1)
    cookie = app.test_client().get("/", headers={"X-Forwarded-Proto": proto}).headers["Set-Cookie"]
    assert ("; Secure" in cookie) is secure, cookie
    assert "HttpOnly" in cookie


def test_auto_secure_cookie_ignores_a_scheme_the_visitor_claims(make_app: Callable[..., Flask]) -> None:
    # Without a trusted proxy, X-Forwarded-Proto is the visitor's own claim: the request is plain http.
    app = make_app(session_cookie_secure="auto", trusted_proxy_hops=0)
    cookie = app.test_client().get("/", headers={"X-Forwarded-Proto": "https"}).headers["Set-Cookie"]
    assert "; Secure" not in cookie
