"""boto3 clients with explicit timeouts, so a slow or absent data tier costs seconds, never minutes."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from .config import Config

# Short timeouts and few attempts: a page is better answered with a quick 503 than held open while
# botocore's defaults (60 s read timeout, legacy retries) wait on a data tier that is not there.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 2.0
REQUEST_ATTEMPTS = 2
PROBE_ATTEMPTS = 1


def client_config(attempts: int = REQUEST_ATTEMPTS) -> BotoConfig:
    return BotoConfig(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": attempts},
        # One pool per process is shared by gunicorn's threads; size it above the thread count.
        max_pool_connections=32,
    )


def make_session(config: Config) -> boto3.session.Session:
    return boto3.session.Session(region_name=config.region)


def dynamodb_client(session: boto3.session.Session, config: Config, attempts: int = REQUEST_ATTEMPTS) -> Any:
    # DYNAMODB_ENDPOINT_URL overrides DynamoDB only; when it is unset boto3 applies AWS_ENDPOINT_URL /
    # AWS_ENDPOINT_URL_DYNAMODB itself, which is how the local fleet points every service at moto.
    return session.client(
        "dynamodb", endpoint_url=config.dynamodb_endpoint_url, config=client_config(attempts)
    )


def ssm_client(session: boto3.session.Session) -> Any:
    return session.client("ssm", config=client_config())
