"""A broken release fails its gate on the first batch's host before it gets any traffic, is removed there,
and never reaches the other hosts. (A good release's rolling update under traffic is test_02_front's code
update.)"""

from __future__ import annotations

import re
from pathlib import Path

from board import Visitor
from localfleet import Host, Traffic, make_release, run_site, served_version

BROKEN = "1.0.2"


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
