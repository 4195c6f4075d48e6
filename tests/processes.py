"""The service as real command-line processes for fault tests (killed, restarted, starved),
and bidders hammering the API they serve."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import User, auction_body


class Processes:
    """Command-line processes started by one test, each in its own process group."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.folder = Path(tempfile.mkdtemp(prefix="mpf"))
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.folder / f"{args[0]}-{len(self.started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "marketplace.cli", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process and anything it started (its process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.folder.glob("*.log"))
        )

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                self.kill(proc)


@contextlib.contextmanager
def processes(database_url: str, redis_url: str) -> Iterator[Processes]:
    env = dict(os.environ)
    env.update(
        MARKETPLACE_DATABASE_URL=database_url,
        MARKETPLACE_REDIS_URL=redis_url,
        MARKETPLACE_DATA_DIR=tempfile.mkdtemp(prefix="mpd"),
        MARKETPLACE_SWEEP_SECONDS="0.3",
        MARKETPLACE_MIN_AUCTION_SECONDS="1",
        MARKETPLACE_PAYMENT_HOLD_SECONDS="0",
        MARKETPLACE_LOG_LEVEL="info",
        MARKETPLACE_BID_LIMIT_PER_MINUTE="1000000",
    )
    procs = Processes(env)
    try:
        yield procs
    finally:
        procs.cleanup()


class Bidders:
    """Vendors bidding the price down as fast as the API answers, recording every answer."""

    def __init__(self, http: httpx.AsyncClient, aid: int, vendors: list[User]) -> None:
        self.http = http
        self.aid = aid
        self.vendors = vendors
        self.allowed = 5_000_000
        self.acknowledged: dict[int, int] = {}  # bid id -> amount, from 201 answers
        self.answers: list[tuple[float, int, str | None, str | None]] = []
        self.stop = False

    async def run(self, vendor: User) -> None:
        while not self.stop:
            amount = self.allowed
            try:
                r = await self.http.post(
                    f"/api/auctions/{self.aid}/bids",
                    json={"amount_cents": amount},
                    headers=vendor.headers,
                )
            except httpx.TransportError as exc:
                self.answers.append((time.monotonic(), 0, type(exc).__name__, None))
                await asyncio.sleep(0.05)
                continue
            body = r.json()
            self.answers.append(
                (time.monotonic(), r.status_code, body.get("code"), r.headers.get("retry-after"))
            )
            if r.status_code == 201:
                self.acknowledged[body["id"]] = amount
                self.allowed = min(self.allowed, amount - 100)
            elif r.status_code == 422:
                self.allowed = min(self.allowed, body["max_allowed_cents"])
            elif r.status_code in (409, 503):
                await asyncio.sleep(0.05)


async def setup_http(http: httpx.AsyncClient, admin: User) -> tuple[int, list[User]]:
    """A department, its buyer, three verified vendors and a published auction, made by
    ``admin`` over ``http`` as an outside client would."""

    async def post(path: str, body: Any, user: User) -> Any:
        r = await http.post(path, json=body, headers=user.headers)
        assert r.status_code in (200, 201), r.text
        return r.json()

    dept = (await post("/api/departments", {"name": "Faults"}, admin))["id"]

    async def user(role: str, n: int, department: int | None = None) -> User:
        body: dict[str, Any] = {"email": f"{role}{n}@faults.gov", "name": role, "roles": [role]}
        if department is not None:
            body["department_id"] = department
        created = await post("/api/users", body, admin)
        token = await post(f"/api/users/{created['id']}/tokens", None, admin)
        return User(created["id"], token["token"])

    buyer = await user("buyer", 0, dept)
    vendors = []
    for n in range(3):
        vendor = await user("vendor", n)
        await post(
            f"/api/vendors/{vendor.id}/verification",
            {"status": "verified", "reason": "ok"},
            admin,
        )
        vendors.append(vendor)
    aid = (await post("/api/auctions", auction_body(price_cap_cents=1_000_000), buyer))["id"]
    await post(f"/api/auctions/{aid}/publish", None, buyer)
    return aid, vendors
