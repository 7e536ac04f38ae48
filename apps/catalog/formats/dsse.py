"""DSSE envelopes (https://github.com/secure-systems-lab/dsse): read, and the
bytes their signatures cover.

Pure: a parsed JSON object in, an ``Envelope`` out, or a refusal naming what
is wrong. The pre-authentication encoding is the one the DSSE protocol fixes:
``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths as ASCII
decimal byte counts. Nothing here decides whether a signature is trusted.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from .keys import SIGNATURE_MAX_BYTES

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
# An envelope carries one signature per signer; a handful is generous.
SIGNATURES_MAX = 16
KEYID_MAX_CHARS = 512
PAYLOAD_TYPE_MAX_CHARS = 256


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of a payload and its type."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def envelope_json(
    *, payload_type: str, payload: bytes, signatures: list[tuple[str, bytes]]
) -> bytes:
    """A DSSE envelope as JSON bytes: the payload and each (key id, signature
    over its PAE) in standard base64, as ``envelope_read`` reads it back."""
    return json.dumps(
        {
            "payloadType": payload_type,
            "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [
                {"keyid": keyid, "sig": base64.b64encode(sig).decode("ascii")}
                for keyid, sig in signatures
            ],
        },
        indent=2,
    ).encode()


def _refuse(where: str, problem: str) -> ValidationError:
    return ValidationError(
        f"Not a valid DSSE envelope at {where}: {problem}.", code="malformed"
    )


def b64decode(value: str) -> bytes:
    """Standard or URL-safe base64, padded or not (DSSE implementations write
    either); ValueError when it is neither."""
    data = "".join(value.split())
    data += "=" * (-len(data) % 4)
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(data, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise ValueError("not base64")


def envelope_read(obj: Any, where: str = "$") -> Envelope:
    """Read a DSSE envelope from parsed JSON; every signature's bytes decoded."""
    if not isinstance(obj, dict):
        raise _refuse(where, "expected an object")
    payload_type = obj.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise _refuse(f"{where}.payloadType", "expected a non-empty string")
    if len(payload_type) > PAYLOAD_TYPE_MAX_CHARS:
        raise _refuse(f"{where}.payloadType", "longer than any payload type")
    raw = obj.get("payload")
    if not isinstance(raw, str) or not raw:
        raise _refuse(f"{where}.payload", "expected a non-empty base64 string")
    try:
        payload = b64decode(raw)
    except ValueError:
        raise _refuse(f"{where}.payload", "not base64") from None
    signatures = obj.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise _refuse(f"{where}.signatures", "expected a list of {keyid, sig}")
    if len(signatures) > SIGNATURES_MAX:
        raise _refuse(
            f"{where}.signatures",
            f"{len(signatures)} signatures; at most {SIGNATURES_MAX} are read",
        )
    read = []
    for i, item in enumerate(signatures):
        at = f"{where}.signatures[{i}]"
        if not isinstance(item, dict):
            raise _refuse(at, "expected an object")
        keyid = item.get("keyid") or ""
        if not isinstance(keyid, str) or len(keyid) > KEYID_MAX_CHARS:
            raise _refuse(f"{at}.keyid", "expected a short string")
        sig = item.get("sig")
        if not isinstance(sig, str) or not sig:
            raise _refuse(f"{at}.sig", "expected a non-empty base64 string")
        # Base64 is 4/3 the size: refuse a huge one before decoding it.
        if len(sig) > SIGNATURE_MAX_BYTES * 2:
            raise _refuse(
                f"{at}.sig",
                f"a signature of {len(sig)} characters; no key this portal "
                f"takes makes one over {SIGNATURE_MAX_BYTES} bytes",
            )
        try:
            decoded = b64decode(sig)
        except ValueError:
            raise _refuse(f"{at}.sig", "not base64") from None
        if len(decoded) > SIGNATURE_MAX_BYTES:
            raise _refuse(
                f"{at}.sig",
                f"a signature of {len(decoded)} bytes; no key this portal takes "
                f"makes one over {SIGNATURE_MAX_BYTES}",
            )
        read.append(Signature(keyid=keyid, sig=decoded))
    return Envelope(payload_type=payload_type, payload=payload, signatures=tuple(read))
