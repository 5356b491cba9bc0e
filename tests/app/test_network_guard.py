"""The network guard (pytest-socket, configured in tests/pytest.ini): loopback passes, the rest is blocked.

Blocked connects fail before any packet is sent: pytest-socket refuses them in socket.connect itself.
"""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError


def test_loopback_connections_pass() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass


@pytest.mark.parametrize(
    "address",
    [
        ("192.0.2.1", 9),  # RFC 5737 documentation range
        ("169.254.169.254", 80),  # the real instance metadata address
        ("54.12.34.56", 443),  # the kind of public address moto reports
        ("172.32.0.1", 22),  # just outside the fleet network
        ("10.89.78.4", 22),  # just outside the molecule network
    ],
)
@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket.connect")
def test_other_addresses_are_blocked(address: tuple[str, int]) -> None:
    with socket.socket() as sock, pytest.raises(SocketConnectBlockedError):
        sock.connect(address)
