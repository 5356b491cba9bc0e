#!/usr/bin/python
# ruff: noqa: E402  (Ansible modules keep DOCUMENTATION/EXAMPLES/RETURN above the imports)
"""Ansible module: point-in-time recovery and deletion protection of a DynamoDB table.

community.aws.dynamodb_table (10.0) manages keys, billing, indexes and tags but has no options for
point-in-time recovery (UpdateContinuousBackups) or deletion protection (UpdateTable
DeletionProtectionEnabled), so this small module covers exactly those two settings, through the same
amazon.aws connection handling (credentials, region, endpoint_url) as the collection's modules.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dynamodb_table_protection
short_description: Point-in-time recovery and deletion protection of a DynamoDB table
description:
  - Reads the table's continuous-backups and deletion-protection settings and changes them only when they
    differ from the requested ones. Supports check mode.
  - Takes the same connection options as the amazon.aws modules; it is a member of the action group
    C(visitor_board.aws.aws), which extends C(amazon.aws.aws) and C(community.aws.aws), so one
    C(module_defaults) entry for that group gives it the same endpoint, region and credentials.
options:
  name:
    description: Name of the table.
    required: true
    type: str
  point_in_time_recovery:
    description: Whether point-in-time recovery is enabled. Left alone when omitted.
    type: bool
  deletion_protection:
    description: Whether deletion protection is enabled. Left alone when omitted.
    type: bool
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - Visitor Board project
"""

EXAMPLES = r"""
- name: Protect the table
  visitor_board.aws.dynamodb_table_protection:
    name: messages
    point_in_time_recovery: true
    deletion_protection: true
"""

RETURN = r"""
point_in_time_recovery:
  description: Point-in-time recovery state after the run (as it would be, in check mode).
  returned: success
  type: bool
deletion_protection:
  description: Deletion protection state after the run (as it would be, in check mode).
  returned: success
  type: bool
"""

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

# A new table's continuous backups take a moment to become available on real DynamoDB.
_RETRY = AWSRetry.jittered_backoff(
    retries=10, catch_extra_error_codes=["ContinuousBackupsUnavailableException", "ResourceInUseException"]
)


def _current(client: Any, name: str) -> tuple[bool, bool]:
    table = client.describe_table(aws_retry=True, TableName=name)["Table"]
    backups = client.describe_continuous_backups(aws_retry=True, TableName=name)[
        "ContinuousBackupsDescription"
    ]
    pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED"
    return pitr, bool(table.get("DeletionProtectionEnabled", False))


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            point_in_time_recovery=dict(type="bool"),
            deletion_protection=dict(type="bool"),
        ),
        supports_check_mode=True,
    )
    name = module.params["name"]
    want_pitr = module.params["point_in_time_recovery"]
    want_protection = module.params["deletion_protection"]
    client = module.client("dynamodb", retry_decorator=_RETRY)

    try:
        pitr, protection = _current(client, name)
    except is_boto3_error_code("ResourceNotFoundException"):
        if module.check_mode:
            # The table is only about to be created (check mode): it would get the requested settings.
            module.exit_json(
                changed=True, point_in_time_recovery=want_pitr, deletion_protection=want_protection
            )
        module.fail_json(msg=f"DynamoDB table {name} does not exist")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not read the settings of table {name}")

    changed = False
    try:
        if want_protection is not None and want_protection != protection:
            changed = True
            if not module.check_mode:
                client.update_table(aws_retry=True, TableName=name, DeletionProtectionEnabled=want_protection)
            protection = want_protection
        if want_pitr is not None and want_pitr != pitr:
            changed = True
            if not module.check_mode:
                client.update_continuous_backups(
                    aws_retry=True,
                    TableName=name,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": want_pitr},
                )
            pitr = want_pitr
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not update the settings of table {name}")

    module.exit_json(changed=changed, point_in_time_recovery=pitr, deletion_protection=protection)


if __name__ == "__main__":
    main()
