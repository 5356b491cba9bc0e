"""Helpers for the end-to-end tests: run site.yml on the local fleet, reach its hosts and its moto.

The session starts from `fleet.py down` + `fleet.py up`: moto keeps its state in memory, so that is an
empty AWS account, exactly what site.yml is written for. A demo fleet that was running is replaced (the
fleet network and addresses are fixed, so two fleets cannot run side by side); VB_E2E_KEEP=1 leaves the
test fleet running afterwards for a look.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "localcloud"))
import fleet  # noqa: E402

ARTIFACTS = REPO / "tests" / "artifacts" / "e2e"
VENV_BIN = Path(sys.executable).parent
_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def controller_env() -> dict[str, str]:
    """What the demo script gives ansible-playbook: moto's fake keys, never the real metadata address."""
    env = fleet.fake_aws_env()
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
    )
    return env


@dataclass(frozen=True)
class PlaybookRun:
    returncode: int
    output: str
    recap: dict[str, dict[str, int]]

    def changed(self) -> dict[str, int]:
        return {host: counts["changed"] for host, counts in self.recap.items()}


def run_site(name: str, *extra: str) -> PlaybookRun:
    """ansible-playbook -i inventory/local playbooks/site.yml, output kept in tests/artifacts/e2e/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "inventory/local", "playbooks/site.yml", *extra],
        cwd=REPO,
        env=controller_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    (ARTIFACTS / f"{name}.log").write_text(output)
    recap = {
        m.group(1): {
            "ok": int(m.group(2)),
            "changed": int(m.group(3)),
            "unreachable": int(m.group(4)),
            "failed": int(m.group(5)),
        }
        for m in _RECAP.finditer(output)
    }
    return PlaybookRun(proc.returncode, output, recap)


@dataclass(frozen=True)
class Host:
    instance_id: str
    address: str
    profile_arn: str

    def ssh(self, command: str, check: bool = True) -> str:
        proc = subprocess.run(
            [
                "ssh",
                "-i",
                str(fleet.SSH_KEY),
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "BatchMode=yes",
                f"admin@{self.address}",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
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
    subprocess.run([sys.executable, str(REPO / "tests/localcloud/fleet.py"), *args], check=True, timeout=900)
