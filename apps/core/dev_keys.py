"""Development key pairs, generated on first use and kept in a directory.

Report signing and registry tokens each need an EC P-256 key and a
certificate; production configures them, development makes them here: once,
under a file lock (two processes starting at once must not each write half a
pair), the key written 0600 before its certificate (a key without its
certificate is made again), and made again when the certificate is about to
expire.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone


@contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    with open(directory / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def dev_key_pair(
    *,
    directory: Path,
    key_name: str,
    cert_name: str,
    certificate: Callable[[ec.EllipticCurvePrivateKey], x509.Certificate],
    renew_before: timedelta,
) -> tuple[bytes, bytes, bool]:
    """The key and certificate PEM in ``directory``, made by ``certificate``
    when missing or expiring within ``renew_before``; and whether they were
    made now."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path, cert_path = directory / key_name, directory / cert_name
    with _dir_lock(directory):
        if key_path.exists() and cert_path.exists():
            key_pem, cert_pem = key_path.read_bytes(), cert_path.read_bytes()
            cert = x509.load_pem_x509_certificate(cert_pem)
            if cert.not_valid_after_utc - renew_before > timezone.now():
                return key_pem, cert_pem, False
        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_pem = certificate(key).public_bytes(serialization.Encoding.PEM)
        # The certificate last: a key without its certificate is made again.
        _write_private(key_path, key_pem)
        _write_private(cert_path, cert_pem)
        cert_path.chmod(0o644)
        return key_pem, cert_pem, True
