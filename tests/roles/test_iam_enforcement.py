"""The instance role's credentials may do what the app does and nothing else, with moto enforcing IAM.

moto checks ACTIONS only: it evaluates every DynamoDB and SSM request against resource "*", so a policy
scoped to the table's ARN (as the role's is) would deny everything there. The test therefore evaluates a
copy of the role's own policy with the same actions and Resource "*": what it shows is that the action
list is exactly the app's. That the resources are exactly the table, its indexes and the one parameter is
checked on the stored policy document (here and in the role's molecule verify).
"""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError
from roles_support import REGION

TABLE = "test_messages"
PARAMETER = "/visitor-board/test/secret-key"
ROLE = "visitor-board-app"
POLICY = "visitor-board-app"


def _client(service: str, moto_url: str, **creds: str):
    return boto3.client(service, endpoint_url=moto_url, region_name=REGION, **creds)


def _denied(call, *args, **kwargs) -> bool:
    """True if the call is refused by IAM (moto answers DynamoDB denials with an XML 403)."""
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and "AccessDenied" in str(exc)
    return False


@pytest.fixture
def role_credentials(moto_url: str, run_playbook) -> dict[str, str]:
    """Apply table, secret and IAM roles; assume the instance role; then switch moto's IAM checks on."""
    result = run_playbook("aws_stack.yml", {"test_aws_endpoint": moto_url})
    assert result.rc == 0, result.output

    iam = _client("iam", moto_url)
    document = iam.get_role_policy(RoleName=ROLE, PolicyName=POLICY)["PolicyDocument"]
    account = "123456789012"
    table_arn = f"arn:aws:dynamodb:{REGION}:{account}:table/{TABLE}"
    assert {tuple(s["Resource"]) for s in document["Statement"]} == {
        (table_arn,),
        (f"arn:aws:ssm:{REGION}:{account}:parameter{PARAMETER}",),
    }
    moto_copy = {
        "Version": document["Version"],
        "Statement": [{**s, "Resource": "*"} for s in document["Statement"]],
    }
    iam.put_role_policy(RoleName=ROLE, PolicyName=POLICY, PolicyDocument=json.dumps(moto_copy))

    role_arn = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    creds = _client("sts", moto_url).assume_role(RoleArn=role_arn, RoleSessionName="i-test")["Credentials"]

    # From here on every request needs credentials allowed by IAM.
    request = urllib.request.Request(
        f"{moto_url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def test_role_allows_the_app_actions_and_denies_the_rest(moto_url: str, role_credentials) -> None:
    dynamodb = _client("dynamodb", moto_url, **role_credentials)
    ssm = _client("ssm", moto_url, **role_credentials)
    item = {"pk": {"S": "board"}, "sk": {"S": "0000000000001#m1"}}

    # Allowed: exactly what the app does.
    assert dynamodb.describe_table(TableName=TABLE)["Table"]["TableName"] == TABLE
    dynamodb.put_item(TableName=TABLE, Item=item)
    assert dynamodb.get_item(TableName=TABLE, Key=item)["Item"] == item
    page = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "board"}},
        ScanIndexForward=False,
        Limit=20,
    )
    assert page["Items"] == [item]
    assert len(ssm.get_parameter(Name=PARAMETER, WithDecryption=True)["Parameter"]["Value"]) == 64

    # Denied: everything else, notably Scan and DeleteTable.
    assert _denied(dynamodb.scan, TableName=TABLE)
    assert _denied(dynamodb.delete_table, TableName=TABLE)
    assert _denied(dynamodb.delete_item, TableName=TABLE, Key=item)
    assert _denied(
        dynamodb.update_item,
        TableName=TABLE,
        Key=item,
        UpdateExpression="SET x = :x",
        ExpressionAttributeValues={":x": {"S": "y"}},
    )
    assert _denied(dynamodb.list_tables)
    assert _denied(ssm.put_parameter, Name=PARAMETER, Value="x", Type="SecureString", Overwrite=True)
    assert _denied(_client("iam", moto_url, **role_credentials).list_roles)
