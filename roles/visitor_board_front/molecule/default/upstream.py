"""Stand-in for gunicorn behind the front: answers every request with JSON describing what it received.

Socket-activated (systemd passes the listening UNIX socket as fd 3), stdlib only. GET /healthz answers
{"status": "ok"}; anything else answers 200 with the method, path, the forwarded headers and the body size,
so the scenario's verify can see exactly what nginx passes on and what it stops.
"""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SD_LISTEN_FDS_START = 3


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {
            "method": self.command,
            "path": self.path,
            "x_forwarded_for": self.headers.get_all("X-Forwarded-For") or [],
            "x_forwarded_proto": self.headers.get("X-Forwarded-Proto"),
            "x_request_id": self.headers.get("X-Request-Id"),
            "transfer_encoding": self.headers.get("Transfer-Encoding"),
            "body_bytes": len(body),
        }
        data = json.dumps({"status": "ok"} if self.path == "/healthz" else seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_HEAD = _answer

    def address_string(self) -> str:
        return "front"


class InheritedServer(ThreadingHTTPServer):
    address_family = socket.AF_UNIX
    daemon_threads = True


def main() -> None:
    server = InheritedServer("", Handler, bind_and_activate=False)
    server.socket = socket.socket(fileno=SD_LISTEN_FDS_START)
    server.serve_forever()


if __name__ == "__main__":
    main()
