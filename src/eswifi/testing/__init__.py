"""The eswifi testing kit: test host code against an emulated eS-WiFi module.

- :class:`EmulatorHarness` (``eswifi.testing.harness``): the module engine on an in-memory
  network under a manual clock; no I/O, no sleeps, fully deterministic.
- :class:`EngineLink` (``eswifi.testing.link``): a client :class:`~eswifi.client.Module`
  link to such a harness, so client code runs in virtual time.
- :class:`EmulatorProcess` (``eswifi.testing.launch``): ``eswifi emulate`` as a subprocess.
- ``eswifi.testing.transcript``: golden transcripts replayed through the harness.
- ``eswifi.testing.plugin``: the pytest fixtures ``eswifi_harness``, ``eswifi_emulator``
  and ``eswifi_module`` (installed as a pytest plugin; see docs/testing.md).

Join the built-in network, start a TCP server on port 5024, let a remote peer connect and
exchange a few bytes (``peer.received`` is what the peer got)::

    >>> bench = EmulatorHarness()
    >>> bench.send(b"C1=eswifi-lab\\rC2=eswifi-pass\\rC0\\r").endswith(b"OK\\r\\n> ")
    True
    >>> bench.send(b"P1=0\\rP2=5024\\rP5=1\\r").endswith(b"OK\\r\\n> ")
    True
    >>> peer = bench.network.connect("127.0.0.1", 5024, source=("10.0.0.7", 40000))
    >>> bench.output()
    b'\\r\\n[TCP SVR] Accepted 10.0.0.7:5024\\r\\n> '
    >>> peer.send(b"hello")
    >>> bench.send(b"R0\\r")
    b'\\r\\nhello\\r\\nOK\\r\\n> '
    >>> bench.send(b"S3=5\\rworld")
    b'\\r\\n5\\r\\nOK\\r\\n> '
    >>> bytes(peer.received)
    b'world'
"""

from eswifi.testing.harness import EmulatorHarness, ManualClock
from eswifi.testing.launch import EmulatorProcess
from eswifi.testing.link import EngineLink

__all__ = ["EmulatorHarness", "EmulatorProcess", "EngineLink", "ManualClock"]
