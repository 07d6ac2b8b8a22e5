"""Hostile input at every route: arbitrary bodies, ids, query strings, headers and methods.

Whatever arrives, the answer is never a 5xx, every refusal is JSON
``{"error", "detail"}``, and a refused request leaves the store exactly as it was
(every table, and the audit head file). The one refusal that writes is a
decision refused (409 ``refused``): an approval re-checked and turned down is
itself recorded (``recommendation.approval_refused``), and a super-admin's
bypass leaves its trace before the decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import event, given, settings
from hypothesis import strategies as st
from support.api import TOKENS, Stack, Template, secret, serve_copy

ROUTES = [
    ("GET", "/health"),
    ("GET", "/incidents"),
    ("POST", "/incidents"),
    ("GET", "/incidents/{a}"),
    ("PATCH", "/incidents/{a}"),
    ("POST", "/incidents/{a}/recommendations/{b}/approve"),
    ("POST", "/incidents/{a}/recommendations/{b}/reject"),
    ("GET", "/actions/active"),
    ("POST", "/actions/{a}/revert"),
    ("GET", "/audit/verify"),
]
FIELDS = ["title", "type", "severity", "description", "organization", "action", "status",
          "note", "limit", "cursor", "since", "check", "id", ""]  # fmt: skip
DECISION_KINDS = {"recommendation.approval_refused", "recommendation.expired", "access.bypass"}

PRINTABLE = st.characters(codec="latin-1", exclude_categories=["Cc"])
header_value = st.text(PRINTABLE, max_size=60).filter(lambda v: not v[:1].isspace())
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)  # fmt: skip
field_value = st.one_of(
    st.sampled_from(["open", "monitoring", "resolved", "stabilizing", "disk", "memory",
                     "network", "warning", "critical", "info", "health_check", "acme",
                     "globex", "now", "2026-03-02T14:00:00+00:00", "9999-12-31T23:59:59-14:00"]),
    json_value,
)  # fmt: skip
body = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(FIELDS), field_value, max_size=5).map(
        lambda d: json.dumps(d).encode()
    ),
)
segment = st.one_of(
    st.sampled_from(["1", "2", "3", "4"]),
    st.sampled_from(["1", "2", "3", "4"]),
    st.integers(-5, 2**80).map(str),
    st.text(max_size=25).map(lambda t: quote(t, safe="")),
)
query = st.one_of(
    st.just(""),
    st.just(""),
    st.lists(
        st.tuples(st.sampled_from(FIELDS) | st.text(max_size=8), st.text(max_size=30)),
        max_size=4,
    ).map(urlencode),
)
token = st.builds(
    lambda pick, name, junk: (
        f"Bearer {secret(name)}" if pick < 8 else junk if pick == 8 else f"Bearer {junk}"
    ),
    st.integers(0, 9),  # mostly a valid token, so that the routes behind it are reached
    st.sampled_from(list(TOKENS)),
    header_value,
)
headers = st.fixed_dictionaries(
    {"Authorization": token},
    optional={"X-Calmops-Actor": header_value, "Content-Type": header_value,
              "X-Anything": header_value},
)  # fmt: skip


@pytest.fixture(scope="module")
def stack(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    served = serve_copy(template, tmp_path_factory.mktemp("hostile"))
    yield served
    served.close()


def only_decisions_recorded(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """A refused decision: besides its events (and the head), nothing changed."""
    rows_before, rows_after = before["rows"], after["rows"]
    for table in rows_before:
        if table not in ("incident_events", "incident_recommendations"):
            assert rows_after[table] == rows_before[table], table
    new = set(rows_after["incident_events"]) - set(rows_before["incident_events"])
    kinds = {row[4] for row in new}  # seq, at, incident_id, organization_id, kind, …
    return kinds <= DECISION_KINDS


@pytest.mark.parametrize(("method", "path"), ROUTES)
@settings(max_examples=50, deadline=None)
@given(
    data=st.data(), raw=body, sent_headers=headers, query_string=query,
    other_method=st.sampled_from([None] * 7 + ["GET", "POST", "PUT", "PATCH", "DELETE"]),
)  # fmt: skip
def test_no_input_gets_a_5xx_and_refused_input_changes_nothing(
    stack: Stack,
    method: str,
    path: str,
    data: st.DataObject,
    raw: bytes | None,
    sent_headers: dict[str, str],
    query_string: str,
    other_method: str | None,
) -> None:
    url = stack.url + path.format(a=data.draw(segment), b=data.draw(segment))
    if query_string:
        url += "?" + query_string
    before = stack.dump()
    response = requests.request(
        other_method or method, url, data=raw, headers=sent_headers, timeout=30
    )
    assert response.status_code < 500, response.text
    event(f"{response.status_code} {response.json().get('error', '')}")
    if response.status_code < 400:
        return
    assert response.headers["Content-Type"] == "application/json"
    assert set(response.json()) == {"error", "detail"}
    after = stack.dump()
    if response.status_code == 409 and response.json()["error"] == "refused":
        assert only_decisions_recorded(before, after)
    else:
        assert after == before, (response.status_code, response.text)


def test_a_body_over_64_kib_is_refused_with_413(stack: Stack) -> None:
    before = stack.dump()
    big = json.dumps({"title": "x" * 70_000, "type": "disk", "severity": "info"})
    response = stack.call("POST", "/incidents", "root", data=big)
    assert (response.status_code, response.json()["error"]) == (413, "body_too_large")
    assert stack.dump() == before


@pytest.mark.parametrize(
    ("method", "path", "sent", "status", "error"),
    [
        ("POST", "/incidents", b"{not json", 400, "invalid_json"),
        ("POST", "/incidents", b"\xff\xfe{}", 400, "invalid_json"),
        ("POST", "/incidents", b"[" * 5000, 400, "invalid_json"),
        ("POST", "/incidents", b'{"title": "t", "type": "disk", "severity": "info", "x": 1}',
         400, "unknown_field"),
        ("POST", "/incidents", b'{"title": 5, "type": "disk", "severity": "info"}',
         400, "invalid_field"),
        ("PATCH", "/incidents/1", b'{"status": "stabilizing"}', 400, "invalid_field"),
        ("PATCH", "/incidents/1", b'{"status": "resolved"}', 400, "note_required"),
        ("GET", "/incidents?limit=201", None, 400, "invalid_query"),
        ("GET", "/incidents?status=open&status=resolved", None, 400, "invalid_query"),
        ("GET", "/incidents?since=9999-12-31T23:59:59-14:00", None, 400, "invalid_query"),
        ("GET", "/incidents?cursor=bm90LWEtY3Vyc29y", None, 400, "invalid_cursor"),
        ("GET", "/incidents/01", None, 404, "not_found"),
        ("GET", "/incidents/-1", None, 404, "not_found"),
        ("GET", "/incidents/9223372036854775808", None, 404, "not_found"),
        ("GET", "/incidents/99", None, 404, "not_found"),
        ("GET", "/nothing/here", None, 404, "not_found"),
        ("DELETE", "/incidents/1", None, 405, "method_not_allowed"),
        ("OPTIONS", "/incidents", None, 405, "method_not_allowed"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_request_has_its_own_error(
    stack: Stack, method: str, path: str, sent: bytes | None, status: int, error: str
) -> None:
    before = stack.dump()
    response = stack.call(method, path, "root", data=sent)
    assert (response.status_code, response.json()["error"]) == (status, error), response.text
    assert stack.dump() == before


def test_an_empty_query_key_is_named_as_such_not_as_the_body(stack: Stack) -> None:
    response = stack.call("GET", "/incidents?&&=x", "root")
    assert (response.status_code, response.json()["error"]) == (400, "unknown_field")
    assert response.json()["detail"].startswith("'': ")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic cm9vdDpyb290", "Bearer secret-nobody",
     "Bearer secret-root extra", f"Bearer {'x' * 600}"],
)  # fmt: skip
def test_a_missing_or_wrong_token_is_401_on_every_path(
    stack: Stack, authorization: str | None
) -> None:
    sent = {} if authorization is None else {"Authorization": authorization}
    for method, path in [("GET", "/incidents"), ("GET", "/no/such/route"), ("DELETE", "/health")]:
        response = requests.request(method, stack.url + path, headers=sent, timeout=10)
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="calmopsd"'
