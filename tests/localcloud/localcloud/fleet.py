"""The local cloud for Visitor Board: AWS (moto), instance metadata and EC2 hosts on this one machine.

`up` brings up, re-using whatever already runs:
  - the podman network `visitor-board` (172.31.0.0/16, moto's default VPC) with its bridge held up by a
    tiny pause pod, so the gateway address 172.31.0.1 exists before any host runs and stays while hosts
    come and go (netavark deletes a bridge, even one made by hand, when its last container stops);
  - a blackhole route for the fleet subnet below the bridge's own route: if the bridge is ever gone,
    traffic for 172.31.x fails at once instead of leaving through the default route;
  - the fleet moto at http://172.31.0.1:5000 with a Debian 12 AMI catalogue (localcloud/amis.json)
    so an AMI lookup by Debian's owner and name works as on AWS;
  - the metadata stand-in at http://172.31.0.1:1338 (and its boot endpoint for cloud-init at :1339);
  - the ACME CA (localcloud.acme: pebble, shaped like Let's Encrypt) at https://172.31.0.1:14000/dir, its
    listener certificate in acme/listener.pem and its issuing root at https://127.0.0.1:15000/roots/0;
  - the instance runner that boots one systemd host container per running instance;
  - the load balancer at http://172.31.0.1:8080: HAProxy following moto's ELBv2 (localcloud.load_balancer),
    the address that stands for an Application Load Balancer's DNS name.
`down` stops all of it (hosts first). `status` prints what runs and each host's URL.

State (pids, logs, the SSH key) lives in .localcloud/ of the current directory (the repository, when run
by `make demo`); VB_LOCALCLOUD_DIR overrides it.

Usage: python -m localcloud.fleet {up,down,status}
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from . import awsenv, moto_server, target_health
from .haproxy import Process
from .instance_runner import LABEL as HOST_LABEL
from .network import Network
from .ports import port_open
from .processes import (
    Service,
    ServiceError,
    arguments,
    listener_pids,
    listening_pids,
    module_pids,
    stop_process,
    terminate,
)

STATE = Path(os.environ.get("VB_LOCALCLOUD_DIR", Path.cwd() / ".localcloud"))

NETWORK = "visitor-board"
SUBNET = "172.31.0.0/16"
GATEWAY = "172.31.0.1"
REGION = awsenv.REGION
MOTO_PORT = 5000
IMDS_PORT = 1338
IMDS_BOOT_PORT = 1339
ACME_PORT = 14000
MOTO_URL = f"http://{GATEWAY}:{MOTO_PORT}"
IMDS_URL = f"http://{GATEWAY}:{IMDS_PORT}"
ACME_DIRECTORY = f"https://{GATEWAY}:{ACME_PORT}/dir"
LB_PORT = 8080
LB_URL = f"http://{GATEWAY}:{LB_PORT}/"
LB_STATE = STATE / "lb"
IMAGE = "localhost/visitor-board-host:bookworm"
# The pause pod that holds the bridge sits at 172.31.255.254, outside every default subnet moto hands out.
FLEET_NETWORK = Network(NETWORK, SUBNET)
SSH_KEY = STATE / "ssh" / "id_ed25519"
# The ACME CA's listener certificate (hosts trust it) and pebble's configuration.
ACME_STATE = STATE / "acme"

SERVICES = (
    Service("moto", "moto_server", ("-H", GATEWAY, "-p", str(MOTO_PORT)), STATE, (GATEWAY, MOTO_PORT)),
    Service(
        "metadata",
        "metadata",
        (
            "--listen",
            f"{GATEWAY}:{IMDS_PORT}",
            "--boot-listen",
            f"{GATEWAY}:{IMDS_BOOT_PORT}",
            "--moto",
            MOTO_URL,
            "--region",
            REGION,
        ),
        STATE,
        (GATEWAY, IMDS_PORT),
    ),
    Service(
        "acme",
        "acme",
        ("--listen", f"{GATEWAY}:{ACME_PORT}", "--state", str(ACME_STATE)),
        STATE,
        (GATEWAY, ACME_PORT),
    ),
    Service(
        "instance-runner",
        "instance_runner",
        ("--moto", MOTO_URL, "--region", REGION, "--image", IMAGE, "--metadata-address", GATEWAY),
        STATE,
    ),
    Service(
        "load-balancer",
        "load_balancer",
        (
            "--listen",
            f"{GATEWAY}:{LB_PORT}",
            "--moto",
            MOTO_URL,
            "--region",
            REGION,
            "--state",
            str(LB_STATE),
        ),
        STATE,
        (GATEWAY, LB_PORT),
    ),
)


def log(message: str) -> None:
    print(f"fleet: {message}", flush=True)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


def service_env() -> dict[str, str]:
    """The fleet's own services: fake keys, moto loaded with the Debian AMI catalogue and answering target
    health from the load balancer's report."""
    return awsenv.fake_aws_env(
        MOTO_AMIS_PATH=str(moto_server.AMIS_PATH),
        PYTHONUNBUFFERED="1",
        **{target_health.ENV: str(LB_STATE / "target-health.json")},
    )


# --- network --------------------------------------------------------------------------------------------


def ensure_network() -> None:
    if FLEET_NETWORK.hold():
        log(f"bridge of {NETWORK} held up by pod {FLEET_NETWORK.bridge_pod} ({GATEWAY})")


def remove_bridge_pod() -> None:
    if FLEET_NETWORK.release():
        log(f"pod {FLEET_NETWORK.bridge_pod} removed")


# --- hosts ----------------------------------------------------------------------------------------------


def hosts() -> list[dict[str, str]]:
    out = run("podman", "ps", "-a", "--filter", f"label={HOST_LABEL}", "--format", "json").stdout
    found = []
    for item in json.loads(out or "[]"):
        name = item["Names"][0]
        address = run(
            "podman",
            "inspect",
            name,
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            check=False,
        ).stdout.strip()
        found.append(
            {
                "instance_id": item["Labels"][HOST_LABEL],
                "name": name,
                "state": item["State"],
                "address": address,
            }
        )
    return sorted(found, key=lambda h: tuple(int(p) for p in (h["address"] or "0.0.0.0").split(".")))


def ssh(address: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`command` on the fleet host at `address`, as `admin` with the fleet's key (hosts get new host keys on
    every boot at re-used addresses: no known_hosts). Never raises on the command's exit status."""
    return subprocess.run(
        [
            "ssh", "-i", str(SSH_KEY),
            "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=5", "-o", "BatchMode=yes",
            f"admin@{address}", command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )  # fmt: skip


def remove_hosts() -> None:
    for host in hosts():
        run("podman", "rm", "--force", "--time", "5", host["name"], check=False)
        log(f"host {host['name']} removed")


# --- commands -------------------------------------------------------------------------------------------


def ensure_ssh_key() -> None:
    """The operator's SSH key pair. site.yml imports its public half as the EC2 key pair; cloud-init on
    each host installs it for `admin` from the metadata service, as on AWS (the image holds no key)."""
    if SSH_KEY.exists() and SSH_KEY.with_suffix(".pub").exists():
        return
    SSH_KEY.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    SSH_KEY.unlink(missing_ok=True)
    SSH_KEY.with_suffix(".pub").unlink(missing_ok=True)
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "visitor-board-localcloud", "-f", str(SSH_KEY))
    log(f"SSH key pair {SSH_KEY} generated")


def up() -> None:
    """Host fixes, packages and the image come first (`make setup`); this brings up what runs."""
    STATE.mkdir(parents=True, exist_ok=True)
    ensure_ssh_key()
    ensure_network()
    for service in SERVICES:
        try:
            pid = service.start(service_env())
        except ServiceError as err:
            raise SystemExit(f"fleet: {err}") from None
        where = f" on {service.listen[0]}:{service.listen[1]}" if service.listen else ""
        log(f"{service.name} running{where} (pid {pid})")
    status()


def down() -> None:
    """Stops the fleet, also one started from another checkout (another state directory): the network,
    its addresses and ports are one per machine, so its services are found by their command lines too."""
    # The instance runner first, so it does not boot again what is being removed.
    runner = next(s for s in SERVICES if s.module == "instance_runner")
    for service in (runner, *(s for s in SERVICES[::-1] if s is not runner)):
        stopped = service.stop()
        strays = (
            listener_pids(*service.listen, service.module)
            if service.listen
            else module_pids(service.module, MOTO_URL)
        )
        for pid in strays:
            terminate(pid, service.module)
            stopped = True
        if stopped:
            log(f"{service.name} stopped")
        if service is runner:
            remove_hosts()
    # A load balancer follower killed outright leaves its HAProxy holding the listener: found by pid file,
    # or, for one from another checkout, by the port it holds and its configuration's place in a state dir.
    Process(LB_STATE / "haproxy.cfg", LB_STATE / "haproxy.log").stop_leftover()
    for pid in listening_pids(GATEWAY, LB_PORT):
        config = next((a for a in arguments(pid) if a.endswith(f"/{LB_STATE.name}/haproxy.cfg")), None)
        if config:
            stop_process(pid, config)
            log(f"load-balancer: HAProxy of {Path(config).parent} stopped")
    remove_bridge_pod()


def board_url(address: str) -> str:
    """The board's URL on a host: https once it serves https (its port 443 answers), else http."""
    return f"https://{address}/" if address and port_open(address, 443) else f"http://{address}/"


def status() -> None:
    for service in SERVICES:
        pid = service.pid()
        state = f"running (pid {pid})" if pid else "stopped"
        scheme = "https" if service.module == "acme" else "http"
        where = f"{scheme}://{service.listen[0]}:{service.listen[1]}" if service.listen else ""
        print(f"  {service.name:<16}{state:<22}{where}")
    for host in hosts():
        print(f"  {host['instance_id']:<21}{host['state']:<10}{board_url(host['address'])}")
    if SSH_KEY.exists():
        key = SSH_KEY.relative_to(Path.cwd()) if SSH_KEY.is_relative_to(Path.cwd()) else SSH_KEY
        print(f"  ssh: ssh -i {key} admin@<address>")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("fleet: must run as root (rootful podman, routes)")
    if args.command == "up":
        up()
    elif args.command == "down":
        down()
    else:
        status()


if __name__ == "__main__":
    main()
