"""`visitor-board dev`: moto on loopback, the table and the app, with no AWS account and no Docker."""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

from board_helpers import CONSOLE_SCRIPT, free_port, safe_env, wait_for_port


def test_dev_mode_serves_a_working_board(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "dev.log").open("wb")
    # No SECRET_KEY: dev mode makes a throwaway one. Real-looking credentials in the shell are replaced.
    env = safe_env(PORT=str(port), AWS_ACCESS_KEY_ID="AKIAREALLOOKING", AWS_SECRET_ACCESS_KEY="not-used")
    process = subprocess.Popen([str(CONSOLE_SCRIPT), "dev"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process=process)
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(base + "/", timeout=10) as response:
            html = response.read().decode()
        assert "served by" in html
        fields = dict(re.findall(r'name="(csrf_token|client_id)" type="hidden" value="([^"]+)"', html))
        body = urllib.parse.urlencode({**fields, "name": "Dev", "message": "hello from dev mode"}).encode()
        with opener.open(base + "/", data=body, timeout=10) as response:  # follows the 303
            assert "hello from dev mode" in response.read().decode()
        with opener.open(base + "/readyz", timeout=10) as response:
            assert response.status == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    output = (tmp_path / "dev.log").read_text()
    assert "moto (DynamoDB stand-in) on http://127.0.0.1:" in output
