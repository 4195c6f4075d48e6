"""Offline verification of an audit export against its signed manifest.

Recomputes every row hash from the row's own fields, follows each chain link, and checks
the row count, first and last seqs, heads, gaps and digest against the manifest, whose
Ed25519 signature is checked first. It reads the file once (plus its last line) and keeps
one small record per chain, so exports of any size verify in constant memory. The first
problem found is reported with its line number and the row's chain and seq (version 1
exports, which carried the log's global row ids, are read too and name the row id).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from marketplace.audit import signing
from marketplace.audit.export import digest_line, micros
from marketplace.audit.record import chain_of
from marketplace.audit.schemas import (
    CSV_COLUMNS,
    CSV_COLUMNS_V1,
    MANIFEST_VERSION,
    ExportRow,
    ExportRowV1,
    Manifest,
)


class VerifyError(Exception):
    """The first thing wrong with an export, said so a person can find it; ``code`` names
    the problems whose words differ between the command line and the web page."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Report:
    rows: int
    chains: int
    key_id: str


@dataclass
class _Seen:
    seq: int
    hash: str
    name: str  # how messages name the row
    line: int


def row_hash(row: ExportRow) -> str:
    """sha256(prev_hash || chain '\\n' seq '\\n' micros '\\n' data), as audit_append computes it."""
    body = f"{row.chain}\n{row.seq}\n{row.occurred_at_us}\n{row.data}".encode()
    return hashlib.sha256(bytes.fromhex(row.prev_hash) + body).hexdigest()


def _name(row: ExportRow) -> str:
    if isinstance(row, ExportRowV1):
        return f"row id {row.id}"
    return f"{row.chain} seq {row.seq}"


def _where(line: int, row: ExportRow | None = None) -> str:
    return f"line {line}" + (f" ({_name(row)})" if row is not None else "")


def _last_line(path: Path) -> bytes:
    """The file's last non-empty line, read backwards in blocks (a manifest of many chains
    can be long)."""
    block = 1 << 16
    with path.open("rb") as fh:
        end = fh.seek(0, 2)
        tail = b""
        while end > 0:
            start = max(0, end - block)
            fh.seek(start)
            tail = fh.read(end - start) + tail
            end = start
            stripped = tail.rstrip(b"\r\n")
            if b"\n" in stripped:
                return stripped.rsplit(b"\n", 1)[-1]
    return tail.rstrip(b"\r\n")


def _signed_line(raw: bytes) -> dict[str, Any] | None:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if isinstance(value, dict) and "manifest" in value:
        return value
    return None


def check_manifest(signed: Any, key: Ed25519PublicKey) -> Manifest:
    """The manifest, once its signature is the key's; otherwise a VerifyError."""
    if not isinstance(signed, dict) or not isinstance(signed.get("signature"), str):
        raise VerifyError("the manifest is malformed: it needs 'manifest' and 'signature'")
    raw = signed.get("manifest")
    expected = signing.key_id(key)
    if not signing.verify(key, raw, signed["signature"]):
        stated = raw.get("key_id") if isinstance(raw, dict) else None
        other = f" (it names key {stated})" if stated and stated != expected else ""
        raise VerifyError(
            f"the manifest's signature does not verify with key {expected}{other}: "
            "the manifest was forged or altered"
        )
    try:
        return msgspec.convert(raw, Manifest)
    except msgspec.ValidationError as exc:
        raise VerifyError(f"the signed manifest has an unknown shape: {exc}") from None


class _StrictRow(ExportRow, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """An export row and nothing more: a field the row hash does not cover would be read by
    someone as part of the signed record, so a row with one is refused."""


class _StrictRowV1(ExportRowV1, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A version 1 export row and nothing more."""


_UNKNOWN = re.compile(r"unknown field `([^`]*)`")


def _jsonl_rows(path: Path, version: int) -> Iterator[tuple[int, ExportRow | None, bytes]]:
    """(line number, row or None for a manifest line, raw line) for each non-empty line."""
    decoder = msgspec.json.Decoder(_StrictRowV1 if version == 1 else _StrictRow)
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            try:
                yield number, decoder.decode(line), line
            except msgspec.ValidationError as exc:
                if _signed_line(line) is not None:
                    yield number, None, line
                    continue
                unknown = _UNKNOWN.search(str(exc))
                if unknown is not None:
                    row = _lenient(line, version)
                    raise VerifyError(
                        f"{_where(number, row)}: field {unknown.group(1)!r} is not part of an"
                        " export row nor covered by its hash (added)"
                    ) from None
                raise VerifyError(f"line {number}: not an export row (changed)") from None
            except msgspec.DecodeError:
                raise VerifyError(f"line {number}: not valid JSON (changed or cut)") from None


def _lenient(line: bytes, version: int) -> ExportRow | None:
    """The row a line holds, extra fields ignored (to name it in a refusal), or None."""
    try:
        return msgspec.json.decode(line, type=ExportRowV1 if version == 1 else ExportRow)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def _csv_rows(path: Path, version: int) -> Iterator[tuple[int, ExportRow | None, bytes]]:
    columns = CSV_COLUMNS_V1 if version == 1 else CSV_COLUMNS
    shape = ExportRowV1 if version == 1 else ExportRow
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise VerifyError("the CSV file is empty")
        if tuple(header) != columns:
            raise VerifyError(f"line 1: the CSV header must be {','.join(columns)}")
        for values in reader:
            number = reader.line_num
            if len(values) != len(columns):
                raise VerifyError(f"line {number}: expected {len(columns)} columns (changed)")
            fields: dict[str, Any] = dict(zip(columns, values, strict=True))
            try:
                for name in ("id", "seq", "occurred_at_us"):
                    if name in fields:
                        fields[name] = int(fields[name])
                fields["auction_id"] = int(fields["auction_id"]) if fields["auction_id"] else None
                row = shape(**fields)
            except (ValueError, TypeError):
                raise VerifyError(f"line {number}: a field is not of its type (changed)") from None
            yield number, row, b""


def _ahead(rows: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
    """Each item with the one after it (None at the end)."""
    current = next(rows, None)
    while current is not None:
        following = next(rows, None)
        yield current, following
        current = following


def _check_row(line: int, row: ExportRow) -> None:
    if row_hash(row) != row.hash:
        raise VerifyError(f"{_where(line, row)}: the row does not match its hash (changed)")
    try:
        at = dt.datetime.fromisoformat(row.occurred_at)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or micros(at) != row.occurred_at_us:
        raise VerifyError(f"{_where(line, row)}: occurred_at differs from occurred_at_us (changed)")
    if row.chain == "global" or row.chain.startswith("auction:"):
        if chain_of(row.auction_id) != row.chain:
            raise VerifyError(f"{_where(line, row)}: auction_id does not match its chain (changed)")


def _check_link(line: int, row: ExportRow, seen: dict[str, _Seen], manifest: Manifest) -> None:
    summary = manifest.chains.get(row.chain)
    if summary is None:
        raise VerifyError(
            f"{_where(line, row)}: chain {row.chain} is not in the manifest (row added)"
        )
    last = seen.get(row.chain)
    if last is None:
        if row.seq > summary.first_seq:
            raise VerifyError(
                f"{_where(line, row)}: rows missing before it: chain {row.chain} "
                f"seq {summary.first_seq}..{row.seq - 1} (deleted)"
            )
        if row.seq < summary.first_seq or row.prev_hash != summary.first_prev_hash:
            raise VerifyError(
                f"{_where(line, row)}: chain {row.chain} should start at seq "
                f"{summary.first_seq} (row added or changed)"
            )
        return
    if row.seq <= last.seq:
        raise VerifyError(
            f"{_where(line, row)}: chain {row.chain} seq {row.seq} comes after seq {last.seq} "
            f"({last.name}, line {last.line}): rows reordered or duplicated"
        )
    if row.seq > last.seq + 1:
        gap = next((g for g in summary.gaps if g.after_seq == last.seq), None)
        if gap is None or gap.next_seq != row.seq or gap.after_hash != last.hash:
            # Seqs the manifest says are outside the selection are not missing.
            first_missing = gap.next_seq if gap and gap.next_seq < row.seq else last.seq + 1
            raise VerifyError(
                f"{_where(line, row)}: rows missing before it: chain {row.chain} "
                f"seq {first_missing}..{row.seq - 1} (deleted)"
            )
    elif row.prev_hash != last.hash:
        raise VerifyError(
            f"{_where(line, row)}: does not link to the previous row of chain {row.chain} "
            f"({last.name}, line {last.line}): a row was changed or inserted"
        )


def _check_end(manifest: Manifest, seen: dict[str, _Seen], count: int, digest: str) -> None:
    for name, summary in manifest.chains.items():
        last = seen.get(name)
        if last is None:
            raise VerifyError(
                f"all {summary.rows} rows of chain {name} are missing "
                f"(seq {summary.first_seq}..{summary.last_seq}, deleted)"
            )
        if last.seq < summary.last_seq:
            raise VerifyError(
                f"rows missing at the end of chain {name}: seq {last.seq + 1}..{summary.last_seq} "
                f"after line {last.line} ({last.name}): deleted or truncated"
            )
        if last.hash != summary.head:
            raise VerifyError(
                f"chain {name}: its last row ({last.name}, line {last.line}) does not "
                "match the signed head: rows were changed and their hashes recomputed"
            )
    if count != manifest.rows:
        raise VerifyError(f"the file holds {count} rows, the manifest {manifest.rows}")
    if digest != manifest.rows_digest:
        raise VerifyError(
            "the rows' order, chains, seqs or auction ids differ from the manifest's digest "
            "(rows changed or reordered)"
        )


def verify_export(path: Path, key: Ed25519PublicKey, manifest_file: Path | None = None) -> Report:
    """Check an export (JSONL, or CSV with its manifest file); raise VerifyError if wrong."""
    with path.open("rb") as fh:
        first = fh.read(1)
    if not first:
        raise VerifyError("the file is empty")
    is_jsonl = first == b"{"
    if manifest_file is not None:
        signed = _signed_line(manifest_file.read_bytes())
        if signed is None:
            raise VerifyError(f"{manifest_file} holds no signed manifest", "manifest_unsigned")
    elif is_jsonl:
        last = _last_line(path)
        signed = _signed_line(last)
        if signed is None:
            count = sum(1 for _ in _jsonl_rows(path, MANIFEST_VERSION))
            raise VerifyError(
                f"the file ends without its signed manifest line after {count} rows: truncated"
            )
    else:
        raise VerifyError(
            "a CSV export needs its manifest (GET /api/audit/manifest): --manifest",
            "manifest_missing",
        )
    manifest = check_manifest(signed, key)
    if manifest.version not in (1, MANIFEST_VERSION):
        raise VerifyError(f"manifest version {manifest.version} is not one this verifier reads")

    rows = (_jsonl_rows if is_jsonl else _csv_rows)(path, manifest.version)
    seen: dict[str, _Seen] = {}
    digest = hashlib.sha256()
    count = 0
    manifest_line_at = None
    for (line, row, _), following in _ahead(rows):
        if row is None:
            manifest_line_at = line
            if following is not None:
                raise VerifyError(f"line {line}: a manifest line in the middle of the file")
            continue
        after = following[1] if following is not None else None
        at = following[0] if following is not None else 0
        if isinstance(row, ExportRowV1) and isinstance(after, ExportRowV1) and after.id <= row.id:
            raise VerifyError(
                f"{_where(line, row)}: rows out of order: row id {after.id} follows "
                f"at line {at} (reordered)"
            )
        if after is not None and after.chain == row.chain and after.seq < row.seq:
            raise VerifyError(
                f"{_where(line, row)}: rows out of order: {_name(after)} follows "
                f"at line {at} (reordered)"
            )
        _check_row(line, row)
        _check_link(line, row, seen, manifest)
        seen[row.chain] = _Seen(row.seq, row.hash, _name(row), line)
        digest.update(digest_line(row))
        count += 1
    if is_jsonl and manifest_file is None and manifest_line_at is None:
        raise VerifyError("the file ends without its signed manifest line: truncated")
    _check_end(manifest, seen, count, digest.hexdigest())
    return Report(rows=count, chains=len(seen), key_id=signing.key_id(key))
