"""Signing in and out, and the check every other dashboard request passes first.

Sign-in exchanges an API token (typed into a form, never put in a URL) for a session
cookie: ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
request carries it), ``Secure`` when the request came over TLS, and an expiry. Every
other page needs a live session whose token is still in force; every POST needs the
session's form token (:mod:`.csrf`). Log lines name the token, never its secret or
the cookie.
"""

from __future__ import annotations

from urllib.parse import quote

import structlog

from calmopsd.serve.dashboard import csrf
from calmopsd.serve.dashboard.access import home
from calmopsd.serve.dashboard.render import page
from calmopsd.serve.dashboard.sessions import Sessions, caller_of
from calmopsd.serve.tokens import Tokens, caller_for
from calmopsd.serve.web import Response, g, redirect, request

log = structlog.get_logger("calmopsd.serve")

COOKIE = "calmops_session"
LOGIN = "/ops/login"
OPEN_ENDPOINTS = frozenset({"dashboard.static", "dashboard.login", "dashboard.sign_in"})
LOGIN_FORM_S = 15 * 60


class Gate:
    def __init__(self, sessions: Sessions, tokens: Tokens):
        self.sessions = sessions
        self.tokens = tokens

    def check(self) -> Response | None:
        """Before every dashboard request: a session, its caller, and on a POST its form token."""
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        session = self.sessions.find(request.cookies.get(COOKIE))
        caller = caller_of(session, self.tokens) if session is not None else None
        if session is None or caller is None:
            if request.method == "GET":
                return redirect(f"{LOGIN}?next={quote(request.path)}", 303)
            return page("error.html", 401, title="Signed out", viewer=None, notices=[],
                        detail="Your session has ended: sign in again.")  # fmt: skip
        g.caller, g.session = caller, session
        if request.method == "POST" and not csrf.agrees(request.form.get(csrf.FIELD), session.csrf):
            log.warning("dashboard.csrf_refused", token=caller.name, route=request.path)
            return page("error.html", 403, title="Form refused", viewer=None, notices=[],
                        home=home(caller),  # signed in: back to the incidents, not sign in
                        detail="This form was not one this page gave you (or it is out of "
                        "date). Go back, reload the page and try again.")  # fmt: skip
        return None

    def login(self) -> Response:
        """The sign-in form, with a fresh form token in its own short-lived cookie."""
        token = csrf.fresh()
        response = page("login.html", csrf_token=token, next=_next(), failed=False,
                        title="Sign in", viewer=None, notices=[])  # fmt: skip
        response.set_cookie(csrf.LOGIN_COOKIE, token, max_age=LOGIN_FORM_S, httponly=True,
                            samesite="Strict", secure=request.is_secure, path=LOGIN)  # fmt: skip
        return response

    def sign_in(self) -> Response:
        sent = request.form.get(csrf.FIELD)
        if not csrf.agrees(sent, request.cookies.get(csrf.LOGIN_COOKIE)):
            log.warning("dashboard.csrf_refused", token=None, route=request.path)
            return page("error.html", 403, title="Form refused", viewer=None, notices=[],
                        detail="The sign-in form was out of date: load it again.")  # fmt: skip
        token = request.form.get("token", "").strip()
        entry = self.tokens.find(token) if 0 < len(token) <= 512 else None
        if entry is None:
            log.warning("dashboard.login_refused", remote=request.remote_addr)
            return page("login.html", 401, csrf_token=sent, next=_next(), failed=True,
                        title="Sign in", viewer=None, notices=[])  # fmt: skip
        self.sessions.close(request.cookies.get(COOKIE))
        session_id, _ = self.sessions.open(entry)
        log.info("dashboard.login", token=entry.name, remote=request.remote_addr)
        response = redirect(_next() or home(caller_for(entry, None)), 303)
        lifetime = int(self.sessions.lifetime.total_seconds())
        response.set_cookie(COOKIE, session_id, max_age=lifetime, httponly=True,
                            samesite="Strict", secure=request.is_secure, path="/")  # fmt: skip
        response.delete_cookie(csrf.LOGIN_COOKIE, path=LOGIN)
        return response

    def sign_out(self) -> Response:
        self.sessions.close(request.cookies.get(COOKIE))
        log.info("dashboard.logout", token=g.caller.name)
        response = redirect(LOGIN, 303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict",
                               secure=request.is_secure)  # fmt: skip
        return response


def _next() -> str | None:
    """Where to go after signing in: only a path of this site's pages (no open redirect)."""
    wanted = request.values.get("next", "")
    # Printable ASCII only: a CR or LF would end the Location header it is put in.
    printable = all(" " < c <= "~" for c in wanted)
    plain = "//" not in wanted and "\\" not in wanted and printable and len(wanted) <= 300
    if plain and wanted.startswith(("/ops/", "/company/")) and wanted != LOGIN:
        return wanted
    return None
