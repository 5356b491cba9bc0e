"""Issue 10 fault 7: transient SSM / IMDS failures never take serving workers down, and the service heals.

Runs the app as hosts do (`visitor-board serve`, and plain gunicorn with the board's settings module) on
loopback. SSM is a real moto server behind a switchable TCP relay: "down" accepts connections and closes
them at once, the way an unreachable or restarting endpoint looks to botocore.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from board_helpers import (
    REGION,
    SECRET,
    ServedBoard,
    Visitor,
    dynamodb_client,
    free_port,
    safe_env,
    wait_for_port,
    wait_until,
)
from test_identity import INSTANCE_ID, ZONE, FakeIMDS, serve
from visitor_board.table import create_table


class Relay:
    """A TCP relay on loopback to `target_port` that can be switched off (connections closed at once)."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.up = True
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while self.up and (data := source.recv(65536)):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self.listener.close()


@pytest.fixture
def secret_parameter(moto) -> str:
    name = f"/visitor-board/test/{uuid.uuid4().hex[:8]}"
    boto3.client("ssm", region_name=REGION, endpoint_url=moto.url).put_parameter(
        Name=name, Value="r" * 40, Type="SecureString"
    )
    return name


@pytest.fixture
def ssm_relay(moto) -> Iterator[Relay]:
    relay = Relay(int(moto.url.rsplit(":", 1)[1]))
    yield relay
    relay.close()


@pytest.fixture
def board_env(moto, secret_parameter: str, ssm_relay: Relay) -> dict[str, str]:
    table = f"vb-resilience-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb_client(moto.url), table)
    return safe_env(
        TABLE_NAME=table,
        SECRET_KEY_PARAMETER=secret_parameter,
        AWS_ENDPOINT_URL_DYNAMODB=moto.url,
        AWS_ENDPOINT_URL_SSM=ssm_relay.url,
    )


def all_ok(url: str, count: int = 12) -> bool:
    """`count` fresh connections (spread over the workers) all get the board."""
    return all(requests.get(url + "/", timeout=10).status_code == 200 for _ in range(count))


def kill_one_worker_and_watch(board_url: str, workers: Any, master: subprocess.Popen[bytes]) -> int:
    before = workers()
    assert len(before) == 2
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    # The surviving worker answers every request while the replacement boots (or keeps failing to).
    for _ in range(10):
        assert requests.get(board_url + "/", timeout=10).status_code == 200
        time.sleep(0.2)
    assert master.poll() is None, "gunicorn's master must not halt"
    return victim


def test_serve_waits_for_ssm_at_start_then_survives_ssm_outages(
    board_env: dict[str, str], ssm_relay: Relay, tmp_path: Path
) -> None:
    ssm_relay.up = False
    threading.Timer(3.0, lambda: setattr(ssm_relay, "up", True)).start()
    board = ServedBoard(["serve", "--workers", "2", "--bind", "127.0.0.1:0"], board_env, tmp_path / "s.log")
    board.args[-1] = f"127.0.0.1:{board.port}"
    started = time.monotonic()
    board.start(wait=60)
    try:
        assert time.monotonic() - started >= 2.5  # it waited for SSM rather than giving up
        assert "trying again in" in board.log()
        assert all_ok(board.url)

        ssm_relay.up = False  # SSM fails from now on
        victim = kill_one_worker_and_watch(board.url, board.worker_pids, board.process)
        # The replacement boots without SSM (serve read the secret once) and serves at once.
        wait_until(lambda: len(board.worker_pids() - {victim}) == 2, timeout=30, what="a replacement worker")
        assert all_ok(board.url)
        assert "Worker failed to boot" not in board.log()
        ssm_relay.up = True
    finally:
        board.stop()


def test_plain_gunicorn_worker_reboot_during_ssm_outage_heals(
    board_env: dict[str, str], ssm_relay: Relay, tmp_path: Path
) -> None:
    """Workers that read SECRET_KEY_PARAMETER themselves: one that cannot reboot retries, never halts all."""
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        master = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "-c", "python:visitor_board.gunicorn_conf"),
                *("--bind", f"127.0.0.1:{port}", "--workers", "2", "visitor_board.wsgi:app"),
            ],
            env=board_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def workers() -> set[int]:
        return {int(p) for p in Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()}

    try:
        wait_for_port(port, process=master)
        wait_until(lambda: len(workers()) == 2 and all_ok(url), timeout=30, what="two serving workers")
        ssm_relay.up = False
        victim = kill_one_worker_and_watch(url, workers, master)
        # Its replacement cannot read the secret; it retries, exits and is replaced: the service stays up.
        time.sleep(12)
        assert master.poll() is None
        assert all_ok(url)
        log = log_path.read_text()
        assert "SSM" in log and "Worker failed to boot" not in log
        assert "r" * 40 not in log  # the secret itself is never printed
        ssm_relay.up = True
        wait_until(
            lambda: len(workers() - {victim}) == 2 and all_ok(url), timeout=60, what="healed to two workers"
        )
    finally:
        master.terminate()
        master.wait(timeout=30)


def test_serve_gives_up_on_ssm_with_one_line(board_env: dict[str, str], ssm_relay: Relay) -> None:
    ssm_relay.up = False
    result = subprocess.run(
        [str(Path(sys.executable).with_name("visitor-board")), "serve", "--secret-wait", "2"],
        env={**board_env, "PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("visitor-board: SECRET_KEY_PARAMETER=")
    assert "gave up after" in last


def test_identity_heals_when_the_metadata_service_comes_back(moto, tmp_path: Path) -> None:
    """Workers booted while IMDS was silent show the hostname, then the instance once IMDS answers."""
    imds_port = free_port()
    table = f"vb-imds-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb_client(moto.url), table)
    env = safe_env(
        SECRET_KEY=SECRET,
        TABLE_NAME=table,
        AWS_ENDPOINT_URL_DYNAMODB=moto.url,
        AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{imds_port}/",
    )
    env.pop("AWS_EC2_METADATA_DISABLED")
    board = ServedBoard(["serve", "--workers", "2", "--bind", "x"], env, tmp_path / "s.log")
    board.args[-1] = f"127.0.0.1:{board.port}"
    board.start()
    try:
        assert INSTANCE_ID not in requests.get(board.url + "/", timeout=10).text  # nothing answers yet
        served = serve(FakeIMDS(port=imds_port))
        next(served)
        try:
            wait_until(
                lambda: all(f"{INSTANCE_ID} ({ZONE})" in Visitor(board.url).get("/").text for _ in range(8)),
                timeout=30,
                what="every worker showing the instance",
            )
        finally:
            next(served, None)
    finally:
        board.stop()


def test_serve_uses_the_socket_systemd_passes(moto, tmp_path: Path) -> None:
    """LISTEN_FDS (systemd socket activation, as the host's unit uses it): no address of its own is bound."""
    activate = "/usr/bin/systemd-socket-activate"
    if not Path(activate).exists():
        pytest.skip("systemd-socket-activate is not installed")
    table = f"vb-socket-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb_client(moto.url), table)
    port, own_port = free_port(), free_port()
    env = safe_env(
        SECRET_KEY=SECRET, TABLE_NAME=table, AWS_ENDPOINT_URL_DYNAMODB=moto.url, PORT=str(own_port)
    )
    passed = [arg for name in env for arg in ("-E", name)]  # it hands its children only these
    script = str(Path(sys.executable).with_name("visitor-board"))
    with (tmp_path / "activate.log").open("wb") as log:
        process = subprocess.Popen(
            [activate, "-l", f"127.0.0.1:{port}", *passed, script, "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process=process)
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", own_port)) != 0  # PORT was not bound as well
    finally:
        process.terminate()
        process.wait(timeout=30)
