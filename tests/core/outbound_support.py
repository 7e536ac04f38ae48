"""Helpers for tests of the outbound policy (apps/core/outbound.py)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REAL_GETADDRINFO = socket.getaddrinfo


def production_rules(settings) -> None:
    """The outbound rules production runs with by default (test_settings checks
    that DJANGO_ENV=production gives these): https only, no local networks,
    and names that do not resolve refused."""
    settings.DEV_MODE = False
    settings.OUTBOUND_ALLOW_HTTP = False
    settings.OUTBOUND_ALLOW_NETWORKS = []


def fake_dns(
    monkeypatch, answers: dict[str, Callable[[], list[str] | None]]
) -> list[str]:
    """Patch the system resolver: each name in ``answers`` resolves to what its
    function returns at that moment (None: the name does not exist); other
    names resolve as usual. Returns the log of names looked up."""
    looked_up: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        looked_up.append(name)
        if name not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        found = answers[name]()
        if found is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (ip, port or 0, 0, 0) if ":" in ip else (ip, port or 0),
            )
            for ip in found
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


@dataclass
class Listener:
    """A TCP socket on a local address that records who connected and answers
    each connection with ``reply`` (raw HTTP bytes)."""

    host: str = "127.0.0.1"
    port: int = 0
    # None: accept, read the request and never answer.
    reply: bytes | None = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    requests: list[bytes] = field(default_factory=list)
    sock: socket.socket | None = None

    def start(self) -> Listener:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def _serve(self) -> None:
        assert self.sock is not None
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    self.requests.append(data)
                    if self.reply is None:
                        time.sleep(3)
                    else:
                        conn.sendall(self.reply)
                except OSError:
                    self.requests.append(data)

    def stop(self) -> None:
        if self.sock is not None:
            # shutdown wakes the accept() the serving thread is blocked in.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()


def http_reply(status: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class TlsServer:
    """An https server on 127.0.0.1 with a certificate for ``hostname`` from a
    throwaway CA (``ca_file``); records the SNI name and Host of each request."""

    hostname: str
    ca_file: Path
    port: int = 0
    seen: list[tuple[str | None, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _certificates(hostname: str, directory: Path) -> tuple[Path, Path, Path]:
    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Test CA"))
        .issuer_name(name("Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_file.write_bytes(ca.public_bytes(pem))
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


def tls_server(hostname: str, directory: Path) -> TlsServer:
    ca_file, cert_file, key_file = _certificates(hostname, directory)
    result = TlsServer(hostname=hostname, ca_file=ca_file)
    sni: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, server_name, ctx: sni.append(server_name)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            result.seen.append((sni[-1] if sni else None, self.headers["Host"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    result.server = server
    result.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return result
