"""Visitor Board: a server-rendered board of visitors' messages, stored in DynamoDB."""

from __future__ import annotations

from .app import StartupOptions, create_app

__all__ = ["StartupOptions", "create_app"]
