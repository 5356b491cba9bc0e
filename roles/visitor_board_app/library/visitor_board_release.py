#!/usr/bin/python
# ruff: noqa: E402  (Ansible modules keep DOCUMENTATION/EXAMPLES/RETURN above the imports)
"""Ansible module (role visitor_board_app): a release instance made ready, then live, then old ones pruned;
or one that did not go live retired; and the role's record of what it applied.

The role's hot path in three round trips where there were eighteen (ready: start + two uri loops; live:
three links, the tmpfiles entry, two enables, the instance list, the grace, two retires; pruned: read,
list, remove): each was a task of its own, and each task a round trip of Ansible's module wrapper, about
0.4 s on a small host. What each step does, and the order, is unchanged (tasks/gate.yml, switch.yml and
cleanup.yml say why each is there).
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: visitor_board_release
short_description: Start a release instance and gate it on its own socket, or make it the live one
description:
  - One release of the app runs as the systemd template instances C(<service_name>@<release>.socket) and
    C(.service); the front proxies to I(socket_path), a symlink to the live release's own socket.
  - C(state=ready) starts the release's service (its socket first, by the unit's C(Requires=)), then gates
    it on its own socket, B(before) it gets any traffic; C(/healthz) must answer 200 with
    C(version=expected_version), then I(ready_path) must answer 200. Fails with what the release said
    when it cannot start or does not pass its gate (the caller retires it).
  - C(state=live) points the front at the release when I(switch) is set (the C(previous) and C(current)
    links, then the socket link, each replaced by renaming a new symlink over it, so a connection always
    finds a socket), writes the systemd-tmpfiles entry that recreates the socket link at boot, enables the
    release's units, and retires every other instance of the service. When the socket link pointed
    elsewhere, it first drains the socket it pointed at: connections the front opened there before the
    rename wait in that socket's accept queue until the old release accepts them, and retiring it sooner
    would reset them. It waits until that queue is empty (C(ss -xl), read every 50 ms after a 100 ms
    settle), at most I(grace) seconds; without C(ss) on the host, I(grace) seconds.
  - Retiring is a graceful stop (SIGTERM, gunicorn finishes the requests in progress) and a disable, in
    one C(systemctl disable --now) (one daemon reload): systemd stops each service before its socket, the
    inverse of their start order.
  - C(state=pruned) removes the release directories beyond the newest I(keep) (by modification time) in
    I(releases_dir), except the one the I(previous_link) points to now and those in I(protect).
  - C(state=absent) retires a release that is not live (one that failed its gate, or was staged and never
    switched to): its units are stopped and disabled (service, then socket), their failed state is reset,
    and I(release_dir), when given, is removed. A release whose socket the I(socket_path) link points at is
    left running (nothing else would serve), and a directory the I(current_link) points at is kept.
  - C(state=recorded) makes I(record_path) hold I(record_content) (root, 0644, replaced by renaming a new
    file over it): the role's record of what its last successful run applied (tasks/applied.yml).
  - C(state=ready) with I(record_path) makes it hold I(record_pending) before the release is started.
  - C(state=live) with I(record_path) keeps that record in the same run: before any link moves it holds
    I(record_pending) (what stays true while the switch is under way; removed when empty), and once every
    other instance is retired, I(record_content). A switch that stops half way leaves the pending record,
    never one claiming the switch was made.
  - Check mode changes nothing, skips the gate and the grace, and reports whether anything would change.
options:
  state:
    description: C(ready) (started and gated), C(live) (serving through the front's socket link) or
      C(pruned) (old release directories removed), C(absent) (a release that is not live retired) or
      C(recorded) (the role's record written).
    type: str
    choices: [ready, live, pruned, absent, recorded]
    required: true
  service_name:
    description: The template units' name, e.g. C(visitor-board) (C(state=ready), C(live) and C(absent)).
    type: str
  release:
    description: The release's name, the instance name of its units and its socket's file name
      (C(state=ready), C(live) and C(absent)).
    type: str
  socket_dir:
    description: Directory of the releases' sockets (C(<socket_dir>/<release>.sock); C(state=ready),
      C(live) and C(absent)).
    type: path
  expected_version:
    description: The version C(/healthz) must report (C(state=ready)).
    type: str
    default: ""
  ready_path:
    description: The readiness path (C(state=ready)).
    type: str
    default: /readyz
  ready_retries:
    description: Attempts after the first, for each of the two gate checks.
    type: int
    default: 30
  ready_delay:
    description: Seconds between attempts.
    type: float
    default: 1
  ready_timeout:
    description: Seconds one request may take.
    type: float
    default: 5
  gate:
    description: With C(state=live), first start the release unless it runs and gate it on its own socket
      as C(state=ready) does, before anything moves (a staged release checked once more, then switched to,
      in one round trip); a release that does not pass fails the module with nothing changed but its start.
    type: bool
    default: false
  switch:
    description: Point the links at the release (C(state=live)); false leaves them, e.g. when the release
      is live already and only its settings changed.
    type: bool
    default: true
  release_dir:
    description: The release's directory, the target of I(current_link) (C(state=live), I(switch)); with
      C(state=absent), the directory to remove (omitted, it stays).
    type: path
  current_link:
    description: Symlink to the live release's directory (C(state=live), I(switch); with C(state=absent),
      the directory it points at is never removed).
    type: path
  previous_link:
    description: Symlink to the release to roll back to (C(state=live), I(switch)).
    type: path
  previous:
    description: What I(previous_link) becomes on a switch; a path to link to, an empty string to remove
      the link, or null to leave it as it is.
    type: path
  socket_path:
    description: The front's socket path, a symlink to the live release's socket (C(state=live) and
      C(absent)).
    type: path
  tmpfiles_conf:
    description: The systemd-tmpfiles file that recreates the socket link at boot (C(state=live)).
    type: path
  tmpfiles_content:
    description: Its content (C(state=live)).
    type: str
  grace:
    description: The most seconds to wait, between pointing the socket link elsewhere and retiring what it
      pointed at, for that socket's accept queue to empty (the drain).
    type: float
    default: 2
  record_path:
    description: The file the role's record goes to (C(state=recorded); optional with C(state=live)).
    type: path
  record_content:
    description: What it holds (C(state=recorded); with C(state=live), once the release is live).
    type: str
  record_pending:
    description: What I(record_path) holds while C(state=live) switches, or once C(state=ready) starts a
      release (an empty string removes it).
    type: str
    default: ""
  releases_dir:
    description: The directory holding one directory per release (C(state=pruned)).
    type: path
  keep:
    description: How many of the newest releases to keep (C(state=pruned)).
    type: int
    default: 3
  protect:
    description: Release directories never removed (C(state=pruned)), besides the one I(previous_link) names.
    type: list
    elements: path
    default: []
author:
  - Visitor Board
"""

EXAMPLES = r"""
- name: Remove releases beyond the newest 3
  visitor_board_release:
    state: pruned
    releases_dir: /opt/visitor-board/releases
    previous_link: /opt/visitor-board/previous
    protect: [/opt/visitor-board/releases/1.0.3-0a1b2c3d]

- name: Start the target release and gate it on its own socket
  visitor_board_release:
    state: ready
    service_name: visitor-board
    release: 1.0.3-0a1b2c3d
    socket_dir: /run/visitor-board
    expected_version: 1.0.3

- name: Retire a staged release that never went live (its directory too)
  visitor_board_release:
    state: absent
    service_name: visitor-board
    release: 1.0.4-5e6f7a8b
    socket_dir: /run/visitor-board
    socket_path: /run/visitor-board/app.sock
    release_dir: /opt/visitor-board/releases/1.0.4-5e6f7a8b
    current_link: /opt/visitor-board/current

- name: Switch the front to it and retire the release it replaces
  visitor_board_release:
    state: live
    service_name: visitor-board
    release: 1.0.3-0a1b2c3d
    socket_dir: /run/visitor-board
    release_dir: /opt/visitor-board/releases/1.0.3-0a1b2c3d
    current_link: /opt/visitor-board/current
    previous_link: /opt/visitor-board/previous
    previous: /opt/visitor-board/releases/1.0.2-9f8e7d6c
    socket_path: /run/visitor-board/app.sock
    tmpfiles_conf: /etc/tmpfiles.d/visitor-board.conf
    tmpfiles_content: "L+ /run/visitor-board/app.sock - - - - /run/visitor-board/1.0.3-0a1b2c3d.sock\n"
"""

RETURN = r"""
removed:
  description: The release directories removed.
  returned: state=pruned, state=absent
  type: list
  elements: str
started:
  description: Whether the release's service was started (it was not active).
  returned: state=ready
  type: bool
attempts:
  description: Requests the gate made (C(/healthz) and the readiness path together; 0 without I(gate)).
  returned: state=ready and state=live, not in check mode
  type: int
links:
  description: The links changed, each C(path -> target) (target empty for a removed link).
  returned: state=live
  type: list
  elements: str
drained:
  description: Seconds waited for the accept queue of the socket the link pointed at to empty (0 when the
    link did not move).
  returned: state=live
  type: float
enabled:
  description: The release's units that were enabled.
  returned: state=live
  type: list
  elements: str
retired:
  description: The other instances (C(state=live)) or the release's own units (C(state=absent)) stopped and
    disabled (services, then sockets).
  returned: state=live, state=absent
  type: list
  elements: str
written:
  description: The record written (empty when it held that content already).
  returned: state=recorded; state=ready and live with record_path
  type: list
  elements: str
kept:
  description: Why the release or its directory was left alone ('' when nothing was).
  returned: state=absent
  type: str
"""

import os
import re
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.visitor_board_http import get, version


def _units_state(
    module: AnsibleModule, units: list[str], properties: str = "ActiveState,UnitFileState"
) -> dict[str, dict[str, str]]:
    """ActiveState and UnitFileState of each unit, from one `systemctl show` ({} for one it leaves out)."""
    if not units:
        return {}
    rc, out, err = module.run_command(["systemctl", "show", f"--property=Id,{properties}", "--", *units])
    if rc != 0:
        module.fail_json(msg=f"systemctl show {' '.join(units)}: {err.strip() or out.strip()}")
    found = {}
    for block in out.split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in fields:
            found[fields["Id"]] = fields
    return {unit: found.get(unit, {}) for unit in units}


def _systemctl(module: AnsibleModule, *args: str) -> tuple[int, str]:
    rc, out, err = module.run_command(["systemctl", *args])
    return rc, (err.strip() or out.strip())


def ready(module: AnsibleModule) -> None:
    p = module.params
    service = f"{p['service_name']}@{p['release']}.service"
    active = _units_state(module, [service])[service].get("ActiveState") == "active"
    if module.check_mode:
        module.exit_json(changed=not active, started=not active)
    written: list[str] = []
    if p["record_path"]:
        # A release started beside the live one is a change to the host: the record stops claiming the
        # last run's state before it (a later run then takes the path that retires it).
        _pending(module, p["record_path"], p["record_pending"], None, True, written)
    attempts = _gate(module, active)
    module.exit_json(
        changed=not active or bool(written), started=not active, attempts=attempts, written=written
    )


def _gate(module: AnsibleModule, active: bool) -> int:
    """Start the release's service unless ACTIVE, then ask it on its own socket: /healthz must name
    expected_version, then ready_path must answer 200, each within ready_retries. Returns the requests
    made; fails the module (with started and attempts) when the release does not pass."""
    p = module.params
    service = f"{p['service_name']}@{p['release']}.service"
    if not active:
        rc, said = _systemctl(module, "start", service)
        if rc != 0:
            module.fail_json(
                msg=f"{service} did not start, so it is not ready: {said}", started=False, attempts=0
            )
    socket = _socket(p)
    attempts = 0
    checks = (
        ("/healthz", lambda status, body: status == 200 and version(body) == p["expected_version"]),
        (p["ready_path"], lambda status, body: status == 200),
    )
    for path, passed in checks:
        for attempt in range(p["ready_retries"] + 1):
            if attempt:
                time.sleep(p["ready_delay"])
            attempts += 1
            status, body = get(f"http://localhost{path}", socket, p["ready_timeout"])
            if passed(status, body):
                break
        else:
            answer = f"answered {status}" if status else f"did not answer ({body})"
            if path == "/healthz" and status == 200:
                answer = f"reports version {version(body)!r}, not {p['expected_version']!r}"
            unit = _units_state(module, [service], "ActiveState,SubState,NRestarts")[service]
            state = f"{unit.get('ActiveState', '?')}/{unit.get('SubState', '?')}"
            restarts = unit.get("NRestarts", "?")
            module.fail_json(
                msg=(
                    f"not ready: GET {path} on {socket} {answer} after {p['ready_retries'] + 1} attempts; "
                    f"{service} is {state} ({restarts} restarts)"
                ),
                started=not active,
                attempts=attempts,
            )
    return attempts


def _link(module: AnsibleModule, path: str, target: str | None, changes: list[str]) -> bool:
    """Make PATH a symlink to TARGET ('' removes it), by renaming a new link over it. True if it changed."""
    current = os.readlink(path) if os.path.islink(path) else None
    exists = os.path.lexists(path)
    if target == "":
        if not exists:
            return False
        changes.append(f"{path} -> ")
        if not module.check_mode:
            os.unlink(path)
        return True
    if current == target:
        return False
    if exists and os.path.isdir(path) and not os.path.islink(path):
        module.fail_json(msg=f"{path} is a directory, not a link; move it away and run again")
    changes.append(f"{path} -> {target}")
    if not module.check_mode:
        temporary = f"{path}.{os.getpid()}.new"
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(target, temporary)
        os.replace(temporary, path)
    return True


def _write(module: AnsibleModule, path: str, content: str, changes: list[str]) -> None:
    """Make PATH hold CONTENT, root:root 0644, by renaming a new file over it."""
    try:
        with open(path, encoding="utf-8") as handle:
            status = os.stat(path)
            owned = (status.st_mode & 0o7777, status.st_uid, status.st_gid) == (0o644, 0, 0)
            if owned and handle.read() == content:
                return
    except FileNotFoundError:
        pass
    changes.append(path)
    if not module.check_mode:
        temporary = f"{path}.{os.getpid()}.new"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(temporary, 0o644)
        os.chown(temporary, 0, 0)
        os.replace(temporary, path)


def _retiring(units: list[str], states: dict[str, dict[str, str]]) -> list[str]:
    """Those of UNITS that are active or enabled (what retiring them changes), services first."""
    retire = [
        unit
        for unit in units
        if states[unit].get("ActiveState") not in ("inactive", "failed", None)
        or states[unit].get("UnitFileState") == "enabled"
    ]
    return [u for u in retire if u.endswith(".service")] + [u for u in retire if u.endswith(".socket")]


def _retire(module: AnsibleModule, retire: list[str], **result: object) -> list[str]:
    """Disable and stop RETIRE in one systemctl run (one daemon reload). The stop jobs run in the inverse of
    the start order: a service (After= its socket) stops before its socket (systemd.unit(5), After=).
    SIGTERM: gunicorn stops accepting and finishes what it has. Returns RETIRE (in check mode, nothing
    is done)."""
    if retire and not module.check_mode:
        rc, said = _systemctl(module, "disable", "--now", *retire)
        if rc != 0:
            module.fail_json(msg=f"retiring {' '.join(retire)}: {said}", retired=[], **result)
    return retire


def _instances(module: AnsibleModule, name: str) -> list[str]:
    """Every unit of the template NAME@ that systemd knows or that is enabled."""
    rc, out, err = module.run_command(
        ["systemctl", "list-units", "--all", "--plain", "--no-legend", "--type=service,socket", f"{name}@*"]
    )
    if rc != 0:
        module.fail_json(msg=f"systemctl list-units {name}@*: {err.strip()}")
    found = {line.split()[0] for line in out.splitlines() if line.strip()}
    for directory, _subdirs, files in os.walk("/etc/systemd/system"):
        if directory.endswith(".wants"):
            found.update(f for f in files if f.startswith(f"{name}@"))
    pattern = re.compile(rf"^{re.escape(name)}@.+\.(service|socket)$")
    return sorted(unit for unit in found if pattern.match(unit))


def live(module: AnsibleModule) -> None:
    p = module.params
    # required_if cannot say "state=live and switch".
    if p["switch"] and not (p["release_dir"] and p["current_link"] and p["previous_link"]):
        module.fail_json(msg="state=live with switch needs release_dir, current_link and previous_link")
    if p["record_path"] and p["record_content"] is None:
        module.fail_json(msg="state=live with record_path needs record_content")
    own = [f"{p['service_name']}@{p['release']}.socket", f"{p['service_name']}@{p['release']}.service"]
    if p["gate"] and not p["expected_version"]:
        module.fail_json(msg="state=live with gate needs expected_version")
    attempts = 0
    if p["gate"] and not module.check_mode:
        # Nothing has moved yet: a release that does not pass fails the module here (its caller retires it).
        attempts = _gate(module, _units_state(module, own[1:])[own[1]].get("ActiveState") == "active")
    links: list[str] = []
    files: list[str] = []
    written: list[str] = []
    socket_moved = False
    if p["record_path"]:
        wanted = {p["current_link"]: p["release_dir"], p["socket_path"]: _socket(p)}
        if p["previous"] is not None:
            wanted[p["previous_link"]] = p["previous"] or None
        moving = p["switch"] and any(_target(path) != target for path, target in wanted.items())
        _pending(module, p["record_path"], p["record_pending"], p["record_content"], moving, written)
    if p["switch"]:
        if p["previous"] is not None:
            _link(module, p["previous_link"], p["previous"], links)
        _link(module, p["current_link"], p["release_dir"], links)
        had_socket = os.path.lexists(p["socket_path"])
        # The old layout's socket sits at the path itself; a release's is where the link points.
        old_socket = _target(p["socket_path"]) or p["socket_path"]
        moved = _link(module, p["socket_path"], _socket(p), links)
        socket_moved = moved and had_socket
    _write(module, p["tmpfiles_conf"], p["tmpfiles_content"], files)

    others = [unit for unit in _instances(module, p["service_name"]) if unit not in own]
    states = _units_state(module, own + others)
    enable = [unit for unit in own if states[unit].get("UnitFileState") != "enabled"]
    retire = _retiring(others, states)
    if enable and not module.check_mode:
        # The retire below reloads systemd's configuration once for both.
        reload = ["--no-reload"] if retire else []
        rc, said = _systemctl(module, "enable", *reload, *enable)
        if rc != 0:
            module.fail_json(msg=f"systemctl enable {' '.join(enable)}: {said}", links=links)

    # What served through the socket link before (another release, or the old layout's own socket, which
    # the caller retires after this) gets the requests nginx already sent it before it stops accepting.
    drained = 0.0
    if socket_moved and p["grace"] > 0 and not module.check_mode:
        drained = _drain(module, old_socket, p["grace"])
    _retire(module, retire, links=links)
    if p["record_path"]:
        _write(module, p["record_path"], p["record_content"], written)
    module.exit_json(
        changed=bool(links or files or enable or retire or written),
        links=links,
        enabled=enable,
        retired=retire,
        written=sorted(set(written)),
        drained=round(drained, 2),
        attempts=attempts,
    )


def _accept_queue(module: AnsibleModule, path: str) -> int | None:
    """Connections waiting to be accepted on the listening unix socket bound at PATH (None: not known).

    `ss -Hxl src PATH` prints `u_str LISTEN <queued> <backlog> PATH <inode> * 0` per listening socket (for
    a listening socket, Recv-Q is its accept queue: ss(8), "Recv-Q")."""
    ss = module.get_bin_path("ss")
    if ss is None:
        return None
    rc, out, _err = module.run_command([ss, "-Hxl", "src", path])
    if rc != 0:
        return None
    queued = [int(f[2]) for f in (line.split() for line in out.splitlines()) if len(f) > 4 and f[4] == path]
    return sum(queued)


def _drain(module: AnsibleModule, path: str, limit: float) -> float:
    """Wait until nothing waits in the accept queue of the socket at PATH, at most LIMIT seconds.

    The first read comes after a 100 ms settle (a connect() that found the old socket just before the
    rename is queued by then). Returns the seconds waited."""
    started = time.monotonic()
    time.sleep(min(0.1, limit))
    while time.monotonic() - started < limit:
        queued = _accept_queue(module, path)
        if queued is None:
            time.sleep(max(0.0, limit - (time.monotonic() - started)))
            break
        if queued == 0:
            break
        time.sleep(0.05)
    return time.monotonic() - started


def _target(path: str) -> str | None:
    """Where the symlink PATH points (None when it is not a symlink)."""
    return os.readlink(path) if os.path.islink(path) else None


def _socket(p: dict) -> str:
    return os.path.join(p["socket_dir"], f"{p['release']}.sock")


def _pending(
    module: AnsibleModule, path: str, pending: str, final: str | None, moving: bool, written: list[str]
) -> None:
    """Before a switch: PATH holds PENDING ('' removes it). Left alone when no link moves and it holds
    FINAL already (a re-run of a switch that was made: nothing changes)."""
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == final and not moving:
                return
    except FileNotFoundError:
        if not pending:
            return
    if pending:
        _write(module, path, pending, written)
    else:
        written.append(path)
        if not module.check_mode:
            os.unlink(path)


def pruned(module: AnsibleModule) -> None:
    p = module.params
    try:
        entries = [e for e in os.scandir(p["releases_dir"]) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        module.exit_json(changed=False, removed=[])
    # Hidden directories are not releases (ansible.builtin.find, which this replaces, left them out too).
    releases = sorted(
        (e for e in entries if not e.name.startswith(".")),
        key=lambda e: e.stat(follow_symlinks=False).st_mtime,
        reverse=True,
    )
    previous = os.readlink(p["previous_link"]) if os.path.islink(p["previous_link"]) else ""
    keep = {previous, *p["protect"]}
    removed = [e.path for e in releases[max(p["keep"], 0) :] if e.path not in keep]
    if not module.check_mode:
        for path in removed:
            shutil.rmtree(path)
    module.exit_json(changed=bool(removed), removed=removed)


def absent(module: AnsibleModule) -> None:
    p = module.params
    socket = _socket(p)
    if os.path.islink(p["socket_path"]) and os.readlink(p["socket_path"]) == socket:
        kept = f"{p['socket_path']} points at {socket}: the release is live"
        module.exit_json(changed=False, retired=[], removed=[], kept=kept)
    units = [f"{p['service_name']}@{p['release']}.service", f"{p['service_name']}@{p['release']}.socket"]
    retired = _retire(module, _retiring(units, _units_state(module, units)))
    if not module.check_mode:
        # A unit that failed stays listed (and counts against its start limit) until its state is reset.
        module.run_command(["systemctl", "reset-failed", "--", *units])
    removed: list[str] = []
    kept = ""
    directory = p["release_dir"]
    if directory and os.path.lexists(directory):
        current = p["current_link"]
        if current and os.path.islink(current) and os.path.realpath(current) == os.path.realpath(directory):
            kept = f"{current} points at {directory}"
        else:
            removed.append(directory)
            if not module.check_mode:
                shutil.rmtree(directory)
    module.exit_json(changed=bool(retired or removed), retired=retired, removed=removed, kept=kept)


def recorded(module: AnsibleModule) -> None:
    p = module.params
    written: list[str] = []
    _write(module, p["record_path"], p["record_content"], written)
    module.exit_json(changed=bool(written), written=written)


STATES = {"ready": ready, "live": live, "pruned": pruned, "absent": absent, "recorded": recorded}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": list(STATES), "required": True},
            "service_name": {"type": "str"},
            "release": {"type": "str"},
            "socket_dir": {"type": "path"},
            "expected_version": {"type": "str", "default": ""},
            "ready_path": {"type": "str", "default": "/readyz"},
            "ready_retries": {"type": "int", "default": 30},
            "ready_delay": {"type": "float", "default": 1},
            "ready_timeout": {"type": "float", "default": 5},
            "switch": {"type": "bool", "default": True},
            "gate": {"type": "bool", "default": False},
            "release_dir": {"type": "path"},
            "current_link": {"type": "path"},
            "previous_link": {"type": "path"},
            "previous": {"type": "path"},
            "socket_path": {"type": "path"},
            "tmpfiles_conf": {"type": "path"},
            "tmpfiles_content": {"type": "str"},
            "grace": {"type": "float", "default": 2},
            "record_path": {"type": "path"},
            "record_content": {"type": "str"},
            "record_pending": {"type": "str", "default": ""},
            "releases_dir": {"type": "path"},
            "keep": {"type": "int", "default": 3},
            "protect": {"type": "list", "elements": "path", "default": []},
        },
        required_if=[
            ("state", "ready", ["service_name", "release", "socket_dir"]),
            (
                "state",
                "live",
                ["service_name", "release", "socket_dir", "socket_path", "tmpfiles_conf", "tmpfiles_content"],
            ),
            ("state", "pruned", ["releases_dir", "previous_link"]),
            ("state", "absent", ["service_name", "release", "socket_dir", "socket_path"]),
            ("state", "recorded", ["record_path", "record_content"]),
        ],
        supports_check_mode=True,
    )
    STATES[module.params["state"]](module)


if __name__ == "__main__":
    main()
