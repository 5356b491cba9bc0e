"""The one fake-AWS environment of the local cloud: whatever runs with it reaches neither real AWS nor
169.254.169.254 (fake keys, no metadata probing, no user AWS configuration).

Used by the fleet's own services, ansible-playbook on the controller, the tests and the benchmarks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

REGION = "eu-north-1"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# Settings that could point a process at a real account or endpoint: dropped before FAKE_AWS_ENV applies.
UNSAFE_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


def fake_aws_env(base: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """`base` (default: this process's environment) without UNSAFE_AWS_VARS, with FAKE_AWS_ENV and
    `overrides` on top. Returns a new dict."""
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items() if key not in UNSAFE_AWS_VARS}
    env.update(FAKE_AWS_ENV)
    env.update(overrides)
    return env


def main(argv: list[str] | None = None) -> None:
    """`python -m localcloud.awsenv COMMAND [ARG...]`: run COMMAND with the fake-AWS environment (the
    Makefile and demo.sh run ansible-playbook, pytest and molecule through it)."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python -m localcloud.awsenv COMMAND [ARG...]")
    os.execvpe(args[0], args, fake_aws_env())


if __name__ == "__main__":
    main()
