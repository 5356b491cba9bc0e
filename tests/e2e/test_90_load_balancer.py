"""One address in front of the fleet: site.yml with visitor_board_load_balancer on, through the local cloud's
load balancer (HAProxy at 172.31.0.1:8080 following moto's ALB, checking /readyz itself).

On the session fleet, in order (each test builds on the one before): the load balancer is turned on; 30 page
loads through it show every instance; a post through it is visible through it and on each host; a rolling
update under traffic through it fails no request; a killed host is taken out by the health check and no
request fails after the detection window; the count goes 3 -> 4 -> 2 under traffic with no failed request.
All traffic goes to the fleet's own addresses, bounded in count and time.

It runs last on the session fleet (file name): it leaves two instances behind the load balancer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
from board import Visitor, parse
from localfleet import (
    Background,
    Host,
    PlaybookRun,
    aws,
    fleet,
    make_release,
    run_site,
    running_hosts,
    task_hosts,
)

LB_ADDRESS = f"{fleet.GATEWAY}:{fleet.LB_PORT}"
LB_URL = f"http://{LB_ADDRESS}/"
# inventory/local: health checks every 5 s with a 2 s timeout, 2 failed ones take a target out.
INTERVAL, TIMEOUT, UNHEALTHY = 5, 2, 2
DETECTION_WINDOW = UNHEALTHY * INTERVAL + TIMEOUT + 2
LB_ON = json.dumps({"visitor_board_load_balancer": True})


class Traffic(Background):
    """Visitors loading the board through the load balancer (a new connection each) until stopped."""

    def __init__(self, clients: int = 2, pause: float = 0.25) -> None:
        super().__init__()
        self.pause = pause
        self.served: Counter[str] = Counter()
        self.log: list[tuple[float, str]] = []
        self.failures: list[tuple[float, str]] = []
        self.threads = [threading.Thread(target=self._read) for _ in range(clients)]

    def _read(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()  # failures are told apart by when their request was sent
            try:
                response = requests.get(LB_URL, timeout=10, headers={"Connection": "close"})
                page = parse(response.status_code, response.text)
                if response.status_code == 200 and page.served_by:
                    self.served[page.served_by] += 1
                    self.log.append((started, page.served_by))
                else:
                    self.failures.append((started, f"{response.status_code}"))
            except requests.RequestException as exc:
                self.failures.append((started, f"{type(exc).__name__} {exc}"[:200]))
            time.sleep(self.pause)


def _health() -> dict[str, str]:
    elb = aws("elbv2")
    group = elb.describe_target_groups(Names=["visitor-board-demo"])["TargetGroups"][0]["TargetGroupArn"]
    found = elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found}


def _ok(result: PlaybookRun) -> None:
    assert result.returncode == 0, result.output[-6000:]


@pytest.fixture(scope="module")
def balanced(hosts: list[Host]) -> list[Host]:
    """site.yml once more, with the load balancer on: each host registered once the LB found it healthy."""
    _ok(run_site("20-load-balancer-on", "-e", LB_ON))
    assert _health() == {h.instance_id: "healthy" for h in hosts}
    return hosts


def test_30_page_loads_through_the_one_address_show_every_instance(balanced: list[Host]) -> None:
    served = Counter()
    for _ in range(30):
        response = requests.get(LB_URL, timeout=10, headers={"Connection": "close"})
        assert response.status_code == 200
        page = parse(response.status_code, response.text)
        served[page.served_by] += 1
        # The badge names the same instance the footer does.
        assert f'data-instance="{page.served_by}"' in response.text
    assert set(served) == {h.instance_id for h in balanced}, served


def test_the_front_trusts_x_forwarded_for_from_the_load_balancer_subnets_only(balanced: list[Host]) -> None:
    """Per-visitor limits count visitors, not the load balancer's nodes: nginx takes the visitor's address
    from X-Forwarded-For, trusted from the load balancer's subnets and nowhere else."""
    subnets = sorted(
        s["CidrBlock"]
        for s in aws("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])[
            "Subnets"
        ]
    )
    for host in balanced:
        conf = host.ssh("sudo cat /etc/nginx/nginx.conf")
        trusted = sorted(
            line.split()[1].rstrip(";") for line in conf.splitlines() if "set_real_ip_from" in line
        )
        assert trusted == subnets, f"{host.instance_id}: {trusted}"
        assert "real_ip_header X-Forwarded-For;" in conf


def test_a_post_through_it_is_visible_through_it_and_on_each_host(balanced: list[Host]) -> None:
    text = f"through the load balancer {uuid.uuid4().hex[:8]}"
    assert Visitor(LB_ADDRESS).post("lb", text)
    assert text in Visitor(LB_ADDRESS).all_texts()
    for host in balanced:
        assert text in Visitor(host.address).all_texts(), host.instance_id


def test_rolling_update_through_it_fails_no_request(balanced: list[Host], tmp_path: Path) -> None:
    version = "1.0.5"
    source = make_release(tmp_path, version)
    with Traffic() as traffic:
        result = run_site("21-lb-rolling-update", "-e", LB_ON, "-e", f"visitor_board_app_source_dir={source}")
    _ok(result)
    assert traffic.failures == [], traffic.failures[:20]
    assert sum(traffic.served.values()) > 50, traffic.served
    # Each host left the load balancer (drained) before its switch and came back healthy after it.
    ids = {host.instance_id for host in balanced}
    assert (
        task_hosts(result.output, "visitor_board_lb : Deregister the target and wait until it is drained")
        == ids
    )
    assert (
        task_hosts(result.output, "visitor_board_lb : Register the target and wait until it is healthy")
        == ids
    )
    for host in balanced:
        assert requests.get(f"http://{host.address}/healthz", timeout=10).json()["version"] == version
    assert _health() == {h.instance_id: "healthy" for h in balanced}


def test_a_killed_host_is_taken_out_by_the_health_check(balanced: list[Host]) -> None:
    victim = balanced[-1]
    runner = next(s for s in fleet.SERVICES if s.module == "instance_runner").pid()
    assert runner is not None
    # The instance runner would start the host again at once: paused while the host is down.
    os.kill(runner, signal.SIGSTOP)
    try:
        with Traffic() as traffic:
            time.sleep(2)
            killed_at = time.monotonic()
            subprocess.run(
                ["podman", "stop", "--time", "0", f"vb-{victim.instance_id}"], check=True, capture_output=True
            )
            deadline = killed_at + DETECTION_WINDOW + 10
            while _health().get(victim.instance_id) != "unhealthy" and time.monotonic() < deadline:
                time.sleep(0.25)
            detected = time.monotonic() - killed_at
            assert _health()[victim.instance_id] == "unhealthy", _health()
            settled = time.monotonic()
            time.sleep(15)
        print(
            f"killed host reported unhealthy after {detected:.1f} s; "
            f"{len([f for f in traffic.failures if f[0] <= settled])} failed requests sent before that"
        )
        # Requests sent once the health check took the host out: none failed, none went to it.
        after = [f for f in traffic.failures if f[0] > max(settled, killed_at + DETECTION_WINDOW)]
        assert after == [], after[:20]
        assert victim.instance_id not in {served for t, served in traffic.log if t > settled}
        assert len([t for t, _ in traffic.log if t > settled]) > 20
    finally:
        os.kill(runner, signal.SIGCONT)
    # The runner boots the host again; its app starts at boot and the load balancer takes it back.
    deadline = time.monotonic() + 180
    while _health().get(victim.instance_id) != "healthy" and time.monotonic() < deadline:
        time.sleep(1)
    assert _health()[victim.instance_id] == "healthy"


def test_instance_count_3_to_4_to_2_under_traffic_fails_no_request(balanced: list[Host]) -> None:
    before = {h.instance_id for h in running_hosts()}
    with Traffic() as traffic:
        grown = run_site("22-lb-count-4", "-e", LB_ON, "-e", "visitor_board_instance_count=4")
    _ok(grown)
    assert traffic.failures == [], traffic.failures[:20]
    four = {h.instance_id for h in running_hosts()}
    assert len(four) == 4 and before < four
    (new,) = four - before
    assert _health() == dict.fromkeys(four, "healthy")
    assert traffic.served[new] > 0, traffic.served  # the new instance took traffic once it was ready

    with Traffic() as traffic:
        shrunk = run_site("23-lb-count-2", "-e", LB_ON, "-e", "visitor_board_instance_count=2")
    _ok(shrunk)
    assert traffic.failures == [], traffic.failures[:20]
    two = {h.instance_id for h in running_hosts()}
    assert len(two) == 2 and two < four
    # Each removed instance was drained before it was terminated.
    for removed in four - two:
        assert f"Deregister the target and wait until it is drained, {removed}" in shrunk.output
    assert _health() == dict.fromkeys(two, "healthy")
    served = Counter(parse(200, requests.get(LB_URL, timeout=10).text).served_by for _ in range(10))
    assert set(served) == two
