"""Mail notifications through the stream consumers (DESIGN §7): nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import email
import email.policy
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.auctions import lifecycle
from marketplace.notifications import messages
from marketplace.notifications.mail import MailSender, list_mailbox, mailbox_dir
from marketplace.redis import GLOBAL_STREAM
from marketplace.settings import Settings
from marketplace.streams.consumer import StreamConsumer, StreamEvent
from tests.helpers import (
    CLOSE_SETTINGS,
    Api,
    bid,
    end_auction_now,
    eventually,
    published_auction,
    running,
    running_relays_forever,
    sign_in,
    worker_ctx,
)
from workers.consumers import notifications_consumer


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """A data dir (and so a development mailbox) of this test's own."""
    return msgspec.structs.replace(
        settings,
        data_dir=tmp_path,
        timezone="America/New_York",
        public_url="http://marketplace.test",
    )


def mail_consumer(ctx: dict[str, Any], **options: Any) -> StreamConsumer:
    """The worker's own notifications consumer (its tags included), reading more often."""
    return notifications_consumer(ctx, block_ms=100, **options)


def sender(ctx: dict[str, Any]) -> MailSender:
    return MailSender(ctx["pool"], ctx["settings"], poll_seconds=0.05, base_delay=0.05)


def mailbox(settings: Settings) -> list[email.message.EmailMessage]:
    found = []
    # Messages only: not the sender's temporary file of a message being written.
    for path in sorted(mailbox_dir(settings).glob("[0-9]*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        found.append(msg)
    return found


def inbox(settings: Settings, address: str, subject_start: str) -> list[Any]:
    return [
        m
        for m in mailbox(settings)
        if m["To"] == address and str(m["Subject"]).startswith(subject_start)
    ]


async def email_of(db: asyncpg.Connection, user_id: int) -> str:
    address: str = await db.fetchval("SELECT email FROM users WHERE id = $1", user_id)
    return address


async def closed_auction(api: Api, db: asyncpg.Connection, pool: Any) -> dict[str, Any]:
    """A reverse auction with two bids from one vendor, one each from two others, closed."""
    buyer = await api.buyer()
    v1, v2, v3 = [await api.verified_vendor() for _ in range(3)]
    auction = await published_auction(api, buyer)
    aid = auction["id"]
    for vendor, amount in ((v1, 350_000), (v2, 349_900), (v1, 349_800), (v3, 349_700)):
        r = await bid(api, vendor, aid, amount)
        assert r.status_code == 201, r.text
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    return {"id": aid, "buyer": buyer, "winner": v3, "losers": [v1, v2]}


async def group_caught_up(redis: Any, db: asyncpg.Connection, group: str) -> bool:
    """The group exists, has delivered the newest outbox event and holds nothing pending."""
    top = await db.fetchval("SELECT max(id) FROM outbox")
    try:
        groups = await redis.xinfo_groups(GLOBAL_STREAM)
    except Exception:
        return False
    for info in groups:
        if info["name"].decode() == group:
            last = int(info["last-delivered-id"].decode().split("-")[0])
            return last >= top and info["pending"] == 0
    return False


async def test_winner_and_each_losing_bidder_get_exactly_one_mail(
    api: Api, settings: Settings, db: asyncpg.Connection, client: AsyncTestClient[Any]
) -> None:
    async with worker_ctx(settings) as ctx:
        auction = await closed_auction(api, db, ctx["pool"])
        winner = await email_of(db, auction["winner"].id)
        losers = [await email_of(db, v.id) for v in auction["losers"]]
        buyer = await email_of(db, auction["buyer"].id)
        consumer = mail_consumer(ctx)
        async with running(
            lambda: running_relays_forever(ctx), consumer.run_forever, sender(ctx).run_forever
        ):

            async def all_mailed() -> bool:
                return bool(
                    inbox(settings, winner, "You won")
                    and all(inbox(settings, a, "Auction closed") for a in losers)
                    and inbox(settings, buyer, "Awarded")
                )

            await eventually(all_mailed, "the award mails")
            # Redis loses everything: the group is recreated, the relay puts recent events
            # back, and the processed rows keep every one of them from being mailed again.
            await ctx["redis_client"].flushdb()
            await api.department()  # the relay notices the loss on its next event

            async def caught_up_again() -> bool:
                return await group_caught_up(ctx["redis_client"], db, messages.GROUP)

            await eventually(caught_up_again, "the consumer to catch up after the flush")
            unsent = "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL"
            await eventually(lambda: _zero(db, unsent), "every mail sent")
    won = inbox(settings, winner, "You won")
    assert len(won) == 1
    text = won[0].get_body(preferencelist=("plain",)).get_content()
    assert "$3,497.00" in text
    assert f"{settings.public_url}/auctions/{auction['id']}" in text
    assert "EST" in text or "EDT" in text  # times in the deployment's zone, zone shown
    for address in losers:  # v1 bid twice and is told once
        assert len(inbox(settings, address, "Auction closed")) == 1
    assert len(inbox(settings, buyer, "Awarded")) == 1
    assert not inbox(settings, winner, "Auction closed")
    assert len(mailbox(settings)) == await db.fetchval("SELECT count(*) FROM mail_outbox")

    # The mailbox pages are for admins (tests/api/test_service_edges.py has who else is refused).
    await sign_in(client, api.admin)
    page = await client.get("/dev/mailbox")
    assert page.status_code == 200
    assert "development tool" in page.text and "You won" in page.text
    first = list_mailbox(settings)[0]
    r = await client.get(f"/dev/mailbox/{first.id}")
    assert r.status_code == 200 and "Message-ID" in r.text
    assert (await client.get("/dev/mailbox/99999")).status_code == 404


async def _zero(db: asyncpg.Connection, query: str) -> bool:
    return bool(await db.fetchval(query) == 0)


async def test_a_consumer_that_dies_before_its_ack_is_taken_over_without_duplicates(
    api: Api, settings: Settings, db: asyncpg.Connection
) -> None:
    async with worker_ctx(settings) as ctx:
        auction = await closed_auction(api, db, ctx["pool"])
        async with running(lambda: running_relays_forever(ctx)):
            await eventually(
                lambda: _zero(db, "SELECT count(*) FROM outbox WHERE relayed_at IS NULL"),
                "every event relayed",
            )
        doomed = mail_consumer(ctx, name="doomed", batch=500)

        async def die(*entry_ids: Any) -> None:
            raise RuntimeError("killed after the side effects, before XACK")

        doomed._ack = die  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="killed"):
            await doomed.run_once()
        # Its side effects committed (the processed rows with them) before the crash; a
        # read's entries are acknowledged together, after all of them were handled.
        handled = "SELECT count(*) FROM consumer_processed WHERE consumer = $1"
        assert await db.fetchval(handled, messages.GROUP) >= 1
        pending = await ctx["redis_client"].xpending(GLOBAL_STREAM, messages.GROUP)
        assert pending["pending"] >= 1
        heir = mail_consumer(ctx, name="heir", claim_idle_ms=50)
        async with running(heir.run_forever, sender(ctx).run_forever):

            async def settled() -> bool:
                info = await ctx["redis_client"].xpending(GLOBAL_STREAM, messages.GROUP)
                done = await group_caught_up(ctx["redis_client"], db, messages.GROUP)
                unsent = await db.fetchval("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL")
                return bool(info["pending"] == 0 and done and unsent == 0)

            await eventually(settled, "the heir to reclaim and finish")
    winner = await email_of(db, auction["winner"].id)
    assert len(inbox(settings, winner, "You won")) == 1
    for vendor in auction["losers"]:
        assert len(inbox(settings, await email_of(db, vendor.id), "Auction closed")) == 1
    dupes = await db.fetchval(
        "SELECT count(*) FROM (SELECT event_id FROM consumer_processed"
        " GROUP BY consumer, event_id HAVING count(*) > 1) d"
    )
    assert dupes == 0


class SmtpServer:
    """A small real SMTP server on 127.0.0.1 (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> SmtpServer:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: Any) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sender, rcpts = "", []
        writer.write(b"220 test ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                sender, rcpts = line.decode().split(":", 1)[1].strip(), []
                writer.write(b"250 OK\r\n")
            elif verb == b"RCPT":
                rcpts.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                writer.write(b"250 OK\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                data = b""
                while (chunk := await reader.readline()) != b".\r\n":
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.messages.append((sender, rcpts, data))
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()


async def test_mail_goes_through_smtp_when_configured(
    api: Api, settings: Settings, db: asyncpg.Connection
) -> None:
    async with SmtpServer() as smtp:
        smtp_settings = msgspec.structs.replace(settings, smtp_url=f"smtp://127.0.0.1:{smtp.port}")
        vendor = await api.verified_vendor()
        address = await email_of(db, vendor.id)
        async with (
            worker_ctx(smtp_settings) as ctx,
            running(
                lambda: running_relays_forever(ctx),
                mail_consumer(ctx).run_forever,
                sender(ctx).run_forever,
            ),
        ):

            def to_vendor() -> dict[str, Any]:
                parsed = (
                    email.message_from_bytes(raw, policy=email.policy.default)
                    for _, rcpts, raw in smtp.messages
                    if address in rcpts
                )
                return {str(m["Subject"]): m for m in parsed}

            async def delivered() -> bool:
                return "You are verified" in to_vendor()

            await eventually(delivered, "the verification mail at the SMTP server")
            await eventually(
                lambda: _zero(db, "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL"),
                "the mail marked sent",
            )
        # The admin who made the vendor also issued the vendor's token: the vendor is told.
        mails = to_vendor()
        assert sorted(mails) == ["An API token was issued for your account", "You are verified"]
        msg = mails["You are verified"]
        assert "registry checked" in msg.get_body(preferencelist=("plain",)).get_content()
        assert not mailbox_dir(smtp_settings).exists()
        assert smtp_settings.database_url and smtp_settings.redis_url
        app = create_app(smtp_settings, smtp_settings.database_url, smtp_settings.redis_url)
        async with AsyncTestClient(app=app) as smtp_client:
            assert (await smtp_client.get("/dev/mailbox")).status_code == 404


async def test_repeated_failures_are_dead_lettered_and_admins_redeliver_them(
    api: Api, settings: Settings, db: asyncpg.Connection, client: AsyncTestClient[Any]
) -> None:
    handled: list[int] = []
    broken = True

    async def fragile(conn: Any, event: StreamEvent) -> None:
        if event.type == "department.created":
            if broken:
                raise ValueError("downstream refused")
            handled.append(event.event_id)

    department = await api.department()
    async with worker_ctx(settings) as ctx:
        consumer = StreamConsumer(
            ctx["pool"],
            ctx["redis_client"],
            "fragile",
            fragile,
            block_ms=50,
            claim_idle_ms=20,
            max_attempts=3,
        )
        async with running(lambda: running_relays_forever(ctx), consumer.run_forever):

            async def dead() -> Any:
                r = await client.get("/api/admin/dead-letters", headers=api.admin.headers)
                assert r.status_code == 200, r.text
                return r.json()["items"]

            [letter] = await eventually(dead, "a dead letter")
            assert letter["consumer"] == "fragile" and letter["type"] == "department.created"
            assert letter["attempts"] == 3 and "downstream refused" in letter["error"]
            payload = await db.fetchval(
                "SELECT payload FROM outbox WHERE id = $1", letter["event_id"]
            )
            assert msgspec.json.decode(payload)["department_id"] == department
            await eventually(
                lambda: group_caught_up(ctx["redis_client"], db, "fragile"), "the entry acked"
            )
            vendor = await api.user("vendor")
            r = await client.get("/api/admin/dead-letters", headers=vendor.headers)
            assert r.status_code == 403
            url = f"/api/admin/dead-letters/{letter['id']}/redeliver"
            assert (await client.post(url, headers=vendor.headers)).status_code == 403
            broken = False
            r = await client.post(url, headers=api.admin.headers)
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "requeued"

            async def redelivered() -> bool:
                status = await db.fetchval(
                    "SELECT status FROM dead_letters WHERE id = $1", letter["id"]
                )
                return bool(status == "redelivered")

            await eventually(redelivered, "the requeued letter handled")
            r = await client.post(url, headers=api.admin.headers)
            assert r.status_code == 409
            missing = "/api/admin/dead-letters/999999/redeliver"
            assert (await client.post(missing, headers=api.admin.headers)).status_code == 404
    assert handled == [letter["event_id"]]


async def test_a_consumer_acknowledges_types_it_does_not_handle_without_sql(
    api: Api, settings: Settings, db: asyncpg.Connection
) -> None:
    handled: list[str] = []

    async def departments_only(conn: Any, event: StreamEvent) -> None:
        handled.append(event.type)

    department = await api.department()
    buyer = await api.buyer(department)
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    assert (await bid(api, vendor, aid, 300_000)).status_code == 201
    async with worker_ctx(settings) as ctx:
        consumer = StreamConsumer(
            ctx["pool"],
            ctx["redis_client"],
            "departments-only",
            departments_only,
            block_ms=50,
            tags=frozenset({"department.created"}),
        )
        async with running(lambda: running_relays_forever(ctx), consumer.run_forever):
            await eventually(
                lambda: group_caught_up(ctx["redis_client"], db, "departments-only"),
                "every entry acknowledged",
            )
    assert handled and set(handled) == {"department.created"}
    processed = await db.fetch(
        """SELECT o.type FROM consumer_processed p JOIN outbox o ON o.id = p.event_id
           WHERE p.consumer = 'departments-only'""",
    )
    assert {r["type"] for r in processed} == {"department.created"}
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'bid.placed'") >= 1
