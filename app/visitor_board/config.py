"""Settings from the environment, validated at once: a bad deployment fails with one line per problem."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from .schema import SCHEMA

T = TypeVar("T")

DEFAULT_PORT = 3000
DEFAULT_TABLE_NAME = SCHEMA.default_table_name
DEFAULT_REGION = "eu-north-1"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MIN_SECRET_LENGTH = 16
# A proxy chain longer than this in front of one app host is a mistake, not a deployment.
MAX_TRUSTED_PROXY_HOPS = 3
_STANDARD_DYNAMODB_ENDPOINT = "AWS_ENDPOINT_URL_DYNAMODB"
_DYNAMODB_ENDPOINT_ALIAS = "DYNAMODB_ENDPOINT_URL"

# Every pattern is applied with fullmatch (never `$`, which also matches before a final newline), and
# digits are [0-9] (`\d` would also accept other scripts' digits).
_NUMBER_RE = re.compile(r"[0-9]{1,10}")
_TABLE_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
# SSM accepts a plain name or a hierarchical path, or a full ARN.
_PARAMETER_RE = re.compile(
    r"arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[!-~]+"
    r"|/?[A-Za-z0-9_.\-/]{1,1011}"
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """One or more settings are missing or invalid; each entry of `problems` is one line for the operator."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Config:
    """The app's settings. `dynamodb_endpoint_url` is DYNAMODB_ENDPOINT_URL, the alias of boto3's own
    AWS_ENDPOINT_URL_DYNAMODB (None: boto3 applies its standard endpoint settings itself)."""

    port: int = DEFAULT_PORT
    table_name: str = DEFAULT_TABLE_NAME
    region: str = DEFAULT_REGION
    dynamodb_endpoint_url: str | None = None
    secret_key: str | None = None
    secret_key_parameter: str | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    # True, False, or "auto": Secure exactly when the request came over https (as the trusted proxy says).
    session_cookie_secure: bool | Literal["auto"] = False
    trusted_proxy_hops: int = 0


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not _NUMBER_RE.fullmatch(raw):
            raise ValueError
        value = int(raw, 10)
        if not low <= value <= high:
            raise ValueError
        return value

    return parse


def _matching(pattern: re.Pattern[str]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not pattern.fullmatch(raw):
            raise ValueError
        return raw

    return parse


def _http_url(raw: str) -> str:
    if not raw.isprintable() or " " in raw:
        raise ValueError
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError
    parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    return raw


def _secret(raw: str) -> str:
    if len(raw) < MIN_SECRET_LENGTH:
        raise ValueError
    return raw


def _boolean_or_auto(raw: str) -> bool | Literal["auto"]:
    if raw.strip().lower() == "auto":
        return "auto"
    return _boolean(raw)


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError


def load_config(env: Mapping[str, str] | None = None, *, require_secret: bool = True) -> Config:
    """Build the Config from `env` (default os.environ) or raise ConfigError listing every problem.

    `require_secret` is False only in dev mode, which may generate a throwaway secret.
    """
    env = os.environ if env is None else env
    problems: list[str] = []

    def read(name: str, parse: Callable[[str], T], expected: str, default: T, secret: bool = False) -> T:
        raw = env.get(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            # A secret's value must never reach a log or the journal: say only what is wrong with it.
            shown = f" (length {len(raw)}, value not shown)" if secret else f"={raw!r}"
            problems.append(f"{name}{shown} is invalid: expected {expected}")
            return default

    port = read("PORT", _int_between(1, 65535), "a TCP port number from 1 to 65535", DEFAULT_PORT)
    table_name = read(
        "TABLE_NAME",
        _matching(_TABLE_NAME_RE),
        "a DynamoDB table name (3-255 characters: letters, digits, '_', '-', '.')",
        DEFAULT_TABLE_NAME,
    )
    region = read(
        "AWS_REGION", _matching(_REGION_RE), "an AWS region name such as eu-north-1", DEFAULT_REGION
    )
    # boto3 reads AWS_ENDPOINT_URL_DYNAMODB itself; DYNAMODB_ENDPOINT_URL is the seed's name for it, kept as
    # an alias. Both are checked here so a typo is one clear line rather than a botocore error per request.
    url_expected = "an http:// or https:// URL such as http://localhost:8000 (or leave it unset for AWS)"
    standard = read(_STANDARD_DYNAMODB_ENDPOINT, _http_url, url_expected, None)
    endpoint = read(_DYNAMODB_ENDPOINT_ALIAS, _http_url, url_expected, None)
    if standard and endpoint and standard != endpoint:
        problems.append(
            f"{_DYNAMODB_ENDPOINT_ALIAS} and {_STANDARD_DYNAMODB_ENDPOINT} are both set, to different URLs: "
            f"expected only {_STANDARD_DYNAMODB_ENDPOINT} ({_DYNAMODB_ENDPOINT_ALIAS} is its alias)"
        )
    page_size = read(
        "PAGE_SIZE",
        _int_between(1, MAX_PAGE_SIZE),
        f"a whole number from 1 to {MAX_PAGE_SIZE}",
        DEFAULT_PAGE_SIZE,
    )
    secret_key = read(
        "SECRET_KEY",
        _secret,
        f"a random string of at least {MIN_SECRET_LENGTH} characters",
        None,
        secret=True,
    )
    parameter = read(
        "SECRET_KEY_PARAMETER",
        _matching(_PARAMETER_RE),
        "an SSM parameter name such as /visitor-board/demo/secret-key",
        None,
    )
    cookie_secure = read(
        "SESSION_COOKIE_SECURE",
        _boolean_or_auto,
        "true, false or auto (Secure exactly on requests that came over https)",
        False,
    )
    proxy_hops = read(
        "TRUSTED_PROXY_HOPS",
        _int_between(0, MAX_TRUSTED_PROXY_HOPS),
        f"the number of proxies in front of the app, 0 to {MAX_TRUSTED_PROXY_HOPS} (1 behind nginx)",
        0,
    )

    if env.get("SECRET_KEY") is not None and env.get("SECRET_KEY_PARAMETER") is not None:
        problems.append("SECRET_KEY and SECRET_KEY_PARAMETER are both set: expected exactly one of them")
    elif require_secret and "SECRET_KEY" not in env and "SECRET_KEY_PARAMETER" not in env:
        problems.append(
            "SECRET_KEY is not set: expected SECRET_KEY (at least "
            f"{MIN_SECRET_LENGTH} characters) or SECRET_KEY_PARAMETER naming an SSM SecureString"
        )

    if problems:
        raise ConfigError(problems)
    return Config(
        port=port,
        table_name=table_name,
        region=region,
        dynamodb_endpoint_url=endpoint,
        secret_key=secret_key,
        secret_key_parameter=parameter,
        page_size=page_size,
        session_cookie_secure=cookie_secure,
        trusted_proxy_hops=proxy_hops,
    )
