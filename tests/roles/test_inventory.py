"""inventory/aws_ec2.yml against moto: the app's running instances of this environment, by instance id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
from roles_support import FAKE_AWS_ENV, REGION, REPO


def _launch(ec2, environment: str, app: str = "visitor-board") -> str:
    tags = [{"Key": "app", "Value": app}, {"Key": "environment", "Value": environment}]
    reservation = ec2.run_instances(
        ImageId="ami-1e749f67",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return reservation["Instances"][0]["InstanceId"]


def test_inventory_selects_the_apps_running_instances(moto_url: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=REGION)
    wanted = {_launch(ec2, "demo"), _launch(ec2, "demo")}
    _launch(ec2, "prod")
    _launch(ec2, "demo", app="something-else")
    stopped = _launch(ec2, "demo")
    ec2.stop_instances(InstanceIds=[stopped])

    # The real file plus only the endpoint of the stand-in.
    source = (REPO / "inventory" / "aws_ec2.yml").read_text()
    inventory = tmp_path / "aws_ec2.yml"
    inventory.write_text(
        source.replace(
            "plugin: amazon.aws.aws_ec2\n", f"plugin: amazon.aws.aws_ec2\nendpoint_url: {moto_url}\n"
        )
    )

    listing = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(inventory), "--list"],
        env={**FAKE_AWS_ENV, "PATH": str(Path(sys.executable).parent), "ANSIBLE_NOCOLOR": "1"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = json.loads(listing.stdout)
    assert set(data["visitor_board_web"]["hosts"]) == wanted
    assert set(data["visitor_board_env_demo"]["hosts"]) == wanted
    hostvars = data["_meta"]["hostvars"]
    for instance_id in wanted:
        # Only read, never connected to: moto's public addresses belong to someone else.
        assert hostvars[instance_id]["ansible_host"] == hostvars[instance_id]["public_ip_address"]
