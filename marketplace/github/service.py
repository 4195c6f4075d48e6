"""Linking a GitHub account to a user, and signing in (or up) with GitHub."""

from __future__ import annotations

from typing import Any

from marketplace.accounts import queries as accounts
from marketplace.accounts.schemas import GithubAccount
from marketplace.audit.record import Actor, record
from marketplace.auth import new_token
from marketplace.changes import announce
from marketplace.db import Conn, Pool
from marketplace.errors import Conflict, NotFound
from marketplace.events import GithubAccountLinked, UserCreated
from marketplace.github import queries
from marketplace.github.oauth import GithubIdentity, account_email
from marketplace.structs import Response


class GithubSignIn(Response, frozen=True, kw_only=True):
    """A signed-in user and a new API token, shown once (the web UI's session stands in)."""

    id: int
    token: str
    token_id: int
    created: bool
    github: GithubAccount


async def _link(conn: Conn, actor: Actor, user_id: int, identity: GithubIdentity) -> Any:
    before = await accounts.get_user(conn, user_id)
    if before is None:
        raise NotFound("user_not_found", "no such user")
    row = await queries.link_github(conn, user_id, identity.id, identity.login)
    if row is None:
        raise Conflict(
            "github_already_linked",
            f"your account is already linked to GitHub user {before['github_login']}",
            github_login=before["github_login"],
        )
    if before["github_id"] != identity.id or before["github_login"] != identity.login:
        await announce(
            conn,
            GithubAccountLinked(
                user_id=user_id, github_id=identity.id, github_login=identity.login
            ),
            actor,
            "user.github_linked",
            "user",
            user_id,
            before={"github_id": before["github_id"], "github_login": before["github_login"]},
            after={"github_id": identity.id, "github_login": identity.login},
        )
    return row


async def link_account(
    pool: Pool, user_id: int, identity: GithubIdentity, request_id: str
) -> GithubAccount:
    """Store the GitHub account on the user: one per user, one user per GitHub account.

    Linking the same account again is a no-op (the login is refreshed); another user's
    account is a 409 ``github_account_taken`` (the ``users_github_id_key`` constraint).
    """
    actor = Actor(user_id=user_id, role="self", request_id=request_id)
    async with pool.acquire() as conn, conn.transaction():
        row = await _link(conn, actor, user_id, identity)
    return GithubAccount(id=row["github_id"], login=row["github_login"])


async def sign_in(pool: Pool, identity: GithubIdentity, request_id: str) -> GithubSignIn:
    """Sign in the user linked to this GitHub id, or create a vendor account for it."""
    token, token_hash = new_token()
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.find_user_by_github_id(conn, identity.id)
        created = row is None
        if row is None:
            name = (identity.name or identity.login).strip()[:200] or identity.login
            row = await accounts.insert_user(conn, account_email(identity), name, ["vendor"], None)
            actor = Actor(user_id=row["id"], role="vendor", request_id=request_id)
            await announce(
                conn,
                UserCreated(user_id=row["id"], roles=["vendor"], self_signup=True),
                actor,
                "user.signed_up",
                "user",
                row["id"],
                after={"email": row["email"], "name": row["name"], "via": "github"},
            )
        else:
            actor = Actor(user_id=row["id"], role="self", request_id=request_id)
        row = await _link(conn, actor, row["id"], identity)
        token_id = await accounts.insert_token(conn, row["id"], token_hash)
        await record(
            conn, actor, "token.created", "token", token_id, after={"via": "github_sign_in"}
        )
    return GithubSignIn(
        id=row["id"],
        token=token,
        token_id=token_id,
        created=created,
        github=GithubAccount(id=row["github_id"], login=row["github_login"]),
    )
