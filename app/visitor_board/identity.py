"""Which instance is serving: instance id and availability zone from IMDS (v2 tokens), else the hostname.

Looked up once at start through botocore's own IMDS client, so AWS_EC2_METADATA_SERVICE_ENDPOINT,
AWS_EC2_METADATA_DISABLED and AWS_EC2_METADATA_V1_DISABLED behave as they do for boto3 credentials.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.utils import IMDSFetcher

log = logging.getLogger(__name__)

# Off EC2 nothing answers (or a firewall drops the packets): never hold start-up longer than this.
LOOKUP_DEADLINE_SECONDS = 1.0
_SAFE_VALUE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CONFIG_VARIABLES = (
    "ec2_metadata_service_endpoint",
    "ec2_metadata_service_endpoint_mode",
    "ec2_metadata_v1_disabled",
)


@dataclass(frozen=True)
class Identity:
    instance_id: str
    availability_zone: str
    on_ec2: bool


class _IdentityFetcher(IMDSFetcher):
    """botocore's IMDS client (token handling, endpoint selection) asked for two more paths."""

    def fetch(self) -> tuple[str, str]:
        token = self._fetch_metadata_token()
        instance_id = self._get_request("latest/meta-data/instance-id", None, token).text.strip()
        zone = self._get_request("latest/meta-data/placement/availability-zone", None, token).text.strip()
        return instance_id, zone


def _fetcher_config() -> dict[str, Any]:
    session = botocore.session.get_session()
    return {name: session.get_config_variable(name) for name in _CONFIG_VARIABLES}


def _hostname_identity() -> Identity:
    return Identity(instance_id=socket.gethostname() or "localhost", availability_zone="", on_ec2=False)


def lookup_identity(deadline: float = LOOKUP_DEADLINE_SECONDS) -> Identity:
    result: list[Identity] = []

    def worker() -> None:
        try:
            fetcher = _IdentityFetcher(timeout=deadline, num_attempts=1, config=_fetcher_config())
            instance_id, zone = fetcher.fetch()
        except Exception as exc:  # any failure means "not on EC2 as far as we can tell"
            log.info("instance metadata unavailable (%s: %s); using the hostname", type(exc).__name__, exc)
            return
        if _SAFE_VALUE_RE.fullmatch(instance_id) and _SAFE_VALUE_RE.fullmatch(zone):
            result.append(Identity(instance_id=instance_id, availability_zone=zone, on_ec2=True))
        else:
            log.warning("instance metadata returned unexpected values; using the hostname")

    # A daemon thread bounds the whole lookup (token + two reads), not just each request.
    thread = threading.Thread(target=worker, name="imds-identity", daemon=True)
    thread.start()
    thread.join(deadline)
    if result:
        return result[0]
    if thread.is_alive():
        log.info("instance metadata did not answer within %.1f s; using the hostname", deadline)
    return _hostname_identity()
