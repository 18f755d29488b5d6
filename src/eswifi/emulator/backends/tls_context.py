"""SSL contexts for module TLS clients, built from the PEM bytes uploaded with ``PG``.

Credentials never touch a persistent file: the CA goes to OpenSSL with ``cadata``; a
client certificate and key (which :mod:`ssl` only loads from a path) are written to an
anonymous memory file (``memfd``) on Linux, or else to a private temporary directory
that is removed as soon as they are loaded.

Verification (``P9``): 0 → ``CERT_NONE``; 1 → ``CERT_OPTIONAL`` when a CA was uploaded
(with no CA there is nothing to check against, so nothing is checked); 2 →
``CERT_REQUIRED`` (with no CA every server fails). The module knows only the server's
address, so the name in the certificate is checked only when ``PA=1,<name>`` gave one;
that name is also sent as SNI.
"""

from __future__ import annotations

import os
import ssl
import tempfile

from eswifi.emulator import messages as m
from eswifi.errors import CredentialError


def client_context(settings: m.TlsSettings) -> ssl.SSLContext:
    """An SSL context for one TLS client connection.

    Raises:
        CredentialError: the uploaded CA, certificate or key cannot be used (not PEM or
            DER, not ASCII, or a key encrypted with a pass phrase, which is never asked for).
    """
    try:
        return _build(settings)
    except CredentialError:
        raise
    except (ssl.SSLError, ValueError, TypeError, OSError) as exc:
        raise CredentialError(f"unusable TLS credentials: {exc}") from None


def _build(settings: m.TlsSettings) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    verify = settings.verify
    if verify is m.TlsVerify.OPTIONAL and not settings.ca_pem:
        verify = m.TlsVerify.NONE
    if verify is m.TlsVerify.NONE:
        context.verify_mode = ssl.CERT_NONE
    else:
        if settings.ca_pem:
            context.load_verify_locations(cadata=_cadata(settings.ca_pem))
        context.verify_mode = (
            ssl.CERT_OPTIONAL if verify is m.TlsVerify.OPTIONAL else ssl.CERT_REQUIRED
        )
        context.check_hostname = settings.server_name is not None
    if settings.cert_pem and settings.key_pem:
        _load_identity(context, settings.cert_pem, settings.key_pem)
    return context


def server_hostname(settings: m.TlsSettings) -> str:
    """What to pass as ``server_hostname`` ("" sends no SNI and matches no name)."""
    return settings.server_name or ""


def _cadata(data: bytes) -> str | bytes:
    # PEM text goes in as str; anything else is taken as DER.
    if b"-----BEGIN" not in data:
        return data
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise CredentialError("the CA is not ASCII PEM text") from None


def _no_pass_phrase() -> bytes:
    # Without this callback OpenSSL would prompt on the terminal and block the event loop.
    raise CredentialError("the private key is encrypted (the module takes plain keys only)")


def _load_identity(context: ssl.SSLContext, certificate: bytes, key: bytes) -> None:
    identity = certificate.rstrip(b"\n") + b"\n" + key
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and os.path.isdir("/proc/self/fd"):
        fd = memfd_create("eswifi-identity", os.MFD_CLOEXEC)
        try:
            view = memoryview(identity)
            while view:
                view = view[os.write(fd, view) :]
            context.load_cert_chain(f"/proc/self/fd/{fd}", password=_no_pass_phrase)
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="eswifi-") as directory:
        path = os.path.join(directory, "identity.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as stream:
            stream.write(identity)
        context.load_cert_chain(path, password=_no_pass_phrase)
