"""A department's spend per local period against the micro-purchase threshold: who sees it,
how periods are cut, and the kept days it is read from (sql/functions/spend_days.sql)."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

import asyncpg

from marketplace import policy
from marketplace.auctions import queries as auction_queries
from marketplace.auth import Caller
from marketplace.db import Pool, Row
from marketplace.errors import BadRequest, Forbidden, NotFound
from marketplace.params import check_period
from marketplace.settings import Settings
from marketplace.transparency import queries
from marketplace.transparency.schemas import (
    DepartmentRef,
    PeriodUnit,
    Spend,
    SpendPeriod,
    SpendTotals,
)

# A spend report lists at most this many periods (100 years of months).
MAX_PERIODS = 1200


MONTHS = {"month": 1, "quarter": 3, "year": 12}


SPEND_DEFINITIONS = {
    "awards": "active awards (a superseded or declined award of a re-awarded auction is not "
    "counted) by the local period of their awarded_at",
    "committed_cents": "sum of the active awards' amounts",
    "paid_cents": "sum of the active awards whose auction reached paid or payment_confirmed "
    "(derived from the auction status)",
    "near_threshold": "active awards of at least 90% of the micro-purchase threshold",
    "near_cap": "active awards of at least 90% of their auction's price cap",
    "periods": "local calendar periods in the deployment's time zone; start inclusive, end "
    "exclusive; from/to select awards by awarded_at",
}


log = logging.getLogger(__name__)


def may_see_spend(caller: Caller, department_id: int) -> bool:
    """Its buyers, finance of that department or central finance, auditors and admins."""
    if caller.has("admin") or caller.has("auditor"):
        return True
    if policy.buys_for(caller, department_id):
        return True
    return caller.has("finance") and caller.department_id in (None, department_id)


def _period_start(day: dt.date, unit: PeriodUnit) -> dt.date:
    step = MONTHS[unit]
    return dt.date(day.year, (day.month - 1) // step * step + 1, 1)


def _next_period(start: dt.date, unit: PeriodUnit) -> dt.date:
    month = start.month - 1 + MONTHS[unit]
    return dt.date(start.year + month // 12, month % 12 + 1, 1)


def _label(start: dt.date, unit: PeriodUnit) -> str:
    if unit == "year":
        return f"{start.year}"
    if unit == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year}-{start.month:02d}"


def _local_midnight(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone)


async def spend(
    pool: Pool,
    settings: Settings,
    caller: Caller,
    department_id: int,
    unit: PeriodUnit,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> Spend:
    """Spend per local period; every period between the first and last is listed."""
    check_period(since, until)
    zone = settings.zone
    async with pool.acquire() as conn:
        name = await queries.department_name(conn, department_id)
        if name is None:
            raise NotFound("department_not_found", "no such department")
        if not may_see_spend(caller, department_id):
            raise Forbidden(
                "not_your_department",
                "only the department's buyers, its or central finance, auditors and admins "
                "see its spend",
            )
        if await queries.spend_kept(conn, settings.timezone, settings.threshold_cents):
            kept, counted = _stretches(since, until, zone)
        else:  # the basis differs (the API has not recounted yet): every award counted
            kept, counted = None, [(since or queries.EVER[0], until or queries.EVER[1])]
        days = await queries.spend_by_day(
            conn, department_id, settings.timezone, settings.threshold_cents, kept, counted
        )
        now = await auction_queries.now(conn)
    periods = _spend_periods(
        _by_period(days, unit), unit, zone, since, until, now, settings.threshold_cents
    )
    return Spend(
        department=DepartmentRef(id=department_id, name=name),
        period=unit,
        timezone=settings.timezone,
        threshold_cents=settings.threshold_cents,
        periods=periods,
        totals=SpendTotals(
            awards=sum(p.awards for p in periods),
            committed_cents=sum(p.committed_cents for p in periods),
            paid_cents=sum(p.paid_cents for p in periods),
            paid_awards=sum(p.paid_awards for p in periods),
            near_threshold=sum(p.near_threshold for p in periods),
            near_cap=sum(p.near_cap for p in periods),
        ),
        definitions=SPEND_DEFINITIONS,
    )


SPEND_COUNTS = (
    "awards",
    "committed_cents",
    "paid_cents",
    "paid_awards",
    "near_threshold",
    "near_cap",
)


def _stretches(
    since: dt.datetime | None, until: dt.datetime | None, zone: zoneinfo.ZoneInfo
) -> tuple[tuple[dt.date | None, dt.date | None] | None, list[tuple[dt.datetime, dt.datetime]]]:
    """The whole local days in [since, until) (first, end; None: unbounded) read from the
    kept days, and the stretches before and after them that from/to cut from a day, counted
    from the awards. No whole day inside: the one stretch [since, until)."""
    first = None if since is None else _day_at_or_after(since, zone)
    end = None if until is None else until.astimezone(zone).date()
    first_at = None if first is None else _local_midnight(first, zone)
    end_at = None if end is None else _local_midnight(end, zone)
    if since is not None and until is not None:
        assert first_at is not None and end_at is not None
        if first_at >= end_at:
            return None, [(since, until)]
    counted = []
    if since is not None and first_at is not None and since < first_at:
        counted.append((since, first_at))
    if until is not None and end_at is not None and end_at < until:
        counted.append((end_at, until))
    return (first, end), counted


def _day_at_or_after(at: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.date:
    day = at.astimezone(zone).date()
    return day if _local_midnight(day, zone) == at else day + dt.timedelta(days=1)


def _by_period(days: list[Row], unit: PeriodUnit) -> dict[dt.date, dict[str, int]]:
    """The days' counts summed per period (each day comes once: kept whole, or the part
    of it a from/to cut, counted from its awards)."""
    found: dict[dt.date, dict[str, int]] = {}
    for day in days:
        counts = found.setdefault(_period_start(day["start"], unit), dict.fromkeys(SPEND_COUNTS, 0))
        for name in SPEND_COUNTS:
            counts[name] += day[name]
    return found


async def keep_spend_days(pool: Pool, settings: Settings) -> None:
    """At start-up: the kept spend days count in this deployment's zone and threshold
    (recounted when they did not). Should PostgreSQL refuse, reports count the awards."""
    try:
        async with pool.acquire() as conn:
            if await queries.rebuild_spend(conn, settings.timezone, settings.threshold_cents):
                log.info(
                    "spend days recounted for %s, threshold %s",
                    settings.timezone,
                    settings.threshold_cents,
                )
    except asyncpg.PostgresError as exc:
        log.warning("spend days not kept (reports count the awards): %s", exc)


def _spend_periods(
    found: dict[dt.date, dict[str, int]],
    unit: PeriodUnit,
    zone: zoneinfo.ZoneInfo,
    since: dt.datetime | None,
    until: dt.datetime | None,
    now: dt.datetime,
    threshold_cents: int,
) -> list[SpendPeriod]:
    """Every local period from the first to the last, the empty ones included."""
    current = _period_start(now.astimezone(zone).date(), unit)
    first = _period_start(since.astimezone(zone).date(), unit) if since else None
    last = (
        _period_start((until - dt.timedelta(microseconds=1)).astimezone(zone).date(), unit)
        if until
        else None
    )
    # Without bounds, from the first period with an award (or the current one) to now.
    first = first or (min(found) if found else current)
    last = last or current
    periods: list[SpendPeriod] = []
    day = first
    while day <= last:
        if len(periods) >= MAX_PERIODS:
            raise BadRequest(
                "period_range_too_long",
                f"at most {MAX_PERIODS} periods per report; narrow from/to or use a longer period",
                field="from",
            )
        row = found.get(day)
        end = _next_period(day, unit)
        periods.append(
            SpendPeriod(
                label=_label(day, unit),
                start=_local_midnight(day, zone),
                end=_local_midnight(end, zone),
                awards=row["awards"] if row else 0,
                committed_cents=row["committed_cents"] if row else 0,
                paid_cents=row["paid_cents"] if row else 0,
                paid_awards=row["paid_awards"] if row else 0,
                threshold_cents=threshold_cents,
                near_threshold=row["near_threshold"] if row else 0,
                near_cap=row["near_cap"] if row else 0,
            )
        )
        day = end
    return periods
