"""Scale-in behind the load balancer (visitor_board_lb, tasks_from scale_in) against a real moto server: the
oldest extra instances are drained, terminated, and gone from the play's inventory, so the plays on the
hosts that follow (site.yml's) run on the remaining ones only and never try to reach a terminated one."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
from roles_support import REGION, REPO

PLAYBOOK = """
- name: Load balancer, every instance registered, then scale in to two
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/visitor_board.aws.aws: {{endpoint_url: "{moto}", region: "{region}"}}
  vars:
    __lb: &lb
      visitor_board_lb_region: "{region}"
      visitor_board_lb_environment: demo
      visitor_board_lb_health_check_interval: 5
      visitor_board_lb_health_check_timeout: 2
      visitor_board_lb_deregistration_delay: 5
      visitor_board_lb_healthy_timeout: 10
  tasks:
    - name: Load balancer
      ansible.builtin.include_role:
        name: visitor_board_lb
      vars: *lb
    - name: Register every instance
      ansible.builtin.include_role:
        name: visitor_board_lb
        tasks_from: register
      vars:
        <<: *lb
        visitor_board_lb_target_id: "{{{{ item }}}}"
      loop: "{{{{ groups['visitor_board_web'] }}}}"
    - name: Scale in
      ansible.builtin.include_role:
        name: visitor_board_lb
        tasks_from: scale_in
      vars:
        <<: *lb
        visitor_board_lb_instance_count: 2

- name: The hosts that are left
  hosts: visitor_board_web
  connection: local
  gather_facts: false
  tasks:
    - name: Say which host runs
      ansible.builtin.debug:
        msg: "reached {{{{ inventory_hostname }}}}"
"""


def _launch(ec2) -> str:
    tags = [{"Key": "app", "Value": "visitor-board"}, {"Key": "environment", "Value": "demo"}]
    return ec2.run_instances(
        ImageId="ami-1e749f67",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]


def test_scale_in_drains_terminates_the_oldest_and_the_host_plays_skip_them(
    moto_url: str, run_playbook, tmp_path: Path
) -> None:
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=REGION)
    oldest = _launch(ec2)
    time.sleep(1.1)  # launch times are kept to the second
    older = _launch(ec2)
    time.sleep(1.1)
    newer = {_launch(ec2), _launch(ec2)}
    source = (REPO / "inventory" / "aws_ec2.yml").read_text()
    inventory = tmp_path / "aws_ec2.yml"
    inventory.write_text(
        source.replace(
            "plugin: amazon.aws.aws_ec2\n", f"plugin: amazon.aws.aws_ec2\nendpoint_url: {moto_url}\n"
        )
    )
    playbook = tmp_path / "scale_in.yml"
    playbook.write_text(PLAYBOOK.format(moto=moto_url, region=REGION))

    result = run_playbook(str(playbook), {}, "--inventory", str(inventory))

    assert result.rc == 0, result.output[-4000:]
    assert "UNREACHABLE" not in result.output
    for removed in (oldest, older):
        assert f"Deregister the target and wait until it is drained, {removed}" in result.output
        assert f"reached {removed}" not in result.output
    for kept in newer:
        assert f"reached {kept}" in result.output
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances(InstanceIds=[oldest, older, *newer])["Reservations"]
        for i in r["Instances"]
    }
    assert states == {oldest: "terminated", older: "terminated", **dict.fromkeys(newer, "running")}
    elb = boto3.client("elbv2", endpoint_url=moto_url, region_name=REGION)
    group = elb.describe_target_groups(Names=["visitor-board-demo"])["TargetGroups"][0]["TargetGroupArn"]
    registered = elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert {d["Target"]["Id"] for d in registered} == newer
