"""A stand-in for the EC2 instance metadata service (IMDS) of the local fleet.

moto's own metadata endpoint hands every caller one fixed set of credentials and never checks IMDSv2
tokens. This one behaves like the real service for each local host: it tells callers apart by source
address (the private IP moto assigned to their instance), answers with that instance's id, placement and
the temporary credentials of ITS instance profile's role (assumed through moto's STS), and requires a
session token when the instance's metadata options say HttpTokens=required.

Usage:
    python tests/localcloud/imds.py --listen 172.31.0.1:1338 --moto http://172.31.0.1:5000 \
        --region eu-north-1
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

LOG = logging.getLogger("imds")
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
MAX_TOKEN_TTL = 21600
# Refresh role credentials well before they expire, as the real service does.
CREDENTIAL_REFRESH_MARGIN = 300
INSTANCE_CACHE_SECONDS = 2.0


class MetadataError(Exception):
    def __init__(self, status: HTTPStatus, message: str = "") -> None:
        super().__init__(message or status.phrase)
        self.status = status


@dataclass
class Credentials:
    role_name: str
    access_key_id: str
    secret_access_key: str
    token: str
    expiration: datetime
    issued: datetime

    def document(self) -> dict[str, str]:
        return {
            "Code": "Success",
            "LastUpdated": _iso(self.issued),
            "Type": "AWS-HMAC",
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.token,
            "Expiration": _iso(self.expiration),
        }


@dataclass
class MetadataService:
    """Looks instances up in moto and keeps the per-instance state (tokens, credentials)."""

    moto_url: str
    region: str
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    _credentials: dict[str, Credentials] = field(default_factory=dict)
    _instances: dict[str, tuple[float, dict[str, Any] | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The stand-in's own calls use fixed fake keys: moto accepts any, and nothing real is reachable.
        session = boto3.session.Session(
            aws_access_key_id="imdsstandin",
            aws_secret_access_key="imdsstandin",
            region_name=self.region,
        )
        self._ec2 = session.client("ec2", endpoint_url=self.moto_url)
        self._iam = session.client("iam", endpoint_url=self.moto_url)
        self._sts = session.client("sts", endpoint_url=self.moto_url)

    def instance_for(self, address: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._instances.get(address)
        if cached and now - cached[0] < INSTANCE_CACHE_SECONDS:
            instance = cached[1]
        else:
            reservations = self._ec2.describe_instances(
                Filters=[
                    {"Name": "private-ip-address", "Values": [address]},
                    {"Name": "instance-state-name", "Values": ["pending", "running"]},
                ]
            )["Reservations"]
            found = [i for r in reservations for i in r["Instances"]]
            instance = found[0] if found else None
            with self._lock:
                self._instances[address] = (now, instance)
        if instance is None:
            # The real service is only reachable from an instance; anything else gets nothing.
            raise MetadataError(HTTPStatus.FORBIDDEN, f"no running instance has address {address}")
        return instance

    def issue_token(self, address: str, ttl: int) -> str:
        self.instance_for(address)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (address, time.monotonic() + ttl)
        return token

    def check_token(self, address: str, token: str | None, instance: dict[str, Any]) -> None:
        options = instance.get("MetadataOptions", {})
        if options.get("HttpEndpoint", "enabled") == "disabled":
            raise MetadataError(HTTPStatus.FORBIDDEN, "metadata endpoint disabled for this instance")
        required = options.get("HttpTokens", "optional") == "required"
        if token is None:
            if required:
                raise MetadataError(HTTPStatus.UNAUTHORIZED, "IMDSv2 token required")
            return
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry[0] != address or entry[1] < time.monotonic():
            raise MetadataError(HTTPStatus.UNAUTHORIZED, "invalid or expired token")

    def role_name(self, instance: dict[str, Any]) -> str:
        profile = instance.get("IamInstanceProfile")
        if not profile:
            raise MetadataError(HTTPStatus.NOT_FOUND, "instance has no instance profile")
        profile_name = profile["Arn"].rsplit("/", 1)[-1]
        roles = self._iam.get_instance_profile(InstanceProfileName=profile_name)["InstanceProfile"]["Roles"]
        if not roles:
            raise MetadataError(HTTPStatus.NOT_FOUND, "instance profile holds no role")
        return str(roles[0]["RoleName"])

    def credentials(self, instance: dict[str, Any]) -> Credentials:
        instance_id = instance["InstanceId"]
        role_name = self.role_name(instance)
        with self._lock:
            cached = self._credentials.get(instance_id)
        now = datetime.now(UTC)
        if cached and cached.role_name == role_name:
            if (cached.expiration - now).total_seconds() > CREDENTIAL_REFRESH_MARGIN:
                return cached
        role_arn = self._iam.get_role(RoleName=role_name)["Role"]["Arn"]
        assumed = self._sts.assume_role(RoleArn=role_arn, RoleSessionName=instance_id, DurationSeconds=3600)
        raw = assumed["Credentials"]
        creds = Credentials(
            role_name=role_name,
            access_key_id=raw["AccessKeyId"],
            secret_access_key=raw["SecretAccessKey"],
            token=raw["SessionToken"],
            expiration=raw["Expiration"].astimezone(UTC),
            issued=now,
        )
        with self._lock:
            self._credentials[instance_id] = creds
        LOG.info(
            "issued credentials of role %s to %s (%s)",
            role_name,
            instance_id,
            assumed["AssumedRoleUser"]["Arn"],
        )
        return creds

    def answer(self, instance: dict[str, Any], path: str) -> tuple[str, str]:
        """Returns (content type, body) for a GET below /latest/."""
        placement = instance.get("Placement", {})
        zone = placement.get("AvailabilityZone", f"{self.region}a")
        simple = {
            "meta-data/instance-id": instance["InstanceId"],
            "meta-data/ami-id": instance.get("ImageId", ""),
            "meta-data/instance-type": instance.get("InstanceType", ""),
            "meta-data/local-ipv4": instance.get("PrivateIpAddress", ""),
            "meta-data/hostname": instance.get("PrivateDnsName", ""),
            "meta-data/local-hostname": instance.get("PrivateDnsName", ""),
            "meta-data/placement/availability-zone": zone,
            "meta-data/placement/region": self.region,
        }
        if path in simple:
            return "text/plain", simple[path]
        if path in ("meta-data", "meta-data/"):
            listing = sorted({p.split("/")[1] + ("/" if p.count("/") > 1 else "") for p in simple} | {"iam/"})
            return "text/plain", "\n".join(listing)
        if path in ("meta-data/placement", "meta-data/placement/"):
            return "text/plain", "availability-zone\nregion"
        if path == "meta-data/iam/info":
            profile = instance.get("IamInstanceProfile") or {}
            if not profile:
                raise MetadataError(HTTPStatus.NOT_FOUND)
            doc = {
                "Code": "Success",
                "LastUpdated": _iso(datetime.now(UTC)),
                "InstanceProfileArn": profile.get("Arn", ""),
                "InstanceProfileId": profile.get("Id", ""),
            }
            return "application/json", json.dumps(doc)
        if path in ("meta-data/iam/security-credentials", "meta-data/iam/security-credentials/"):
            return "text/plain", self.role_name(instance)
        prefix = "meta-data/iam/security-credentials/"
        if path.startswith(prefix):
            if path[len(prefix) :] != self.role_name(instance):
                raise MetadataError(HTTPStatus.NOT_FOUND)
            return "application/json", json.dumps(self.credentials(instance).document())
        if path == "dynamic/instance-identity/document":
            account = instance.get("OwnerId") or self._sts.get_caller_identity()["Account"]
            doc = {
                "accountId": account,
                "architecture": instance.get("Architecture", "x86_64"),
                "availabilityZone": zone,
                "imageId": instance.get("ImageId", ""),
                "instanceId": instance["InstanceId"],
                "instanceType": instance.get("InstanceType", ""),
                "privateIp": instance.get("PrivateIpAddress", ""),
                "region": self.region,
                "version": "2017-09-30",
            }
            return "application/json", json.dumps(doc, indent=2)
        raise MetadataError(HTTPStatus.NOT_FOUND)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_handler(service: MetadataService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "EC2ws"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            LOG.info("%s %s", self.client_address[0], format % args)

        def _reply(self, status: HTTPStatus, body: str, content_type: str = "text/plain") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            address = self.client_address[0]
            try:
                if self.path != "/latest/api/token":
                    raise MetadataError(HTTPStatus.NOT_FOUND)
                # The real service refuses token requests that went through a proxy.
                if self.headers.get("X-Forwarded-For"):
                    raise MetadataError(HTTPStatus.FORBIDDEN)
                raw_ttl = self.headers.get(TTL_HEADER)
                if raw_ttl is None or not raw_ttl.isdigit() or not 1 <= int(raw_ttl) <= MAX_TOKEN_TTL:
                    raise MetadataError(HTTPStatus.BAD_REQUEST, f"{TTL_HEADER} must be 1-{MAX_TOKEN_TTL}")
                token = service.issue_token(address, int(raw_ttl))
            except MetadataError as err:
                self._reply(err.status, str(err))
                return
            self.send_response(HTTPStatus.OK)
            self.send_header(TTL_HEADER, raw_ttl)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(token)))
            self.end_headers()
            self.wfile.write(token.encode())

        def do_GET(self) -> None:
            address = self.client_address[0]
            try:
                if not self.path.startswith("/latest/"):
                    raise MetadataError(HTTPStatus.NOT_FOUND)
                instance = service.instance_for(address)
                service.check_token(address, self.headers.get(TOKEN_HEADER), instance)
                content_type, body = service.answer(instance, self.path[len("/latest/") :])
            except MetadataError as err:
                self._reply(err.status, str(err))
                return
            except Exception as err:  # moto down or an unexpected answer: say so, as a 500 would
                LOG.exception("metadata lookup failed")
                self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"lookup failed: {err}")
                return
            self._reply(HTTPStatus.OK, body, content_type)

    return Handler


def serve(listen: str, moto_url: str, region: str) -> ThreadingHTTPServer:
    host, _, port = listen.rpartition(":")
    service = MetadataService(moto_url=moto_url, region=region)
    server = ThreadingHTTPServer((host, int(port)), make_handler(service))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="ADDR:PORT to listen on")
    parser.add_argument("--moto", required=True, help="URL of the moto server that holds the instances")
    parser.add_argument("--region", default="eu-north-1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = serve(args.listen, args.moto, args.region)
    LOG.info("metadata stand-in on %s, instances from %s", args.listen, args.moto)
    server.serve_forever()


if __name__ == "__main__":
    main()
