"""Shared test helpers: acting as users of each role through the HTTP API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from marketplace.accounts.admin import create_user_with_token

_emails = itertools.count(1)


@dataclass
class User:
    id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """A test client plus an admin, with shortcuts to make departments and users."""

    def __init__(self, client: Any, admin: User) -> None:
        self.client = client
        self.admin = admin

    @classmethod
    async def start(cls, client: Any, database_url: str) -> Api:
        user_id, token = await create_user_with_token(
            database_url, f"admin{next(_emails)}@example.gov", "Admin", ["admin"], None
        )
        return cls(client, User(user_id, token))

    async def department(self, name: str | None = None) -> int:
        r = await self.client.post(
            "/api/departments",
            json={"name": name or f"Department {next(_emails)}"},
            headers=self.admin.headers,
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def user(self, *roles: str, department_id: int | None = None) -> User:
        body: dict[str, Any] = {
            "email": f"user{next(_emails)}@example.gov",
            "name": f"User {'/'.join(roles)}",
            "roles": list(roles),
        }
        if department_id is not None:
            body["department_id"] = department_id
        r = await self.client.post("/api/users", json=body, headers=self.admin.headers)
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        r = await self.client.post(f"/api/users/{user_id}/tokens", headers=self.admin.headers)
        assert r.status_code == 201, r.text
        return User(user_id, r.json()["token"])

    async def verified_vendor(self) -> User:
        vendor = await self.user("vendor")
        r = await self.client.post(
            f"/api/vendors/{vendor.id}/verification",
            json={"status": "verified", "reason": "registry checked"},
            headers=self.admin.headers,
        )
        assert r.status_code == 201, r.text
        return vendor

    async def buyer(self, department_id: int | None = None) -> User:
        return await self.user("buyer", department_id=department_id or await self.department())
