r"""Send a message to a TCP echo server through the module and print what comes back.

The module connects out (``P3``/``P4``/``P6=1``), sends with ``sendall`` (``S3``) and
reads with ``recv`` (``R0``) until the whole message has come back::

    eswifi emulate --listen 127.0.0.1:7000 &
    python -c "import socket; s = socket.create_server(('127.0.0.1', 7007)); [c.sendall(d) \
        for c, _ in iter(s.accept, None) for d in iter(lambda: c.recv(4096), b'')]" &  # echo server
    python examples/echo_client.py socket://127.0.0.1:7000 127.0.0.1 7007 "hello"

Host names are resolved by the module (``D0``). Exit status 0 when the echo matches, 1
otherwise (a refused connection or a link that cannot be opened is one line on stderr).
"""

from __future__ import annotations

import argparse
import sys

from eswifi.client import Module
from eswifi.errors import LinkError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="pyserial URL of the module, e.g. socket://127.0.0.1:7000")
    parser.add_argument("host", help="echo server host (name or IPv4)")
    parser.add_argument("port", type=int, help="echo server port")
    parser.add_argument("message", nargs="?", default="hello, echo")
    parser.add_argument("--link", choices=("uart", "spi"), default="uart")
    parser.add_argument("--ssid", default="eswifi-lab")
    parser.add_argument("--passphrase", default="eswifi-pass")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    message = args.message.encode()
    try:
        module = Module.open(args.url, args.link)
    except LinkError as exc:  # nothing listening, console busy, host:port without socket://
        print(f"echo_client: {exc}", file=sys.stderr)
        return 1
    with module:
        module.join(args.ssid, args.passphrase)
        with module.socket() as sock:
            sock.settimeout(args.timeout)
            try:
                sock.connect((args.host, args.port))
            except ConnectionRefusedError:
                print(
                    f"echo_client: {args.host}:{args.port} refused the connection; "
                    "is an echo server running there?",
                    file=sys.stderr,
                )
                return 1
            sock.sendall(message)
            echoed = bytearray()
            while len(echoed) < len(message):
                chunk = sock.recv(len(message) - len(echoed))
                if not chunk:
                    break
                echoed += chunk
    print(echoed.decode(errors="replace"))
    return 0 if echoed == message else 1


if __name__ == "__main__":
    sys.exit(main())
