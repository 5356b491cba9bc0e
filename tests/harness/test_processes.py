"""The local cloud's process supervisor (localcloud.processes) with a real moto server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from localcloud.awsenv import fake_aws_env
from localcloud.ports import free_port, port_open
from localcloud.processes import Service, ServiceError, arguments, listener_pids, listening_pids, stop_process


def moto(state: Path, port: int) -> Service:
    return Service("moto", "moto_server", ("-H", "127.0.0.1", "-p", str(port)), state, ("127.0.0.1", port))


def test_start_is_idempotent_and_stop_ends_it(tmp_path: Path) -> None:
    port = free_port()
    service = moto(tmp_path, port)
    pid = service.start(fake_aws_env())
    try:
        assert port_open("127.0.0.1", port)
        assert service.pid() == pid
        assert service.start(fake_aws_env()) == pid  # already running: the same process
        assert listener_pids("127.0.0.1", port, "moto_server") == [pid]
    finally:
        assert service.stop()
    assert service.pid() is None
    assert not port_open("127.0.0.1", port)
    assert not service.stop()


def test_a_port_held_by_another_process_is_refused_not_mistaken_for_success(tmp_path: Path) -> None:
    port = free_port()
    first = moto(tmp_path / "a", port)
    first.start(fake_aws_env())
    try:
        with pytest.raises(ServiceError, match="already in use"):
            moto(tmp_path / "b", port).start(fake_aws_env())
    finally:
        first.stop()


def test_a_reused_pid_is_not_the_service(tmp_path: Path) -> None:
    service = moto(tmp_path, free_port())
    tmp_path.mkdir(exist_ok=True)
    service.pidfile.write_text("1\n")  # pid 1 exists, but is not a moto server
    assert service.pid() is None


def test_a_service_that_cannot_start_says_why(tmp_path: Path) -> None:
    broken = Service("broken", "moto_server", ("--no-such-option",), tmp_path, ("127.0.0.1", free_port()))
    with pytest.raises(ServiceError, match="broken did not come up"):
        broken.start(fake_aws_env(), timeout=10)
    assert broken.pid() is None


def test_a_listener_of_another_state_directory_is_found_by_port_and_stopped_by_its_arguments(
    tmp_path: Path,
) -> None:
    """What `fleet down` does with an HAProxy another checkout left behind: the process holding the port,
    recognised by an argument naming its state directory, stopped; a wrong argument leaves it alone."""
    port = free_port()
    service = moto(tmp_path / "other-checkout", port)
    pid = service.start(fake_aws_env())
    try:
        assert listening_pids("127.0.0.1", port) == [pid]
        assert "moto_server" in " ".join(arguments(pid))
        stop_process(pid, "not-among-its-arguments")
        assert port_open("127.0.0.1", port)
        stop_process(pid, str(port))
        assert not port_open("127.0.0.1", port)
        assert arguments(pid) == []
        assert listening_pids("127.0.0.1", port) == []
    finally:
        service.stop()
