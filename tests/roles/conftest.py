"""Fixtures for the AWS roles' pytest checks: a moto server on loopback and an ansible-playbook runner.

Every ansible-playbook run gets fake credentials, no instance-metadata lookups, no user AWS config and an
explicit loopback endpoint, so nothing here can reach AWS.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from localcloud.playbook import PlaybookRun, controller_env
from localcloud.playbook import run_playbook as run_ansible_playbook
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


@pytest.fixture
def run_playbook(tmp_path: Path) -> Callable[..., PlaybookRun]:
    """Run a playbook from tests/roles/playbooks with extra vars (passed as a JSON file)."""

    def run(playbook: str, extra_vars: dict[str, object], *args: str) -> PlaybookRun:
        vars_file = tmp_path / f"vars-{time.monotonic_ns()}.json"
        # localhost named in --inventory is an ordinary host: give it this venv's Python (boto3), as
        # the implicit localhost of a real run gets.
        vars_file.write_text(json.dumps({"ansible_python_interpreter": sys.executable, **extra_vars}))
        env = controller_env(
            {
                "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
                # The repo's cache dir is relative to the working directory; keep it out of the checkout.
                "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
            }
        )
        return run_ansible_playbook(
            [
                "--inventory",
                "localhost,",
                "--extra-vars",
                f"@{vars_file}",
                *args,
                str(playbook if Path(playbook).is_absolute() else PLAYBOOKS / playbook),
            ],
            cwd=REPO,
            env=env,
            timeout=300,
        )

    return run
