"""What earlier incidents taught reaches the next one of the same problem: a line in its
summary, and a playbook reorder offered to a person (never applied)."""

from __future__ import annotations

from datetime import timedelta

from history import MIN, follow, record, until_resolved
from support.scenario import PLATFORM, Scenario, disk, logs

from calmopsd.config import Config
from calmopsd.learn.offering import offering
from calmopsd.learn.reorder import reorder
from calmopsd.model import Learning
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database
from calmopsd.record.recommendations import list_recommendations
from calmopsd.record.reviews import FIELDS, ReviewDraft, save_draft
from calmopsd.respond.approvals import approve
from calmopsd.respond.summary import history_line


def test_a_second_incident_of_the_same_problem_says_what_worked_last_time(
    database: Database,
) -> None:
    s = Scenario(database)
    record(s, "disk", disk(91), times=3)
    until_resolved(s, "disk", disk(62), every=MIN)
    first = s.only()
    follow(s)  # the review of the first is drafted
    s.wait(timedelta(hours=3))  # past reopen_within: a new incident, not a reopening
    record(s, "disk", disk(92), times=3)
    second = s.incidents()[-1]
    assert second.id != first.id and second.fingerprint == first.fingerprint
    lines = second.summary.splitlines()
    assert "Before: last time, clearing old temp uploads fixed it at once." in lines
    assert len(lines) <= 8 and lines[-1].startswith("Next:")


def test_the_history_line_names_the_fix_how_soon_and_what_did_not_hold() -> None:
    three = tuple(
        Learning(i, fix="pm2_restart", fix_params={"app": "api"}, fixed_within_s=s,
                 ineffective=("nginx_reload",))
        for i, s in ((9, 60.0), (7, 100.0), (4, 30.0))
    )  # fmt: skip
    assert history_line(three) == (
        "Before: last 3 times, restarting `api` fixed it within 2 minutes; reloading nginx "
        "did not hold."
    )
    mixed = (*three[:2], Learning(2, fix="nginx_reload", fixed_within_s=10.0))
    assert history_line(mixed).startswith(
        "Before: last 3 times, restarting `api` fixed it 2 of those times within 2 minutes"
    )
    assert history_line((Learning(1, resolution="recovered"),)) == (
        "Before: last time, no action fixed it; it recovered by itself."
    )


def learned(database: Database, incident_id: int, fix: str, ineffective: tuple[str, ...]) -> None:
    texts = {name: "" for name in FIELDS}
    lesson = Learning(incident_id, fix=fix, fixed_within_s=180.0, ineffective=ineffective,
                      tried=(*ineffective, fix))  # fmt: skip
    save_draft(database, ReviewDraft(incident_id, 10**6 + incident_id, texts, {}, lesson),
               at=list_events(database, PLATFORM)[-1].at)  # fmt: skip


def test_a_later_action_that_fixed_it_every_time_is_offered_first_never_applied(
    database: Database,
) -> None:
    s = Scenario(database)
    earlier = []
    for _ in range(2):  # two upload incidents, each resolved
        record(s, "logs", logs(uploads=400, upload_failures=80), times=3)
        until_resolved(s, "logs", logs(uploads=400), every=MIN)
        earlier.append(s.incidents()[-1].id)
        s.wait(timedelta(hours=3))
    for incident_id in earlier:  # their reviews: rate limiting did not hold, clearing did
        learned(database, incident_id, "clear_temp", ("rate_limit_uploads",))
    record(s, "logs", logs(uploads=400, upload_failures=80), times=3)
    third = s.incidents()[-1]
    consume = offering(database, Config)
    for event in list_events(database, PLATFORM):
        consume(event)
        consume(event)  # redelivered: still one offer
    (offer,) = [r for r in list_recommendations(database, PLATFORM, third.id)
                if r.kind == "playbook_order"]  # fmt: skip
    assert offer.params == {"type": "upload", "current": ["rate_limit_uploads", "clear_temp"],
                            "proposed": ["clear_temp", "rate_limit_uploads"]}  # fmt: skip
    assert offer.evidence["diff"].splitlines()[-2:] == [
        "-  upload: [rate_limit_uploads, clear_temp]",
        "+  upload: [clear_temp, rate_limit_uploads]",
    ]
    assert offer.evidence["history"] == list(reversed(earlier))
    decided = approve(database, PLATFORM, offer.id, actor="dana", at=s.now,
                      run=lambda *_: None, state_of=lambda *_: "firing")  # fmt: skip
    assert decided.status == "approved"
    assert "changes no config itself" in decided.detail
    assert Config().playbook.upload == ["rate_limit_uploads", "clear_temp"]


def test_no_reorder_without_the_same_fix_each_time_or_with_one_time_only() -> None:
    fixed = Learning(1, fix="clear_temp", ineffective=("rate_limit_uploads",))
    other = Learning(2, fix="rate_limit_uploads")
    listed = ["rate_limit_uploads", "clear_temp"]
    assert reorder("upload", listed, [fixed]) is None
    assert reorder("upload", listed, [fixed, other]) is None
    assert reorder("upload", ["clear_temp", "rate_limit_uploads"], [fixed, fixed]) is None
    found = reorder("upload", listed, [fixed, fixed])
    assert found is not None and found.reason == "later_action_fixed_it"
