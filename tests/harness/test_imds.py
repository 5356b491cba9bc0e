"""The metadata stand-in against a real moto server: per-instance identity, role credentials, IMDSv2."""

from __future__ import annotations

import http.client
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "localcloud"))
import imds
from loopback import free_port, start_moto

REGION = "eu-north-1"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture(scope="module")
def moto_url(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    proc = start_moto(port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    mp = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        mp.setenv(key, value)
    yield mp
    mp.undo()


def _instance(moto_url: str, name: str, address: str, tokens: str, subnet: str) -> str:
    iam = boto3.client("iam", endpoint_url=moto_url, region_name=REGION)
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=REGION)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    out = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        PrivateIpAddress=address,
        IamInstanceProfile={"Name": name},
        MetadataOptions={"HttpTokens": tokens},
    )
    return out["Instances"][0]["InstanceId"]


@pytest.fixture(scope="module")
def fleet(moto_url: str) -> Iterator[tuple[int, dict[str, str]]]:
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.0.0/24")["Subnet"]["SubnetId"]
    ids = {
        "127.0.0.11": _instance(moto_url, "role-a", "127.0.0.11", "required", subnet),
        "127.0.0.12": _instance(moto_url, "role-b", "127.0.0.12", "optional", subnet),
    }
    port = free_port()
    server = imds.serve(f"127.0.0.1:{port}", moto_url, REGION)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port, ids
    server.shutdown()


def _call(
    port: int, source: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, body


def _token(port: int, source: str) -> str:
    status, token = _call(port, source, "PUT", "/latest/api/token", {imds.TTL_HEADER: "60"})
    assert status == 200
    return token


def test_each_caller_gets_its_own_instance_identity(fleet: tuple[int, dict[str, str]]) -> None:
    port, ids = fleet
    for address, instance_id in ids.items():
        token = _token(port, address)
        status, body = _call(
            port, address, "GET", "/latest/meta-data/instance-id", {imds.TOKEN_HEADER: token}
        )
        assert (status, body) == (200, instance_id)
        status, zone = _call(
            port, address, "GET", "/latest/meta-data/placement/availability-zone", {imds.TOKEN_HEADER: token}
        )
        assert status == 200 and zone.startswith(REGION)


def test_imdsv2_token_required_when_the_instance_says_so(fleet: tuple[int, dict[str, str]]) -> None:
    port, _ = fleet
    assert _call(port, "127.0.0.11", "GET", "/latest/meta-data/instance-id")[0] == 401
    assert (
        _call(port, "127.0.0.11", "GET", "/latest/meta-data/instance-id", {imds.TOKEN_HEADER: "forged"})[0]
        == 401
    )
    assert _call(port, "127.0.0.12", "GET", "/latest/meta-data/instance-id")[0] == 200


def test_a_token_is_bound_to_the_caller_that_got_it(fleet: tuple[int, dict[str, str]]) -> None:
    port, _ = fleet
    token = _token(port, "127.0.0.12")
    status, _ = _call(port, "127.0.0.11", "GET", "/latest/meta-data/instance-id", {imds.TOKEN_HEADER: token})
    assert status == 401


def test_token_request_needs_a_valid_ttl(fleet: tuple[int, dict[str, str]]) -> None:
    port, _ = fleet
    assert _call(port, "127.0.0.11", "PUT", "/latest/api/token")[0] == 400
    assert _call(port, "127.0.0.11", "PUT", "/latest/api/token", {imds.TTL_HEADER: "999999"})[0] == 400


def test_unknown_callers_get_nothing(fleet: tuple[int, dict[str, str]]) -> None:
    port, _ = fleet
    assert _call(port, "127.0.0.99", "GET", "/latest/meta-data/instance-id")[0] == 403


def test_credentials_are_those_of_the_instance_role(fleet: tuple[int, dict[str, str]], moto_url: str) -> None:
    port, ids = fleet
    for address, role in (("127.0.0.11", "role-a"), ("127.0.0.12", "role-b")):
        token = _token(port, address)
        headers = {imds.TOKEN_HEADER: token}
        status, listed = _call(port, address, "GET", "/latest/meta-data/iam/security-credentials/", headers)
        assert (status, listed) == (200, role)
        status, body = _call(
            port, address, "GET", f"/latest/meta-data/iam/security-credentials/{role}", headers
        )
        creds = json.loads(body)
        assert status == 200 and creds["Code"] == "Success"
        sts = boto3.client(
            "sts",
            endpoint_url=moto_url,
            region_name=REGION,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["Token"],
        )
        arn = sts.get_caller_identity()["Arn"]
        assert arn.endswith(f"assumed-role/{role}/{ids[address]}")
