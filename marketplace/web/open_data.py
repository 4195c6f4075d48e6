"""The open data page: what this service publishes as OCDS, when, and what it withholds."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from marketplace.audit.export import Query
from marketplace.auth import Caller
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.integrity import service as integrity
from marketplace.integrity.flags import INDICATORS
from marketplace.ocds.service import EXTENSIONS
from marketplace.web.common import render, require, web_settings

FLAGS_PAGE = 100


@get("/open-data", name="web:open_data")
async def open_data(request: Request[Any, Any, Any], viewer: Caller | None) -> Template:
    settings = web_settings(request)
    return render(
        request,
        viewer,
        "open_data.html",
        prefix=settings.ocds_prefix,
        currency=settings.currency,
        extensions=EXTENSIONS,
    )


@get("/audit/flags", name="web:audit_flags")
async def audit_flags(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    indicator: str | None = None,
    cursor: str | None = None,
) -> Template:
    """Red flags for auditors and admins, each linking to its auction and its log."""
    caller = require(viewer, "auditor", "admin")
    settings = web_settings(request)
    chosen = indicator if indicator in INDICATORS else None
    problem = None
    try:
        flags, following = await integrity.flag_page(
            pool, settings, Query(), None, chosen, cursor, FLAGS_PAGE
        )
    except DomainError as exc:
        flags, following, problem = [], None, exc.detail
    return render(
        request,
        caller,
        "audit_flags.html",
        flags=flags,
        indicators=INDICATORS,
        chosen=chosen or "",
        next_cursor=following,
        problem=problem,
        min_window_days=settings.flag_min_window_days,
    )


ROUTES = [open_data, audit_flags]
