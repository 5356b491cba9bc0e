"""Endpoints: AWS_ENDPOINT_URL (the local fleet) for every client; DYNAMODB_ENDPOINT_URL for DynamoDB only."""

from __future__ import annotations

import pytest
from board_helpers import SECRET, dynamodb_client, free_port, parse_board, post_message
from visitor_board import StartupOptions, aws, create_app
from visitor_board.config import Config
from visitor_board.table import create_table


def test_aws_endpoint_url_is_honoured_for_dynamodb_and_ssm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    config = Config()
    session = aws.make_session(config)
    assert aws.dynamodb_client(session, config).meta.endpoint_url == "http://127.0.0.1:5999"
    assert aws.ssm_client(session).meta.endpoint_url == "http://127.0.0.1:5999"


def test_dynamodb_endpoint_url_overrides_dynamodb_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    config = Config(dynamodb_endpoint_url="http://127.0.0.1:8000")
    session = aws.make_session(config)
    assert aws.dynamodb_client(session, config).meta.endpoint_url == "http://127.0.0.1:8000"
    assert aws.ssm_client(session).meta.endpoint_url == "http://127.0.0.1:5999"


def test_region_comes_from_config() -> None:
    config = Config(region="us-west-2", dynamodb_endpoint_url="http://127.0.0.1:8000")
    client = aws.dynamodb_client(aws.make_session(config), config)
    assert client.meta.region_name == "us-west-2"


def test_app_works_through_aws_endpoint_url_alone(moto, table_name: str, monkeypatch) -> None:
    """The local fleet's way: no DYNAMODB_ENDPOINT_URL, every AWS client pointed at moto."""
    create_table(dynamodb_client(moto.url), table_name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    app = create_app(Config(table_name=table_name, secret_key=SECRET), StartupOptions())
    client = app.test_client()
    assert post_message(client, "Fleet", "via AWS_ENDPOINT_URL").status_code == 303
    assert parse_board(client.get("/").text).texts == ["via AWS_ENDPOINT_URL"]


def test_dynamodb_endpoint_wins_over_a_dead_general_endpoint(moto, table_name: str, monkeypatch) -> None:
    create_table(dynamodb_client(moto.url), table_name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    config = Config(table_name=table_name, dynamodb_endpoint_url=moto.url, secret_key=SECRET)
    assert create_app(config).test_client().get("/readyz").status_code == 200
