"""site.yml on the 3-host local fleet: what the project's Ansible tuning buys, and what a rollout costs.

Prints:
  1. wall time of a fresh `make demo` (fleet down first; packages, venv and host image already there);
  2. a no-op site.yml re-run with the project's ansible.cfg vs the same re-run under Ansible's defaults
     (no pipelining, full fact gathering on every run, no fact cache, forks 5, default ssh_args), the
     ratio (goal <= 0.6), and what each setting bought (the tuned run with that one setting reverted);
  3. a rolling update that changes only the app's code: wall time and the share spent installing
     packages (the dependency wheels are cached on the controller and on the hosts, so nothing is
     downloaded or rebuilt).

Every run starts with cold SSH connections (its own ControlPath dir), so no run profits from the
previous run's persistent connections. Leaves the demo fleet running (`make demo-down` stops it).

Usage: python bench/bench_site.py [--repeat 2] [--skip-demo]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localcloud.playbook import controller_env, run_playbook

REPO = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
PLAYBOOK = ["-i", "inventory/local", "playbooks/site.yml"]
# The app role's package installation steps (its task names), for the rollout's install share: OS packages,
# the dependency wheelhouse (download on the controller, copy to the host), the release venv and pip.
INSTALL_TASKS = re.compile(r"wheelhouse|release venv|Install the app and its pinned|Install the packages")
_BANNER = re.compile(r"^(TASK|RUNNING HANDLER) \[(.+?)\] \*+|^PLAY RECAP")
_DURATION = re.compile(r"\((\d+):(\d\d):(\d\d\.\d+)\)")

# Ansible's own defaults for what the project's ansible.cfg tunes (ansible-config list).
DEFAULTS_CFG = """[defaults]
roles_path = roles
interpreter_python = auto_silent
retry_files_enabled = false
"""
# One setting reverted at a time, on top of the project's ansible.cfg.
ABLATIONS = {
    "pipelining off": {"ANSIBLE_PIPELINING": "false"},
    "full fact gathering, no cache": {
        "ANSIBLE_GATHERING": "implicit",
        "ANSIBLE_GATHER_SUBSET": "all",
        "ANSIBLE_CACHE_PLUGIN": "memory",
    },
    "fact cache off (subset kept)": {"ANSIBLE_GATHERING": "implicit", "ANSIBLE_CACHE_PLUGIN": "memory"},
    "forks 5": {"ANSIBLE_FORKS": "5"},
    "default ssh_args": {"ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=60s"},
}


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return controller_env(extra)


def playbook(extra_env: dict[str, str] | None = None, *args: str) -> tuple[float, str]:
    """One site.yml run with cold SSH connections; returns (seconds, output)."""
    with tempfile.TemporaryDirectory(prefix="bench-cp-") as control:
        run_env = env({"ANSIBLE_SSH_CONTROL_PATH_DIR": control, **(extra_env or {})})
        result = run_playbook([*PLAYBOOK, *args], cwd=REPO, env=run_env, timeout=3600)
        # Close the run's persistent connections so they cannot serve the next run.
        for sock in Path(control).iterdir():
            subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"site.yml failed ({result.returncode}):\n{result.output[-3000:]}")
    return result.seconds, result.output


def changed_total(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


def timed(label: str, extra_env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        seconds, output = playbook(extra_env)
        assert changed_total(output) == 0, f"{label}: the no-op re-run changed something"
        times.append(seconds)
    best = min(times)
    print(f"  {label:<34} {best:6.1f} s   (runs: {', '.join(f'{t:.1f}' for t in times)})", flush=True)
    return best


def bench_demo() -> None:
    print("fresh `make demo` (fleet down first; packages, venv, image present):", flush=True)
    subprocess.run(["make", "demo-down"], cwd=REPO, env=env(), check=True, capture_output=True)
    started = time.monotonic()
    subprocess.run(["make", "demo"], cwd=REPO, env=env(), check=True, capture_output=True)
    print(f"  make demo                          {time.monotonic() - started:6.1f} s", flush=True)


def mitogen_env(where: Path) -> dict[str, str]:
    """Mitogen's strategy on top of the project's ansible.cfg (mitogen is not a project requirement)."""
    return {
        "PYTHONPATH": str(where),
        "ANSIBLE_STRATEGY_PLUGINS": str(where / "ansible_mitogen" / "plugins" / "strategy"),
        "ANSIBLE_STRATEGY": "mitogen_linear",
    }


def bench_noop(repeat: int, mitogen: Path | None) -> None:
    print("no-op site.yml re-run on 3 hosts (best of each):", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-cfg-") as tmp:
        cfg = Path(tmp) / "ansible.cfg"
        cfg.write_text(DEFAULTS_CFG.replace("roles_path = roles", f"roles_path = {REPO / 'roles'}"))
        defaults = timed("Ansible defaults", {"ANSIBLE_CONFIG": str(cfg)}, repeat)
    tuned = timed("project ansible.cfg", {}, repeat)
    print(f"  ratio tuned/defaults: {tuned / defaults:.2f} (goal <= 0.6)", flush=True)
    print("what each setting buys (tuned run with that one setting reverted):", flush=True)
    for label, extra in ABLATIONS.items():
        reverted = timed(label, extra, 1)
        print(f"    -> {label}: +{reverted - tuned:.1f} s ({(reverted - tuned) / tuned:+.0%})", flush=True)
    if mitogen is not None:
        with_mitogen = timed("project ansible.cfg + mitogen", mitogen_env(mitogen), repeat)
        print(f"    -> mitogen_linear: {with_mitogen - tuned:+.1f} s ({(with_mitogen - tuned) / tuned:+.0%})")
        print(f"  ratio tuned+mitogen/defaults: {with_mitogen / defaults:.2f} (goal <= 0.6)", flush=True)


def bench_rollout() -> None:
    print("rolling update changing only app code (3 hosts, serial 1 then 50%):", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        source = Path(tmp) / "app"
        shutil.copytree(
            REPO / "app", source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__")
        )
        pyproject = source / "pyproject.toml"
        version = f"1.0.{int(time.time())}"
        pyproject.write_text(
            re.sub(r'(?m)^version = "[^"]+"$', f'version = "{version}"', pyproject.read_text())
        )
        views = source / "visitor_board" / "views.py"
        views.write_text(views.read_text() + f"\n# bench release {version}\n")
        seconds, output = playbook(
            {
                "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
                "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
            },
            "-e",
            f"visitor_board_app_source_dir={source}",
        )
    tasks = sorted(task_durations(output).items(), key=lambda t: -t[1])
    install = sum(sec for name, sec in tasks if INSTALL_TASKS.search(name))
    print(f"  wall time                          {seconds:6.1f} s (release {version})")
    print(f"  installing packages                {install:6.1f} s ({install / seconds:.0%} of the wall time)")
    for step in (
        "Download the dependency wheelhouse",
        "Build the app wheel",
        "Copy the dependency wheelhouse",
    ):
        print(f"  {step}: {task_outcome(output, step)}")
    for name, sec in tasks[:8]:
        print(f"    {sec:6.1f} s  {name}")


def task_outcome(output: str, task: str) -> str:
    """How a task ended on each host (e.g. "3x ok"), from the default callback's lines."""
    outcomes: list[str] = []
    for block in output.split("\nTASK [")[1:]:
        if task in block.split("]", 1)[0]:
            outcomes += re.findall(r"^(ok|changed|skipping|failed|fatal):", block, re.M)
    return ", ".join(f"{outcomes.count(o)}x {o}" for o in dict.fromkeys(outcomes)) or "not run"


def task_durations(output: str) -> dict[str, float]:
    """Seconds per task name, summed over serial batches and hosts' runs.

    profile_tasks prints, after each task banner, a line whose "(h:mm:ss.fff)" is how long the PREVIOUS
    task took; its own summary keeps only the last batch of a serial play, so the banners are read here.
    """
    totals: dict[str, float] = {}
    previous: str | None = None
    lines = output.splitlines()
    for i, line in enumerate(lines):
        banner = _BANNER.match(line)
        if not banner:
            continue
        stamp = _DURATION.search(lines[i + 1]) if i + 1 < len(lines) else None
        if previous is not None and stamp:
            hours, minutes, seconds = stamp.groups()
            totals[previous] = (
                totals.get(previous, 0.0) + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            )
        previous = banner.group(2) if banner.group(1) else None
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration (best is kept)")
    parser.add_argument("--skip-demo", action="store_true", help="re-use a running demo fleet")
    parser.add_argument(
        "--mitogen", type=Path, help="directory holding an unpacked mitogen (ansible_mitogen/) to measure too"
    )
    args = parser.parse_args()
    if args.mitogen is None:
        spec = importlib.util.find_spec("ansible_mitogen")
        if spec is not None and spec.origin:
            args.mitogen = Path(spec.origin).parent.parent
    if not args.skip_demo:
        bench_demo()
    bench_noop(args.repeat, args.mitogen)
    bench_rollout()
    print(f"(best of --repeat runs, each with cold SSH connections; {ansible_version()})", flush=True)


def ansible_version() -> str:
    out = subprocess.run([str(BIN / "ansible"), "--version"], capture_output=True, text=True).stdout
    return out.split("\n", 1)[0]


if __name__ == "__main__":
    main()
