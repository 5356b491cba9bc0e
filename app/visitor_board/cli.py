"""The `visitor-board` command: create-table, serve (gunicorn) and dev (everything on one machine)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from . import aws
from .config import Config, ConfigError, load_config
from .secret import SecretError
from .table import create_table
from .version import release_version

log = logging.getLogger("visitor_board.cli")
EXIT_CONFIG_ERROR = 2
EXIT_RUNTIME_ERROR = 1

# Dev mode must never reach a real AWS account, whatever the developer's shell holds.
_DEV_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}


def _fail(lines: Sequence[str], code: int) -> int:
    for line in lines:
        print(f"visitor-board: {line}", file=sys.stderr, flush=True)
    return code


def cmd_create_table(config: Config, args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError

    client = aws.dynamodb_client(aws.make_session(config), config)
    try:
        created = create_table(client, config.table_name, wait_seconds=args.wait)
    except (BotoCoreError, ClientError, WaiterError) as exc:
        return _fail([f"could not create table {config.table_name!r}: {exc}"], EXIT_RUNTIME_ERROR)
    print(f"table {config.table_name} {'created' if created else 'already exists'} and ACTIVE")
    return 0


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from .gunicorn_app import run_gunicorn
    from .secret import resolve_secret

    # Fail here, once, with one line, rather than in every worker: the workers read it again themselves.
    session = aws.make_session(config)
    resolve_secret(config, lambda: aws.ssm_client(session))
    bind = args.bind or f"0.0.0.0:{config.port}"
    return run_gunicorn(bind=bind, workers=args.workers, threads=args.threads)


def cmd_dev(config: Config, args: argparse.Namespace) -> int:
    from .dev import run_dev

    return run_dev(config, host=args.host)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visitor-board",
        description="Visitor Board: configuration comes from the environment (see the README).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {release_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-table", help="create the DynamoDB table (idempotent, waits ACTIVE)")
    create.add_argument("--wait", type=int, default=120, help="seconds to wait for ACTIVE (default 120)")
    create.set_defaults(handler=cmd_create_table, needs_secret=False)

    serve = commands.add_parser("serve", help="serve the app with gunicorn on PORT")
    serve.add_argument("--bind", help="address:port to listen on (default 0.0.0.0:$PORT)")
    serve.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    serve.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    serve.set_defaults(handler=cmd_serve, needs_secret=True)

    dev = commands.add_parser(
        "dev", help="run moto on loopback as DynamoDB, create the table and serve the app on PORT"
    )
    dev.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    dev.set_defaults(handler=cmd_dev, needs_secret=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    if args.command == "dev":
        os.environ.update(_DEV_ENVIRONMENT)
        # dev never reads a secret parameter (there is no account to read it from)
        os.environ.pop("SECRET_KEY_PARAMETER", None)
    try:
        config = load_config(require_secret=args.needs_secret)
    except ConfigError as exc:
        return _fail(exc.problems, EXIT_CONFIG_ERROR)
    try:
        return int(args.handler(config, args))
    except ConfigError as exc:
        return _fail(exc.problems, EXIT_CONFIG_ERROR)
    except SecretError as exc:
        return _fail([str(exc)], EXIT_CONFIG_ERROR)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
