"""The emulator as a local HTTP server (threaded stdlib http.server, SSE over chunked bodies)."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from ._errors import EmuAPIError
from ._faults import ConnectionDropped
from .emulator import Emulator

READ_TIMEOUT = 30.0  # seconds a client may stay silent while sending a request
MAX_BODY_BYTES = 32 * 1024 * 1024  # the Messages API's request size limit
KEEP_REQUESTS = 100  # requests `claudechat emulate` keeps for inspection
KEEP_BYTES = 16 * 1024 * 1024  # and at most this many bytes of their bodies
_DELTA_FRAME = b"event: content_block_delta\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.read_timeout)  # a stalled client frees its thread
        # Each SSE frame leaves at once, as from the API: without this, Nagle's algorithm holds
        # a small frame until the previous one is acknowledged (up to 40 ms of delayed ACK).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and the CLI own the terminal."""

    def _serve(self) -> None:
        raw = self._body()
        if raw is None:
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            answer = self.server.emulator.handle(self.command, self.path, headers, raw)
        except Exception as err:  # a bug must not drop the connection without an answer
            self._error(500, f"emulator error: {type(err).__name__}: {err}")
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if isinstance(answer.body, bytes):
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            return
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        delay = self.server.token_delay
        try:
            for chunk in answer.body:
                if delay and chunk.startswith(_DELTA_FRAME):
                    self.server.sleep(delay)  # a model producing tokens one by one
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
        except ConnectionDropped:
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return
        self.wfile.write(b"0\r\n\r\n")

    def _body(self) -> bytes | None:
        """The request body, or None after answering a malformed, oversized or slow one."""
        if "transfer-encoding" in self.headers:
            self._error(400, "Transfer-Encoding is not supported: send Content-Length")
            return None
        length_header = self.headers.get("content-length")
        if length_header is None:
            if self.command == "POST":
                self._error(400, "Content-Length header is required")
                return None
            return b""
        if not re.fullmatch(r"\s*[0-9]+\s*", length_header):
            self._error(400, f"Content-Length must be a non-negative integer: {length_header!r}")
            return None
        length = int(length_header)
        if length > self.server.max_body:
            self._error(413)  # the body is left unread: the connection closes
            return None
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            self._error(408, "Request body not received in time", error_type="timeout_error")
            return None
        if len(raw) < length:
            self.close_connection = True  # the client closed before sending it all
            return None
        return raw

    def _error(
        self, status: int, message: str | None = None, *, error_type: str | None = None
    ) -> None:
        """Answer with the API's error shape and close the connection."""
        error = EmuAPIError(status, message, error_type=error_type)
        body = json.dumps(error.body("req_emu_refused")).encode()
        self.close_connection = True
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_GET = _serve
    do_POST = _serve


class _EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: hundreds of clients may connect at once

    def __init__(
        self,
        address: tuple[str, int],
        emulator: Emulator,
        *,
        read_timeout: float,
        max_body: int,
        token_delay: float,
        sleep: Callable[[float], None],
    ) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator
        self.read_timeout = read_timeout
        self.max_body = max_body
        self.token_delay = token_delay
        self.sleep = sleep


class EmulatorServer:
    """A running emulator server; `url` is the base URL for any Anthropic client."""

    def __init__(self, httpd: _EmulatorHTTPServer, thread: threading.Thread | None) -> None:
        self._httpd = httpd
        self._thread = thread
        host, port = httpd.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"
        self.emulator = httpd.emulator

    def shutdown(self) -> None:
        """Stop serving and close the listening socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve(
    emulator: Emulator,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    read_timeout: float = READ_TIMEOUT,
    max_body: int = MAX_BODY_BYTES,
    token_delay: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> EmulatorServer:
    """Serve `emulator` over HTTP in a background thread; port 0 picks a free port.

    A client that sends nothing for `read_timeout` seconds is disconnected (408 mid-body);
    a body over `max_body` bytes gets the API's 413. `token_delay` seconds pass before each
    streamed delta (one word or JSON piece), as a real model's output arrives over time
    (waited with `sleep`, injectable for tests).
    """
    if token_delay < 0:
        raise ValueError(f"token_delay must be >= 0 seconds, not {token_delay}")
    httpd = _EmulatorHTTPServer((host, port), emulator, read_timeout=read_timeout,
                                max_body=max_body, token_delay=token_delay,
                                sleep=sleep)  # fmt: skip
    thread = threading.Thread(target=httpd.serve_forever, name="claudechat-emulator", daemon=True)
    thread.start()
    return EmulatorServer(httpd, thread)


def run_server(
    port: int,
    host: str = "127.0.0.1",
    *,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[EmulatorServer], None] | None = None,
    token_delay: float = 0.0,
    **emulator_options: Any,
) -> None:
    """Serve a new Emulator until Ctrl-C (or `stop` is set), for `claudechat emulate`.

    It keeps only the newest requests (`KEEP_REQUESTS`, at most `KEEP_BYTES` of bodies),
    so a long-running server's memory stays bounded.
    """
    emulator_options.setdefault("keep_requests", KEEP_REQUESTS)
    emulator_options.setdefault("keep_bytes", KEEP_BYTES)
    server = serve(Emulator(**emulator_options), host, port, token_delay=token_delay)
    stream = out if out is not None else sys.stderr
    print(
        f"claudechat emulator listening on {server.url} (set ANTHROPIC_BASE_URL to it)",
        file=stream,
        flush=True,
    )
    try:
        if on_ready is not None:
            on_ready(server)
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
