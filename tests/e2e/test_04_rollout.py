"""A broken release fails its gate on the first batch's host before it gets any traffic, is removed there,
and never reaches the other hosts. playbooks/deploy.yml rolls a code change onto every host under traffic
with the app role alone, and refuses a fleet with a host that site.yml has not set up before touching any.
(site.yml's rolling update of code and settings under traffic is test_02_front's code update.)"""

from __future__ import annotations

import re
from pathlib import Path

from board import Visitor
from localfleet import Host, Traffic, make_release, run_deploy, run_site, served_version, task_hosts

BROKEN = "1.0.2"
DEPLOYED = "1.0.4"
# The front role's record of its last run on a host (roles/visitor_board_front/vars/main.yml).
FRONT_RECORD = "/etc/nginx/.visitor-board-front.applied"


def test_broken_release_stops_at_the_first_batch_and_is_rolled_back(
    hosts: list[Host], tmp_path: Path
) -> None:
    source = make_release(tmp_path, BROKEN)
    views = source / "visitor_board" / "views.py"
    # A release that starts and serves pages but can never become ready (as one with a wrong table name
    # or a missing permission would): its gate must fail.
    broken, count = re.subn(r"ready = _store\(\)\.is_ready\(\)", "ready = False", views.read_text())
    assert count == 1, "the app's readiness check moved; update this test's way of breaking it"
    views.write_text(broken)
    before = {h.instance_id: served_version(h) for h in hosts}
    with Traffic(hosts, post=True) as traffic:
        result = run_site(
            "04-broken-release",
            "-e",
            f"visitor_board_app_source_dir={source}",
            "-e",
            "visitor_board_app_ready_retries=8",
        )
    assert result.returncode != 0, "the broken release was rolled out"
    failed = sorted({m for m in re.findall(r"^fatal: \[(i-[0-9a-f]+)\]", result.output, re.M)})
    assert len(failed) == 1, f"expected exactly the first batch (1 host) to fail, got {failed}"
    first = failed[0]
    # The report's verdict names the host that stopped the rollout and why (its release was not ready).
    flat = " ".join(result.output.split())
    verdict = flat[flat.rindex("VERDICT: ") :][:600]
    assert (
        f"fleet stays on {before[first]} " in verdict
        and f"after {first} failed: release {BROKEN}-" in verdict
    )
    assert "did not pass its gate" in verdict and "ready" in verdict, verdict
    # Every host is serving the release it had; none keeps a directory of the broken one.
    assert {h.instance_id: served_version(h) for h in hosts} == before
    for host in hosts:
        releases = host.ssh("ls /opt/visitor-board/releases")
        assert not [r for r in releases.split() if r.startswith(BROKEN)], (host.instance_id, releases)
    assert traffic.failures == [], traffic.failures[:20]
    # No acknowledged message was lost while it happened.
    assert traffic.acknowledged
    texts = set(Visitor(hosts[0].address).all_texts())
    assert set(traffic.acknowledged) <= texts, sorted(set(traffic.acknowledged) - texts)[:10]


def test_deploy_yml_rolls_a_code_change_with_the_app_role_alone(hosts: list[Host], tmp_path: Path) -> None:
    source = make_release(tmp_path, DEPLOYED)
    old_units = {h.instance_id: h.live_unit() for h in hosts}
    with Traffic(hosts, post=True) as traffic:
        result = run_deploy("04-deploy-code-only", "-e", f"visitor_board_app_source_dir={source}")
    assert result.returncode == 0, result.output[-6000:]
    assert traffic.failures == [], traffic.failures[:20]
    assert traffic.acknowledged
    assert {h.instance_id: served_version(h) for h in hosts} == {h.instance_id: DEPLOYED for h in hosts}
    flat = " ".join(result.output.split())
    assert f"VERDICT: fleet on {DEPLOYED} (" in flat and "3/3 ready" in flat, flat[-2000:]
    # Nothing but the app: no AWS play (table, secret, IAM, load balancer, instances), no front or TLS step.
    plays = re.findall(r"^PLAY \[(.+?)\]", result.output, re.M)
    assert not [p for p in plays if p.startswith(("Data tier", "IAM", "Load balancer", "Hosts"))], plays
    assert "TASK [visitor_board_front" not in result.output
    assert "TASK [visitor_board_tls" not in result.output
    assert "TASK [visitor_board_ec2" not in result.output
    # Every host's new release was gated on its own socket, and the one it replaced is stopped.
    ids = {h.instance_id for h in hosts}
    gate = "visitor_board_app : Start the target release next to the live one and wait for it to be ready"
    assert task_hosts(result.output, gate) == ids
    for host in hosts:
        old, new = old_units[host.instance_id], host.live_unit()
        assert new != old and new.startswith(f"visitor-board@{DEPLOYED}-"), (old, new)
        assert host.unit_property(f"{old}.service", "ActiveState") == "inactive"
        assert host.unit_property(f"{new}.service", "ActiveState") == "active"
    # Old releases were pruned once every host was on the new one, in the run's last steps (the role's own
    # prune is off in a rolling update): at most 3 kept (visitor_board_app_keep_releases), live among them.
    assert task_hosts(result.output, "visitor_board_app : Remove releases beyond the newest") == ids
    for host in hosts:
        releases = host.ssh("ls /opt/visitor-board/releases").split()
        assert len(releases) <= 3 and host.live_unit().removeprefix("visitor-board@") in releases, releases


def test_deploy_yml_refuses_a_host_without_the_front_before_touching_any(
    hosts: list[Host], tmp_path: Path
) -> None:
    bare = hosts[-1]  # in the last batch: the check must come before the first batch switches anything
    before = {h.instance_id: h.live_unit() for h in hosts}
    source = make_release(tmp_path, "1.0.41")
    bare.ssh(f"sudo mv {FRONT_RECORD} {FRONT_RECORD}.test")
    try:
        result = run_deploy("04-deploy-no-front", "-e", f"visitor_board_app_source_dir={source}")
    finally:
        bare.ssh(f"sudo mv {FRONT_RECORD}.test {FRONT_RECORD}")
    assert result.returncode != 0, "deploy.yml rolled onto a host without the front"
    flat = " ".join(result.output.split())
    verdict = flat[flat.rindex("VERDICT: ") :][:600]
    assert f"after {bare.instance_id} failed: no front (nginx) from site.yml yet" in verdict, verdict
    assert "run site.yml" in verdict, verdict
    # No host was touched: no step of the app role ran but the read-only last look at every host
    # (roles/visitor_board_app/tasks/observe.yml), and every host serves what it served.
    app_tasks = set(re.findall(r"^TASK \[visitor_board_app : (.+?)\] \*", result.output, re.M))
    assert app_tasks <= {
        "Ask the live release for its version and readiness (through the front's socket link)",
        "Note what was seen",
    }, app_tasks
    assert {h.instance_id: h.live_unit() for h in hosts} == before
