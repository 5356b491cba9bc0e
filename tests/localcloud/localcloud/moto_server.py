"""moto's server as the local cloud's AWS, with the gaps that break real clients filled in.

- moto 5 leaves `TableId` out of DescribeTable, and community.aws.dynamodb_table fails on it after creating
  a table. Real DynamoDB always returns it, so this adds a stable one.
- moto's Application Load Balancers lack the attributes AWS always reports (idle timeout, HTTP/2, header
  handling), and amazon.aws.elb_application_lb fails on the missing `idle_timeout.timeout_seconds`: they get
  AWS's defaults.
- moto runs no health checks and never drains: DescribeTargetHealth answers from the local load balancer's
  report (localcloud.target_health) while one is fresh, so `healthy`, `unhealthy`, `initial` and `draining`
  mean what HAProxy saw.
Fixes for moto's gaps live here, in the local cloud, never in the roles or the app.

Usage: python -m localcloud.moto_server [-H 127.0.0.1] [-p 5000]   (moto_server's own options)
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO, Any

from . import target_health
from .awsenv import fake_aws_env
from .ports import wait_for_port

# A catalogue of Debian 12 AMIs (owner and names as Debian publishes them), loaded with MOTO_AMIS_PATH so
# an AMI lookup by Debian's owner and name pattern works as on AWS.
AMIS_PATH = Path(__file__).with_name("amis.json")


def command(host: str, port: int) -> list[str]:
    """The argv that runs this module's server on host:port."""
    return [sys.executable, "-m", "localcloud.moto_server", "-H", host, "-p", str(port)]


def start_moto(
    port: int,
    log: IO[bytes] | int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """A moto server on 127.0.0.1:port as a child of this process, returned once it listens. The caller
    terminates it. Raises RuntimeError/TimeoutError when it does not come up."""
    process = subprocess.Popen(
        command("127.0.0.1", port),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env if env is not None else fake_aws_env(),
    )
    try:
        wait_for_port(port, process=process)
    except Exception:
        process.kill()
        raise
    return process


def _patch_describe_table() -> None:
    from moto.dynamodb.models.table import Table

    original = Table.describe

    def describe_with_table_id(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
        result = original(self, base_key)
        # Derived from the ARN so it stays the same across calls, as the real TableId does.
        result[base_key].setdefault("TableId", str(uuid.uuid5(uuid.NAMESPACE_URL, self.table_arn)))
        return result

    Table.describe = describe_with_table_id  # type: ignore[method-assign]


# What DescribeLoadBalancerAttributes reports for a new ALB on AWS (ELBv2 API reference,
# LoadBalancerAttribute), beyond what moto sets.
ALB_DEFAULT_ATTRIBUTES = {
    "idle_timeout.timeout_seconds": "60",
    "routing.http2.enabled": "true",
    "routing.http.drop_invalid_header_fields.enabled": "false",
    "routing.http.desync_mitigation_mode": "defensive",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
    "routing.http.xff_client_port.enabled": "false",
    "waf.fail_open.enabled": "false",
    "access_logs.s3.enabled": "false",
}


def _patch_alb_attributes() -> None:
    from moto.elbv2.models import FakeLoadBalancer

    original = FakeLoadBalancer.__init__

    def init_with_defaults(self: FakeLoadBalancer, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.type == "application":
            for key, value in ALB_DEFAULT_ATTRIBUTES.items():
                self.attrs.setdefault(key, value)

    FakeLoadBalancer.__init__ = init_with_defaults  # type: ignore[method-assign]


def _patch_target_health() -> None:
    from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

    describe, deregister = ELBv2Backend.describe_target_health, FakeTargetGroup.deregister
    path = target_health.report_path()
    deregistered_at: dict[tuple[str, str], float] = {}

    def deregister_noting_time(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
        deregister(self, targets)
        for target in targets:
            deregistered_at[(self.arn, target["Id"])] = time.time()

    def status(
        group: FakeTargetGroup, target: dict[str, Any], state: str, reason: str | None, text: str | None
    ):
        port = target.get("Port", group.port)
        return FakeHealthStatus(target["Id"], port, group.health_check_port, state, reason, text)

    def describe_from_report(
        self: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]
    ) -> list[FakeHealthStatus]:
        report = target_health.read(path)
        group = self.target_groups.get(target_group_arn)
        if report is None or group is None:
            return describe(self, target_group_arn, targets)
        seen = report.target_groups.get(target_group_arn, {})
        registered, draining = seen.get("registered", {}), dict(seen.get("draining", {}))
        for (arn, target_id), when in deregistered_at.items():
            if arn == target_group_arn and when >= report.written and target_id not in group.targets:
                draining.setdefault(target_id, {"port": group.port})
        leaving = [{"Id": i, "Port": d.get("port", group.port)} for i, d in draining.items()]
        asked = targets or [*group.targets.values(), *(t for t in leaving if t["Id"] not in group.targets)]
        answers = []
        for target in asked:
            if target["Id"] in group.targets:
                moto_says = group.health_for(target, self.ec2_backend)
                found = registered.get(target["Id"])
                if moto_says.status == "unused":  # a stopped instance: moto's one check
                    answers.append(moto_says)
                elif found is None:  # not checked enough yet by the load balancer
                    answers.append(
                        status(
                            group,
                            target,
                            "initial",
                            "Elb.RegistrationInProgress",
                            "Target registration is in progress",
                        )
                    )
                else:
                    answers.append(
                        status(group, target, found["state"], found.get("reason"), found.get("description"))
                    )
            elif target["Id"] in draining:
                answers.append(
                    status(
                        group,
                        target,
                        "draining",
                        "Target.DeregistrationInProgress",
                        "Target deregistration is in progress",
                    )
                )
            else:
                # Drained (moto would keep a terminated instance's target `draining` for ever).
                answers.append(
                    status(
                        group,
                        target,
                        "unused",
                        "Target.NotRegistered",
                        "Target is not registered to the target group",
                    )
                )
        return answers

    FakeTargetGroup.deregister = deregister_noting_time  # type: ignore[method-assign]
    ELBv2Backend.describe_target_health = describe_from_report  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    _patch_describe_table()
    _patch_alb_attributes()
    _patch_target_health()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
