"""Role visitor_board_app, shared by its modules: a GET to a release over its unix socket, and the version
its /healthz names. Standard library and Ansible's own urls helper only (they run on the host)."""

from __future__ import annotations

import json
from http.client import HTTPException

from ansible.module_utils.urls import open_url


def get(url: str, socket: str, timeout: float) -> tuple[int, str]:
    """(HTTP status, body) of a GET of URL over the unix socket SOCKET, waiting at most TIMEOUT seconds;
    status 0 and the error's text when there was no answer (refused, no such socket, timed out)."""
    try:
        response = open_url(url, unix_socket=socket, timeout=timeout, use_proxy=False)
        return response.getcode(), response.read().decode("utf-8", "replace")
    # urllib's HTTPError (an error status) and URLError, a refused connection, a timeout: all OSError.
    except (OSError, HTTPException) as error:
        status = getattr(error, "code", 0)
        if isinstance(status, int) and status:
            body = error.read().decode("utf-8", "replace") if hasattr(error, "read") else ""
            return status, body
        return 0, str(getattr(error, "reason", error))


def version(body: str) -> str:
    """The "version" of a /healthz answer (a JSON object); '' when it names none."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("version", "")) if isinstance(data, dict) else ""
