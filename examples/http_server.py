"""A small HTTP server that runs *on the module*, written with eswifi's client sockets.

The module listens (multi-accept server, P5=11); each request is read with
``makefile().readline()`` like any Python socket server, answered, and the connection
closed (``P5=10``), so the next browser request is accepted. Try it against the emulator::

    eswifi emulate --listen 127.0.0.1:7000 &
    python examples/http_server.py socket://127.0.0.1:7000
    curl http://127.0.0.1:8080/

The first line printed is ``serving http://<module ip>:<port>/``.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import sys

from eswifi.client import Module

PAGE = """<!doctype html>
<html><head><title>eS-WiFi</title></head>
<body><h1>Hello from the eS-WiFi module</h1>
<p>Module {mac}, firmware {firmware}.</p>
<p>You asked for <code>{path}</code>; this is request {number}.</p>
</body></html>
"""


def serve(module: Module, port: int, requests: int | None) -> None:
    info = module.info()
    mac = module.mac()
    with module.socket() as server:
        server.bind(("", port))
        server.listen(4)
        host, port = server.getsockname()
        print(f"serving http://{host}:{port}/", flush=True)
        number = 0
        while requests is None or number < requests:
            conn, (peer, _) = server.accept()
            number += 1
            with conn:
                conn.settimeout(10)
                with conn.makefile("rb") as reader:
                    request = reader.readline().decode("latin-1").split()
                    while reader.readline() not in (b"\r\n", b"\n", b""):
                        pass  # skip the headers
                path = request[1] if len(request) >= 2 else "/"
                body = PAGE.format(
                    mac=mac,
                    firmware=html.escape(info.firmware),
                    path=html.escape(path),
                    number=number,
                ).encode()
                head = (
                    "HTTP/1.0 200 OK\r\n"
                    "Content-Type: text/html; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n"
                ).encode()
                conn.sendall(head + body)
            print(f"{peer} GET {path}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="pyserial URL of the module, e.g. socket://127.0.0.1:7000")
    parser.add_argument("--link", choices=("uart", "spi"), default="uart")
    parser.add_argument("--port", type=int, default=8080, help="port to serve on (0: any)")
    parser.add_argument("--ssid", default="eswifi-lab")
    parser.add_argument("--passphrase", default="eswifi-pass")
    parser.add_argument("--requests", type=int, help="stop after this many requests")
    args = parser.parse_args(argv)
    with Module.open(args.url, args.link) as module:
        module.join(args.ssid, args.passphrase)
        with contextlib.suppress(KeyboardInterrupt):
            serve(module, args.port, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
