"""An ACME certificate authority for the local fleet: Debian's pebble (Let's Encrypt's ACME test server),
shaped like Let's Encrypt's production service where pebble 2.4 differs from it.

What pebble 2.4 is and is not (found out on Debian 12's pebble 2.4.0):
  - it accepts IP identifiers (RFC 8738) and validates http-01 for real: its VA fetches
    http://<ip>:<httpPort>/.well-known/acme-challenge/<token> (httpPort 80 here, never "always valid");
  - its directory advertises no `profiles` (certificate profiles came in a later pebble) and no
    `renewalInfo` (ARI): certbot's `--preferred-profile shortlived` falls back to the default profile;
  - `certificateValidityPeriod` sets the lifetime: 160 hours here, as Let's Encrypt's `shortlived`;
  - it copies the first identifier into the subject's common name, an IP address included. Let's
    Encrypt's IP certificates have an empty subject, and certbot (5.8) cannot read a certificate whose CN
    is an IP address (certbot/certbot#10773: it saves it, then fails, and `renew` refuses the lineage).
    The front below therefore re-signs each certificate pebble hands out with pebble's own intermediate
    key (its management endpoint publishes it), with the subject emptied and the subject alternative
    names made critical (RFC 5280 4.2.1.6), all else unchanged: what Let's Encrypt issues.
  - it ships no certificate for its own listener: one is generated in the state directory
    (acme/listener.pem), and clients of the ACME API must trust it (the hosts' certbot through
    REQUESTS_CA_BUNDLE, set by inventory/local). The issued certificates chain to pebble's root, a new one
    at each start, published at https://127.0.0.1:15000/roots/0 (`issuing_root()`).

Layout: pebble listens on loopback; the front (this process) answers ACME clients on the fleet's gateway
and forwards every request to pebble with the Host header kept, so pebble's URLs name the front.

Usage:
    python -m localcloud.acme --listen 172.31.0.1:14000 --state .localcloud/acme
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import urllib.request
from http.client import HTTPSConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .ports import wait_for_port

LOG = logging.getLogger("acme")
PEBBLE = "/usr/bin/pebble"
# Let's Encrypt's `shortlived` profile: 160 hours.
SHORTLIVED_SECONDS = 160 * 3600
DEFAULT_MANAGEMENT = ("127.0.0.1", 15000)
DEFAULT_PEBBLE = ("127.0.0.1", 14001)
LISTENER_CERT = "listener.pem"
LISTENER_KEY = "listener.key"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}


def listener_certificate(state: Path, addresses: list[str]) -> Path:
    """The TLS certificate (self-signed, P-256, 10 years) pebble and the front present, created once in
    `state` for `addresses` (IPs) and kept: hosts trust this very file. Returns its path."""
    cert_path, key_path = state / LISTENER_CERT, state / LISTENER_KEY
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if {str(a) for a in names.get_values_for_type(x509.IPAddress)} >= set(addresses):
            return cert_path
    state.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "visitor-board local ACME listener")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def _management_get(state: Path, path: str, management: tuple[str, int] = DEFAULT_MANAGEMENT) -> bytes:
    context = ssl.create_default_context(cafile=str(state / LISTENER_CERT))
    url = f"https://{management[0]}:{management[1]}{path}"
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return bytes(response.read())


def issuing_root(state: Path, management: tuple[str, int] = DEFAULT_MANAGEMENT) -> str:
    """PEM of the root the running pebble issues under (a new one at every start of the service)."""
    return _management_get(state, "/roots/0", management).decode()


def strip_subject(chain_pem: bytes, issuer_key: serialization.SSHCertPrivateKeyTypes) -> bytes:
    """`chain_pem` with its first (leaf) certificate re-signed by `issuer_key` with an empty subject and
    critical subject alternative names, as Let's Encrypt issues IP certificates. The rest is unchanged."""
    certs = x509.load_pem_x509_certificates(chain_pem)
    leaf, rest = certs[0], certs[1:]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(leaf.issuer)
        .public_key(leaf.public_key())
        .serial_number(leaf.serial_number)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
    )
    for ext in leaf.extensions:
        critical = True if isinstance(ext.value, x509.SubjectAlternativeName) else ext.critical
        builder = builder.add_extension(ext.value, critical=critical)
    resigned = builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [resigned, *rest])


class Front:
    """Forwards ACME requests to pebble; certificate downloads come back without a subject CN."""

    def __init__(self, state: Path, pebble: tuple[str, int], management: tuple[str, int]) -> None:
        self.state, self.pebble, self.management = state, pebble, management
        self.context = ssl.create_default_context(cafile=str(state / LISTENER_CERT))
        self._issuer_key: object | None = None
        self._lock = threading.Lock()

    def issuer_key(self) -> serialization.SSHCertPrivateKeyTypes:
        with self._lock:
            if self._issuer_key is None:
                pem = _management_get(self.state, "/intermediate-keys/0", self.management)
                self._issuer_key = serialization.load_pem_private_key(pem, password=None)
            return self._issuer_key  # type: ignore[return-value]

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = HTTPSConnection(*self.pebble, context=self.context, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            out_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            status = response.status
        finally:
            conn.close()
        if status == 200 and path.startswith("/certZ/") and b"BEGIN CERTIFICATE" in data:
            data = strip_subject(data, self.issuer_key())
        return status, out_headers, data


def make_handler(front: Front) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                status, out_headers, data = front.forward(self.command, self.path, headers, body)
            except OSError as exc:
                LOG.warning("pebble unreachable: %s", exc)
                status, out_headers = 502, [("Content-Type", "application/problem+json")]
                data = json.dumps(
                    {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "ACME server down"}
                ).encode()
            self.send_response(status)
            for key, value in out_headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_HEAD = _relay

        def log_message(self, format: str, *args: object) -> None:
            LOG.info("%s %s", self.address_string(), format % args)

    return Handler


def pebble_config(state: Path, pebble: tuple[str, int], management: tuple[str, int], http_port: int,
                  validity: int) -> Path:  # fmt: skip
    config = {
        "pebble": {
            "listenAddress": f"{pebble[0]}:{pebble[1]}",
            "managementListenAddress": f"{management[0]}:{management[1]}",
            "certificate": str(state / LISTENER_CERT),
            "privateKey": str(state / LISTENER_KEY),
            "httpPort": http_port,
            # Nothing here answers tls-alpn-01; pebble offers it, certbot's webroot never picks it.
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "certificateValidityPeriod": validity,
        }
    }
    path = state / "pebble-config.json"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, type=_address, help="ADDR:PORT of the ACME API")
    parser.add_argument("--state", required=True, type=Path, help="directory of the listener key and config")
    parser.add_argument("--pebble", default=DEFAULT_PEBBLE, type=_address, help="ADDR:PORT of pebble itself")
    parser.add_argument("--management", default=DEFAULT_MANAGEMENT, type=_address)
    parser.add_argument("--http-port", default=80, type=int, help="port pebble validates http-01 on")
    parser.add_argument("--validity", default=SHORTLIVED_SECONDS, type=int, help="certificate lifetime (s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    state: Path = args.state.resolve()
    addresses = sorted({args.listen[0], args.pebble[0], args.management[0]})
    listener_certificate(state, addresses)
    config = pebble_config(state, args.pebble, args.management, args.http_port, args.validity)
    env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0")
    env.pop("PEBBLE_VA_ALWAYS_VALID", None)
    pebble = subprocess.Popen([PEBBLE, "-config", str(config)], env=env, stdout=sys.stdout, stderr=sys.stderr)

    def stop(signum: int, frame: FrameType | None) -> None:
        pebble.terminate()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        wait_for_port(args.pebble[1], args.pebble[0], process=pebble)
        wait_for_port(args.management[1], args.management[0], process=pebble)
        front = Front(state, args.pebble, args.management)
        server = ThreadingHTTPServer(args.listen, make_handler(front))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(state / LISTENER_CERT, state / LISTENER_KEY)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        LOG.info("ACME directory https://%s:%d/dir (pebble on %s:%d)", *args.listen, *args.pebble)
        server.serve_forever()
    finally:
        pebble.terminate()
        pebble.wait(timeout=10)


if __name__ == "__main__":
    main()
