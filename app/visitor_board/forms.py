"""The post form: what a visitor may submit, and the wording when they may not."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import Length, StopValidation, ValidationError

from .store import CLIENT_ID_RE
from .visible import is_blank, normalise

NAME_MAX = 40
MESSAGE_MAX = 280


def new_client_id() -> str:
    return uuid.uuid4().hex


def _normalise(value: Any) -> Any:
    # NFC before anything counts characters (see visible.py for why not NFKC).
    return normalise(value) if isinstance(value, str) else value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _normalise_newlines(value: Any) -> Any:
    # Browsers send textarea line breaks as CRLF; count and store them as one character each.
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


class _Visible:
    """Required, as a reader sees it: refuses empty input and input of only invisible characters."""

    field_flags = {"required": True}  # noqa: RUF012 - wtforms reads this class attribute

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form: FlaskForm, field: Any) -> None:
        if not isinstance(field.data, str) or is_blank(field.data):
            field.errors[:] = []
            raise StopValidation(self.message)


class _WholeMatch:
    """The whole value must match `pattern` (wtforms' Regexp uses re.match, which stops short of a
    trailing newline when the pattern ends in `$`)."""

    def __init__(self, pattern: re.Pattern[str], message: str) -> None:
        self.pattern = pattern
        self.message = message

    def __call__(self, form: FlaskForm, field: Any) -> None:
        if not isinstance(field.data, str) or not self.pattern.fullmatch(field.data):
            raise ValidationError(self.message)


class _NoControlCharacters:
    def __init__(self, allow: str = "") -> None:
        self.allow = set(allow)

    def __call__(self, form: FlaskForm, field: Any) -> None:
        for char in field.data or "":
            if char not in self.allow and unicodedata.category(char) in ("Cc", "Cs"):
                raise ValidationError("Please remove the control characters (such as tabs) from this field.")


class PostForm(FlaskForm):
    name = StringField(
        "Your name",
        filters=[_normalise, _strip],
        validators=[
            _Visible("Please enter your name."),
            Length(max=NAME_MAX, message=f"Please keep your name to {NAME_MAX} characters or fewer."),
            _NoControlCharacters(),
        ],
    )
    message = TextAreaField(
        "Message",
        filters=[_normalise_newlines, _normalise, _strip],
        validators=[
            _Visible("Please write a message."),
            Length(
                max=MESSAGE_MAX, message=f"Please keep your message to {MESSAGE_MAX} characters or fewer."
            ),
            _NoControlCharacters(allow="\n"),
        ],
    )
    # Generated when the form is rendered and sent back with it: a resubmission of the same form carries
    # the same id, which is what makes posting idempotent.
    client_id = HiddenField(
        validators=[
            _Visible("This form is incomplete; please reload the page and try again."),
            _WholeMatch(CLIENT_ID_RE, "This form is damaged; please reload the page and try again."),
        ]
    )
