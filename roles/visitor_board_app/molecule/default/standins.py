"""Start and stop the AWS stand-ins of the molecule scenario (moto, the metadata stand-in) and register the
host containers as EC2 instances in moto.

The stand-ins listen on the gateway of the scenario's podman network, so the host containers reach them as
they would reach AWS and the instance metadata service. The table, the secret and the instance role are NOT
made here: prepare.yml applies the real roles (visitor_board_table, visitor_board_secret, visitor_board_iam)
against this moto. `register` then makes each container an "EC2 instance" in moto with its own address as
PrivateIpAddress, that role's instance profile and IMDSv2 required: the metadata stand-in hands each host the
temporary credentials of the instance role, and no host ever holds a key.

Process launching (`start`, `stop`) is kept apart from the registration so the local cloud's process
supervisor can take it over.

Usage:
    python standins.py start --state DIR --repo REPO
    python standins.py register --state DIR --profile NAME --host NAME=IP [--host NAME=IP ...]
    python standins.py stop --state DIR
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

GATEWAY = "10.89.77.1"
MOTO_PORT = 5000
IMDS_PORT = 1338
IMDS_BOOT_PORT = 1339
KEY_NAME = "visitor-board-molecule"
REGION = "eu-north-1"
VPC_CIDR = "10.89.0.0/16"
SUBNET_CIDR = "10.89.77.0/24"
MOTO_URL = f"http://{GATEWAY}:{MOTO_PORT}"

# The stand-ins and this script talk to moto only, with moto's fake keys; never to AWS or a real IMDS.
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def wait_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"standins: nothing listens on {host}:{port} after {timeout:.0f} s")


def spawn(state: Path, name: str, argv: list[str]) -> None:
    pidfile = state / f"{name}.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), 0)
            return  # still running from an earlier prepare
        except (OSError, ValueError):
            pidfile.unlink()
    log = (state / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **FAKE_ENV},
        start_new_session=True,
    )
    pidfile.write_text(str(proc.pid))


def client(service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=MOTO_URL,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake key
    )


def register(state: Path, profile: str, hosts: dict[str, str], public_key: str) -> None:
    """Run one moto EC2 instance per host, at the host's address; instances.json maps name -> instance id."""
    instances_file = state / "instances.json"
    if not instances_file.exists():
        ec2 = client("ec2")
        vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR)["Subnet"]["SubnetId"]
        image = ec2.describe_images()["Images"][0]["ImageId"]
        # The key pair cloud-init installs for `admin` at first boot (from the metadata stand-in).
        ec2.import_key_pair(KeyName=KEY_NAME, PublicKeyMaterial=public_key.encode())
        instances: dict[str, str] = {}
        # One run_instances per host: moto attaches the instance profile to the first instance only.
        for name, address in sorted(hosts.items()):
            instance = ec2.run_instances(
                ImageId=image,
                MinCount=1,
                MaxCount=1,
                InstanceType="t3.micro",
                KeyName=KEY_NAME,
                SubnetId=subnet,
                PrivateIpAddress=address,
                IamInstanceProfile={"Name": profile},
                MetadataOptions={
                    "HttpTokens": "required",
                    "HttpPutResponseHopLimit": 1,
                    "HttpEndpoint": "enabled",
                },
                TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
            )["Instances"][0]
            if instance.get("PrivateIpAddress") != address:
                raise SystemExit(
                    f"standins: moto gave {name} {instance.get('PrivateIpAddress')}, not {address}"
                )
            instances[name] = instance["InstanceId"]
        instances_file.write_text(json.dumps(instances, indent=2))
    print(instances_file.read_text())


def start(state: Path, repo: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    spawn(
        state,
        "moto",
        [sys.executable, str(repo / "tests/localcloud/motoserver.py"), "-H", GATEWAY, "-p", str(MOTO_PORT)],
    )
    wait_port(GATEWAY, MOTO_PORT)
    spawn(
        state,
        "imds",
        [
            sys.executable,
            str(repo / "tests/localcloud/imds.py"),
            "--listen",
            f"{GATEWAY}:{IMDS_PORT}",
            "--boot-listen",
            f"{GATEWAY}:{IMDS_BOOT_PORT}",
            "--moto",
            MOTO_URL,
            "--region",
            REGION,
        ],
    )
    wait_port(GATEWAY, IMDS_PORT)


def listener_pid(port: int) -> int | None:
    """The pid of the process listening on GATEWAY:port, if it is one of our stand-ins."""
    out = subprocess.run(
        ["ss", "-Hltnp", f"src {GATEWAY}:{port}"], capture_output=True, text=True, check=False
    ).stdout
    for token in out.replace(",", " ").split():
        if token.startswith("pid="):
            pid = int(token[4:])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            if "motoserver.py" in cmdline or "imds.py" in cmdline:
                return pid
    return None


def terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def stop(state: Path) -> None:
    for name, port in (("imds", IMDS_PORT), ("moto", MOTO_PORT)):
        pidfile = state / f"{name}.pid"
        if pidfile.exists():
            terminate(int(pidfile.read_text()))
            pidfile.unlink()
        # A stand-in of an earlier run whose state directory is gone (molecule resets it) still holds the
        # port: stop it too, found by the port and recognised by its command line.
        stale = listener_pid(port)
        if stale is not None:
            terminate(stale)
    (state / "instances.json").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "register", "stop"])
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--repo", type=Path, help="the repository (start)")
    parser.add_argument("--profile", help="instance profile of the instances (register)")
    parser.add_argument("--host", action="append", default=[], help="NAME=IP (register)")
    parser.add_argument("--public-key", type=Path, help="OpenSSH public key file of the key pair (register)")
    args = parser.parse_args()
    if args.action == "start":
        if args.repo is None:
            parser.error("start needs --repo")
        start(args.state, args.repo.resolve())
    elif args.action == "register":
        if not args.profile or not args.host or not args.public_key:
            parser.error("register needs --profile, --public-key and at least one --host NAME=IP")
        hosts = dict(h.split("=", 1) for h in args.host)
        register(args.state, args.profile, hosts, args.public_key.read_text().strip())
    else:
        stop(args.state)


if __name__ == "__main__":
    main()
