"""Messages in DynamoDB: one board partition read newest-first by Query, idempotent posts via a marker item.

Layout (names from schema.json):
  message: pk="board", sk="<13-digit epoch ms>#<message id>", name, message, created_at
  marker:  pk=sk="post#<client id>", message_sk=<the message's sk>, expires_at=<epoch s> (TTL)
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .cursor import CursorCodec
from .schema import SCHEMA, KeySchema

BOARD_PARTITION = "board"
MARKER_PREFIX = "post#"
# A retry of the same submission arrives within seconds; a day is ample and lets TTL reclaim markers.
MARKER_TTL_SECONDS = 24 * 3600
# The id a form carries (uuid4 hex) and the sort key of a message. Checked with fullmatch only: `$` would
# let a trailing newline through, and `\d` would accept any script's digits.
CLIENT_ID_RE = re.compile(r"[0-9a-f]{32}")
SORT_KEY_RE = re.compile(r"[0-9]{13}#[0-9a-f]{32}")
MAX_EPOCH_MS = 10**13 - 1


def message_sort_key(epoch_ms: int, client_id: str) -> str:
    """The sort key of a message: 13-digit epoch milliseconds, '#', the 32-hex client id.

    Raises ValueError for anything else, so no malformed key can reach the table (and from there a cursor).
    """
    if not 0 <= epoch_ms <= MAX_EPOCH_MS or not CLIENT_ID_RE.fullmatch(client_id):
        raise ValueError("a message sort key needs 0 <= epoch_ms < 10**13 and a 32-hex client id")
    return f"{epoch_ms:013d}#{client_id}"


def content_digest(name: str, text: str) -> str:
    """SHA-256 (hex) of what a submission says: tells a true retry from a resubmission with edited text."""
    return hashlib.sha256(f"{name}\0{text}".encode()).hexdigest()


class DataTierUnavailable(Exception):
    """DynamoDB could not be reached or refused the request; the caller answers 503."""


class EditedResubmission(Exception):
    """A form already posted came again with a different name or text; nothing was stored this time."""


@dataclass(frozen=True)
class Message:
    id: str
    name: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Page:
    messages: list[Message]
    older_cursor: str | None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class MessageStore:
    def __init__(
        self,
        client: Any,
        probe_client: Any,
        table_name: str,
        cursor_codec: CursorCodec,
        page_size: int,
        schema: KeySchema = SCHEMA,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._client = client
        self._probe_client = probe_client
        self._table = table_name
        self._cursors = cursor_codec
        self._page_size = page_size
        self._pk = schema.partition_key
        self._sk = schema.sort_key
        self._ttl = schema.ttl_attribute
        self._clock_ms = clock_ms

    def page(self, cursor: str | None = None) -> Page:
        """Return one page, newest first, continuing after `cursor` (raises InvalidCursor if forged).

        Asks for one item more than a page: its presence proves an older page exists, so the "older" link
        never leads to an empty page. Cost is O(page size) whatever the table holds.
        """
        start_after = self._cursors.decode(cursor) if cursor else None
        wanted = self._page_size + 1
        items: list[dict[str, Any]] = []
        exclusive_start: dict[str, Any] | None = (
            {self._pk: {"S": BOARD_PARTITION}, self._sk: {"S": start_after}} if start_after else None
        )
        # A single Query returns `wanted` items unless it hits DynamoDB's 1 MB response cap, which
        # 21 small items never do; loop anyway so correctness does not depend on item sizes.
        while len(items) < wanted:
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "#pk = :board",
                "ExpressionAttributeNames": {"#pk": self._pk},
                "ExpressionAttributeValues": {":board": {"S": BOARD_PARTITION}},
                "ScanIndexForward": False,
                "Limit": wanted - len(items),
            }
            if exclusive_start:
                request["ExclusiveStartKey"] = exclusive_start
            response = self._call(self._client.query, **request)
            items.extend(response.get("Items", []))
            exclusive_start = response.get("LastEvaluatedKey")
            if not exclusive_start:
                break
        shown = items[: self._page_size]
        messages = [self._message(item) for item in shown]
        older = self._cursors.encode(shown[-1][self._sk]["S"]) if len(items) > self._page_size else None
        return Page(messages=messages, older_cursor=older)

    def post(self, client_id: str, name: str, text: str) -> str:
        """Store a message once per client id, however often the same submission arrives; return its sk.

        A true retry (same client id, name and text) converges on the one message. The same client id with
        a different name or text raises EditedResubmission and stores nothing: one form, one message.
        Raises ValueError for a malformed client id, DataTierUnavailable when DynamoDB fails.
        """
        now_ms = self._clock_ms()
        sort_key = message_sort_key(now_ms, client_id)
        marker_key = f"{MARKER_PREFIX}{client_id}"
        digest = content_digest(name, text)
        try:
            self._call(
                self._client.put_item,
                TableName=self._table,
                Item={
                    self._pk: {"S": marker_key},
                    self._sk: {"S": marker_key},
                    "message_sk": {"S": sort_key},
                    "content_sha256": {"S": digest},
                    self._ttl: {"N": str(now_ms // 1000 + MARKER_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": self._pk},
            )
        except _ConditionFailed:
            # A retry: converge on the sort key the first attempt chose (its message may still be missing
            # if that attempt died between the two writes, so write it below either way).
            marker = self._call(
                self._client.get_item,
                TableName=self._table,
                Key={self._pk: {"S": marker_key}, self._sk: {"S": marker_key}},
                ConsistentRead=True,
            )
            existing = marker.get("Item")
            if existing and "message_sk" in existing:
                sort_key = existing["message_sk"]["S"]
                if self._first_attempt_differs(existing, sort_key, digest):
                    raise EditedResubmission(client_id) from None
        try:
            self._call(
                self._client.put_item,
                TableName=self._table,
                Item={
                    self._pk: {"S": BOARD_PARTITION},
                    self._sk: {"S": sort_key},
                    "name": {"S": name},
                    "message": {"S": text},
                    "created_at": {"N": sort_key[:13].lstrip("0") or "0"},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": self._pk},
            )
        except _ConditionFailed:
            pass  # already written by an earlier attempt of the same submission
        return sort_key

    def _first_attempt_differs(self, marker: dict[str, Any], sort_key: str, digest: str) -> bool:
        recorded = marker.get("content_sha256", {}).get("S")
        if recorded is not None:
            return bool(recorded != digest)
        # A marker written before markers recorded the digest: compare with its message, if it was written.
        stored = self._call(
            self._client.get_item,
            TableName=self._table,
            Key={self._pk: {"S": BOARD_PARTITION}, self._sk: {"S": sort_key}},
            ConsistentRead=True,
        ).get("Item")
        if stored is None:
            return False
        name, text = stored.get("name", {}).get("S", ""), stored.get("message", {}).get("S", "")
        return content_digest(name, text) != digest

    def is_ready(self) -> bool:
        """True when the table answers and is ACTIVE (one quick attempt: probes must not pile up)."""
        try:
            table = self._probe_client.describe_table(TableName=self._table)["Table"]
        except (BotoCoreError, ClientError):
            return False
        return bool(table.get("TableStatus") == "ACTIVE")

    def _message(self, item: dict[str, Any]) -> Message:
        sort_key = item[self._sk]["S"]
        millis = int(sort_key[:13])
        return Message(
            id=sort_key.partition("#")[2],
            name=item.get("name", {}).get("S", ""),
            text=item.get("message", {}).get("S", ""),
            created_at=datetime.fromtimestamp(millis / 1000, tz=UTC),
        )

    @staticmethod
    def _call(operation: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        try:
            return operation(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise _ConditionFailed from exc
            raise DataTierUnavailable(_describe(exc)) from exc
        except BotoCoreError as exc:
            raise DataTierUnavailable(_describe(exc)) from exc


class _ConditionFailed(Exception):
    pass


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
