"""Opaque page cursors: the sort key to continue after, signed so visitors cannot forge or alter one.

The signature is what makes a cursor trustworthy, so decoding accepts every sort key that encoding accepts
(any string DynamoDB can hold as a sort key): no item in the table can yield an "older" link the board
itself refuses, whatever an older release may have written.
"""

from __future__ import annotations

from itsdangerous import BadData, URLSafeSerializer

_SALT = "visitor-board.cursor.v1"
# DynamoDB's bounds for a string sort key, in UTF-8 bytes.
MIN_SORT_KEY_BYTES = 1
MAX_SORT_KEY_BYTES = 1024
# The signed form of the worst sort key (1024 control characters, each 6 in JSON, then base64) fits.
MAX_CURSOR_LENGTH = 16 * MAX_SORT_KEY_BYTES


class InvalidCursor(ValueError):
    """The cursor was not issued by this board (tampered, truncated or garbage)."""


def _is_sort_key(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates cannot be stored either
        return False
    return MIN_SORT_KEY_BYTES <= size <= MAX_SORT_KEY_BYTES


class CursorCodec:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt=_SALT)

    def encode(self, sort_key: str) -> str:
        """Sign `sort_key`; raises ValueError for a value DynamoDB could not hold as a sort key."""
        if not _is_sort_key(sort_key):
            raise ValueError("a cursor holds a DynamoDB string sort key of 1 to 1024 UTF-8 bytes")
        token = str(self._serializer.dumps(sort_key))
        if len(token) > MAX_CURSOR_LENGTH:  # cannot happen within the bounds above; guards the round trip
            raise ValueError("cursor too long")
        return token

    def decode(self, token: str) -> str:
        """The sort key signed into `token`; raises InvalidCursor for anything this board did not issue."""
        if len(token) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("cursor too long")
        try:
            value = self._serializer.loads(token)
        except BadData as exc:
            raise InvalidCursor("bad signature") from exc
        if not _is_sort_key(value):
            raise InvalidCursor("unexpected cursor content")
        return str(value)
