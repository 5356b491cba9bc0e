"""Ansible filter: the end-of-run report of a rollout (one line per host, one verdict line).

Used by playbooks/rollout-end.yml (imported by site.yml and rollback.yml). Pure data in, data out: the
plays gather what happened (each host's outcome) and what is true now (what each host's front socket
serves, and whether it is ready), this turns it into text and a pass/fail decision.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_HASH = re.compile(r"-[0-9a-f]{8}$")


def _version(release: str) -> str:
    """'1.0.3-0123abcd' -> '1.0.3' (a release directory is <version>-<hash of source and requirements>)."""
    return _HASH.sub("", release) if release else ""


def _field(host_vars: Mapping[str, Any], key: str, default: Any) -> Any:
    try:
        value = host_vars[key]
    except Exception:  # a missing key, or Ansible's error for a variable that is not defined on that host
        return default
    return default if value is None else value


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def rollout_report(hosts: list[Mapping[str, Any]], on_failure: str) -> dict[str, Any]:
    """Build the report.

    hosts: the variables of each host of the run (hostvars[host]), in rollout order. Read from them:
    inventory_hostname (the instance id), ansible_host (its address), visitor_board_app_outcome (what the
    run did: release_before, release, switched, failed, reason, skipped, rolled_back, rolled_back_to,
    rollback_failed; absent for a host the run never reached) and visitor_board_rollout_observed (after the
    run: reachable, release served through the front's socket, ready; absent when it could not be looked
    at).
    on_failure: visitor_board_rollout_on_failure, 'rollback' or 'hold'.

    Returns {'lines': [str], 'verdict': str, 'ok': bool}: ok only when every host of the run was reached,
    none failed, and all serve one release and are ready.
    """
    lines: list[str] = []
    failed: list[tuple[str, str]] = []
    serving: dict[str, list[str]] = {}
    ready = 0
    rolled_back = False
    for host_vars in hosts:
        name = str(_field(host_vars, "inventory_hostname", "?"))
        address = str(_field(host_vars, "ansible_host", name))
        outcome = dict(_field(host_vars, "visitor_board_app_outcome", {}))
        observed = dict(_field(host_vars, "visitor_board_rollout_observed", {}))
        release = str(observed.get("release", "")).strip() if _truthy(observed.get("reachable")) else ""
        is_ready = _truthy(observed.get("ready")) and bool(release)
        ready += is_ready
        if release:
            serving.setdefault(release, []).append(name)
        if not outcome:
            what = "UNREACHABLE, not deployed"
            failed.append((name, "unreachable"))
        elif _truthy(outcome.get("failed")):
            what = f"FAILED: {outcome.get('reason', '?')}"
            failed.append((name, outcome.get("reason", "?")))
        elif _truthy(outcome.get("skipped")):
            what = "untouched (the rollout stopped before its batch)"
        elif _truthy(outcome.get("switched")):
            what = f"switched {outcome.get('release_before') or 'nothing'} -> {outcome.get('release')}"
        else:
            what = "unchanged"
        if _truthy(outcome.get("rolled_back")):
            rolled_back = True
            what += f"; rolled back to {outcome.get('rolled_back_to')}"
        if outcome.get("rollback_failed"):
            what += f"; ROLLBACK FAILED: {outcome['rollback_failed']}"
            failed.append((name, f"rollback failed: {outcome['rollback_failed']}"))
        lines.append(
            f"{name} {address} serving {release or 'NOTHING'} {'ready' if is_ready else 'NOT READY'} | {what}"
        )

    total = len(hosts)
    if total == 0:
        return {"lines": [], "verdict": "no app host in this run (see --limit)", "ok": True}
    releases = sorted(serving)
    one_release = len(releases) == 1 and len(serving[releases[0]]) == total
    idle = total - sum(len(names) for names in serving.values())
    summary = ", ".join(
        [f"{len(serving[r])} on {r}" for r in releases] + ([f"{idle} serving nothing"] if idle else [])
    )
    spread = "fleet on several releases" if len(releases) > 1 else "fleet not on one release"
    if not failed and one_release and ready == total:
        verdict = f"fleet on {_version(releases[0])} ({releases[0]}), {ready}/{total} ready"
        return {"lines": lines, "verdict": verdict, "ok": True}
    if failed:
        first_host, first_reason = failed[0]
        cause = f"{first_host} failed: {first_reason}; {ready}/{total} ready"
        if one_release:
            verb = "rolled back to" if rolled_back else "fleet stays on"
            verdict = f"FAILED: {verb} {_version(releases[0])} ({releases[0]}) after {cause}"
        else:
            held = "held as asked (visitor_board_rollout_on_failure=hold): " if on_failure == "hold" else ""
            verdict = f"FAILED: {held}{spread} ({summary}) after {cause}"
    else:
        verdict = f"FAILED: {spread} ({summary}); {ready}/{total} ready"
    return {"lines": lines, "verdict": verdict, "ok": False}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"rollout_report": rollout_report}
