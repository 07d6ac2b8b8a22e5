"""The WSGI layer the API and the dashboard stand on (calmopsd/serve/web.py): the parts
of Flask's behaviour calmopsd relies on, kept without Flask; served by real waitress
where threads or the dashboard's static files are the point."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from structlog.testing import capture_logs
from support.api import StackMaker
from werkzeug.exceptions import HTTPException

from calmopsd.errors import InvalidRequest, OperationError
from calmopsd.serve.server import ApiServer
from calmopsd.serve.web import App, Group, Response, g, json_response, request

STATIC = Path(__file__).parents[2] / "calmopsd" / "serve" / "dashboard" / "static"


def _app() -> App:
    """An app with a hook that refuses requests without ``X-Key`` on any path, a view, and
    one group with a handler of its own, as the API and the dashboard are made."""
    app = App(max_body=1024)
    seen: list[str | None] = []

    def key() -> Response | None:
        seen.append(request.endpoint)
        if request.headers.get("X-Key") != "k":
            return json_response({"error": "unauthenticated"}, 401)
        g.who = request.headers["X-Key"]
        return None

    def hello(name: str) -> tuple[dict[str, object], int]:
        return {"name": name, "who": g.who, "b": 1, "a": "é", "method": request.method}, 201

    def body() -> dict[str, int]:
        return {"length": len(request.get_data(cache=True))}

    def refuse() -> dict[str, str]:
        raise InvalidRequest("no", "refused")

    def broken() -> object:
        return 42  # not an answer a view may give

    def leftover() -> dict[str, object]:
        return {"who": g.get("left"), "set": sorted(vars(g))}

    def leave() -> dict[str, bool]:
        g.left = "here"
        return {"ok": True}

    for rule, view, methods in (("/hello/<name>", hello, ["GET"]), ("/body", body, ["POST"]),
                                ("/refuse", refuse, ["GET"]), ("/broken", broken, ["GET"]),
                                ("/leftover", leftover, ["GET"]),
                                ("/leave", leave, ["GET"])):  # fmt: skip
        app.add_url_rule(rule, view_func=view, methods=methods)
    app.before_request(key)
    app.register_error_handler(OperationError, lambda e: json_response({"error": e.code}, 400))
    app.register_error_handler(HTTPException, lambda e: json_response({"error": e.name}, e.code))
    # As in Flask, a handler of Exception would answer an HTTPException too, were there no
    # handler closer to it in its class's MRO.
    app.register_error_handler(Exception, lambda e: json_response({"error": "internal"}, 500))

    def in_group() -> dict[str, str | None]:
        raise InvalidRequest("group", "refused_in_group")

    group = Group("pages")
    group.add_url_rule("/pages/x", "x", in_group, methods=["GET"])
    group.before_request(lambda: seen.append(f"group:{request.blueprint}"))
    group.register_error_handler(OperationError, lambda e: Response("page " + e.code, 418))
    app.register_group(group)
    app.seen = seen  # type: ignore[attr-defined]
    return app


def test_the_hook_runs_before_routing_fails_so_an_unknown_path_without_a_key_is_a_401() -> None:
    app = _app()
    client = app.test_client()
    assert client.get("/no/such/path").status_code == 401
    assert client.get("/no/such/path", headers={"X-Key": "k"}).status_code == 404
    wrong = client.delete("/hello/x", headers={"X-Key": "k"})
    assert wrong.status_code == 405
    assert app.seen[:3] == [None, None, None]  # type: ignore[attr-defined]


def test_a_dict_is_compact_json_with_sorted_keys_and_the_status_given() -> None:
    response = _app().test_client().get("/hello/ada", headers={"X-Key": "k"})
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    assert response.data == (b'{"a":"\\u00e9","b":1,"method":"GET","name":"ada","who":"k"}\n')


def test_head_runs_the_get_view_and_sends_no_body() -> None:
    response = _app().test_client().head("/hello/ada", headers={"X-Key": "k"})
    assert response.status_code == 201 and response.data == b""
    assert int(response.headers["Content-Length"]) > 0


def test_a_body_over_the_limit_is_a_413_and_one_under_it_is_read() -> None:
    client = _app().test_client()
    small = client.post("/body", data=b"x" * 1024, headers={"X-Key": "k"})
    assert small.get_json() == {"length": 1024}
    assert client.post("/body", data=b"x" * 1025, headers={"X-Key": "k"}).status_code == 413


def test_handlers_are_looked_up_by_class_and_a_groups_own_come_first() -> None:
    app = _app()
    client = app.test_client()
    assert client.get("/refuse", headers={"X-Key": "k"}).get_json() == {"error": "refused"}
    paged = client.get("/pages/x", headers={"X-Key": "k"})
    assert (paged.status_code, paged.data) == (418, b"page refused_in_group")
    assert "group:pages" in app.seen  # type: ignore[attr-defined]
    # A view that answers what no response can be made of reaches the catch-all handler.
    broken = client.get("/broken", headers={"X-Key": "k"})
    assert (broken.status_code, broken.get_json()) == (500, {"error": "internal"})


def test_what_a_request_leaves_in_g_is_gone_at_the_next() -> None:
    client = _app().test_client()
    assert client.get("/leave", headers={"X-Key": "k"}).get_json() == {"ok": True}
    after = client.get("/leftover", headers={"X-Key": "k"}).get_json()
    assert after == {"who": None, "set": ["who"]}


def test_two_requests_answered_at_once_each_see_their_own_request_and_g() -> None:
    """Eight waitress threads: each request's ``request`` and ``g`` are its own while
    all of them are inside their views together."""
    app = App()
    count = 6
    together = threading.Barrier(count, timeout=20)

    def echo(n: str) -> dict[str, str]:
        g.n = n
        together.wait()  # every request is in its view now
        return {"path": request.path, "g": g.n, "arg": n}

    app.add_url_rule("/echo/<n>", view_func=echo, methods=["GET"])
    server = ApiServer(app, listen="127.0.0.1:0")
    server.start()
    answers: dict[str, object] = {}
    try:
        assert server.url is not None
        base = server.url

        def call(n: str) -> None:
            answers[n] = requests.get(f"{base}/echo/{n}", timeout=30).json()

        threads = [threading.Thread(target=call, args=(str(i),)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        server.stop(2.0)
    assert answers == {str(i): {"path": f"/echo/{i}", "g": str(i), "arg": str(i)}
                       for i in range(count)}  # fmt: skip


@pytest.fixture
def served(make_stack: StackMaker) -> Iterator[str]:
    stack = make_stack()
    assert stack.server.url is not None
    yield stack.server.url


def test_the_dashboards_static_files_are_served_without_a_session(served: str) -> None:
    css = requests.get(served + "/ops/static/dashboard.css", timeout=30)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert css.content == (STATIC / "dashboard.css").read_bytes()
    js = requests.head(served + "/ops/static/dashboard.js", timeout=30)
    assert js.status_code == 200 and js.content == b""
    assert int(js.headers["Content-Length"]) == (STATIC / "dashboard.js").stat().st_size


@pytest.mark.parametrize(
    "path",
    [
        "/ops/static/../routes.py",
        "/ops/static/%2e%2e/routes.py",
        "/ops/static/..%2froutes.py",
        "/ops/static/%2e%2e%2f%2e%2e%2fapp.py",
        "/ops/static//etc/passwd",
        "/ops/static/%2fetc%2fpasswd",
        "/ops/static/..\\routes.py",
        "/ops/static/nothing.css",
    ],
)
def test_no_path_leaves_the_static_directory(served: str, path: str) -> None:
    session = requests.Session()
    prepared = requests.Request("GET", served + path).prepare()
    prepared.url = served + path  # as typed: requests must not resolve the dots itself
    response = session.send(prepared, timeout=30, allow_redirects=False)
    if response.status_code == 303:  # the dashboard's catch-all: sign in first
        assert response.headers["Location"].startswith("/ops/login?next=")
        return
    assert response.status_code in (401, 404), (path, response.status_code)
    assert b"import" not in response.content and b"root:" not in response.content
    if response.status_code == 404 and response.headers["Content-Type"].startswith("text/html"):
        return  # the dashboard's own not-found page
    assert json.loads(response.content)["error"] in ("not_found", "unauthenticated")


def test_a_failing_handler_or_after_hook_still_answers_and_says_why_in_the_log() -> None:
    app = App()

    def boom() -> dict[str, str]:
        raise KeyError("in the view")

    def bad_handler(exc: Exception) -> Response:
        raise RuntimeError("in the handler")

    def bad_after(response: Response) -> Response:
        raise RuntimeError("in the after hook")

    app.add_url_rule("/boom", view_func=boom)
    app.add_url_rule("/fine", view_func=lambda: {"ok": True}, endpoint="fine")
    app.register_error_handler(Exception, bad_handler)
    app.after_request(bad_after)
    client = app.test_client()
    with capture_logs() as logs:
        boomed = client.get("/boom")
        fine = client.get("/fine")
    assert (boomed.status_code, boomed.get_json()["error"]) == (500, "internal")
    assert (fine.status_code, fine.get_json()) == (200, {"ok": True})
    events = [entry["event"] for entry in logs]
    assert events == ["serve.handler_failed", "serve.after_hook_failed", "serve.after_hook_failed"]


def test_only_a_groups_routes_may_have_a_dot_in_their_name() -> None:
    """The group's name before the dot picks whose hooks run first: an application route
    named like a dashboard page would skip the API's token check."""
    app = App()
    with pytest.raises(ValueError, match="only a group's routes"):
        app.add_url_rule("/x", endpoint="dashboard.x", view_func=lambda: {})
    group = Group("dashboard")
    group.add_url_rule("/ops/x", "x", lambda: {})
    app.register_group(group)
    assert "dashboard.x" in app.views
    with pytest.raises(ValueError, match="only a group's routes"):
        app.add_url_rule("/y", endpoint="dashboard.y", view_func=lambda: {})


def test_a_view_answering_no_response_shape_is_the_catch_all_500() -> None:
    app = App()
    app.add_url_rule("/three", view_func=lambda: ({}, 200, {"X": "y"}), endpoint="three")
    app.register_error_handler(Exception, lambda e: json_response({"error": str(e)}, 500))
    answer = app.test_client().get("/three")
    assert answer.status_code == 500 and "(body, status)" in answer.get_json()["error"]
