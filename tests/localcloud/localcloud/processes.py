"""The local cloud's one process supervisor: start a stand-in (moto, the metadata service, the instance
runner) detached from its caller, find it again later by its pid file, and stop it.

A pid file alone is not proof: pids are reused. A process counts as the service only while its command
line still names the service's module (`python -m localcloud.<module>`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .ports import port_open


class ServiceError(RuntimeError):
    """A service did not come up; the message carries the tail of its log."""


@dataclass(frozen=True)
class Service:
    """`python -m localcloud.<module> <args>`, with its pid and log files in `state`.

    `listen` (host, port): where it accepts connections once ready, or None for a loop with no port.
    """

    name: str
    module: str
    args: Sequence[str]
    state: Path
    listen: tuple[str, int] | None = None

    @property
    def pidfile(self) -> Path:
        return self.state / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.state / "logs" / f"{self.name}.log"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", f"localcloud.{self.module}", *self.args]

    def pid(self) -> int | None:
        """The service's pid if that process is alive and still is the service."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_module_process(pid, self.module) else None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 20.0) -> int:
        """Starts the service unless it runs already; returns its pid once it listens (or runs).
        Raises ServiceError when it exits or does not listen within `timeout` seconds."""
        running = self.pid()
        if running is not None:
            return running
        if self.listen is not None and port_open(*self.listen):
            # Someone else's: starting would fail to bind, and a check of the port would then be fooled.
            raise ServiceError(
                f"{self.name}: {self.listen[0]}:{self.listen[1]} is already in use by another process; "
                "stop it first (`python -m localcloud.fleet down` also stops a fleet started from another "
                "checkout)"
            )
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as out:
            proc = subprocess.Popen(
                self.argv(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,  # outlives its caller (make demo, an Ansible task, the terminal)
            )
        self.pidfile.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout
        # Popen may return while the child is still inside execve (vfork), when /proc still shows the
        # parent's command line: wait until the process is visibly the service.
        while self.pid() is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        while proc.poll() is None and self.listen is not None and not port_open(*self.listen):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if proc.poll() is not None or (self.listen is not None and not port_open(*self.listen)):
            self.stop()
            where = f" on {self.listen[0]}:{self.listen[1]}" if self.listen else ""
            raise ServiceError(f"{self.name} did not come up{where}:\n{self.log_tail()}")
        return proc.pid

    def stop(self, timeout: float = 10.0) -> bool:
        """Stops the service if it runs (SIGTERM, then SIGKILL after `timeout` s). True if it ran."""
        pid = self.pid()
        self.pidfile.unlink(missing_ok=True)
        if pid is None:
            return False
        terminate(pid, self.module, timeout)
        return True


def runs_with(pid: int, argument: str) -> bool:
    """True while `pid` runs with `argument` as one of its command-line arguments."""
    return argument in arguments(pid)


def is_module_process(pid: int, module: str) -> bool:
    """True while `pid` runs `python -m localcloud.<module>`."""
    return runs_with(pid, f"localcloud.{module}")


def stop_process(pid: int, argument: str, timeout: float = 10.0) -> None:
    """SIGTERM to `pid` while it runs with `argument` (a pid re-used by another program is left alone);
    SIGKILL after `timeout` seconds."""
    if not runs_with(pid, argument):
        return
    # SIGCONT first: a test may have paused the process (SIGSTOP); a stopped process never handles SIGTERM.
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
    deadline = time.monotonic() + timeout
    while runs_with(pid, argument) and time.monotonic() < deadline:
        time.sleep(0.05)
    if runs_with(pid, argument):
        os.kill(pid, signal.SIGKILL)


def terminate(pid: int, module: str, timeout: float = 10.0) -> None:
    """stop_process for a `python -m localcloud.<module>` process."""
    stop_process(pid, f"localcloud.{module}", timeout)


def listening_pids(host: str, port: int) -> list[int]:
    """Pids of every process listening on host:port (TCP), from `ss -ltnp`."""
    out = subprocess.run(
        ["ss", "-Hltnp", f"src {host}:{port}"], capture_output=True, text=True, check=False
    ).stdout
    return sorted({int(token[4:]) for token in out.replace(",", " ").split() if token.startswith("pid=")})


def listener_pids(host: str, port: int, module: str) -> list[int]:
    """Pids of `localcloud.<module>` processes listening on host:port (one an earlier, aborted run left
    behind, whose pid file is gone)."""
    return [pid for pid in listening_pids(host, port) if is_module_process(pid, module)]


def arguments(pid: int) -> list[str]:
    """The command line of `pid` ([] once it has exited)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def module_pids(module: str, argument: str) -> list[int]:
    """Pids of the processes on this machine running `python -m localcloud.<module>` with `argument`
    among their arguments (e.g. the moto URL an instance runner watches)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not is_module_process(int(entry.name), module):
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in argv:
            found.append(int(entry.name))
    return sorted(found)
