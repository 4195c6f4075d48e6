"""The vendor registry check (``MARKETPLACE_REGISTRY_URL``, SAM.gov style).

A verification request (the ``vendor.verification_requested`` event, through the registry
consumer) records a check; the checker GETs ``{registry}/entities/{registry_id}`` and decides
through ``vendor_verification.decide_verification`` as the system: ``active`` verifies; ``inactive``,
``excluded`` or not found (404) rejects, with the registry's answer as the reason. Errors
(5xx, timeouts, unreadable answers) are retried with backoff and never decide anything.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

import httpx
import msgspec

from marketplace.accounts import registry_queries as queries
from marketplace.accounts import vendor_verification
from marketplace.accounts.schemas import VerificationDecision
from marketplace.audit.record import Actor
from marketplace.db import Conn, Pool, Row
from marketplace.errors import DomainError
from marketplace.events import VerificationRequested
from marketplace.streams.consumer import StreamEvent

log = logging.getLogger(__name__)

GROUP = "vendor-registry"
TAGS = frozenset({"vendor.verification_requested"})
TIMEOUT_SECONDS = 10.0
SYSTEM = Actor(role="system")


class RegistryUnavailable(Exception):
    """The registry did not give a usable answer; try again later."""


class RegistryEntity(msgspec.Struct, frozen=True, kw_only=True):
    registry_id: str = ""
    status: str
    name: str = ""
    kind: str = ""


async def lookup(
    client: httpx.AsyncClient, base_url: str, registry_id: str
) -> RegistryEntity | None:
    """The registry's entity, or None when it does not know the id."""
    url = f"{base_url.rstrip('/')}/entities/{quote(registry_id, safe='')}"
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise RegistryUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise RegistryUnavailable(f"the registry answered HTTP {response.status_code}")
    try:
        return msgspec.json.decode(response.content, type=RegistryEntity)
    except msgspec.DecodeError as exc:
        raise RegistryUnavailable(f"unreadable registry answer: {exc}") from exc


def decision_for(registry_id: str, entity: RegistryEntity | None) -> VerificationDecision | None:
    """The decision the registry's answer implies (None: the answer decides nothing)."""
    if entity is None:
        return VerificationDecision(status="rejected", reason=f"registry: {registry_id} not found")
    label = f"registry: {registry_id}"
    if entity.name:
        label += f" ({entity.name})"
    if entity.status == "active":
        return VerificationDecision(status="verified", reason=f"{label} is active")
    if entity.status in ("inactive", "excluded"):
        return VerificationDecision(status="rejected", reason=f"{label} is {entity.status}")
    return None


async def record_check(conn: Conn, event: StreamEvent) -> None:
    """Consumer handler for ``vendor.verification_requested``."""
    if isinstance(event.event, VerificationRequested):
        await queries.insert_check(conn, event.event_id, event.event.user_id)


class RegistryChecker:
    """Runs due registry checks; ``check_once`` is one step, ``run_forever`` the loop."""

    def __init__(
        self,
        pool: Pool,
        registry_url: str,
        *,
        batch: int = 10,
        lease_seconds: float = 60.0,
        base_delay: float = 5.0,
        max_delay: float = 900.0,
        poll_seconds: float = 0.5,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.pool = pool
        self.registry_url = registry_url
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll_seconds = poll_seconds
        self.timeout = timeout

    async def check_once(self, client: httpx.AsyncClient) -> int:
        async with self.pool.acquire() as conn:
            rows = await queries.claim_checks(conn, self.lease_seconds, self.batch)
        for row in rows:
            await self._check(client, row)
        return len(rows)

    async def _check(self, client: httpx.AsyncClient, row: Row) -> None:
        if row["verification_status"] != "pending" or not row["registry_id"]:
            await self._finish(row["id"], f"skipped: verification is {row['verification_status']}")
            return
        try:
            entity = await lookup(client, self.registry_url, row["registry_id"])
        except RegistryUnavailable as exc:
            delay = min(self.base_delay * 2 ** (row["attempts"] - 1), self.max_delay)
            log.warning("registry check %s failed (%s); retrying in %.1f s", row["id"], exc, delay)
            async with self.pool.acquire() as conn:
                await queries.retry_check(conn, row["id"], str(exc), delay)
            return
        decision = decision_for(row["registry_id"], entity)
        if decision is None:
            assert entity is not None
            await self._finish(row["id"], f"undecided: registry status {entity.status!r}")
            return
        try:
            await vendor_verification.decide_verification(
                self.pool, SYSTEM, row["user_id"], decision
            )
            outcome = f"{decision.status}: {decision.reason}"
        except DomainError as exc:  # decided meanwhile (an admin, an earlier check)
            outcome = f"skipped: {exc.detail}"
        await self._finish(row["id"], outcome)

    async def _finish(self, check_id: int, outcome: str) -> None:
        async with self.pool.acquire() as conn:
            await queries.finish_check(conn, check_id, outcome)

    async def run_forever(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client:
            while True:
                try:
                    if await self.check_once(client):
                        continue
                except Exception as exc:
                    log.warning("registry checker failed: %s", exc)
                await asyncio.sleep(self.poll_seconds)
