"""Fixtures for the app tests: one moto server per session, a fresh table and app per test."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from board_helpers import (
    REGION,
    SAFE_AWS_ENV,
    SECRET,
    TEST_IDENTITY,
    UNSAFE_AWS_VARS,
    MotoProcess,
    dynamodb_client,
)
from flask import Flask
from flask.testing import FlaskClient
from visitor_board import StartupOptions, create_app
from visitor_board.config import Config
from visitor_board.table import create_table


@pytest.fixture(scope="session", autouse=True)
def _safe_aws_environment() -> Iterator[None]:
    """No test process may find real credentials or reach real AWS or IMDS."""
    with pytest.MonkeyPatch.context() as mp:
        for name in UNSAFE_AWS_VARS:
            mp.delenv(name, raising=False)
        for name, value in SAFE_AWS_ENV.items():
            mp.setenv(name, value)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory, _safe_aws_environment: None) -> Iterator[MotoProcess]:
    server = MotoProcess(tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def table_name() -> str:
    return f"vb-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_app(moto: MotoProcess, table_name: str) -> Callable[..., Flask]:
    """Build an app on its own table; keyword arguments override Config fields."""

    def factory(create: bool = True, endpoint: str | None = None, **overrides: Any) -> Flask:
        endpoint = endpoint or moto.url
        config = dataclasses.replace(
            Config(
                table_name=table_name,
                region=REGION,
                dynamodb_endpoint_url=endpoint,
                secret_key=SECRET,
            ),
            **overrides,
        )
        if create:
            create_table(dynamodb_client(endpoint), config.table_name)
        app = create_app(config, StartupOptions(identity=TEST_IDENTITY))
        app.config["TESTING"] = True
        return app

    return factory


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parents[1] / "artifacts"
    path.mkdir(exist_ok=True)
    return path
