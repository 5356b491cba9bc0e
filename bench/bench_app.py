"""Visitor Board benchmark: DynamoDB reads per board view, and GET / throughput against a raw boto3 loop.

Runs everything on loopback: a moto server (tests/localcloud/motoserver.py), gunicorn serving the app,
and client threads. Prints figures; asserts nothing. Takes about a minute.

  python bench/bench_app.py [--seconds 8] [--threads 4] [--workers 2]

Figures:
  1. items read per board view (ScannedCount of the app's Query calls, plus ConsumedCapacity) with 100 and
     with 10,000 messages in the board partition; ratio 10k/100, goal <= 1.05.
  2. GET / requests per second under gunicorn vs. a raw boto3 loop issuing the same Query against the same
     moto, same number of client threads; ratio app/raw, goal >= 0.6.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REGION = "eu-north-1"
SECRET = "bench-secret-key-0123456789abcdef"
sys.path.insert(0, str(REPO / "tests" / "localcloud"))
from loopback import FAKE_AWS_ENV, free_port, start_moto, wait_for_port  # noqa: E402

for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SSM"):
    os.environ.pop(_name, None)
os.environ.update(FAKE_AWS_ENV)  # before boto3 is imported: never real credentials, never real AWS

import boto3  # noqa: E402
from visitor_board import StartupOptions, create_app  # noqa: E402
from visitor_board.config import Config  # noqa: E402
from visitor_board.identity import Identity  # noqa: E402
from visitor_board.requestlog import configure_logging  # noqa: E402
from visitor_board.schema import SCHEMA  # noqa: E402
from visitor_board.table import create_table  # noqa: E402

PAGE_SIZE = 20


def fill(client, table: str, count: int) -> None:
    """Messages shaped exactly like the app's, written with BatchWriteItem from a few threads."""
    base_ms = int(time.time() * 1000) - count * 1000

    def item(i: int) -> dict:
        return {
            "PutRequest": {
                "Item": {
                    SCHEMA.partition_key: {"S": "board"},
                    SCHEMA.sort_key: {"S": f"{base_ms + i * 1000:013d}#{uuid.uuid4().hex}"},
                    "name": {"S": f"visitor {i}"},
                    "message": {"S": f"message number {i}, with a little text to make it realistic."},
                    "created_at": {"N": str(base_ms + i * 1000)},
                }
            }
        }

    batches = [[item(i) for i in range(start, min(start + 25, count))] for start in range(0, count, 25)]

    def write(batch: list[dict]) -> None:
        pending = {table: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, batches))


def items_per_view(endpoint: str, table: str) -> tuple[float, float, float]:
    """Average ScannedCount, Count and ConsumedCapacity of the app's Query calls over first+older views."""
    config = Config(table_name=table, dynamodb_endpoint_url=endpoint, secret_key=SECRET, page_size=PAGE_SIZE)
    app = create_app(config, StartupOptions(identity=Identity("bench", "local", False)))
    store = app.extensions["visitor_board.store"]
    scanned: list[int] = []
    counted: list[int] = []
    capacity: list[float] = []

    def ask_for_capacity(params: dict, **_: object) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"  # instrumentation only; the app does not ask

    def record(parsed: dict, **_: object) -> None:
        scanned.append(parsed["ScannedCount"])
        counted.append(parsed["Count"])
        capacity.append(parsed.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))

    store._client.meta.events.register("provide-client-params.dynamodb.Query", ask_for_capacity)
    store._client.meta.events.register("after-call.dynamodb.Query", record)
    client = app.test_client()
    href = "/"
    views = 0
    for _ in range(3):  # the newest page and two older ones
        response = client.get(href)
        assert response.status_code == 200, response.status_code
        views += 1
        text = response.get_data(as_text=True)
        start = text.find('href="/?before=')
        if start < 0:
            break
        href = text[start + 6 : text.index('"', start + 6)].replace("&amp;", "&")
    return sum(scanned) / views, sum(counted) / views, sum(capacity) / views


def hammer(worker, threads: int, seconds: float) -> float:
    """Run `worker(stop)` on `threads` threads for `seconds`; each returns its request count."""
    stop = threading.Event()
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(worker, stop) for _ in range(threads)]
        started = time.perf_counter()
        time.sleep(seconds)
        stop.set()
        total = sum(f.result() for f in futures)
        elapsed = time.perf_counter() - started
    return total / elapsed


def app_worker(port: int):
    def run(stop: threading.Event) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        done = 0
        while not stop.is_set():
            conn.request("GET", "/")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200 or b"served by" not in body:
                raise RuntimeError(f"GET / answered {response.status}")
            done += 1
        conn.close()
        return done

    return run


def raw_worker(client, table: str):
    def run(stop: threading.Event) -> int:
        done = 0
        while not stop.is_set():
            client.query(
                TableName=table,
                KeyConditionExpression="#pk = :board",
                ExpressionAttributeNames={"#pk": SCHEMA.partition_key},
                ExpressionAttributeValues={":board": {"S": "board"}},
                ScanIndexForward=False,
                Limit=PAGE_SIZE + 1,
            )
            done += 1
        return done

    return run


def throughput(endpoint: str, table: str, args: argparse.Namespace, log_dir: Path) -> tuple[float, float]:
    port = free_port()
    env = dict(os.environ, SECRET_KEY=SECRET, TABLE_NAME=table, AWS_ENDPOINT_URL_DYNAMODB=endpoint)
    env["PAGE_SIZE"] = str(PAGE_SIZE)
    log = (log_dir / f"gunicorn-{table}.log").open("wb")
    script = Path(sys.executable).with_name("visitor-board")
    server = subprocess.Popen(
        [str(script), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    app_rates: list[float] = []
    raw_rates: list[float] = []
    try:
        wait_for_port(port)
        # Warm up both sides, then alternate short runs so a change in machine load hits both alike.
        hammer(app_worker(port), args.threads, 1.0)
        hammer(raw_worker(client, table), args.threads, 1.0)
        for _ in range(args.rounds):
            app_rates.append(hammer(app_worker(port), args.threads, args.seconds / args.rounds))
            raw_rates.append(hammer(raw_worker(client, table), args.threads, args.seconds / args.rounds))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    app_rps = sum(app_rates) / len(app_rates)
    raw_rps = sum(raw_rates) / len(raw_rates)
    return app_rps, raw_rps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring time per throughput run")
    parser.add_argument("--rounds", type=int, default=4, help="alternating app/raw runs sharing --seconds")
    parser.add_argument("--threads", type=int, default=4, help="client threads, the same for app and raw")
    parser.add_argument(
        "--also-large",
        action="store_true",
        help="also measure throughput on the 10,000-message table (moto's Query reads the whole partition, "
        "so that run measures moto, and the app's 2 s read timeout starts retrying under load)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (gthread, 4 threads each)")
    args = parser.parse_args()
    configure_logging()
    logging.getLogger("visitor_board").setLevel(logging.WARNING)  # no per-request lines in the figures

    log_dir = Path(tempfile.mkdtemp(prefix="vb-bench-"))
    port = free_port()
    moto_log = (log_dir / "moto.log").open("wb")
    started = time.perf_counter()
    moto = start_moto(port, log=moto_log, env=dict(os.environ))
    try:
        endpoint = f"http://127.0.0.1:{port}"
        dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
        sizes = {"small": 100, "large": 10_000}
        for name, count in sizes.items():
            create_table(dynamodb, f"bench-{name}")
            fill(dynamodb, f"bench-{name}", count)
        print(
            f"setup: moto on {endpoint}, tables of 100 and 10,000 messages "
            f"({time.perf_counter() - started:.0f} s)"
        )

        print("\n1. DynamoDB items read per board view (average over the newest page and two older pages)")
        reads = {}
        for name, count in sizes.items():
            scanned, counted, capacity = items_per_view(endpoint, f"bench-{name}")
            reads[name] = scanned
            print(
                f"   {count:>6,} messages: ScannedCount {scanned:5.1f}  Count {counted:5.1f}  "
                f"ConsumedCapacity {capacity:4.1f} (moto's figure)"
            )
        ratio = reads["large"] / reads["small"]
        verdict = "OK" if ratio <= 1.05 else "MISSED"
        print(f"   ratio 10,000 / 100 = {ratio:.3f}  (goal <= 1.05: {verdict})")

        print(f"\n2. GET / throughput, {args.threads} client threads, {args.seconds:.0f} s per run, loopback")
        print(f"   app: gunicorn {args.workers} gthread workers x 4 threads; raw: one shared boto3 client")
        for name, count in sizes.items():
            if name == "large" and not args.also_large:
                continue
            app_rps, raw_rps = throughput(endpoint, f"bench-{name}", args, log_dir)
            verdict = "OK" if app_rps / raw_rps >= 0.6 else "MISSED"
            print(
                f"   {count:>6,} messages: app {app_rps:7.1f} req/s  raw Query {raw_rps:7.1f} req/s  "
                f"app/raw = {app_rps / raw_rps:.2f}  (goal >= 0.6: {verdict})"
            )
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        moto_log.close()
    print(f"\ntotal {time.perf_counter() - started:.0f} s (logs in {log_dir})")


if __name__ == "__main__":
    main()
