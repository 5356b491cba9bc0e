"""The signing secret (sessions, CSRF tokens, cursors): SECRET_KEY, or an SSM SecureString read at start.

Every instance must use the same secret, or a form rendered by one instance fails CSRF on another.
A failure that may pass (SSM unreachable, throttled, a 5xx, no credentials yet) is retried with backoff
for a bounded time; one that will not pass by waiting (no such parameter, access denied, a value too
short) fails at once. Error lines name the parameter, never its value.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .config import MIN_SECRET_LENGTH, Config

log = logging.getLogger(__name__)

# SSM answers that waiting cannot fix: the setting (or the instance role's policy) is wrong.
PERMANENT_SSM_ERRORS = frozenset(
    {
        "ParameterNotFound",
        "ParameterVersionNotFound",
        "ValidationException",
        "AccessDeniedException",
        "InvalidKeyId",
    }
)
FIRST_RETRY_DELAY_SECONDS = 0.5
MAX_RETRY_DELAY_SECONDS = 8.0


class SecretError(Exception):
    """The secret could not be obtained; the message is one line for the operator.

    `transient` is True when waiting may help (the dependency did not answer), False when a setting is wrong.
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def generate_dev_secret() -> str:
    return secrets.token_urlsafe(32)


def _read_parameter(name: str, ssm_client_factory: Callable[[], Any]) -> str:
    prefix = f"SECRET_KEY_PARAMETER={name!r}"
    try:
        response = ssm_client_factory().get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
        raise SecretError(
            f"{prefix}: SSM GetParameter failed: {code}", transient=code not in PERMANENT_SSM_ERRORS
        ) from exc
    except BotoCoreError as exc:
        raise SecretError(f"{prefix}: could not call SSM: {exc}", transient=True) from exc
    value = response.get("Parameter", {}).get("Value", "")
    if len(value) < MIN_SECRET_LENGTH:
        raise SecretError(f"{prefix}: the value is shorter than {MIN_SECRET_LENGTH} characters")
    return str(value)


def resolve_secret(
    config: Config,
    ssm_client_factory: Callable[[], Any],
    wait_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """SECRET_KEY, or the SSM parameter's value; transient SSM failures are retried for `wait_seconds`.

    Raises SecretError: at once for a permanent problem, after `wait_seconds` for a transient one (with
    `transient=True` and the attempts counted in the message).
    """
    if config.secret_key:
        return config.secret_key
    if not config.secret_key_parameter:
        raise SecretError("SECRET_KEY is not set: expected SECRET_KEY or SECRET_KEY_PARAMETER")
    started = time.monotonic()
    delay = FIRST_RETRY_DELAY_SECONDS
    attempts = 0
    while True:
        attempts += 1
        try:
            return _read_parameter(config.secret_key_parameter, ssm_client_factory)
        except SecretError as exc:
            waited = time.monotonic() - started
            if not exc.transient:
                raise
            if waited + delay > wait_seconds:
                if attempts == 1:
                    raise
                message = f"{exc} (gave up after {attempts} attempts in {waited:.0f} s)"
                raise SecretError(message, transient=True) from exc
            log.warning("%s; trying again in %.1f s", exc, delay)
            sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_SECONDS)
