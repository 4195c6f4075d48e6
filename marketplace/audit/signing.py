"""The deployment's Ed25519 key that signs audit export manifests.

``MARKETPLACE_SIGNING_KEY`` holds the private key as either a PEM block (PKCS#8,
``-----BEGIN PRIVATE KEY-----``) or the raw 32-byte seed written as 64 hex digits or
base64 (standard or URL-safe, padding optional). When it is unset, a key is generated
once into ``<data_dir>/signing_key`` (PEM, mode 0600) and reused by every process that
shares the data dir.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from marketplace.settings import Settings, SettingsError

# Canonical bytes of a manifest: msgspec JSON with every object's keys sorted.
_canonical = msgspec.json.Encoder(order="sorted")


def canonical(value: Any) -> bytes:
    """The bytes a signature covers: compact JSON, keys sorted at every level."""
    return _canonical.encode(value)


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """A private key from PEM, or from a 32-byte seed in hex or base64."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"MARKETPLACE_SIGNING_KEY is not a usable PEM key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SettingsError("MARKETPLACE_SIGNING_KEY must be an Ed25519 key")
        return key
    seed: bytes | None = None
    if len(text) == 64:
        try:
            seed = bytes.fromhex(text)
        except ValueError:
            seed = None
    if seed is None:
        try:
            seed = base64.b64decode(
                text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
            )
        except (binascii.Error, ValueError):
            seed = None
    if seed is None or len(seed) != 32:
        raise SettingsError(
            "MARKETPLACE_SIGNING_KEY must be a PEM Ed25519 private key or a 32-byte seed "
            "in hex or base64"
        )
    return Ed25519PrivateKey.from_private_bytes(seed)


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from PEM (SubjectPublicKeyInfo) or from 32 raw bytes in base64 or hex."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key is not an Ed25519 key")
        return key
    raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    return Ed25519PublicKey.from_public_bytes(raw)


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _generated(data_dir: Path) -> str:
    """The PEM in ``<data_dir>/signing_key``, written once (atomically) if missing."""
    path = data_dir / "signing_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".signing_key.")
        try:
            with os.fdopen(fd, "w") as fh:  # mkstemp creates the file with mode 0600
                fh.write(_pem(Ed25519PrivateKey.generate()))
            # link() refuses to replace: if another process won the race, its key is used.
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return path.read_text()


@functools.lru_cache(maxsize=8)
def _load(configured: str, data_dir: Path) -> Ed25519PrivateKey:
    return parse_private_key(configured or _generated(data_dir))


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The deployment's signing key (configured, or generated into the data dir)."""
    return _load(settings.signing_key, settings.data_dir)


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: ``sha256:`` and the hex digest of its raw bytes."""
    return "sha256:" + hashlib.sha256(public_raw(key)).hexdigest()


def sign(key: Ed25519PrivateKey, manifest: Any) -> str:
    """The base64 Ed25519 signature over the manifest's canonical bytes."""
    return base64.b64encode(key.sign(canonical(manifest))).decode()


def verify(key: Ed25519PublicKey, manifest: Any, signature: str) -> bool:
    """Whether the signature is the key's over the manifest's canonical bytes."""
    try:
        key.verify(base64.b64decode(signature, validate=True), canonical(manifest))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
