"""The local cloud for Visitor Board: AWS (moto), instance metadata and EC2 hosts on this one machine.

`up` brings up, re-using whatever already runs:
  - the podman network `visitor-board` (172.31.0.0/16, moto's default VPC) with its bridge held up by a
    tiny pause pod, so the gateway address 172.31.0.1 exists before any host runs and stays while hosts
    come and go (netavark deletes a bridge, even one made by hand, when its last container stops);
  - a blackhole route for the fleet subnet below the bridge's own route: if the bridge is ever gone,
    traffic for 172.31.x fails at once instead of leaving through the default route;
  - the fleet moto at http://172.31.0.1:5000 with a Debian 12 AMI catalogue (tests/localcloud/amis.json)
    so an AMI lookup by Debian's owner and name works as on AWS;
  - the metadata stand-in at http://172.31.0.1:1338 (and its boot endpoint for cloud-init at :1339);
  - the hypervisor loop (hypervisor.py) that boots one systemd host container per running instance.
`down` stops all of it (hosts first). `status` prints what runs and each host's URL.

State (pids, logs, the SSH key) lives in .localcloud/ in the repo (VB_LOCALCLOUD_DIR overrides it).

Usage: python tests/localcloud/fleet.py {up,down,status} [--skip-setup]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "tests" / "localcloud"
STATE = Path(os.environ.get("VB_LOCALCLOUD_DIR", REPO / ".localcloud"))

NETWORK = "visitor-board"
SUBNET = "172.31.0.0/16"
GATEWAY = "172.31.0.1"
REGION = "eu-north-1"
MOTO_PORT = 5000
IMDS_PORT = 1338
IMDS_BOOT_PORT = 1339
MOTO_URL = f"http://{GATEWAY}:{MOTO_PORT}"
IMDS_URL = f"http://{GATEWAY}:{IMDS_PORT}"
IMAGE = "localhost/visitor-board-host:bookworm"
# The pause pod that holds the bridge; its address is outside every default subnet moto hands out.
BRIDGE_POD = "visitor-board-bridge"
BRIDGE_IP = "172.31.255.254"
BLACKHOLE_METRIC = "4242"
HOST_LABEL = "org.visitor-board.instance-id"
SSH_KEY = STATE / "ssh" / "id_ed25519"


@dataclass(frozen=True)
class Service:
    name: str
    script: str
    args: tuple[str, ...]
    port: int | None = None

    @property
    def pidfile(self) -> Path:
        return STATE / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return STATE / "logs" / f"{self.name}.log"

    def argv(self) -> list[str]:
        return [sys.executable, str(HERE / self.script), *self.args]


SERVICES = (
    Service("moto", "motoserver.py", ("-H", GATEWAY, "-p", str(MOTO_PORT)), MOTO_PORT),
    Service(
        "imds",
        "imds.py",
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
        IMDS_PORT,
    ),
    Service(
        "hypervisor",
        "hypervisor.py",
        ("--moto", MOTO_URL, "--region", REGION, "--image", IMAGE, "--metadata-address", GATEWAY),
    ),
)


def log(message: str) -> None:
    print(f"fleet: {message}", flush=True)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


def fake_aws_env() -> dict[str, str]:
    """This environment with fake keys and no metadata probing: whatever runs with it (the fleet's services,
    ansible-playbook on the controller, benchmarks) can reach neither real AWS nor 169.254.169.254."""
    env = dict(os.environ)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        env.pop(key, None)
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def service_env() -> dict[str, str]:
    """The fleet's own services: fake keys, and moto loaded with the Debian AMI catalogue."""
    return {**fake_aws_env(), "MOTO_AMIS_PATH": str(HERE / "amis.json"), "PYTHONUNBUFFERED": "1"}


# --- processes ------------------------------------------------------------------------------------------


def pid_of(service: Service) -> int | None:
    """The service's pid if that process is alive and still is the service (pids get reused)."""
    try:
        pid = int(service.pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if service.script.encode() in cmdline else None


def port_open(port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((GATEWAY, port), timeout=timeout):
        return True
    return False


def start(service: Service) -> None:
    if pid_of(service) is not None:
        log(f"{service.name} already running (pid {pid_of(service)})")
        return
    service.logfile.parent.mkdir(parents=True, exist_ok=True)
    with service.logfile.open("ab") as out:
        proc = subprocess.Popen(
            service.argv(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=service_env(),
            cwd=REPO,
            start_new_session=True,  # outlives `fleet.py up`, `make demo` and the terminal
        )
    service.pidfile.write_text(f"{proc.pid}\n")
    # Popen may return while the child is still inside execve (vfork), when /proc still shows our own
    # command line: wait until the process is visibly the service.
    deadline = time.monotonic() + 5
    while pid_of(service) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if service.port is None:
        if proc.poll() is not None:
            tail = service.logfile.read_text(errors="replace").splitlines()[-15:]
            raise SystemExit(f"fleet: {service.name} exited at once:\n" + "\n".join(tail))
        log(f"{service.name} started (pid {proc.pid})")
        return
    deadline = time.monotonic() + 20
    while not port_open(service.port):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = service.logfile.read_text(errors="replace").splitlines()[-15:]
            raise SystemExit(f"fleet: {service.name} did not come up:\n" + "\n".join(tail))
        time.sleep(0.1)
    log(f"{service.name} listening on {GATEWAY}:{service.port} (pid {proc.pid})")


def stop(service: Service) -> None:
    pid = pid_of(service)
    if pid is not None:
        # SIGCONT first: a test may have paused moto; a stopped process never handles SIGTERM.
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while pid_of(service) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_of(service) is not None:
            os.kill(pid, signal.SIGKILL)
        log(f"{service.name} stopped")
    service.pidfile.unlink(missing_ok=True)


# --- network --------------------------------------------------------------------------------------------


def ensure_network() -> None:
    if run("podman", "network", "exists", NETWORK, check=False).returncode != 0:
        log(f"creating network {NETWORK}")
        run("podman", "network", "create", "--subnet", SUBNET, "--gateway", GATEWAY, NETWORK)
    if run("podman", "pod", "exists", BRIDGE_POD, check=False).returncode != 0:
        run("podman", "pod", "create", "--name", BRIDGE_POD, "--network", NETWORK, "--ip", BRIDGE_IP)
    state = run("podman", "pod", "inspect", BRIDGE_POD, "--format", "{{.State}}").stdout.strip()
    if state != "Running":
        run("podman", "pod", "start", BRIDGE_POD)
        log(f"bridge of {NETWORK} held up by pod {BRIDGE_POD} ({GATEWAY})")
    run("ip", "route", "replace", "blackhole", SUBNET, "metric", BLACKHOLE_METRIC)


def remove_bridge_pod() -> None:
    if run("podman", "pod", "exists", BRIDGE_POD, check=False).returncode == 0:
        run("podman", "pod", "rm", "--force", BRIDGE_POD)
        log(f"pod {BRIDGE_POD} removed")


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


def remove_hosts() -> None:
    for host in hosts():
        run("podman", "rm", "--force", "--time", "5", host["name"], check=False)
        log(f"host {host['name']} removed")


# --- commands -------------------------------------------------------------------------------------------


def setup() -> None:
    """Host fixes, packages and the host image: both scripts are idempotent and cached."""
    for script in ("setup-host.sh", "build-host-image.sh"):
        subprocess.run(["bash", str(HERE / script)], check=True)


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


def up(skip_setup: bool) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    if not skip_setup:
        setup()
    ensure_ssh_key()
    ensure_network()
    for service in SERVICES:
        start(service)
    status()


def down() -> None:
    # The hypervisor first, so it does not boot again what is being removed.
    hypervisor, *others = SERVICES[::-1]
    stop(hypervisor)
    remove_hosts()
    for service in others:
        stop(service)
    remove_bridge_pod()


def status() -> None:
    for service in SERVICES:
        pid = pid_of(service)
        state = f"running (pid {pid})" if pid else "stopped"
        where = f"http://{GATEWAY}:{service.port}" if service.port else ""
        print(f"  {service.name:<11}{state:<22}{where}")
    for host in hosts():
        print(f"  {host['instance_id']:<21}{host['state']:<10}http://{host['address']}/")
    if SSH_KEY.exists():
        key = SSH_KEY.relative_to(REPO) if SSH_KEY.is_relative_to(REPO) else SSH_KEY
        print(f"  ssh: ssh -i {key} admin@<address>")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--skip-setup", action="store_true", help="do not run setup-host/build-host-image")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("fleet: must run as root (rootful podman, routes)")
    if args.command == "up":
        up(args.skip_setup)
    elif args.command == "down":
        down()
    else:
        status()


if __name__ == "__main__":
    main()
