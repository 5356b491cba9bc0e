"""`visitor-board dev`: moto on loopback as DynamoDB, the table, and the app, in one process."""

from __future__ import annotations

import dataclasses
import logging
import os

from . import aws
from .app import StartupOptions, create_app
from .config import Config
from .table import create_table

log = logging.getLogger(__name__)


def run_dev(config: Config, host: str = "127.0.0.1") -> int:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("visitor-board: dev mode needs moto: pip install 'visitor-board[dev]' (or moto[server])")
        return 1

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    moto_host, moto_port = moto.get_host_and_port()
    endpoint = f"http://{moto_host}:{moto_port}"
    # Every AWS client in this process talks to the embedded moto, never to an account.
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    if not os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    config = dataclasses.replace(config, dynamodb_endpoint_url=endpoint, secret_key_parameter=None)
    try:
        create_table(aws.dynamodb_client(aws.make_session(config), config), config.table_name)
        app = create_app(config, StartupOptions(dev=True))
        log.info("moto (DynamoDB stand-in) on %s; board on http://%s:%d/", endpoint, host, config.port)
        app.run(host=host, port=config.port, threaded=True, use_reloader=False)
    finally:
        moto.stop()
    return 0
