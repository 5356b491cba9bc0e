"""HTTPS on every host's address with a certificate from the local ACME CA (localcloud.acme: pebble,
validating http-01 for real on port 80 of each host): served, redirected, Secure cookies, renewed under
traffic with nginx reloaded, and a CA that is down at rollout time costs the host https, never service.

Runs last in the session (the other e2e files speak http to port 80): three site.yml runs, all on the
session fleet.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from board import Visitor
from cryptography import x509
from localcloud import acme, fleet
from localfleet import Background, Host, PlaybookRun, run_site, task_hosts

HTTPS_ON = ("-e", json.dumps({"visitor_board_https": True}))
LIVE = "/etc/letsencrypt/live/visitor-board"
CERTBOT = "/opt/visitor-board-tls/certbot/venv/bin/certbot"
ACME = next(s for s in fleet.SERVICES if s.module == "acme")


def _root_file(tmp: Path) -> Path:
    """Pebble's current issuing root (a new one at every start of the CA) in a file requests can use."""
    path = tmp / f"pebble-root-{uuid.uuid4().hex[:8]}.pem"
    path.write_text(acme.issuing_root(fleet.ACME_STATE))
    return path


def _served_certificate(address: str) -> x509.Certificate:
    """The leaf certificate nginx presents on address:443 (read without trusting it)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, 443), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=address) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _ip_sans(cert: x509.Certificate) -> list[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]


@pytest.fixture(scope="module")
def root_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("https")


@pytest.fixture(scope="module")
def https_run(hosts: list[Host]) -> PlaybookRun:
    """site.yml with HTTPS on, on the session fleet: each host gets a certificate for its address."""
    started = time.monotonic()
    result = run_site("09-https", *HTTPS_ON)
    assert result.returncode == 0, result.output[-6000:]
    print(f"site.yml turning HTTPS on: {time.monotonic() - started:.1f} s")
    return result


@pytest.fixture(scope="module")
def root(https_run: PlaybookRun, root_dir: Path) -> Path:
    return _root_file(root_dir)


def test_every_host_serves_the_board_over_https_with_a_certificate_for_its_address(
    hosts: list[Host], root: Path
) -> None:
    for host in hosts:
        cert = _served_certificate(host.address)
        # As Let's Encrypt issues IP certificates: the address only as a SAN, an empty subject.
        assert _ip_sans(cert) == [host.address], (host.instance_id, _ip_sans(cert))
        assert cert.subject == x509.Name([]), cert.subject
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert 159 * 3600 < lifetime.total_seconds() <= 160 * 3600, lifetime
        # Verified against the stand-in's root, the name checked against the address (urllib3 does).
        response = requests.get(f"https://{host.address}/", verify=str(root), timeout=15)
        assert response.status_code == 200
        assert host.instance_id in response.text
        # Mozilla intermediate: TLS 1.3 when the client offers it, TLS 1.2 with an ECDHE AEAD suite otherwise.
        assert _negotiated(host.address, None)[0] == "TLSv1.3"
        version, cipher = _negotiated(host.address, ssl.TLSVersion.TLSv1_2)
        assert (
            version == "TLSv1.2" and cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA" in cipher)
        )


def _negotiated(address: str, maximum: ssl.TLSVersion | None) -> tuple[str, str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if maximum is not None:
        context.maximum_version = maximum
    with socket.create_connection((address, 443), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=address) as tls:
            return str(tls.version()), tls.cipher()[0]


def test_http_redirects_to_https_except_the_challenge_path(hosts: list[Host], root: Path) -> None:
    host = hosts[0]
    got = requests.get(f"http://{host.address}/?page=x", allow_redirects=False, timeout=10)
    assert got.status_code == 308
    assert got.headers["Location"] == f"https://{host.address}/?page=x"
    posted = requests.post(f"http://{host.address}/", data={"m": "x"}, allow_redirects=False, timeout=10)
    assert posted.status_code == 308
    # Challenge answers stay on http (the CA validates there), and nothing else is served from it.
    token = uuid.uuid4().hex
    webroot = "/var/lib/visitor-board-tls/webroot/.well-known/acme-challenge"
    host.ssh(f"sudo mkdir -p {webroot} && echo {token}.key | sudo tee {webroot}/{token} >/dev/null")
    try:
        answer = requests.get(
            f"http://{host.address}/.well-known/acme-challenge/{token}", allow_redirects=False, timeout=10
        )
        assert (answer.status_code, answer.text.strip()) == (200, f"{token}.key")
    finally:
        host.ssh(f"sudo rm -f {webroot}/{token}")
    missing = requests.get(
        f"http://{host.address}/.well-known/acme-challenge/nope", allow_redirects=False, timeout=10
    )
    assert missing.status_code == 404
    # A visitor who typed http:// lands on the board over https.
    followed = requests.get(f"http://{host.address}/", verify=str(root), timeout=15)
    assert followed.status_code == 200 and followed.url == f"https://{host.address}/"


def test_cookies_are_secure_over_https_and_posting_works(hosts: list[Host], root: Path) -> None:
    visitor = Visitor(hosts[1].address)
    visitor.base = f"https://{hosts[1].address}"
    visitor.http.verify = str(root)
    # A REQUESTS_CA_BUNDLE in the environment would override the session's verify (requests' rule).
    visitor.http.trust_env = False
    # As a browser sends it on a same-origin form post (the app's Referrer-Policy is same-origin): over
    # https the CSRF check also requires a Referer of the same origin.
    visitor.http.headers["Referer"] = visitor.base + "/"
    first = visitor.http.get(visitor.base + "/", timeout=15)
    cookie = first.headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie, cookie
    text = f"over https {uuid.uuid4().hex[:8]}"
    assert visitor.post("tls", text)
    assert text in visitor.board().texts


class HttpsTraffic(Background):
    """Visitors requesting GET / over https on one host, a new connection per request, until stopped."""

    def __init__(self, address: str, root: Path) -> None:
        self.address, self.root = address, root
        super().__init__()
        self.count = 0
        self.failures: list[str] = []
        self.serials: set[int] = set()
        self.threads = [threading.Thread(target=self._run)]

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                status = requests.get(
                    f"https://{self.address}/",
                    verify=str(self.root),
                    timeout=10,
                    headers={"Connection": "close"},
                ).status_code
            except requests.RequestException as exc:
                status = f"{type(exc).__name__} {exc}"[:200]
            self.count += 1
            if status != 200:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {status}")
            time.sleep(0.05)


def test_renewal_serves_the_new_certificate_with_no_failed_request(hosts: list[Host], root: Path) -> None:
    host = hosts[0]
    before = _served_certificate(host.address)
    env = host.ssh("systemctl show -p Environment --value visitor-board-certbot-renew.service").strip()
    with HttpsTraffic(host.address, root) as traffic:
        time.sleep(2)
        # What the timer's service runs, forced now: the lineage's saved settings, the deploy hook after.
        out = host.ssh(f"sudo env {env} {CERTBOT} renew --force-renewal --no-random-sleep-on-renew 2>&1")
        deadline = time.monotonic() + 20
        while _served_certificate(host.address).serial_number == before.serial_number:
            assert time.monotonic() < deadline, f"nginx still serves the old certificate:\n{out}"
            time.sleep(0.5)
        time.sleep(2)
    after = _served_certificate(host.address)
    assert after.serial_number != before.serial_number
    assert _ip_sans(after) == [host.address]
    assert traffic.failures == [], traffic.failures[:10]
    assert traffic.count > 20, traffic.count
    print(f"renewal under traffic: {traffic.count} https requests, 0 failed")
    journal = host.ssh("sudo journalctl -t visitor-board-tls --no-pager -o cat")
    assert "nginx reloaded" in journal, journal


@pytest.fixture
def acme_down() -> Iterator[None]:
    ACME.stop()
    try:
        yield
    finally:
        ACME.start(fleet.service_env())


def test_ca_down_at_rollout_keeps_the_host_on_http_and_names_host_and_reason(
    hosts: list[Host], root: Path, root_dir: Path, acme_down: None
) -> None:
    # The third host has no certificate and no ACME account any more, as a new host. (Pebble keeps nothing
    # across a restart, so an account made before it would be unknown to it afterwards; Let's Encrypt keeps
    # accounts.)
    lost, kept = hosts[2], hosts[:2]
    serials = {h.address: _served_certificate(h.address).serial_number for h in kept}
    lost.ssh(
        f"sudo {CERTBOT} delete --non-interactive --cert-name visitor-board"
        " && sudo rm -rf /etc/letsencrypt/accounts"
    )

    # A failing renewal raises the alarm in the journal (the timer's service, forced to renew, CA down).
    kept[1].ssh(
        "sudo mkdir -p /run/systemd/system/visitor-board-certbot-renew.service.d && printf '%s\\n' "
        "'[Service]' 'ExecStart=' "
        f"'ExecStart={CERTBOT} renew --force-renewal --non-interactive --no-random-sleep-on-renew' "
        "| sudo tee /run/systemd/system/visitor-board-certbot-renew.service.d/force.conf >/dev/null "
        "&& sudo systemctl daemon-reload"
    )
    try:
        kept[1].ssh("sudo systemctl start visitor-board-certbot-renew.service", check=False)
        deadline = time.monotonic() + 15
        while "CERTIFICATE RENEWAL FAILED" not in (
            alarm := kept[1].ssh("sudo journalctl -p err -t visitor-board-tls --no-pager -o cat")
        ):
            assert time.monotonic() < deadline, alarm
            time.sleep(0.5)
    finally:
        kept[1].ssh(
            "sudo rm -rf /run/systemd/system/visitor-board-certbot-renew.service.d"
            " && sudo systemctl daemon-reload"
        )

    result = run_site("09-https-ca-down", *HTTPS_ON)
    assert result.returncode == 0, result.output[-6000:]
    # The output callback wraps long messages over lines: read it with whitespace collapsed.
    report = re.findall(
        r"HTTPS NOT AVAILABLE on (i-[0-9a-f]+) \(([0-9.]+)\): (.*?)\. The host keeps serving http",
        " ".join(result.output.split()),
    )
    assert [(i, a) for i, a, _ in report] == [(lost.instance_id, lost.address)], report
    reason = report[0][2]
    assert "no certificate yet" in reason and "certbot exited" in reason, reason
    assert "Connection refused" in reason or ":14000" in reason or "port=14000" in reason, reason
    # The host serves the board over http (no redirect to an https it cannot serve), nothing on 443.
    page = requests.get(f"http://{lost.address}/", allow_redirects=False, timeout=10)
    assert page.status_code == 200 and lost.instance_id in page.text
    assert "; Secure" not in page.headers["Set-Cookie"]
    with pytest.raises(OSError):
        socket.create_connection((lost.address, 443), timeout=5).close()
    # The others keep their certificates: nothing was requested for them.
    assert {h.address: _served_certificate(h.address).serial_number for h in kept} == serials


def test_next_rollout_with_the_ca_back_issues_only_what_is_missing(hosts: list[Host], root_dir: Path) -> None:
    result = run_site("09-https-recovered", *HTTPS_ON)
    assert result.returncode == 0, result.output[-6000:]
    assert "HTTPS NOT AVAILABLE" not in result.output
    changed = result.changed()
    # Hosts with a valid certificate for their address: nothing at all changed (no new certificate).
    assert changed[hosts[0].instance_id] == 0 and changed[hosts[1].instance_id] == 0, changed
    assert changed[hosts[2].instance_id] > 0, changed
    # The front and the TLS role ended at their fingerprint checks on the hosts that kept their certificate:
    # their full steps ran on the recovered host only.
    for task in (
        "visitor_board_tls : Install the renewal service, its timer and the failure alarm",
        "visitor_board_front : Write nginx's configuration"
        " (checked with nginx -t before it replaces the old one)",
    ):
        assert task_hosts(result.output, task) == {hosts[2].instance_id}, task
    new_root = _root_file(root_dir)
    cert = _served_certificate(hosts[2].address)
    assert _ip_sans(cert) == [hosts[2].address]
    assert requests.get(f"https://{hosts[2].address}/", verify=str(new_root), timeout=15).status_code == 200
