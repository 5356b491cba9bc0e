"""The data tier: an outage answers 503 and recovers without a restart; concurrent posts all land."""

from __future__ import annotations

import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from board import Visitor
from localcloud import fleet
from localfleet import Host


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _status(address: str, path: str) -> int:
    try:
        return requests.get(f"http://{address}{path}", timeout=20).status_code
    except requests.RequestException:
        return 0


def _main_pid(host: Host) -> str:
    return host.ssh(f"systemctl show -p MainPID --value {host.live_unit()}.service").strip()


def test_data_tier_outage_answers_503_and_recovers_without_restart(hosts: list[Host]) -> None:
    # moto holds the account in memory: killing it would be losing the table, which a DynamoDB outage
    # never does. SIGSTOP makes the endpoint unreachable the hard way (connections are accepted by the
    # kernel and never answered, as behind a network partition), so the app meets its own timeouts, and
    # SIGCONT brings the same data back.
    pids = {host.instance_id: _main_pid(host) for host in hosts}
    moto = fleet.SERVICES[0].pid()
    assert moto is not None
    os.kill(moto, signal.SIGSTOP)
    try:
        for host in hosts:
            assert _status(host.address, "/readyz") == 503
            assert _status(host.address, "/") == 503
            assert _status(host.address, "/healthz") == 200  # alive, just not ready
    finally:
        os.kill(moto, signal.SIGCONT)
    for host in hosts:
        _wait(lambda h=host: _status(h.address, "/readyz") == 200, 30, f"{host.instance_id} ready again")
        assert _status(host.address, "/") == 200
        assert _main_pid(host) == pids[host.instance_id], "the service was restarted"


def test_concurrent_posts_across_all_hosts_are_all_on_the_board(hosts: list[Host]) -> None:
    run = uuid.uuid4().hex[:8]
    clients, per_client = 6, 10

    def client(number: int) -> list[str]:
        acknowledged = []
        visitors = [Visitor(host.address) for host in hosts]
        for i in range(per_client):
            text = f"concurrent {run} c{number} m{i}"
            if visitors[(number + i) % len(visitors)].post(f"client{number}", text):
                acknowledged.append(text)
        return acknowledged

    with ThreadPoolExecutor(clients) as pool:
        acknowledged = {text for texts in pool.map(client, range(clients)) for text in texts}
    assert acknowledged
    for host in hosts:
        texts = [t for t in Visitor(host.address).all_texts() if t.startswith(f"concurrent {run} ")]
        assert acknowledged <= set(texts), (host.instance_id, sorted(acknowledged - set(texts)))
        # ... and exactly once: a retried post converges on one message.
        assert len(texts) == len(set(texts)), host.instance_id
    print(f"{len(acknowledged)} of {clients * per_client} posts acknowledged, all on every host's board")


def _workers(host: Host, master: str) -> set[str]:
    return set(host.ssh(f"pgrep -P {master} || true").split())


def test_a_worker_killed_while_ssm_and_dynamodb_are_down_is_replaced_and_the_service_heals(
    hosts: list[Host],
) -> None:
    """Fault 7 of the hostile-input issue, on a systemd host: a gunicorn worker that dies and re-boots while
    the data tier (SSM and DynamoDB, both moto) does not answer must neither take the service down nor
    stop the other workers; the host heals without a restart once the data tier is back."""
    host = hosts[0]
    master = _main_pid(host)
    before = _workers(host, master)
    assert len(before) >= 2, before
    victim = sorted(before)[0]
    moto = fleet.SERVICES[0].pid()
    assert moto is not None
    os.kill(moto, signal.SIGSTOP)
    try:
        host.ssh(f"sudo kill -KILL {victim}")
        _wait(
            lambda: victim not in _workers(host, master) and len(_workers(host, master)) == len(before),
            30,
            "gunicorn to replace the killed worker while the data tier is down",
        )
        assert _main_pid(host) == master, "the service was restarted"
        for _ in range(5):
            assert _status(host.address, "/healthz") == 200  # every worker alive and answering
    finally:
        os.kill(moto, signal.SIGCONT)
    _wait(lambda: _status(host.address, "/readyz") == 200, 30, f"{host.instance_id} ready again")
    assert _status(host.address, "/") == 200
    assert _main_pid(host) == master, "the service was restarted"
    assert host.ssh(f"systemctl is-active {host.live_unit()}.service").strip() == "active"
