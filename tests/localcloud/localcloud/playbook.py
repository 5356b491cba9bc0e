"""The one ansible-playbook runner of the tests and benchmarks: the controller venv's ansible-playbook,
the fake-AWS environment (it can reach neither real AWS nor a metadata address), the output kept, the
PLAY RECAP read.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .awsenv import fake_aws_env

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass(frozen=True)
class PlaybookRun:
    """One finished run: exit status, stdout + stderr, wall seconds, and the recap as
    {host: {"ok", "changed", "unreachable", "failed": count}}."""

    returncode: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def rc(self) -> int:
        return self.returncode

    def changed(self) -> dict[str, int]:
        return {host: counts["changed"] for host, counts in self.recap.items()}

    def total_changed(self) -> int:
        return sum(self.changed().values())


def controller_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The fake-AWS environment with the venv first on PATH and colour off."""
    env = fake_aws_env()
    env.update(
        PATH=f"{ANSIBLE_PLAYBOOK.parent}:{env.get('PATH', '')}",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
    )
    env.update(extra or {})
    return env


def run_playbook(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 900,
) -> PlaybookRun:
    """ansible-playbook ARGS in `cwd` with controller_env() (or `env`), the output also written to `log`.
    Raises subprocess.TimeoutExpired after `timeout` seconds."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), *args],
        cwd=cwd,
        env=dict(env) if env is not None else controller_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output)
    recap = {
        m.group(1): {
            "ok": int(m.group(2)),
            "changed": int(m.group(3)),
            "unreachable": int(m.group(4)),
            "failed": int(m.group(5)),
        }
        for m in _RECAP.finditer(output)
    }
    return PlaybookRun(proc.returncode, output, seconds, recap)
