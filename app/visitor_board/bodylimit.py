"""The request body limit for every framing: Content-Length and chunked bodies alike.

Werkzeug enforces MAX_CONTENT_LENGTH against a Content-Length header, but a chunked body (no length) is
only read up to the limit and the rest silently ignored, so an oversized post could still be stored without
its tail. This middleware reads a chunked body up to one byte past the limit and hands the app a body with a
Content-Length: werkzeug's own check then answers 413 for anything longer, however it was framed.

An oversized body is also read to its end (and thrown away) when it is at most DRAIN_LIMIT bytes: a server
that closes a connection with unread data in it makes the client's kernel reset it, and the client then
never sees the 413. Larger bodies are left unread; the server closes the connection on them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import IO, Any

WSGIApp = Any  # a WSGI callable: (environ, start_response) -> iterable of bytes
DRAIN_LIMIT = 1024 * 1024
_READ_SIZE = 64 * 1024


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_SIZE))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _discard_at_most(stream: IO[bytes], size: int) -> None:
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_SIZE))
        if not chunk:
            return
        remaining -= len(chunk)


class BodyLimit:
    """Wrap a WSGI app so a body sent without Content-Length arrives with one, read up to `limit` + 1 bytes.

    A body over `limit` bytes reaches the app as `limit` + 1 bytes with that Content-Length, so the app's
    413 (werkzeug's max_content_length check) applies to it.
    """

    def __init__(self, app: WSGIApp, limit: int, drain_limit: int = DRAIN_LIMIT) -> None:
        self.app = app
        self.limit = limit
        self.drain_limit = drain_limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        framing = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if "chunked" in framing and not environ.get("CONTENT_LENGTH"):
            body = _read_at_most(stream, self.limit + 1)
            if len(body) > self.limit:
                _discard_at_most(stream, self.drain_limit - len(body))
                body = b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body) or self.limit + 1)
            # The app now sees a plain body of known length (werkzeug ignores Content-Length while the
            # request says chunked).
            del environ["HTTP_TRANSFER_ENCODING"]
        elif self.limit < _content_length(environ) <= self.drain_limit:
            _discard_at_most(stream, _content_length(environ))
            environ["wsgi.input"] = io.BytesIO(b"")
        return self.app(environ, start_response)


def _content_length(environ: dict[str, Any]) -> int:
    raw = environ.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isascii() and raw.isdigit() else 0
