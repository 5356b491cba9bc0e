"""The `visitor-board` command: create-table, serve (gunicorn) and dev (everything on one machine)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from . import aws
from .config import Config, ConfigError, load_config
from .logfmt import one_line_handler
from .secret import SecretError
from .table import create_table
from .version import release_version

log = logging.getLogger("visitor_board.cli")
EXIT_CONFIG_ERROR = 2
EXIT_RUNTIME_ERROR = 1
# How long `serve` keeps retrying an SSM that does not answer before it gives up (systemd's default start
# timeout is 90 s; Restart=on-failure then tries again).
DEFAULT_SECRET_WAIT_SECONDS = 60.0
GUNICORN_CONFIG = "python:visitor_board.gunicorn_conf"

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


def gunicorn_command(gunicorn_args: Sequence[str]) -> list[str]:
    """What `serve` runs: gunicorn in this interpreter with the board's settings and `gunicorn_args`."""
    app = "visitor_board.wsgi:app"
    return [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, *gunicorn_args, app]


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from .secret import resolve_secret

    # The secret is read here, once, before any worker exists: workers (re)started later never depend on
    # SSM, so an SSM outage cannot stop a worker from booting. It reaches gunicorn through the environment
    # of the exec'd process, readable only by the service's own user and root.
    env = dict(os.environ)
    if config.secret_key_parameter:
        session = aws.make_session(config)
        secret = resolve_secret(config, lambda: aws.ssm_client(session), wait_seconds=args.secret_wait)
        env.pop("SECRET_KEY_PARAMETER", None)
        env["SECRET_KEY"] = secret
    gunicorn_args = list(args.gunicorn_args)
    if args.bind:
        gunicorn_args[:0] = ["--bind", args.bind]
    elif not os.environ.get("LISTEN_FDS"):
        gunicorn_args[:0] = ["--bind", f"0.0.0.0:{config.port}"]
    command = gunicorn_command(gunicorn_args)
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: under systemd the main PID stays the same (Type=notify, LISTEN_PID), and the
    # gunicorn master starts with none of the app's modules loaded, so a HUP loads a new release whole.
    os.execve(command[0], command, env)  # noqa: S606 - a fixed command line of this interpreter
    return EXIT_RUNTIME_ERROR  # not reached


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

    serve = commands.add_parser(
        "serve",
        help="serve the app with gunicorn (settings: visitor_board.gunicorn_conf)",
        description="Serve the app with gunicorn and the settings in visitor_board.gunicorn_conf. Any "
        "other argument is a gunicorn flag (e.g. --workers 5 --threads 4 --timeout 30). Under systemd "
        "socket activation (LISTEN_FDS) gunicorn serves the inherited socket and binds nothing.",
    )
    serve.add_argument("--bind", help="address:port to listen on (default 0.0.0.0:$PORT, none under systemd)")
    serve.add_argument(
        "--secret-wait",
        type=float,
        default=DEFAULT_SECRET_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"retry an unreachable SSM this long (default {DEFAULT_SECRET_WAIT_SECONDS:.0f})",
    )
    serve.set_defaults(handler=cmd_serve, needs_secret=True)

    dev = commands.add_parser(
        "dev", help="run moto on loopback as DynamoDB, create the table and serve the app on PORT"
    )
    dev.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    dev.set_defaults(handler=cmd_dev, needs_secret=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "serve":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.gunicorn_args = extra
    logging.basicConfig(level=logging.INFO, handlers=[one_line_handler(sys.stderr)])
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
        # A dependency that did not answer is worth another start (systemd's Restart=on-failure); a wrong
        # setting is not.
        return _fail([str(exc)], EXIT_RUNTIME_ERROR if exc.transient else EXIT_CONFIG_ERROR)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
