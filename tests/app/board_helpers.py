"""Helpers shared by the app tests: local processes (moto, fake servers) and reading the board's HTML."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests
from visitor_board.identity import Identity

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "localcloud"))
from loopback import free_port, start_moto, wait_for_port  # noqa: E402

__all__ = ["free_port", "wait_for_port"]  # re-exported for the app tests
REGION = "eu-north-1"
SECRET = "test-secret-key-0123456789abcdef"
TEST_IDENTITY = Identity(instance_id="i-0123456789abcdef0", availability_zone="eu-north-1b", on_ec2=True)
CONSOLE_SCRIPT = Path(sys.executable).with_name("visitor-board")

# Whatever the developer's shell holds, tests talk to local stand-ins with fake credentials only.
SAFE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
UNSAFE_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "DYNAMODB_ENDPOINT_URL",
    "SECRET_KEY",
    "SECRET_KEY_PARAMETER",
    "TABLE_NAME",
    "PAGE_SIZE",
    "PORT",
)


def safe_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSAFE_AWS_VARS}
    env.update(SAFE_AWS_ENV)
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env.update(overrides)
    return env


class MotoProcess:
    """tests/localcloud/motoserver.py as a subprocess on a loopback port: the app's real HTTP peer."""

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        try:
            self.process = start_moto(self.port, log=log, env=safe_env())
        finally:
            log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)


class ServedBoard:
    """The app as hosts run it on loopback: `visitor-board serve` (gunicorn) or `visitor-board dev`."""

    def __init__(
        self, args: Sequence[str], env: dict[str, str], log_path: Path, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.args = list(args)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 60.0) -> ServedBoard:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CONSOLE_SCRIPT), *self.args],
                env={**self.env, "PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, timeout=wait, process=self.process)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> set[int]:
        """gunicorn's workers: the children of the master (serve execs gunicorn, so it is our process)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return {int(pid) for pid in children}


class Visitor:
    """A browser stand-in over real HTTP: keeps cookies, reads the form, posts it back."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.session = requests.Session()

    def get(self, path: str = "/", **kwargs: Any) -> requests.Response:
        return self.session.get(self.base + path, timeout=30, **kwargs)

    def form(self) -> dict[str, str]:
        response = self.get("/")
        assert response.status_code == 200, response.text
        return parse_board(response.text).inputs

    def post(self, data: Any, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base + "/", data=data, allow_redirects=False, timeout=60, **kwargs)

    def post_message(self, name: str, message: str, **overrides: str) -> requests.Response:
        data = self.form()
        data.update(name=name, message=message, **overrides)
        return self.post(data)

    def board_texts(self) -> list[str]:
        return parse_board(Visitor(self.base).get("/").text).texts


def wait_until(condition: Any, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s")


class _BoardParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.message_ids: list[str] = []
        self.older_href: str | None = None
        self._in: str | None = None
        self.authors: list[str] = []
        self.texts: list[str] = []
        self.field_errors: list[str] = []
        self.problems: list[str] = []
        self.served_by = ""
        self.release = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and "name" in a:
            self.inputs[a["name"]] = a.get("value", "")
        if tag == "textarea" and "name" in a:
            self._in = "textarea:" + a["name"]
            self.inputs[a["name"]] = ""
        if tag == "li" and a.get("id", "").startswith("m-"):
            self.message_ids.append(a["id"][2:])
        if tag == "a" and a.get("rel") == "next":
            self.older_href = a.get("href")
        classes = a.get("class", "").split()
        for name in ("author", "text", "field-error", "form-problem"):
            if name in classes:
                self._in = name
        if a.get("id") in ("served-by", "release"):
            self._in = a["id"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._in and self._in.startswith("textarea:"):
            name = self._in.split(":", 1)[1]
            # HTML drops one newline right after <textarea>, as browsers do.
            value = self.inputs[name]
            self.inputs[name] = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")
        if tag in ("span", "p", "textarea"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is None:
            return
        if self._in.startswith("textarea:"):
            self.inputs[self._in.split(":", 1)[1]] += data
        elif self._in == "author":
            self.authors.append(data)
        elif self._in == "text":
            self.texts.append(data)
        elif self._in == "field-error":
            self.field_errors.append(data)
        elif self._in == "form-problem":
            self.problems.append(data)
        elif self._in == "served-by":
            self.served_by += data
        elif self._in == "release":
            self.release += data


def parse_board(html: str) -> _BoardParser:
    parser = _BoardParser()
    parser.feed(html)
    parser.close()
    parser.served_by = " ".join(parser.served_by.split())
    return parser


def form_fields(client: Any, path: str = "/") -> dict[str, str]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return parse_board(response.text).inputs


def post_message(client: Any, name: str, message: str, **overrides: str) -> Any:
    data = form_fields(client)
    data.update(name=name, message=message)
    data.update(overrides)
    return client.post("/", data=data)


def dynamodb_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
