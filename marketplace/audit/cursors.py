"""Sealed positions for paging through the audit log's event browser.

The browser pages in the log's internal row order, but the row id counts every row,
withheld ones included (DESIGN §8): gaps between the ids of two visible rows would tell how
many bids an open auction holds. A cursor is therefore the position encrypted with AES-GCM
under a key derived from the deployment's secret: a client hands it back but can neither
read nor forge it.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from marketplace.errors import BadRequest

_NONCE = 12


def _cipher(secret: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"marketplace audit cursor\n" + secret.encode()).digest())


def seal(secret: str, position: int) -> str:
    """The cursor of the page after the row at ``position``."""
    nonce = os.urandom(_NONCE)
    box = _cipher(secret).encrypt(nonce, position.to_bytes(8, "big"), None)
    return base64.urlsafe_b64encode(nonce + box).decode().rstrip("=")


def unseal(secret: str, cursor: str | None) -> int:
    """The position a cursor holds (0 for none); one this service did not issue is a 400."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        plain = _cipher(secret).decrypt(raw[:_NONCE], raw[_NONCE:], None)
    except (ValueError, InvalidTag):
        raise BadRequest(
            "invalid_cursor", "the cursor is not one this service issued", field="cursor"
        ) from None
    return int.from_bytes(plain, "big")
