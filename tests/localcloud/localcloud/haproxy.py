"""One HAProxy (Debian's haproxy package) run by the local load balancer: its configuration, its process in
master-worker mode, and its runtime API (the admin socket: add, drain and delete servers, read their state).

HAProxy documents both: "Management Guide" (master-worker, SIGUSR2 reloads) and "Runtime API" (add server,
set server, enable health, show stat, show servers state) for version 2.6.
"""

from __future__ import annotations

import csv
import io
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .processes import stop_process

BACKEND = "targets"


@dataclass(frozen=True)
class Settings:
    """What the configuration holds besides the servers: the listener and the target group's health check.
    Seconds for the times; `rise`/`fall` are the healthy/unhealthy thresholds."""

    listen: str
    path: str = "/readyz"
    interval: int = 30
    timeout: int = 5
    rise: int = 5
    fall: int = 2
    status: str = "200"
    idle_timeout: int = 60


@dataclass(frozen=True)
class Server:
    """One target as HAProxy's server `name` at `address`:`port`; `disabled`: in maintenance (not checked
    enough yet, or draining: the runtime API puts it back in drain state after a reload)."""

    name: str
    address: str
    port: int
    disabled: bool = False


def server_options(settings: Settings) -> str:
    # slowstart 0, no `init-state`: a new server is added in maintenance and enabled only after `rise`
    # passed checks (localcloud.load_balancer), as a new ALB target stays `initial` until then.
    return f"check inter {settings.interval}s fall {settings.fall} rise {settings.rise}"


def render(settings: Settings, admin_socket: Path, servers: list[Server]) -> str:
    """The configuration: one HTTP frontend on `settings.listen`, one backend health-checking its servers."""
    lines = [
        "global",
        f"    stats socket {admin_socket} mode 600 level admin",
        # An old worker left by a reload finishes its requests within this, as a drained target would.
        "    hard-stop-after 60s",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        f"    timeout client {settings.idle_timeout}s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        f"    timeout check {settings.timeout}s",
        "    option forwardfor",
        "    option http-server-close",
        "",
        "frontend load_balancer",
        f"    bind {settings.listen}",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
        "    balance roundrobin",
        f"    option httpchk GET {settings.path}",
        f"    http-check expect status {settings.status}",
    ]
    for server in servers:
        state = " disabled" if server.disabled else ""
        lines.append(
            f"    server {server.name} {server.address}:{server.port} {server_options(settings)}{state}"
        )
    return "\n".join(lines) + "\n"


class HaproxyError(Exception):
    """HAProxy's runtime API refused a command or could not be reached."""


@dataclass(frozen=True)
class RuntimeApi:
    """HAProxy's admin socket: one command per connection."""

    path: Path

    def command(self, line: str, timeout: float = 5.0) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(timeout)
                conn.connect(str(self.path))
                conn.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
        except OSError as err:
            raise HaproxyError(f"haproxy admin socket {self.path}: {err}") from err
        return b"".join(chunks).decode(errors="replace")

    def stat(self) -> dict[str, dict[str, str]]:
        """`show stat` of the backend's servers: {server name: {CSV column: value}} (status, check_status,
        scur, ...)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {
            row["svname"]: row
            for row in rows
            if row.get("pxname") == BACKEND and row.get("svname") not in ("FRONTEND", "BACKEND")
        }

    def check_health(self) -> dict[str, int]:
        """{server name: its health counter} from `show servers state`: 0 after `set server health down`,
        one more per passed check; a server has passed `rise` checks in a row once it reaches `rise`."""
        found = {}
        for line in self.command(f"show servers state {BACKEND}").splitlines():
            fields = line.split()
            # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight
            # srv_time_since_last_change srv_check_status srv_check_result srv_check_health ...
            if len(fields) > 12 and fields[1] == BACKEND and not line.startswith("#"):
                found[fields[3]] = int(fields[12])
        return found


class Process:
    """`haproxy -W` (master-worker) in the foreground as this process's child; SIGUSR2 reloads it: the
    master starts a new worker on the rewritten configuration and the old one finishes what it serves."""

    def __init__(self, config: Path, log: Path, binary: str = "haproxy") -> None:
        self.config, self.log, self.binary = config, log, binary
        self.pidfile = config.with_suffix(".pid")
        self.proc: subprocess.Popen[bytes] | None = None

    def check(self) -> str:
        """`haproxy -c`: empty when the configuration is valid, else HAProxy's complaint."""
        result = subprocess.run(
            [self.binary, "-c", "-q", "-f", str(self.config)], capture_output=True, text=True, check=False
        )
        return "" if result.returncode == 0 else (result.stderr or result.stdout).strip()

    def start(self) -> None:
        self.stop_leftover()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-W", "-db", "-f", str(self.config), "-p", str(self.pidfile)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def reload(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGUSR2)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.pidfile.unlink(missing_ok=True)

    def stop_leftover(self) -> None:
        """Stops a master that an earlier, killed run of the follower left behind with this configuration
        (it would hold the listener's port)."""
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        stop_process(pid, str(self.config))
