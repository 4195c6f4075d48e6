"""Thin handlers of open contracting: OCDS release and record packages, compiled releases."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from litestar.response import Stream

from marketplace.audit.export import Query
from marketplace.auth import anyone
from marketplace.db import Pool
from marketplace.errors import NotFound
from marketplace.ocds import mapping, service
from marketplace.params import AuctionFilter, From, To
from marketplace.settings import Settings

PACKAGE = "application/json"
LINES = "application/x-ndjson"


def _not_modified(request: Request[Any, Any, Any], etag: str) -> Response[None] | None:
    wanted = {t.strip() for t in request.headers.get("if-none-match", "").split(",")}
    if etag in wanted or "*" in wanted:
        return Response(None, status_code=304, headers={"ETag": etag})
    return None


def _uri(request: Request[Any, Any, Any], settings: Settings) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{service.base_url(settings)}{request.url.path}{query}"


@get(
    "/api/ocds/releases",
    guards=[anyone],
    tags=["open data"],
    summary="An OCDS 1.1 release package of the auctions' releases, streamed",
)
async def releases(
    request: Request[Any, Any, Any],
    pool: Pool,
    settings: Settings,
    auction_id: AuctionFilter = None,
    since: From = None,
    until: To = None,
) -> Stream | Response[None]:
    """Every release dated within [from, to) (of one auction with auction_id), with the bids
    and techniques extensions; sealed bids appear only in releases dated at or after close,
    reverse-auction bidders by alias until close. ETag and If-None-Match (304)."""
    query = Query.parse(auction_id, since, until)
    etag, published = await service.fingerprint(pool, settings, "releases", request.url.query)
    if (cached := _not_modified(request, etag)) is not None:
        return cached
    return Stream(
        service.stream_release_package(pool, settings, query, _uri(request, settings), published),
        media_type=PACKAGE,
        headers={"ETag": etag},
    )


@get(
    "/api/ocds/records/{ocid:str}",
    guards=[anyone],
    tags=["open data"],
    summary="An OCDS record package: one auction's releases and its compiled release",
)
async def record(
    ocid: Annotated[str, Parameter(max_length=100)],
    request: Request[Any, Any, Any],
    pool: Pool,
    settings: Settings,
) -> Response[Any]:
    """404 for an ocid of another prefix, an unknown auction or one not yet published."""
    auction_id = mapping.auction_id_of(settings.ocds_prefix, ocid)
    missing = NotFound("ocid_not_found", f"no published contracting process has ocid {ocid!r}")
    if auction_id is None or auction_id > 9_223_372_036_854_775_807:
        raise missing
    etag, published = await service.fingerprint(pool, settings, "record", ocid)
    if (cached := _not_modified(request, etag)) is not None:
        return cached
    package = await service.record_package(
        pool, settings, auction_id, _uri(request, settings), published
    )
    if package is None:
        raise missing
    return Response(package, media_type=PACKAGE, headers={"ETag": etag})


@get(
    "/api/ocds/compiled",
    guards=[anyone],
    tags=["open data"],
    summary="Compiled releases as JSON Lines, one per auction (what indicator tools read)",
)
async def compiled(
    request: Request[Any, Any, Any],
    pool: Pool,
    settings: Settings,
    since: From = None,
    until: To = None,
) -> Stream | Response[None]:
    """Each auction with releases in [from, to), compiled from those releases."""
    query = Query.parse(None, since, until)
    etag, _ = await service.fingerprint(pool, settings, "compiled", request.url.query)
    if (cached := _not_modified(request, etag)) is not None:
        return cached
    return Stream(
        service.stream_compiled(pool, settings, query), media_type=LINES, headers={"ETag": etag}
    )


ROUTES = [releases, record, compiled]
