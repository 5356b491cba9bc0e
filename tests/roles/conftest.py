"""Fixtures for the AWS roles' pytest checks: a moto server on loopback and an ansible-playbook runner.

Every ansible-playbook run gets fake credentials, no instance-metadata lookups, no user AWS config and an
explicit loopback endpoint, so nothing here can reach AWS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from roles_support import FAKE_AWS_ENV, PLAYBOOKS, REPO, free_port, start_moto


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def moto_url() -> Iterator[str]:
    """A fresh moto server (the project's launcher) for one test; stopped by its pid afterwards."""
    port = free_port()
    proc = start_moto(port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _ansible_playbook() -> str:
    return str(Path(sys.executable).with_name("ansible-playbook"))


@pytest.fixture
def run_playbook(tmp_path: Path) -> Callable[..., PlaybookRun]:
    """Run a playbook from tests/roles/playbooks with extra vars (passed as a JSON file)."""

    def run(playbook: str, extra_vars: dict[str, object], *args: str) -> PlaybookRun:
        vars_file = tmp_path / f"vars-{time.monotonic_ns()}.json"
        # localhost named in --inventory is an ordinary host: give it this venv's Python (boto3), as
        # the implicit localhost of a real run gets.
        vars_file.write_text(json.dumps({"ansible_python_interpreter": sys.executable, **extra_vars}))
        env = {
            **os.environ,
            **FAKE_AWS_ENV,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            # The repo's cache dir is relative to the working directory; keep it out of the checkout.
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        }
        proc = subprocess.run(
            [
                _ansible_playbook(),
                "--inventory",
                "localhost,",
                "--extra-vars",
                f"@{vars_file}",
                *args,
                str(playbook if Path(playbook).is_absolute() else PLAYBOOKS / playbook),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr)

    return run
