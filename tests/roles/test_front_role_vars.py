"""visitor_board_front refuses proxy networks it must not trust, before any change.

Each case runs only the role's preflight (argument specs + checks: `--tags visitor_board_front_preflight`)
in check mode against localhost, with the host's facts given as extra vars. Valid networks (none, IPv4
subnets, an IPv6 prefix) are the positive control.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from roles_support import run_preflight as role_preflight

FACTS: dict[str, Any] = {
    "distribution": "Debian",
    "distribution_major_version": "12",
    "distribution_version": "12",
    "os_family": "Debian",
    "service_mgr": "systemd",
    "python": {"version": {"major": 3, "minor": 11, "micro": 2}},
}


def run_preflight(tmp_path: Path, extra: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return role_preflight(tmp_path, "visitor_board_front", {**extra, "ansible_facts": FACTS})


@pytest.mark.parametrize(
    "networks",
    [[], ["172.31.0.0/20", "172.31.16.0/20"], ["2001:db8::/56"]],
    ids=["none", "ipv4-subnets", "ipv6-prefix"],
)
def test_valid_proxy_networks_pass(tmp_path: Path, networks: list[str]) -> None:
    result = run_preflight(tmp_path, {"visitor_board_front_real_ip_from": networks})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "networks",
    [
        ["172.31.0.0"],
        ["10.0.0.0/33"],
        ["load-balancer"],
        ["0.0.0.0/0"],
        ["::/0"],
        ["172.31.0.0/20; deny all"],
    ],
    ids=["no-prefix", "prefix-too-long", "a-name", "ipv4-everybody", "ipv6-everybody", "injection"],
)
def test_bad_proxy_networks_are_refused(tmp_path: Path, networks: list[str]) -> None:
    result = run_preflight(tmp_path, {"visitor_board_front_real_ip_from": networks})
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert "visitor_board_front_real_ip_from must list networks as CIDR" in output, output[-2000:]
