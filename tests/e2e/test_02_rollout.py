"""Rolling updates: a new release reaches every host with no failed request; a broken one fails its gate
on the first batch's host before it gets any traffic, is removed there, and never reaches the other hosts."""

from __future__ import annotations

import re
import shutil
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
from board import Visitor
from localfleet import REPO, Background, Host, run_site

GOOD = "1.0.1"
BROKEN = "1.0.2"


def _release(source: Path, version: str) -> Path:
    """A copy of app/ that is a new release: only its version differs (the package version is the release)."""
    target = source / f"app-{version}"
    shutil.copytree(
        REPO / "app", target, ignore=shutil.ignore_patterns("*.egg-info", "build", "dist", "__pycache__")
    )
    pyproject = target / "pyproject.toml"
    text, count = re.subn(r'(?m)^version = "[^"]+"$', f'version = "{version}"', pyproject.read_text())
    assert count == 1
    pyproject.write_text(text)
    return target


def _version(host: Host) -> str:
    return requests.get(f"http://{host.address}/healthz", timeout=10).json()["version"]


class Traffic(Background):
    """Clients that keep requesting every host's board (and optionally posting) while a rollout runs."""

    def __init__(self, hosts: list[Host], post: bool = False) -> None:
        self.hosts, self.post = hosts, post
        super().__init__()
        self.requests: Counter[str] = Counter()
        self.failures: list[str] = []
        self.acknowledged: list[str] = []
        self.tag = uuid.uuid4().hex[:8]
        self.threads = [threading.Thread(target=self._read, args=(h,)) for h in hosts]
        if post:
            self.threads += [threading.Thread(target=self._write, args=(h,)) for h in hosts]

    def _read(self, host: Host) -> None:
        # A new connection per request, as a stream of visitors makes them (a kept-alive connection that the
        # server closes between requests is retried by browsers, not by requests).
        while not self.stop.is_set():
            try:
                status = requests.get(
                    f"http://{host.address}/", timeout=10, headers={"Connection": "close"}
                ).status_code
            except requests.RequestException as exc:
                status = f"{type(exc).__name__} {exc}"[:200]
            self.requests[host.instance_id] += 1
            if status != 200:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {host.instance_id}: {status}")
            time.sleep(0.25)

    def _write(self, host: Host) -> None:
        visitor, i = Visitor(host.address), 0
        while not self.stop.is_set():
            text = f"rollout {self.tag} {host.instance_id} {i}"
            if visitor.post("rollout", text):
                self.acknowledged.append(text)
            i += 1
            time.sleep(0.5)


def test_rolling_update_serves_every_request_and_ends_on_the_new_version(
    hosts: list[Host], tmp_path: Path
) -> None:
    source = _release(tmp_path, GOOD)
    with Traffic(hosts) as traffic:
        result = run_site("03-rolling-update", "-e", f"visitor_board_app_source_dir={source}")
    assert result.returncode == 0, result.output[-6000:]
    assert traffic.failures == [], traffic.failures[:20]
    assert all(traffic.requests[h.instance_id] > 10 for h in hosts), traffic.requests
    assert {h.instance_id: _version(h) for h in hosts} == {h.instance_id: GOOD for h in hosts}
    for host in hosts:
        assert Visitor(host.address).board().release == GOOD


def test_broken_release_stops_at_the_first_batch_and_is_rolled_back(
    hosts: list[Host], tmp_path: Path
) -> None:
    source = _release(tmp_path, BROKEN)
    views = source / "visitor_board" / "views.py"
    # A release that starts and serves pages but can never become ready (as one with a wrong table name
    # or a missing permission would): its gate must fail.
    broken, count = re.subn(r"ready = _store\(\)\.is_ready\(\)", "ready = False", views.read_text())
    assert count == 1, "the app's readiness check moved; update this test's way of breaking it"
    views.write_text(broken)
    before = {h.instance_id: _version(h) for h in hosts}
    with Traffic(hosts, post=True) as traffic:
        result = run_site(
            "04-broken-release",
            "-e",
            f"visitor_board_app_source_dir={source}",
            "-e",
            "visitor_board_app_ready_retries=8",
        )
    assert result.returncode != 0, "the broken release was rolled out"
    failed = sorted({m for m in re.findall(r"^fatal: \[(i-[0-9a-f]+)\]", result.output, re.M)})
    assert len(failed) == 1, f"expected exactly the first batch (1 host) to fail, got {failed}"
    first = failed[0]
    # The report's verdict names the host that stopped the rollout and why (its release was not ready).
    flat = " ".join(result.output.split())
    verdict = flat[flat.rindex("VERDICT: ") :][:600]
    assert (
        f"fleet stays on {before[first]} " in verdict
        and f"after {first} failed: release {BROKEN}-" in verdict
    )
    assert "did not pass its gate" in verdict and "ready" in verdict, verdict
    # Every host is serving the release it had; none keeps a directory of the broken one.
    assert {h.instance_id: _version(h) for h in hosts} == before
    for host in hosts:
        releases = host.ssh("ls /opt/visitor-board/releases")
        assert not [r for r in releases.split() if r.startswith(BROKEN)], (host.instance_id, releases)
    assert traffic.failures == [], traffic.failures[:20]
    # No acknowledged message was lost while it happened.
    assert traffic.acknowledged
    texts = set(Visitor(hosts[0].address).all_texts())
    assert set(traffic.acknowledged) <= texts, sorted(set(traffic.acknowledged) - texts)[:10]
