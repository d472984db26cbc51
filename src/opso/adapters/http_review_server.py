"""A small localhost HTTP server for the review page: serves its files, takes marks by POST."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opso.domain.errors import ParameterError

SaveMarks = Callable[[Mapping[str, str]], list[Path]]
_MAX_BODY = 1 << 20


class _Handler(SimpleHTTPRequestHandler):
    save: SaveMarks

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; the CLI reports what matters."""

    def _reply(self, status: HTTPStatus, body: Mapping[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        """Accept ``{clip id: mark}`` JSON at ``/marks`` and save it."""
        if self.path.rstrip("/") != "/marks":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= _MAX_BODY:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body missing or too large"})
            return
        try:
            marks = json.loads(self.rfile.read(length))
            if not isinstance(marks, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in marks.items()
            ):
                raise ParameterError("marks must be a JSON object of clip id -> mark")
            files = self.save(marks)
        except ValueError as e:  # includes json.JSONDecodeError
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            return
        self._reply(HTTPStatus.OK, {"saved": len(marks), "files": [f.name for f in files]})


class ReviewServer:
    """Serve ``directory`` on ``host:port`` (port 0 picks a free one) in a background thread.

    Only loopback addresses are accepted: the page is for the person at this machine.
    """

    def __init__(self, directory: Path, save: SaveMarks, *, host: str = "127.0.0.1", port: int = 0):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ParameterError(f"the review server only listens on loopback, not {host!r}")
        handler = type("ReviewHandler", (_Handler,), {"save": staticmethod(save)})
        self._server = ThreadingHTTPServer(
            (host, port), functools.partial(handler, directory=str(directory))
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/index.html"

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
