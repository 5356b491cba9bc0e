"""The front (nginx on every host): slow clients cost nginx, not the app; limits per visitor; the visitor's
real address; restarts and reloads under traffic drop nothing.

Traffic goes to the fleet's own addresses only, bounded in connections and seconds.
"""

from __future__ import annotations

import base64
import json
import re
import selectors
import socket
import threading
import time
import uuid
from pathlib import Path

import requests
import yaml
from board import Visitor
from localcloud import fleet
from localfleet import REPO, Background, Host, Traffic, make_release, run_site, served_version

FRONT_DEFAULTS = yaml.safe_load((REPO / "roles/visitor_board_front/defaults/main.yml").read_text())
LOCAL_VARS = yaml.safe_load((REPO / "inventory/local/group_vars/all.yml").read_text())
STALLED, DRIPPING = 300, 50
ATTACK_SECONDS = 30
# What "answers" means for the visitor during the attack (the bar): a 200 within this many seconds.
VISITOR_DEADLINE = 1.0


class SlowClients(Background):
    """STALLED connections that send part of a request and stop, DRIPPING ones that send a byte a second.

    nginx closes them after its header timeout; they reconnect at once, so the pressure holds for the
    whole run. Every socket goes to one fleet address.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()
        self.opened = 0
        self.closed_by_server = 0
        self.selector = selectors.DefaultSelector()
        self.threads = [threading.Thread(target=self._run)]

    def _open(self, kind: str) -> None:
        sock = socket.create_connection((self.address, 80), timeout=5)
        sock.setblocking(False)
        if kind == "stall":
            sock.send(b"GET / HTTP/1.1\r\nHost: " + self.address.encode() + b"\r\nX-Slow: ")
        else:
            sock.send(b"G")
        self.selector.register(sock, selectors.EVENT_READ, kind)
        self.opened += 1

    def _run(self) -> None:
        for _ in range(STALLED):
            self._open("stall")
        for _ in range(DRIPPING):
            self._open("drip")
        next_drip = time.monotonic() + 1
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                # Readable: nginx answered (408) or closed it. Reconnect to keep the pressure.
                self.selector.unregister(key.fileobj)
                key.fileobj.close()
                self.closed_by_server += 1
                self._open(key.data)
            if time.monotonic() >= next_drip:
                next_drip += 1
                for key in list(self.selector.get_map().values()):
                    if key.data == "drip":
                        try:
                            key.fileobj.send(b"E")
                        except OSError:
                            pass
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()


def test_slow_clients_cost_nginx_not_the_app(hosts: list[Host]) -> None:
    target = hosts[0]
    answers: list[str] = []
    with SlowClients(target.address) as attack:
        time.sleep(2)  # every slow connection is open before the visitor starts
        deadline = time.monotonic() + ATTACK_SECONDS
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status = requests.get(f"http://{target.address}/", timeout=VISITOR_DEADLINE).status_code
                took = time.monotonic() - started
                answers.append(
                    "ok" if status == 200 and took <= VISITOR_DEADLINE else f"{status} in {took:.2f} s"
                )
            except requests.RequestException as exc:
                answers.append(f"{type(exc).__name__}")
            time.sleep(0.5)
        open_now = len(attack.selector.get_map())
    print(
        f"{len(answers)} visitor requests under {STALLED} stalled + {DRIPPING} dripping connections "
        f"({attack.opened} opened, {attack.closed_by_server} closed by nginx's timeouts)"
    )
    assert open_now == STALLED + DRIPPING
    # nginx's header timeout closed the slow ones (and they came back): the attack really ran.
    assert attack.closed_by_server >= STALLED
    assert len(answers) >= 40
    assert [a for a in answers if a != "ok"] == [], answers


def _post_raw(address: str) -> requests.Response:
    # No form token: the app would answer 400, but the front counts the post before the app sees it.
    return requests.post(f"http://{address}/", data={"message": "x"}, timeout=10, allow_redirects=False)


# Runs ON another fleet host (python3 stdlib only): a visitor there posts one message to TARGET.
_POST_FROM_HOST = r"""
import http.client, re, sys
target, text = sys.argv[1], sys.argv[2]
conn = http.client.HTTPConnection(target, 80, timeout=10)
conn.request("GET", "/")
page = conn.getresponse()
body = page.read().decode()
cookie = page.getheader("Set-Cookie").split(";")[0]
csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body).group(1)
client_id = re.search(r'name="client_id"[^>]*value="([0-9a-f]{32})"', body).group(1)
from urllib.parse import urlencode
form = urlencode({"csrf_token": csrf, "client_id": client_id, "name": "neighbour", "message": text})
conn.request("POST", "/", body=form, headers={"Cookie": cookie,
             "Content-Type": "application/x-www-form-urlencoded"})
print(conn.getresponse().status)
"""


def _post_from(host: Host, target: Host, text: str) -> int:
    script = base64.b64encode(_POST_FROM_HOST.encode()).decode()
    out = host.ssh(f"echo {script} | base64 -d | python3 - {target.address} '{text}'")
    return int(out.strip())


def test_posts_beyond_the_burst_get_429_while_another_address_still_posts(hosts: list[Host]) -> None:
    target, neighbour = hosts[0], hosts[1]
    burst = int(FRONT_DEFAULTS["visitor_board_front_post_burst"])
    statuses = [_post_raw(target.address).status_code for _ in range(burst + 10)]
    assert statuses.count(429) >= 5, statuses
    assert statuses[0] != 429, statuses
    refused = _post_raw(target.address)
    assert refused.status_code == 429
    assert "wait" in refused.text and "has not been posted" in refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    # Reading is not limited.
    assert requests.get(f"http://{target.address}/", timeout=10).status_code == 200
    # Another address is not affected: a visitor on host 2 posts to host 1 at once, and it lands.
    text = f"from the neighbour {uuid.uuid4().hex[:8]}"
    assert _post_from(neighbour, target, text) == 303
    assert text in Visitor(target.address).all_texts()
    # The app saw that visitor's own address (through exactly one trusted hop), not nginx's or a header's.
    log = target.ssh("sudo journalctl -u 'visitor-board@*' --no-pager --output=cat --since=-5min")
    assert re.search(
        rf"method=POST path=/ status=303 .*remote={re.escape(neighbour.address)}( |$)", log, re.M
    ), log[-3000:]


def test_a_forged_forwarded_for_never_reaches_the_app(hosts: list[Host]) -> None:
    target = hosts[2]
    marker = uuid.uuid4().hex
    response = requests.get(
        f"http://{target.address}/healthz",
        headers={"X-Forwarded-For": "198.51.100.66", "X-Request-Id": f"forged{marker}"},
        timeout=10,
    )
    assert response.status_code == 200
    log = target.ssh("sudo journalctl -u 'visitor-board@*' --no-pager --output=cat --since=-2min")
    lines = [line for line in log.splitlines() if "path=/healthz" in line]
    assert lines
    assert "198.51.100.66" not in log
    assert marker not in log  # nginx's own request id replaced the visitor's
    # The controller reaches the hosts from the fleet network's gateway.
    assert re.search(rf"remote={re.escape(fleet.GATEWAY)}( |$)", lines[-1]), lines[-1]


def test_bodies_over_16_kib_get_413_chunked_or_not(hosts: list[Host]) -> None:
    url = f"http://{hosts[1].address}/"
    body = b"m" * (20 * 1024)
    plain = requests.post(url, data=body, timeout=10)
    chunked = requests.post(url, data=iter([body[:10240], body[10240:]]), timeout=10)
    assert "Transfer-Encoding" not in plain.request.headers
    assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
    for response in (plain, chunked):
        assert response.status_code == 413
        assert "Shorten it" in response.text
        assert response.headers["Server"] == "nginx"


def test_static_files_come_from_nginx_with_long_cache(hosts: list[Host]) -> None:
    host = hosts[1]
    page = requests.get(f"http://{host.address}/", timeout=10).text
    href = re.search(r'href="(/static/style\.css\?v=[^"]+)"', page).group(1)
    response = requests.get(f"http://{host.address}{href}", timeout=10)
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert response.headers["Content-Type"].startswith("text/css")
    served = host.ssh("sudo journalctl -u 'visitor-board@*' --no-pager --output=cat --since=-2min")
    assert "/static/style.css" not in served, "gunicorn served a static file"


def test_gunicorn_listens_on_no_tcp_port_and_nginx_is_sandboxed(hosts: list[Host]) -> None:
    for host in hosts:
        listeners = host.ssh("sudo ss -Htlnp")
        assert not re.search(r"gunicorn|python", listeners), listeners
        assert re.search(r":80\s.*nginx", listeners), listeners
        score = host.ssh("sudo systemd-analyze security --no-pager nginx.service | tail -1")
        exposure = float(re.search(r"Overall exposure level for nginx.service: ([0-9.]+)", score).group(1))
        assert exposure <= 5.0, score


def _extra_env(**more: str) -> str:
    env = dict(LOCAL_VARS["visitor_board_extra_environment"], **more)
    # As JSON: `-e name=value` would hand the role a string, not a mapping.
    return json.dumps({"visitor_board_extra_environment": env})


# An app environment change (gunicorn restarts) and a front setting (nginx reloads); the code update below
# keeps them, so only its code changes.
NEW_SETTINGS = ("-e", _extra_env(PAGE_SIZE="20"), "-e", "visitor_board_front_keepalive_timeout=16")


def test_restart_of_the_app_and_reload_of_nginx_under_traffic_fail_nothing(hosts: list[Host]) -> None:
    """An environment change restarts gunicorn on every host; a front setting reloads nginx."""
    before = {
        h.instance_id: (
            h.unit_property(f"{h.live_unit()}.service", "MainPID"),
            h.unit_property(f"{h.live_unit()}.socket", "ActiveEnterTimestampMonotonic"),
            h.unit_property("nginx.service", "MainPID"),
        )
        for h in hosts
    }
    with Traffic(hosts) as traffic:
        result = run_site(
            "05-front-restart",
            *NEW_SETTINGS,
        )
    assert result.returncode == 0, result.output[-6000:]
    assert traffic.failures == [], traffic.failures[:20]
    assert all(traffic.requests[h.instance_id] > 10 for h in hosts), traffic.requests
    for host in hosts:
        service_pid, socket_since, nginx_pid = before[host.instance_id]
        unit = host.live_unit()
        assert host.unit_property(f"{unit}.service", "MainPID") != service_pid, "gunicorn was not restarted"
        # The socket and its backlog stayed while the service restarted (no PartOf= coupling).
        assert host.unit_property(f"{unit}.socket", "ActiveEnterTimestampMonotonic") == socket_since
        # nginx was reloaded (same master, new configuration), not restarted.
        assert host.unit_property("nginx.service", "MainPID") == nginx_pid
        assert "keepalive_timeout 16s;" in host.ssh("cat /etc/nginx/nginx.conf")
    print(f"restart + reload: {sum(traffic.requests.values())} requests, 0 failed")


def test_code_update_starts_the_new_release_beside_the_old_under_traffic(
    hosts: list[Host], tmp_path: Path
) -> None:
    source = make_release(tmp_path, "1.0.3")
    old_units = {h.instance_id: h.live_unit() for h in hosts}
    with Traffic(hosts) as traffic:
        result = run_site(
            "06-front-code-update",
            "-e",
            f"visitor_board_app_source_dir={source}",
            *NEW_SETTINGS,
        )
    assert result.returncode == 0, result.output[-6000:]
    assert traffic.failures == [], traffic.failures[:20]
    assert {h.instance_id: served_version(h) for h in hosts} == {h.instance_id: "1.0.3" for h in hosts}
    for host in hosts:
        assert Visitor(host.address).board().release == "1.0.3"  # the page names the release it came from
    # The new release ran in its own gunicorn beside the old one, which was then stopped (gracefully).
    for host in hosts:
        old, new = old_units[host.instance_id], host.live_unit()
        assert new != old and new.startswith("visitor-board@1.0.3-"), (old, new)
        assert host.unit_property(f"{old}.service", "ActiveState") == "inactive"
        assert host.unit_property(f"{new}.service", "ActiveState") == "active"
    print(f"code update: {sum(traffic.requests.values())} requests, 0 failed")
