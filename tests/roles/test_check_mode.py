"""--check against an empty account runs clean and creates nothing (roles wired as in site.yml)."""

from __future__ import annotations

import boto3
from roles_support import REGION


def test_check_mode_on_an_empty_account_changes_nothing(moto_url: str, run_playbook) -> None:
    result = run_playbook("aws_stack.yml", {"test_aws_endpoint": moto_url, "test_with_ec2": True}, "--check")
    assert result.rc == 0, result.output
    assert "failed=0" in result.output

    def client(service: str):
        return boto3.client(service, endpoint_url=moto_url, region_name=REGION)

    assert client("dynamodb").list_tables()["TableNames"] == []
    assert client("ssm").describe_parameters()["Parameters"] == []
    assert [r["RoleName"] for r in client("iam").list_roles()["Roles"]] == []
    assert client("iam").list_instance_profiles()["InstanceProfiles"] == []
    assert client("ec2").describe_instances()["Reservations"] == []
    groups = client("ec2").describe_security_groups()["SecurityGroups"]
    assert [g["GroupName"] for g in groups if g["GroupName"] != "default"] == []
    assert client("ec2").describe_key_pairs()["KeyPairs"] == []
