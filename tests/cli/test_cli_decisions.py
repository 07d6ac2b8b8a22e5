"""approve, reject and resolve with no daemon running: the CLI writes the store itself, through
the same operations as the API, audited as cli:ACCOUNT; refusals exit 1 and change nothing."""

from __future__ import annotations

import json

from cli_scenario import Filled, account, dump, env, events_by, incident, recommendation
from support.process import calmopsd


def run(filled: Filled, *args: str) -> tuple[int, str, str]:
    result = calmopsd(*args, *filled.where, env=env())
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


def test_approving_a_manual_step_offline_records_it_as_the_account(fresh: Filled) -> None:
    code, out, err = run(fresh, "approve", str(fresh.memory), str(fresh.manual))
    assert (code, err) == (0, "")
    assert out == (
        f"recommendation #{fresh.manual} of incident #{fresh.memory} approved: "
        "recorded as approved; calmopsd does not perform manual steps\n"
    )
    rec = recommendation(fresh, fresh.manual)
    assert (rec.status, rec.decided_by) == ("approved", f"cli:{account()}")
    assert [kind for kind, *_ in events_by(fresh, f"cli:{account()}")] == [
        "recommendation.approved"
    ]


def test_approve_as_json_is_the_decision_the_api_answers(fresh: Filled) -> None:
    code, out, _ = run(fresh, "approve", str(fresh.memory), str(fresh.manual), "--json")
    assert code == 0
    assert json.loads(out) == {
        "status": "approved",
        "detail": "recorded as approved; calmopsd does not perform manual steps",
        "outcome": None,
    }


def test_a_safe_action_cannot_be_approved_without_the_daemon_and_nothing_changes(
    fresh: Filled,
) -> None:
    before = dump(fresh)
    code, out, err = run(fresh, "approve", str(fresh.disk), str(fresh.safe))
    assert (code, out) == (1, "")
    assert err == "approve: needs the running daemon: the approval re-checks the live readings\n"
    assert dump(fresh) == before
    code, out, _ = run(fresh, "approve", str(fresh.disk), str(fresh.safe), "--json")
    assert code == 1
    assert json.loads(out) == {
        "error": "needs_daemon",
        "detail": "needs the running daemon: the approval re-checks the live readings",
    }
    assert dump(fresh) == before


def test_wrong_ids_exit_1_with_a_clear_message_and_change_nothing(fresh: Filled) -> None:
    before = dump(fresh)
    m, d, manual, safe = (str(n) for n in (fresh.memory, fresh.disk, fresh.manual, fresh.safe))
    cases = [
        (("approve", "99", manual), "approve: no incident 99"),
        (("approve", m, "99"), f"approve: no recommendation 99 on incident {m}"),
        # a real recommendation, but of another incident
        (("approve", d, manual), f"approve: no recommendation {manual} on incident {d}"),
        (("reject", m, safe), f"reject: no recommendation {safe} on incident {m}"),
        (("reject", "99", "1", "--note", "no"), "reject: no incident 99"),
        (("resolve", "99", "--note", "done"), "resolve: no incident 99"),
    ]  # fmt: skip
    for args, message in cases:
        assert run(fresh, *args) == (1, "", message + "\n"), args
    assert dump(fresh) == before


def test_bad_usage_exits_2_and_changes_nothing(fresh: Filled) -> None:
    before = dump(fresh)
    m = str(fresh.memory)
    assert run(fresh, "resolve", m)[0] == 2  # --note is required
    code, _, err = run(fresh, "resolve", m, "--note", "  ")
    assert (code, err) == (2, "resolve: resolving needs a note: what was done\n")
    assert run(fresh, "approve", m)[0] == 2
    assert run(fresh, "approve", m, "x")[0] == 2
    assert run(fresh, "reject", "0", "1")[0] == 2
    assert dump(fresh) == before


def test_reject_keeps_the_note_and_a_second_decision_is_refused(fresh: Filled) -> None:
    d, s = str(fresh.disk), str(fresh.safe)
    code, out, _ = run(fresh, "reject", d, s, "--note", "disk is being resized")
    assert (code, out) == (0, f"recommendation #{s} of incident #{d} rejected\n")
    rec = recommendation(fresh, fresh.safe)
    assert (rec.status, rec.decided_by, rec.decision_note) == (
        "rejected", f"cli:{account()}", "disk is being resized",
    )  # fmt: skip
    ((kind, incident_id, data),) = events_by(fresh, f"cli:{account()}")
    assert (kind, incident_id, data["note"]) == (
        "recommendation.rejected", fresh.disk, "disk is being resized",
    )  # fmt: skip
    before = dump(fresh)
    assert run(fresh, "reject", d, s) == (1, "", "reject: it is already rejected\n")
    assert dump(fresh) == before


def test_resolve_records_the_note_as_the_account_and_cannot_resolve_twice(fresh: Filled) -> None:
    d = str(fresh.disk)
    code, out, _ = run(fresh, "resolve", d, "--note", "moved old backups off /", "--json")
    assert code == 0
    body = json.loads(out)
    assert (body["id"], body["status"], body["resolution"]) == (fresh.disk, "resolved", "manual")
    found = incident(fresh, fresh.disk)
    assert (found.status, found.resolution) == ("resolved", "manual")
    ((kind, incident_id, data),) = events_by(fresh, f"cli:{account()}")
    assert (kind, incident_id) == ("incident.status_changed", fresh.disk)
    assert (data["to"], data["note"]) == ("resolved", "moved old backups off /")
    before = dump(fresh)
    again = run(fresh, "resolve", d, "--note", "again")
    assert again == (1, "", "resolve: an incident cannot go from resolved to resolved "
                            "(allowed: open)\n")  # fmt: skip
    assert dump(fresh) == before


def test_an_expired_proposal_is_refused_and_the_refusal_recorded(filled: Filled) -> None:
    m, r = str(filled.memory), str(filled.manual)
    code, out, err = run(filled, "approve", m, r)
    assert (code, out) == (1, "")
    rec = recommendation(filled, filled.manual)
    assert err == f"approve: it expired at {rec.expires_at:%Y-%m-%d %H:%M} UTC\n"
    assert rec.status == "expired"
    assert [(kind, data["reason"]) for kind, _, data in events_by(filled, f"cli:{account()}")] == [
        ("recommendation.approval_refused", "expired")
    ]
