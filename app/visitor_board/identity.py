"""Which instance is serving: instance id and availability zone from IMDS (v2 tokens), else the hostname.

IMDS is read over plain HTTP, as EC2 documents it: PUT /latest/api/token with
X-aws-ec2-metadata-token-ttl-seconds, then GETs carrying X-aws-ec2-metadata-token. The endpoint and the
switches are boto's public settings, so they behave as they do for boto3's credentials:
AWS_EC2_METADATA_DISABLED=true (never ask), AWS_EC2_METADATA_SERVICE_ENDPOINT (or
AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6) and AWS_EC2_METADATA_V1_DISABLED.

A lookup that fails (the metadata service did not answer in time) is not final: IdentitySource falls back
to the hostname and tries again in the background, with backoff, until the service answers.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import botocore.session

log = logging.getLogger(__name__)

# Off EC2 nothing answers (or a firewall drops the packets): never hold start-up longer than this.
LOOKUP_DEADLINE_SECONDS = 1.0
TOKEN_TTL_SECONDS = 21600
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
_DEFAULT_ENDPOINTS = {"ipv4": "http://169.254.169.254", "ipv6": "http://[fd00:ec2::254]"}
_SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# botocore's fallback rule: these answers to the token request mean "IMDSv1 only".
_NO_TOKEN_SUPPORT = (403, 404, 405)


@dataclass(frozen=True)
class Identity:
    instance_id: str
    availability_zone: str
    on_ec2: bool


class MetadataUnavailable(Exception):
    """IMDS is disabled, did not answer, or answered something unusable."""


def _metadata_disabled() -> bool:
    return os.environ.get("AWS_EC2_METADATA_DISABLED", "false").strip().lower() == "true"


def _settings() -> tuple[str, bool]:
    """(endpoint URL without a trailing slash, whether IMDSv1 is disabled), from boto's public settings."""
    session = botocore.session.get_session()
    endpoint = session.get_config_variable("ec2_metadata_service_endpoint")
    if not endpoint:
        mode = str(session.get_config_variable("ec2_metadata_service_endpoint_mode") or "ipv4").lower()
        endpoint = _DEFAULT_ENDPOINTS.get(mode, _DEFAULT_ENDPOINTS["ipv4"])
    v1_disabled = bool(session.get_config_variable("ec2_metadata_v1_disabled"))
    return str(endpoint).rstrip("/"), v1_disabled


def fetch_identity(timeout: float) -> Identity:
    """One IMDS lookup (token, instance id, zone); raises MetadataUnavailable. Each request gets `timeout`."""
    if _metadata_disabled():
        raise MetadataUnavailable("AWS_EC2_METADATA_DISABLED is true")
    endpoint, v1_disabled = _settings()
    # IMDS is link-local: never through an HTTP proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    headers: dict[str, str] = {}
    token_request = urllib.request.Request(  # noqa: S310 - the endpoint is boto's http(s) setting
        f"{endpoint}/latest/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
    )
    try:
        with opener.open(token_request, timeout=timeout) as response:
            headers["X-aws-ec2-metadata-token"] = response.read().decode("ascii").strip()
    except urllib.error.HTTPError as exc:
        if exc.code not in _NO_TOKEN_SUPPORT or v1_disabled:
            raise MetadataUnavailable(f"token request answered {exc.code}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataUnavailable(f"token request failed: {type(exc).__name__}: {exc}") from exc

    def read(path: str) -> str:
        request = urllib.request.Request(f"{endpoint}/latest/meta-data/{path}", headers=headers)  # noqa: S310
        try:
            with opener.open(request, timeout=timeout) as response:
                return str(response.read().decode("ascii").strip())
        except (OSError, UnicodeDecodeError) as exc:
            raise MetadataUnavailable(f"{path}: {type(exc).__name__}: {exc}") from exc

    instance_id = read("instance-id")
    zone = read("placement/availability-zone")
    if not (_SAFE_VALUE_RE.fullmatch(instance_id) and _SAFE_VALUE_RE.fullmatch(zone)):
        raise MetadataUnavailable("unexpected instance id or zone")
    return Identity(instance_id=instance_id, availability_zone=zone, on_ec2=True)


def hostname_identity() -> Identity:
    return Identity(instance_id=socket.gethostname() or "localhost", availability_zone="", on_ec2=False)


def lookup_identity(deadline: float = LOOKUP_DEADLINE_SECONDS) -> Identity:
    """The instance's identity, or the hostname's if IMDS does not answer within `deadline` seconds."""
    result: list[Identity] = []

    def worker() -> None:
        try:
            result.append(fetch_identity(timeout=deadline))
        except MetadataUnavailable as exc:
            log.info("instance metadata unavailable (%s); using the hostname", exc)

    # A daemon thread bounds the whole lookup (token + two reads), not just each request.
    thread = threading.Thread(target=worker, name="imds-identity", daemon=True)
    thread.start()
    thread.join(deadline)
    if result:
        return result[0]
    if thread.is_alive():
        log.info("instance metadata did not answer within %.1f s; using the hostname", deadline)
    return hostname_identity()


class IdentitySource:
    """The identity shown on pages: looked up at start, and again in the background until IMDS answers.

    `current()` never waits: it returns what is known and, when a retry is due, starts one lookup in a
    background thread. Retries back off from FIRST_RETRY_SECONDS to MAX_RETRY_SECONDS; once IMDS has
    answered, the identity is kept for the life of the process (an instance never changes its id).
    With AWS_EC2_METADATA_DISABLED=true it never asks.
    """

    def __init__(
        self,
        deadline: float = LOOKUP_DEADLINE_SECONDS,
        lookup: Callable[[float], Identity] = lookup_identity,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deadline = deadline
        self._lookup = lookup
        self._clock = clock
        self._lock = threading.Lock()
        self._identity = lookup(deadline)
        self._delay = FIRST_RETRY_SECONDS
        self._next_try = clock() + self._delay
        self._in_flight = False

    @classmethod
    def fixed(cls, identity: Identity) -> IdentitySource:
        """A source that always answers `identity` (dev mode, tests, callers that already know)."""
        return cls(lookup=lambda _deadline: identity)

    def current(self) -> Identity:
        identity = self._identity
        if identity.on_ec2 or _metadata_disabled():
            return identity
        with self._lock:
            due = not self._in_flight and self._clock() >= self._next_try
            if due:
                self._in_flight = True
        if due:
            threading.Thread(target=self._retry, name="imds-identity-retry", daemon=True).start()
        return identity

    def _retry(self) -> None:
        found = self._lookup(self._deadline)
        with self._lock:
            if found.on_ec2:
                log.info("instance metadata answered: %s (%s)", found.instance_id, found.availability_zone)
                self._identity = found
            else:
                self._delay = min(self._delay * 2, MAX_RETRY_SECONDS)
                self._next_try = self._clock() + self._delay
            self._in_flight = False
