"""playbooks/teardown.yml against a real moto server: hosts and IAM go, data stays unless asked for."""

from __future__ import annotations

import re

import boto3
import pytest
from roles_support import REGION, REPO

TEARDOWN = str(REPO / "playbooks" / "teardown.yml")
TABLE = "test_messages"
PARAMETER = "/visitor-board/test/secret-key"
SHARED_VARS = {
    "visitor_board_region": REGION,
    "visitor_board_environment": "test",
    "visitor_board_table": TABLE,
    "visitor_board_secret_key_parameter": PARAMETER,
}


def _changed(output: str) -> int:
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", output)
    assert match, output
    return int(match.group(1))


def _state(moto_url: str) -> dict[str, object]:
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=REGION)
    iam = boto3.client("iam", endpoint_url=moto_url, region_name=REGION)
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_url, region_name=REGION)
    ssm = boto3.client("ssm", endpoint_url=moto_url, region_name=REGION)
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": "tag:app", "Values": ["visitor-board"]},
            {"Name": "tag:environment", "Values": ["test"]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )["Reservations"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["visitor-board-web"]}])
    tables = dynamodb.list_tables()["TableNames"]
    return {
        "instances": sum(len(r["Instances"]) for r in reservations),
        "security_groups": len(groups["SecurityGroups"]),
        "roles": [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"] == "visitor-board-app"],
        "profiles": [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]],
        "table": TABLE in tables,
        "deletion_protection": TABLE in tables
        and dynamodb.describe_table(TableName=TABLE)["Table"].get("DeletionProtectionEnabled"),
        "parameter": bool(ssm.describe_parameters()["Parameters"]),
    }


@pytest.fixture
def deployed(moto_url: str, run_playbook) -> str:
    result = run_playbook("aws_stack.yml", {"test_aws_endpoint": moto_url, "test_with_ec2": True})
    assert result.rc == 0, result.output
    state = _state(moto_url)
    assert state["instances"] == 2
    assert state["security_groups"] == 1
    assert state["roles"] == ["visitor-board-app"]
    assert state["profiles"] == ["visitor-board-app"]
    assert state["table"] and state["deletion_protection"] and state["parameter"]
    return moto_url


def test_teardown_keeps_data_by_default_then_deletes_it_when_asked(deployed: str, run_playbook) -> None:
    endpoint = {"visitor_board_aws_endpoint_url": deployed}

    kept = run_playbook(TEARDOWN, {**SHARED_VARS, **endpoint})
    assert kept.rc == 0, kept.output
    assert f"Data kept: DynamoDB table {TABLE} and SSM parameter {PARAMETER}" in kept.output
    state = _state(deployed)
    assert state["instances"] == 0
    assert state["security_groups"] == 0
    assert state["roles"] == []
    assert state["profiles"] == []
    assert state["table"] and state["deletion_protection"] and state["parameter"]

    again = run_playbook(TEARDOWN, {**SHARED_VARS, **endpoint})
    assert again.rc == 0, again.output
    assert _changed(again.output) == 0

    deleted = run_playbook(TEARDOWN, {**SHARED_VARS, **endpoint, "visitor_board_teardown_delete_data": True})
    assert deleted.rc == 0, deleted.output
    assert f"Data deleted: DynamoDB table {TABLE}" in deleted.output
    state = _state(deployed)
    assert not state["table"]
    assert not state["parameter"]
