"""The signing secret (sessions, CSRF tokens, cursors): SECRET_KEY, or an SSM SecureString read at start.

Every instance must use the same secret, or a form rendered by one instance fails CSRF on another.
"""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .config import MIN_SECRET_LENGTH, Config


class SecretError(Exception):
    """The secret could not be obtained; the message is one line for the operator."""


def generate_dev_secret() -> str:
    return secrets.token_urlsafe(32)


def resolve_secret(config: Config, ssm_client_factory: Any) -> str:
    if config.secret_key:
        return config.secret_key
    if not config.secret_key_parameter:
        raise SecretError("SECRET_KEY is not set: expected SECRET_KEY or SECRET_KEY_PARAMETER")
    name = config.secret_key_parameter
    try:
        response = ssm_client_factory().get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise SecretError(f"SECRET_KEY_PARAMETER={name!r}: SSM GetParameter failed: {code}") from exc
    except BotoCoreError as exc:
        raise SecretError(f"SECRET_KEY_PARAMETER={name!r}: could not call SSM: {exc}") from exc
    value = response.get("Parameter", {}).get("Value", "")
    if len(value) < MIN_SECRET_LENGTH:
        raise SecretError(
            f"SECRET_KEY_PARAMETER={name!r}: the value is shorter than {MIN_SECRET_LENGTH} characters"
        )
    return str(value)
