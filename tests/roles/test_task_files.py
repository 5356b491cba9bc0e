"""Every task file of every role holds tasks: an empty file that a role includes is not an error to
Ansible or ansible-lint, it silently does nothing (the old layout's migration once lost its first steps
that way, and only an end-to-end run under traffic noticed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
TASK_FILES = sorted(ROLES.glob("*/tasks/*.yml")) + sorted(ROLES.glob("*/handlers/*.yml"))


@pytest.mark.parametrize("path", TASK_FILES, ids=lambda p: str(p.relative_to(ROLES)))
def test_the_task_file_holds_tasks(path: Path) -> None:
    name = path.relative_to(ROLES)
    tasks = yaml.safe_load(path.read_text())
    assert isinstance(tasks, list) and tasks, f"{name} holds no tasks"
    assert all(isinstance(task, dict) and task for task in tasks), f"{name}: a task is empty"


def test_there_are_task_files() -> None:
    assert len(TASK_FILES) > 20
