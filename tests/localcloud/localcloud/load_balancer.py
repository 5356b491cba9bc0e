"""The local cloud's load balancer: a real HAProxy on the gateway that follows moto's ELBv2.

moto holds the Application Load Balancer, its listeners, target group and registered targets, but serves
no traffic, runs no health checks (every target is `healthy` at once), never drains (deregistration is
immediate) and reports a made-up DNS name nobody may contact. This follower closes those gaps:

  - it reads moto's ELBv2 every second: the (first, by name) application load balancer with a listener, the
    target group its listeners forward to (health check path, interval, timeout, thresholds, success codes,
    deregistration delay), the registered targets, and each instance's PRIVATE address from EC2;
  - it keeps HAProxy in step through HAProxy's runtime API: a new target is added in maintenance with
    its health checks on, and enabled only once it passed `healthy threshold` checks in a row (`initial`
    until then, as on AWS); a deregistered one is put in `drain` state (no new requests, those in flight
    finish) until it has no request left or the deregistration delay has passed, then deleted; health
    check settings that change rewrite the configuration and reload HAProxy (master-worker, SIGUSR2);
  - it writes what HAProxy sees as target health (localcloud.target_health), which the local cloud's moto
    then answers DescribeTargetHealth with: `initial`, `healthy`, `unhealthy` (HAProxy's own checks of
    /readyz), `draining`, `unused`.

The listener (--listen, e.g. 172.31.0.1:8080) stands for the ALB's DNS name: the load balancer's HTTP
listener, whatever port moto records for it. An HTTPS listener is followed for its target group only.

Usage:
    python -m localcloud.load_balancer --listen 172.31.0.1:8080 --moto http://172.31.0.1:5000 \
        --region eu-north-1 --state .localcloud/lb
"""

from __future__ import annotations

import argparse
import logging
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
import botocore.exceptions

from . import target_health
from .haproxy import BACKEND, HaproxyError, Process, RuntimeApi, Server, Settings, render, server_options

LOG = logging.getLogger("load_balancer")
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Desired:
    """What moto says the load balancer should be: settings, the target group's ARN, the registered targets
    ({instance id: (private address or "", port)}) and the deregistration delay in seconds."""

    settings: Settings
    target_group_arn: str = ""
    targets: dict[str, tuple[str, int]] = field(default_factory=dict)
    deregistration_delay: int = 300


class MotoElb:
    """Reads the load balancer's desired state from moto's ELBv2 and EC2 APIs."""

    def __init__(self, moto_url: str, region: str) -> None:
        # The follower's own calls use fixed fake keys: moto accepts any, and nothing real is reachable.
        session = boto3.session.Session(
            aws_access_key_id="lbfollower", aws_secret_access_key="lbfollower", region_name=region
        )
        self.elb = session.client("elbv2", endpoint_url=moto_url)
        self.ec2 = session.client("ec2", endpoint_url=moto_url)

    def desired(self, listen: str) -> Desired:
        balancers = sorted(
            (lb for lb in self.elb.describe_load_balancers()["LoadBalancers"] if lb["Type"] == "application"),
            key=lambda lb: lb["LoadBalancerName"],
        )
        for balancer in balancers:
            arn = self.forwarded_target_group(balancer["LoadBalancerArn"])
            if arn:
                return self.target_group(listen, arn, balancer["LoadBalancerArn"])
        return Desired(Settings(listen))

    def forwarded_target_group(self, balancer_arn: str) -> str:
        """The target group the load balancer's listeners forward to ("" when none does)."""
        listeners = self.elb.describe_listeners(LoadBalancerArn=balancer_arn)["Listeners"]
        for listener in sorted(listeners, key=lambda item: item["Protocol"] != "HTTP"):
            for action in listener.get("DefaultActions", []):
                if action["Type"] == "forward":
                    arn = action.get("TargetGroupArn") or next(
                        iter(action.get("ForwardConfig", {}).get("TargetGroups", [])), {}
                    ).get("TargetGroupArn", "")
                    if arn:
                        return str(arn)
        return ""

    def target_group(self, listen: str, arn: str, balancer_arn: str) -> Desired:
        group = self.elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
        attributes = {
            a["Key"]: a["Value"]
            for a in self.elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        }
        idle = {
            a["Key"]: a["Value"]
            for a in self.elb.describe_load_balancer_attributes(LoadBalancerArn=balancer_arn)["Attributes"]
        }.get("idle_timeout.timeout_seconds", "60")
        settings = Settings(
            listen=listen,
            path=group.get("HealthCheckPath") or "/",
            interval=int(group.get("HealthCheckIntervalSeconds") or 30),
            timeout=int(group.get("HealthCheckTimeoutSeconds") or 5),
            rise=int(group.get("HealthyThresholdCount") or 5),
            fall=int(group.get("UnhealthyThresholdCount") or 2),
            # ALB matchers are "200", "200,202" or "200-299"; HAProxy's `status` takes one code or a range.
            status=str(group.get("Matcher", {}).get("HttpCode") or "200").split(",")[0],
            idle_timeout=int(idle),
        )
        # Only the targets moto holds as registered: draining ones are this follower's own report.
        registered = [
            d["Target"]
            for d in self.elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            if d["TargetHealth"]["State"] != "draining"
        ]
        addresses = self.private_addresses([t["Id"] for t in registered])
        return Desired(
            settings=settings,
            target_group_arn=arn,
            targets={
                t["Id"]: (addresses.get(t["Id"], ""), int(t.get("Port") or group["Port"])) for t in registered
            },
            deregistration_delay=int(attributes.get("deregistration_delay.timeout_seconds", "300")),
        )

    def private_addresses(self, instance_ids: list[str]) -> dict[str, str]:
        """{instance id: private IP} of the running ones. Never the public IPs moto makes up: they belong
        to someone else on the internet."""
        if not instance_ids:
            return {}
        found = {}
        reservations = self.ec2.describe_instances(
            Filters=[
                {"Name": "instance-id", "Values": instance_ids},
                {"Name": "instance-state-name", "Values": ["running"]},
            ]
        )["Reservations"]
        for reservation in reservations:
            for instance in reservation["Instances"]:
                if instance.get("PrivateIpAddress"):
                    found[instance["InstanceId"]] = instance["PrivateIpAddress"]
        return found


@dataclass
class Member:
    """A server HAProxy holds for a target: `enabled` once it passed the healthy threshold, `drain_since`
    (monotonic time) once its target was deregistered."""

    server: Server
    enabled: bool = False
    drain_since: float | None = None


class Follower:
    """Keeps one HAProxy in step with moto's ELBv2 and reports target health back."""

    def __init__(self, state: Path, listen: str, elb: MotoElb, binary: str = "haproxy") -> None:
        state.mkdir(parents=True, exist_ok=True)
        self.state, self.elb = state, elb
        self.config = state / "haproxy.cfg"
        self.api = RuntimeApi(state / "admin.sock")
        self.report = state / "target-health.json"
        self.process = Process(self.config, state / "haproxy.log", binary)
        self.desired = Desired(Settings(listen))
        self.members: dict[str, Member] = {}

    # --- configuration ----------------------------------------------------------------------------------

    def write_config(self) -> None:
        servers = [
            replace(m.server, disabled=m.drain_since is not None or not m.enabled)
            for m in self.members.values()
        ]
        self.config.write_text(render(self.desired.settings, self.api.path, servers))
        problem = self.process.check()
        if problem:
            raise SystemExit(f"load_balancer: haproxy refuses the configuration it was given:\n{problem}")

    def start(self) -> None:
        # From now on moto answers target health from this follower's report (nothing checked yet).
        target_health.write(self.report, {})
        self.write_config()
        self.process.start()
        deadline = time.monotonic() + 10
        while not self.api.path.exists() and self.process.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.process.running():
            raise SystemExit(f"load_balancer: haproxy exited at start; see {self.process.log}")
        LOG.info("haproxy listening on %s", self.desired.settings.listen)

    def reload(self) -> None:
        """New settings: rewrite, reload, and put every server back into the state it had."""
        self.write_config()
        self.process.reload()
        time.sleep(0.5)  # the new worker takes the admin socket over
        for name, member in self.members.items():
            self.api.command(f"enable health {BACKEND}/{name}")
            if member.drain_since is not None:
                self.api.command(f"set server {BACKEND}/{name} state drain")
            elif member.enabled:
                self.api.command(f"set server {BACKEND}/{name} state ready")
            else:
                # Still to pass its checks: a server read from the configuration starts as if it had.
                self.api.command(f"set server {BACKEND}/{name} health down")
        LOG.info("haproxy reloaded: %s", self.desired.settings)

    # --- one pass ---------------------------------------------------------------------------------------

    def step(self) -> None:
        desired = self.elb.desired(self.desired.settings.listen)
        settings_changed = desired.settings != self.desired.settings
        self.desired = desired
        if settings_changed:
            self.reload()
        self.follow_targets()
        self.write_report()

    def follow_targets(self) -> None:
        now = time.monotonic()
        for target_id, (address, port) in self.desired.targets.items():
            member = self.members.get(target_id)
            if member is not None and (member.server.address, member.server.port) != (address, port):
                self.remove(target_id)
                member = None
            if member is None and address:
                self.add(Server(target_id, address, port))
            elif member is not None and member.drain_since is not None:
                # Registered again while draining: back in service at once.
                self.api.command(f"set server {BACKEND}/{target_id} state ready")
                member.drain_since = None
        health = self.api.check_health() if self.members else {}
        stat = self.api.stat() if self.members else {}
        for target_id, member in list(self.members.items()):
            if target_id not in self.desired.targets and member.drain_since is None:
                self.api.command(f"set server {BACKEND}/{target_id} state drain")
                member.drain_since = now
                LOG.info(
                    "%s deregistered: draining (at most %d s)", target_id, self.desired.deregistration_delay
                )
            elif member.drain_since is not None:
                busy = int(stat.get(target_id, {}).get("scur") or 0)
                # As ELB: done once nothing is in flight, or when the deregistration delay is over.
                if busy == 0 or now - member.drain_since >= self.desired.deregistration_delay:
                    self.remove(target_id)
                    LOG.info("%s drained (%d requests cut)", target_id, busy)
            elif not member.enabled and health.get(target_id, 0) >= self.desired.settings.rise:
                self.api.command(f"enable server {BACKEND}/{target_id}")
                member.enabled = True
                LOG.info("%s passed %d health checks: in service", target_id, self.desired.settings.rise)

    def add(self, server: Server) -> None:
        name = f"{BACKEND}/{server.name}"
        options = server_options(self.desired.settings)
        # A dynamic server starts in maintenance, and as if it had passed its checks: from health 0, `rise`
        # checks must pass (while still in maintenance) before follow_targets enables it.
        self.api.command(f"add server {name} {server.address}:{server.port} {options}")
        self.api.command(f"enable health {name}")
        self.api.command(f"set server {name} health down")
        self.members[server.name] = Member(server)
        LOG.info(
            "%s registered at %s:%d: checking %s",
            server.name,
            server.address,
            server.port,
            self.desired.settings.path,
        )

    def remove(self, target_id: str) -> None:
        name = f"{BACKEND}/{target_id}"
        self.api.command(f"set server {name} state maint")
        self.api.command(f"shutdown sessions server {name}")
        self.api.command(f"del server {name}")
        self.members.pop(target_id, None)

    def write_report(self) -> None:
        if not self.desired.target_group_arn:
            target_health.write(self.report, {})
            return
        stat = self.api.stat() if self.members else {}
        registered: dict[str, dict[str, Any]] = {}
        for target_id, (address, _port) in self.desired.targets.items():
            member = self.members.get(target_id)
            if not address:
                registered[target_id] = health("unused", "Target.InvalidState", "Target is not running")
            elif member is None or not member.enabled:
                continue  # `initial`, the reading of a registered target missing from the report
            else:
                registered[target_id] = from_stat(stat.get(target_id, {}))
        draining = {
            target_id: {"port": member.server.port}
            for target_id, member in self.members.items()
            if member.drain_since is not None
        }
        target_health.write(
            self.report,
            {self.desired.target_group_arn: {"registered": registered, "draining": draining}},
        )


def health(state: str, reason: str | None = None, description: str | None = None) -> dict[str, Any]:
    return {"state": state, "reason": reason, "description": description}


def from_stat(row: dict[str, str]) -> dict[str, Any]:
    """ELBv2 target health from HAProxy's `show stat` row of an enabled server."""
    status, check = row.get("status", ""), row.get("check_status", "")
    if status.startswith(("UP", "NOLB")):
        return health("healthy")
    if "TOUT" in check:
        return health("unhealthy", "Target.Timeout", "Request timed out")
    if check.startswith("L7"):
        code = row.get("check_code", "")
        return health(
            "unhealthy", "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{code}]"
        )
    return health("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


def run(follower: Follower) -> None:
    follower.start()
    while True:
        if not follower.process.running():
            raise SystemExit("load_balancer: haproxy exited; see its log")
        try:
            follower.step()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            LOG.warning("moto unreachable or refused (%s); HAProxy keeps its last state", err)
        except HaproxyError as err:
            LOG.warning("%s", err)
        time.sleep(POLL_SECONDS)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="ADDR:PORT of the load balancer's HTTP listener")
    parser.add_argument("--moto", required=True, help="URL of the moto server that holds the load balancer")
    parser.add_argument("--region", default="eu-north-1")
    parser.add_argument("--state", required=True, type=Path, help="directory for haproxy's files")
    parser.add_argument("--haproxy", default="haproxy", help="the haproxy binary")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _stop)
    follower = Follower(args.state.resolve(), args.listen, MotoElb(args.moto, args.region), args.haproxy)
    try:
        run(follower)
    finally:
        follower.process.stop()
        follower.report.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
