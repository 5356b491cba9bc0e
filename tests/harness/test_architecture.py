"""The import rules of docs/architecture.md: the app and the local cloud never import each other, and no
test or benchmark reaches the local cloud by path manipulation instead of the installed package."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def python_files(*parts: str) -> list[Path]:
    files = sorted((REPO.joinpath(*parts)).rglob("*.py"))
    assert files, f"no Python files under {'/'.join(parts)}: the rule would pass vacuously"
    return files


def test_the_app_never_imports_the_local_cloud() -> None:
    offenders = [p for p in python_files("app", "visitor_board") if "localcloud" in imported_modules(p)]
    assert not offenders, offenders


def test_the_local_cloud_never_imports_the_app() -> None:
    files = python_files("tests", "localcloud", "localcloud")
    offenders = [p for p in files if "visitor_board" in imported_modules(p)]
    assert not offenders, offenders


def test_nothing_reaches_modules_through_sys_path() -> None:
    files = [*python_files("tests"), *python_files("bench"), *python_files("roles")]
    offenders = [p for p in files if "sys.path.insert" in p.read_text() and p != Path(__file__)]
    assert not offenders, offenders
