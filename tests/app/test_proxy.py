"""The visitor's address behind the host's nginx: trusted for exactly the configured number of hops."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from flask import Flask, request

# What nginx sends: its own X-Forwarded-For (the visitor's address) after whatever the visitor claimed.
FORGED_THEN_REAL = "198.51.100.66, 203.0.113.5"


def _logged_remote(app: Flask, caplog: pytest.LogCaptureFixture, headers: dict[str, str]) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="visitor_board.request"):
        response = app.test_client().get(
            "/healthz", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}
        )
    assert response.status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "visitor_board.request"]
    assert len(lines) == 1, lines
    found = re.search(r"\bremote=(\S+)", lines[0])
    assert found, lines[0]
    return found.group(1)


def test_one_trusted_hop_logs_the_address_the_proxy_saw(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(trusted_proxy_hops=1)
    assert _logged_remote(app, caplog, {"X-Forwarded-For": FORGED_THEN_REAL}) == "203.0.113.5"
    # The visitor's own claim (the entry before the proxy's) is never taken.
    assert _logged_remote(app, caplog, {"X-Forwarded-For": "198.51.100.66"}) == "198.51.100.66"
    assert _logged_remote(app, caplog, {}) == "127.0.0.1"


def test_no_trusted_hop_ignores_forwarded_headers(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    assert _logged_remote(app, caplog, {"X-Forwarded-For": FORGED_THEN_REAL}) == "127.0.0.1"


def test_forwarded_proto_is_trusted_only_from_the_hop(make_app: Callable[..., Flask]) -> None:
    seen: dict[str, str] = {}
    for name, hops in (("behind", 1), ("direct", 0)):
        app = make_app(trusted_proxy_hops=hops)

        @app.before_request
        def record(name: str = name) -> None:
            seen[name] = request.scheme

        app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert seen == {"behind": "https", "direct": "http"}
