"""The event-stream consumers and their senders, as background loops of the worker.

Each runs in the worker process (``BACKGROUND`` in workers/main.py) and in the
``marketplace consumers`` process; several copies share the work through consumer groups
and row leases (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from marketplace.accounts import registry
from marketplace.db import create_pool
from marketplace.notifications import messages
from marketplace.notifications.mail import MailSender
from marketplace.redis import create_redis
from marketplace.settings import Settings
from marketplace.shutdown import close_context
from marketplace.streams.consumer import StreamConsumer
from marketplace.webhooks import sends

log = logging.getLogger(__name__)


def notifications_consumer(ctx: dict[str, Any], **options: Any) -> StreamConsumer:
    """Mail and in-app notices; ``options`` are StreamConsumer's (tests read more often)."""
    mailer = messages.Mailer(ctx["settings"])
    return StreamConsumer(
        ctx["pool"],
        ctx["redis_client"],
        messages.GROUP,
        mailer,
        tags=mailer.tags,
        **options,
    )


def webhooks_consumer(ctx: dict[str, Any], **options: Any) -> StreamConsumer:
    """Department webhook sends, for events some department's webhook wants."""
    return StreamConsumer(
        ctx["pool"],
        ctx["redis_client"],
        sends.GROUP,
        sends.record_sends,
        wanted=sends.concerning_a_webhook,
        **options,
    )


def registry_consumer(ctx: dict[str, Any], **options: Any) -> StreamConsumer:
    """Registry checks of vendors who ask to be verified."""
    return StreamConsumer(
        ctx["pool"],
        ctx["redis_client"],
        registry.GROUP,
        registry.record_check,
        tags=registry.TAGS,
        **options,
    )


async def notifications_forever(ctx: dict[str, Any]) -> None:
    await notifications_consumer(ctx).run_forever()


async def mail_sender_forever(ctx: dict[str, Any]) -> None:
    await MailSender(ctx["pool"], ctx["settings"]).run_forever()


async def webhooks_forever(ctx: dict[str, Any]) -> None:
    await webhooks_consumer(ctx).run_forever()


async def webhook_sender_forever(ctx: dict[str, Any]) -> None:
    allow_private = ctx["settings"].webhook_allow_private
    await sends.WebhookSender(ctx["pool"], allow_private=allow_private).run_forever()


async def registry_forever(ctx: dict[str, Any]) -> None:
    """Only with MARKETPLACE_REGISTRY_URL set; otherwise admins decide (nothing to do)."""
    url = ctx["settings"].registry_url
    if not url:
        return
    checker = registry.RegistryChecker(ctx["pool"], url)
    await asyncio.gather(registry_consumer(ctx).run_forever(), checker.run_forever())


LOOPS: list[Callable[[dict[str, Any]], Coroutine[Any, Any, None]]] = [
    notifications_forever,
    mail_sender_forever,
    webhooks_forever,
    webhook_sender_forever,
    registry_forever,
]


async def run_consumers(settings: Settings, database_url: str, redis_url: str) -> None:
    """The consumers alone, for a process of their own (``marketplace consumers``)."""
    ctx: dict[str, Any] = {
        "settings": settings,
        "pool": await create_pool(
            database_url, min_size=1, max_size=8, name="marketplace-consumers"
        ),
        "redis_client": create_redis(redis_url),
    }
    ctx["tasks"] = [asyncio.create_task(loop(ctx)) for loop in LOOPS]
    try:
        await asyncio.gather(*ctx["tasks"])
    finally:
        await close_context(ctx)
