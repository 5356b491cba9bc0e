"""The post form: what a visitor may submit, and the wording when they may not."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

NAME_MAX = 40
MESSAGE_MAX = 280
CLIENT_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def new_client_id() -> str:
    return uuid.uuid4().hex


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _normalise_newlines(value: Any) -> Any:
    # Browsers send textarea line breaks as CRLF; count and store them as one character each.
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


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
        filters=[_strip],
        validators=[
            DataRequired("Please enter your name."),
            Length(max=NAME_MAX, message=f"Please keep your name to {NAME_MAX} characters or fewer."),
            _NoControlCharacters(),
        ],
    )
    message = TextAreaField(
        "Message",
        filters=[_normalise_newlines, _strip],
        validators=[
            DataRequired("Please write a message."),
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
            DataRequired("This form is incomplete; please reload the page and try again."),
            Regexp(CLIENT_ID_RE, message="This form is damaged; please reload the page and try again."),
        ]
    )
