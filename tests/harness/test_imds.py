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
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheMetadataStandInTestOnly0000000 fleet"
USER_DATA = "#cloud-config\nruncmd:\n  - [echo, hello]\n"
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


def _instance(moto_url: str, name: str, address: str, tokens: str, subnet: str, **extra: str) -> str:
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
        **extra,
    )
    return out["Instances"][0]["InstanceId"]


@pytest.fixture(scope="module")
def fleet(moto_url: str) -> Iterator[tuple[int, dict[str, str]]]:
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.0.0/24")["Subnet"]["SubnetId"]
    ec2.import_key_pair(KeyName="fleet-key", PublicKeyMaterial=PUBLIC_KEY.encode())
    ids = {
        "127.0.0.11": _instance(moto_url, "role-a", "127.0.0.11", "required", subnet),
        "127.0.0.12": _instance(moto_url, "role-b", "127.0.0.12", "optional", subnet),
        "127.0.0.13": _instance(
            moto_url, "role-c", "127.0.0.13", "required", subnet, KeyName="fleet-key", UserData=USER_DATA
        ),
    }
    port, boot_port = free_port(), free_port()
    servers = imds.serve(f"127.0.0.1:{port}", moto_url, REGION, boot_listen=f"127.0.0.1:{boot_port}")
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    _BOOT_PORTS[port] = boot_port
    yield port, ids
    for server in servers:
        server.shutdown()


_BOOT_PORTS: dict[int, int] = {}


def fleet_boot_port(port: int) -> int:
    return _BOOT_PORTS[port]


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


def _crawl(port: int, source: str, headers: dict[str, str], url: str) -> dict[str, object]:
    """Walk a listing the way cloud-init's EC2 datasource does (cloudinit/sources/helpers/ec2.py,
    MetadataMaterializer): `name/` is a subtree, `N=name` a public key read from `N/openssh-key`."""
    status, listing = _call(port, source, "GET", url, headers)
    assert status == 200, (url, status, listing)
    tree: dict[str, object] = {}
    for line in listing.splitlines():
        if line.endswith("/"):
            tree[line[:-1]] = _crawl(port, source, headers, url + line)
        elif "=" in line:
            index, name = line.split("=", 1)
            status, tree[name] = _call(port, source, "GET", f"{url}{index}/openssh-key", headers)
            assert status == 200
        else:
            status, tree[line] = _call(port, source, "GET", url + line, headers)
            assert status == 200, (url + line, status)
    return tree


def test_cloud_init_can_crawl_the_metadata_tree(fleet: tuple[int, dict[str, str]]) -> None:
    """What cloud-init's EC2 datasource reads at boot: a dated API version, the whole meta-data tree
    (credentials excepted, as cloud-init skips them), the key pair's public key and the user data."""
    port, ids = fleet
    headers = {imds.TOKEN_HEADER: _token(port, "127.0.0.13")}
    status, instance_id = _call(port, "127.0.0.13", "GET", "/2021-03-23/meta-data/instance-id", headers)
    assert (status, instance_id) == (200, ids["127.0.0.13"])
    tree = _crawl(port, "127.0.0.13", headers, "/2021-03-23/meta-data/")
    assert tree["instance-id"] == ids["127.0.0.13"]
    assert tree["local-ipv4"] == "127.0.0.13"
    assert tree["public-keys"] == {"fleet-key": PUBLIC_KEY}
    assert tree["placement"]["availability-zone"].startswith(REGION)  # type: ignore[index]
    assert _call(port, "127.0.0.13", "GET", "/2021-03-23/user-data", headers) == (200, USER_DATA)
    status, document = _call(
        port, "127.0.0.13", "GET", "/2021-03-23/dynamic/instance-identity/document", headers
    )
    assert status == 200 and json.loads(document)["instanceId"] == ids["127.0.0.13"]


def test_no_user_data_and_no_key_is_404_as_on_ec2(fleet: tuple[int, dict[str, str]]) -> None:
    port, _ = fleet
    headers = {imds.TOKEN_HEADER: _token(port, "127.0.0.11")}
    assert _call(port, "127.0.0.11", "GET", "/latest/user-data", headers)[0] == 404
    assert _call(port, "127.0.0.11", "GET", "/latest/meta-data/public-keys/", headers)[0] == 404
    assert _call(port, "127.0.0.11", "GET", "/nonsense/meta-data/instance-id", headers)[0] == 404


def test_the_boot_endpoint_serves_cloud_init_without_a_token_but_never_credentials(
    fleet: tuple[int, dict[str, str]],
) -> None:
    """cloud-init in a container cannot identify EC2 and so reads token-less: it is given the boot
    endpoint, which answers its boot-time reads only; credentials there are 404, and the main endpoint
    still refuses token-less reads."""
    port, ids = fleet
    boot_port = fleet_boot_port(port)
    assert _call(boot_port, "127.0.0.13", "GET", "/2009-04-04/meta-data/instance-id") == (
        200,
        ids["127.0.0.13"],
    )
    assert _call(boot_port, "127.0.0.13", "GET", "/2009-04-04/user-data") == (200, USER_DATA)
    for path in ("security-credentials/", "security-credentials/role-c"):
        assert _call(boot_port, "127.0.0.13", "GET", "/latest/meta-data/iam/" + path)[0] == 404
    assert _call(boot_port, "127.0.0.99", "GET", "/latest/meta-data/instance-id")[0] == 403
    assert _call(port, "127.0.0.13", "GET", "/latest/meta-data/instance-id")[0] == 401
