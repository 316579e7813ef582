"""A scripted HTTP server for the answers a real server gives and moto cannot be made to give.

Each request is answered by `script(method, path)`; what was asked (method, path, headers) is
recorded.  It runs in a thread on 127.0.0.1 and stops when its context manager ends.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "ScriptedServer", "run_scripted_server"]


@dataclass(frozen=True)
class Reply:
    """One answer; `truncate_to` sends the full Content-Length but only that many bytes."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate_to: int | None = None


Script = Callable[[str, str], Reply]


class ScriptedServer:
    """Where the server listens, how it answers now, and what it has been asked."""

    def __init__(self, default: Script) -> None:
        self.url = ""
        self.default = default
        self.script: Script = default
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def reset(self) -> None:
        """Back to the default answer, with nothing recorded."""
        self.script = self.default
        self.seen.clear()


@contextlib.contextmanager
def run_scripted_server(default: Script) -> Iterator[ScriptedServer]:
    state = ScriptedServer(default)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            state.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            reply = state.script(self.command, self.path)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if reply.truncate_to is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body[: reply.truncate_to] if reply.truncate_to is not None else reply.body)

        do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
