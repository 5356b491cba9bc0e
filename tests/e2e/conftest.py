"""End-to-end fixtures: a fresh local fleet, site.yml run once on it, and its hosts.

The session starts from `localcloud.fleet down` + `up`: moto keeps its state in memory, so that is an
empty AWS account, exactly what site.yml is written for. A demo fleet that was running is replaced (the
fleet network and addresses are fixed, so two fleets cannot run side by side); VB_E2E_KEEP=1 leaves the
test fleet running afterwards for a look.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator

import pytest
from localfleet import Host, PlaybookRun, clear_board, fleet_cli, run_site, running_hosts


@pytest.fixture(scope="session")
def local_fleet() -> Iterator[None]:
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.skip("the local fleet needs root and podman (make setup)")
    fleet_cli("down")
    fleet_cli("up")
    yield
    if not os.environ.get("VB_E2E_KEEP"):
        fleet_cli("down")


# What makes a fresh instance's first minute hard on AWS, on purpose: cloud-init still running its final
# stage when Ansible arrives (runcmd sleeps), and a boot-time job holding dpkg's lock (taken with fcntl, as
# apt does) after cloud-init is done, like apt-daily / unattended-upgrades on the AMI. The first rollout
# must wait for both and say so.
_HOLD_DPKG_LOCK = (
    "import fcntl, os, time; fd = os.open('/var/lib/dpkg/lock-frontend', os.O_RDWR); "
    "fcntl.lockf(fd, fcntl.LOCK_EX); time.sleep(50)"
)
BUSY_BOOT_USER_DATA = f"""#cloud-config
runcmd:
  - [systemd-run, --unit=boot-dpkg-job, python3, -c, "{_HOLD_DPKG_LOCK}"]
  - [sleep, "30"]
"""


@pytest.fixture(scope="session")
def first_run(local_fleet: None) -> PlaybookRun:
    started = time.monotonic()
    result = run_site("01-first-run", "-e", json.dumps({"visitor_board_user_data": BUSY_BOOT_USER_DATA}))
    assert result.returncode == 0, result.output[-6000:]
    print(f"first site.yml run: {time.monotonic() - started:.1f} s")
    return result


@pytest.fixture(scope="session")
def hosts(first_run: PlaybookRun) -> list[Host]:
    """The app's instances in the order of the rollout's batches (localfleet.running_hosts): hosts[0] is
    the first batch's, hosts[-1] the last batch's."""
    found = running_hosts()
    assert len(found) == 3, found
    return found


@pytest.fixture(autouse=True)
def empty_board_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test on the fleet leaves the board empty (localfleet.clear_board: under moto every board view
    reads every message, so a board that grows over the session slows every later test). Tests that post
    read their own messages back within the test."""
    yield
    if "local_fleet" in request.fixturenames:
        clear_board()
