"""Start or stop the moto server of one molecule scenario (used by create.yml and destroy.yml).

    python moto_ctl.py start STATE_DIR   # free loopback port; writes STATE_DIR/moto.url and moto.pid
    python moto_ctl.py stop STATE_DIR    # stops the server recorded in STATE_DIR, by its pid

One small process instead of a string of Ansible tasks keeps the scenarios fast. `start` first stops a
server an aborted run of the same scenario left behind, so no separate destroy step is needed up front.
Only a process recorded in STATE_DIR whose command line is the project's moto launcher is ever stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parents[1] / "motoserver.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _is_our_moto(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(LAUNCHER).encode() in cmdline


def stop(state: Path) -> bool:
    pidfile = state / "moto.pid"
    stopped = False
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        if pid and _is_our_moto(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _is_our_moto(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            stopped = True
    for name in ("moto.pid", "moto.url"):
        (state / name).unlink(missing_ok=True)
    return stopped


def start(state: Path) -> str:
    stop(state)
    state.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    with (state / "moto.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the Ansible task that started it
        )
    (state / "moto.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(state)
                sys.exit(f"moto did not start on 127.0.0.1:{port}; see {state / 'moto.log'}")
            time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    (state / "moto.url").write_text(url + "\n")
    return url


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        sys.exit(__doc__)
    state = Path(argv[1])
    if argv[0] == "start":
        print(start(state))
    else:
        print("stopped" if stop(state) else "not running")


if __name__ == "__main__":
    main(sys.argv[1:])
