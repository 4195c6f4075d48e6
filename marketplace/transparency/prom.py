"""Prometheus metrics: per-process HTTP counters and the text exposition format 0.0.4.

Each API process counts its own requests (Prometheus sums processes at query time);
gauges about the marketplace itself are read from the database at scrape time, so they
agree whichever process answers. Everything here runs on the event loop, one thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import get_args

from arq.connections import ArqRedis
from litestar.types import Scope
from redis.exceptions import RedisError

from marketplace.auctions.schemas import Status
from marketplace.db import Conn, Pool
from marketplace.deliveries import queries as delivery_queries
from marketplace.github import queries as github_queries
from marketplace.redis import WORKER_HEARTBEAT_KEY
from marketplace.transparency import figures, queries

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Prometheus client libraries' default buckets, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Requests that matched no route share one label, so scanners cannot explode the series.
UNMATCHED = "unmatched"

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if value != int(value) else str(int(value))


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


class Family:
    """One metric family: its name, help text, type and samples, rendered as text."""

    def __init__(self, name: str, help: str, kind: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.kind = kind
        self.label_names = tuple(label_names)

    def header(self) -> list[str]:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return [f"# HELP {self.name} {help_text}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class Counter(Family):
    def __init__(self, name: str, help: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help, "counter", label_names)
        self.values: dict[Labels, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def render(self) -> list[str]:
        return [
            *self.header(),
            *(
                f"{self.name}{_labels(self.label_names, k)} {_number(v)}"
                for k, v in sorted(self.values.items())
            ),
        ]


class Histogram(Family):
    def __init__(
        self, name: str, help: str, label_names: Sequence[str] = (), buckets: Sequence[float] = ()
    ) -> None:
        super().__init__(name, help, "histogram", label_names)
        self.buckets = tuple(sorted(buckets or BUCKETS))
        self.counts: dict[Labels, list[int]] = {}
        self.sums: dict[Labels, float] = {}

    def observe(self, value: float, *labels: str) -> None:
        counts = self.counts.setdefault(labels, [0] * (len(self.buckets) + 1))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
        counts[-1] += 1  # +Inf, which is also the count
        self.sums[labels] = self.sums.get(labels, 0.0) + value

    def render(self) -> list[str]:
        lines = self.header()
        names = (*self.label_names, "le")
        for key, counts in sorted(self.counts.items()):
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                lines.append(f"{self.name}_bucket{_labels(names, (*key, _number(bound)))} {count}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {self.sums[key]!r}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {counts[-1]}")
        return lines


class Gauge(Family):
    """A gauge whose samples are given at render time (read from the database)."""

    def __init__(
        self,
        name: str,
        help: str,
        samples: Iterable[tuple[Labels, float]],
        label_names: Sequence[str] = (),
    ) -> None:
        super().__init__(name, help, "gauge", label_names)
        self.samples = list(samples)

    def render(self) -> list[str]:
        return [
            *self.header(),
            *(f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in self.samples),
        ]


class StoredCounter(Gauge):
    """A counter kept in the database (summed over every worker), read at scrape time."""

    def __init__(self, name: str, help: str, value: float) -> None:
        super().__init__(name, help, [((), value)])
        self.kind = "counter"


REQUESTS = Counter(
    "marketplace_http_requests_total",
    "HTTP requests answered by this process, by method, route template and status.",
    ("method", "route", "status"),
)
DURATION = Histogram(
    "marketplace_http_request_duration_seconds",
    "Time from receiving a request to the end of its response, by method and route template.",
    ("method", "route"),
)


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """Count one answered HTTP request and its duration, labelled by the route template
    (not the path), as the request middleware (app.py) reports it."""
    route = scope.get("path_template") or UNMATCHED
    method = str(scope.get("method", "GET"))
    REQUESTS.inc(method, route, str(status))
    DURATION.observe(seconds, method, route)


def render(families: Iterable[Family]) -> str:
    """The text exposition format: each family's HELP, TYPE and samples; a final newline."""
    lines: list[str] = []
    for family in families:
        lines.extend(family.render())
    return "\n".join(lines) + "\n"


# workers/heartbeat.py sets the heartbeat key with this expiry (marketplace/ never imports
# workers/; tests/api/test_transparency.py checks the two agree). Age = expiry - time left.
HEARTBEAT_TTL_SECONDS = 10


async def scrape(pool: Pool, redis: ArqRedis, figures_max_age: float) -> str:
    """This process's HTTP metrics, the outbox and worker gauges read right now, and the
    auction and bid gauges from the platform figures (at most ``figures_max_age`` old)."""
    counted = await figures.current(pool, figures_max_age)
    by_status = counted.all_by_status
    async with pool.acquire() as conn:
        row = await queries.scrape_gauges(conn)
        stored = await _stored_counters(conn)
    statuses = get_args(Status)
    gauges = [
        Gauge(
            "marketplace_auctions",
            "Auctions by current status (drafts included).",
            [((s,), float(by_status.get(s, 0))) for s in statuses],
            ("status",),
        ),
        Gauge(
            "marketplace_open_auctions",
            "Auctions open for bidding.",
            [((), float(by_status.get("open", 0)))],
        ),
        Gauge(
            "marketplace_bids",
            "Active public bids (a sealed auction's are counted only after its close).",
            [((), float(counted.metrics.bids.total))],
        ),
        Gauge(
            "marketplace_outbox_backlog",
            "Outbox events not yet relayed to Redis streams.",
            [((), float(row["outbox_backlog"]))],
        ),
        Gauge(
            "marketplace_outbox_oldest_unrelayed_seconds",
            "Age of the oldest outbox event not yet relayed (0 when none waits).",
            [((), row["outbox_oldest_seconds"] or 0.0)],
        ),
        *await _worker_gauges(redis),
    ]
    return render([REQUESTS, DURATION, *gauges, *stored])


async def _worker_gauges(redis: ArqRedis) -> list[Gauge]:
    """Whether a worker is alive, from its heartbeat key's time to live."""
    try:
        left_ms = await redis.pttl(WORKER_HEARTBEAT_KEY)
    except RedisError:
        left_ms = None  # Redis down: the worker gauges say unknown (NaN), not "no worker"
    worker_up = math.nan if left_ms is None else float(left_ms > 0)
    heartbeat_age = (
        max(0.0, HEARTBEAT_TTL_SECONDS - left_ms / 1000) if left_ms and left_ms > 0 else math.nan
    )
    return [
        Gauge(
            "marketplace_worker_up",
            "1 when a worker heartbeat is present in Redis, 0 when none, NaN if Redis failed.",
            [((), worker_up)],
        ),
        Gauge(
            "marketplace_worker_heartbeat_age_seconds",
            "Seconds since the latest worker heartbeat (NaN when there is none).",
            [((), heartbeat_age)],
        ),
    ]


async def _stored_counters(conn: Conn) -> list[StoredCounter]:
    """Counters kept in PostgreSQL, so every API process reports the same totals."""
    repairs = await github_queries.redelivery_counts(conn)
    verification_errors = await delivery_queries.count_verification_errors(conn)
    return [
        StoredCounter(
            "marketplace_github_redeliveries_asked_total",
            "Redeliveries of missed webhooks asked of GitHub (marketplace/github/repair.py).",
            float(repairs["asked"]),
        ),
        StoredCounter(
            "marketplace_github_webhooks_given_up_total",
            "Missed webhooks given up: out of redelivery attempts or past GitHub's 3 days.",
            float(repairs["given_up"]),
        ),
        StoredCounter(
            "marketplace_verification_errors_total",
            "Verification attempts that could not read GitHub (unavailable, refused, or an "
            "unexpected answer), one per reason in a row; each is retried.",
            float(verification_errors),
        ),
    ]
