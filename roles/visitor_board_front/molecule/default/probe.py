"""Visitor's-eye checks of the front, from the controller: one line per check, exit 1 if any fails.

Usage: python probe.py HOST [--burst N]
Talks to HOST:80 only (the scenario's podman network).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys

BODY_LIMIT = 16 * 1024


def request(
    host: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, 80, timeout=10)
    try:
        conn.request(
            method,
            path,
            body=iter([body]) if chunked and body is not None else body,
            headers=headers or {},
            encode_chunked=chunked,
        )
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("--burst", type=int, required=True)
    args = parser.parse_args()
    host = args.host
    failures: list[str] = []

    def check(name: str, ok: bool, detail: object = "") -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else f': {detail}'}")
        if not ok:
            failures.append(name)

    status, headers, body = request(
        host, "GET", "/", headers={"X-Forwarded-For": "198.51.100.66", "X-Request-Id": "forged-by-visitor"}
    )
    seen = json.loads(body)
    with socket.create_connection((host, 80), timeout=10) as probe:
        own = probe.getsockname()[0]
    check("GET / is proxied", status == 200, status)
    check(
        "the upstream sees exactly one X-Forwarded-For: the visitor's address, not the forged one",
        seen["x_forwarded_for"] == [own],
        (own, seen),
    )
    check("X-Forwarded-Proto is http", seen["x_forwarded_proto"] == "http", seen)
    check("X-Request-Id is nginx's", seen["x_request_id"] not in (None, "forged-by-visitor"), seen)
    check("Server header without a version", headers.get("server") == "nginx", headers.get("server"))

    for chunked in (False, True):
        kind = "chunked" if chunked else "with Content-Length"
        status, _, body = request(host, "POST", "/", body=b"x" * (20 * 1024), chunked=chunked)
        check(f"20 KiB body {kind}: 413 from the front", status == 413, status)
        check(f"20 KiB body {kind}: the 413 page says what to do", b"Shorten it" in body, body[:200])
        status, _, body = request(host, "POST", "/", body=b"x" * (BODY_LIMIT - 1024), chunked=chunked)
        answer = json.loads(body) if status == 200 else {}
        check(
            f"15 KiB body {kind}: passed on whole, buffered (no chunks upstream)",
            status == 200
            and answer.get("body_bytes") == BODY_LIMIT - 1024
            and answer.get("transfer_encoding") is None,
            (status, answer),
        )

    status, headers, body = request(host, "GET", "/static/style.css")
    check("static file served by nginx", status == 200 and b"#123456" in body, (status, body[:100]))
    check(
        "static file cached for a year",
        "max-age=31536000" in headers.get("cache-control", ""),
        headers.get("cache-control"),
    )

    # The burst went partly to the 413/15 KiB posts above (4 posts); the rest of it, then 429.
    statuses = [request(host, "POST", "/", body=b"m=1")[0] for _ in range(args.burst + 5)]
    check("posts beyond the burst get 429", statuses[-1] == 429 and statuses.count(429) >= 5, statuses)
    check("posts within the burst pass", statuses[0] == 200, statuses)
    status, headers, body = request(host, "POST", "/", body=b"m=1")
    check(
        "the 429 page says to wait and Retry-After is set",
        status == 429 and b"wait" in body and "retry-after" in headers,
        (status, headers, body[:200]),
    )
    status, _, _ = request(host, "GET", "/")
    check("reading is not limited by the post limit", status == 200, status)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
