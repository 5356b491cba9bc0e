"""The nginx front on the local fleet: what it costs, and what slow clients cost a visitor behind it.

Prints:
  1. GET / throughput on one host through nginx (http://127.0.0.1:80) vs straight to gunicorn's UNIX
     socket, from the same load generator on that host, alternating in the same run; the ratio (goal >= 0.9);
  2. a normal visitor's GET / latency (median, p99) from the controller with no idle connections open, and
     with 1,000 connections that sent part of a request and stalled (reopened when nginx times them out);
     the p99 ratio (goal <= 2).

Needs the demo fleet (`make demo`); talks to the first host's address only. Prints figures, asserts nothing.

Usage: python bench/bench_front.py [--seconds 15] [--concurrency 8] [--samples 200] [--idle 1000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import selectors
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
# The fleet's state (its SSH key) is the repository's, whatever directory the benchmark runs from.
os.environ.setdefault("VB_LOCALCLOUD_DIR", str(REPO / ".localcloud"))
from localcloud import fleet  # noqa: E402

SOCKET = "/run/visitor-board/gunicorn.sock"

# Runs ON the host (stdlib only): N threads, a new connection per GET / (as visitors make them), S seconds.
LOAD = r"""
import http.client, json, socket, sys, threading, time
kind, seconds, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])

class UnixConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(sys.argv[4])

counts = {"ok": 0, "other": 0}
lock = threading.Lock()
deadline = time.monotonic() + seconds

def client():
    while time.monotonic() < deadline:
        if kind == "unix":
            conn = UnixConnection("localhost")
        else:
            conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=10)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            key = "ok" if response.status == 200 else "other"
        except OSError:
            key = "other"
        finally:
            conn.close()
        with lock:
            counts[key] += 1

threads = [threading.Thread(target=client) for _ in range(concurrency)]
started = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
counts["seconds"] = time.monotonic() - started
print(json.dumps(counts))
"""


def first_host() -> str:
    running = [h["address"] for h in fleet.hosts() if h["state"] == "running" and h["address"]]
    if not running:
        sys.exit("bench_front: no running instance in the local fleet; run `make demo` first")
    return running[0]  # fleet.hosts() is sorted by address


def ssh(address: str, command: str, timeout: float = 300) -> str:
    proc = fleet.ssh(address, command, timeout)
    if proc.returncode != 0:
        sys.exit(f"bench_front: {command[:60]!r} on {address} -> {proc.returncode}: {proc.stderr}")
    return proc.stdout


def throughput(address: str, kind: str, seconds: float, concurrency: int) -> float:
    script = base64.b64encode(LOAD.encode()).decode()
    out = ssh(address, f"echo {script} | base64 -d | sudo python3 - {kind} {seconds} {concurrency} {SOCKET}")
    counts = json.loads(out)
    if counts["other"]:
        print(f"  ({kind}: {counts['other']} requests did not answer 200)")
    return counts["ok"] / counts["seconds"]


def bench_throughput(address: str, seconds: float, concurrency: int) -> None:
    print(f"GET / throughput on {address}, {concurrency} clients on the host, {seconds:.0f} s per run:")
    results: dict[str, list[float]] = {"nginx": [], "unix": []}
    for _ in range(2):
        for kind in ("nginx", "unix"):
            rate = throughput(address, kind, seconds, concurrency)
            results[kind].append(rate)
            label = "through nginx (127.0.0.1:80)" if kind == "nginx" else f"straight to gunicorn ({SOCKET})"
            print(f"  {label}: {rate:.1f} req/s", flush=True)
    via, direct = statistics.mean(results["nginx"]), statistics.mean(results["unix"])
    print(f"  mean: nginx {via:.1f} vs direct {direct:.1f} req/s, ratio {via / direct:.2f} (goal >= 0.9)")


class IdleConnections:
    """`count` connections to address:80 that sent part of a request; reopened when nginx closes them."""

    def __init__(self, address: str, count: int) -> None:
        self.address, self.count = address, count
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.reopened = 0
        self.thread = threading.Thread(target=self._run)

    def _open(self) -> None:
        sock = socket.create_connection((self.address, 80), timeout=5)
        sock.setblocking(False)
        sock.send(b"GET / HTTP/1.1\r\nHost: " + self.address.encode() + b"\r\n")
        self.selector.register(sock, selectors.EVENT_READ)

    def _run(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                self.selector.unregister(key.fileobj)
                key.fileobj.close()
                self.reopened += 1
                self._open()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()

    def __enter__(self) -> IdleConnections:
        for _ in range(self.count):
            self._open()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def latencies(address: str, samples: int) -> list[float]:
    took = []
    for _ in range(samples):
        started = time.perf_counter()
        response = requests.get(f"http://{address}/", timeout=30, headers={"Connection": "close"})
        took.append(time.perf_counter() - started)
        if response.status_code != 200:
            print(f"  (a visitor request answered {response.status_code})")
        time.sleep(0.05)
    return took


def summary(took: list[float]) -> tuple[float, float]:
    ordered = sorted(took)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def bench_latency(address: str, samples: int, idle: int) -> None:
    print(f"A visitor's GET / from the controller to {address}, {samples} requests each:")
    base_median, base_p99 = summary(latencies(address, samples))
    print(
        f"  no idle connections: median {base_median * 1000:.1f} ms, p99 {base_p99 * 1000:.1f} ms", flush=True
    )
    with IdleConnections(address, idle) as held:
        time.sleep(1)
        median, p99 = summary(latencies(address, samples))
        still_open = len(held.selector.get_map())
    print(
        f"  {idle} idle partial connections ({still_open} open at the end, {held.reopened} reopened after "
        f"nginx's header timeout): median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )
    print(f"  p99 with / without: {p99 / base_p99:.2f} (goal <= 2)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--idle", type=int, default=1000)
    args = parser.parse_args()
    address = first_host()
    bench_throughput(address, args.seconds, args.concurrency)
    bench_latency(address, args.samples, args.idle)


if __name__ == "__main__":
    main()
