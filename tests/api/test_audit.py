"""The auditor's side of the audit log: browsing, signed exports and offline verification."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from marketplace.audit import signing
from marketplace.audit.verify import VerifyError, row_hash, verify_export
from marketplace.cli import build_parser
from marketplace.settings import Settings
from tests.helpers import Api, User


async def _public_key(api: Api) -> Ed25519PublicKey:
    r = await api.client.get("/api/audit/public-key")
    assert r.status_code == 200, r.text
    return signing.parse_public_key(r.json()["pem"])


async def _seed(api: Api, db: asyncpg.Connection, departments: int = 4) -> User:
    """Audit rows from real API actions, interleaved with two auction chains."""
    auditor = await api.user("auditor")
    for n in range(departments):
        dept = await api.department()
        await api.user("buyer", department_id=dept)
        for auction in (7, 8):
            await db.execute(
                "SELECT audit_append($1, $2, false, $3)",
                f"auction:{auction}",
                auction,
                f'{{"action":"auction.note","object_id":{n}}}',
            )
    return auditor


async def _export(api: Api, auditor: User, tmp_path: Path, **params: Any) -> Path:
    r = await api.client.get("/api/audit/export", params=params, headers=auditor.headers)
    assert r.status_code == 200, r.text
    path = tmp_path / f"export.{params.get('format', 'jsonl')}"
    path.write_bytes(r.content)
    return path


def _fails(path: Path, key: Ed25519PublicKey, *expected: str, manifest: Path | None = None) -> str:
    with pytest.raises(VerifyError) as info:
        verify_export(path, key, manifest)
    message = str(info.value)
    for part in expected:
        assert part in message, message
    return message


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


async def test_public_key_is_published_to_anyone(api: Api) -> None:
    r = await api.client.get("/api/audit/public-key")
    assert r.status_code == 200
    body = r.json()
    raw = base64.b64decode(body["public_key"])
    assert body["algorithm"] == "Ed25519" and len(raw) == 32
    assert body["key_id"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert signing.public_raw(signing.parse_public_key(body["pem"])) == raw
    # the same key on every call: it is kept in the data dir, not made per request
    assert (await api.client.get("/api/audit/public-key")).json() == body


async def test_only_auditors_read_the_log(api: Api) -> None:
    c = api.client
    vendor = await api.user("vendor")
    buyer = await api.buyer()
    for path in ("/api/audit/events", "/api/audit/export", "/api/audit/manifest"):
        assert (await c.get(path)).status_code == 401
        for outsider in (vendor, buyer):
            r = await c.get(path, headers=outsider.headers)
            assert r.status_code == 403 and r.json()["code"] == "role_required"
    auditor = await api.user("auditor")
    for path in ("/api/audit/events", "/api/audit/export", "/api/audit/manifest"):
        assert (await c.get(path, headers=auditor.headers)).status_code == 200


async def test_events_decode_rows_filter_and_paginate(api: Api, db: asyncpg.Connection) -> None:
    auditor = await _seed(api, db)
    total = await db.fetchval("SELECT count(*) FROM audit_log")
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        r = await api.client.get("/api/audit/events", params=params, headers=auditor.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 3
        seen.extend(page["items"])
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == total and pages >= total // 3
    # Rows are named by chain and seq: the global row id, whose gaps would count withheld
    # rows, is not shown (tests/api/test_sealed_channels.py).
    assert all("id" not in e for e in seen)
    assert len({(e["chain"], e["seq"]) for e in seen}) == total
    for chain in {e["chain"] for e in seen}:
        seqs = [e["seq"] for e in seen if e["chain"] == chain]
        assert seqs == sorted(seqs)

    dept = next(e for e in seen if e["action"] == "department.created")
    assert dept["chain"] == "global" and dept["auction_id"] is None
    assert dept["actor_id"] == api.admin.id and dept["role"] == "admin"
    assert dept["object_type"] == "department" and dept["after"]["name"].startswith("Department")
    assert dept["request_id"] and dept["before"] is None
    stored = await db.fetchrow(
        "SELECT prev_hash, hash FROM audit_log WHERE chain = $1 AND seq = $2",
        dept["chain"],
        dept["seq"],
    )
    assert dept["hash"] == stored["hash"].hex() and dept["prev_hash"] == stored["prev_hash"].hex()

    h = auditor.headers
    r = await api.client.get("/api/audit/events?action=department.created", headers=h)
    assert [e["action"] for e in r.json()["items"]] == ["department.created"] * 4
    r = await api.client.get("/api/audit/events?auction_id=8", headers=h)
    assert [(e["chain"], e["seq"]) for e in r.json()["items"]] == [
        ("auction:8", n) for n in range(1, 5)
    ]
    middle = seen[len(seen) // 2]["occurred_at"]
    r = await api.client.get("/api/audit/events", params={"from": middle, "limit": 200}, headers=h)
    later = r.json()["items"]
    r = await api.client.get("/api/audit/events", params={"to": middle, "limit": 200}, headers=h)
    earlier = r.json()["items"]
    assert later and earlier and len(later) + len(earlier) == total
    assert all(e["occurred_at"] >= middle for e in later)
    assert all(e["occurred_at"] < middle for e in earlier)


async def test_times_without_a_zone_and_other_bad_input_are_400(api: Api) -> None:
    auditor = await api.user("auditor")
    h = auditor.headers
    for path in ("/api/audit/events", "/api/audit/export", "/api/audit/manifest"):
        r = await api.client.get(path, params={"from": "2024-01-01T00:00:00"}, headers=h)
        assert r.status_code == 400 and r.json()["code"] == "invalid_time", r.text
        assert r.json()["field"] == "from"
        r = await api.client.get(path, params={"to": "yesterday"}, headers=h)
        assert r.status_code == 400 and r.json()["field"] == "to"
        r = await api.client.get(
            path, params={"from": "2024-02-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"}, headers=h
        )
        assert r.status_code == 400 and r.json()["code"] == "invalid_period"
        r = await api.client.get(path, params={"auction_id": "x"}, headers=h)
        assert r.status_code == 400
    r = await api.client.get("/api/audit/export?format=xml", headers=h)
    assert r.status_code == 400
    r = await api.client.get("/api/audit/events?cursor=%%%", headers=h)
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
    # an offset whose '+' arrived as a space is still understood
    r = await api.client.get("/api/audit/events?from=2024-01-01T00:00:00+00:00", headers=h)
    assert r.status_code == 200


async def test_jsonl_export_verifies_and_names_each_tampering(
    api: Api, db: asyncpg.Connection, tmp_path: Path
) -> None:
    auditor = await _seed(api, db)
    key = await _public_key(api)
    path = await _export(api, auditor, tmp_path, format="jsonl")
    total = await db.fetchval("SELECT count(*) FROM audit_log")
    report = verify_export(path, key)
    assert report.rows == total and report.chains == 3

    lines = _lines(path)
    rows = [msgspec.json.decode(line) for line in lines[:-1]]
    signed = msgspec.json.decode(lines[-1])
    manifest = signed["manifest"]
    assert manifest["rows"] == total and manifest["version"] == 2
    assert "first_id" not in manifest and all("id" not in r for r in rows)
    assert manifest["key_id"] == signing.key_id(key)
    assert manifest["chains"]["auction:7"]["first_seq"] == 1
    assert manifest["chains"]["auction:7"]["last_seq"] == 4
    heads = dict(await db.fetch("SELECT chain, encode(head, 'hex') FROM audit_chains"))
    assert {c: s["head"] for c, s in manifest["chains"].items()} == heads
    for r in rows:
        at = dt.datetime.fromisoformat(r["occurred_at"])
        assert r["occurred_at_us"] == (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
            microseconds=1
        )

    def write(new_lines: list[bytes]) -> Path:
        out = tmp_path / "tampered.jsonl"
        out.write_bytes(b"".join(new_lines))
        return out

    # one field of one row changed
    k = next(i for i, r in enumerate(rows, 1) if i > 3 and '"admin"' in r["data"])
    row = rows[k - 1]
    changed = dict(row, data=row["data"].replace('"admin"', '"auditor"', 1))
    assert changed != row
    edited = [*lines[: k - 1], msgspec.json.encode(changed) + b"\n", *lines[k:]]
    _fails(write(edited), key, f"line {k} ({row['chain']} seq {row['seq']})", "changed")

    # a row deleted: noticed at the next row of its chain
    k = 6
    row = rows[k - 1]
    following = next(i for i, r in enumerate(rows) if i >= k and r["chain"] == row["chain"])
    message = _fails(
        write(lines[: k - 1] + lines[k:]),
        key,
        f"chain {row['chain']} seq {row['seq']}..{row['seq']}",
        "deleted",
    )
    assert f"({rows[following]['chain']} seq {rows[following]['seq']})" in message

    # two rows swapped
    k = 3
    swapped = [*lines[: k - 1], lines[k], lines[k - 1], *lines[k + 1 :]]
    _fails(write(swapped), key, "reordered")

    # truncated: the manifest line dropped, or the last rows dropped
    _fails(write(lines[:-1]), key, "without its signed manifest line", "truncated")
    last = rows[-1]
    _fails(write([*lines[:-2], lines[-1]]), key, f"end of chain {last['chain']}", "truncated")

    # a forged manifest: rows changed, every later hash recomputed, signed with another key
    k = next(i for i, r in enumerate(rows, 1) if "Department" in r["data"])
    forged_rows = [dict(r) for r in rows]
    forged_rows[k - 1]["data"] = forged_rows[k - 1]["data"].replace("Department", "Dept", 1)
    prev: dict[str, str] = {}
    for r in forged_rows:
        if r["chain"] in prev:
            r["prev_hash"] = prev[r["chain"]]
        r["hash"] = row_hash(msgspec.convert(r, type=_row_type()))
        prev[r["chain"]] = r["hash"]
    body = [msgspec.json.encode(r) + b"\n" for r in forged_rows]
    # with the real manifest, the rehashed chain no longer ends at the signed head
    _fails(write([*body, lines[-1]]), key, f"chain {forged_rows[k - 1]['chain']}", "signed head")
    fake = dict(manifest, chains={c: dict(s) for c, s in manifest["chains"].items()})
    for name in fake["chains"]:
        fake["chains"][name]["head"] = prev[name]
    other = Ed25519PrivateKey.generate()
    forged = {"manifest": fake, "signature": signing.sign(other, fake)}
    _fails(write([*body, msgspec.json.encode(forged) + b"\n"]), key, "forged or altered")
    # and a manifest edited without re-signing
    edited_manifest = dict(signed, manifest=dict(manifest, rows=manifest["rows"] - 1))
    tampered = [*lines[:-1], msgspec.json.encode(edited_manifest) + b"\n"]
    _fails(write(tampered), key, "forged or altered")


def _row_type() -> Any:
    from marketplace.audit.schemas import ExportRow

    return ExportRow


async def test_a_version_1_export_with_row_ids_still_verifies(
    api: Api, db: asyncpg.Connection, settings: Settings, tmp_path: Path
) -> None:
    """Exports made before rows lost their global ids (manifest version 1) still verify
    offline, and their id order is still checked."""
    auditor = await _seed(api, db)
    key = await _public_key(api)
    lines = _lines(await _export(api, auditor, tmp_path, format="jsonl"))
    ids = {
        (r["chain"], r["seq"]): r["id"]
        for r in await db.fetch("SELECT id, chain, seq FROM audit_log")
    }
    rows = [msgspec.json.decode(line) for line in lines[:-1]]
    old = [{"id": ids[(r["chain"], r["seq"])], **r} for r in rows]
    manifest = dict(msgspec.json.decode(lines[-1])["manifest"], version=1)
    manifest["first_id"], manifest["last_id"] = old[0]["id"], old[-1]["id"]
    digest = hashlib.sha256()
    for r in old:
        auction = "-" if r["auction_id"] is None else str(r["auction_id"])
        digest.update(f"{r['id']} {r['chain']} {r['seq']} {auction} {r['hash']}\n".encode())
    manifest["rows_digest"] = digest.hexdigest()
    private = signing.signing_key(settings)

    def write(v1_rows: list[dict[str, Any]]) -> Path:
        out = tmp_path / "v1.jsonl"
        signed = {"manifest": manifest, "signature": signing.sign(private, manifest)}
        out.write_bytes(
            b"".join(msgspec.json.encode(r) + b"\n" for r in v1_rows)
            + signing.canonical(signed)
            + b"\n"
        )
        return out

    assert verify_export(write(old), key).rows == len(old)
    k = next(i for i in range(1, len(old)) if old[i]["chain"] != old[i - 1]["chain"])
    swapped = [*old[: k - 1], old[k], old[k - 1], *old[k + 1 :]]
    _fails(write(swapped), key, f"row id {old[k]['id']}", "reordered")


async def test_csv_export_verifies_with_its_manifest(
    api: Api, db: asyncpg.Connection, tmp_path: Path
) -> None:
    auditor = await _seed(api, db, departments=2)
    key = await _public_key(api)
    path = await _export(api, auditor, tmp_path, format="csv")
    r = await api.client.get("/api/audit/manifest", headers=auditor.headers)
    assert r.status_code == 200
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(r.content)
    total = await db.fetchval("SELECT count(*) FROM audit_log")
    text = path.read_text()
    assert text.splitlines()[0].startswith("chain,seq,auction_id,occurred_at")
    assert verify_export(path, key, manifest).rows == total
    assert r.json()["manifest"]["rows"] == total

    lines = text.splitlines(keepends=True)
    k = 4  # line 4 of the file holds the third row
    chain, seq = lines[k - 1].split(",", 2)[:2]
    lines[k - 1] = (
        lines[k - 1]
        .replace("auction.note", "auction.noted", 1)
        .replace("department.created", "department.deleted", 1)
        .replace("user.created", "user.deleted", 1)
    )
    tampered = tmp_path / "tampered.csv"
    tampered.write_text("".join(lines))
    _fails(tampered, key, f"line {k} ({chain} seq {seq})", "changed", manifest=manifest)
    # without its manifest a CSV export cannot be verified
    _fails(path, key, "--manifest")


async def test_a_period_export_verifies(api: Api, db: asyncpg.Connection, tmp_path: Path) -> None:
    auditor = await _seed(api, db)
    times = [r[0] for r in await db.fetch("SELECT occurred_at FROM audit_log ORDER BY id")]
    since, until = times[3], times[-3]
    path = await _export(
        api,
        auditor,
        tmp_path,
        format="jsonl",
        **{"from": since.isoformat(), "to": until.isoformat()},
    )
    expected = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE occurred_at >= $1 AND occurred_at < $2", since, until
    )
    report = verify_export(path, await _public_key(api))
    assert report.rows == expected
    selection = msgspec.json.decode(_lines(path)[-1])["manifest"]["selection"]
    assert selection["from"] == since.isoformat() and selection["to"] == until.isoformat()


async def _auction(db: asyncpg.Connection, status: str) -> int:
    dept = await db.fetchval("INSERT INTO departments (name) VALUES ('Sealed dept') RETURNING id")
    user = await db.fetchval(
        "INSERT INTO users (email, name, roles, department_id) "
        "VALUES ('sealed-buyer@example.gov', 'B', '{buyer}', $1) RETURNING id",
        dept,
    )
    auction_id: int = await db.fetchval(
        "INSERT INTO auctions (department_id, created_by, title, repo, type, price_cap_cents, "
        "starts_at, ends_at, scheduled_ends_at, delivery_business_days, status) "
        "VALUES ($1, $2, 'Sealed task', 'gsa/site', 'sealed', 300000, now(), "
        "now() + interval '1 hour', now() + interval '1 hour', 5, $3) RETURNING id",
        dept,
        user,
        status,
    )
    return auction_id


async def test_sealed_bids_stay_out_until_the_auction_closes(
    api: Api, db: asyncpg.Connection, tmp_path: Path
) -> None:
    auditor = await api.user("auditor")
    key = await _public_key(api)
    auction = await _auction(db, "open")
    chain = f"auction:{auction}"
    append = "SELECT audit_append($1, $2, $3, $4)"
    await db.execute(append, chain, auction, False, '{"action":"auction.opened"}')
    await db.execute(append, chain, auction, True, '{"action":"bid.placed","amount":250000}')
    await db.execute(append, chain, auction, True, '{"action":"bid.placed","amount":240000}')
    await db.execute(append, "global", None, False, '{"action":"other"}')
    h = auditor.headers

    async def visible() -> list[tuple[str, int]]:
        r = await api.client.get("/api/audit/events", params={"limit": 200}, headers=h)
        return [(e["chain"], e["seq"]) for e in r.json()["items"] if e["chain"] != "global"]

    # while open: the chain stops before its first sealed row, everywhere
    assert await visible() == [(chain, 1)]
    path = await _export(api, auditor, tmp_path, format="jsonl", auction_id=auction)
    assert b"bid.placed" not in path.read_bytes()
    assert verify_export(path, key).rows == 1
    r = await api.client.get(f"/api/audit/manifest?auction_id={auction}", headers=h)
    manifest = r.json()["manifest"]
    assert manifest["rows"] == 1 and manifest["chains"][chain]["last_seq"] == 1
    assert "withheld" in manifest["sealed_rule"]
    csv_path = await _export(api, auditor, tmp_path, format="csv")
    assert b"bid.placed" not in csv_path.read_bytes()

    for status in ("draft", "scheduled"):
        await db.execute("UPDATE auctions SET status = $1 WHERE id = $2", status, auction)
        assert await visible() == [(chain, 1)]

    # closed: every row shows and the whole chain verifies
    await db.execute("UPDATE auctions SET status = 'awarded' WHERE id = $1", auction)
    assert await visible() == [(chain, 1), (chain, 2), (chain, 3)]
    path = await _export(api, auditor, tmp_path, format="jsonl", auction_id=auction)
    assert path.read_bytes().count(b"bid.placed") == 2
    assert verify_export(path, key).rows == 3


async def test_export_streams_many_rows(api: Api, db: asyncpg.Connection, tmp_path: Path) -> None:
    auditor = await api.user("auditor")
    await db.execute(
        """SELECT audit_append('global', NULL, false, '{"action":"x"}')
           FROM generate_series(1, 20000)"""
    )
    total = await db.fetchval("SELECT count(*) FROM audit_log")
    assert total > 20000
    path = await _export(api, auditor, tmp_path, format="jsonl")
    assert len(_lines(path)) == total + 1
    assert verify_export(path, await _public_key(api)).rows == total
    path = await _export(api, auditor, tmp_path, format="csv")
    assert len(path.read_text().splitlines()) == total + 1


async def test_command_line_exports_and_verifies(
    api: Api, db: asyncpg.Connection, settings: Settings, tmp_path: Path, capsys: Any
) -> None:
    await _seed(api, db, departments=2)
    total = await db.fetchval("SELECT count(*) FROM audit_log")
    r = await api.client.get("/api/audit/public-key")
    pem = tmp_path / "key.pem"
    pem.write_text(r.json()["pem"])
    out = tmp_path / "cli.jsonl"
    parser = build_parser()

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        result: int = args.func(settings, args)
        return result

    assert await asyncio.to_thread(run, "audit", "export", "--output", str(out)) == 0
    captured = capsys.readouterr()
    assert f"{total}/{total} rows" in captured.err
    assert await asyncio.to_thread(run, "audit", "verify", str(out), "--public-key", str(pem)) == 0
    assert f"OK: {total} rows in 3 chains" in capsys.readouterr().out

    one = tmp_path / "auction7.csv"
    argv = ["audit", "export", "--format", "csv", "--auction-id", "7", "--output", str(one)]
    assert await asyncio.to_thread(run, *argv) == 0
    r = await api.client.get(
        "/api/audit/manifest?auction_id=7", headers=(await api.user("auditor")).headers
    )
    manifest = tmp_path / "auction7.json"
    manifest.write_bytes(r.content)
    argv = ["audit", "verify", str(one), "--public-key", str(pem), "--manifest", str(manifest)]
    assert await asyncio.to_thread(run, *argv) == 0
    assert "OK: 2 rows in 1 chains" in capsys.readouterr().out

    lines = _lines(out)
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"".join([*lines[:2], *lines[3:]]))
    argv = ["audit", "verify", str(broken), "--public-key", str(pem)]
    assert await asyncio.to_thread(run, *argv) == 1
    assert "FAILED" in capsys.readouterr().out
    argv = ["audit", "export", "--from", "2024-01-01T00:00:00", "--output", str(out)]
    assert await asyncio.to_thread(run, *argv) == 2


def test_signing_keys_parse_from_pem_hex_and_base64(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    raw = signing.public_raw(key.public_key())
    pem = signing._pem(key)
    for text in (
        pem,
        seed.hex(),
        base64.b64encode(seed).decode(),
        base64.urlsafe_b64encode(seed).decode().rstrip("="),
    ):
        assert signing.public_raw(signing.parse_private_key(text).public_key()) == raw
    for bad in ("nope", "00" * 31, base64.b64encode(b"x" * 31).decode()):
        with pytest.raises(ValueError):
            signing.parse_private_key(bad)
    generated = Settings(data_dir=tmp_path / "fresh")
    first = signing.signing_key(generated)
    assert (tmp_path / "fresh" / "signing_key").stat().st_mode & 0o777 == 0o600
    signing._load.cache_clear()
    assert signing.public_raw(signing.signing_key(generated).public_key()) == signing.public_raw(
        first.public_key()
    )
    manifest = {"b": 1, "a": {"d": 2, "c": dt.date(2024, 1, 1).isoformat()}}
    signature = signing.sign(key, manifest)
    assert signing.verify(key.public_key(), dict(reversed(manifest.items())), signature)
    assert not signing.verify(key.public_key(), {**manifest, "b": 2}, signature)


async def test_a_selection_that_splits_a_chain_records_its_gaps(
    api: Api, db: asyncpg.Connection, tmp_path: Path
) -> None:
    auditor = await api.user("auditor")
    key = await _public_key(api)
    # a chain shared by rows of auction 5 and rows of no auction: selecting auction 5 skips seqs
    for n in range(1, 7):
        await db.execute(
            "SELECT audit_append('misc', $1, false, $2)",
            5 if n in (1, 2, 4, 6) else None,
            f'{{"action":"n{n}"}}',
        )
    path = await _export(api, auditor, tmp_path, format="jsonl", auction_id=5)
    lines = _lines(path)
    manifest = msgspec.json.decode(lines[-1])["manifest"]
    gaps = manifest["chains"]["misc"]["gaps"]
    assert [(g["after_seq"], g["next_seq"]) for g in gaps] == [(2, 4), (4, 6)]
    assert verify_export(path, key).rows == 4
    # a row deleted next to a recorded gap is still named
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"".join([*lines[:2], *lines[3:]]))
    _fails(broken, key, "line 3", "chain misc seq 4..5", "deleted")


async def test_concurrent_appends_to_a_new_chain_link_without_gaps(
    pool: Any, db: asyncpg.Connection
) -> None:
    """Eight connections append to one chain that does not exist yet (so they race for its
    first entry, then for its row): every entry gets its own seq, 1..N without a gap, each
    links to the one before it, and the stored hashes are what verification recomputes."""
    writers, each = 8, 25

    async def writer(n: int) -> None:
        async with pool.acquire() as conn:
            for k in range(each):
                async with conn.transaction():
                    await conn.execute(
                        "SELECT audit_append('race:1', NULL, false, $1)",
                        f'{{"action":"race.note","writer":{n},"k":{k}}}',
                    )

    await asyncio.gather(*(writer(n) for n in range(writers)))
    rows = await db.fetch(
        """SELECT seq, occurred_at, data, prev_hash, hash FROM audit_log
           WHERE chain = 'race:1' ORDER BY seq"""
    )
    assert [r["seq"] for r in rows] == list(range(1, writers * each + 1))
    prev = b""
    for r in rows:
        assert bytes(r["prev_hash"]) == prev
        micros = (r["occurred_at"] - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
            microseconds=1
        )
        body = f"race:1\n{r['seq']}\n{micros}\n{r['data']}".encode()
        assert bytes(r["hash"]) == hashlib.sha256(prev + body).digest()
        prev = bytes(r["hash"])
    head = await db.fetchrow("SELECT seq, head FROM audit_chains WHERE chain = 'race:1'")
    assert head["seq"] == writers * each and bytes(head["head"]) == prev
