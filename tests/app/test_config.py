"""Configuration: defaults, and one clear line per bad setting, from the function and the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from board_helpers import CONSOLE_SCRIPT, REGION, SECRET, dynamodb_client, free_port, safe_env, wait_for_port
from visitor_board.config import Config, ConfigError, load_config

GOOD = {"SECRET_KEY": SECRET}


def test_defaults() -> None:
    config = load_config(GOOD)
    assert config == Config(secret_key=SECRET)
    assert (config.port, config.table_name, config.region, config.page_size) == (
        3000,
        "workshop_messages",
        "eu-north-1",
        20,
    )
    assert config.dynamodb_endpoint_url is None


def test_all_settings() -> None:
    config = load_config(
        {
            "PORT": "8080",
            "TABLE_NAME": "board.prod-1",
            "AWS_REGION": "us-east-1",
            "DYNAMODB_ENDPOINT_URL": "http://localhost:8000",
            "SECRET_KEY_PARAMETER": "/visitor-board/demo/secret-key",
            "PAGE_SIZE": "50",
            "SESSION_COOKIE_SECURE": "true",
        }
    )
    assert config.port == 8080
    assert config.table_name == "board.prod-1"
    assert config.region == "us-east-1"
    assert config.dynamodb_endpoint_url == "http://localhost:8000"
    assert config.secret_key_parameter == "/visitor-board/demo/secret-key"
    assert config.page_size == 50
    assert config.session_cookie_secure is True


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "http", "PORT='http' is invalid: expected a TCP port number from 1 to 65535"),
        ("PORT", "70000", "PORT='70000' is invalid"),
        ("PAGE_SIZE", "0", "PAGE_SIZE='0' is invalid: expected a whole number from 1 to 100"),
        ("PAGE_SIZE", "twenty", "PAGE_SIZE='twenty' is invalid"),
        ("TABLE_NAME", "no spaces please", "TABLE_NAME='no spaces please' is invalid: expected a DynamoDB"),
        ("AWS_REGION", "Europe", "AWS_REGION='Europe' is invalid: expected an AWS region name"),
        ("DYNAMODB_ENDPOINT_URL", "localhost:8000", "DYNAMODB_ENDPOINT_URL='localhost:8000' is invalid"),
        ("DYNAMODB_ENDPOINT_URL", "http://host:port", "DYNAMODB_ENDPOINT_URL='http://host:port' is invalid"),
        (
            "SECRET_KEY",
            "short",
            "SECRET_KEY (length 5, value not shown) is invalid: expected a random string of at least 16",
        ),
        # A trailing newline (what `$` lets through) or another script's digits never pass a check.
        ("PORT", "8080\n", "PORT='8080\\n' is invalid"),
        ("PORT", " 8080", "PORT=' 8080' is invalid"),
        ("PAGE_SIZE", "\u0663", "PAGE_SIZE='\u0663' is invalid"),
        ("TABLE_NAME", "board\n", "TABLE_NAME='board\\n' is invalid"),
        ("AWS_REGION", "eu-north-1\n", "AWS_REGION='eu-north-1\\n' is invalid"),
        ("AWS_REGION", "eu-north-\u0661", "AWS_REGION='eu-north-\u0661' is invalid"),
        ("SECRET_KEY_PARAMETER", "/vb/secret\n", "SECRET_KEY_PARAMETER='/vb/secret\\n' is invalid"),
        (
            "DYNAMODB_ENDPOINT_URL",
            "http://localhost:8000\n",
            "DYNAMODB_ENDPOINT_URL='http://localhost:8000\\n'",
        ),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            "localhost:8000",
            "AWS_ENDPOINT_URL_DYNAMODB='localhost:8000' is invalid",
        ),
        (
            "SESSION_COOKIE_SECURE",
            "maybe",
            "SESSION_COOKIE_SECURE='maybe' is invalid: expected true, false or auto",
        ),
        ("SESSION_COOKIE_SECURE", "automatic", "SESSION_COOKIE_SECURE='automatic' is invalid"),
        ("SESSION_COOKIE_SECURE", "https", "SESSION_COOKIE_SECURE='https' is invalid"),
    ],
)
def test_one_line_per_bad_setting(name: str, value: str, expected: str) -> None:
    env = {"SECRET_KEY": SECRET, name: value}
    if name == "SECRET_KEY_PARAMETER":
        del env["SECRET_KEY"]
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(expected)
    assert "\n" not in caught.value.problems[0]  # one line, even when the value holds a newline


@pytest.mark.parametrize("value", ["short", "tiny\nsecret", "x" * 15])
def test_a_rejected_secret_is_never_echoed(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"SECRET_KEY": value})
    assert caught.value.problems == [
        f"SECRET_KEY (length {len(value)}, value not shown) is invalid: "
        "expected a random string of at least 16 characters"
    ]
    assert value not in str(caught.value)


def test_dynamodb_endpoint_alias_and_standard_name() -> None:
    url = "http://localhost:8000"
    assert load_config({"SECRET_KEY": SECRET, "DYNAMODB_ENDPOINT_URL": url}).dynamodb_endpoint_url == url
    # The standard name is boto3's own: the app leaves it to boto3 (and only checks it).
    assert load_config({"SECRET_KEY": SECRET, "AWS_ENDPOINT_URL_DYNAMODB": url}).dynamodb_endpoint_url is None
    assert load_config({"SECRET_KEY": SECRET, "AWS_ENDPOINT_URL_DYNAMODB": url, "DYNAMODB_ENDPOINT_URL": url})
    with pytest.raises(ConfigError, match="both set, to different URLs"):
        load_config(
            {"SECRET_KEY": SECRET, "AWS_ENDPOINT_URL_DYNAMODB": url, "DYNAMODB_ENDPOINT_URL": url[:-1] + "1"}
        )


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"PORT": "x", "PAGE_SIZE": "y"})
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("PORT='x' is invalid")
    assert problems[1].startswith("PAGE_SIZE='y' is invalid")
    assert problems[2].startswith("SECRET_KEY is not set")


def test_secret_required_outside_dev_mode() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_config({})
    assert load_config({}, require_secret=False).secret_key is None


def test_secret_sources_are_exclusive() -> None:
    with pytest.raises(ConfigError, match="both set"):
        load_config({"SECRET_KEY": SECRET, "SECRET_KEY_PARAMETER": "/vb/secret"})


def run_cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        env=safe_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({}, "visitor-board: SECRET_KEY is not set: expected SECRET_KEY"),
        (
            {"SECRET_KEY": SECRET, "PAGE_SIZE": "0"},
            "visitor-board: PAGE_SIZE='0' is invalid: expected a whole",
        ),
        ({"SECRET_KEY": SECRET, "PORT": "-1"}, "visitor-board: PORT='-1' is invalid: expected a TCP port"),
        ({"SECRET_KEY": "x"}, "visitor-board: SECRET_KEY (length 1, value not shown) is invalid"),
    ],
    ids=["no-secret", "bad-page-size", "bad-port", "short-secret"],
)
def test_console_script_refuses_bad_config_with_one_line(env: dict[str, str], line: str) -> None:
    result = run_cli("serve", **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(line)
    assert "Traceback" not in result.stderr
    if "SECRET_KEY" in env:
        assert f"'{env['SECRET_KEY']}'" not in result.stderr


def test_create_table_with_bad_table_name() -> None:
    result = run_cli("create-table", TABLE_NAME="x")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("visitor-board: TABLE_NAME='x' is invalid")


def test_missing_secret_parameter_is_one_line(moto) -> None:
    result = run_cli("serve", SECRET_KEY_PARAMETER="/visitor-board/test/missing", AWS_ENDPOINT_URL=moto.url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "visitor-board: SECRET_KEY_PARAMETER='/visitor-board/test/missing': SSM GetParameter failed: "
        "ParameterNotFound"
    ]


def test_secret_read_from_ssm_securestring(moto, make_app, table_name: str, monkeypatch) -> None:
    name = f"/visitor-board/test/{table_name}"
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=moto.url)
    ssm.put_parameter(Name=name, Value="s" * 40, Type="SecureString")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto.url)
    from visitor_board import create_app
    from visitor_board.config import Config as Cfg
    from visitor_board.table import create_table

    create_table(dynamodb_client(moto.url), table_name)
    app = create_app(Cfg(table_name=table_name, dynamodb_endpoint_url=moto.url, secret_key_parameter=name))
    assert app.config["SECRET_KEY"] == "s" * 40
    assert app.test_client().get("/").status_code == 200


def test_create_table_is_idempotent(moto, table_name: str) -> None:
    env = {"TABLE_NAME": table_name, "DYNAMODB_ENDPOINT_URL": moto.url}
    first = run_cli("create-table", **env)
    assert first.returncode == 0, first.stderr
    assert f"table {table_name} created and ACTIVE" in first.stdout
    second = run_cli("create-table", **env)
    assert second.returncode == 0, second.stderr
    assert f"table {table_name} already exists and ACTIVE" in second.stdout
    client = dynamodb_client(moto.url)
    table = client.describe_table(TableName=table_name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    ttl = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_create_table_when_dynamodb_is_down_is_one_line() -> None:
    result = run_cli(
        "create-table", "--wait", "1", DYNAMODB_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("visitor-board: could not create table 'workshop_messages'")


def test_gunicorn_worker_with_bad_config_halts_with_the_line(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "visitor_board.wsgi:app"],
        env=safe_env(PAGE_SIZE="lots", SECRET_KEY=SECRET),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "visitor-board: PAGE_SIZE='lots' is invalid" in result.stderr


def test_version_flag() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "visitor-board 1.0.0"


def test_serve_runs_gunicorn(moto, table_name: str) -> None:
    import urllib.request

    port = free_port()
    dynamodb = dynamodb_client(moto.url)
    from visitor_board.table import create_table

    create_table(dynamodb, table_name)
    process = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=safe_env(SECRET_KEY=SECRET, TABLE_NAME=table_name, DYNAMODB_ENDPOINT_URL=moto.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process=process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            assert response.status == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "method=GET path=/readyz status=200" in output


def test_gunicorn_master_loads_none_of_the_app() -> None:
    """What gunicorn's master imports stays for its life: new workers after a HUP must import the release."""
    code = (
        "import sys, visitor_board.gunicorn_conf; "
        "print(sorted(m for m in sys.modules if m.startswith(('visitor_board', 'flask', 'boto'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=safe_env()
    )
    assert result.stdout.strip() == "['visitor_board', 'visitor_board.gunicorn_conf']"


@pytest.mark.parametrize(
    ("value", "expected"), [("auto", "auto"), ("AUTO", "auto"), ("true", True), ("off", False), ("", False)]
)
def test_session_cookie_secure_values(value: str, expected: object) -> None:
    config = load_config({"SECRET_KEY": SECRET, "SESSION_COOKIE_SECURE": value})
    assert config.session_cookie_secure == expected
