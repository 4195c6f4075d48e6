"""The work behind `marketplace audit export` and `marketplace audit verify`."""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request
from pathlib import Path
from typing import TextIO

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from marketplace.audit import export, signing
from marketplace.audit.verify import VerifyError, verify_export
from marketplace.errors import DomainError
from marketplace.settings import Settings


class Progress:
    """A progress bar on a terminal stream, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, unit: str = "rows") -> None:
        # The stream is looked up when the bar is made, not when this module was imported:
        # sys.stderr may have been replaced since (and the one of that time closed).
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.unit = unit
        self._drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._drawn < 0.1:
            return
        self._drawn = now
        share = done / total if total else 1.0
        filled = int(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {share:6.1%} {done}/{total} {self.unit}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run_export(
    settings: Settings,
    database_url: str,
    fmt: export.Format,
    auction_id: int | None,
    since: str | None,
    until: str | None,
    output: Path | None,
) -> int:
    """Export from the database to a file (or stdout); 0 on success, 2 on a bad selection."""
    try:
        query = export.Query.parse(auction_id, since, until)
    except DomainError as exc:
        print(f"marketplace audit export: {exc.detail}", file=sys.stderr)
        return 2
    key = signing.signing_key(settings)
    progress = Progress()
    if output is None:
        rows = asyncio.run(
            export.export_to_file(database_url, query, fmt, key, sys.stdout.buffer, progress)
        )
    else:
        with output.open("wb") as out:
            rows = asyncio.run(export.export_to_file(database_url, query, fmt, key, out, progress))
        print(f"wrote {rows} rows to {output}", file=sys.stderr)
    return 0


def _fetch_public_key(url: str) -> str:
    with urllib.request.urlopen(url.rstrip("/") + "/api/audit/public-key", timeout=10) as r:
        body = msgspec.json.decode(r.read())
    return str(body["pem"])


def _public_key(settings: Settings, pem_file: Path | None, url: str | None) -> Ed25519PublicKey:
    if pem_file is not None:
        return signing.parse_public_key(pem_file.read_text())
    if url is not None:
        return signing.parse_public_key(_fetch_public_key(url))
    if settings.signing_key or (settings.data_dir / "signing_key").exists():
        return signing.signing_key(settings).public_key()
    raise ValueError("give --public-key PEMFILE or --url of the service")


def run_verify(
    settings: Settings, path: Path, pem_file: Path | None, url: str | None, manifest: Path | None
) -> int:
    """Verify an export offline; prints OK with the counts, or the first problem (exit 1)."""
    try:
        key = _public_key(settings, pem_file, url)
        report = verify_export(path, key, manifest)
    except VerifyError as exc:
        print(f"FAILED: {path}: {exc}")
        return 1
    except (OSError, ValueError) as exc:
        print(f"marketplace audit verify: {exc}", file=sys.stderr)
        return 2
    print(f"OK: {report.rows} rows in {report.chains} chains verified; signed by {report.key_id}")
    return 0
