"""The table's key schema, read from schema.json: the one place the attribute names and the default table
name are defined (the Ansible roles read the same file)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class KeySchema:
    partition_key: str
    sort_key: str
    ttl_attribute: str
    default_table_name: str


def load_schema() -> KeySchema:
    data = json.loads(resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8"))
    return KeySchema(
        partition_key=data["partition_key"],
        sort_key=data["sort_key"],
        ttl_attribute=data["ttl_attribute"],
        default_table_name=data["default_table_name"],
    )


SCHEMA = load_schema()
