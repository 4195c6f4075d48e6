"""Red flags over the open contracting data of a period: compiled from the same releases
``/api/ocds/compiled`` serves, so anyone can recompute them with cardinal."""

from __future__ import annotations

from typing import Any

from marketplace.audit.export import Query
from marketplace.db import Pool
from marketplace.errors import BadRequest
from marketplace.integrity.flags import INDICATORS, Flag, evaluate
from marketplace.ocds import service as ocds
from marketplace.ocds.merge import compile_releases
from marketplace.settings import Settings
from marketplace.structs import decode_cursor, encode_cursor


async def all_flags(pool: Pool, settings: Settings, query: Query) -> list[Flag]:
    compiled: list[dict[str, Any]] = []
    async with ocds.snapshot(pool) as conn:
        async for releases in ocds.auction_releases(conn, ocds.context_of(settings), query):
            compiled.append(compile_releases(releases))
    return evaluate(
        compiled, settings.ocds_prefix, settings.threshold_cents, settings.flag_min_window_days
    )


async def flag_page(
    pool: Pool,
    settings: Settings,
    query: Query,
    department_id: int | None,
    indicator: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Flag], str | None]:
    """One page of the flags of processes with releases in the period, filtered."""
    if indicator is not None and indicator not in INDICATORS:
        raise BadRequest(
            "unknown_indicator",
            f"indicator must be one of {', '.join(INDICATORS)}, got {indicator!r}",
            field="indicator",
        )
    start = (decode_cursor(cursor, tuple[int]) or (0,))[0]
    flags = [
        f
        for f in await all_flags(pool, settings, query)
        if (department_id is None or f.department_id == department_id)
        and (indicator is None or f.indicator == indicator)
    ]
    page = flags[start : start + limit]
    more = start + limit < len(flags)
    return page, encode_cursor(start + limit) if more else None
