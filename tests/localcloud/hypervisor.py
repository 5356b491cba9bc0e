"""The local fleet's "hypervisor": one Podman systemd host per EC2 instance that moto says is running.

EC2 boots a machine when run_instances is called; moto only records the instance. This loop closes the
gap: it polls moto's DescribeInstances and makes the set of host containers match it. An instance that is
pending/running gets a container from the host image with the instance's own private address on the fleet
network and its private DNS name as hostname (so the metadata stand-in, which tells callers apart by
source address, sees a real EC2-like host). As on EC2, the image knows nothing of the instance: cloud-init
inside it asks the metadata service at `instance-data` (mapped here to the stand-in) for the instance id,
the key pair's SSH key and the user data at first boot. A stopped instance's container is stopped, a
terminated instance's container is removed.

When moto does not answer (for example while a test pauses it to take the data tier away) the loop keeps
every container as it is: an unreachable control plane never terminates machines.

Usage: python tests/localcloud/hypervisor.py --moto http://172.31.0.1:5000 --region eu-north-1
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import signal
import subprocess
import time
from dataclasses import dataclass
from types import FrameType

import boto3
from botocore.config import Config

LOG = logging.getLogger("hypervisor")
LABEL = "org.visitor-board.instance-id"
NAME_PREFIX = "vb-"
RUNNING_STATES = {"pending", "running"}
STOPPED_STATES = {"stopping", "stopped"}


@dataclass(frozen=True)
class Instance:
    instance_id: str
    state: str
    private_ip: str | None
    private_dns_name: str | None


@dataclass(frozen=True)
class Host:
    name: str
    instance_id: str
    running: bool


@dataclass(frozen=True)
class Settings:
    moto_url: str
    region: str
    image: str
    network: str
    subnet: ipaddress.IPv4Network
    metadata_address: str
    interval: float


def describe_instances(client: object) -> list[Instance]:
    found: list[Instance] = []
    for page in client.get_paginator("describe_instances").paginate():  # type: ignore[attr-defined]
        for reservation in page["Reservations"]:
            for item in reservation["Instances"]:
                found.append(
                    Instance(
                        item["InstanceId"],
                        item["State"]["Name"],
                        item.get("PrivateIpAddress"),
                        item.get("PrivateDnsName") or None,
                    )
                )
    return found


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], check=check, capture_output=True, text=True)


def list_hosts() -> dict[str, Host]:
    out = podman("ps", "-a", "--filter", f"label={LABEL}", "--format", "json").stdout
    hosts: dict[str, Host] = {}
    for item in json.loads(out or "[]"):
        instance_id = item["Labels"][LABEL]
        hosts[instance_id] = Host(item["Names"][0], instance_id, item["State"] == "running")
    return hosts


def boot(settings: Settings, instance: Instance) -> None:
    name = NAME_PREFIX + instance.instance_id
    LOG.info("booting %s at %s", name, instance.private_ip)
    podman(
        "run",
        "--detach",
        "--name",
        name,
        # EC2's DNS resolves the private DNS name; podman writes the hostname into the host's /etc/hosts.
        "--hostname",
        instance.private_dns_name or instance.instance_id,
        # EC2's DNS resolves `instance-data` to the metadata service; here it is the stand-in.
        "--add-host",
        f"instance-data:{settings.metadata_address}",
        "--network",
        settings.network,
        "--ip",
        str(instance.private_ip),
        # DynamicUser= and namespacing directives in hardened units need it under podman.
        "--cap-add",
        "SYS_ADMIN",
        # `systemctl reboot` inside the host ends PID 1; EC2 brings a rebooted machine back.
        "--restart",
        "always",
        "--stop-timeout",
        "10",
        "--label",
        f"{LABEL}={instance.instance_id}",
        settings.image,
    )


def reconcile(settings: Settings, instances: list[Instance], warned: set[str]) -> None:
    hosts = list_hosts()
    wanted = {i.instance_id: i for i in instances}
    for instance in instances:
        host = hosts.get(instance.instance_id)
        if instance.state in RUNNING_STATES:
            if (
                instance.private_ip is None
                or ipaddress.ip_address(instance.private_ip) not in settings.subnet
            ):
                # Without a subnet moto invents a 10.x address; such a host could not be reached or
                # recognised by the metadata stand-in, so it is left unbooted (and said so once).
                if instance.instance_id not in warned:
                    warned.add(instance.instance_id)
                    LOG.warning(
                        "%s has no address on %s (%s): not booted",
                        instance.instance_id,
                        settings.subnet,
                        instance.private_ip,
                    )
            elif host is None:
                boot(settings, instance)
            elif not host.running:
                LOG.info("starting %s", host.name)
                podman("start", host.name)
        elif instance.state in STOPPED_STATES and host is not None and host.running:
            LOG.info("stopping %s (instance %s)", host.name, instance.state)
            podman("stop", host.name)
        elif instance.state in {"shutting-down", "terminated"} and host is not None:
            LOG.info("removing %s (instance %s)", host.name, instance.state)
            podman("rm", "--force", host.name)
    # Hosts of instances moto no longer knows (moto restarted with an empty account) are gone as well.
    for instance_id, host in hosts.items():
        if instance_id not in wanted:
            LOG.info("removing %s (instance unknown to moto)", host.name)
            podman("rm", "--force", host.name)


def run(settings: Settings) -> None:
    client = boto3.client(
        "ec2",
        region_name=settings.region,
        endpoint_url=settings.moto_url,
        aws_access_key_id="hypervisor",
        aws_secret_access_key="hypervisor",
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    moto_down = False
    warned: set[str] = set()
    while not stopping:
        try:
            instances = describe_instances(client)
        except Exception as exc:  # moto paused, restarting or not up yet: keep every host as it is
            if not moto_down:
                LOG.warning("moto not answering (%s); hosts left as they are", exc)
            moto_down = True
        else:
            if moto_down:
                LOG.info("moto answering again")
            moto_down = False
            try:
                reconcile(settings, instances, warned)
            except subprocess.CalledProcessError as exc:
                LOG.error("%s failed: %s", " ".join(exc.cmd[:2]), exc.stderr.strip())
        time.sleep(settings.interval)
    LOG.info("hypervisor stopped; hosts left running (fleet.py down removes them)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto", required=True, help="URL of the moto server that holds the instances")
    parser.add_argument("--region", default="eu-north-1")
    parser.add_argument("--image", default="localhost/visitor-board-host:bookworm")
    parser.add_argument("--network", default="visitor-board")
    parser.add_argument("--subnet", default="172.31.0.0/16", help="addresses the network can give hosts")
    parser.add_argument(
        "--metadata-address",
        default="172.31.0.1",
        help="address of the metadata stand-in, given to hosts as `instance-data`",
    )
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings(
        args.moto,
        args.region,
        args.image,
        args.network,
        ipaddress.ip_network(args.subnet),
        args.metadata_address,
        args.interval,
    )
    LOG.info(
        "hypervisor watching %s (%s) -> %s on %s",
        settings.moto_url,
        settings.region,
        settings.image,
        settings.network,
    )
    run(settings)


if __name__ == "__main__":
    main()
