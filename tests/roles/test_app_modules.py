"""The app role's own modules, run as Ansible runs them (an ad-hoc `ansible localhost -m`, with the role's
library and module_utils), against real files, links and a real HTTP server on a unix socket: the parts
that need no systemd. visitor_board_release_info reads which release the front's socket link reaches and
what it answers; visitor_board_release state=recorded writes the role's record; state=absent never
touches a release the front's link points at; the switch's drain (called in-process, on a real
AnsibleModule) waits for a real socket's accept queue as `ss` reads it. The states that drive systemd run
on real hosts in the molecule scenario and tests/e2e."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType

import pytest
from localcloud.playbook import controller_env
from roles_support import REPO

ROLE = REPO / "roles" / "visitor_board_app"
ANSIBLE = Path(sys.executable).parent / "ansible"


def _module(name: str, args: dict[str, object], *extra: str) -> dict[str, object]:
    """One run of the role's module NAME on localhost; its result (the json callback's)."""
    env = controller_env(
        {
            "ANSIBLE_LIBRARY": str(ROLE / "library"),
            "ANSIBLE_MODULE_UTILS": str(ROLE / "module_utils"),
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        }
    )
    result = subprocess.run(
        [str(ANSIBLE), "localhost", "-c", "local", "-i", "localhost,", "-e",
         f"ansible_python_interpreter={sys.executable}", "-m", name, "-a", json.dumps(args), *extra],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


class _Release(BaseHTTPRequestHandler):
    version_answer = b'{"version": "1.2.3"}'
    ready_status = 200

    def do_GET(self) -> None:
        status, body = (200, self.version_answer) if self.path == "/healthz" else (self.ready_status, b"{}")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass

    # http.server reads the client address as (host, port); a unix socket has a path.
    def address_string(self) -> str:
        return "unix"


class _UnixHTTPServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


@pytest.fixture
def release_socket(tmp_path: Path) -> Iterator[Path]:
    """A release answering on <tmp>/run/1.2.3-0a1b2c3d.sock; the front's link to it: <tmp>/run/app.sock."""
    run = tmp_path / "run"
    run.mkdir()
    sock = run / "1.2.3-0a1b2c3d.sock"
    server = _UnixHTTPServer(str(sock), _Release)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    os.symlink(sock, run / "app.sock")
    yield run / "app.sock"
    server.shutdown()
    server.server_close()


def test_info_names_the_release_the_link_reaches_its_version_and_readiness(release_socket: Path) -> None:
    seen = _module("visitor_board_release_info", {"socket_path": str(release_socket)})
    assert not seen.get("failed") and seen["changed"] is False, seen
    assert (seen["release"], seen["version"], seen["ready"]) == ("1.2.3-0a1b2c3d", "1.2.3", True)
    assert seen["status"] == {"/healthz": 200, "/readyz": 200}


def test_info_reports_not_ready_and_no_release_when_nothing_answers(
    release_socket: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Release, "ready_status", 503)
    seen = _module("visitor_board_release_info", {"socket_path": str(release_socket)})
    assert (seen["release"], seen["ready"], seen["status"]["/readyz"]) == ("1.2.3-0a1b2c3d", False, 503)
    # A link to a socket nobody listens on: no answer, no release, no error (the report says so).
    os.symlink(tmp_path / "run" / "gone.sock", tmp_path / "dangling.sock")
    seen = _module("visitor_board_release_info", {"socket_path": str(tmp_path / "dangling.sock")})
    assert not seen.get("failed"), seen
    assert (seen["release"], seen["version"], seen["ready"]) == ("", "", False)
    assert seen["status"]["/healthz"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the record is owned by root")
def test_recorded_writes_the_record_once_and_not_in_check_mode(tmp_path: Path) -> None:
    record = tmp_path / ".applied"
    args = {"state": "recorded", "record_path": str(record), "record_content": "abc\ndef\n"}
    assert _module("visitor_board_release", args, "--check")["changed"] is True
    assert not record.exists()
    assert _module("visitor_board_release", args)["changed"] is True
    assert record.read_text() == "abc\ndef\n" and oct(record.stat().st_mode & 0o777) == "0o644"
    assert _module("visitor_board_release", args)["changed"] is False
    # Another content replaces it whole (no leftover line of the old record).
    assert _module("visitor_board_release", {**args, "record_content": "abc\n"})["changed"] is True
    assert record.read_text() == "abc\n"


def test_absent_leaves_the_release_the_front_reaches_alone(release_socket: Path, tmp_path: Path) -> None:
    release_dir = tmp_path / "releases" / "1.2.3-0a1b2c3d"
    release_dir.mkdir(parents=True)
    args = {
        "state": "absent",
        "service_name": "visitor-board",
        "release": "1.2.3-0a1b2c3d",
        "socket_dir": str(release_socket.parent),
        "socket_path": str(release_socket),
        "release_dir": str(release_dir),
    }
    result = _module("visitor_board_release", args)
    assert not result.get("failed") and result["changed"] is False, result
    assert "is live" in result["kept"] and result["removed"] == []
    assert release_dir.is_dir()


def test_states_say_what_they_need(tmp_path: Path) -> None:
    result = _module("visitor_board_release", {"state": "absent", "release": "1.2.3-0a1b2c3d"})
    assert result.get("failed"), result
    assert "service_name" in result["msg"] and "socket_path" in result["msg"], result["msg"]
    result = _module("visitor_board_release", {"state": "recorded", "record_path": str(tmp_path / "x")})
    assert result.get("failed") and "record_content" in result["msg"], result


def _release_module() -> ModuleType:
    """The role's module as a Python module (its module_utils found under ansible.module_utils)."""
    import ansible.module_utils

    utils = str(ROLE / "module_utils")
    if utils not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(utils)
    spec = importlib.util.spec_from_file_location(
        "visitor_board_release", ROLE / "library" / "visitor_board_release.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("ss") is None, reason="the drain reads the accept queue with ss (iproute2)")
def test_drain_waits_for_the_old_sockets_accept_queue_and_no_longer(tmp_path: Path) -> None:
    """The switch's drain, against a real listening unix socket read by the real `ss`: two connections wait in
    its accept queue until a release accepts them 0.6 s later; the drain ends then, not at its limit."""
    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args

    release = _release_module()
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={})
    path = str(tmp_path / "old.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(8)
    clients = [socket.socket(socket.AF_UNIX) for _ in range(2)]
    for client in clients:
        client.connect(path)
    assert release._accept_queue(module, path) == 2
    accepted: list[socket.socket] = []
    timer = threading.Timer(0.6, lambda: accepted.extend(listener.accept()[0] for _ in clients))
    timer.start()
    try:
        waited = release._drain(module, path, 5.0)
    finally:
        timer.join()
    # Not before the release accepted them, and well before the limit (bounds loose: a loaded machine).
    assert 0.6 <= waited < 4.0, waited
    assert release._accept_queue(module, path) == 0 and len(accepted) == 2
    # Nothing queued: only the settle; nothing ever accepted: the limit.
    assert release._drain(module, path, 5.0) < 2.5
    late = socket.socket(socket.AF_UNIX)
    late.connect(path)
    assert 1.0 <= release._drain(module, path, 1.0) < 3.0
    for sock in (*clients, *accepted, late, listener):
        sock.close()
