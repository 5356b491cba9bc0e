"""Paging back through history: no gaps, no repeats, no empty pages, even while new messages arrive."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from board_helpers import parse_board
from flask import Flask
from flask.testing import FlaskClient
from visitor_board.store import MessageStore

PAGE = 5


def add_messages(store: MessageStore, count: int, start: int = 0) -> list[str]:
    """Post directly through the store (the form path is covered elsewhere); return ids newest first."""
    ids = []
    for i in range(start, start + count):
        client_id = f"{i:032x}"
        store.post(client_id, f"visitor {i}", f"message {i}")
        ids.append(client_id)
    return ids[::-1]


def walk(client: FlaskClient, between_pages: Any = None) -> list[list[str]]:
    pages = []
    href: str | None = "/"
    while href:
        response = client.get(href)
        assert response.status_code == 200
        page = parse_board(response.text)
        pages.append(page.message_ids)
        href = page.older_href
        if between_pages:
            between_pages()
    return pages


@pytest.fixture
def paged_app(make_app) -> Flask:
    return make_app(page_size=PAGE)


@pytest.fixture
def store(paged_app: Flask) -> MessageStore:
    return paged_app.extensions["visitor_board.store"]


@pytest.mark.parametrize(("count", "sizes"), [(23, [5, 5, 5, 5, 3]), (20, [5, 5, 5, 5]), (5, [5]), (1, [1])])
def test_pages_cover_history_exactly(
    paged_app: Flask, store: MessageStore, count: int, sizes: list[int]
) -> None:
    expected = add_messages(store, count)
    pages = walk(paged_app.test_client())
    assert [len(p) for p in pages] == sizes  # in particular: never an empty trailing page
    assert list(itertools.chain.from_iterable(pages)) == expected


def test_no_gaps_or_repeats_while_messages_arrive(paged_app: Flask, store: MessageStore) -> None:
    original = add_messages(store, 17)
    counter = itertools.count(100)

    def someone_posts() -> None:
        add_messages(store, 2, start=next(counter) * 10)

    pages = walk(paged_app.test_client(), between_pages=someone_posts)
    seen = list(itertools.chain.from_iterable(pages))
    assert seen == original  # older pages are unaffected by newer posts
    assert len(seen) == len(set(seen))
    # The new messages are all there, on the first page, for whoever starts again.
    fresh = parse_board(paged_app.test_client().get("/").text).message_ids
    assert fresh[0] not in original


def test_each_view_reads_at_most_a_page_plus_one(paged_app: Flask, store: MessageStore) -> None:
    add_messages(store, 40)
    scanned: list[int] = []
    store._client.meta.events.register(
        "after-call.dynamodb.Query", lambda parsed, **_: scanned.append(parsed["ScannedCount"])
    )
    walk(paged_app.test_client())
    assert scanned and max(scanned) <= PAGE + 1
    assert len(scanned) == 8  # one Query per page


def test_page_one_older_link_only_when_more_exist(paged_app: Flask, store: MessageStore) -> None:
    add_messages(store, PAGE)
    assert parse_board(paged_app.test_client().get("/").text).older_href is None
    add_messages(store, 1, start=999)
    assert parse_board(paged_app.test_client().get("/").text).older_href is not None


def test_older_page_hides_the_form_and_links_to_newest(paged_app: Flask, store: MessageStore) -> None:
    add_messages(store, PAGE + 2)
    client = paged_app.test_client()
    href = parse_board(client.get("/").text).older_href
    html = client.get(href).text
    assert "Older messages" in html
    assert 'href="/" rel="first"' in html
    assert "<form" not in html


def test_markers_never_show_on_the_board(paged_app: Flask, store: MessageStore) -> None:
    add_messages(store, 3)
    html = paged_app.test_client().get("/").text
    assert "post#" not in html
    assert len(parse_board(html).message_ids) == 3
