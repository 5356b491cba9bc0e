"""`visitor-board serve`: gunicorn in-process, so the wheel's console script is all a host needs."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Imported in each worker, so a HUP reload picks up a new release's code.
        from .wsgi import app

        return app


def run_gunicorn(bind: str, workers: int, threads: int) -> int:
    _Server(
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "graceful_timeout": 20,
            "timeout": 30,
            "keepalive": 5,
            "proc_name": "visitor-board",
        }
    ).run()
    return 0
