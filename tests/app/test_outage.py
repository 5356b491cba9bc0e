"""When DynamoDB hangs or goes away, pages answer 503 quickly; when it is back, the same app recovers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from board_helpers import MotoProcess, dynamodb_client, form_fields, parse_board, post_message
from visitor_board import aws
from visitor_board.table import create_table


@pytest.fixture
def own_moto(tmp_path: Path) -> Iterator[MotoProcess]:
    """A moto of this test's own, so stopping it cannot disturb other tests."""
    server = MotoProcess(tmp_path / "moto.log")
    server.start()
    yield server
    server.stop()


def test_client_timeouts_and_retries_are_explicit() -> None:
    config = aws.client_config()
    assert config.connect_timeout <= 2
    assert config.read_timeout <= 2
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert aws.client_config(aws.PROBE_ATTEMPTS).retries["total_max_attempts"] == 1


def test_hung_data_tier_gives_503_then_recovers(make_app, own_moto: MotoProcess, record_property) -> None:
    client = make_app(endpoint=own_moto.url).test_client()
    assert post_message(client, "Ada", "before the outage").status_code == 303

    own_moto.pause()  # accepts connections (the kernel does) but never answers: the read timeout path
    try:
        started = time.monotonic()
        response = client.get("/")
        record_property("hung_503_seconds", round(time.monotonic() - started, 2))
        assert response.status_code == 503
        assert "The board is resting" in response.text
        assert response.headers["Retry-After"] == "5"
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200  # the process itself is fine
    finally:
        own_moto.resume()

    response = client.get("/")
    assert response.status_code == 200
    assert parse_board(response.text).texts == ["before the outage"]
    assert client.get("/readyz").status_code == 200


def test_stopped_data_tier_gives_503_then_recovers(make_app, own_moto: MotoProcess, table_name: str) -> None:
    client = make_app(endpoint=own_moto.url).test_client()
    form = form_fields(client)

    own_moto.stop()  # connection refused
    response = client.get("/")
    assert response.status_code == 503
    assert client.get("/readyz").status_code == 503
    # Posting while down also gets the friendly page, not a 500.
    form.update(name="Ada", message="while down")
    assert client.post("/", data=form).status_code == 503

    own_moto.start()  # same port; moto keeps no data, so the table is created again as a deploy would
    create_table(dynamodb_client(own_moto.url), table_name)
    assert client.get("/readyz").status_code == 200
    assert post_message(client, "Ada", "after the outage").status_code == 303
    assert parse_board(client.get("/").text).texts == ["after the outage"]
