"""Wait until a freshly booted host is ready to be configured; print what was waited for, as JSON.

Run on the host by the role (python3 -c, one round trip). A new EC2 instance answers SSH while cloud-init
is still configuring it, and the AMI's boot-time apt jobs (apt-daily, unattended-upgrades) may hold the
dpkg lock: configuring it then fails with "Could not get lock /var/lib/dpkg/lock-frontend". So:
1. `cloud-init status --wait` (cloud-init's documented way to wait for the end of boot), when installed;
2. wait until dpkg's and apt's locks are free. apt takes them with fcntl (POSIX) locks, so a non-blocking
   lockf() on the same file tells whether someone holds it; /proc/locks names the holder.

argv: [timeout seconds]. Output: {"cloud_init": {"status": ..., "seconds": ...},
"locks": {"seconds": ..., "holders": [...]}, "timed_out": bool}. Exit status 0 unless it timed out (2).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

LOCKS = ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock")


def holders_of(path: str) -> list[str]:
    """'<command> (pid N)' of the processes holding a POSIX lock on path, from /proc/locks."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks", encoding="ascii") as locks:
            rows = [line.split() for line in locks]
    except OSError:
        return []
    found = []
    for row in rows:
        # "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (proc(5)); a blocked waiter has "->" first.
        if len(row) >= 6 and row[1] != "->" and row[5].rsplit(":", 1)[-1] == str(inode):
            pid = row[4]
            try:
                with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
                    name = comm.read().strip()
            except OSError:
                name = "?"
            found.append(f"{name} (pid {pid})")
    return found


def lock_is_free(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases our probe lock at once
    return True


def wait_for_cloud_init(deadline: float) -> dict[str, object]:
    started = time.monotonic()
    if shutil.which("cloud-init") is None:
        return {"status": "not installed", "seconds": 0.0}
    try:
        proc = subprocess.run(
            ["cloud-init", "status", "--wait"],
            capture_output=True,
            text=True,
            timeout=max(1.0, deadline - started),
            check=False,
        )
        status = proc.stdout.strip().rsplit("status:", 1)[-1].strip() or f"exit {proc.returncode}"
    except subprocess.TimeoutExpired:
        status = "still running"
    return {"status": status, "seconds": round(time.monotonic() - started, 1)}


def wait_for_locks(deadline: float) -> dict[str, object]:
    started = time.monotonic()
    seen: list[str] = []
    while True:
        busy = [path for path in LOCKS if not lock_is_free(path)]
        if not busy:
            return {"seconds": round(time.monotonic() - started, 1), "holders": seen, "free": True}
        for path in busy:
            for holder in holders_of(path):
                if holder not in seen:
                    seen.append(holder)
        if time.monotonic() >= deadline:
            return {"seconds": round(time.monotonic() - started, 1), "holders": seen, "free": False}
        time.sleep(0.5)


def main() -> int:
    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    deadline = time.monotonic() + timeout
    cloud_init = wait_for_cloud_init(deadline)
    locks = wait_for_locks(deadline)
    timed_out = cloud_init["status"] == "still running" or not locks["free"]
    print(json.dumps({"cloud_init": cloud_init, "locks": locks, "timed_out": timed_out}))
    return 2 if timed_out else 0


if __name__ == "__main__":
    sys.exit(main())
