"""Outgoing mail: SMTP (``MARKETPLACE_SMTP_URL``) or, when unset, the development mailbox.

The notifications consumer writes each message to ``mail_outbox``; ``MailSender`` delivers
due rows under a short claim lease and marks each sent once (``sent_at`` compare-and-set).
Every message has a stable ``Message-ID`` (its row id), so a send repeated after a crash
between the SMTP answer and the mark is recognisable downstream; in the development
mailbox the same message simply replaces its own file.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import email.utils
import logging
import os
import re
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import msgspec

from marketplace.db import Pool, Row
from marketplace.notifications import queries
from marketplace.settings import Settings
from marketplace.structs import one_line

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10.0
_MAILBOX_NAME = re.compile(r"^(\d+)\.eml$")


class MailboxEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    to: str
    subject: str
    date: str


def sender_address(settings: Settings) -> str:
    host = urlsplit(settings.public_url).hostname or "localhost"
    domain = host if "." in host else f"{host}.localdomain"
    return f"Micro-purchase marketplace <no-reply@{domain}>"


def build_message(settings: Settings, row: Row) -> EmailMessage:
    """The RFC 5322 message of a mail_outbox row."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender_address(settings)
    msg["To"] = row["to_address"]
    # One line whatever the stored text (a title saved before titles were checked): a
    # line break would add a header, or stop every mail about that auction.
    msg["Subject"] = one_line(row["subject"])
    msg["Date"] = email.utils.format_datetime(row["created_at"])
    domain = sender_address(settings).rsplit("@", 1)[1].rstrip(">")
    msg["Message-ID"] = f"<mail-{row['id']}@{domain}>"
    msg.set_content(row["body"])
    return msg


def mailbox_dir(settings: Settings) -> Path:
    return settings.data_dir / "mailbox"


def write_to_mailbox(settings: Settings, mail_id: int, msg: EmailMessage) -> Path:
    """One file per message, written atomically (a temp file renamed into place)."""
    folder = mailbox_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{mail_id:08d}.eml"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(msg.as_bytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def send_smtp(url: str, msg: EmailMessage, timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
    """Send one message (blocking; run it in a thread). smtps:// is TLS from the start;
    smtp:// upgrades with STARTTLS when the server offers it."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(
            host, parts.port or 465, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(host, parts.port or 25, timeout=timeout)
    with smtp:
        smtp.ehlo()
        if parts.scheme == "smtp" and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(msg)


async def deliver(settings: Settings, row: Row) -> None:
    msg = build_message(settings, row)
    if settings.smtp_url:
        await asyncio.to_thread(send_smtp, settings.smtp_url, msg)
    else:
        await asyncio.to_thread(write_to_mailbox, settings, row["id"], msg)


class MailSender:
    """Delivers due mail_outbox rows; failures are retried with exponential backoff."""

    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        *,
        batch: int = 20,
        lease_seconds: float = 120.0,
        base_delay: float = 5.0,
        max_attempts: int = 10,
        poll_seconds: float = 0.5,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.base_delay = base_delay
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds

    async def send_once(self) -> int:
        async with self.pool.acquire() as conn:
            rows = await queries.claim_mail(conn, self.lease_seconds, self.batch)
        for row in rows:
            try:
                await deliver(self.settings, row)
            except Exception as exc:
                give_up = row["attempts"] >= self.max_attempts
                delay = min(self.base_delay * 2 ** (row["attempts"] - 1), 3600.0)
                log.warning("mail %s to %s failed: %s", row["id"], row["to_address"], exc)
                async with self.pool.acquire() as conn:
                    await queries.mark_mail_failed(
                        conn, row["id"], f"{type(exc).__name__}: {exc}", delay, give_up
                    )
                continue
            async with self.pool.acquire() as conn:
                await queries.mark_mail_sent(conn, row["id"])
        return len(rows)

    async def run_forever(self) -> None:
        while True:
            try:
                if await self.send_once():
                    continue
            except Exception as exc:
                log.warning("mail sender failed: %s", exc)
            await asyncio.sleep(self.poll_seconds)


def list_mailbox(settings: Settings) -> list[MailboxEntry]:
    """The development mailbox, newest first."""
    folder = mailbox_dir(settings)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _MAILBOX_NAME.match(path.name)
        if not match:
            continue
        msg = _parse(path.read_bytes())
        found.append(
            MailboxEntry(
                id=int(match.group(1)),
                to=str(msg["To"] or ""),
                subject=str(msg["Subject"] or ""),
                date=str(msg["Date"] or ""),
            )
        )
    return sorted(found, key=lambda e: e.id, reverse=True)


def read_mailbox(settings: Settings, mail_id: int) -> EmailMessage | None:
    path = mailbox_dir(settings) / f"{mail_id:08d}.eml"
    try:
        return _parse(path.read_bytes())
    except FileNotFoundError:
        return None


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg
