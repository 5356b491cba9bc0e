"""The request body limit for every framing: Content-Length and chunked bodies alike.

Werkzeug enforces MAX_CONTENT_LENGTH against a Content-Length header, but a chunked body (no length) is
only read up to the limit and the rest silently ignored, so an oversized post could still be stored without
its tail. This middleware reads a chunked body up to one byte past the limit and hands the app a body with a
Content-Length: werkzeug's own check then answers 413 for anything longer, however it was framed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import IO, Any

WSGIApp = Any  # a WSGI callable: (environ, start_response) -> iterable of bytes


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class BodyLimit:
    """Wrap a WSGI app so a body sent without Content-Length arrives with one, read up to `limit` + 1 bytes.

    A body over `limit` bytes reaches the app as `limit` + 1 bytes with that Content-Length, so the app's
    413 (werkzeug's max_content_length check) applies to it; the server discards the unread rest.
    """

    def __init__(self, app: WSGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        framing = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if "chunked" in framing and not environ.get("CONTENT_LENGTH"):
            body = _read_at_most(environ["wsgi.input"], self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)
