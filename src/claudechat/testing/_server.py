"""The emulator as a local HTTP server (threaded stdlib http.server, SSE over chunked bodies)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from ._faults import ConnectionDropped
from .emulator import Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and the CLI own the terminal."""

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.emulator.handle(self.command, self.path, headers, raw)
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
        try:
            for chunk in answer.body:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
        except ConnectionDropped:
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return
        self.wfile.write(b"0\r\n\r\n")

    do_GET = _serve
    do_POST = _serve


class _EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator


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


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
    """Serve `emulator` over HTTP in a background thread; port 0 picks a free port."""
    httpd = _EmulatorHTTPServer((host, port), emulator)
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
    **emulator_options: Any,
) -> None:
    """Serve a new Emulator until Ctrl-C (or `stop` is set), for `claudechat emulate`."""
    server = serve(Emulator(**emulator_options), host, port)
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
