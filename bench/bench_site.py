"""site.yml on the 3-host local fleet: what the project's Ansible tuning buys, and what a rollout costs.

Prints:
  1. wall time of a fresh `make demo` (fleet down first; packages, venv and host image already there);
  2. a no-op site.yml re-run with the project's ansible.cfg vs the same re-run under Ansible's defaults
     (no pipelining, full fact gathering on every run, no fact cache, forks 5, default ssh_args), the
     ratio (goal <= 0.5), the same re-run with the roles' fingerprint skip off (every task run), a plain
     re-run (Ansible's defaults and every task run) and the ratio of the project's defaults to it, where
     the tuned run's time goes per play, and what each setting bought (the tuned run with that one
     setting reverted);
  3. a rolling update that changes only the app's code, with playbooks/deploy.yml (the app role alone,
     goal <= 30 s) and with site.yml (everything checked): wall time and the share spent installing
     packages (the dependency wheels are cached on the controller and on the hosts, so nothing is
     downloaded or rebuilt), and where the time goes per play and per task;
  4. with --scale 3,6,12: the same code-only update (deploy.yml) on fleets of each size (a fresh fleet and
     a first site.yml rollout each, not timed), the wall time per size, the ratio largest/smallest (goal
     <= 1.6), the controller's CPU time and peak memory, and each host's memory and CPU at the largest size.

Every run starts with cold SSH connections (its own ControlPath dir), so no run profits from the
previous run's persistent connections. Leaves the demo fleet running (`make demo-down` stops it).

Usage: python bench/bench_site.py [--repeat 2] [--skip-demo] [--scale 3,6,12] [--only scale]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localcloud.playbook import controller_env, run_playbook

REPO = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
INVENTORY = ["-i", "inventory/local"]
SITE = "playbooks/site.yml"
DEPLOY = "playbooks/deploy.yml"
# The app role's package installation steps (its task names), for the rollout's install share: OS packages,
# the dependency wheelhouse (download on the controller, copy to the host), the release venv and pip.
INSTALL_TASKS = re.compile(r"wheelhouse|release venv|Install the app and its pinned|Install the packages")
_BANNER = re.compile(r"^(TASK|RUNNING HANDLER) \[(.+?)\] \*+|^PLAY RECAP")
_DURATION = re.compile(r"\((\d+):(\d\d):(\d\d\.\d+)\)")
# profile_tasks' stamp line: "(<previous task's duration>)   <elapsed since the start>".
_ELAPSED = re.compile(r"\)\s+(\d+):(\d\d):(\d\d\.\d+) \*+\s*$")
_PLAY = re.compile(r"^PLAY \[(.+?)\] \*+")
PROFILE = {
    "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
    "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
}

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


def playbook(extra_env: dict[str, str] | None = None, *args: str, path: str = SITE) -> tuple[float, str]:
    """One run of the playbook at PATH with cold SSH connections; returns (seconds, output)."""
    with tempfile.TemporaryDirectory(prefix="bench-cp-") as control:
        run_env = env({"ANSIBLE_SSH_CONTROL_PATH_DIR": control, **(extra_env or {})})
        result = run_playbook([*INVENTORY, path, *args], cwd=REPO, env=run_env, timeout=3600)
        # Close the run's persistent connections so they cannot serve the next run.
        for sock in Path(control).iterdir():
            subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"{path} failed ({result.returncode}):\n{result.output[-3000:]}")
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
    # The roles' fingerprint skip off (their *_skip_unchanged variables): every task runs and reports ok.
    roles = ("app", "front", "tls")
    every_task = [arg for role in roles for arg in ("-e", f"visitor_board_{role}_skip_unchanged=false")]
    with tempfile.TemporaryDirectory(prefix="bench-cfg-") as tmp:
        cfg = Path(tmp) / "ansible.cfg"
        cfg.write_text(DEFAULTS_CFG.replace("roles_path = roles", f"roles_path = {REPO / 'roles'}"))
        defaults = timed("Ansible defaults", {"ANSIBLE_CONFIG": str(cfg)}, repeat)
        # A plain re-run: Ansible's configuration and every task run, i.e. without anything the project
        # tunes (neither its ansible.cfg nor its roles' skip defaults).
        plain, output = playbook({"ANSIBLE_CONFIG": str(cfg)}, *every_task)
        assert changed_total(output) == 0, "the plain re-run changed something"
    tuned = timed("project ansible.cfg", {}, repeat)
    print(f"  ratio tuned/defaults: {tuned / defaults:.2f} (goal <= 0.5; roles' skip on in both)", flush=True)
    every, output = playbook({}, *every_task)
    assert changed_total(output) == 0, "the re-run with every task changed something"
    print(f"  project ansible.cfg, every task run {every:6.1f} s   (the roles' fingerprint skip off)")
    print(f"  ratio skip/every task: {tuned / every:.2f}", flush=True)
    print(f"  Ansible defaults, every task run    {plain:6.1f} s   (no project ansible.cfg, no skip)")
    print(f"  ratio project defaults/plain re-run: {tuned / plain:.2f} (goal <= 0.5 read so)", flush=True)
    _, output = playbook(PROFILE)
    print("  where a tuned no-op run's time goes, per play (one more run, with profile_tasks):")
    for name, sec in play_durations(output).items():
        print(f"    {sec:6.1f} s  {name}")
    print("what each setting buys (tuned run with that one setting reverted):", flush=True)
    for label, extra in ABLATIONS.items():
        reverted = timed(label, extra, 1)
        print(f"    -> {label}: +{reverted - tuned:.1f} s ({(reverted - tuned) / tuned:+.0%})", flush=True)
    if mitogen is not None:
        with_mitogen = timed("project ansible.cfg + mitogen", mitogen_env(mitogen), repeat)
        print(f"    -> mitogen_linear: {with_mitogen - tuned:+.1f} s ({(with_mitogen - tuned) / tuned:+.0%})")
        print(f"  ratio tuned+mitogen/defaults: {with_mitogen / defaults:.2f} (goal <= 0.5)", flush=True)


def code_only_update(*args: str, path: str = DEPLOY) -> tuple[float, str, str]:
    """A rolling update (the playbook at PATH, ARGS) whose release differs from the live one only in app code.

    Returns (seconds, output, version)."""
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
        seconds, output = playbook(PROFILE, "-e", f"visitor_board_app_source_dir={source}", *args, path=path)
    return seconds, output, version


def bench_rollout() -> None:
    print("rolling update changing only app code (3 hosts, batches of 1 then 2):", flush=True)
    site_seconds, site_output, site_version = code_only_update(path=SITE)
    seconds, output, version = code_only_update(path=DEPLOY)
    print(f"  site.yml (everything checked)      {site_seconds:6.1f} s (release {site_version})")
    print(f"  deploy.yml (the app only)          {seconds:6.1f} s (release {version}; goal <= 30 s)")
    print("  deploy.yml in detail:")
    tasks = sorted(task_durations(output).items(), key=lambda t: -t[1])
    install = sum(sec for name, sec in tasks if INSTALL_TASKS.search(name))
    print(f"  installing packages                {install:6.1f} s ({install / seconds:.0%} of the wall time)")
    for step in (
        "Download the dependency wheelhouse",
        "Build the app wheel",
        "Copy the dependency wheelhouse",
    ):
        print(f"  {step}: {task_outcome(output, step)}")
    print("  per play:")
    for name, sec in play_durations(output).items():
        print(f"    {sec:6.1f} s  {name}")
    print(f"  tasks: {len(tasks)} names; slowest (summed over batches):")
    for name, sec in tasks[:10]:
        print(f"    {sec:6.1f} s  {name}")
    print("  site.yml per play:")
    for name, sec in play_durations(site_output).items():
        print(f"    {sec:6.1f} s  {name}")


_SI = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
_GO_DURATION = re.compile(r"([\d.]+)(h|ms|µs|us|ns|m|s)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}


def fleet_cli(command: str) -> None:
    """`python -m localcloud.fleet COMMAND` (up / down) with the controller's environment."""
    subprocess.run(
        [str(BIN / "python"), "-m", "localcloud.fleet", command],
        cwd=REPO,
        env=env(),
        check=True,
        capture_output=True,
    )


def host_usage() -> list[tuple[str, float, float]]:
    """(container, memory MiB, CPU seconds since boot) of every fleet host, from `podman stats`.

    podman prints memory in SI units ("204.4MB / 25.28GB") and CPU time as a Go duration ("1m4.75s")."""
    out = subprocess.run(
        ["podman", "stats", "--no-stream", "--format", "json"], capture_output=True, text=True, check=True
    ).stdout
    usage = []
    for row in json.loads(out or "[]"):
        if not row["name"].startswith("vb-i-"):
            continue
        amount, unit = re.match(r"([\d.]+)\s*([kMGT]?B)", row["mem_usage"]).groups()
        cpu = sum(float(n) * _GO_UNITS[u] for n, u in _GO_DURATION.findall(row["cpu_time"]))
        usage.append((row["name"], float(amount) * _SI[unit] / 2**20, cpu))
    return usage


def bench_scale(sizes: list[int]) -> None:
    print(
        f"code-only rolling update by fleet size ({', '.join(map(str, sizes))} hosts; fresh fleet each):",
        flush=True,
    )
    walls: dict[int, float] = {}
    for count in sizes:
        fleet_cli("down")
        fleet_cli("up")
        first, _ = playbook({}, "-e", f"visitor_board_instance_count={count}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds, output, _ = code_only_update("-e", f"visitor_board_instance_count={count}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        walls[count] = seconds
        plays = play_durations(output)
        rollout = sum(sec for name, sec in plays.items() if "rolling batches" in name)
        print(
            f"  {count:3d} hosts: {seconds:6.1f} s wall (rollout play {rollout:5.1f} s;"
            f" first rollout {first:5.1f} s); controller CPU {cpu:5.1f} s,"
            f" largest Ansible process so far {after.ru_maxrss / 1024:5.0f} MiB",
            flush=True,
        )
        if count == max(sizes):
            usage = host_usage()
            if usage:
                mems = [m for _, m, _ in usage]
                print(
                    f"  at {count} hosts, per host: memory {min(mems):.0f}-{max(mems):.0f} MiB"
                    f" (mean {sum(mems) / len(mems):.0f}); total {sum(mems) / 1024:.1f} GiB"
                )
                for name, mem, cpu_s in usage:
                    print(f"    {name:<28} {mem:6.0f} MiB  {cpu_s:7.1f} s CPU since boot")
    smallest, largest = min(sizes), max(sizes)
    print(f"  ratio {largest}/{smallest}: {walls[largest] / walls[smallest]:.2f} (goal <= 1.6)", flush=True)


def play_durations(output: str) -> dict[str, float]:
    """Seconds per play (summed over serial batches), from profile_tasks' elapsed-time stamps.

    A stamp after a task banner is the time since the run started, taken when that task starts; a play
    (or serial batch) lasts from its first stamp to the first stamp of the next one, the last one to the
    final stamp (the recap's)."""
    starts: list[tuple[str, float]] = []
    pending: str | None = None
    final = 0.0
    for line in output.splitlines():
        play = _PLAY.match(line)
        if play:
            pending = play.group(1)
            continue
        stamp = _ELAPSED.search(line)
        if stamp:
            hours, minutes, seconds = stamp.groups()
            final = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            if pending is not None:
                starts.append((pending, final))
                pending = None
    totals: dict[str, float] = {}
    for (name, start), (_, end) in zip(starts, [*starts[1:], ("", final)], strict=True):
        totals[name] = totals.get(name, 0.0) + end - start
    return totals


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
    parser.add_argument(
        "--scale", default="", help="fleet sizes for the scale run, e.g. 3,6,12 (default: none)"
    )
    parser.add_argument(
        "--only",
        choices=["demo", "noop", "rollout", "scale"],
        help="run one part only (the fleet must be up)",
    )
    args = parser.parse_args()
    if args.mitogen is None:
        spec = importlib.util.find_spec("ansible_mitogen")
        if spec is not None and spec.origin:
            args.mitogen = Path(spec.origin).parent.parent
    sizes = [int(n) for n in args.scale.split(",") if n.strip()]
    if args.only == "scale" or (args.only is None and sizes):
        if not sizes:
            raise SystemExit("--only scale needs --scale, e.g. --scale 3,6,12")
    if args.only in (None, "demo") and not args.skip_demo:
        bench_demo()
    if args.only in (None, "noop"):
        bench_noop(args.repeat, args.mitogen)
    if args.only in (None, "rollout"):
        bench_rollout()
    if sizes and args.only in (None, "scale"):
        bench_scale(sizes)
    print(f"(best of --repeat runs, each with cold SSH connections; {ansible_version()})", flush=True)


def ansible_version() -> str:
    out = subprocess.run([str(BIN / "ansible"), "--version"], capture_output=True, text=True).stdout
    return out.split("\n", 1)[0]


if __name__ == "__main__":
    main()
