"""Helpers for the end-to-end tests: run site.yml on the local fleet, reach its hosts and its moto.

The fleet and the playbook runner are the local cloud's own (localcloud.fleet, localcloud.playbook), the
same that `make demo` and the benchmarks use.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import boto3
import requests
from board import Visitor

REPO = Path(__file__).resolve().parents[2]
# The fleet's state (its SSH key, logs) is the repository's, whatever directory pytest was started in.
os.environ.setdefault("VB_LOCALCLOUD_DIR", str(REPO / ".localcloud"))

from localcloud import fleet  # noqa: E402
from localcloud.playbook import PlaybookRun, run_playbook  # noqa: E402
from visitor_board.schema import SCHEMA  # noqa: E402
from visitor_board.store import BOARD_PARTITION  # noqa: E402

__all__ = [
    "HTTP_ONLY",
    "Background",
    "Host",
    "PlaybookRun",
    "Traffic",
    "aws",
    "clear_board",
    "fleet",
    "fleet_cli",
    "make_release",
    "run_deploy",
    "run_local",
    "run_site",
    "running_hosts",
    "served_version",
    "task_hosts",
]
ARTIFACTS = REPO / "tests" / "artifacts" / "e2e"


# The rollout and front tests speak http to port 80, so their runs keep HTTPS off; test_09_https turns it
# on (a later -e wins).
HTTP_ONLY = ("-e", "visitor_board_https=false")


def run_local(playbook: str, name: str, *extra: str) -> PlaybookRun:
    """ansible-playbook -i inventory/local PLAYBOOK (HTTP only); output in tests/artifacts/e2e/NAME.log."""
    return run_playbook(
        ["-i", "inventory/local", playbook, *HTTP_ONLY, *extra], cwd=REPO, log=ARTIFACTS / f"{name}.log"
    )


def run_site(name: str, *extra: str) -> PlaybookRun:
    """playbooks/site.yml on the local fleet (run_local)."""
    return run_local("playbooks/site.yml", name, *extra)


def run_deploy(name: str, *extra: str) -> PlaybookRun:
    """playbooks/deploy.yml (the app only) on the local fleet (run_local)."""
    return run_local("playbooks/deploy.yml", name, *extra)


@dataclass(frozen=True)
class Host:
    instance_id: str
    address: str
    profile_arn: str

    def live_unit(self) -> str:
        """The systemd instance serving visitors: visitor-board@<release> (named by the front's socket)."""
        target = self.ssh("readlink /run/visitor-board/gunicorn.sock").strip()
        assert target.endswith(".sock"), f"{self.instance_id}: the front's socket is no link: {target!r}"
        return "visitor-board@" + target.rsplit("/", 1)[-1].removesuffix(".sock")

    def unit_property(self, unit: str, prop: str) -> str:
        """One property of a systemd unit on this host (`systemctl show -p PROP --value UNIT`)."""
        return self.ssh(f"systemctl show -p {prop} --value {unit}").strip()

    def ssh(self, command: str, check: bool = True) -> str:
        proc = fleet.ssh(self.address, command)
        if check:
            assert proc.returncode == 0, (
                f"{self.instance_id}: {command!r} -> {proc.returncode}: {proc.stderr}"
            )
        return proc.stdout


def aws(service: str):
    return boto3.client(
        service,
        region_name=fleet.REGION,
        endpoint_url=fleet.MOTO_URL,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def fleet_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "localcloud.fleet", *args], cwd=REPO, check=True, timeout=900)


def running_hosts() -> list[Host]:
    """Every running instance moto knows, in the order of the rollout's batches: inventory order, which
    the aws_ec2 inventory plugin sorts by instance id (amazon.aws plugins/inventory/aws_ec2.py:
    `sorted(instances, key=lambda x: x["InstanceId"])`), not by address."""
    found = []
    for reservation in aws("ec2").describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]:
        for item in reservation["Instances"]:
            found.append(
                Host(item["InstanceId"], item["PrivateIpAddress"], item["IamInstanceProfile"]["Arn"])
            )
    return sorted(found, key=lambda h: h.instance_id)


def task_hosts(output: str, task: str) -> set[str]:
    """The instances a task ran for (ok or changed, delegated or not, loop items included) in a run's
    output: the result lines between each banner that starts with `task` and the next banner. Read by
    result line, not by the banner: a task's name is templated once per batch, with its first host's
    values."""
    found: set[str] = set()
    for block in output.split(f"TASK [{task}")[1:]:
        body = block.split("\nTASK [", 1)[0]
        found.update(re.findall(r"^(?:ok|changed): \[(i-[0-9a-f]+)(?: -> [^\]]+)?\]", body, re.M))
    return found


def clear_board() -> int:
    """Delete every message on the board (the board partition of the site's table, in the fleet's moto);
    the rest (deploy lease, post markers) stays. Returns how many were deleted; 0 when there is no table.

    Why: moto's Query reads the whole partition for every page it returns (README, "What moto cannot
    show"; real DynamoDB reads only the page), so the messages the tests' traffic posts would make every
    later board view cost moto more CPU, on the same two cores as Ansible and the hosts."""
    dynamodb = aws("dynamodb")
    pk, sk = SCHEMA.partition_key, SCHEMA.sort_key
    keys: list[dict] = []
    try:
        for page in dynamodb.get_paginator("query").paginate(
            TableName=SCHEMA.default_table_name,
            KeyConditionExpression="#pk = :board",
            ExpressionAttributeNames={"#pk": pk, "#sk": sk},
            ExpressionAttributeValues={":board": {"S": BOARD_PARTITION}},
            ProjectionExpression="#pk, #sk",
        ):
            keys += [{pk: item[pk], sk: item[sk]} for item in page["Items"]]
    except dynamodb.exceptions.ResourceNotFoundException:
        return 0
    for start in range(0, len(keys), 25):  # BatchWriteItem takes 25 requests at most
        pending = {
            SCHEMA.default_table_name: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
        }
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(keys)


class Background:
    """Client threads for the length of a `with` block: a subclass puts its workers in `threads`, each
    looping until `stop` is set; leaving the block sets it and waits for them."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def make_release(source: Path, version: str) -> Path:
    """A copy of app/ under SOURCE that is a new release: only its version differs (the package version is
    the release). Returns the copy's directory, for visitor_board_app_source_dir."""
    target = source / f"app-{version}"
    shutil.copytree(
        REPO / "app", target, ignore=shutil.ignore_patterns("*.egg-info", "build", "dist", "__pycache__")
    )
    pyproject = target / "pyproject.toml"
    text, count = re.subn(r'(?m)^version = "[^"]+"$', f'version = "{version}"', pyproject.read_text())
    assert count == 1
    pyproject.write_text(text)
    return target


def served_version(host: Host) -> str:
    """The version HOST's live release reports on /healthz (through the front, port 80)."""
    return requests.get(f"http://{host.address}/healthz", timeout=10).json()["version"]


class Traffic(Background):
    """Clients that keep requesting every host's board twice a second (and optionally posting once a second)
    while a rollout runs."""

    def __init__(self, hosts: list[Host], post: bool = False) -> None:
        self.hosts, self.post = hosts, post
        super().__init__()
        self.requests: Counter[str] = Counter()
        self.failures: list[str] = []
        self.acknowledged: list[str] = []
        self.tag = uuid.uuid4().hex[:8]
        self.threads = [threading.Thread(target=self._read, args=(h,)) for h in hosts]
        if post:
            self.threads += [threading.Thread(target=self._write, args=(h,)) for h in hosts]

    def _read(self, host: Host) -> None:
        # A new connection per request, as a stream of visitors makes them (a kept-alive connection that the
        # server closes between requests is retried by browsers, not by requests).
        while not self.stop.is_set():
            try:
                status = requests.get(
                    f"http://{host.address}/", timeout=10, headers={"Connection": "close"}
                ).status_code
            except requests.RequestException as exc:
                status = f"{type(exc).__name__} {exc}"[:200]
            self.requests[host.instance_id] += 1
            if status != 200:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {host.instance_id}: {status}")
            # At least one request a second on every host (the rollout tests' "every host, every second"),
            # and no more: every request costs the app and moto CPU on the same two cores as Ansible.
            time.sleep(0.5)

    def _write(self, host: Host) -> None:
        visitor, i = Visitor(host.address), 0
        while not self.stop.is_set():
            text = f"rollout {self.tag} {host.instance_id} {i}"
            if visitor.post("rollout", text):
                self.acknowledged.append(text)
            i += 1
            time.sleep(1)
