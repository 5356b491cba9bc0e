"""Bad input of every kind gets a clear answer and never a stored message or a 500."""

from __future__ import annotations

import pytest
from board_helpers import form_fields, parse_board, post_message
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from visitor_board.store import MessageStore


def stored_messages(app: Flask) -> list[str]:
    store: MessageStore = app.extensions["visitor_board.store"]
    return [m.text for m in store.page().messages]


@pytest.mark.parametrize(
    ("name", "message", "error"),
    [
        ("", "hello", "Please enter your name."),
        ("   \t  ", "hello", "Please enter your name."),
        ("Ada", "", "Please write a message."),
        ("Ada", " \n\r\n  ", "Please write a message."),
        ("x" * 41, "hello", "Please keep your name to 40 characters or fewer."),
        ("Ada", "y" * 281, "Please keep your message to 280 characters or fewer."),
        ("Ada\x00", "hello", "control characters"),
        ("Ad\na", "hello", "control characters"),
        ("Ada", "bell\x07", "control characters"),
        ("Ada", "esc \x1b[31m red", "control characters"),
        ("Ada", "tab\there", "control characters"),
        ("Ada", "del\x7f", "control characters"),
        ("Ada", "c1 \x85 next line", "control characters"),
    ],
    ids=[
        "empty-name",
        "blank-name",
        "empty-message",
        "blank-message",
        "name-41",
        "message-281",
        "nul-in-name",
        "newline-in-name",
        "bell-in-message",
        "escape-in-message",
        "tab-in-message",
        "del-in-message",
        "c1-in-message",
    ],
)
def test_invalid_form_rerenders_with_input_and_error(
    app: Flask, client: FlaskClient, name: str, message: str, error: str
) -> None:
    response = post_message(client, name, message)
    assert response.status_code == 400
    page = parse_board(response.text)
    assert any(error in e for e in page.field_errors), page.field_errors
    assert "Please check the highlighted fields." in response.text
    assert 'aria-invalid="true"' in response.text
    # The visitor's input is kept so they can fix it rather than retype it.
    if name.strip() and "\x00" not in name:
        assert page.inputs["name"] == name.strip()
    assert stored_messages(app) == []


def test_input_kept_after_error(client: FlaskClient) -> None:
    response = post_message(client, "Grace", "z" * 300)
    page = parse_board(response.text)
    assert page.inputs["name"] == "Grace"
    assert page.inputs["message"] == "z" * 300


def test_limits_are_inclusive_after_trimming(app: Flask, client: FlaskClient) -> None:
    name, message = "n" * 40, "m" * 280
    assert post_message(client, f"  {name}  ", f"\n {message} \n").status_code == 303
    assert stored_messages(app) == [message]


def test_crlf_counts_as_one_character(app: Flask, client: FlaskClient) -> None:
    message = ("a" * 9 + "\r\n") * 28  # 280 characters once CRLF is one line break
    assert post_message(client, "Ada", message).status_code == 303
    assert stored_messages(app) == [message.replace("\r\n", "\n").strip()]


def test_html_and_script_are_escaped(client: FlaskClient) -> None:
    name = '<img src=x onerror="alert(1)">'
    message = "<script>alert('xss')</script> & \"quotes\""
    assert post_message(client, name, message).status_code == 303
    html = client.get("/").text
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; &amp; &#34;quotes&#34;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    page = parse_board(html)
    assert page.texts == [message]
    assert page.authors == [name]


def test_oversized_body_gets_413(app: Flask, client: FlaskClient) -> None:
    data = form_fields(client)
    data.update(name="Ada", message="x" * 20_000)
    response = client.post("/", data=data)
    assert response.status_code == 413
    assert "That was too much" in response.text
    assert stored_messages(app) == []


def test_missing_csrf_token_gets_400(app: Flask, client: FlaskClient) -> None:
    data = form_fields(client)
    del data["csrf_token"]
    data.update(name="Ada", message="hello")
    response = client.post("/", data=data)
    assert response.status_code == 400
    assert "did not come from this board" in response.text
    assert stored_messages(app) == []


def test_wrong_csrf_token_gets_400(app: Flask, client: FlaskClient) -> None:
    response = post_message(client, "Ada", "hello", csrf_token="forged-token")
    assert response.status_code == 400
    assert stored_messages(app) == []


def test_csrf_token_from_another_visitor_gets_400(app: Flask) -> None:
    other = app.test_client()
    stolen = form_fields(other)["csrf_token"]
    victim = app.test_client()
    response = post_message(victim, "Ada", "hello", csrf_token=stolen)
    assert response.status_code == 400
    assert stored_messages(app) == []


def test_post_without_session_cookie_gets_400(app: Flask) -> None:
    data = form_fields(app.test_client())  # token rendered for a session this client does not have
    data.update(name="Ada", message="hello")
    response = app.test_client().post("/", data=data)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "eyJzayI6ICIxIn0", "a" * 600, "InRhbXBlcmVkIg.AAAAAAAAAAAAAAAAAAAAAAAAAAA", "%00"],
    ids=["garbage", "unsigned-json", "too-long", "bad-signature", "nul"],
)
def test_bad_cursor_gets_400(client: FlaskClient, cursor: str) -> None:
    response = client.get("/", query_string={"before": cursor})
    assert response.status_code == 400
    assert "link to older messages is not valid" in response.text


def test_cursor_signed_with_another_secret_gets_400(client: FlaskClient) -> None:
    forged = URLSafeSerializer("some-other-secret-key!!", salt="visitor-board.cursor.v1").dumps(
        "9999999999999#" + "0" * 32
    )
    assert client.get("/", query_string={"before": forged}).status_code == 400


def test_tampered_cursor_gets_400(make_app) -> None:
    client = make_app(page_size=1).test_client()
    for i in range(3):
        post_message(client, "Ada", f"m{i}")
    href = parse_board(client.get("/").text).older_href
    assert href and href.startswith("/?before=")
    cursor = href.split("=", 1)[1]
    assert client.get(href).status_code == 200
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert client.get("/", query_string={"before": tampered}).status_code == 400


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"name": "Ada", "message": "hi"}'),
        ("text/plain", b"name=Ada&message=hi"),
        ("application/xml", b"<m/>"),
    ],
)
def test_wrong_content_type_gets_415(app: Flask, client: FlaskClient, content_type: str, body: bytes) -> None:
    client.get("/")
    response = client.post("/", data=body, content_type=content_type)
    assert response.status_code == 415
    assert "only accepts messages sent with its own form" in response.text
    assert stored_messages(app) == []


def test_multipart_form_is_accepted(app: Flask, client: FlaskClient) -> None:
    data = form_fields(client)
    data.update(name="Ada", message="via multipart")
    response = client.post("/", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    assert stored_messages(app) == ["via multipart"]


def test_duplicate_submit_creates_one_message(app: Flask, client: FlaskClient) -> None:
    data = form_fields(client)
    data.update(name="Ada", message="double click")
    first = client.post("/", data=data)
    second = client.post("/", data=data)
    third = client.post("/", data=data)
    assert [first.status_code, second.status_code, third.status_code] == [303, 303, 303]
    assert stored_messages(app) == ["double click"]


def test_duplicate_submit_across_instances_creates_one_message(make_app) -> None:
    """A retry may land on another instance: both share the table and the secret."""
    first_instance = make_app()
    second_instance = make_app(create=False)
    browser = first_instance.test_client()
    data = form_fields(browser)
    data.update(name="Ada", message="retried elsewhere")
    assert browser.post("/", data=data).status_code == 303
    retry = second_instance.test_client()
    retry.set_cookie("vb_session", browser.get_cookie("vb_session").value)
    assert retry.post("/", data=data).status_code == 303
    assert stored_messages(first_instance) == ["retried elsewhere"]


def test_retry_after_a_half_finished_post_converges(app: Flask) -> None:
    """The first attempt wrote its marker and died; the retry writes the message at the marker's key."""
    store: MessageStore = app.extensions["visitor_board.store"]
    client_id = "ab" * 16
    real_put = store._client.put_item
    calls = {"n": 0}

    def dying_put(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the message write of the first attempt
            raise RuntimeError("process died")
        return real_put(**kwargs)

    store._client.put_item = dying_put
    with pytest.raises(RuntimeError):
        store.post(client_id, "Ada", "half done")
    assert store.page().messages == []
    first_key = store.post(client_id, "Ada", "half done")
    second_key = store.post(client_id, "Ada", "half done")
    assert first_key == second_key
    assert [m.text for m in store.page().messages] == ["half done"]


@pytest.mark.parametrize("client_id", ["", "not-a-uuid", "g" * 32, "A" * 32, "0" * 31])
def test_missing_or_malformed_client_id_is_rejected(app: Flask, client: FlaskClient, client_id: str) -> None:
    response = post_message(client, "Ada", "hello", client_id=client_id)
    assert response.status_code == 400
    assert "reload the page" in response.text
    assert stored_messages(app) == []
    # A fresh id is issued so the corrected form can be sent.
    assert len(parse_board(response.text).inputs["client_id"]) == 32


def test_missing_fields_entirely(app: Flask, client: FlaskClient) -> None:
    token = form_fields(client)["csrf_token"]
    response = client.post("/", data={"csrf_token": token})
    assert response.status_code == 400
    assert stored_messages(app) == []
