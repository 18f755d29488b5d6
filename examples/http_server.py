"""A small HTTP server that runs *on the module*, written with eswifi's client sockets.

The module listens (multi-accept server, P5=11) and serves one connection at a time: each
request head is read with ``recv`` up to its blank line, answered, and the connection
closed (``P5=10``), so the next client waiting in the module's backlog is accepted.
Try it against the emulator::

    eswifi emulate --listen 127.0.0.1:7000 &
    python examples/http_server.py socket://127.0.0.1:7000
    curl http://127.0.0.1:8080/

Without ``--directory`` every path gets a page about the module; with it, the files in
that directory are served (``index.html`` for ``/``), so a browser can load a page with
images and frames from the module.

Browsers open connections they do not use at once (pre-connections) and may never send a
request on one. Since the module serves one connection at a time, a client that sends no
complete request within ``--read-timeout`` seconds is closed and the next one accepted;
a client that fails in any way never stops the server. The first line printed is
``serving http://<module ip>:<port>/``, then one line per connection.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import mimetypes
import sys
import time
import urllib.parse
from pathlib import Path

from eswifi.client import EsWifiSocket, Module
from eswifi.errors import LinkError

PAGE = """<!doctype html>
<html><head><title>eS-WiFi</title></head>
<body><h1>Hello from the eS-WiFi module</h1>
<p>Module {mac}, firmware {firmware}.</p>
<p>You asked for <code>{path}</code>; this is request {number}.</p>
</body></html>
"""
READ_TIMEOUT = 2.0
"""Seconds a client has to send its whole request head."""
MAX_HEAD = 16 * 1024
"""Largest request head (request line and headers) the server reads."""


class BadRequest(Exception):
    """The request cannot be served; carries the status line to answer with."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def read_request(conn: EsWifiSocket, timeout: float) -> tuple[str, str] | None:
    """``(method, path)`` of the request on ``conn``; None if the client closed without one.

    Raises:
        TimeoutError: the request head did not arrive within ``timeout`` seconds.
        BadRequest: the request is malformed or too large.
    """
    deadline = time.monotonic() + timeout
    head = bytearray()
    while b"\r\n\r\n" not in head and b"\n\n" not in head:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        conn.settimeout(remaining)
        chunk = conn.recv(1460)
        if not chunk:
            if head.strip():
                raise BadRequest("400 Bad Request")  # closed halfway through
            return None
        head += chunk
        if len(head) > MAX_HEAD:
            raise BadRequest("431 Request Header Fields Too Large")
    words = bytes(head).lstrip().split(b"\n", 1)[0].decode("latin-1").split()
    if len(words) != 3 or not words[2].startswith("HTTP/") or not words[1].startswith("/"):
        raise BadRequest("400 Bad Request")
    if words[0] not in ("GET", "HEAD"):
        raise BadRequest("501 Not Implemented")
    return words[0], words[1]


def find_file(directory: Path, path: str) -> Path | None:
    """The file under ``directory`` that ``path`` names, or None."""
    parts = urllib.parse.unquote(urllib.parse.urlsplit(path).path).split("/")
    if any(part in ("..", ".") or "\\" in part or "\0" in part for part in parts):
        return None
    target = directory.joinpath(*[part for part in parts if part])
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


def respond(conn: EsWifiSocket, status: str, body: bytes, content_type: str, head: bool) -> None:
    header = (
        f"HTTP/1.0 {status}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    conn.sendall(header if head else header + body)


def serve(
    module: Module,
    port: int,
    requests: int | None,
    *,
    directory: Path | None = None,
    read_timeout: float = READ_TIMEOUT,
) -> None:
    info = module.info()
    mac = module.mac()
    with module.socket() as server:
        server.bind(("", port))
        server.listen(6)
        host, port = server.getsockname()
        print(f"serving http://{host}:{port}/", flush=True)
        number = 0
        while requests is None or number < requests:
            conn, (peer, _) = server.accept()
            with conn:
                try:
                    request = read_request(conn, read_timeout)
                    if request is None:
                        print(f"{peer} closed without a request", flush=True)
                        continue
                    method, path = request
                    number += 1
                    status, content_type = "200 OK", "text/html; charset=utf-8"
                    if directory is None:
                        body = PAGE.format(
                            mac=mac,
                            firmware=html.escape(info.firmware),
                            path=html.escape(path),
                            number=number,
                        ).encode()
                    elif (found := find_file(directory, path)) is not None:
                        body = found.read_bytes()
                        content_type = mimetypes.guess_type(found.name)[0] or "text/plain"
                    else:
                        status, body = "404 Not Found", b"<h1>Not found</h1>\n"
                    respond(conn, status, body, content_type, method == "HEAD")
                    print(f"{peer} {method} {path} {status.split()[0]}", flush=True)
                except BadRequest as bad:
                    with contextlib.suppress(OSError):
                        respond(conn, bad.status, b"", "text/plain", False)
                    print(f"{peer} bad request: {bad.status}", flush=True)
                except LinkError:
                    raise  # the module itself is gone: nothing more to serve
                except TimeoutError:
                    print(f"{peer} sent no complete request within {read_timeout:g} s", flush=True)
                except OSError as exc:
                    print(f"{peer} failed: {exc}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="pyserial URL of the module, e.g. socket://127.0.0.1:7000")
    parser.add_argument("--link", choices=("uart", "spi"), default="uart")
    parser.add_argument("--port", type=int, default=8080, help="port to serve on (0: any)")
    parser.add_argument("--ssid", default="eswifi-lab")
    parser.add_argument("--passphrase", default="eswifi-pass")
    parser.add_argument("--requests", type=int, help="stop after this many requests")
    parser.add_argument("--directory", type=Path, help="serve the files in this directory")
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=READ_TIMEOUT,
        help=f"seconds a client has to send its request (default {READ_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if args.directory is not None and not args.directory.is_dir():
        parser.error(f"--directory {args.directory}: not a directory")
    try:
        module = Module.open(args.url, args.link)
    except LinkError as exc:  # nothing listening, console busy, host:port without socket://
        print(f"http_server: {exc}", file=sys.stderr)
        return 1
    with module:
        module.join(args.ssid, args.passphrase)
        with contextlib.suppress(KeyboardInterrupt):
            serve(
                module,
                args.port,
                args.requests,
                directory=args.directory,
                read_timeout=args.read_timeout,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
