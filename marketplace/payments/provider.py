"""The payment provider interface and the built-in ledger provider.

A provider receives an order with an idempotency key (one per award) and must record it at
most once whatever the number of calls. The built-in provider is a ledger of payment
orders for the department's finance office, written in the caller's transaction, so a
release that dies at any line leaves either nothing or everything.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from marketplace.db import Conn


class PaymentOrder(msgspec.Struct, frozen=True, kw_only=True):
    payment_id: int
    idempotency_key: str
    department_id: int
    payee_id: int
    amount_cents: int
    method: str | None
    reference: str | None

    @property
    def missing_details(self) -> bool:
        return self.method is None


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    reference: str


class ProviderError(Exception):
    """The provider could not take the order now; the release is retried later."""


class PaymentProvider(Protocol):
    async def release(self, conn: Conn, order: PaymentOrder) -> Receipt: ...


class LedgerProvider:
    """Records the order for the department's finance office (purchase card or transfer)."""

    async def release(self, conn: Conn, order: PaymentOrder) -> Receipt:
        from marketplace.payments import queries

        entry_id = await queries.record_ledger_entry(conn, order)
        return Receipt(reference=f"ledger-{entry_id}")
