"""Opaque page cursors: the sort key to continue after, signed so visitors cannot forge or alter one."""

from __future__ import annotations

import re

from itsdangerous import BadData, URLSafeSerializer

_SALT = "visitor-board.cursor.v1"
# The shape of a message sort key: 13-digit epoch milliseconds, '#', a 32-hex message id.
SORT_KEY_RE = re.compile(r"^\d{13}#[0-9a-f]{32}$")
MAX_CURSOR_LENGTH = 512


class InvalidCursor(ValueError):
    """The cursor was not issued by this board (tampered, truncated or garbage)."""


class CursorCodec:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt=_SALT)

    def encode(self, sort_key: str) -> str:
        return str(self._serializer.dumps(sort_key))

    def decode(self, token: str) -> str:
        if len(token) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("cursor too long")
        try:
            value = self._serializer.loads(token)
        except BadData as exc:
            raise InvalidCursor("bad signature") from exc
        if not isinstance(value, str) or not SORT_KEY_RE.fullmatch(value):
            raise InvalidCursor("unexpected cursor content")
        return value
