"""visitor_board_app refuses bad variables and unsupported platforms with a clear message, before any change.

Each case runs only the role's preflight (argument specs + checks: `--tags visitor_board_app_preflight`) in
check mode against localhost, with the host's facts given as extra vars, so a case that wrongly passed could
still change nothing. A valid set of variables on every supported platform is the positive control.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from roles_support import REPO, flat
from roles_support import run_preflight as role_preflight


def facts(distribution: str = "Debian", major: str = "12", family: str = "Debian") -> dict[str, Any]:
    return {
        "distribution": distribution,
        "distribution_major_version": major,
        "distribution_version": major,
        "os_family": family,
        "service_mgr": "systemd",
        "processor_vcpus": 2,
        "architecture": "x86_64",
        "python": {"version": {"major": 3, "minor": 11, "micro": 2}},
    }


GOOD: dict[str, Any] = {
    "visitor_board_app_source_dir": str(REPO / "app"),
    "visitor_board_app_table_name": "workshop_messages",
    "visitor_board_app_region": "eu-north-1",
    "visitor_board_app_secret_parameter": "/visitor-board/test/secret-key",
    "visitor_board_app_environment_extra": {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338",
    },
}


def run_preflight(
    tmp_path: Path, extra: dict[str, Any], host_facts: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    return role_preflight(tmp_path, "visitor_board_app", {**GOOD, **extra, "ansible_facts": host_facts})


@pytest.mark.parametrize(
    "host_facts",
    [facts("Debian", "12"), facts("Debian", "13"), facts("Ubuntu", "22"), facts("Ubuntu", "24")],
    ids=["debian12", "debian13", "ubuntu22.04", "ubuntu24.04"],
)
def test_valid_variables_pass_on_supported_platforms(tmp_path: Path, host_facts: dict[str, Any]) -> None:
    result = run_preflight(tmp_path, {}, host_facts)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("extra", "host_facts", "expected"),
    [
        *[
            pytest.param(
                {"visitor_board_app_socket_path": path},
                facts(),
                "visitor_board_app_socket_path must be an absolute path under /run ending in .sock",
                id=f"socket-path-{label}",
            )
            for label, path in [
                ("relative", "run/visitor-board/gunicorn.sock"),
                ("outside-run", "/tmp/gunicorn.sock"),
                ("dot-dot", "/run/../etc/gunicorn.sock"),
                ("no-suffix", "/run/visitor-board/gunicorn"),
                ("too-long", "/run/" + "x" * 100 + ".sock"),
                ("tcp-port", "80"),
            ]
        ],
        pytest.param(
            {"visitor_board_app_trusted_proxy_hops": 5},
            facts(),
            "visitor_board_app_trusted_proxy_hops",
            id="too-many-proxy-hops",
        ),
        pytest.param(
            {"visitor_board_app_environment_extra": {"TRUSTED_PROXY_HOPS": "3"}},
            facts(),
            "TRUSTED_PROXY_HOPS are set by the role",
            id="proxy-hops-in-extra-environment",
        ),
        pytest.param(
            {"visitor_board_app_table_name": ""},
            facts(),
            "visitor_board_app_table_name must be a DynamoDB table name",
            id="empty-table-name",
        ),
        pytest.param(
            {"visitor_board_app_region": "Europe"},
            facts(),
            "visitor_board_app_region must be an AWS region",
            id="bad-region",
        ),
        pytest.param(
            {},
            facts("Fedora", "40", "RedHat"),
            "visitor_board_app supports Debian 12/13, Ubuntu 22/24 (LTS releases for Ubuntu) with systemd; "
            "localhost runs Fedora 40",
            id="unknown-platform",
        ),
        pytest.param({}, facts("Debian", "11"), "localhost runs Debian 11", id="old-debian"),
        pytest.param(
            {"visitor_board_app_environment_extra": {"AWS_SECRET_ACCESS_KEY": "x"}},
            facts(),
            "refusing AWS_SECRET_ACCESS_KEY: these look like AWS credentials",
            id="credential-name",
        ),
        pytest.param(
            {"visitor_board_app_environment_extra": {"MY_KEY": "AKIAABCDEFGHIJKLMNOP"}},
            facts(),
            "refusing MY_KEY: these look like AWS credentials",
            id="credential-value",
        ),
        pytest.param(
            {"visitor_board_app_environment_extra": {"TABLE_NAME": "other"}},
            facts(),
            "TABLE_NAME are set by the role",
            id="override-managed-setting",
        ),
        pytest.param(
            {"visitor_board_app_keep_releases": 1},
            facts(),
            "_keep_releases (1) at least 2",
            id="keep-one-release",
        ),
        # Patterns match the whole value: `$` alone would let a final newline through.
        pytest.param(
            {"visitor_board_app_table_name": "workshop_messages\n"},
            facts(),
            "visitor_board_app_table_name must be a DynamoDB table name",
            id="table-name-trailing-newline",
        ),
        pytest.param(
            {"visitor_board_app_region": "eu-north-1\n"},
            facts(),
            "visitor_board_app_region must be an AWS region",
            id="region-trailing-newline",
        ),
        pytest.param(
            {"visitor_board_app_base_dir": "/opt/visitor-board\n"},
            facts(),
            "_base_dir an absolute path",
            id="base-dir-trailing-newline",
        ),
        pytest.param(
            {"visitor_board_app_session_cookie_secure": "maybe"},
            facts(),
            "visitor_board_app_session_cookie_secure",
            id="cookie-secure-not-a-choice",
        ),
        pytest.param(
            {"visitor_board_app_environment_extra": {"GOOD_NAME\n": "x"}},
            facts(),
            "are not valid environment variable names",
            id="env-name-trailing-newline",
        ),
    ],
)
def test_bad_variables_fail_with_a_clear_message(
    tmp_path: Path, extra: dict[str, Any], host_facts: dict[str, Any], expected: str
) -> None:
    result = run_preflight(tmp_path, extra, host_facts)
    output = flat(result.stdout + result.stderr)
    assert result.returncode != 0, output
    assert expected in output, output
