"""The app role's one look at a host (tasks/probe.yml): what is live and what is installed, in one round trip.

Run by ansible.builtin.script with the host's Python 3 (standard library only), as root, read-only.

Arguments, each NAME=PATH (NAME: a word the role picks):
  --read NAME=PATH   a small text file to return whole (the last run's record)
  --path NAME=PATH   a path to describe without following it (a link, a marker, a unit file)

Prints one JSON object:
  {"read": {NAME: text | null (no such file)},
   "path": {NAME: {"exists": bool, "islnk": bool, "target": str ('' unless a symlink)}}}
as ansible.builtin.slurp and ansible.builtin.stat (follow: false) would report them: a dangling symlink
exists. Exits 2 with a message on stderr for an argument that is not NAME=PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _pair(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path.startswith("/"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=/absolute/path")
    return name, path


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _describe(path: str) -> dict[str, object]:
    islnk = os.path.islink(path)
    return {
        "exists": os.path.lexists(path),
        "islnk": islnk,
        "target": os.readlink(path) if islnk else "",
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Describe the app's files on this host as JSON.")
    parser.add_argument("--read", type=_pair, action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--path", type=_pair, action="append", default=[], metavar="NAME=PATH")
    args = parser.parse_args(argv)
    state = {
        "read": {name: _read(path) for name, path in args.read},
        "path": {name: _describe(path) for name, path in args.path},
    }
    json.dump(state, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
