"""The verification rules of DESIGN §5 (marketplace/deliveries/rules.py), each on its own:
a table per rule of what GitHub answered and the verdict, with no database and no GitHub.
The end-to-end path through the fake GitHub is tests/workers/test_verification.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from marketplace.deliveries import rules
from marketplace.deliveries.rules import Observed, Subject
from marketplace.github.schemas import CheckResult, GithubUser, Issue, PullRequest, Repo

AWARDED = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
DUE = AWARDED + dt.timedelta(days=14)
WINNER = GithubUser(id=501, login="ada")
REVIEWER = GithubUser(id=502, login="bob")
MALLORY = GithubUser(id=666, login="mallory")
REPO = Repo(id=4242, full_name="city-of-x/permits", default_branch="main")
ISSUE = Issue(
    number=12, title="Dates", body=None, state="open", html_url="u", is_pull_request=False
)
PENDING = CheckResult(
    kind="status", id=3, name="deploy", status="pending", conclusion=None, sha="a" * 40
)
GREEN = CheckResult(
    kind="check_run", id=1, name="ci", status="completed", conclusion="success", sha="a" * 40
)


def subject(**changes: Any) -> Subject:
    fields: dict[str, Any] = {
        "auction_repo": "city-of-x/permits",
        "repo_id": 4242,
        "target_branch": None,
        "issue_number": 12,
        "winner_github_id": WINNER.id,
        "awarded_at": AWARDED,
        "delivery_due_at": DUE,
        "pr_repo": "city-of-x/permits",
        "pr_number": 7,
    }
    return Subject(**{**fields, **changes})


def pull(**changes: Any) -> PullRequest:
    fields: dict[str, Any] = {
        "number": 7,
        "title": "Accept dates typed in Safari",
        "body": "Fixes #12",
        "html_url": "https://github.com/city-of-x/permits/pull/7",
        "state": "closed",
        "author": WINNER,
        "merged": True,
        "merged_at": AWARDED + dt.timedelta(hours=1),
        "merged_by": REVIEWER,
        "base_ref": "main",
        "base_repo_id": 4242,
        "base_repo_full_name": "city-of-x/permits",
        "head_sha": "a" * 40,
        "merge_commit_sha": "b" * 40,
    }
    return PullRequest(**{**fields, **changes})


def observed(**changes: Any) -> Observed:
    fields: dict[str, Any] = {"repo": REPO, "pull": pull(), "checks": [GREEN], "issue": ISSUE}
    return Observed(**{**fields, **changes})


def verdicts(s: Subject, o: Observed) -> dict[str, bool]:
    return {c.name: c.passed for c in rules.evaluate(s, o)}


def test_a_pull_request_meeting_every_rule_passes_all_nine_in_order() -> None:
    checks = rules.evaluate(subject(), observed())
    assert [c.name for c in checks] == [
        "repository",
        "pull_request_exists",
        "author",
        "merged",
        "target_branch",
        "merged_in_window",
        "merged_by_other",
        "checks_succeeded",
        "references_issue",
    ]
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]


def test_evidence_is_what_github_said_so_two_reads_of_one_state_are_equal() -> None:
    first = rules.evaluate(subject(), observed())
    again = rules.evaluate(subject(), observed())
    assert msgspec.json.encode(first) == msgspec.json.encode(again)


def test_no_pull_request_judges_only_the_two_rules_that_can_be_judged() -> None:
    checks = rules.evaluate(subject(), observed(pull=None, pull_error="Not Found"))
    assert [(c.name, c.passed) for c in checks] == [
        ("repository", False),
        ("pull_request_exists", False),
    ]
    assert checks[1].detail == "Not Found"


def test_an_auction_without_an_issue_has_no_issue_rule() -> None:
    assert "references_issue" not in verdicts(subject(issue_number=None), observed())


# One row per way a rule fails: the changed subject or answer, the rules that fail (the
# first is the one the row is about) and its detail.
FAILURES = [
    ("another repository", {}, {"pull": pull(base_repo_id=999)}, "repository", "not the auction's"),
    (
        "repository unknown",  # and so its default branch
        {"repo_id": None},
        {"repo": None},
        "repository target_branch",
        "was not found",
    ),
    ("not the winner", {}, {"pull": pull(author=MALLORY)}, "author", "not the winner's"),
    ("winner not linked", {"winner_github_id": None}, {}, "author", "no linked GitHub"),
    (
        "open",  # and so not merged in the window
        {},
        {"pull": pull(merged=False, merged_at=None, state="open")},
        "merged merged_in_window",
        "open",
    ),
    ("other branch", {}, {"pull": pull(base_ref="dev")}, "target_branch", "into dev, not main"),
    ("not the set branch", {"target_branch": "release"}, {}, "target_branch", "not release"),
    (
        "merged before the award",
        {},
        {"pull": pull(merged_at=AWARDED)},
        "merged_in_window",
        "before the award",
    ),
    (
        "merged after the deadline",
        {},
        {"pull": pull(merged_at=DUE + dt.timedelta(seconds=1))},
        "merged_in_window",
        "after the delivery deadline",
    ),
    ("self-merged", {}, {"pull": pull(merged_by=WINNER)}, "merged_by_other", "its own author"),
    ("merged by no one", {}, {"pull": pull(merged_by=None)}, "merged_by_other", "not merged by"),
    ("no checks", {}, {"checks": []}, "checks_succeeded", "no check runs"),
    (
        "a red check",
        {},
        {
            "checks": [
                GREEN,
                msgspec.structs.replace(GREEN, id=2, name="lint", conclusion="failure"),
            ]
        },
        "checks_succeeded",
        "lint (failure)",
    ),
    (
        "a pending status",
        {},
        {"checks": [PENDING]},
        "checks_succeeded",
        "deploy (pending)",
    ),
    ("issue unmentioned", {}, {"pull": pull(body="Safari fix")}, "references_issue", "Fixes #12"),
    ("#123 is not #12", {}, {"pull": pull(body="Fixes #123")}, "references_issue", "not mention"),
    ("no such issue", {}, {"issue": None}, "references_issue", "not an issue of"),
    (
        "the issue is a pull request",
        {},
        {"issue": msgspec.structs.replace(ISSUE, is_pull_request=True)},
        "references_issue",
        "not an issue of",
    ),
]


@pytest.mark.parametrize(
    ("subject_changes", "answer_changes", "failing", "detail"),
    [row[1:] for row in FAILURES],
    ids=[row[0] for row in FAILURES],
)
def test_each_rule_fails_alone_on_what_breaks_it(
    subject_changes: dict[str, Any], answer_changes: dict[str, Any], failing: str, detail: str
) -> None:
    s, o = subject(**subject_changes), observed(**answer_changes)
    checks = {c.name: c for c in rules.evaluate(s, o)}
    assert {name for name, c in checks.items() if not c.passed} == set(failing.split())
    assert detail in checks[failing.split()[0]].detail


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Fixes #12", "Fixes #12"),
        ("closes: #12", "closes: #12"),
        ("Resolves city-of-x/permits#12", "Resolves city-of-x/permits#12"),
        ("See #12.", "#12"),
        ("https://github.com/city-of-x/permits/issues/12", "/city-of-x/permits/issues/12"),
        ("Fixes #123", None),
        ("Fixes other/repo#12", None),
        ("issue12", None),
        ("x#12", None),
    ],
)
def test_an_issue_is_mentioned_as_hash_n_owner_name_hash_n_or_its_url(
    text: str, found: str | None
) -> None:
    assert rules.issue_mention(text, 12, "city-of-x/permits") == found


@pytest.mark.parametrize("conclusion", ["success", "neutral", "skipped"])
def test_success_neutral_and_skipped_count_as_green(conclusion: str) -> None:
    green = msgspec.structs.replace(GREEN, conclusion=conclusion)
    assert rules.checks_succeeded(pull(), [green]).passed


def test_the_window_includes_the_deadline_itself_and_no_deadline_means_none() -> None:
    assert rules.merged_in_window(subject(), pull(merged_at=DUE)).passed
    late = pull(merged_at=DUE + dt.timedelta(days=30))
    assert rules.merged_in_window(subject(delivery_due_at=None), late).passed


def test_a_repository_first_seen_is_matched_by_the_id_github_gives_it() -> None:
    """Before any verification has stored the repository's id, GitHub's answer supplies it:
    a repository renamed or recreated under the same name keeps or changes its id."""
    assert rules.repository(subject(repo_id=None), observed()).passed
    moved = observed(repo=msgspec.structs.replace(REPO, id=77))
    assert not rules.repository(subject(repo_id=None), moved).passed
