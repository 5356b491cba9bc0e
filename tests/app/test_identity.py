"""Instance identity from a local fake IMDS (IMDSv2 tokens), and a fast fallback to the hostname."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from board_helpers import SECRET, dynamodb_client, free_port, parse_board
from visitor_board import create_app
from visitor_board import identity as identity_module
from visitor_board.config import Config
from visitor_board.identity import lookup_identity
from visitor_board.table import create_table

TOKEN = "fake-imdsv2-token"
INSTANCE_ID = "i-0fedcba9876543210"
ZONE = "eu-north-1c"


class FakeIMDS(ThreadingHTTPServer):
    """Answers like EC2's metadata service with HttpTokens=required."""

    daemon_threads = True

    def __init__(self, hang: threading.Event | None = None, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.requests: list[tuple[str, str, str | None]] = []
        self.hang = hang  # while set to "hold", every request waits for it
        self.answers = {
            "/latest/meta-data/instance-id": INSTANCE_ID,
            "/latest/meta-data/placement/availability-zone": ZONE,
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _Handler(BaseHTTPRequestHandler):
    server: FakeIMDS

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: str = "") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _hold(self) -> None:
        if self.server.hang is not None:
            self.server.hang.wait(30)

    def do_PUT(self) -> None:
        self.server.requests.append(
            ("PUT", self.path, self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"))
        )
        self._hold()
        if self.path == "/latest/api/token" and self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
            self._reply(200, TOKEN)
        else:
            self._reply(400)

    def do_GET(self) -> None:
        token = self.headers.get("x-aws-ec2-metadata-token")
        self.server.requests.append(("GET", self.path, token))
        self._hold()
        if token != TOKEN:
            self._reply(401)
            return
        if self.path in self.server.answers:
            self._reply(200, self.server.answers[self.path])
        else:
            self._reply(404)


def serve(server: FakeIMDS) -> Iterator[FakeIMDS]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    if server.hang is not None:
        server.hang.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def imds() -> Iterator[FakeIMDS]:
    yield from serve(FakeIMDS())


@pytest.fixture
def use_imds(monkeypatch: pytest.MonkeyPatch):
    def point_at(url: str) -> None:
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)

    return point_at


def test_identity_from_imds_with_v2_token(imds: FakeIMDS, use_imds) -> None:
    use_imds(imds.url)
    found = lookup_identity()
    assert (found.instance_id, found.availability_zone, found.on_ec2) == (INSTANCE_ID, ZONE, True)
    assert imds.requests[0] == ("PUT", "/latest/api/token", "21600")
    gets = [r for r in imds.requests if r[0] == "GET"]
    assert {path for _, path, _ in gets} == {
        "/latest/meta-data/instance-id",
        "/latest/meta-data/placement/availability-zone",
    }
    assert all(token == TOKEN for _, _, token in gets)


def test_footer_shows_the_instance(imds: FakeIMDS, use_imds, moto, table_name: str) -> None:
    use_imds(imds.url)
    create_table(dynamodb_client(moto.url), table_name)
    config = Config(table_name=table_name, dynamodb_endpoint_url=moto.url, secret_key=SECRET)
    app = create_app(config)  # no identity given: looked up at start, as in production
    page = parse_board(app.test_client().get("/").text)
    assert page.served_by == f"{INSTANCE_ID} ({ZONE})"


def test_disabled_metadata_falls_back_to_hostname(imds: FakeIMDS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    found = lookup_identity()
    assert (found.instance_id, found.on_ec2) == (socket.gethostname(), False)
    assert imds.requests == []  # not even asked


def test_nothing_listening_falls_back_to_hostname(use_imds) -> None:
    use_imds(f"http://127.0.0.1:{free_port()}/")
    found = lookup_identity()
    assert (found.instance_id, found.availability_zone, found.on_ec2) == (socket.gethostname(), "", False)


def test_silent_metadata_service_does_not_hold_start_up(use_imds) -> None:
    """A service that accepts and never answers (a firewall, a wedged stand-in) costs ~1 s, not more."""
    release = threading.Event()
    server_iter = serve(FakeIMDS(hang=release))
    server = next(server_iter)
    use_imds(server.url)
    try:
        found = lookup_identity(deadline=0.5)
        # The service is still holding the request when the lookup has already given up.
        assert not release.is_set()
        assert server.requests, "the lookup did try the metadata service"
        assert (found.instance_id, found.on_ec2) == (socket.gethostname(), False)
    finally:
        release.set()
        next(server_iter, None)


@pytest.mark.parametrize("instance_id", ["<script>", "i-0123\nforged", "i-" + "0" * 70, ""])
def test_unexpected_metadata_values_are_not_shown(imds: FakeIMDS, use_imds, instance_id: str) -> None:
    imds.answers["/latest/meta-data/instance-id"] = instance_id
    use_imds(imds.url)
    assert lookup_identity().on_ec2 is False


def test_lookup_default_deadline_is_about_a_second() -> None:
    assert identity_module.LOOKUP_DEADLINE_SECONDS <= 1.0
