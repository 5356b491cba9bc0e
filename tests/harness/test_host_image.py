"""The local host image is as bare as Debian's official 12 AMI, so every rollout exercises the roles' own
package path (apt cache update, install) exactly as on AWS.

What the AMI carries comes from Debian's image build (debian-cloud-images, config_space/package_config:
CLOUD installs openssh-server, sudo, dbus, unattended-upgrades; EC2 installs cloud-init; python3 comes with
cloud-init and python3-apt with unattended-upgrades). The roles' package lists are read from the roles.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/visitor-board-host:bookworm"
# On the official Debian 12 AMI (see the module docstring); a role may list them to be sure, no-op there.
AMI_PACKAGES = {
    "openssh-server",
    "sudo",
    "dbus",
    "unattended-upgrades",
    "cloud-init",
    "python3",
    "python3-apt",
    "curl",
    "ca-certificates",
    # ca-certificates depends on it, so every Debian image has it (the TLS role lists it all the same).
    "openssl",
    "iproute2",
    "procps",
    "locales",
}


def _image_available() -> bool:
    if shutil.which("podman") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode == 0


pytestmark = pytest.mark.skipif(not _image_available(), reason=f"needs root, podman and {IMAGE} (make setup)")


def _in_image(*argv: str) -> str:
    proc = subprocess.run(
        ["podman", "run", "--rm", "--network", "none", "--entrypoint", argv[0], IMAGE, *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.stdout


def _installed() -> set[str]:
    out = _in_image("dpkg-query", "--show", "--showformat", "${Package} ${db:Status-Status}\n")
    return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}


def role_packages() -> dict[str, set[str]]:
    """{role: packages its OS vars tell it to install}, from every roles/*/vars/*.yml `*_packages` list."""
    found: dict[str, set[str]] = {}
    for path in sorted(REPO.glob("roles/*/vars/*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        for key, value in data.items():
            if key.endswith("_packages") and isinstance(value, list):
                found.setdefault(path.parts[-3], set()).update(str(v) for v in value)
    return found


def test_the_roles_declare_packages_at_all() -> None:
    # Guards the test below against reading nothing (a renamed variable would make it pass vacuously).
    assert "python3-venv" in role_packages()["visitor_board_app"]


def test_image_holds_no_package_a_role_installs() -> None:
    installed = _installed()
    assert "dpkg" in installed, "dpkg-query answered nothing: the image could not be read"
    for role, packages in role_packages().items():
        preinstalled = (packages - AMI_PACKAGES) & installed
        assert not preinstalled, (
            f"{IMAGE} already has {sorted(preinstalled)}, which {role} installs itself on AWS: remove them "
            "from tests/localcloud/build-host-image.sh so rollouts exercise the role's package path"
        )


def test_image_carries_what_the_ami_carries() -> None:
    missing = AMI_PACKAGES - _installed()
    assert not missing, f"{IMAGE} lacks {sorted(missing)}, which Debian's 12 AMI has"


def test_identity_and_keys_come_from_the_metadata_service_not_the_image() -> None:
    """No login user, no authorized key and no SSH host key is baked in: cloud-init makes them per host."""
    out = _in_image(
        "sh",
        "-c",
        "getent passwd admin || echo no-admin; ls /etc/ssh/ssh_host_*_key 2>/dev/null || echo no-host-keys; "
        "systemctl is-enabled cloud-init.service apt-daily.timer "
        "apt-daily-upgrade.timer",
    )
    lines = out.split()
    assert "no-admin" in lines and "no-host-keys" in lines, out
    assert lines.count("enabled") == 3, f"cloud-init and the AMI's apt timers must be enabled: {out}"
