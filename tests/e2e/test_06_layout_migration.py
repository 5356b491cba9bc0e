"""A host deployed by the single-unit layout of earlier versions (one visitor-board.socket on gunicorn.sock,
one visitor-board.service, HUP code swaps) moves to per-release instances on its next site.yml run under
traffic without a failed request.

The earlier layout is the project's own: the roles and playbooks of the last commit that had it, taken
from the repository's history with `git archive`, applied to one host of the session fleet.
"""

from __future__ import annotations

import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest
from localcloud.playbook import run_playbook
from localfleet import ARTIFACTS, REPO, Host, Traffic, run_site, served_version

# The last commit whose app role ran one visitor-board.socket + visitor-board.service per host.
SINGLE_UNIT_LAYOUT = "bdbb11ad19b008f842f2cf41faef98afa0dc5c20"


def _checkout(commit: str, target: Path) -> Path:
    try:
        archive = subprocess.run(
            ["git", "archive", commit, "ansible.cfg", "app", "inventory", "playbooks", "roles"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"commit {commit} is not in this clone's history: {exc.stderr.decode()[:200]}")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def test_a_host_in_the_single_unit_layout_moves_to_per_release_instances_without_a_failed_request(
    hosts: list[Host], tmp_path: Path
) -> None:
    old_tree = _checkout(SINGLE_UNIT_LAYOUT, tmp_path / "old")
    host = hosts[-1]
    # Start that host from nothing, then let the earlier roles deploy it as they did.
    host.ssh(
        "sudo systemctl stop 'visitor-board@*' && "
        "sudo find /etc/systemd/system -name 'visitor-board@*' -delete && "
        "sudo rm -rf /opt/visitor-board /etc/tmpfiles.d/visitor-board.conf "
        "/run/visitor-board/gunicorn.sock && "
        "sudo systemctl daemon-reload"
    )
    old = run_playbook(
        [
            "-i",
            str(REPO / "inventory/local"),
            "playbooks/site.yml",
            "--limit",
            f"localhost,{host.instance_id}",
        ],
        cwd=old_tree,
        log=ARTIFACTS / "20-single-unit-layout.log",
    )
    assert old.returncode == 0, old.output[-6000:]
    assert host.ssh("systemctl is-active visitor-board.service").strip() == "active"
    assert host.ssh("sudo test -S /run/visitor-board/gunicorn.sock && echo socket").strip() == "socket"
    version = served_version(host)

    with Traffic(hosts, post=True) as traffic:
        result = run_site("21-from-single-unit-layout")
    assert result.returncode == 0, result.output[-6000:]
    assert traffic.failures == [], traffic.failures[:20]
    assert all(traffic.requests[h.instance_id] > 10 for h in hosts), traffic.requests
    assert served_version(host) == version
    unit = host.live_unit()
    assert host.ssh(f"systemctl is-active {unit}.service").strip() == "active"
    leftovers = host.ssh(
        "ls /etc/systemd/system/visitor-board.service /etc/systemd/system/visitor-board.socket "
        "/etc/systemd/system/visitor-board.socket.d 2>/dev/null || true"
    )
    assert leftovers.strip() == "", leftovers
    assert host.ssh("systemctl is-active visitor-board.service || true").strip() == "inactive"
    flat = " ".join(result.output.split())
    assert "VERDICT: fleet on " in flat and "3/3 ready" in flat, flat[-3000:]
