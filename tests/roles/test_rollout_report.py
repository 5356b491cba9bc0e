"""The rollout report (playbooks/filter_plugins/rollout_report.py) through Ansible, as rollout-end.yml calls
it: host variables in, one line per host and a verdict out, ok only for one ready release everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from localcloud.playbook import ANSIBLE_PLAYBOOK, controller_env
from roles_support import REPO

OLD, NEW = "1.0.2-0123abcd", "1.0.3-4567ef89"


def _host(address: str, outcome: dict | None, release: str | None, ready: bool = True) -> dict:
    host: dict = {"ansible_host": address}
    if outcome is not None:
        host["visitor_board_app_outcome"] = outcome
    if release is not None:
        host["visitor_board_rollout_observed"] = {"reachable": True, "release": release, "ready": ready}
    return host


def _report(tmp_path: Path, hosts: dict[str, dict], on_failure: str = "rollback") -> dict:
    inventory = {
        "all": {
            "hosts": {
                "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
            },
            "children": {"visitor_board_web": {"hosts": hosts}},
        }
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    out = tmp_path / "report.json"
    # Next to the project's playbooks, so the filter plugin beside them is found as it is for site.yml;
    # named per test process too (pytest-xdist workers each number their tmp_path from 0).
    playbook = REPO / "playbooks" / f".test-report-{os.getpid()}-{tmp_path.name}.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Report",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Write it",
                            "ansible.builtin.copy": {
                                "content": "{{ groups['visitor_board_web'] | map('extract', hostvars) | list"
                                f" | rollout_report('{on_failure}') | to_json }}}}",
                                "dest": str(out),
                                "mode": "0600",
                            },
                        }
                    ],
                }
            ]
        )
    )
    try:
        proc = subprocess.run(
            [str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "inventory.yml"), str(playbook)],
            cwd=REPO,
            env=controller_env({"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        playbook.unlink()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def test_one_ready_release_everywhere_is_a_success(tmp_path: Path) -> None:
    switched = {"release_before": OLD, "release": NEW, "switched": True}
    report = _report(
        tmp_path,
        {"i-1": _host("10.0.0.1", switched, NEW), "i-2": _host("10.0.0.2", {"switched": False}, NEW)},
    )
    assert report["ok"] and report["verdict"] == f"fleet on 1.0.3 ({NEW}), 2/2 ready", report
    assert report["lines"] == [
        f"i-1 10.0.0.1 serving {NEW} ready | switched {OLD} -> {NEW}",
        f"i-2 10.0.0.2 serving {NEW} ready | unchanged",
    ]


def test_a_failed_host_after_a_fleet_rollback(tmp_path: Path) -> None:
    back = {
        "release_before": OLD,
        "release": NEW,
        "switched": True,
        "rolled_back": True,
        "rolled_back_to": OLD,
    }
    failed = {"release_before": OLD, "release": OLD, "switched": False, "failed": True, "reason": "not ready"}
    report = _report(tmp_path, {"i-1": _host("10.0.0.1", back, OLD), "i-2": _host("10.0.0.2", failed, OLD)})
    assert not report["ok"]
    assert report["verdict"] == f"FAILED: rolled back to 1.0.2 ({OLD}) after i-2 failed: not ready; 2/2 ready"
    assert report["lines"][0].endswith(f"switched {OLD} -> {NEW}; rolled back to {OLD}")
    assert report["lines"][1] == f"i-2 10.0.0.2 serving {OLD} ready | FAILED: not ready"


@pytest.mark.parametrize("on_failure", ["hold", "rollback"])
def test_a_mixed_fleet_is_a_failure_and_says_whether_it_was_held(tmp_path: Path, on_failure: str) -> None:
    switched = {"release_before": OLD, "release": NEW, "switched": True}
    failed = {"release_before": OLD, "release": OLD, "failed": True, "reason": "not ready"}
    report = _report(
        tmp_path,
        {"i-1": _host("10.0.0.1", switched, NEW), "i-2": _host("10.0.0.2", failed, OLD)},
        on_failure,
    )
    assert not report["ok"]
    assert f"fleet on several releases (1 on {OLD}, 1 on {NEW})" in report["verdict"]
    assert ("held as asked" in report["verdict"]) == (on_failure == "hold")


def test_unreachable_and_not_ready_hosts_fail_the_run_by_name(tmp_path: Path) -> None:
    report = _report(
        tmp_path,
        {
            "i-1": _host("10.0.0.1", {"switched": False}, OLD, ready=False),
            "i-2": _host("10.0.0.2", None, None),
        },
    )
    assert not report["ok"]
    assert report["lines"][0] == f"i-1 10.0.0.1 serving {OLD} NOT READY | unchanged"
    assert report["lines"][1] == "i-2 10.0.0.2 serving NOTHING NOT READY | UNREACHABLE, not deployed"
    assert report["verdict"] == (
        f"FAILED: fleet not on one release (1 on {OLD}, 1 serving nothing) after i-2 failed: unreachable;"
        " 0/2 ready"
    )
