"""The local load balancer's report of target health, which the local cloud's moto serves as ELBv2's own.

moto runs no health checks (every registered target is `healthy` at once) and deregisters at once (no
`draining`). The load balancer follower (localcloud.load_balancer) knows better: its HAProxy checks every
target, and it drains the deregistered ones. It writes what it knows to one JSON file; moto's
DescribeTargetHealth (patched in localcloud.moto_server) answers from it while the report is fresh.

Shape of the file:
    {"written": <unix time, s>,
     "target_groups": {<target group ARN>: {
         "registered": {<instance id>: {"state": "healthy|unhealthy|unused",
             "reason": <ELBv2 reason code or null>, "description": <str or null>}},
         "draining": {<instance id>: {"port": <int>}}}}}

While a report is fresh, a registered target missing from "registered" is `initial` (not checked enough
yet), and a target deregistered after the report was written is `draining` (the follower has not seen it
go yet). A report older than STALE_SECONDS (the follower stopped) is ignored: moto answers as it would alone.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV = "LOCALCLOUD_TARGET_HEALTH"
STALE_SECONDS = 15.0


def write(path: Path, target_groups: dict[str, Any]) -> None:
    """Replaces the report atomically (readers never see half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"written": time.time(), "target_groups": target_groups}))
    os.replace(tmp, path)


@dataclass(frozen=True)
class Report:
    """A fresh report: when it was written (unix time, s) and its {target group ARN: entry}."""

    written: float
    target_groups: dict[str, Any]


def read(path: Path | None) -> Report | None:
    """The report if there is a fresh one (the follower runs), else None (no file, unreadable or stale)."""
    if path is None:
        return None
    try:
        report = json.loads(path.read_text())
        written = float(report.get("written", 0))
    except (OSError, ValueError, AttributeError):
        return None
    groups = report.get("target_groups", {})
    if time.time() - written > STALE_SECONDS or not isinstance(groups, dict):
        return None
    return Report(written, groups)


def report_path() -> Path | None:
    """The report file named by LOCALCLOUD_TARGET_HEALTH, or None."""
    value = os.environ.get(ENV, "")
    return Path(value) if value else None
