"""The stand-ins of one Molecule scenario, started and stopped by its create/destroy playbooks.

Two shapes:
- `moto-start STATE` / `moto-stop STATE`: the AWS roles' scenarios. moto on a free loopback port; its URL
  is printed and written to STATE/moto.url, where converge and verify read it.
- `acme-start` / `acme-stop` with `--state DIR --gateway ADDR`: the TLS role's scenario. The ACME CA
  (localcloud.acme) on the gateway at :14010 (pebble itself and its management API on loopback ports of
  their own, 14011 and 15010, so a running fleet's CA is not in the way); its listener certificate in
  DIR/acme/listener.pem.
- `start` / `register` / `stop` with `--gateway ADDR`: the host role's scenario. moto and the metadata
  service listen on the gateway of the scenario's podman network, where the host containers reach them as
  they would reach AWS and the instance metadata service. `register` makes each host an EC2 instance in
  moto (its own address as PrivateIpAddress, the key pair, an instance profile, IMDSv2 required) BEFORE
  its machine boots, as on EC2: cloud-init on the host then gets its identity and SSH key from the
  metadata service, and the app gets the instance role's credentials; no host ever holds an AWS key. The
  table, the secret and the instance role are made by the real roles, not here.

Each `start` first stops what an aborted run left behind (found by its pid file, or by the port and the
command line), so no separate clean-up is needed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import boto3

from . import awsenv, moto_server
from .network import Network
from .ports import free_port
from .processes import Service, ServiceError, listener_pids, terminate

MOTO_PORT = 5000
METADATA_PORT = 1338
METADATA_BOOT_PORT = 1339


def _moto(state: Path, host: str, port: int) -> Service:
    return Service("moto", "moto_server", ("-H", host, "-p", str(port)), state, (host, port))


def _metadata(state: Path, gateway: str) -> Service:
    args = (
        "--listen",
        f"{gateway}:{METADATA_PORT}",
        "--boot-listen",
        f"{gateway}:{METADATA_BOOT_PORT}",
        "--moto",
        f"http://{gateway}:{MOTO_PORT}",
        "--region",
        awsenv.REGION,
    )
    return Service("metadata", "metadata", args, state, (gateway, METADATA_PORT))


ACME_PORT = 14010
ACME_PEBBLE = ("127.0.0.1", 14011)
ACME_MANAGEMENT = ("127.0.0.1", 15010)


def _acme(state: Path, gateway: str) -> Service:
    args = (
        "--listen",
        f"{gateway}:{ACME_PORT}",
        "--state",
        str(state / "acme"),
        "--pebble",
        "{}:{}".format(*ACME_PEBBLE),
        "--management",
        "{}:{}".format(*ACME_MANAGEMENT),
    )
    return Service("acme", "acme", args, state, (gateway, ACME_PORT))


def acme_start(state: Path, gateway: str) -> None:
    acme_stop(state, gateway)
    state.mkdir(parents=True, exist_ok=True)
    _acme(state, gateway).start(_env())


def acme_stop(state: Path, gateway: str) -> None:
    service = _acme(state, gateway)
    service.stop()
    for pid in listener_pids(gateway, ACME_PORT, service.module):
        terminate(pid, service.module)


def _env() -> dict[str, str]:
    return awsenv.fake_aws_env(MOTO_AMIS_PATH=str(moto_server.AMIS_PATH), PYTHONUNBUFFERED="1")


def moto_start(state: Path) -> str:
    moto_stop(state)
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # moto's own AMI catalogue here (the AWS roles' scenarios look images up in it), not the fleet's.
    _moto(state, "127.0.0.1", port).start(awsenv.fake_aws_env(PYTHONUNBUFFERED="1"))
    url = f"http://127.0.0.1:{port}"
    (state / "moto.url").write_text(url + "\n")
    return url


def moto_stop(state: Path) -> bool:
    url_file = state / "moto.url"
    port = int(url_file.read_text().rsplit(":", 1)[1]) if url_file.exists() else 0
    stopped = _moto(state, "127.0.0.1", port).stop()
    url_file.unlink(missing_ok=True)
    return stopped


def start(state: Path, gateway: str, network: Network | None = None) -> None:
    stop(state, gateway)
    state.mkdir(parents=True, exist_ok=True)
    if network is not None:
        network.hold()
    for service in (_moto(state, gateway, MOTO_PORT), _metadata(state, gateway)):
        service.start(_env())


def stop(state: Path, gateway: str, network: Network | None = None) -> None:
    for service in (_metadata(state, gateway), _moto(state, gateway, MOTO_PORT)):
        service.stop()
        # One an earlier run left behind after its state directory was reset (molecule does that).
        for pid in listener_pids(gateway, service.listen[1], service.module):  # type: ignore[index]
            terminate(pid, service.module)
    (state / "instances.json").unlink(missing_ok=True)
    if network is not None:
        network.release()


def register(
    state: Path,
    gateway: str,
    subnet_cidr: str,
    profile: str,
    key_name: str,
    public_key: str,
    hosts: dict[str, str],
) -> dict[str, str]:
    """One moto EC2 instance per host (NAME -> IP) in a VPC/subnet of `subnet_cidr`; returns and writes
    STATE/instances.json (NAME -> instance id). Idempotent per state directory."""
    instances_file = state / "instances.json"
    if instances_file.exists():
        return dict(json.loads(instances_file.read_text()))
    ec2 = boto3.client(
        "ec2",
        endpoint_url=f"http://{gateway}:{MOTO_PORT}",
        region_name=awsenv.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto's fake key
    )
    vpc = ec2.create_vpc(CidrBlock=subnet_cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    # The key pair cloud-init installs for `admin` at first boot (from the metadata service).
    ec2.import_key_pair(KeyName=key_name, PublicKeyMaterial=public_key.encode())
    instances: dict[str, str] = {}
    # One run_instances per host: moto attaches the instance profile to the first instance only.
    for name, address in sorted(hosts.items()):
        instance = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            KeyName=key_name,
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
            raise SystemExit(f"scenario: moto gave {name} {instance.get('PrivateIpAddress')}, not {address}")
        instances[name] = instance["InstanceId"]
    instances_file.write_text(json.dumps(instances, indent=2))
    return instances


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("moto-start", "moto-stop"):
        commands.add_parser(name).add_argument("state", type=Path)
    for name in ("start", "stop", "register", "acme-start", "acme-stop"):
        sub = commands.add_parser(name)
        sub.add_argument("--state", type=Path, required=True)
        sub.add_argument("--gateway", required=True, help="the scenario network's gateway address")
    for name in ("start", "stop"):
        commands.choices[name].add_argument(
            "--network",
            metavar="NAME=SUBNET",
            help="the podman network whose bridge to hold up while it runs",
        )
    reg = commands.choices["register"]
    reg.add_argument("--subnet", required=True, help="CIDR of the scenario network (the instances' subnet)")
    reg.add_argument("--profile", required=True, help="instance profile of the instances")
    reg.add_argument("--key-name", required=True, help="name of the EC2 key pair to import")
    reg.add_argument("--public-key", type=Path, required=True, help="OpenSSH public key file of the key pair")
    reg.add_argument("--host", action="append", required=True, help="NAME=IP, once per host")
    args = parser.parse_args(argv)
    try:
        if args.command == "moto-start":
            print(moto_start(args.state))
        elif args.command == "moto-stop":
            print("stopped" if moto_stop(args.state) else "not running")
        elif args.command in ("acme-start", "acme-stop"):
            (acme_start if args.command == "acme-start" else acme_stop)(args.state, args.gateway)
        elif args.command in ("start", "stop"):
            network = Network(*args.network.split("=", 1)) if args.network else None
            (start if args.command == "start" else stop)(args.state, args.gateway, network)
        else:
            hosts = dict(h.split("=", 1) for h in args.host)
            found = register(
                args.state,
                args.gateway,
                args.subnet,
                args.profile,
                args.key_name,
                args.public_key.read_text().strip(),
                hosts,
            )
            print(json.dumps(found, indent=2))
    except ServiceError as err:
        raise SystemExit(f"scenario: {err}") from None


if __name__ == "__main__":
    main()
