"""Constants and helpers shared by the roles' pytest checks (imported by conftest and the tests)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from localcloud.awsenv import FAKE_AWS_ENV, REGION
from localcloud.moto_server import start_moto
from localcloud.ports import free_port

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
ANSIBLE_PLAYBOOK = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "ansible-playbook"

_PREFLIGHT_PLAYBOOK = """\
- name: {role} preflight
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: {role}
"""


def run_preflight(tmp_path: Path, role: str, variables: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Only ROLE's preflight (argument specs + checks: `--tags <role>_preflight`), in check mode against
    localhost, with VARIABLES (host facts included, as `ansible_facts`) as extra vars: a case that wrongly
    passed still changes nothing. Files go to tmp_path; the output is the completed ansible-playbook."""
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(_PREFLIGHT_PLAYBOOK.format(role=role))
    extra_vars = tmp_path / "vars.json"
    extra_vars.write_text(json.dumps(variables))
    # An empty config of the test's own: the repository's ansible.cfg (fact cache, inventory) stays out.
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            *("-i", "localhost,", "--check", "--tags", f"{role}_preflight"),
            *("-e", f"@{extra_vars}", str(playbook)),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def flat(output: str) -> str:
    """The output with the line wrapping of messages undone."""
    return " ".join(output.split())


__all__ = [
    "FAKE_AWS_ENV",
    "PLAYBOOKS",
    "REGION",
    "REPO",
    "flat",
    "free_port",
    "run_preflight",
    "start_moto",
]
