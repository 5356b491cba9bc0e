#!/usr/bin/python
# ruff: noqa: E402  (Ansible modules keep DOCUMENTATION/EXAMPLES/RETURN above the imports)
"""Ansible module: a deploy lease (a lock that expires) held in a DynamoDB item.

Taking it is one conditional PutItem (the item is absent, or its lease has expired): DynamoDB applies the
condition and the write atomically, so of two rollouts started together exactly one gets it, from any
machine. The holder renews it (a conditional UpdateItem on its own token) and deletes it at the end; a
killed holder's lease simply expires.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_lease
short_description: Take, renew or release a deploy lease held in a DynamoDB item
description:
  - A lease is one item in an existing DynamoDB table, under a partition key value the application never
    reads. It names its holder (free text such as user@host and pid), the time it was taken, what is
    being deployed, and when it expires.
  - C(state=present) takes the lease when it is free or expired, or renews it when I(token) already holds
    it (conditional writes, atomic in DynamoDB). When another holder has it, the module fails with a
    message naming that holder, since when, for what, and when the lease expires.
  - C(state=absent) releases the lease if I(token) holds it, and leaves another holder's lease alone.
  - I(break_lease=true) takes or removes the lease whoever holds it (an operator breaking a stale lease).
  - In check mode nothing is written; the module reports whether the lease could be taken.
  - Takes the same connection options as the amazon.aws modules (member of C(visitor_board.aws.aws)).
options:
  table:
    description: Name of the DynamoDB table holding the lease item.
    required: true
    type: str
  partition_key:
    description: Name of the table's partition key attribute (a string key).
    type: str
    default: pk
  sort_key:
    description: Name of the table's sort key attribute (a string key); empty when the table has none.
    type: str
    default: sk
  name:
    description: Which lease (one per deployment); the item's partition key value is C(deploy-lease#<name>).
    type: str
    default: visitor-board
  state:
    description: C(present) takes or renews the lease, C(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  token:
    description: Secret of this holder (one per run); only it renews or releases the lease.
    required: true
    type: str
    no_log: true
  holder:
    description: Who takes the lease, for the message another run shows (e.g. C(alice@laptop pid 4242)).
    type: str
    default: ""
  details:
    description: What is being done, for that message (e.g. C(site.yml, release 1.0.3)).
    type: str
    default: ""
  seconds:
    description: Lifetime of the lease in seconds from now (taken or renewed).
    type: int
    default: 900
  ttl_attribute:
    description: The table's TTL attribute; when set, the item also carries it (a day past the lease's
      expiry) so DynamoDB deletes forgotten leases by itself.
    type: str
    default: ""
  break_lease:
    description: Take (or release) the lease even when another holder has it and it has not expired.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - Visitor Board project
"""

EXAMPLES = r"""
- name: Take the deploy lease
  visitor_board.aws.deploy_lease:
    table: workshop_messages
    token: "{{ run_token }}"
    holder: "alice@laptop pid 4242"
    details: site.yml
    seconds: 900

- name: Release it
  visitor_board.aws.deploy_lease:
    table: workshop_messages
    token: "{{ run_token }}"
    state: absent
"""

RETURN = r"""
acquired:
  description: True when this run holds the lease afterwards (state=present).
  returned: success
  type: bool
renewed:
  description: True when the lease was already this token's and its expiry was moved.
  returned: success
  type: bool
released:
  description: True when this call deleted the lease (state=absent).
  returned: success
  type: bool
lease:
  description: The lease as stored after the call (holder, details, since, expires as ISO 8601 UTC), or the
    other holder's lease when it could not be taken; empty when there is none.
  returned: always
  type: dict
"""

import time
from datetime import UTC, datetime
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

# Throttling and 5xx only: a failed condition is an answer, never retried.
_RETRY = AWSRetry.jittered_backoff(retries=5)
_CONDITION_FAILED = "ConditionalCheckFailedException"
BREAK_VARIABLE = "visitor_board_deploy_lease_break"


def _iso(epoch: int | float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(params: dict[str, Any]) -> dict[str, Any]:
    key = {params["partition_key"]: {"S": f"deploy-lease#{params['name']}"}}
    if params["sort_key"]:
        key[params["sort_key"]] = {"S": "lease"}
    return key


def _describe(item: dict[str, Any] | None) -> dict[str, Any]:
    """The stored lease as plain values: holder, details, since and expires (ISO 8601 UTC), expires_in (s)."""
    if not item:
        return {}
    expires = int(item.get("lease_expires", {}).get("N", "0"))
    return {
        "holder": item.get("lease_holder", {}).get("S", "?"),
        "details": item.get("lease_details", {}).get("S", ""),
        "since": _iso(int(item.get("lease_since", {}).get("N", "0"))),
        "expires": _iso(expires),
        "expires_in": expires - int(time.time()),
    }


def _held_message(params: dict[str, Any], lease: dict[str, Any]) -> str:
    if not lease:
        return (
            f"deploy lease {params['name']} in table {params['table']} is held (it changed while reading it)"
        )
    return (
        f"Another rollout holds the deploy lease {params['name']!r} (table {params['table']}): "
        f"{lease['holder']}, since {lease['since']}, for {lease['details'] or 'an unnamed run'}; "
        f"it expires at {lease['expires']} (in {max(lease['expires_in'], 0)} s) unless renewed. "
        "Wait for that run to finish. If it is dead (killed, its machine gone), break the lease at once with "
        f"-e {BREAK_VARIABLE}=true, after making sure nothing is still deploying."
    )


def _read(client: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    return client.get_item(
        aws_retry=True, TableName=params["table"], Key=_key(params), ConsistentRead=True
    ).get("Item")


def _take(module: AnsibleAWSModule, client: Any) -> None:
    params = module.params
    now = int(time.time())
    expires = now + params["seconds"]
    current = _read(client, params)
    mine = bool(current) and current.get("lease_token", {}).get("S") == params["token"]
    free = not current or int(current.get("lease_expires", {}).get("N", "0")) < now
    if module.check_mode:
        if mine or free or params["break_lease"]:
            module.exit_json(
                changed=True, acquired=True, renewed=mine, released=False, lease=_describe(current)
            )
        module.fail_json(msg=_held_message(params, _describe(current)), lease=_describe(current))

    extra: dict[str, Any] = {}
    if params["ttl_attribute"]:
        extra[params["ttl_attribute"]] = {"N": str(expires + 86400)}
    try:
        # Renewal: only while the item still carries this run's token.
        updated = client.update_item(
            aws_retry=True,
            TableName=params["table"],
            Key=_key(params),
            UpdateExpression="SET lease_expires = :expires"
            + (", #ttl = :ttl" if params["ttl_attribute"] else ""),
            ConditionExpression="lease_token = :token",
            ExpressionAttributeValues={
                ":expires": {"N": str(expires)},
                ":token": {"S": params["token"]},
                **({":ttl": extra[params["ttl_attribute"]]} if params["ttl_attribute"] else {}),
            },
            **(
                {"ExpressionAttributeNames": {"#ttl": params["ttl_attribute"]}}
                if params["ttl_attribute"]
                else {}
            ),
            ReturnValues="ALL_NEW",
        )
        module.exit_json(
            changed=True, acquired=True, renewed=True, released=False, lease=_describe(updated["Attributes"])
        )
    except is_boto3_error_code(_CONDITION_FAILED):
        pass

    item = {
        **_key(params),
        "lease_token": {"S": params["token"]},
        "lease_holder": {"S": params["holder"] or "unnamed"},
        "lease_details": {"S": params["details"]},
        "lease_since": {"N": str(now)},
        "lease_expires": {"N": str(expires)},
        **extra,
    }
    condition: dict[str, Any] = {}
    if not params["break_lease"]:
        condition = {
            "ConditionExpression": "attribute_not_exists(#pk) OR lease_expires < :now",
            "ExpressionAttributeNames": {"#pk": params["partition_key"]},
            "ExpressionAttributeValues": {":now": {"N": str(now)}},
        }
    try:
        client.put_item(aws_retry=True, TableName=params["table"], Item=item, **condition)
    except is_boto3_error_code(_CONDITION_FAILED):
        lease = _describe(_read(client, params))
        module.fail_json(msg=_held_message(params, lease), lease=lease)
    module.exit_json(changed=True, acquired=True, renewed=False, released=False, lease=_describe(item))


def _release(module: AnsibleAWSModule, client: Any) -> None:
    params = module.params
    if module.check_mode:
        current = _read(client, params)
        module.exit_json(
            changed=bool(current), acquired=False, renewed=False, released=bool(current), lease={}
        )
    condition: dict[str, Any] = {}
    if not params["break_lease"]:
        condition = {
            "ConditionExpression": "lease_token = :token",
            "ExpressionAttributeValues": {":token": {"S": params["token"]}},
        }
    try:
        old = client.delete_item(
            aws_retry=True, TableName=params["table"], Key=_key(params), ReturnValues="ALL_OLD", **condition
        )
    except is_boto3_error_code(_CONDITION_FAILED):
        # Not ours (broken and taken by another run) or already gone: leave it as it is.
        lease = _describe(_read(client, params))
        module.exit_json(changed=False, acquired=False, renewed=False, released=False, lease=lease)
    module.exit_json(
        changed=bool(old.get("Attributes")),
        acquired=False,
        renewed=False,
        released=bool(old.get("Attributes")),
        lease={},
    )


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            table=dict(type="str", required=True),
            partition_key=dict(type="str", default="pk"),
            sort_key=dict(type="str", default="sk"),
            name=dict(type="str", default="visitor-board"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            token=dict(type="str", required=True, no_log=True),
            holder=dict(type="str", default=""),
            details=dict(type="str", default=""),
            seconds=dict(type="int", default=900),
            ttl_attribute=dict(type="str", default=""),
            break_lease=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if module.params["seconds"] < 1:
        module.fail_json(msg=f"seconds must be at least 1 (got {module.params['seconds']})")
    if len(module.params["token"]) < 8:
        module.fail_json(msg="token must be at least 8 characters: one unguessable value per run")
    client = module.client("dynamodb", retry_decorator=_RETRY)
    try:
        if module.params["state"] == "present":
            _take(module, client)
        else:
            _release(module, client)
    except is_boto3_error_code("ResourceNotFoundException") as e:
        if module.check_mode:
            # A dry run on an empty account: the table is only about to be created, so nobody can hold a
            # lease in it yet.
            module.exit_json(changed=True, acquired=True, renewed=False, released=False, lease={})
        module.fail_json_aws(
            e,
            msg=f"The deploy lease lives in DynamoDB table {module.params['table']}, which does not exist: "
            "create it first (site.yml's data tier play does)",
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(
            e,
            msg=f"Could not {'take' if module.params['state'] == 'present' else 'release'} the deploy "
            f"lease {module.params['name']} in table {module.params['table']}",
        )


if __name__ == "__main__":
    main()
