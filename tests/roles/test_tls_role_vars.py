"""visitor_board_tls refuses bad variables with a clear message, before any change.

Each case runs only the role's preflight (argument specs + checks: `--tags visitor_board_tls_preflight`) in
check mode against localhost; a valid set of variables is the positive control.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from roles_support import flat
from roles_support import run_preflight as role_preflight

GOOD: dict[str, Any] = {
    "visitor_board_tls_address": "203.0.113.10",
    "visitor_board_tls_email": "ops@example.org",
}


def run_preflight(tmp_path: Path, extra: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return role_preflight(tmp_path, "visitor_board_tls", {**GOOD, **extra})


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"visitor_board_tls_email": ""},
        {"visitor_board_tls_staging": True},
        {"visitor_board_tls_address": "0.0.0.0"},
    ],
    ids=["email", "no-email", "staging", "zero-address"],
)
def test_valid_variables_pass(tmp_path: Path, extra: dict[str, Any]) -> None:
    result = run_preflight(tmp_path, extra)
    assert result.returncode == 0, flat(result.stdout + result.stderr)


ADDRESS = "the address must be one IPv4 address"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({"visitor_board_tls_address": ""}, ADDRESS, id="address-empty"),
        pytest.param({"visitor_board_tls_address": "203.0.113.256"}, ADDRESS, id="address-octet-too-big"),
        pytest.param({"visitor_board_tls_address": "203.0.113.010"}, ADDRESS, id="address-leading-zero"),
        pytest.param({"visitor_board_tls_address": "203.0.113.10\n"}, ADDRESS, id="address-trailing-newline"),
        pytest.param({"visitor_board_tls_address": "board.example.org"}, ADDRESS, id="address-a-name"),
        pytest.param({"visitor_board_tls_address": "2001:db8::1"}, ADDRESS, id="address-ipv6"),
        pytest.param({"visitor_board_tls_address": "203.0.113.0/24"}, ADDRESS, id="address-a-network"),
        pytest.param(
            {"visitor_board_tls_acme_directory": "http://acme.example.org/dir"},
            "the ACME directory an https URL",
            id="directory-http",
        ),
        pytest.param(
            {"visitor_board_tls_acme_directory": "https://acme.example.org/dir\n"},
            "the ACME directory an https URL",
            id="directory-trailing-newline",
        ),
        pytest.param({"visitor_board_tls_email": "ops"}, "the e-mail an address", id="email-no-at"),
        pytest.param({"visitor_board_tls_email": "a@b.org,c@d.org"}, "the e-mail an address", id="email-two"),
        pytest.param(
            {"visitor_board_tls_email": "ops@example.org\n"}, "the e-mail an address", id="email-newline"
        ),
        pytest.param({"visitor_board_tls_profile": "short lived"}, "the profile a name", id="profile-space"),
        pytest.param(
            {"visitor_board_tls_min_validity_hours": 0}, "min_validity_hours at least 1", id="validity-0"
        ),
        pytest.param(
            {"visitor_board_tls_acme_ca_bundle": "not a certificate"},
            "acme_ca_bundle",
            id="ca-bundle-not-pem",
        ),
        pytest.param(
            {"visitor_board_tls_renew_on_calendar": "daily\nExecStart=/bin/sh"},
            "renew_on_calendar a systemd calendar expression",
            id="calendar-injection",
        ),
        pytest.param(
            {"visitor_board_tls_renew_randomized_delay": "an hour"},
            "renew_randomized_delay",
            id="delay-words",
        ),
        pytest.param(
            {"visitor_board_tls_webroot": "webroot"}, "webroot an absolute path", id="webroot-relative"
        ),
        pytest.param(
            {"visitor_board_tls_staging": "perhaps"}, "visitor_board_tls_staging", id="staging-not-bool"
        ),
    ],
)
def test_bad_variables_fail_with_a_clear_message(
    tmp_path: Path, extra: dict[str, Any], expected: str
) -> None:
    result = run_preflight(tmp_path, extra)
    output = flat(result.stdout + result.stderr)
    assert result.returncode != 0, output
    assert expected in output, output
