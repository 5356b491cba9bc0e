"""The app role's one look at a host (roles/visitor_board_app/files/probe.py), run as the role runs it: a
script for the host's Python, arguments NAME=PATH, one JSON line out. Its answers must be those of
ansible.builtin.slurp and ansible.builtin.stat (follow: false), which it replaced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from roles_support import REPO

PROBE = REPO / "roles" / "visitor_board_app" / "files" / "probe.py"


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, timeout=30)


def test_links_markers_and_records_are_described_as_stat_and_slurp_would(tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    (releases / "1.0.3-4567ef89").mkdir(parents=True)
    (releases / "1.0.3-4567ef89" / ".complete").write_text("1.0.3-4567ef89\n")
    os.symlink(releases / "1.0.3-4567ef89", tmp_path / "current")
    os.symlink(releases / "gone", tmp_path / "previous")  # dangling: it still exists, as a link
    (tmp_path / "gunicorn.sock").write_text("")  # the old layout's socket: a file, no link
    (tmp_path / ".applied").write_text("abc\ndef\n")
    result = _probe(
        f"--read=applied={tmp_path / '.applied'}",
        f"--read=missing={tmp_path / 'nothing'}",
        f"--path=current={tmp_path / 'current'}",
        f"--path=previous={tmp_path / 'previous'}",
        f"--path=socket={tmp_path / 'gunicorn.sock'}",
        f"--path=release={releases / '1.0.3-4567ef89' / '.complete'}",
        f"--path=deps={tmp_path / 'deps' / '.complete'}",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, lines  # one JSON line: the role takes the last line that starts with "{"
    assert json.loads(lines[0]) == {
        "read": {"applied": "abc\ndef\n", "missing": None},
        "path": {
            "current": {"exists": True, "islnk": True, "target": str(releases / "1.0.3-4567ef89")},
            "previous": {"exists": True, "islnk": True, "target": str(releases / "gone")},
            "socket": {"exists": True, "islnk": False, "target": ""},
            "release": {"exists": True, "islnk": False, "target": ""},
            "deps": {"exists": False, "islnk": False, "target": ""},
        },
    }


def test_a_malformed_argument_is_refused_with_what_was_expected(tmp_path: Path) -> None:
    for bad in ("current", "current=relative/path", f"={tmp_path}"):
        result = _probe("--path", bad)
        assert result.returncode == 2, (bad, result)
        assert "expected NAME=/absolute/path" in result.stderr, (bad, result.stderr)
        assert result.stdout == ""


def test_it_needs_nothing_but_the_standard_library() -> None:
    # The host's Python runs it bare (no venv, no Ansible module_utils): only stdlib imports.
    imports = [
        line.split()[1].split(".")[0]
        for line in PROBE.read_text().splitlines()
        if line.startswith(("import ", "from ")) and not line.startswith("from __future__")
    ]
    assert imports and all(name in sys.stdlib_module_names for name in imports), imports
