"""The leak check, kind by kind: what each refuses, the near misses it passes, what the
message may name all the same, and the report an operator reads."""

from __future__ import annotations

import pytest

from calmopsd.customers.leaks import MAX_LENGTH, Known, Leak, LeakKind, find_leaks, leak_report

K = LeakKind
UUID = "7f3c2a1e-9b4d-4e8f-a6c5-2d1b0e9f8a7c"
APPS = Known(
    processes=frozenset({"api", "web", "uploads-worker"}),
    hostnames=frozenset({"web-1", "db-primary.acme.internal"}),
    organizations=frozenset({"globex", "Globex Corporation"}),
    tokens=frozenset({"acme-oncall"}),
    internal_names=frozenset({"upload_failures"}),
    public=frozenset({"https://status.acme.example", "support@acme.example"}),
    own=frozenset({"Acme"}),
)


def found(text: str, known: Known = APPS) -> list[tuple[str, str]]:
    return [(leak.kind.value, leak.excerpt) for leak in find_leaks(text, known)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Uploads fail on web-1.", [("hostname", "web-1")]),
        ("Moved off db-primary.acme.internal now.", [("hostname", "db-primary.acme.internal")]),
        ("Traffic to 10.0.3.17 was dropped.", [("ip_address", "10.0.3.17")]),
        ("Traffic to 2001:db8::17 was dropped.", [("ip_address", "2001:db8::17")]),
        ("Cleared /srv/acme/tmp today.", [("file_path", "/srv/acme/tmp")]),
        ("Cleared ~/uploads today.", [("file_path", "~/uploads")]),
        ("Ran ./bin/fix today.", [("file_path", "./bin/fix")]),
        ("Fixed in server.js:42 today.", [("file_path", "server.js:42")]),
        ("Broken in node_modules today.", [("file_path", "node_modules")]),
        ("We restarted uploads-worker.", [("process_name", "uploads-worker")]),
        ("We reloaded nginx.", [("process_name", "nginx")]),
        ("It failed with ECONNREFUSED.", [("stack_trace", "ECONNREFUSED")]),
        ("It raised a KeyError.", [("stack_trace", "KeyError")]),
        ("Rotated sk_live_4eC39HqLyjWDarjt now.", [("token", "sk_live_4eC39HqLyjWDarjt")]),
        ("Paged acme-oncall now.", [("token", "acme-oncall")]),
        ("See incident #7 for more.", [("internal_id", "incident #7")]),
        ("Tracked as #1234 here.", [("internal_id", "#1234")]),
        ("Rows in incident_events.", [("internal_id", "incident_events")]),
        (f"Run {UUID} failed.", [("internal_id", UUID)]),
        ("Refused on :8787 today.", [("internal_id", ":8787")]),
        ("Slow on localhost today.", [("internal_id", "localhost")]),
        ("Heavy uploads from Globex today.", [("organization", "Globex")]),
        ("See https://grafana.example.com/d/1 now.", [("url", "https://grafana.example.com/d/1")]),
        ("Write to ops@acme.example now.", [("email", "ops@acme.example")]),
    ],
)  # fmt: skip
def test_each_kind_is_refused_with_the_part_that_leaks(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Since 10:30 UTC, 12% of uploads failed.",
        "Between 14:05:00 and 14:40:00 UTC uploads were slow.",
        "Version 2 of the app, and release 3.4.1, are not affected.",
        "Version 1.2.3.4 of the mobile app fixes it.",
        "Success rate is back to 99.9%.",
        "On 2024-05-01 and on 5/1 uploads were slow.",
        "Our API is slow, and the web dashboard is down.",
        "We restarted a service.",
        "Our #1 priority is uploads.",
        "Available 24/7, read/write and and/or.",
        "Basic features, such as read-only access, worked.",
        "The ratio was 3:1 at 09:15 (GMT-5:00).",
        "Multi-Factor-Authentication-Flows were unaffected.",
        "e.g. sign-in, i.e. log-in, a.m. and p.m.",
        "Acme customers saw errors this morning.",
    ],
)
def test_near_misses_pass(text: str) -> None:
    assert found(text) == []


def test_a_common_word_app_name_is_refused_only_where_it_names_the_process() -> None:
    assert found("Our API is slow; the web app is fine.") == []
    assert found("We restarted the api.") == [("process_name", "api")]
    assert found("The api process crashed.") == [("process_name", "api")]
    assert found("The web instances are back.") == [("process_name", "web")]
    assert found("Restarted 'web' at noon.") == [("process_name", "web")]
    assert found("Restarted `api` at noon.") == [("process_name", "api")]
    assert found("Restarted a.p.i at noon.") == [("process_name", "a.p.i")]
    assert found("Restarted pm2/api now.")[-1] == ("process_name", "api")


def test_a_name_that_is_no_common_word_is_refused_anywhere() -> None:
    known = Known(processes=frozenset({"thumbnailer"}))
    assert found("Our thumbnailer is slow.", known) == [("process_name", "thumbnailer")]
    assert found("THUMBNAILER.", known) == [("process_name", "THUMBNAILER")]
    assert found("Thumbnailers are slow.", known) == []  # another word


def test_the_own_organization_is_allowed_and_so_is_a_name_inside_it() -> None:
    known = Known(
        organizations=frozenset({"acme", "globex"}), own=frozenset({"Acme Globex Partners"})
    )
    assert found("Acme Globex Partners: uploads work again.", known) == []
    assert found("Globex uploads work again.", known) == [("organization", "Globex")]


def test_another_organizations_name_is_found_however_its_separators_are_written() -> None:
    assert found("Globex-Corporation's import.")[0] == ("organization", "Globex-Corporation")
    assert found("GlobexCorporation's import.")[0] == ("organization", "GlobexCorporation")


def test_a_public_url_passes_and_a_page_under_it_but_not_one_with_a_query() -> None:
    assert found("See https://status.acme.example for updates.") == []
    assert found("See https://status.acme.example/incidents/x1 now.") == []
    assert found("See status.acme.example now.") == []
    assert found("See https://status.acme.example/x?debug=1 now.") == [
        ("url", "https://status.acme.example/x?debug=1")
    ]
    assert found("See https://status.acme.example.evil.io now.") == [
        ("url", "https://status.acme.example.evil.io")
    ]


def test_a_public_email_passes_and_any_other_is_refused() -> None:
    assert found("Write to support@acme.example.") == []
    assert found("Write to oncall@acme.example.") == [("email", "oncall@acme.example")]


def test_a_token_is_refused_even_inside_a_public_url() -> None:
    text = "See https://status.acme.example/ghp_16C7e42F292c6912E7710c838347Ae178B4a now."
    tokens = [excerpt for kind, excerpt in found(text) if kind == "token"]
    assert tokens == ["example/ghp_16C7e42F292c6912E7710c838347Ae178B4a"]


def test_leaks_come_in_the_order_of_the_text_with_offsets_into_it() -> None:
    text = "web-1 at 10.0.0.5 and /srv/x"
    assert find_leaks(text, APPS) == [
        Leak(K.HOSTNAME, "web-1", 0, 5),
        Leak(K.IP_ADDRESS, "10.0.0.5", 9, 17),
        Leak(K.FILE_PATH, "/srv/x", 22, 28),
    ]


def test_a_text_over_the_bound_is_refused_as_too_long_unread() -> None:
    assert find_leaks("a" * MAX_LENGTH, APPS) == []
    text = "a" * MAX_LENGTH + "web-1"
    assert find_leaks(text, APPS) == [Leak(K.TOO_LONG, "web-1", MAX_LENGTH, MAX_LENGTH + 5)]
    assert leak_report(find_leaks(text, APPS)) == (
        "It is 2005 characters long; a message is checked up to 2000."
    )


def test_the_report_has_one_sentence_per_kind_in_the_order_they_appear() -> None:
    text = "web-1 and web-1, 10.0.0.5, db-primary.acme.internal"
    assert leak_report(find_leaks(text, APPS)) == (
        "It names an internal host: 'web-1', 'db-primary.acme.internal'.\n"
        "It gives an IP address: '10.0.0.5'."
    )
    assert leak_report([]) == ""


def test_the_report_shows_a_secret_by_its_first_characters_only() -> None:
    text = "token=s3cr3tvalue and https://x.example/?key=s3cr3tvalue"
    report = leak_report(find_leaks(text, APPS))
    assert "s3cr3tvalue" not in report
    assert report == (
        "It holds what looks like a secret: 'toke… (17 characters)', 'key=… (15 characters)'.\n"
        "It gives an address that is not one of the public ones: 'https://x.example/…'."
    )


def test_the_report_shows_invisible_characters_and_shortens_long_parts() -> None:
    assert (
        leak_report(find_leaks("w\u200beb-1", APPS)) == "It names an internal host: 'w\\u200beb-1'."
    )
    path = "/srv/" + "a" * 60
    assert leak_report(find_leaks(path, APPS)) == f"It shows a file path: '{path[:39]}…'."


def test_more_than_three_parts_of_a_kind_are_counted() -> None:
    text = "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5"
    assert leak_report(find_leaks(text, APPS)) == (
        "It gives an IP address: '10.0.0.1', '10.0.0.2', '10.0.0.3' and 2 more."
    )
