"""One log format whose records are always one line, whatever a client sends.

Records are `<time> <LEVEL> <logger> <message>`; the request line's message is logfmt
(`key=value`, a value in JSON double quotes when it holds anything but printable ASCII without spaces,
quotes or backslashes). Every character that is not printable (CR, LF, other C0/C1 controls, U+2028/U+2029,
format characters) is written as a Python/JSON escape such as `\\n` or `\\u2028`, so no value can end a
record or forge the next one. Tracebacks follow their record indented by four spaces.
"""

from __future__ import annotations

import json
import logging
import re

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Printable ASCII except space, '"' and '\': such a value cannot be mistaken for another field or record.
_BARE_VALUE = re.compile(r"[!#-\[\]-~]+")
_TRACEBACK_INDENT = "    "


def escape_controls(text: str, keep_newlines: bool = False) -> str:
    """`text` with every non-printable character escaped (`\\n`, `\\x1b`, `\\u2028`, ...)."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable() or (keep_newlines and char == "\n"):
            out.append(char)
        else:
            out.append(repr(char)[1:-1])
    return "".join(out)


def field(value: object) -> str:
    """One logfmt value: bare when it is tame, otherwise a JSON string (ASCII, every control escaped)."""
    text = "-" if value is None else str(value)
    return text if _BARE_VALUE.fullmatch(text) else json.dumps(text, ensure_ascii=True)


class OneLineFormatter(logging.Formatter):
    """LOG_FORMAT with the message's non-printable characters escaped and tracebacks indented."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:
        text = escape_controls(super().formatException(ei), keep_newlines=True)  # type: ignore[arg-type]
        return "\n".join(_TRACEBACK_INDENT + line for line in text.split("\n"))

    def formatStack(self, stack_info: str) -> str:
        text = escape_controls(stack_info, keep_newlines=True)
        return "\n".join(_TRACEBACK_INDENT + line for line in text.split("\n"))


def one_line_handler(stream: object = None) -> logging.Handler:
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(OneLineFormatter())
    return handler
