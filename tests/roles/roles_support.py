"""Constants and helpers shared by the AWS roles' pytest checks (imported by conftest and the tests)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
sys.path.insert(0, str(REPO / "tests" / "localcloud"))
from loopback import FAKE_AWS_ENV, REGION, free_port, start_moto  # noqa: E402

__all__ = ["FAKE_AWS_ENV", "PLAYBOOKS", "REGION", "REPO", "free_port", "start_moto"]
