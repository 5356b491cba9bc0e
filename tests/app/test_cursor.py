"""Cursors: every sort key the store can write round-trips, and the store writes no other kind."""

from __future__ import annotations

import pytest
from board_helpers import SECRET, parse_board
from hypothesis import given
from hypothesis import strategies as st
from visitor_board.cursor import CursorCodec, InvalidCursor
from visitor_board.store import CLIENT_ID_RE, MAX_EPOCH_MS, SORT_KEY_RE, MessageStore, message_sort_key

CODEC = CursorCodec(SECRET)
client_ids = st.from_regex(CLIENT_ID_RE, fullmatch=True)


@given(st.integers(min_value=0, max_value=MAX_EPOCH_MS), client_ids)
def test_every_sort_key_the_store_writes_round_trips(epoch_ms: int, client_id: str) -> None:
    key = message_sort_key(epoch_ms, client_id)
    assert SORT_KEY_RE.fullmatch(key)
    assert CODEC.decode(CODEC.encode(key)) == key


@given(st.text(min_size=1, max_size=256).filter(lambda s: len(s.encode("utf-8", "surrogatepass")) <= 1024))
def test_any_storable_sort_key_round_trips(key: str) -> None:
    """Even a key an older release wrote (say with a trailing newline) never yields a refused cursor."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(ValueError):
            CODEC.encode(key)
        return
    assert CODEC.decode(CODEC.encode(key)) == key


@given(st.text().filter(lambda s: not CLIENT_ID_RE.fullmatch(s)))
def test_the_store_refuses_to_build_a_key_from_a_bad_client_id(client_id: str) -> None:
    with pytest.raises(ValueError):
        message_sort_key(0, client_id)


def test_cursor_from_another_board_is_refused() -> None:
    token = CursorCodec("another-secret-key-0123456789").encode("0000000000000#" + "a" * 32)
    with pytest.raises(InvalidCursor):
        CODEC.decode(token)


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "\u0660"])
def test_store_never_writes_a_malformed_client_id(make_app, suffix: str) -> None:
    app = make_app(page_size=1)
    store: MessageStore = app.extensions["visitor_board.store"]
    with pytest.raises(ValueError):
        store.post("ab" * 16 + suffix, "Eve", "hostile")
    assert store.page().messages == []


def test_older_link_works_for_a_key_an_older_release_wrote(make_app, table_name: str, moto) -> None:
    """A message stored with a trailing newline in its key (the issue's fault) no longer breaks history."""
    from board_helpers import dynamodb_client

    app = make_app(page_size=1)
    client = dynamodb_client(moto.url)
    for key in ("1700000000000#" + "a" * 32 + "\n", "1600000000000#" + "b" * 32):
        client.put_item(
            TableName=table_name,
            Item={"pk": {"S": "board"}, "sk": {"S": key}, "name": {"S": "Old"}, "message": {"S": key[:4]}},
        )
    browser = app.test_client()
    href = parse_board(browser.get("/").text).older_href
    assert href
    older = browser.get(href)
    assert older.status_code == 200
    assert parse_board(older.text).texts == ["1600"]
