"""Rollouts that end in one known state (issue 12), on the session fleet under traffic.

A release that is not ready, or cannot even start, on the LAST host: the run fails, every host serves the
release it had before (the first two are rolled back), no visitor request fails on any host, no directory
of the failed release is left, and the report says so. With `hold` the first two keep it. The deploy
lease: two runs at once, exactly one proceeds; a holder killed with SIGKILL blocks the next run until its
lease expires, and the documented variable breaks it at once.

The broken releases are copies of app/ changed for the test (the product has no test hooks): they read
the host's name, which the local cloud sets to the instance's private DNS name, as EC2 does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from localcloud.playbook import ANSIBLE_PLAYBOOK, controller_env
from localfleet import (
    ARTIFACTS,
    HTTP_ONLY,
    REPO,
    Host,
    PlaybookRun,
    Traffic,
    aws,
    make_release,
    run_deploy,
    run_local,
    run_site,
    served_version,
)

TABLE = "workshop_messages"
LEASE_KEY = {"pk": {"S": "deploy-lease#visitor-board"}, "sk": {"S": "lease"}}


def _flat(run: PlaybookRun) -> str:
    # The output callback wraps long messages over lines: compare with whitespace collapsed.
    return " ".join(run.output.split())


def _verdict(run: PlaybookRun) -> str:
    """The report's verdict line (and what follows it in the output: assertions look for parts of it)."""
    flat = _flat(run)
    assert "VERDICT: " in flat, run.output[-4000:]
    return flat[flat.rindex("VERDICT: ") + len("VERDICT: ") :][:600]


def _state(host: Host) -> dict[str, str]:
    """What the host serves and keeps: version answered through the front, live unit, links, releases."""
    return {
        "version": served_version(host),
        "unit": host.live_unit(),
        "current": host.ssh("readlink /opt/visitor-board/current").strip(),
        "previous": host.ssh("readlink /opt/visitor-board/previous || true").strip(),
        "releases": " ".join(sorted(host.ssh("ls /opt/visitor-board/releases").split())),
    }


def _broken_release(tmp_path: Path, version: str, host_name: str, how: str) -> Path:
    """A release that is fine everywhere except on the host named `host_name`, where it is not ready
    (how='not-ready') or fails at import, so gunicorn cannot boot a worker (how='import')."""
    source = make_release(tmp_path, version)
    views = source / "visitor_board" / "views.py"
    # After `from __future__ import annotations`, which must stay the module's first statement.
    text, count = re.subn(
        r"(?m)^from __future__ import annotations\n",
        "from __future__ import annotations\nimport socket as _test_socket\n",
        views.read_text(),
        count=1,
    )
    assert count == 1, "views.py no longer starts with the __future__ import; update this test"
    if how == "not-ready":
        text, count = re.subn(
            r"ready = _store\(\)\.is_ready\(\)",
            f"ready = _store().is_ready() and _test_socket.gethostname() != {host_name!r}",
            text,
        )
        assert count == 1, "the app's readiness check moved; update this test's way of breaking it"
    else:
        text += (
            f"\nif _test_socket.gethostname() == {host_name!r}:\n"
            "    raise RuntimeError('this release cannot start on this host (test)')\n"
        )
    views.write_text(text)
    return source


# A release that cannot start (the measured case). One that starts but is never ready is the hold
# test's below on the last host, and test_04_rollout's on the first.
def test_a_release_failing_on_the_last_host_is_rolled_back_everywhere_without_a_failed_request(
    hosts: list[Host], tmp_path: Path
) -> None:
    version = "2.0.2"
    last = hosts[-1]
    # With as many releases as a host keeps (visitor_board_app_keep_releases, 3), the failed release is one
    # too many: the run must prune nothing, or a release that was a rollback target would be gone.
    for filler in ("2.0.0", "2.0.1"):  # only when this test runs without the earlier ones
        if min(len(host.ssh("ls /opt/visitor-board/releases").split()) for host in hosts) < 3:
            source = make_release(tmp_path, filler)
            run = run_deploy(f"10-filler-{filler}", "-e", f"visitor_board_app_source_dir={source}")
            assert run.returncode == 0, run.output[-3000:]
    source = _broken_release(tmp_path, version, last.ssh("hostname").strip(), "import")
    before = {h.instance_id: _state(h) for h in hosts}
    assert all(len(state["releases"].split()) >= 3 for state in before.values()), before
    assert len({s["version"] for s in before.values()}) == 1, before
    with Traffic(hosts, post=True) as traffic:
        # deploy.yml: the app-only rollout has the same failure handling as site.yml (test_04 and the hold
        # test below run site.yml's).
        result = run_deploy(
            "10-rollback-import",
            "-e",
            f"visitor_board_app_source_dir={source}",
            "-e",
            "visitor_board_app_ready_retries=6",
        )
    assert result.returncode != 0, "a release that failed on a host was reported as a success"
    # Every host is exactly as before: same release serving, same links, no trace of the failed release.
    assert {h.instance_id: _state(h) for h in hosts} == before
    for host in hosts:
        assert not host.ssh(f"ls -d /opt/visitor-board/releases/{version}-* 2>/dev/null || true").strip()
        units = host.ssh(
            "systemctl list-units --all --plain --no-legend 'visitor-board@*' | awk '{print $1}'"
        )
        assert not [u for u in units.split() if u.startswith(f"visitor-board@{version}-")], units
    # Not one visitor request failed, on any host, while it all happened (each host asked twice a second).
    assert traffic.failures == [], traffic.failures[:20]
    assert all(traffic.requests[h.instance_id] > 20 for h in hosts), traffic.requests
    assert traffic.acknowledged
    # The report: the failed host and why, the two that switched and went back, and the verdict.
    old = before[last.instance_id]["version"]
    verdict = _verdict(result)
    assert verdict.startswith(f"FAILED: rolled back to {old} ("), verdict
    assert f"after {last.instance_id} failed: release {version}-" in verdict, verdict
    assert "3/3 ready" in verdict, verdict
    flat = _flat(result)
    for host in hosts[:2]:
        assert re.search(
            rf"{host.instance_id} {host.address} serving {old}-\S+ ready \| switched .*"
            rf"-> {version}-\S+; rolled back to {old}-",
            flat,
        ), flat[-3000:]
    assert re.search(rf"{last.instance_id} {last.address} serving {old}-\S+ ready \| FAILED: ", flat)


def test_hold_keeps_the_switched_hosts_and_rollback_yml_brings_them_back(
    hosts: list[Host], tmp_path: Path
) -> None:
    version = "2.0.3"
    last = hosts[-1]
    source = _broken_release(tmp_path, version, last.ssh("hostname").strip(), "not-ready")
    before = {h.instance_id: _state(h) for h in hosts}
    old = before[last.instance_id]["version"]
    with Traffic(hosts) as traffic:
        held = run_site(
            "11-hold",
            "-e",
            f"visitor_board_app_source_dir={source}",
            "-e",
            "visitor_board_app_ready_retries=6",
            "-e",
            "visitor_board_rollout_on_failure=hold",
        )
    assert held.returncode != 0
    assert [served_version(h) for h in hosts] == [version, version, old]
    assert _state(last) == before[last.instance_id]
    assert not last.ssh(f"ls -d /opt/visitor-board/releases/{version}-* 2>/dev/null || true").strip()
    verdict = _verdict(held)
    assert "held as asked (visitor_board_rollout_on_failure=hold)" in verdict, verdict
    assert f"2 on {version}-" in verdict and f"1 on {old}-" in verdict, verdict
    assert traffic.failures == [], traffic.failures[:20]

    # The operator looked, and puts the two back with rollback.yml (same gate, same report).
    limit = ",".join(["localhost", *(h.instance_id for h in hosts[:2])])
    with Traffic(hosts) as traffic:
        back = run_local("playbooks/rollback.yml", "12-rollback-yml", "--limit", limit)
    assert back.returncode == 0, back.output[-6000:]
    assert [served_version(h) for h in hosts] == [old, old, old]
    assert _verdict(back).startswith(f"fleet on {old} "), _verdict(back)
    assert "2/2 ready" in _verdict(back)
    assert traffic.failures == [], traffic.failures[:20]


def _start(name: str, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    """site.yml in the background, in its own process group (so SIGKILL reaches every process of it)."""
    log = ARTIFACTS / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        # HTTP only, as run_site: HTTPS is test_09's (a redirect to it would fail the later tests' traffic).
        [str(ANSIBLE_PLAYBOOK), "-i", "inventory/local", "playbooks/site.yml", *HTTP_ONLY, *extra],
        cwd=REPO,
        env=controller_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return proc, log


def _lease() -> dict | None:
    return aws("dynamodb").get_item(TableName=TABLE, Key=LEASE_KEY, ConsistentRead=True).get("Item")


def test_two_runs_at_once_exactly_one_proceeds(hosts: list[Host]) -> None:
    runs = [_start(f"13-together-{i}") for i in (1, 2)]
    for proc, _ in runs:
        proc.wait(timeout=900)
    outputs = [" ".join(log.read_text().split()) for _, log in runs]
    codes = [proc.returncode for proc, _ in runs]
    assert sorted(codes)[0] == 0 and sorted(codes)[1] != 0, codes
    loser = outputs[codes.index(next(c for c in codes if c != 0))]
    winner = outputs[codes.index(0)]
    assert "Another rollout holds the deploy lease" in loser, loser[-3000:]
    assert "visitor_board_deploy_lease_break=true" in loser
    holder = re.search(r"Deploy lease taken by (\S+@\S+ pid \d+)", winner).group(1)
    assert holder in loser, (holder, loser[-2000:])
    # The loser stopped before touching any app host.
    assert not [h.instance_id for h in hosts if f"[{h.instance_id}]" in loser]
    assert _lease() is None, "the winner did not release its lease"


def test_a_killed_holders_lease_blocks_until_it_expires_or_is_broken(hosts: list[Host]) -> None:
    def kill_a_holder(name: str) -> int:
        proc, _ = _start(name, "-e", "visitor_board_deploy_lease_seconds=45")
        deadline = time.monotonic() + 120
        while _lease() is None:
            assert proc.poll() is None and time.monotonic() < deadline, "the run never took the lease"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return proc.pid

    local_only = ("--limit", "localhost")
    pid = kill_a_holder("14-killed-1")
    refused = run_site("15-refused", *local_only)
    assert refused.returncode != 0
    assert re.search(rf"Another rollout holds the deploy lease .*pid {pid}\b", _flat(refused)), (
        refused.output[-3000:]
    )
    broken = run_site("16-broken", *local_only, "-e", "visitor_board_deploy_lease_break=true")
    assert broken.returncode == 0, broken.output[-4000:]
    assert "a held lease was BROKEN on request" in _flat(broken)

    kill_a_holder("17-killed-2")
    expires = int(_lease()["lease_expires"]["N"])
    assert run_site("18-refused", *local_only).returncode != 0
    while time.time() <= expires + 1:
        time.sleep(1)
    after = run_site("19-after-expiry", *local_only)
    assert after.returncode == 0, after.output[-4000:]
    assert "Deploy lease taken by" in _flat(after)
    assert _lease() is None
