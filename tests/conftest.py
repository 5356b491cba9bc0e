"""Network guard for every test: connecting anywhere but loopback fails the test.

Extra networks (the project's own podman networks, for the e2e tests) are allowed through
VB_TEST_ALLOWED_NETWORKS, a comma-separated list of CIDRs, e.g. "172.31.0.0/16,10.89.77.0/24".
The guard covers this process only: subprocesses a test starts get fake credentials and explicit
local endpoints instead.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

ALLOWED_NETWORKS_ENV = "VB_TEST_ALLOWED_NETWORKS"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedConnectionError(ConnectionRefusedError):
    """Raised instead of connecting; an OSError so client libraries fail the way a closed port fails."""


def parse_allowed_networks(raw: str | None) -> list[IPNetwork]:
    networks: list[IPNetwork] = []
    for entry in (raw or "").split(","):
        entry = entry.strip()
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError as exc:
                raise ValueError(f"{ALLOWED_NETWORKS_ENV}: {entry!r} is not a CIDR network") from exc
    return networks


def is_allowed(address: Any, family: int, extra: list[IPNetwork] | None = None) -> bool:
    """True if a connect() to `address` stays on loopback or an explicitly allowed network."""
    if family == getattr(socket, "AF_UNIX", object()):
        return True
    if not isinstance(address, tuple) or not address:
        return False
    host = str(address[0]).split("%", 1)[0]  # drop an IPv6 zone id
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        # Never resolve names here (that would itself be network traffic); only the loopback names pass.
        return host.lower() in _LOOPBACK_NAMES
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return True
    networks = parse_allowed_networks(os.environ.get(ALLOWED_NETWORKS_ENV)) if extra is None else extra
    return any(ip.version == net.version and ip in net for net in networks)


@dataclass
class GuardRecord:
    violations: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.violations.clear()


_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


def pytest_configure(config: pytest.Config) -> None:
    try:
        parse_allowed_networks(os.environ.get(ALLOWED_NETWORKS_ENV))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[GuardRecord]:
    record = GuardRecord()

    def check(sock: socket.socket, address: Any) -> None:
        if not is_allowed(address, sock.family):
            record.violations.append(repr(address))
            raise BlockedConnectionError(f"network guard: connection to {address!r} is not allowed in tests")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        _original_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return _original_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield record
    # Fail the test even if the code under test swallowed the BlockedConnectionError.
    if record.violations:
        pytest.fail(f"network guard: test tried to connect to {', '.join(record.violations)}", pytrace=False)
