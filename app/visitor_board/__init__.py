"""Visitor Board: a server-rendered board of visitors' messages, stored in DynamoDB.

`create_app` and `StartupOptions` are imported on first use, so that a gunicorn master reading
`visitor_board.gunicorn_conf` loads none of the app's code: after a HUP, new workers import the new release.
"""

from __future__ import annotations

from typing import Any

__all__ = ["StartupOptions", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
