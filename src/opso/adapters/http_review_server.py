"""A small localhost HTTP server for the review page: serves its files, takes marks by POST.

Only the page it serves can save marks: ``POST /marks`` needs the session's random token
(which the server writes into the page it serves, and nowhere else), a ``Host`` equal to the
served address, an ``Origin`` equal to the served origin when one is sent, and a JSON body.
Any other web page the browser has open can neither read the token nor pass these checks, so
it cannot overwrite the saved marks (decision 0080).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opso.domain.errors import OpsoError, ParameterError
from opso.ports.review import TOKEN_HEADER, TOKEN_META

SaveMarks = Callable[[Mapping[str, str]], list[Path]]
#: Largest body of marks taken (bytes): some 200,000 marks.
MAX_BODY = 10 * 1024 * 1024
_PAGE = "index.html"
_EMPTY_TOKEN = f'<meta name="{TOKEN_META}" content="">'


class _Handler(SimpleHTTPRequestHandler):
    save: SaveMarks
    token: str
    netloc: str  # the served address, host:port

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; the CLI reports what matters."""

    def _reply(self, status: HTTPStatus, body: Mapping[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _addressed_to_us(self) -> bool:
        """Refuse (403) a request whose Host is not the served address (DNS rebinding)."""
        if self.headers.get("Host") == self.netloc:
            return True
        self._reply(HTTPStatus.FORBIDDEN, {"error": f"requests must be addressed to {self.netloc}"})
        return False

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        """Never list a folder's files."""
        self.send_error(HTTPStatus.NOT_FOUND, "no such file")

    def do_HEAD(self) -> None:
        """Send a file's headers, if the request is addressed to this server."""
        if self._addressed_to_us():
            super().do_HEAD()

    def do_GET(self) -> None:
        """Send a file of the folder; the page itself carries the session token."""
        if not self._addressed_to_us():
            return
        page = Path(self.directory, _PAGE)
        if urlsplit(self.path).path in ("/", f"/{_PAGE}") and page.is_file():
            text = page.read_text(encoding="utf-8")
            body = text.replace(_EMPTY_TOKEN, f'<meta name="{TOKEN_META}" content="{self.token}">')
            data = body.encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")  # the token changes with each session
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()

    def _refusal(self) -> str | None:
        """Say why a POST is not from the served page, or None if it is."""
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.netloc}":
            return f"marks are only taken from the review page, not from {origin}"
        if self.headers.get_content_type() != "application/json":
            return "marks must be sent as application/json"
        given = self.headers.get(TOKEN_HEADER, "").encode()
        if not secrets.compare_digest(given, self.token.encode()):
            return "missing or wrong session token: reload the page this server serves, then save"
        return None

    def _body(self) -> bytes | str:
        """Return the request body, or why it cannot be read."""
        raw = (self.headers.get("Content-Length") or "").strip()
        if not (raw.isascii() and raw.isdigit()):
            return f"Content-Length must be a whole number of bytes, got {raw!r}"
        length = int(raw)
        if not 0 < length <= MAX_BODY:
            return f"a body of marks must be 1 to {MAX_BODY} bytes, got {length}"
        try:
            data = self.rfile.read(length)
        except TimeoutError:
            return "the body did not arrive in time"
        if len(data) < length:
            return f"the body ended after {len(data)} of {length} bytes"
        return data

    def do_POST(self) -> None:
        """Accept ``{clip id: mark}`` JSON at ``/marks`` from the served page, and save it."""
        if not self._addressed_to_us():
            return
        if self.path.rstrip("/") != "/marks":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {self.path}"})
            return
        refusal = self._refusal()
        if refusal is not None:
            self._reply(HTTPStatus.FORBIDDEN, {"error": refusal})
            return
        body = self._body()
        if isinstance(body, str):
            self._reply(HTTPStatus.BAD_REQUEST, {"error": body})
            return
        try:
            marks = json.loads(body)
        except (ValueError, RecursionError) as e:  # bad JSON, bad UTF-8, nesting too deep
            self._reply(HTTPStatus.BAD_REQUEST, {"error": f"not valid JSON: {e}"})
            return
        try:
            if not isinstance(marks, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in marks.items()
            ):
                raise ParameterError("marks must be a JSON object of clip id -> mark")
            files = self.save(marks)
        except ValueError as e:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            return
        except (OpsoError, OSError) as e:
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"not saved: {e}"})
            return
        root = Path(self.directory)
        names = [
            f.relative_to(root).as_posix() if f.is_relative_to(root) else str(f) for f in files
        ]
        self._reply(HTTPStatus.OK, {"saved": len(marks), "files": names})


class ReviewServer:
    """Serve ``directory`` on ``host:port`` (port 0 picks a free one) in a background thread.

    Only loopback addresses are accepted: the page is for the person at this machine. Marks
    are taken only from the page served (see the module docstring); ``request_timeout`` is
    how long (s) a client may take to send a request before it is dropped.
    """

    def __init__(
        self,
        directory: Path,
        save: SaveMarks,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        request_timeout: float = 10.0,
    ):
        if host not in ("127.0.0.1", "localhost"):
            raise ParameterError(f"the review server only listens on loopback, not {host!r}")
        self.token = secrets.token_urlsafe(32)
        handler: type[_Handler] = type(
            "ReviewHandler",
            (_Handler,),
            {"save": staticmethod(save), "token": self.token, "timeout": request_timeout},
        )
        self._server = ThreadingHTTPServer(
            (host, port), functools.partial(handler, directory=str(directory))
        )
        bound_host, bound_port = self._server.server_address[:2]
        self.address = f"{bound_host!s}:{bound_port}"
        handler.netloc = self.address
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{self.address}/{_PAGE}"

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
