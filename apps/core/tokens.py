"""Random secrets shown once and stored only as a SHA-256."""

import hashlib
import secrets


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def secret_hash(raw: str) -> str:
    # The secrets are 256-bit random, so a fast hash is enough: there is nothing
    # to brute-force that a slow hash would protect.
    return hashlib.sha256(raw.encode()).hexdigest()
