"""moto's server as the local cloud's AWS, with the gaps that break real clients filled in.

moto 5 leaves `TableId` out of DescribeTable, and community.aws.dynamodb_table fails on it after creating
a table. Real DynamoDB always returns it, so this adds a stable one. Fixes for moto's gaps live here, in
the local cloud, never in the roles or the app.

Usage: python -m localcloud.moto_server [-H 127.0.0.1] [-p 5000]   (moto_server's own options)
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import IO, Any

from .awsenv import fake_aws_env
from .ports import wait_for_port

# A catalogue of Debian 12 AMIs (owner and names as Debian publishes them), loaded with MOTO_AMIS_PATH so
# an AMI lookup by Debian's owner and name pattern works as on AWS.
AMIS_PATH = Path(__file__).with_name("amis.json")


def command(host: str, port: int) -> list[str]:
    """The argv that runs this module's server on host:port."""
    return [sys.executable, "-m", "localcloud.moto_server", "-H", host, "-p", str(port)]


def start_moto(
    port: int,
    log: IO[bytes] | int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """A moto server on 127.0.0.1:port as a child of this process, returned once it listens. The caller
    terminates it. Raises RuntimeError/TimeoutError when it does not come up."""
    process = subprocess.Popen(
        command("127.0.0.1", port),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env if env is not None else fake_aws_env(),
    )
    try:
        wait_for_port(port, process=process)
    except Exception:
        process.kill()
        raise
    return process


def _patch_describe_table() -> None:
    from moto.dynamodb.models.table import Table

    original = Table.describe

    def describe_with_table_id(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
        result = original(self, base_key)
        # Derived from the ARN so it stays the same across calls, as the real TableId does.
        result[base_key].setdefault("TableId", str(uuid.uuid5(uuid.NAMESPACE_URL, self.table_arn)))
        return result

    Table.describe = describe_with_table_id  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    _patch_describe_table()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
