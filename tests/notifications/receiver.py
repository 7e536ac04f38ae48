"""A webhook receiver on a local port that checks every Standard Webhooks
signature itself, with its own HMAC, and records what it was sent."""

from __future__ import annotations

import base64
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def expected_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(
        key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, "sha256"
    )
    return base64.b64encode(mac.digest()).decode()


@dataclass
class Received:
    path: str
    msg_id: str
    timestamp: str
    signature: str
    body: bytes
    valid: bool

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next planned reply: an int status, ("sleep",
    seconds), or ("redirect", path); 200 once the plan runs out."""

    secret: str = ""
    plan: list = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/sla"

    def valid(self) -> list[Received]:
        return [r for r in self.received if r.valid]

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        body = request.rfile.read(length)
        msg_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "")
        signature = request.headers.get("webhook-signature", "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        wanted = expected_signature(self.secret, msg_id, timestamp, body)
        valid = fresh and any(
            part.startswith("v1,") and hmac.compare_digest(part[3:], wanted)
            for part in signature.split()
        )
        with self.lock:
            self.received.append(
                Received(request.path, msg_id, timestamp, signature, body, valid)
            )
            reply = self.plan.pop(0) if self.plan else 200
        if isinstance(reply, tuple) and reply[0] == "sleep":
            time.sleep(reply[1])
            reply = 200
        if isinstance(reply, tuple) and reply[0] == "redirect":
            request.send_response(302)
            request.send_header("Location", reply[1])
        else:
            request.send_response(reply if valid or reply != 200 else 401)
        request.send_header("Content-Length", "0")
        request.end_headers()


def start() -> Receiver:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            receiver.handle(self)

        def do_GET(self):
            receiver.handle(self)

        def log_message(self, *args):
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver
