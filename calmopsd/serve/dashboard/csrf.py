"""Form tokens: every form the dashboard serves carries one, every POST must bring it back.

Signed-in forms carry the session's own token. The sign-in form has no session yet,
so its token is also set in a short-lived cookie of its own and the two must agree
("double submit"): another site can make a browser post a form, but can neither
read nor set this site's cookies, and ``SameSite=Strict`` keeps them off its posts.
"""

from __future__ import annotations

import hmac
import secrets

FIELD = "csrf"
LOGIN_COOKIE = "calmops_login"


def fresh() -> str:
    return secrets.token_urlsafe(32)


def agrees(sent: str | None, expected: str | None) -> bool:
    """Whether the form's token is the expected one (constant time; missing never agrees)."""
    if not sent or not expected or len(sent) > 100:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())
