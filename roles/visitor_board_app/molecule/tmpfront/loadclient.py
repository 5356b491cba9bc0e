"""Keep requesting the board from every host until told to stop; print what failed as JSON.

Used by side_effect.yml around a rolling code swap: any connection error or non-200 answer counts as a
failed request. Runs on the controller against the scenario's podman network only.

Usage: python loadclient.py --stop-file PATH URL [URL ...]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stop-file", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2, help="concurrent clients per URL")
    parser.add_argument("--max-seconds", type=float, default=300)
    # A pause between requests keeps the client from starving the deploy of CPU on a small machine.
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("urls", nargs="+")
    args = parser.parse_args()

    lock = threading.Lock()
    counts: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    errors: list[str] = []
    slowest: list[float] = [0.0]
    deadline = time.monotonic() + args.max_seconds

    def client(base: str) -> None:
        paths = ["/", "/healthz"]
        i = 0
        while not args.stop_file.exists() and time.monotonic() < deadline:
            url = base + paths[i % 2]
            i += 1
            started = time.monotonic()
            try:
                with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 - our own hosts
                    body = response.read()
                    ok = response.status == 200
                    if ok and url.endswith("/healthz"):
                        with lock:
                            versions[json.loads(body)["version"]] += 1
            except (urllib.error.URLError, OSError, ValueError) as exc:
                ok = False
                with lock:
                    if len(errors) < 20:
                        errors.append(f"{url}: {exc}")
            with lock:
                slowest[0] = max(slowest[0], time.monotonic() - started)
                counts["requests"] += 1
                counts["failed"] += 0 if ok else 1
            time.sleep(args.interval)

    threads = [
        threading.Thread(target=client, args=(u.rstrip("/"),)) for u in args.urls for _ in range(args.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        json.dumps(
            {
                "requests": counts["requests"],
                "failed": counts["failed"],
                "errors": errors,
                "versions": dict(versions),
                "slowest_seconds": round(slowest[0], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
