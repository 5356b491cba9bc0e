"""Run moto's server as the local AWS stand-in, with the gaps that break real clients filled in.

moto 5 leaves `TableId` out of DescribeTable, and community.aws.dynamodb_table fails on it after creating
a table. Real DynamoDB always returns it, so the stand-in adds a stable one. Fixes for moto's gaps live
here, in the test harness, never in the roles or the app.

Usage: python tests/localcloud/motoserver.py [-H 127.0.0.1] [-p 5000]
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

from moto.dynamodb.models.table import Table
from moto.server import main as moto_main

_original_describe = Table.describe


def _describe_with_table_id(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
    result = _original_describe(self, base_key)
    # Derived from the ARN so it stays the same across calls, as the real TableId does.
    result[base_key].setdefault("TableId", str(uuid.uuid5(uuid.NAMESPACE_URL, self.table_arn)))
    return result


def main(argv: list[str] | None = None) -> None:
    Table.describe = _describe_with_table_id  # type: ignore[method-assign]
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
