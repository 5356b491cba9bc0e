"""The local load balancer (localcloud.load_balancer): a real HAProxy following a real moto server's ELBv2,
all on loopback. Targets are small HTTP servers at the private addresses moto gave their instances (a VPC
on 127.0.0.0/16), each with a /readyz that a test can turn off and a slow page that keeps a request in
flight. Health checks run at ELBv2's shortest interval (5 s), so each test takes some seconds.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from localcloud import target_health
from localcloud.awsenv import fake_aws_env
from localcloud.haproxy import RuntimeApi
from localcloud.ports import free_port
from localcloud.processes import Service

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="haproxy is not installed (make setup)"
)
INTERVAL = 5
THRESHOLD = 2
# Health checks are spread out by HAProxy; a state change takes at most THRESHOLD intervals plus one.
SETTLE = (THRESHOLD + 1) * INTERVAL + 5


# How long a /slow request takes on a target (s).
SLOW_SECONDS = 6


class Target(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: str, instance_id: str) -> None:
        super().__init__((address, free_port(address)), _Handler)
        self.instance_id, self.ready = instance_id, True
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    server: Target

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/readyz" and not self.server.ready:
            status, body = 503, b"not ready"
        elif self.path == "/missing":
            status, body = 404, b"no such page"
        else:
            if self.path.startswith("/slow"):
                # Long enough to be in flight at the drain test's second look (3 s after it started, plus
                # the follower's 1 s read interval and a loaded machine's delays): 3 s was not, in one CI run.
                time.sleep(SLOW_SECONDS)
            status, body = 200, self.server.instance_id.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Cloud:
    elb: Any
    ec2: Any
    url: str
    target_group: str
    targets: dict[str, Target] = field(default_factory=dict)
    haproxy: RuntimeApi | None = None

    def health(self) -> dict[str, str]:
        found = self.elb.describe_target_health(TargetGroupArn=self.target_group)["TargetHealthDescriptions"]
        return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found}

    def state_of(self, instance_id: str) -> str:
        found = self.elb.describe_target_health(
            TargetGroupArn=self.target_group, Targets=[{"Id": instance_id}]
        )
        return str(found["TargetHealthDescriptions"][0]["TargetHealth"]["State"])

    def register(self, *instance_ids: str) -> None:
        self.elb.register_targets(
            TargetGroupArn=self.target_group,
            Targets=[{"Id": i, "Port": self.targets[i].server_address[1]} for i in instance_ids],
        )

    def wait_for(self, expected: dict[str, str], timeout: float = SETTLE) -> None:
        deadline = time.monotonic() + timeout
        while self.health() != expected and time.monotonic() < deadline:
            time.sleep(0.25)
        assert self.health() == expected

    def served_by(self, count: int) -> Counter[str]:
        return Counter(requests.get(self.url, timeout=10).text for _ in range(count))


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    # A short directory: HAProxy's admin socket path must stay under 108 bytes.
    state = Path(tempfile.mkdtemp(prefix="lb-"))
    report = state / "lb" / "target-health.json"
    env = fake_aws_env(**{target_health.ENV: str(report)})
    moto_port, lb_port = free_port(), free_port()
    moto = Service(
        "moto", "moto_server", ("-H", "127.0.0.1", "-p", str(moto_port)), state, ("127.0.0.1", moto_port)
    )
    moto.start(env)
    url = f"http://127.0.0.1:{moto_port}"
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-north-1"
    )
    ec2, elb = session.client("ec2", endpoint_url=url), session.client("elbv2", endpoint_url=url)
    follower = Service(
        "load-balancer",
        "load_balancer",
        (
            "--listen",
            f"127.0.0.1:{lb_port}",
            "--moto",
            url,
            "--region",
            "eu-north-1",
            "--state",
            str(state / "lb"),
        ),
        state,
        ("127.0.0.1", lb_port),
    )
    try:
        vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.0.{n}.0/24", AvailabilityZone=f"eu-north-1{z}")[
                "Subnet"
            ]["SubnetId"]
            for n, z in ((1, "a"), (2, "b"))
        ]
        targets = {}
        for n in range(2):
            address = f"127.0.1.{10 + n}"
            instance = ec2.run_instances(
                ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0], PrivateIpAddress=address
            )["Instances"][0]
            targets[instance["InstanceId"]] = Target(address, instance["InstanceId"])
        group = elb.create_target_group(
            Name="board", Protocol="HTTP", Port=80, VpcId=vpc, HealthCheckPath="/readyz",
            HealthCheckIntervalSeconds=INTERVAL, HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=THRESHOLD, UnhealthyThresholdCount=THRESHOLD,
        )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        elb.modify_target_group_attributes(
            TargetGroupArn=group, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "20"}]
        )
        balancer = elb.create_load_balancer(Name="board", Subnets=subnets)["LoadBalancers"][0]
        elb.create_listener(
            LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )  # fmt: skip
        follower.start(env)
        yield Cloud(
            elb, ec2, f"http://127.0.0.1:{lb_port}/", group, targets, RuntimeApi(state / "lb" / "admin.sock")
        )
    finally:
        follower.stop()
        moto.stop()
        shutil.rmtree(state, ignore_errors=True)


def test_targets_are_initial_until_haproxy_passed_them_then_share_the_traffic(cloud: Cloud) -> None:
    ids = sorted(cloud.targets)
    cloud.register(*ids)
    # moto alone would say `healthy` at once: the load balancer has not checked them yet.
    assert set(cloud.health().values()) == {"initial"}
    assert requests.get(cloud.url, timeout=10).status_code == 503
    cloud.wait_for(dict.fromkeys(ids, "healthy"))
    assert cloud.served_by(20) == dict.fromkeys(ids, 10)


def test_a_target_that_is_not_ready_is_reported_unhealthy_and_gets_no_requests(cloud: Cloud) -> None:
    ids = sorted(cloud.targets)
    cloud.register(*ids)
    cloud.wait_for(dict.fromkeys(ids, "healthy"))
    cloud.targets[ids[0]].ready = False
    cloud.wait_for({ids[0]: "unhealthy", ids[1]: "healthy"})
    reason = cloud.elb.describe_target_health(TargetGroupArn=cloud.target_group, Targets=[{"Id": ids[0]}])
    assert reason["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"] == "Target.ResponseCodeMismatch"
    assert cloud.served_by(10) == {ids[1]: 10}
    cloud.targets[ids[0]].ready = True
    cloud.wait_for(dict.fromkeys(ids, "healthy"))


def test_a_deregistered_target_drains_its_request_in_flight_then_is_unused(cloud: Cloud) -> None:
    ids = sorted(cloud.targets)
    cloud.register(*ids)
    cloud.wait_for(dict.fromkeys(ids, "healthy"))
    results: dict[str, requests.Response] = {}
    # Round robin: two slow requests at once, one on each target.
    slow = [
        threading.Thread(
            target=lambda n=n: results.__setitem__(n, requests.get(cloud.url + "slow", timeout=20))
        )
        for n in range(2)
    ]
    for thread in slow:
        thread.start()
    time.sleep(1)
    cloud.elb.deregister_targets(TargetGroupArn=cloud.target_group, Targets=[{"Id": ids[0]}])
    # moto alone would say `unused` at once.
    assert cloud.state_of(ids[0]) == "draining"
    time.sleep(2)  # the follower reads moto once a second
    assert cloud.state_of(ids[0]) == "draining"  # its request is still in flight
    assert cloud.served_by(4) == {ids[1]: 4}  # no new request reaches it
    for thread in slow:
        thread.join()
    assert sorted(r.text for r in results.values()) == ids
    assert all(r.status_code == 200 for r in results.values())
    # Nothing in flight any more: drained well before the 20 s deregistration delay.
    deadline = time.monotonic() + 10
    while cloud.state_of(ids[0]) != "unused" and time.monotonic() < deadline:
        time.sleep(0.25)
    assert cloud.state_of(ids[0]) == "unused"
    assert cloud.health() == {ids[1]: "healthy"}
    assert cloud.served_by(4) == {ids[1]: 4}


def test_haproxy_reaches_targets_at_their_private_addresses_only(cloud: Cloud) -> None:
    ids = sorted(cloud.targets)
    cloud.register(*ids)
    cloud.wait_for(dict.fromkeys(ids, "healthy"))
    instances = [
        i for r in cloud.ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]
    ]
    assert cloud.haproxy is not None
    config = cloud.haproxy.command("show servers state")
    for instance in instances:
        assert f" {instance['PrivateIpAddress']} " in config
        if instance.get("PublicIpAddress"):
            assert instance["PublicIpAddress"] not in config


def test_new_health_check_settings_reload_haproxy_and_apply(cloud: Cloud) -> None:
    ids = sorted(cloud.targets)
    cloud.register(*ids)
    cloud.wait_for(dict.fromkeys(ids, "healthy"))
    cloud.elb.modify_target_group(TargetGroupArn=cloud.target_group, HealthCheckPath="/missing")
    cloud.wait_for(dict.fromkeys(ids, "unhealthy"))
    cloud.elb.modify_target_group(TargetGroupArn=cloud.target_group, HealthCheckPath="/readyz")
    cloud.wait_for(dict.fromkeys(ids, "healthy"))
    assert cloud.served_by(4) == dict.fromkeys(ids, 2)
