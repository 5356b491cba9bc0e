"""Issue 10's faults 1-6, each as a kind, against the app as hosts run it: `visitor-board serve` (gunicorn,
two workers) over real HTTP on loopback, DynamoDB on a real moto server; chunked bodies also under
`visitor-board dev` (Werkzeug's server)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from board_helpers import SECRET, ServedBoard, Visitor, dynamodb_client, parse_board, safe_env, wait_until
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from visitor_board.table import create_table
from visitor_board.views import EDITED_RESUBMISSION, FORM_EXPIRED, FORM_NOT_VERIFIED

LIMIT = 16 * 1024
PAGE = 2


@pytest.fixture(scope="module")
def served(moto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBoard]:
    table = f"vb-hostile-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb_client(moto.url), table)
    env = safe_env(
        SECRET_KEY=SECRET, TABLE_NAME=table, AWS_ENDPOINT_URL_DYNAMODB=moto.url, PAGE_SIZE=str(PAGE)
    )
    board = ServedBoard(
        ["serve", "--bind", "127.0.0.1:{port}", "--workers", "2"],
        env,
        tmp_path_factory.mktemp("serve") / "serve.log",
    )
    board.args[2] = f"127.0.0.1:{board.port}"
    board.start()
    yield board
    board.stop()


@pytest.fixture(scope="module")
def dev_board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBoard]:
    board = ServedBoard(["dev"], safe_env(), tmp_path_factory.mktemp("dev") / "dev.log").start()
    yield board
    board.stop()


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


# --- 1. pattern checks match the whole value; no stored value yields a cursor the app refuses -------------


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\r", " ", "\t", "\x00", "\u2028", "0"])
def test_client_id_must_be_exactly_32_hex(served: ServedBoard, suffix: str) -> None:
    visitor = Visitor(served.url)
    text = unique("trailing")
    form = visitor.form()
    response = visitor.post_message("Ada", text, client_id=form["client_id"] + suffix)
    assert response.status_code == 400
    assert "This form is damaged" in response.text
    assert re.fullmatch(r"[0-9a-f]{32}", parse_board(response.text).inputs["client_id"])
    assert text not in visitor.board_texts()


@pytest.mark.parametrize("digits", ["\u0661" * 32, "\uff10" * 32])  # Arabic-Indic and full-width digits
def test_client_id_of_other_scripts_digits_is_refused(served: ServedBoard, digits: str) -> None:
    response = Visitor(served.url).post_message("Ada", unique("digits"), client_id=digits)
    assert response.status_code == 400


def test_history_stays_reachable_after_hostile_posts(served: ServedBoard) -> None:
    visitor = Visitor(served.url)
    for suffix in ("\n", "\r\n"):
        visitor.post_message("Eve", unique("hostile"), client_id=uuid.uuid4().hex + suffix)
    for _ in range(PAGE + 1):
        assert visitor.post_message("Ada", unique("history")).status_code == 303
    href: str | None = "/"
    pages = 0
    while href and pages < 200:
        response = visitor.get(href)
        assert response.status_code == 200, href
        href = parse_board(response.text).older_href
        pages += 1
    assert pages >= 2


# --- 2. blank means "nothing visible"; NFC before length checks; real text in any script is kept -------

INVISIBLE = [
    "\u200b",  # ZERO WIDTH SPACE
    "\u200b\u200c\u200d",  # zero width space, non-joiner, joiner
    "\u3164",  # HANGUL FILLER
    "\u115f\u1160",  # HANGUL CHOSEONG / JUNGSEONG FILLER
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u2800",  # BRAILLE PATTERN BLANK
    "\u034f",  # COMBINING GRAPHEME JOINER
    "\ufe0f\ufe0e",  # variation selectors
    "\U000e0100",  # VARIATION SELECTOR-17
    "\u2060\ufeff",  # WORD JOINER, BOM
    "\u00ad",  # SOFT HYPHEN
    "\u180e",  # MONGOLIAN VOWEL SEPARATOR
    "\u202e\u2066",  # bidi controls
    "\U000e0020\U000e007f",  # tag characters
    "\u3000\u00a0\u2007",  # ideographic, no-break and figure spaces
    " \u200b \u3164 ",
]


@pytest.mark.parametrize("blank", INVISIBLE, ids=["-".join(f"U+{ord(c):04X}" for c in s) for s in INVISIBLE])
def test_invisible_name_or_message_is_blank(served: ServedBoard, blank: str) -> None:
    visitor = Visitor(served.url)
    text = unique("visible")
    response = visitor.post_message(blank, text)
    assert response.status_code == 400
    assert "Please enter your name." in parse_board(response.text).field_errors
    assert parse_board(response.text).inputs["message"] == text  # the rest of the input is kept
    response = visitor.post_message("Ada", blank)
    assert response.status_code == 400
    assert "Please write a message." in parse_board(response.text).field_errors
    assert text not in visitor.board_texts()


KEPT = [
    "👩\u200d💻",  # ZWJ sequence
    "👨\u200d👩\u200d👧\u200d👦",
    "🏳\ufe0f\u200d🌈",  # with a variation selector
    "❤\ufe0f",
    "محمد",
    "שָׁלוֹם",
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with a ZERO WIDTH NON-JOINER inside
    "山田 花子",
    "ﬁne",  # a ligature stays a ligature (NFC, not NFKC)
    "\uff3a\uff4f\uff45",  # full-width letters stay full-width
]


@pytest.mark.parametrize("name", KEPT)
def test_real_names_in_any_script_are_kept_intact(served: ServedBoard, name: str) -> None:
    visitor = Visitor(served.url)
    text = unique(f"{name} says hello")
    assert visitor.post_message(name, text).status_code == 303
    page = parse_board(visitor.get("/").text)
    assert page.authors[page.texts.index(text)] == name


def test_names_are_nfc_before_the_length_check(served: ServedBoard) -> None:
    visitor = Visitor(served.url)
    decomposed = "e\u0301" * 40  # 80 code points, 40 characters once composed
    text = unique("composed")
    assert visitor.post_message(decomposed, text).status_code == 303
    page = parse_board(visitor.get("/").text)
    assert page.authors[page.texts.index(text)] == "\u00e9" * 40
    response = visitor.post_message("e\u0301" * 41, unique("too long"))
    assert response.status_code == 400
    assert "Please keep your name to 40 characters or fewer." in parse_board(response.text).field_errors


# --- 3. any body over 16 KiB gets 413, however it is framed --------------------------------------------


def chunked(body: bytes, size: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def padded_form(visitor: Visitor, text: str, total: int) -> bytes:
    data = visitor.form()
    data.update(name="Ada", message=text)
    body = requests.models.RequestEncodingMixin._encode_params(data)  # urlencode with requests' own rules
    padding = total - len(body) - len("&pad=")
    assert padding >= 0
    return f"{body}&pad={'p' * padding}".encode()


@pytest.mark.parametrize("server", ["served", "dev_board"])
@pytest.mark.parametrize("size", [LIMIT + 1, 20_000, 1024 * 1024])
def test_chunked_body_over_the_limit_gets_413(request: pytest.FixtureRequest, server: str, size: int) -> None:
    board: ServedBoard = request.getfixturevalue(server)
    visitor = Visitor(board.url)
    text = unique("chunked")
    body = padded_form(visitor, text, size)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = visitor.post(chunked(body), headers=headers)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413
    assert "That was too much" in response.text
    # Framed with Content-Length, the same body gets the same answer.
    assert visitor.post(body, headers=headers).status_code == 413
    assert text not in visitor.board_texts()


@pytest.mark.parametrize("server", ["served", "dev_board"])
def test_chunked_body_at_the_limit_is_accepted(request: pytest.FixtureRequest, server: str) -> None:
    board: ServedBoard = request.getfixturevalue(server)
    visitor = Visitor(board.url)
    text = unique("at the limit")
    body = padded_form(visitor, text, LIMIT)
    response = visitor.post(chunked(body), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 303
    assert text in visitor.board_texts()


# --- 4. the same form again with edited text is refused clearly; a true retry stays one copy ----------


@pytest.mark.parametrize("edit", ["message", "name"])
def test_edited_resubmission_is_refused_and_kept(served: ServedBoard, edit: str) -> None:
    visitor = Visitor(served.url)
    form = visitor.form()
    first, second = unique("first"), unique("second")
    assert visitor.post({**form, "name": "Ada", "message": first}).status_code == 303
    edited = {**form, "name": "Ada", "message": first, edit: second}
    response = visitor.post(edited)
    assert response.status_code == 409
    page = parse_board(response.text)
    assert EDITED_RESUBMISSION in page.problems
    assert page.inputs[edit] == second  # nothing the visitor typed is lost
    assert page.inputs["client_id"] != form["client_id"]  # a fresh form: sending it posts a new message
    texts = visitor.board_texts()
    assert texts.count(first) == 1
    assert second not in texts
    assert visitor.post(page.inputs).status_code == 303  # sent as a new message, on purpose
    board = parse_board(visitor.get("/").text)
    posted = list(zip(board.authors, board.texts, strict=True))
    if edit == "message":
        assert (posted.count(("Ada", first)), posted.count(("Ada", second))) == (1, 1)
    else:
        assert (posted.count(("Ada", first)), posted.count((second, first))) == (1, 1)


def test_true_retry_is_one_copy(served: ServedBoard) -> None:
    visitor = Visitor(served.url)
    form = {**visitor.form(), "name": "Ada", "message": unique("retry")}
    # Whitespace the form trims anyway does not make it a different message.
    retries = [form, {**form, "message": f"  {form['message']}\r\n"}, form]
    assert [visitor.post(data).status_code for data in retries] == [303, 303, 303]
    assert visitor.board_texts().count(form["message"]) == 1


# --- 5. a form that failed its CSRF check comes back with the input kept and a fresh token ------------


def expired_token(token: str, age_seconds: int = 2 * 3600) -> str:
    raw = URLSafeTimedSerializer(SECRET, salt="wtf-csrf-token").loads(token)

    class _Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age_seconds

    return URLSafeTimedSerializer(SECRET, salt="wtf-csrf-token", signer=_Then).dumps(raw)


def assert_form_returned(response: requests.Response, sent: dict[str, str], problem: str) -> dict[str, str]:
    assert response.status_code == 400
    page = parse_board(response.text)
    assert page.problems == [problem]
    assert (page.inputs["name"], page.inputs["message"]) == (sent["name"], sent["message"])
    assert page.inputs["csrf_token"] and page.inputs["csrf_token"] != sent.get("csrf_token")
    return page.inputs


def test_expired_form_comes_back_with_the_input(served: ServedBoard) -> None:
    visitor = Visitor(served.url)
    sent = {**visitor.form(), "name": "Grace", "message": unique("typed an hour ago\nsecond line")}
    sent["csrf_token"] = expired_token(sent["csrf_token"])
    returned = assert_form_returned(visitor.post(sent), sent, FORM_EXPIRED)
    assert sent["message"] not in visitor.board_texts()
    assert visitor.post(returned).status_code == 303  # one click sends it again
    assert visitor.board_texts().count(sent["message"]) == 1


@pytest.mark.parametrize("case", ["no-session-cookie", "forged-token", "missing-token"])
def test_unverifiable_form_comes_back_with_the_input(served: ServedBoard, case: str) -> None:
    visitor = Visitor(served.url)
    sent = {**visitor.form(), "name": "Grace", "message": unique(case)}
    if case == "no-session-cookie":
        visitor.session.cookies.clear()
    elif case == "forged-token":
        sent["csrf_token"] = "forged"
    else:
        del sent["csrf_token"]
    returned = assert_form_returned(visitor.post(sent), sent, FORM_NOT_VERIFIED)
    assert sent["message"] not in visitor.board_texts()
    assert visitor.post(returned).status_code == 303


# --- 6. no client-controlled value can start a log record ----------------------------------------------

# A record of ours or gunicorn's starts with a timestamp, a gunicorn "[...]" or an access line's address.
RECORD_START = re.compile(r"\d{4}-\d\d-\d\d |\[\d{4}-\d\d-\d\d |127\.0\.0\.1 - ")


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/nothing%0arequest_id=forged%20method=GET%20path=/%20status=200", {}),
        ("/nothing%0d%0arequest_id=forged", {}),
        ("/nothing%e2%80%a8request_id=forged%e2%80%a9", {}),  # U+2028 / U+2029
        ("/nothing%c2%85request_id=forged", {}),  # U+0085 NEXT LINE
        ("/nothing%1b%5b2Krequest_id=forged", {}),  # an ANSI escape that erases the line on a terminal
        ("/?before=x%0arequest_id=forged&x=%0d%0arequest_id=forged", {}),
        ("/healthz", {"User-Agent": "ua\x1b[2K\x0brequest_id=forged"}),
        ("/healthz", {"User-Agent": 'ua" status=200 request_id=forged'}),
        ("/healthz", {"X-Request-Id": "abcdefgh\x0brequest_id=forged"}),
    ],
)
def test_client_values_cannot_forge_log_records(
    served: ServedBoard, path: str, headers: dict[str, str]
) -> None:
    marker = uuid.uuid4().hex
    response = requests.get(
        served.url + path.replace("forged", f"forged-{marker}"),
        headers={k: v.replace("forged", f"forged-{marker}") for k, v in headers.items()},
        timeout=30,
    )
    assert response.status_code in (200, 400, 404)
    if "X-Request-Id" not in response.headers:
        # gunicorn itself refuses control characters in header values: the app never saw the request.
        assert response.status_code == 400
        assert any(not value.isprintable() for value in headers.values())
        assert f"\nrequest_id=forged-{marker}" not in served.log()
        return
    request_id = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    ours = wait_until(
        lambda: [line for line in served.log().split("\n") if f"request_id={request_id}" in line],
        timeout=5,
        what="the request's log line",
    )
    assert len(ours) == 1
    assert re.match(rf"\S+ \S+ INFO visitor_board\.request request_id={request_id} method=GET path=", ours[0])
    assert ours[0].count("request_id=") == 1 + ours[0].count(f"request_id=forged-{marker}")
    for line in served.log().split("\n"):
        if marker in line:  # ours, gunicorn's access line: each begins a record and holds no control
            assert RECORD_START.match(line), line
            assert line.isprintable(), line
