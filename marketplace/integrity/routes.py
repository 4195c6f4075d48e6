"""Thin handler of the red flags (auditors, admins)."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import Parameter

from marketplace.audit.export import Query
from marketplace.auth import roles
from marketplace.db import Pool
from marketplace.integrity import service
from marketplace.integrity.flags import INDICATORS, Flag
from marketplace.params import Cursor, From, Limit, To
from marketplace.settings import Settings
from marketplace.structs import Page

DepartmentFilter = Annotated[
    int | None, Parameter(ge=1, le=9_223_372_036_854_775_807, description="one department's")
]
IndicatorFilter = Annotated[
    str | None, Parameter(max_length=40, description=f"one of {', '.join(INDICATORS)}")
]


@get(
    "/api/integrity/flags",
    guards=[roles("auditor", "admin")],
    tags=["open data"],
    summary="Red flags computed from the open contracting data",
)
async def list_flags(
    pool: Pool,
    settings: Settings,
    since: From = None,
    until: To = None,
    department_id: DepartmentFilter = None,
    indicator: IndicatorFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[Flag]:
    """Each flag of the processes with releases in [from, to): its ocid, auction, indicator,
    value, threshold and a sentence of explanation, by auction."""
    query = Query.parse(None, since, until)
    items, following = await service.flag_page(
        pool, settings, query, department_id, indicator, cursor, limit
    )
    return Page(items=items, next=following)


ROUTES = [list_flags]
