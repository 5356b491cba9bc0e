"""A visitor's view of one host: read the board, post a message, page through every message."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import requests

TIMEOUT = 15
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_CLIENT_ID = re.compile(r'name="client_id"[^>]*value="([0-9a-f]{32})"')
_SERVED_BY = re.compile(r'id="served-by">\s*([^\s<(]+)')
_RELEASE = re.compile(r'id="release">([^<]+)<')
_TEXT = re.compile(r'<p class="text">(.*?)</p>', re.S)
_OLDER = re.compile(r'href="([^"]+)" rel="next"')


@dataclass(frozen=True)
class Page:
    status: int
    served_by: str | None
    release: str | None
    texts: list[str]
    older: str | None


def parse(status: int, body: str) -> Page:
    served = _SERVED_BY.search(body)
    release = _RELEASE.search(body)
    older = _OLDER.search(body)
    return Page(
        status=status,
        served_by=served.group(1) if served else None,
        release=release.group(1).strip() if release else None,
        texts=[html.unescape(t) for t in _TEXT.findall(body)],
        older=html.unescape(older.group(1)) if older else None,
    )


class Visitor:
    """One browser: a cookie jar (the CSRF session is signed with the key every host shares)."""

    def __init__(self, address: str) -> None:
        self.base = f"http://{address}"
        self.http = requests.Session()

    def board(self, path: str = "/") -> Page:
        response = self.http.get(self.base + path, timeout=TIMEOUT)
        return parse(response.status_code, response.text)

    def post(self, name: str, text: str, attempts: int = 3) -> bool:
        """Post one message; True once a post is acknowledged (303 to the board).

        A retry re-sends the SAME form (same client id), as a browser resubmission would: the app must
        converge on one message, so a retry after a lost answer never duplicates.
        """
        form = None
        for _ in range(attempts):
            try:
                if form is None:
                    page = self.http.get(self.base + "/", timeout=TIMEOUT)
                    csrf, client_id = _CSRF.search(page.text), _CLIENT_ID.search(page.text)
                    if page.status_code != 200 or not csrf or not client_id:
                        continue
                    form = {"csrf_token": csrf.group(1), "client_id": client_id.group(1)}
                response = self.http.post(
                    self.base + "/",
                    data={**form, "name": name, "message": text},
                    allow_redirects=False,
                    timeout=TIMEOUT,
                )
                if response.status_code == 303:
                    return True
            except requests.RequestException:
                continue
        return False

    def all_texts(self) -> list[str]:
        """Every message text on the board, following the "older" links to the end."""
        texts: list[str] = []
        path: str | None = "/"
        while path:
            page = self.board(path)
            assert page.status == 200, f"{self.base}{path} answered {page.status}"
            texts += page.texts
            path = page.older
        return texts
