"""Create the messages table (idempotently) with the key schema from schema.json and TTL on markers."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from .schema import SCHEMA, KeySchema

log = logging.getLogger(__name__)


def create_table(client: Any, table_name: str, schema: KeySchema = SCHEMA, wait_seconds: int = 120) -> bool:
    """Create the table unless it exists, wait until ACTIVE, enable TTL. Return True if it was created."""
    created = False
    try:
        client.create_table(
            TableName=table_name,
            AttributeDefinitions=[
                {"AttributeName": schema.partition_key, "AttributeType": "S"},
                {"AttributeName": schema.sort_key, "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": schema.partition_key, "KeyType": "HASH"},
                {"AttributeName": schema.sort_key, "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        created = True
        log.info("creating table %s", table_name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    # boto3's waiter polls every 20 s by default; a new on-demand table is usually ACTIVE within seconds.
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": wait_seconds}
    )
    _enable_ttl(client, table_name, schema.ttl_attribute)
    return created


def _enable_ttl(client: Any, table_name: str, attribute: str) -> None:
    current = client.describe_time_to_live(TableName=table_name).get("TimeToLiveDescription", {})
    enabled = current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    if enabled and current.get("AttributeName") == attribute:
        return
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
    )
