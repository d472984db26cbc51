"""The review server over real sockets: only its page may save marks; bad requests get 4xx."""

import http.client
import json
import re
import shutil
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from opso.adapters.html_review import HtmlReviewPages
from opso.adapters.http_review_server import MAX_BODY, ReviewServer
from opso.container import Container
from opso.ports.review import TOKEN_HEADER, ReviewClip

CLIPS = [
    ReviewClip(
        "c1-owl",
        "north.wav",
        0.0,
        5.0,
        "owl",
        0.9,
        "clips/c1.wav",
        "images/c1.png",
        "/rec/north.wav",
        22050,
    ),
    ReviewClip(
        "c2-owl",
        "south.wav",
        5.0,
        10.0,
        "owl",
        0.7,
        "clips/c2.wav",
        "images/c2.png",
        "/rec/south.wav",
        22050,
    ),
]
SAVED = {"c1-owl": "present", "c2-owl": "absent"}


@pytest.fixture(scope="module")
def review_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("served") / "review"
    HtmlReviewPages().write(CLIPS, out / "index.html", title="Review")
    (out / "clips").mkdir()
    (out / "clips" / "c1.wav").write_bytes(b"RIFF")
    (out.parent / "secret.txt").write_text("not for the browser")
    return out


@pytest.fixture(scope="module")
def served(review_folder: Path) -> Iterator[ReviewServer]:
    saver = Container().save_review_marks()

    def save(marks: Mapping[str, str]) -> list[Path]:
        return saver.run(clips=CLIPS, marks=marks, output=review_folder, raven=True)

    server = ReviewServer(review_folder, save, request_timeout=1.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def review(review_folder: Path) -> Path:
    """The served folder, with no marks saved yet."""
    (review_folder / "review.csv").unlink(missing_ok=True)
    shutil.rmtree(review_folder / "raven", ignore_errors=True)
    return review_folder


@pytest.fixture
def server(served: ReviewServer, review: Path) -> ReviewServer:
    return served


def request(
    server: ReviewServer,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes, http.client.HTTPMessage]:
    """Send one request with exactly ``headers`` (plus Host unless given) and return the reply."""
    host, port = server.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    given = dict(headers or {})
    conn.putrequest(method, path, skip_host="Host" in given, skip_accept_encoding=True)
    for name, value in given.items():
        conn.putheader(name, value)
    conn.endheaders(body)
    response = conn.getresponse()
    reply = response.status, response.read(), response.headers
    conn.close()
    return reply


def page_headers(server: ReviewServer, body: bytes) -> dict[str, str]:
    """The headers the served page's save button sends."""
    return {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Origin": f"http://{server.address}",
        TOKEN_HEADER: server.token,
    }


def post_marks(
    server: ReviewServer, body: bytes, **changes: str | None
) -> tuple[int, dict[str, object]]:
    """POST ``body`` to /marks as the page does, with some headers changed (None: left out)."""
    headers = page_headers(server, body)
    for name, value in changes.items():
        header = {"token": TOKEN_HEADER}.get(name, name.replace("_", "-").title())
        if value is None:
            headers.pop(header, None)
        else:
            headers[header] = value
    status, reply, _ = request(server, "POST", "/marks", body=body, headers=headers)
    return status, json.loads(reply)


def test_the_served_page_carries_the_session_token(server: ReviewServer, review: Path) -> None:
    for path in ("/index.html", "/"):
        status, body, headers = request(server, "GET", path)
        assert status == 200 and headers["Cache-Control"] == "no-store"
        tokens = re.findall(r'<meta name="opso-review-token" content="([^"]*)">', body.decode())
        assert tokens == [server.token] and len(server.token) >= 32
    assert server.token not in (review / "index.html").read_text()  # only the served copy has it
    other = ReviewServer(review, lambda marks: [])
    other.start()
    other.stop()
    assert other.token != server.token  # one per session


def test_the_page_s_own_request_saves_the_marks(server: ReviewServer, review: Path) -> None:
    status, reply = post_marks(server, json.dumps(SAVED).encode())
    assert status == 200
    assert reply == {
        "saved": 2,
        "files": [
            "review.csv",
            "raven/north.Table.1.selections.txt",
            "raven/south.Table.1.selections.txt",
        ],
    }
    assert "present" in (review / "review.csv").read_text()


@pytest.mark.parametrize(
    "changes",
    [
        {"content_type": "text/plain"},  # a form or no-cors fetch from any page
        {"content_type": "text/plain", "token": None, "origin": "http://evil.example"},
        {"token": None},
        {"token": "guessed"},
        {"token": ""},
        {"host": "evil.example:80"},  # a page whose name was rebound to 127.0.0.1
        {"origin": "http://evil.example"},
        {"origin": "http://127.0.0.1:1"},  # another server on this machine
        {"origin": "null"},  # a sandboxed frame or a file opened from disk
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
def test_requests_not_from_the_served_page_are_refused_and_save_nothing(
    server: ReviewServer, review: Path, changes: dict[str, str | None]
) -> None:
    assert post_marks(server, json.dumps(SAVED).encode())[0] == 200
    saved = {p: p.read_bytes() for p in review.rglob("*.txt")} | {
        review / "review.csv": (review / "review.csv").read_bytes()
    }
    status, reply = post_marks(server, b"{}", **changes)
    assert status == 403, reply
    assert {p: p.read_bytes() for p in saved} == saved  # every mark is still there


def test_a_wrong_host_cannot_read_the_page_either(server: ReviewServer) -> None:
    status, body, _ = request(server, "GET", "/index.html", headers={"Host": "evil.example:80"})
    assert status == 403 and server.token.encode() not in body


@pytest.mark.parametrize(
    "length", ["abc", "-1", "", "0", "1.5", "\u00b2", str(MAX_BODY + 1), "9" * 40]
)
def test_a_bad_content_length_is_a_bad_request(
    server: ReviewServer, review: Path, length: str
) -> None:
    status, reply = post_marks(server, b"{}", content_length=length)
    assert status == 400 and "bytes" in str(reply["error"])
    assert not (review / "review.csv").exists()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b"not json",
        b"\xff\xfe{}",
        b'["present"]',
        b'{"c1-owl": 1}',
    ],
    ids=["nested-arrays", "nested-objects", "not-json", "not-utf8", "a-list", "a-number"],
)
def test_a_body_that_is_not_marks_is_a_bad_request(
    server: ReviewServer, review: Path, body: bytes
) -> None:
    status, reply = post_marks(server, body)
    assert status == 400 and reply["error"]
    assert not (review / "review.csv").exists()
    assert post_marks(server, json.dumps(SAVED).encode())[0] == 200  # and the server still works


def raw_post(server: ReviewServer, body: bytes, length: int) -> socket.socket:
    host, port = server.address.split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    headers = page_headers(server, body) | {"Content-Length": str(length)}
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"POST /marks HTTP/1.1\r\nHost: {server.address}\r\n{head}\r\n".encode() + body)
    return sock


def reply_status(sock: socket.socket) -> int:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    return int(data.split(b" ", 2)[1])


def test_a_body_shorter_than_its_length_is_refused_without_hanging(
    server: ReviewServer, review: Path
) -> None:
    closed = raw_post(server, b'{"c1-owl": "pre', 100)
    closed.shutdown(socket.SHUT_WR)  # the client is done sending
    assert reply_status(closed) == 400
    stalled = raw_post(server, b'{"c1-owl": "pre', 100)  # the client never sends the rest
    assert post_marks(server, json.dumps(SAVED).encode())[0] == 200  # others are served meanwhile
    assert reply_status(stalled) == 400  # after the 1 s request timeout
    assert "present" in (review / "review.csv").read_text()


@pytest.mark.parametrize("path", ["/clips/", "/clips", "/images/", "/raven/"])
def test_folders_are_never_listed(server: ReviewServer, path: str) -> None:
    status, body, _ = request(server, "GET", path)
    if status == 301:  # /clips -> /clips/
        status, body, _ = request(server, "GET", path + "/")
    assert status == 404 and b"c1.wav" not in body


@pytest.mark.parametrize(
    "path", ["/../secret.txt", "/%2e%2e/secret.txt", "/clips/../../secret.txt"]
)
def test_nothing_outside_the_folder_is_served(server: ReviewServer, path: str) -> None:
    status, body, _ = request(server, "GET", path)
    assert status == 404 and b"not for the browser" not in body


def test_files_of_the_folder_are_served(server: ReviewServer) -> None:
    assert request(server, "GET", "/clips/c1.wav")[:2] == (200, b"RIFF")


def test_a_save_that_fails_is_reported_not_dropped(review: Path) -> None:
    def save(marks: Mapping[str, str]) -> list[Path]:
        raise PermissionError(13, "Permission denied", str(review / "review.csv"))

    server = ReviewServer(review, save)
    server.start()
    try:
        status, reply = post_marks(server, b"{}")
    finally:
        server.stop()
    assert status == 500 and "Permission denied" in str(reply["error"])


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org"])
def test_only_loopback_addresses_are_served(review: Path, host: str) -> None:
    with pytest.raises(ValueError, match=f"only listens on loopback, not '{host}'"):
        ReviewServer(review, lambda marks: [], host=host)
