"""A stand-in for the EC2 instance metadata service (IMDS) of the local fleet.

moto's own metadata endpoint hands every caller one fixed set of credentials and never checks IMDSv2
tokens. This one behaves like the real service for each local host: it tells callers apart by source
address (the private IP moto assigned to their instance), answers with that instance's id, placement and
the temporary credentials of ITS instance profile's role (assumed through moto's STS), and requires a
session token when the instance's metadata options say HttpTokens=required.

Usage:
    python tests/localcloud/imds.py --listen 172.31.0.1:1338 --boot-listen 172.31.0.1:1339 \
        --moto http://172.31.0.1:5000 --region eu-north-1
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
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
# The one gap between a container and an EC2 machine that reaches this service: cloud-init (22.4 on
# Debian 12) uses IMDSv2 tokens only once it has identified EC2 by its DMI tables, and in a container it
# never reads DMI (cloudinit/dmi.py: read_dmi_data returns None when is_container()), so it reads the
# metadata token-less, as on any non-AWS cloud. It is pointed at a second listener, the boot endpoint,
# that answers token-less reads of everything but credentials. The main endpoint (boto3, the app, every
# test) requires tokens exactly as EC2 does; credentials are served only there.
BOOT_ENDPOINT_REFUSES = "security-credentials"
# `latest` or a dated API version (cloud-init asks for 2021-03-23, then falls back to 2009-04-04); every
# version gets the same answers here.
VERSION_PATH = re.compile(r"/(?:latest|\d{4}-\d{2}-\d{2})(?:/(?P<rest>.*))?")


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

    def check_token(
        self, address: str, token: str | None, instance: dict[str, Any], boot_read: bool = False
    ) -> None:
        """Raises MetadataError unless the request may read. `boot_read`: a read on the boot endpoint
        (see BOOT_ENDPOINT_REFUSES), allowed without a token even when tokens are required."""
        options = instance.get("MetadataOptions", {})
        if options.get("HttpEndpoint", "enabled") == "disabled":
            raise MetadataError(HTTPStatus.FORBIDDEN, "metadata endpoint disabled for this instance")
        required = options.get("HttpTokens", "optional") == "required"
        if token is None:
            if required and not boot_read:
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

    def public_keys(self, instance: dict[str, Any]) -> dict[str, str]:
        """{key name: OpenSSH public key} of the instance's key pair, as `public-keys/` lists it."""
        name = instance.get("KeyName")
        if not name:
            return {}
        pairs = self._ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
        return {name: str(pairs[0].get("PublicKey", "")).strip()} if pairs else {}

    def user_data(self, instance: dict[str, Any]) -> str | None:
        """The instance's user data (decoded), or None when it has none (the real service answers 404)."""
        attribute = self._ec2.describe_instance_attribute(
            InstanceId=instance["InstanceId"], Attribute="userData"
        ).get("UserData", {})
        raw = attribute.get("Value")
        return base64.b64decode(raw).decode("utf-8", errors="replace") if raw else None

    def meta_data(self, instance: dict[str, Any]) -> dict[str, Any]:
        """The meta-data tree as nested dicts; leaves are str, or a callable for what costs a lookup."""
        placement = instance.get("Placement", {})
        zone = placement.get("AvailabilityZone", f"{self.region}a")
        tree: dict[str, Any] = {
            "ami-id": instance.get("ImageId", ""),
            "hostname": instance.get("PrivateDnsName", ""),
            "instance-id": instance["InstanceId"],
            "instance-type": instance.get("InstanceType", ""),
            "local-hostname": instance.get("PrivateDnsName", ""),
            "local-ipv4": instance.get("PrivateIpAddress", ""),
            "placement": {"availability-zone": zone, "region": self.region},
            "services": {"domain": "amazonaws.com", "partition": "aws"},
        }
        interfaces = instance.get("NetworkInterfaces") or []
        if interfaces and interfaces[0].get("MacAddress"):
            tree["mac"] = interfaces[0]["MacAddress"]
        keys = self.public_keys(instance)
        if keys:
            # Listed as `0=<name>`; the key itself is at public-keys/0/openssh-key (EC2 user guide,
            # "Instance metadata categories").
            tree["public-keys"] = {
                f"{index}={name}": {"openssh-key": key} for index, (name, key) in enumerate(keys.items())
            }
        if instance.get("IamInstanceProfile"):
            tree["iam"] = {"info": None, "security-credentials": {self.role_name(instance): None}}
        return tree

    def answer(self, instance: dict[str, Any], path: str) -> tuple[str, str]:
        """Returns (content type, body) for a GET below /<version>/ (`latest` or a dated API version)."""
        path = path.strip("/")
        prefix = "meta-data/iam/security-credentials/"
        if path.startswith(prefix) and path.count("/") == 3:
            if path[len(prefix) :] != self.role_name(instance):
                raise MetadataError(HTTPStatus.NOT_FOUND)
            return "application/json", json.dumps(self.credentials(instance).document())
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
        if path == "user-data":
            data = self.user_data(instance)
            if data is None:
                raise MetadataError(HTTPStatus.NOT_FOUND)
            return "application/octet-stream", data
        if path in ("dynamic", "dynamic/instance-identity"):
            return "text/plain", "instance-identity/" if path == "dynamic" else "document"
        if path == "dynamic/instance-identity/document":
            return "application/json", json.dumps(self.identity_document(instance), indent=2)
        if path == "":
            return "text/plain", "dynamic\nmeta-data\nuser-data"
        if path == "meta-data" or path.startswith("meta-data/"):
            node: Any = self.meta_data(instance)
            for part in path.split("/")[1:]:
                if not isinstance(node, dict):
                    raise MetadataError(HTTPStatus.NOT_FOUND)
                # public-keys/0 addresses the entry listed as `0=<name>`.
                match = next((k for k in node if k == part or k.split("=", 1)[0] == part), None)
                if match is None:
                    raise MetadataError(HTTPStatus.NOT_FOUND)
                node = node[match]
            if isinstance(node, dict):
                listing = [
                    k if not isinstance(v, dict) or "=" in k else k + "/" for k, v in sorted(node.items())
                ]
                return "text/plain", "\n".join(listing)
            return "text/plain", str(node)
        raise MetadataError(HTTPStatus.NOT_FOUND)

    def identity_document(self, instance: dict[str, Any]) -> dict[str, str]:
        zone = instance.get("Placement", {}).get("AvailabilityZone", f"{self.region}a")
        account = instance.get("OwnerId") or self._sts.get_caller_identity()["Account"]
        return {
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


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_handler(service: MetadataService, boot_endpoint: bool = False) -> type[BaseHTTPRequestHandler]:
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
                match = VERSION_PATH.fullmatch(self.path.split("?", 1)[0])
                if match is None:
                    raise MetadataError(HTTPStatus.NOT_FOUND)
                instance = service.instance_for(address)
                rest = match.group("rest") or ""
                if boot_endpoint and BOOT_ENDPOINT_REFUSES in rest:
                    raise MetadataError(HTTPStatus.NOT_FOUND, "no credentials on the boot endpoint")
                service.check_token(address, self.headers.get(TOKEN_HEADER), instance, boot_endpoint)
                content_type, body = service.answer(instance, rest)
            except MetadataError as err:
                self._reply(err.status, str(err))
                return
            except Exception as err:  # moto down or an unexpected answer: say so, as a 500 would
                LOG.exception("metadata lookup failed")
                self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"lookup failed: {err}")
                return
            self._reply(HTTPStatus.OK, body, content_type)

    return Handler


def serve(
    listen: str, moto_url: str, region: str, boot_listen: str | None = None
) -> list[ThreadingHTTPServer]:
    """The metadata server on `listen` (ADDR:PORT), and the boot endpoint on `boot_listen` if given;
    both answer from one MetadataService. Call serve_forever() on each (threads)."""
    service = MetadataService(moto_url=moto_url, region=region)
    servers = []
    for address, boot in ((listen, False), (boot_listen, True)):
        if address is None:
            continue
        host, _, port = address.rpartition(":")
        server = ThreadingHTTPServer((host, int(port)), make_handler(service, boot_endpoint=boot))
        server.daemon_threads = True
        servers.append(server)
    return servers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="ADDR:PORT to listen on")
    parser.add_argument(
        "--boot-listen", help="ADDR:PORT of the boot endpoint for cloud-init (token-less, no credentials)"
    )
    parser.add_argument("--moto", required=True, help="URL of the moto server that holds the instances")
    parser.add_argument("--region", default="eu-north-1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    servers = serve(args.listen, args.moto, args.region, args.boot_listen)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    LOG.info(
        "metadata stand-in on %s (boot endpoint %s), instances from %s",
        args.listen,
        args.boot_listen or "off",
        args.moto,
    )
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
