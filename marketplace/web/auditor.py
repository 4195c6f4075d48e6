"""Auditor pages: the event browser, export downloads, and verifying an uploaded export.

The browser's filters take local times in a named zone; the export links carry the same
selection as UTC times. The session cannot send a Bearer token, so the exports are
streamed here by the same audit functions as ``/api/audit/export``. Verification runs the
offline checker (``marketplace audit verify``) against this deployment's public key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import zoneinfo
from pathlib import Path
from typing import Any, Literal

import msgspec
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.response import Response, Stream, Template

from marketplace.audit import export, signing
from marketplace.audit.verify import VerifyError, verify_export
from marketplace.auth import Caller
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.params import AuctionFilter, From, To
from marketplace.settings import Settings
from marketplace.web import zoned
from marketplace.web.common import count, render, require, web_settings

PAGE_SIZE = 50
UPLOAD_LIMIT = 50 * 1024 * 1024
AUCTION_ID_MAX = 9_223_372_036_854_775_807


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    """The browser's filters as typed (for the form) and as a checked audit selection."""

    values: dict[str, str]
    query: export.Query
    action: str | None
    problems: list[str]

    def link_params(self) -> dict[str, str]:
        """The selection as query parameters of the export links (UTC times)."""
        params = {}
        if self.query.auction_id is not None:
            params["auction_id"] = str(self.query.auction_id)
        if self.query.since is not None:
            params["from"] = export_time(self.query.since)
        if self.query.until is not None:
            params["to"] = export_time(self.query.until)
        return params


def export_time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def read_filters(
    auction: str | None,
    since: str | None,
    until: str | None,
    action: str | None,
    tz: str | None,
    default_zone: zoneinfo.ZoneInfo,
) -> Filters:
    """The filters; what cannot be read is left out and said so, never an error page."""
    problems = []
    zone = zoned.zone_named(tz, default_zone)
    if zone is None:
        problems.append(zoned.unknown_zone_message(tz, default_zone))
        zone = default_zone
        since = until = None
    values = {
        "auction": (auction or "").strip()[:20],
        "from": (since or "").strip()[:40],
        "to": (until or "").strip()[:40],
        "action": (action or "").strip()[:100],
        "tz": zone.key,
    }
    auction_id = None
    if values["auction"]:
        if values["auction"].isdigit() and 1 <= int(values["auction"]) <= AUCTION_ID_MAX:
            auction_id = int(values["auction"])
        else:
            problems.append(
                "The auction must be an auction number, such as 12; showing every auction."
            )
    times: dict[str, str | None] = {}
    for name, label in (("from", "From"), ("to", "To")):
        at = zoned.from_input(values[name], zone) if values[name] else None
        if values[name] and at is None:
            problems.append(f"“{label}” is not a date and time; it is left out.")
        times[name] = at.isoformat() if at else None
    try:
        query = export.Query.parse(auction_id, times["from"], times["to"])
    except DomainError as exc:
        problems.append(
            "“From” must be before “To”; the period is left out."
            if exc.code == "invalid_period"
            else f"{exc.detail}; the period is left out."
        )
        query = export.Query(auction_id=auction_id)
    return Filters(values=values, query=query, action=values["action"] or None, problems=problems)


@get("/audit", name="web:audit")
async def audit_events(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    auction: str | None = None,
    since: str | None = None,
    until: str | None = None,
    action: str | None = None,
    tz: str | None = None,
    cursor: str | None = None,
) -> Template:
    caller = require(viewer, "auditor", "admin")
    settings = web_settings(request)
    filters = read_filters(auction, since, until, action, tz, settings.zone)
    items, following = await export.list_events(
        pool, settings.secret_key, filters.query, filters.action, cursor, PAGE_SIZE
    )
    zone = zoneinfo.ZoneInfo(filters.values["tz"])
    page_params = {
        "auction": filters.values["auction"],
        "since": filters.values["from"],
        "until": filters.values["to"],
        "action": filters.values["action"],
        "tz": zone.key,
    }
    return render(
        request,
        caller,
        "audit.html",
        events=items,
        filters=filters,
        form_zone=zone.key,
        zone_fixed=zoned.zone_named(tz, settings.zone) is None,
        instants=zoned.instants(filters.values, ["from", "to"], zone),
        page_params={k: v for k, v in page_params.items() if v},
        export_params=filters.link_params(),
        next_cursor=following,
        first_page=not cursor,
        may_export=caller.has("auditor"),
    )


@get("/audit/export", name="web:audit_export")
async def audit_export(
    pool: Pool,
    settings: Settings,
    viewer: Caller | None,
    format: Literal["jsonl", "csv"] = "jsonl",
    auction_id: AuctionFilter = None,
    since: From = None,
    until: To = None,
) -> Stream:
    """The same stream as ``GET /api/audit/export``, for a signed-in auditor's browser."""
    require(viewer, "auditor")
    file = export.download(pool, settings, format, auction_id, since, until)
    return Stream(
        file.chunks,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


@get("/audit/manifest", name="web:audit_manifest")
async def audit_manifest(
    pool: Pool,
    settings: Settings,
    viewer: Caller | None,
    auction_id: AuctionFilter = None,
    since: From = None,
    until: To = None,
) -> Response[bytes]:
    """The signed manifest of a selection, as a file (it verifies a CSV export)."""
    require(viewer, "auditor")
    query = export.Query.parse(auction_id, since, until)
    signed = await export.signed_manifest(pool, query, signing.signing_key(settings))
    name = f"audit-{query.auction_id or 'all'}.manifest.json"
    return Response(
        msgspec.json.encode(signed),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@get("/audit/verify", name="web:audit_verify")
async def verify_form(request: Request[Any, Any, Any], viewer: Caller | None) -> Template:
    caller = require(viewer, "auditor", "admin")
    return render(request, caller, "audit_verify.html", result=None)


# The verifier's words for the command line, said for this page instead.
WEB_WORDS = {
    "manifest_missing": "a CSV export is checked against its signed manifest: choose that "
    "file too (download it from the audit log, beside the CSV)",
    "manifest_unsigned": "the file chosen as the manifest holds no signed manifest",
}


def _check(export_file: Path, manifest_file: Path | None, settings: Settings) -> tuple[bool, str]:
    key = signing.signing_key(settings).public_key()
    try:
        report = verify_export(export_file, key, manifest_file)
    except VerifyError as exc:
        return False, WEB_WORDS.get(exc.code, str(exc))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return False, f"the file could not be read as an audit export ({exc.__class__.__name__})"
    return True, (
        f"{count(report.rows, 'row')} in {count(report.chains, 'chain')}, signed with key "
        f"{report.key_id}: nothing changed, missing or reordered."
    )


async def _save(upload: UploadFile, into: Path) -> None:
    with into.open("wb") as out:
        while chunk := await upload.read(64 * 1024):
            out.write(chunk)


@post("/audit/verify", name="web:audit_verify_post", request_max_body_size=UPLOAD_LIMIT)
async def verify_upload(
    request: Request[Any, Any, Any], settings: Settings, viewer: Caller | None
) -> Template:
    caller = require(viewer, "auditor", "admin")
    form = await request.form()
    upload, manifest = form.get("export"), form.get("manifest")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return render(
            request,
            caller,
            "audit_verify.html",
            status=400,
            result=None,
            error="Choose the export file to verify.",
        )
    with tempfile.TemporaryDirectory(prefix="audit-verify-") as tmp:
        export_file = Path(tmp) / "export"
        await _save(upload, export_file)
        manifest_file = None
        if isinstance(manifest, UploadFile) and manifest.filename:
            manifest_file = Path(tmp) / "manifest"
            await _save(manifest, manifest_file)
        ok, message = await asyncio.to_thread(_check, export_file, manifest_file, settings)
    return render(
        request,
        caller,
        "audit_verify.html",
        status=200 if ok else 422,
        result={"ok": ok, "message": message, "filename": upload.filename},
    )


ROUTES = [audit_events, audit_export, audit_manifest, verify_form, verify_upload]
