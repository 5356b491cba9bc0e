"""Constants and helpers shared by the AWS roles' pytest checks (imported by conftest and the tests)."""

from __future__ import annotations

from pathlib import Path

from localcloud.awsenv import FAKE_AWS_ENV, REGION
from localcloud.moto_server import start_moto
from localcloud.ports import free_port

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"

__all__ = ["FAKE_AWS_ENV", "PLAYBOOKS", "REGION", "REPO", "free_port", "start_moto"]
