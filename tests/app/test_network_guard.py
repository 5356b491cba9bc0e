"""The network guard in tests/conftest.py: loopback passes, anything else fails the test."""

from __future__ import annotations

import ipaddress
import socket
import textwrap
from pathlib import Path

import pytest

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
TEST_NET = ("192.0.2.1", 9)  # RFC 5737 documentation range: never routed, never contacted


def guard_module():
    import importlib.util
    import sys

    name = "vb_guard_under_test"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT_CONFTEST)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_loopback_connections_pass() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass


def test_other_addresses_are_blocked_and_recorded(network_guard) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="network guard"):
        sock.connect(TEST_NET)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect_ex(("169.254.169.254", 80))
    assert network_guard.violations == [repr(TEST_NET), repr(("169.254.169.254", 80))]
    network_guard.clear()  # this test expected them; anywhere else they fail the test


@pytest.mark.parametrize(
    ("address", "family", "allowed"),
    [
        (("127.0.0.1", 80), socket.AF_INET, True),
        (("127.8.9.10", 80), socket.AF_INET, True),
        (("::1", 80, 0, 0), socket.AF_INET6, True),
        (("::ffff:127.0.0.1", 80, 0, 0), socket.AF_INET6, True),
        (("localhost", 80), socket.AF_INET, True),
        (("169.254.169.254", 80), socket.AF_INET, False),
        (("54.12.34.56", 443), socket.AF_INET, False),
        (("172.31.0.1", 5000), socket.AF_INET, False),
        (("dynamodb.eu-north-1.amazonaws.com", 443), socket.AF_INET, False),
        (("2001:db8::1", 443, 0, 0), socket.AF_INET6, False),
    ],
)
def test_policy_without_extra_networks(address, family, allowed: bool) -> None:
    assert guard_module().is_allowed(address, family, extra=[]) is allowed


def test_extra_networks_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = guard_module()
    monkeypatch.setenv(guard.ALLOWED_NETWORKS_ENV, "172.31.0.0/16, 10.89.77.0/24")
    assert guard.is_allowed(("172.31.0.1", 5000), socket.AF_INET)
    assert guard.is_allowed(("10.89.77.4", 22), socket.AF_INET)
    assert not guard.is_allowed(("10.89.78.4", 22), socket.AF_INET)
    assert not guard.is_allowed(("169.254.169.254", 80), socket.AF_INET)


def test_bad_extra_network_is_an_error() -> None:
    guard = guard_module()
    with pytest.raises(ValueError, match="not a CIDR"):
        guard.parse_allowed_networks("172.31.0.0/16,nonsense")
    assert guard.parse_allowed_networks("") == []
    assert guard.parse_allowed_networks("10.0.0.0/8") == [ipaddress.ip_network("10.0.0.0/8")]


def test_a_test_that_swallows_the_error_still_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ROOT_CONFTEST.read_text())
    pytester.makepyfile(
        test_sneaky=textwrap.dedent(
            """
            import socket

            def test_sneaky():
                try:
                    socket.create_connection(("192.0.2.1", 9), timeout=1)
                except OSError:
                    pass

            def test_polite():
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*network guard: test tried to connect to ('192.0.2.1', 9)*"])
